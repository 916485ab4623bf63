"""Resends: what a WhatsApp message was, for a few hours after it went out, so that a late failure
Twilio reports in a status callback (63018, WhatsApp's rate limit; a template refused for its category
or the recipient's country) can send it again or fall back to SMS. Each record is a send job's plain
data: the person's ref, their address encrypted and bound to the ref, the reply (our own text, never
theirs). Taken once: a repeated callback does not send twice."""
from __future__ import annotations

import json

from .base import Noun, UnitOfWork, decode

KEPT = 6 * 3600      # Twilio keeps a WhatsApp message queued for up to four hours


class Resends(Noun):
    def keep(self, message_sid: str, record: dict) -> None:
        self.r.set(self.key("resend", message_sid), json.dumps(record, separators=(",", ":")), ex=KEPT)

    def take(self, message_sid: str) -> dict | None:
        raw = self.r.getdel(self.key("resend", message_sid))
        return json.loads(decode(raw)) if raw else None

    def peek(self, message_sid: str) -> dict | None:
        raw = self.r.get(self.key("resend", message_sid))
        return json.loads(decode(raw)) if raw else None

    def forget(self, uow: UnitOfWork, sids: list[str]) -> None:
        for sid in sids:
            uow.pipe.delete(self.key("resend", sid))
