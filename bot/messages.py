"""The message types every layer speaks: what arrived, and what to send."""
from __future__ import annotations

from dataclasses import dataclass, field

from .addresses import SMS, WHATSAPP

__all__ = ["SMS", "WHATSAPP", "InboundMessage", "Reply"]


@dataclass(frozen=True)
class InboundMessage:
    """One message a person sent, as the webhook parsed it."""

    channel: str                 # "sms" or "whatsapp"
    sender: str                  # E.164, or whatsapp:+E.164 (kept as Twilio sent it, to reply on the same channel)
    body: str
    message_sid: str
    to: str = ""                 # our number that received it
    media: tuple[tuple[str, str], ...] = ()   # (url, content type)
    profile_name: str = ""       # WhatsApp profile name: never logged, never stored


@dataclass(frozen=True)
class Reply:
    """One message to send back; the sender fills in addresses."""

    body: str
    media_url: str | None = None           # audio or image, sent as media on WhatsApp and MMS
    content_sid: str | None = None         # WhatsApp template (outside the 24 h window)
    content_variables: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"body": self.body, "media_url": self.media_url, "content_sid": self.content_sid,
                "content_variables": dict(self.content_variables)}

    @classmethod
    def from_dict(cls, data: dict) -> "Reply":
        return cls(**data)
