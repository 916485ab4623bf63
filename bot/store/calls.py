"""Calls in progress on the voice line: where each caller is in the menus, by CallSid, for an hour.

The state (language, menu position, topic, page) is encrypted and bound to its CallSid. The caller
is known by the same ref as on SMS; a per-ref index lets a delete request remove their calls too.
"""
from __future__ import annotations

import json

from .base import Noun, UnitOfWork, decode

CALL_TTL = 3600          # an hour after the last key pressed


class Calls(Noun):
    def load(self, call_sid: str) -> dict | None:
        """The state of a call in progress, or None (unknown, expired or unreadable)."""
        raw = self.r.get(self.key("call", call_sid))
        if not raw:
            return None
        try:
            data = json.loads(self.vault.decrypt(decode(raw), context="call:" + call_sid))
        except (ValueError, UnicodeDecodeError):
            return None      # key changed or data altered: the call starts afresh
        return data if isinstance(data, dict) else None

    def save(self, uow: UnitOfWork, call_sid: str, state: dict, ref: str | None) -> None:
        token = self.vault.encrypt(json.dumps(state, separators=(",", ":")), context="call:" + call_sid)
        uow.pipe.set(self.key("call", call_sid), token, ex=CALL_TTL)
        if ref:
            index = self.key("calls", "of", ref)
            uow.pipe.sadd(index, call_sid)
            uow.pipe.expire(index, CALL_TTL)

    def end(self, uow: UnitOfWork, call_sid: str) -> None:
        uow.pipe.delete(self.key("call", call_sid))

    def sids_of(self, ref: str) -> list[str]:
        return [decode(s) for s in self.r.smembers(self.key("calls", "of", ref))]

    def forget(self, uow: UnitOfWork, ref: str, call_sids: list[str]) -> None:
        for call_sid in call_sids:
            uow.pipe.delete(self.key("call", call_sid))
        uow.pipe.delete(self.key("calls", "of", ref))
