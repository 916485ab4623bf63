"""Intake: messages the webhook accepted and an intake consumer has not handled yet.

A Redis stream read by one consumer group. Each entry holds one inbound message sealed with the
Vault (number and words are never in clear). An entry is deleted as soon as it is handled; one whose
consumer died is taken over by another after `idle` seconds. The web hands messages over only while
a consumer has said it is alive in the last few seconds; otherwise it answers them itself.

A STOP or delete request handed over also puts a **hold** on the person (`intake:hold:<ref>`, a set
of tokens, one per such request waiting), on every ref of theirs, in the same transaction: until the
consumer has carried the request out, nothing but a carrier word's answer may be sent to them
(`People.silenced`), and the consumer answers none of their earlier messages. The entry names its
command and the refs it holds (HMACs, never a number), so that the hold can be released once the
request is carried out, and carried out without an answer if the message cannot be handled.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis

from .base import Noun, decode
from .links import REFS_OF_LUA

GROUP = "consumers"

# One round trip for a STOP or delete request handed over: hold every ref of the person, then keep the
# entry (naming the command, the hold's token and the refs). KEYS: the stream. ARGV: prefix, the
# person's ref, sealed message, command, token, hold ttl, hold key without its ref. Returns the entry's id.
_PUSH_HELD = REFS_OF_LUA + """
local refs = refs_of(ARGV[1], ARGV[2])
for _, ref in ipairs(refs) do
  local hold = ARGV[7] .. ref
  redis.call('SADD', hold, ARGV[5])
  redis.call('EXPIRE', hold, ARGV[6])
end
return redis.call('XADD', KEYS[1], '*', 'm', ARGV[3], 'k', ARGV[4], 'h', ARGV[5] .. ' ' .. table.concat(refs, ' '))
"""


@dataclass(frozen=True)
class Entry:
    id: str
    sealed: bytes
    deliveries: int = 1      # how many times a consumer has been given it (1: the first time)
    command: str = ""        # stop | delete: a request that holds the person until carried out
    holds: tuple[str, ...] = ()   # the refs it holds (the person's own first)
    token: str = ""          # its member in each hold set


def _entry(entry_id, fields: dict, deliveries: int = 1) -> Entry:
    holds = decode(fields.get(b"h", b"")).split()
    return Entry(_id(entry_id), fields[b"m"], deliveries, command=decode(fields.get(b"k", b"")),
                 holds=tuple(holds[1:]), token=holds[0] if holds else "")


class Intake(Noun):
    def __init__(self, *args):
        super().__init__(*args)
        self._push_held = self.r.register_script(_PUSH_HELD)

    @property
    def stream(self) -> str:
        return self.key("intake")

    @property
    def _alive(self) -> str:
        return self.key("intake", "alive")

    def hold_key(self, ref: str) -> str:
        return self.key("intake", "hold", ref)

    def push(self, sealed: bytes) -> str:
        """Keep a message for the consumer."""
        return self.r.xadd(self.stream, {"m": sealed}).decode()

    def push_held(self, sealed: bytes, command: str, ref: str) -> str:
        """Keep a STOP or delete request for the consumer and hold the person (every ref of theirs)
        until it is carried out, in one transaction: the hold is there before the webhook answers."""
        token = uuid.uuid4().hex[:16]
        return decode(self._push_held(keys=[self.stream],
                                      args=[self.prefix, ref, sealed, command, token, self.state_ttl,
                                            self.hold_key("")]))

    def release(self, entry: Entry) -> None:
        """The request was carried out (or is given up): its hold goes."""
        if entry.holds:
            with self.r.pipeline(transaction=True) as pipe:
                for ref in entry.holds:
                    pipe.srem(self.hold_key(ref), entry.token)
                pipe.execute()

    def ensure_group(self) -> None:
        try:
            self.r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries for this consumer (waits up to block_ms for one)."""
        answer = self.r.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        return [_entry(i, fields) for _, entries in (answer or []) for i, fields in entries if fields]

    def stale(self, consumer: str, idle_s: float, count: int = 50) -> list[Entry]:
        """Entries given to a consumer that has not finished them for `idle_s` seconds (it died, or
        handling them failed): now this consumer's, with how many times they were given out."""
        idle_ms = int(idle_s * 1000)
        pending = self.r.xpending_range(self.stream, GROUP, min="-", max="+", count=count, idle=idle_ms)
        if not pending:
            return []
        deliveries = {_id(p["message_id"]): int(p["times_delivered"]) for p in pending}
        claimed = self.r.xclaim(self.stream, GROUP, consumer, idle_ms, list(deliveries))
        entries = []
        gone = []
        for i, fields in claimed:
            if fields:
                entries.append(_entry(i, fields, deliveries[_id(i)] + 1))
            else:
                gone.append(_id(i))     # deleted while pending: nothing left to handle
        if gone:
            self.done(gone)
        return entries

    def done(self, ids: list[str]) -> None:
        """Handled: acknowledged and deleted (nothing of the message stays)."""
        if ids:
            with self.r.pipeline(transaction=True) as pipe:
                pipe.xack(self.stream, GROUP, *ids)
                pipe.xdel(self.stream, *ids)
                pipe.execute()

    def leave(self, consumer: str) -> None:
        """A consumer that stops cleanly leaves the group, unless it still holds entries (a failed
        message waiting to be tried again): those stay for another consumer to take over."""
        if not self.r.xpending_range(self.stream, GROUP, "-", "+", 1, consumername=consumer):
            self.r.xgroup_delconsumer(self.stream, GROUP, consumer)

    def prune(self, idle_s: float) -> int:
        """Forget consumers that died holding nothing (each restart leaves its name behind)."""
        gone = 0
        for info in self.r.xinfo_consumers(self.stream, GROUP):
            if int(info["pending"]) == 0 and int(info["idle"]) > idle_s * 1000:
                self.r.xgroup_delconsumer(self.stream, GROUP, info["name"])
                gone += 1
        return gone

    def beat(self, ttl_s: int) -> None:
        self.r.set(self._alive, b"1", ex=ttl_s)

    def stand_down(self) -> None:
        """The last consumer stops: the web answers by itself at once, not only when the beat expires."""
        self.r.delete(self._alive)

    def alive(self) -> bool:
        return bool(self.r.exists(self._alive))

    def backlog(self) -> dict[str, int]:
        """Entries waiting, and how many of them a consumer holds (for /healthz and the benchmark)."""
        waiting = self.r.xlen(self.stream)
        try:
            held = self.r.xpending(self.stream, GROUP)["pending"]
        except redis.ResponseError:     # no group yet: nobody ever consumed
            held = 0
        return {"waiting": int(waiting), "in_hand": int(held)}


def _id(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
