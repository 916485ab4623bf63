"""Redis storage: the only module that knows key names.

People are found by an HMAC of their number (`ref`); what must be kept (conversation state, the
address to send to) is encrypted with the Vault. Every key sits under one prefix.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import redis

from .conversation import State
from .privacy import Vault

# Delivery statuses in the order they can happen; a callback never moves one backwards.
STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3, "receiving": 3,
               "received": 3, "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 5}

# KEYS[1] = status hash; ARGV = new status, its rank, error code, now, ttl, ref.
_STATUS_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'rank')
if current and tonumber(current) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rank', ARGV[2], 'updated', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error_code', ARGV[3]) end
if ARGV[6] ~= '' then redis.call('HSETNX', KEYS[1], 'ref', ARGV[6]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

DAY = 86400


@dataclass(frozen=True)
class Arrival:
    """What the store knows when a message arrives."""

    first: bool
    count_this_minute: int
    state: State
    replies_this_hour: int


@dataclass(frozen=True)
class OutboxEntry:
    """A message the dry-run sender would have sent."""

    id: str
    ref: str
    channel: str
    body: str
    media_url: str | None
    at: float


class Store:
    """Conversation state, opt-outs, idempotency marks, delivery records, counters and the outbox."""

    def __init__(self, connection: redis.Redis, vault: Vault, prefix: str = "derechos", state_ttl_days: int = 30):
        self.r = connection
        self.vault = vault
        self.prefix = prefix
        self.state_ttl = state_ttl_days * DAY
        self._status_script = connection.register_script(_STATUS_SCRIPT)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- people ------------------------------------------------------------------------------

    def ref(self, address: str) -> str:
        return self.vault.ref(address)

    def load_state(self, ref: str) -> State:
        with self.r.pipeline(transaction=False) as pipe:
            pipe.get(self.key("state", ref))
            pipe.hexists(self.key("optout"), ref)
            raw, opted_out = pipe.execute()
        return self._decode_state(ref, raw, bool(opted_out))

    def state_command(self, pipe, ref: str, state: State) -> None:
        """Queue the write of a person's state on a pipeline (encrypted, expiring)."""
        token = self.vault.encrypt(json.dumps(state.to_dict(), separators=(",", ":")), context=ref)
        pipe.set(self.key("state", ref), token, ex=self.state_ttl)

    def save_state(self, ref: str, state: State) -> None:
        with self.r.pipeline(transaction=False) as pipe:
            self.state_command(pipe, ref, state)
            pipe.execute()

    def seal_address(self, ref: str, address: str) -> str:
        """The address to send to, encrypted and bound to the person's ref."""
        return self.vault.encrypt(address, context="addr:" + ref)

    def open_address(self, ref: str, token: str) -> str:
        return self.vault.decrypt(token, context="addr:" + ref)

    def arrival(self, message_sid: str, ref: str) -> "Arrival":
        """Everything the webhook needs to know about an inbound message, in one round trip:
        is it new, how many this minute from this person, their state, and replies this hour."""
        now = time.time()
        rate_key = self.key("rate", ref, str(int(now // 60)))
        with self.r.pipeline(transaction=False) as pipe:
            pipe.set(self.key("seen", message_sid), 1, nx=True, ex=2 * DAY)
            pipe.incr(rate_key)
            pipe.expire(rate_key, 120)
            pipe.get(self.key("state", ref))
            pipe.hexists(self.key("optout"), ref)
            pipe.get(self.key("replies", str(int(now // 3600))))
            first, count, _, raw_state, opted_out, replies = pipe.execute()
        return Arrival(first=bool(first), count_this_minute=int(count),
                       state=self._decode_state(ref, raw_state, bool(opted_out)),
                       replies_this_hour=int(replies or 0))

    def _decode_state(self, ref: str, raw: bytes | None, opted_out: bool) -> State:
        if raw:
            try:
                return State.from_dict(json.loads(self.vault.decrypt(raw.decode(), context=ref)))
            except (ValueError, UnicodeDecodeError):
                pass  # key changed or data altered: start afresh
        return State(opted_out=opted_out)

    def count_replies_command(self, pipe, n: int) -> None:
        key = self.key("replies", str(int(time.time() // 3600)))
        pipe.incrby(key, n)
        pipe.expire(key, 7200)

    # --- opt-out -----------------------------------------------------------------------------

    def opt_out(self, ref: str, pipe=None) -> None:
        """Kept until START or a delete request: never expires with the conversation."""
        (pipe or self.r).hset(self.key("optout"), ref, int(time.time()))

    def opt_in(self, ref: str, pipe=None) -> None:
        (pipe or self.r).hdel(self.key("optout"), ref)

    def is_opted_out(self, ref: str) -> bool:
        return bool(self.r.hexists(self.key("optout"), ref))

    # --- idempotency -------------------------------------------------------------------------

    def first_time(self, message_sid: str, ttl: int = 2 * DAY) -> bool:
        """True the first time an inbound MessageSid is seen (Twilio may deliver twice)."""
        return bool(self.r.set(self.key("seen", message_sid), 1, nx=True, ex=ttl))

    def forget_seen(self, message_sid: str) -> None:
        self.r.delete(self.key("seen", message_sid))

    def claim_send(self, send_id: str, ttl: int = 7 * DAY) -> bool:
        """Mark an outgoing message as being sent; False if it was sent (or is being sent) already."""
        return bool(self.r.set(self.key("send", send_id), "pending", nx=True, ex=ttl))

    def release_send(self, send_id: str) -> None:
        """A send failed in a way worth retrying: let the retry claim it again."""
        self.r.delete(self.key("send", send_id))

    def sent(self, send_id: str) -> str | None:
        value = self.r.get(self.key("send", send_id))
        return value.decode() if value else None

    def record_sent(self, send_id: str, ref: str | None, message_sid: str, status: str = "queued") -> None:
        """Remember that a message went out, and (unless `ref` is None) whom it names, for deletion."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.set(self.key("send", send_id), message_sid, ex=7 * DAY)
            if ref:
                pipe.sadd(self.key("msgs", ref), message_sid)
                pipe.expire(self.key("msgs", ref), self.state_ttl)
            pipe.execute()
        self.record_status(message_sid, status, ref=ref)

    # --- delivery status ---------------------------------------------------------------------

    def record_status(self, message_sid: str, status: str, error_code: str | None = None,
                      ref: str | None = None) -> bool:
        """Record a delivery status; a late or repeated callback never moves it backwards."""
        rank = STATUS_RANK.get(status)
        if rank is None:
            return False
        return bool(self._status_script(keys=[self.key("status", message_sid)],
                                        args=[status, rank, error_code or "", int(time.time()),
                                              self.state_ttl, ref or ""]))

    def status(self, message_sid: str) -> dict[str, str]:
        raw = self.r.hgetall(self.key("status", message_sid))
        return {k.decode(): v.decode() for k, v in raw.items()}

    # --- limits and counters -----------------------------------------------------------------

    def count(self, name: str, n: int = 1, pipe=None) -> None:
        (pipe or self.r).hincrby(self.key("stats"), name, n)

    def stats(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.r.hgetall(self.key("stats")).items()}

    # --- dry-run outbox ----------------------------------------------------------------------

    def outbox_append(self, ref: str, channel: str, body: str, media_url: str | None, limit: int = 1000) -> str:
        entry_id = "DRY" + uuid.uuid4().hex
        entry = {"id": entry_id, "ref": ref, "channel": channel, "body": body, "media_url": media_url,
                 "at": time.time()}
        with self.r.pipeline(transaction=False) as pipe:
            pipe.rpush(self.key("outbox"), json.dumps(entry, ensure_ascii=False))
            pipe.ltrim(self.key("outbox"), -limit, -1)
            pipe.expire(self.key("outbox"), 7 * DAY)
            pipe.execute()
        return entry_id

    def outbox(self, ref: str | None = None, last: int = 50) -> list[OutboxEntry]:
        raw = self.r.lrange(self.key("outbox"), -max(last, 1) if ref is None else 0, -1)
        entries = [OutboxEntry(**json.loads(item)) for item in raw]
        if ref is not None:
            entries = [e for e in entries if e.ref == ref][-last:]
        return entries

    # --- forgetting --------------------------------------------------------------------------

    def forget(self, ref: str) -> int:
        """Delete everything stored about one person; returns the number of records removed."""
        removed = 0
        sids = [s.decode() for s in self.r.smembers(self.key("msgs", ref))]
        with self.r.pipeline(transaction=False) as pipe:
            pipe.delete(self.key("state", ref))
            pipe.hdel(self.key("optout"), ref)
            pipe.delete(self.key("msgs", ref))
            for sid in sids:
                pipe.delete(self.key("status", sid))
            removed += sum(int(x) for x in pipe.execute())
        # The dry-run outbox names people by ref too.
        outbox = self.r.lrange(self.key("outbox"), 0, -1)
        for item in outbox:
            if json.loads(item).get("ref") == ref:
                removed += int(self.r.lrem(self.key("outbox"), 0, item))
        return removed
