"""What a phone shows for a message: the text after the channel's rendering, its encoding, segments
and length. One function for `derechos content preview` and the console's alert wizard. Pure."""
from __future__ import annotations

from dataclasses import dataclass

from . import sms


@dataclass(frozen=True)
class PhoneView:
    channel: str
    lang: str
    text: str               # exactly what the phone shows
    encoding: str           # GSM-7 or UCS-2 (as the SMS is sent)
    segments: int
    characters: int
    media_url: str | None = None

    @property
    def unicode(self) -> bool:
        """True when one character makes the SMS UCS-2: 70 characters a segment instead of 160."""
        return self.channel == "sms" and self.encoding == "UCS-2"

    def header(self) -> str:
        """The line `derechos content preview` prints above the text.

        >>> phone_view("Hola", "sms", "es").header()
        '[sms · es · GSM-7 · 1 segment(s) · 4 chars]'
        >>> phone_view("*Hola*", "whatsapp", "es").header()
        '[whatsapp · es · 6 chars]'
        """
        if self.channel == "sms":
            return (f"[{self.channel} · {self.lang} · {self.encoding} · {self.segments} segment(s) · "
                    f"{self.characters} chars]")
        return f"[{self.channel} · {self.lang} · {self.characters} chars]"


def phone_view(body: str, channel: str, lang: str, fold: bool = True, media_url: str | None = None) -> PhoneView:
    """The message as the phone shows it on `channel` (SMS: folded by the policy, no WhatsApp marks).

    >>> v = phone_view("¿Cómo está? *Importante*", "sms", "es"); v.text, v.encoding
    ('¿Como esta? Importante', 'GSM-7')
    """
    shown = sms.render(body, channel, fold=fold)
    info = sms.segment_info(shown)
    return PhoneView(channel, lang, shown, info.encoding, info.segments, info.characters, media_url)
