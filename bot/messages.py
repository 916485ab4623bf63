"""The message types every layer speaks: what arrived, and what to send."""
from __future__ import annotations

from dataclasses import dataclass, field

from .addresses import SMS, WHATSAPP

__all__ = ["SMS", "WHATSAPP", "Choice", "InboundMessage", "Reply"]


@dataclass(frozen=True)
class InboundMessage:
    """One message a person sent, as the webhook parsed it."""

    channel: str                 # "sms" or "whatsapp"
    sender: str                  # E.164, whatsapp:+E.164 or whatsapp:<user id> (as Twilio sent it: replies go there)
    body: str
    message_sid: str
    to: str = ""                 # our number that received it
    media: tuple[tuple[str, str], ...] = ()   # (url, content type)
    profile_name: str = ""       # WhatsApp profile name: never logged, never stored
    choice: str = ""             # the stable id of a WhatsApp button or list row the person tapped
    alias: str = ""              # the same person's other WhatsApp address in this message (a user id
                                 # beside their number, or the reverse): the store links the two


@dataclass(frozen=True)
class Choice:
    """One option of a numbered question: its stable id (what a tap sends back), and its label."""

    id: str                      # e.g. "section:work", "labor", "yes", "no"
    title: str
    description: str = ""

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "description": self.description}


@dataclass(frozen=True)
class Reply:
    """One message to send back; the sender fills in addresses.

    `choices` are the options the text numbers ("1 Trabajo ..."): on SMS the text is sent as it is;
    on WhatsApp a sender may show them as a list (`style="list"`) or quick-reply buttons
    (`style="buttons"`), whose taps come back as InboundMessage.choice.
    """

    body: str
    media_url: str | None = None           # audio or image, sent as media on WhatsApp and MMS
    content_sid: str | None = None         # WhatsApp template (outside the 24 h window)
    content_variables: dict[str, str] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    style: str = "text"                    # text | list | buttons

    def to_dict(self) -> dict:
        data = {"body": self.body, "media_url": self.media_url, "content_sid": self.content_sid,
                "content_variables": dict(self.content_variables)}
        if self.choices:
            data["choices"] = [c.to_dict() for c in self.choices]
            data["style"] = self.style
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Reply":
        data = dict(data)
        choices = tuple(Choice(**c) for c in data.pop("choices", ()) or ())
        return cls(choices=choices, **data)
