"""Conversation threads of hand-offs: what a person and the organizers wrote while a conversation was
open, encrypted and bound to the person's ref; and the mark that tells the inbound service that a
person's messages go to an organizer instead of the bot.

Texts live while the conversation is open (at most as long as the hand-off) and for the retention
period after it closes; a delete request removes them at once.
"""
from __future__ import annotations

import json
import time
import uuid

from .base import DAY, Noun, UnitOfWork, decode, decode_hash, expire_if_unset

OPEN_TTL = 90 * DAY     # as long as the hand-off record itself


class Threads(Noun):
    def mark_key(self, ref: str) -> str:
        """The key that holds the id of the person's open conversation (read on every arrival)."""
        return self.key("conv", ref)

    def _thread(self, handoff_id: str) -> str:
        return self.key("thread", handoff_id)

    def _status(self, handoff_id: str) -> str:
        return self.key("thread", handoff_id, "status")

    def start(self, handoff_id: str, ref: str) -> None:
        """From now on, the person's messages go to this thread (until it is closed)."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(self.mark_key(ref), handoff_id, ex=OPEN_TTL)
            pipe.expire(self._thread(handoff_id), OPEN_TTL)
            pipe.execute()

    def open_for(self, ref: str) -> str | None:
        value = self.r.get(self.mark_key(ref))
        return decode(value) if value else None

    def end(self, handoff_id: str, ref: str, retention_days: int) -> None:
        """The bot answers again; the texts are deleted `retention_days` from now."""
        keep = max(1, retention_days) * DAY
        current = self.open_for(ref)
        with self.r.pipeline(transaction=True) as pipe:
            if current == handoff_id:
                pipe.delete(self.mark_key(ref))
            pipe.expire(self._thread(handoff_id), keep)
            pipe.expire(self._status(handoff_id), keep)
            pipe.execute()

    def append(self, handoff_id: str, ref: str, author: str, text: str, uow: UnitOfWork | None = None,
               entry_id: str | None = None, **extra) -> str:
        """Add one entry: `author` is "person", "organizer" or "note" (what the bot did meanwhile)."""
        entry_id = entry_id or uuid.uuid4().hex[:12]
        entry = {"id": entry_id, "at": time.time(), "author": author, "text": text, **extra}
        token = self.vault.encrypt(json.dumps(entry, ensure_ascii=False), context="thread:" + ref)
        target = uow.pipe if uow is not None else self.r.pipeline(transaction=True)
        target.rpush(self._thread(handoff_id), token)
        expire_if_unset(target, self._thread(handoff_id), OPEN_TTL)   # never undoes the retention after close
        if uow is None:
            target.execute()
        return entry_id

    def entries(self, handoff_id: str, ref: str) -> list[dict]:
        statuses = decode_hash(self.r.hgetall(self._status(handoff_id)))
        out = []
        for raw in self.r.lrange(self._thread(handoff_id), 0, -1):
            try:
                entry = json.loads(self.vault.decrypt(decode(raw), context="thread:" + ref))
            except (ValueError, UnicodeDecodeError):
                continue     # the key changed: nobody can read it any more
            if entry.get("id") in statuses:
                entry["status"] = statuses[entry["id"]]
            out.append(entry)
        return out

    def set_status(self, handoff_id: str, entry_id: str, status: str) -> None:
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hset(self._status(handoff_id), entry_id, status)
            expire_if_unset(pipe, self._status(handoff_id), OPEN_TTL)
            pipe.execute()

    def forget(self, uow: UnitOfWork, ref: str, handoff_ids: list[str]) -> None:
        for handoff_id in handoff_ids:
            uow.pipe.delete(self._thread(handoff_id), self._status(handoff_id))
        uow.pipe.delete(self.mark_key(ref))
