"""Intake: messages the webhook accepted and an intake consumer has not handled yet.

A Redis stream read by one consumer group. Each entry holds one inbound message sealed with the
Vault (number and words are never in clear) and the sender's ref. An entry is deleted as soon as it
is handled; one whose consumer died is taken over by another after `idle` seconds. The web hands
messages over only while a consumer has said it is alive in the last few seconds; otherwise it
answers them itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis

from .base import Noun

GROUP = "consumers"


@dataclass(frozen=True)
class Entry:
    id: str
    sealed: bytes
    deliveries: int = 1      # how many times a consumer has been given it (1: the first time)


class Intake(Noun):
    @property
    def stream(self) -> str:
        return self.key("intake")

    @property
    def _alive(self) -> str:
        return self.key("intake", "alive")

    def push(self, sealed: bytes, ref: str) -> str:
        """Keep a message for the consumer; `ref` (the sender's HMAC) lets a delete request find it."""
        return self.r.xadd(self.stream, {"m": sealed, "r": ref}).decode()

    def drop_person(self, refs: set[str], page: int = 500) -> int:
        """Drop, unread, what these refs sent that still waits (a delete request was carried out:
        nothing they sent before it may be answered, nor stored again, after it)."""
        wanted = {r.encode() for r in refs}
        ids: list[str] = []
        start = "-"
        while True:
            entries = self.r.xrange(self.stream, min=start, max="+", count=page)
            ids += [_id(i) for i, fields in entries if fields.get(b"r") in wanted]
            if len(entries) < page:
                break
            start = "(" + _id(entries[-1][0])
        self.done(ids)
        return len(ids)

    def ensure_group(self) -> None:
        try:
            self.r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries for this consumer (waits up to block_ms for one)."""
        answer = self.r.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        return [Entry(_id(i), fields[b"m"]) for _, entries in (answer or []) for i, fields in entries if fields]

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
                entries.append(Entry(_id(i), fields[b"m"], deliveries[_id(i)] + 1))
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
