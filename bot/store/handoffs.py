"""Hand-offs: people who asked for a person or an interpreter, and who took them."""
from __future__ import annotations

import time
import uuid

import redis

from .base import DAY, Noun, UnitOfWork, decode, decode_hash

KEPT = 90 * DAY

# A call recording joins its hand-off only while the hand-off is open or taken. KEYS: hand-off, recording.
# ARGV: sealed audio, its type. Returns 1 when kept.
_ATTACH = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'closed' then return 0 end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl)
redis.call('HSET', KEYS[1], 'recording', 'kept', 'recording_type', ARGV[2])
return 1
"""


class HandoffTaken(Exception):
    """Someone else has this hand-off already."""

    def __init__(self, by: str):
        super().__init__(f"already taken by {by}")
        self.by = by


class Handoffs(Noun):
    def __init__(self, *args):
        super().__init__(*args)
        self._attach = self.r.register_script(_ATTACH)

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
            pipe.delete(self._recording_key(handoff_id))     # a call recording goes with the address
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
            uow.pipe.delete(self.key("handoff", handoff_id), self._recording_key(handoff_id))
            uow.pipe.zrem(self.key("handoffs"), handoff_id)
        uow.pipe.delete(self.key("handoffs", "of", ref))

    # --- call recordings (the voice line's callback requests) --------------------------------------

    def _recording_key(self, handoff_id: str) -> str:
        return self.key("handoff", handoff_id, "recording")

    def expect_recording(self, uow: UnitOfWork, handoff_id: str) -> None:
        """A recording is on its way from Twilio (a job fetches it)."""
        uow.pipe.hset(self.key("handoff", handoff_id), "recording", "pending")

    def attach_recording(self, handoff_id: str, audio: bytes, kind: str) -> bool:
        """Keep a call recording, encrypted and bound to its hand-off; False if the hand-off was closed
        or deleted meanwhile (then nothing is kept)."""
        sealed = self.vault.seal_bytes(audio, context="recording:" + handoff_id)
        return bool(self._attach(keys=[self.key("handoff", handoff_id), self._recording_key(handoff_id)],
                                 args=[sealed, kind]))

    def note_recording(self, handoff_id: str, status: str) -> None:
        """Say what became of a recording that is not kept (e.g. 'failed')."""
        key = self.key("handoff", handoff_id)
        if self.r.exists(key):
            self.r.hset(key, "recording", status)

    def recording(self, handoff_id: str) -> tuple[bytes, str] | None:
        """The recording of a hand-off and its type (mp3, wav), decrypted; None if there is none."""
        sealed = self.r.get(self._recording_key(handoff_id))
        if not sealed:
            return None
        kind = decode(self.r.hget(self.key("handoff", handoff_id), "recording_type")) or "mp3"
        return self.vault.open_bytes(sealed, context="recording:" + handoff_id), kind
