"""Hand-offs: people who asked for a person or an interpreter, and who took them."""
from __future__ import annotations

import time
import uuid

import redis

from .base import DAY, Noun, UnitOfWork, decode, decode_hash

KEPT = 90 * DAY


class HandoffTaken(Exception):
    """Someone else has this hand-off already."""

    def __init__(self, by: str):
        super().__init__(f"already taken by {by}")
        self.by = by


class Handoffs(Noun):
    def open(self, uow: UnitOfWork, ref: str, address: str, kind: str, lang: str, topic: str | None,
             region: str | None = None) -> str:
        """A new request; the address is kept encrypted so a person can answer."""
        handoff_id = uuid.uuid4().hex[:10]
        pipe, key = uow.pipe, self.key("handoff", handoff_id)
        pipe.hset(key, mapping={
            "id": handoff_id, "ref": ref, "addr": self.vault.encrypt(address, context="addr:" + ref), "kind": kind,
            "lang": lang, "topic": topic or "", "region": region or "", "status": "open",
            "opened_at": int(time.time())})
        pipe.expire(key, KEPT)
        pipe.zadd(self.key("handoffs"), {handoff_id: time.time()})
        pipe.sadd(self.key("handoffs", "of", ref), handoff_id)     # so a delete request finds them at once
        pipe.expire(self.key("handoffs", "of", ref), KEPT)
        return handoff_id

    def list(self, status: str | None = None, last: int = 50) -> list[dict[str, str]]:
        ids = [decode(i) for i in self.r.zrevrange(self.key("handoffs"), 0, last * 4)]
        out = []
        for handoff_id in ids:
            item = self.get(handoff_id)
            if item is None:
                self.r.zrem(self.key("handoffs"), handoff_id)   # expired
                continue
            if status is None or item["status"] == status:
                out.append(item)
        return out[:last]

    def get(self, handoff_id: str) -> dict[str, str] | None:
        item = decode_hash(self.r.hgetall(self.key("handoff", handoff_id)))
        if not item:
            return None
        item.pop("addr", None)
        return item

    def take(self, handoff_id: str, by: str, force: bool = False) -> dict[str, str] | None:
        """Assign a hand-off; HandoffTaken if another organizer has it (unless `force`). Checked and
        set in one transaction: two organizers taking it at once cannot both get it."""
        key = self.key("handoff", handoff_id)
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    status, holder = (decode(v) if v is not None else None for v in pipe.hmget(key, "status", "taken_by"))
                    if status is None:
                        pipe.unwatch()
                        return None
                    if status == "taken" and holder and holder != by and not force:
                        pipe.unwatch()
                        raise HandoffTaken(holder)
                    pipe.multi()
                    pipe.hset(key, mapping={"status": "taken", "taken_by": by, "taken_at": int(time.time())})
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        return self.get(handoff_id)

    def close(self, handoff_id: str, by: str) -> dict[str, str] | None:
        """Close it: the address is dropped; the record stays (without it) until it expires."""
        key = self.key("handoff", handoff_id)
        if not self.r.exists(key):
            return None
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": "closed", "closed_by": by, "closed_at": int(time.time())})
            pipe.hdel(key, "addr")
            pipe.execute()
        return self.get(handoff_id)

    def address(self, handoff_id: str) -> str | None:
        """The number to answer on, decrypted (for the organizer who took it; never logged)."""
        ref, token = self.r.hmget(self.key("handoff", handoff_id), "ref", "addr")
        if not ref or not token:
            return None
        return self.vault.decrypt(decode(token), context="addr:" + decode(ref))

    def ids_of(self, ref: str) -> list[str]:
        return [decode(h) for h in self.r.smembers(self.key("handoffs", "of", ref))]

    def forget(self, uow: UnitOfWork, ref: str, handoff_ids: list[str]) -> None:
        for handoff_id in handoff_ids:
            uow.pipe.delete(self.key("handoff", handoff_id))
            uow.pipe.zrem(self.key("handoffs"), handoff_id)
        uow.pipe.delete(self.key("handoffs", "of", ref))
