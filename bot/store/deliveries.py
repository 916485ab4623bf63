"""Deliveries: the claim that makes each message go out once, and Twilio's status per message."""
from __future__ import annotations

import time
from dataclasses import dataclass

from .base import DAY, Noun, UnitOfWork, decode, decode_hash

CLAIM_TTL = 7 * DAY

# Delivery statuses in the order they can happen; a callback never moves one backwards.
STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3, "receiving": 3,
               "received": 3, "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 5}

# KEYS[1] = status hash; ARGV = new status, its rank, error code, now, ttl, ref, broadcast id, key prefix.
# A message of a broadcast also moves that broadcast's delivery figures, once per change.
_STATUS = """
local current = redis.call('HGET', KEYS[1], 'rank')
if current and tonumber(current) >= tonumber(ARGV[2]) then
  return 0
end
local previous = redis.call('HGET', KEYS[1], 'status')
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rank', ARGV[2], 'updated', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error_code', ARGV[3]) end
if ARGV[6] ~= '' then redis.call('HSETNX', KEYS[1], 'ref', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSETNX', KEYS[1], 'bc', ARGV[7]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
local bc = redis.call('HGET', KEYS[1], 'bc')
if bc then
  local stats = ARGV[8] .. ':bc:' .. bc .. ':stats'
  if previous then redis.call('HINCRBY', stats, previous, -1) end
  redis.call('HINCRBY', stats, ARGV[1], 1)
  if ARGV[3] ~= '' then redis.call('HINCRBY', stats, 'error:' .. ARGV[3], 1) end
end
return 1
"""


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a message before sending it."""

    won: bool
    sid: str | None = None              # sent already, with this SID
    stale_since: int | None = None      # a pending claim of an attempt that died, from this time


class Deliveries(Noun):
    def __init__(self, *args):
        super().__init__(*args)
        self._status = self.r.register_script(_STATUS)

    def claim(self, send_id: str, owner: str, stale_after: int = 600) -> Claim:
        """Claim an outgoing message before sending it, so it goes out once.

        A claim left "pending" by an attempt that died mid-send (its own job, retried; or older than
        `stale_after` seconds) comes back as `stale`: the caller asks Twilio whether it went out.
        """
        now = int(time.time())
        key = self.key("send", send_id)
        if self.r.set(key, f"pending:{owner}:{now}", nx=True, ex=CLAIM_TTL):
            return Claim(won=True)
        value = decode(self.r.get(key))
        if not value.startswith("pending:"):
            return Claim(won=False, sid=value or None)
        holder, _, since = value[len("pending:"):].rpartition(":")
        since = int(since) if since.isdigit() else 0
        if holder == owner or now - since > stale_after:
            return Claim(won=False, stale_since=since)
        return Claim(won=False)   # another worker is sending it right now

    def take_over(self, send_id: str, owner: str) -> None:
        self.r.set(self.key("send", send_id), f"pending:{owner}:{int(time.time())}", ex=CLAIM_TTL)

    def release(self, send_id: str) -> None:
        """A send failed in a way worth retrying, or was not made: let a retry claim it again."""
        self.r.delete(self.key("send", send_id))

    def sent(self, send_id: str) -> str | None:
        value = self.r.get(self.key("send", send_id))
        return decode(value) if value else None

    def record_sent(self, send_id: str, ref: str | None, message_sid: str, status: str = "queued",
                    broadcast: str | None = None) -> None:
        """Remember that a message went out, and (unless `ref` is None) whom it names, for deletion."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.set(self.key("send", send_id), message_sid, ex=CLAIM_TTL)
            if ref:
                pipe.sadd(self.key("msgs", ref), message_sid)
                pipe.expire(self.key("msgs", ref), self.state_ttl)
            pipe.execute()
        self.record_status(message_sid, status, ref=ref, broadcast=broadcast)

    def record_status(self, message_sid: str, status: str, error_code: str | None = None,
                      ref: str | None = None, broadcast: str | None = None) -> bool:
        """Record a delivery status; a late or repeated callback never moves it backwards."""
        rank = STATUS_RANK.get(status)
        if rank is None:
            return False
        return bool(self._status(keys=[self.key("status", message_sid)],
                                 args=[status, rank, error_code or "", int(time.time()), self.state_ttl,
                                       ref or "", broadcast or "", self.prefix]))

    def status(self, message_sid: str) -> dict[str, str]:
        return decode_hash(self.r.hgetall(self.key("status", message_sid)))

    def sids_of(self, ref: str) -> list[str]:
        return [decode(s) for s in self.r.smembers(self.key("msgs", ref))]

    def forget(self, uow: UnitOfWork, ref: str, sids: list[str]) -> None:
        for sid in sids:
            uow.pipe.delete(self.key("status", sid))
        uow.pipe.delete(self.key("msgs", ref))
