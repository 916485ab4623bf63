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

# KEYS[1] = status hash; ARGV = new status, its rank, error code, now, ttl, ref, broadcast id, key prefix.
# A message of a broadcast also moves that broadcast's delivery figures, once per change.
_STATUS_SCRIPT = """
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

# The send rate shared by every worker. Two rules together: GCRA spaces sends evenly (a little
# tolerance lets a late worker catch up a missed slot, so the rate is used fully), and a sliding log
# of the last second's segments makes the limit hard: never more than `capacity` in any window.
# KEYS: GCRA time (ms), the replies queue, the sliding log. ARGV: now (ms), cost (segments), interval
# (ms), tolerance (ms), priority (1 = reply), capacity, window (ms), a unique id.
# Returns 0: send now; -1: a broadcast must make way for waiting replies; else ms to wait.
_RATE_SCRIPT = """
local now = tonumber(ARGV[1])
if ARGV[5] ~= '1' and redis.call('LLEN', KEYS[2]) > 0 then
  return -1
end
local cost = tonumber(ARGV[2])
local capacity = tonumber(ARGV[6])
local window = tonumber(ARGV[7])
if cost > capacity then cost = capacity end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[3])
if used + cost > capacity then
  local oldest = redis.call('ZRANGE', KEYS[3], used + cost - capacity - 1, used + cost - capacity - 1, 'WITHSCORES')
  return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - tonumber(ARGV[4]) > now then
  return math.ceil(tat - tonumber(ARGV[4]) - now)
end
local new_tat = tat + cost * tonumber(ARGV[3])
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
for i = 1, cost do
  redis.call('ZADD', KEYS[3], now, ARGV[8] .. ':' .. i)
end
redis.call('PEXPIRE', KEYS[3], math.ceil(window) * 2)
return 0
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
class Claim:
    """The outcome of claiming a message before sending it."""

    won: bool
    sid: str | None = None              # sent already, with this SID
    stale_since: int | None = None      # a pending claim of an attempt that died, from this time


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
        self._rate_script = connection.register_script(_RATE_SCRIPT)

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

    def claim_send(self, send_id: str, owner: str, stale_after: int = 600) -> "Claim":
        """Claim an outgoing message before sending it, so it goes out once.

        A claim left "pending" by an attempt that died mid-send (its own job, retried; or older than
        `stale_after` seconds) comes back as `stale`: the caller asks Twilio whether it went out.
        """
        now = int(time.time())
        key = self.key("send", send_id)
        if self.r.set(key, f"pending:{owner}:{now}", nx=True, ex=7 * DAY):
            return Claim(won=True)
        value = (self.r.get(key) or b"").decode()
        if not value.startswith("pending:"):
            return Claim(won=False, sid=value or None)
        holder, _, since = value[len("pending:"):].rpartition(":")
        since = int(since) if since.isdigit() else 0
        if holder == owner or now - since > stale_after:
            return Claim(won=False, stale_since=since)
        return Claim(won=False)   # another worker is sending it right now

    def take_over(self, send_id: str, owner: str) -> None:
        self.r.set(self.key("send", send_id), f"pending:{owner}:{int(time.time())}", ex=7 * DAY)

    def release_send(self, send_id: str) -> None:
        """A send failed in a way worth retrying: let the retry claim it again."""
        self.r.delete(self.key("send", send_id))

    def sent(self, send_id: str) -> str | None:
        value = self.r.get(self.key("send", send_id))
        return value.decode() if value else None

    def record_sent(self, send_id: str, ref: str | None, message_sid: str, status: str = "queued",
                    broadcast: str | None = None) -> None:
        """Remember that a message went out, and (unless `ref` is None) whom it names, for deletion."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.set(self.key("send", send_id), message_sid, ex=7 * DAY)
            if ref:
                pipe.sadd(self.key("msgs", ref), message_sid)
                pipe.expire(self.key("msgs", ref), self.state_ttl)
            pipe.execute()
        self.record_status(message_sid, status, ref=ref, broadcast=broadcast)

    # --- delivery status ---------------------------------------------------------------------

    def record_status(self, message_sid: str, status: str, error_code: str | None = None,
                      ref: str | None = None, broadcast: str | None = None) -> bool:
        """Record a delivery status; a late or repeated callback never moves it backwards."""
        rank = STATUS_RANK.get(status)
        if rank is None:
            return False
        return bool(self._status_script(keys=[self.key("status", message_sid)],
                                        args=[status, rank, error_code or "", int(time.time()),
                                              self.state_ttl, ref or "", broadcast or "", self.prefix]))

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

    # --- rate limit shared by every worker --------------------------------------------------

    def send_wait(self, segments: int, per_second: float, reply: bool, replies_queue_key: str,
                  margin_ms: float = 40.0, bucket: str = "default") -> float:
        """Seconds to wait before sending `segments` under the shared rate; 0 means send now, and
        a negative number that a broadcast must give its worker to the replies queued (people who
        wrote go first). `margin_ms` widens the window against jitter between here and Twilio."""
        capacity = max(1, int(per_second))
        window_ms = capacity / per_second * 1000.0 + margin_ms
        interval_ms = 1000.0 / per_second
        wait_ms = self._rate_script(
            keys=[self.key("rate", "send", bucket), replies_queue_key, self.key("rate", "log", bucket)],
            args=[int(time.time() * 1000), max(1, segments), interval_ms, 2 * interval_ms, "1" if reply else "0",
                  capacity, window_ms, uuid.uuid4().hex[:12]])
        return int(wait_ms) / 1000.0

    # --- subscribers -------------------------------------------------------------------------

    def touch_window(self, pipe, ref: str) -> None:
        """The person wrote: WhatsApp lets us write freely for 24 hours."""
        pipe.set(self.key("window", ref), 1, ex=DAY)

    def in_window(self, ref: str) -> bool:
        return bool(self.r.exists(self.key("window", ref)))

    def subscribe(self, ref: str, address: str, channel: str, lang: str, tags=(), source: str = "keyword",
                  pipe=None) -> None:
        """Consent recorded with its time and source; the number is kept encrypted."""
        own = pipe is None
        pipe = pipe if pipe is not None else self.r.pipeline(transaction=True)
        key = self.key("sub", ref)
        now = int(time.time())
        old_tags = set()
        if own:
            raw = self.r.hget(key, "tags")
            old_tags = set((raw or b"").decode().split(",")) - {""}
            old = self.r.hmget(key, "lang", "channel")
            for field_, prefix in zip(old, ("lang", "ch")):
                if field_:
                    pipe.srem(self.key("subs", prefix, field_.decode()), ref)
        tags = sorted(old_tags | set(tags))
        pipe.hset(key, mapping={"addr": self.seal_address(ref, address), "channel": channel, "lang": lang,
                                "tags": ",".join(tags), "status": "subscribed", "consent_at": now,
                                "consent_source": source})
        pipe.sadd(self.key("subs", "all"), ref)
        pipe.sadd(self.key("subs", "lang", lang), ref)
        pipe.sadd(self.key("subs", "ch", channel), ref)
        for tag in tags:
            pipe.sadd(self.key("subs", "tag", tag), ref)
        pipe.hdel(self.key("optout"), ref)
        if own:
            pipe.execute()
            pipe.reset()

    def import_subscribers(self, rows, source: str = "import") -> int:
        """Write every row in one transaction: an import is all there or not there at all."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.multi()
            for row in rows:
                ref = self.ref(row.address)
                self.subscribe(ref, row.address, row.channel, row.lang, row.tags, source=source, pipe=pipe)
            pipe.execute()
        return len(rows)

    def unsubscribe(self, ref: str, pipe=None) -> None:
        """Leave every audience at once (STOP); the record keeps when and why, not the number."""
        target = pipe if pipe is not None else self.r
        target.srem(self.key("subs", "all"), ref)
        target.hset(self.key("sub", ref), mapping={"status": "opted_out", "opted_out_at": int(time.time())})
        target.hdel(self.key("sub", ref), "addr")

    def subscriber(self, ref: str) -> dict[str, str]:
        raw = self.r.hgetall(self.key("sub", ref))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def subscriber_address(self, ref: str) -> tuple[str, str, str] | None:
        """(address, channel, lang) of a subscribed person, or None."""
        status, token, channel, lang = self.r.hmget(self.key("sub", ref), "status", "addr", "channel", "lang")
        if status != b"subscribed" or not token:
            return None
        return self.open_address(ref, token.decode()), channel.decode(), lang.decode()

    def audience_key(self, langs=(), channels=(), tags=(), ttl: int = 600) -> str:
        """A temporary set of the refs an audience selects (subscribed, not opted out)."""
        out = self.key("tmp", uuid.uuid4().hex)
        keys = [self.key("subs", "all")]
        with self.r.pipeline(transaction=False) as pipe:
            temps = []
            for prefix, values in (("lang", langs), ("ch", channels)):
                if values:
                    temp = self.key("tmp", uuid.uuid4().hex)
                    pipe.sunionstore(temp, [self.key("subs", prefix, v) for v in values])
                    temps.append(temp)
                    keys.append(temp)
            keys += [self.key("subs", "tag", t) for t in tags]
            pipe.sinterstore(out, keys)
            pipe.expire(out, ttl)
            for temp in temps:
                pipe.delete(temp)
            pipe.execute()
        return out

    def audience_counts(self, audience_key: str, langs, channels=("sms", "whatsapp")) -> dict[tuple[str, str], int]:
        """People in an audience per (language, channel)."""
        counts = {}
        with self.r.pipeline(transaction=False) as pipe:
            pairs = [(lang, ch) for lang in langs for ch in channels]
            for lang, ch in pairs:
                temp = self.key("tmp", "count", lang, ch)
                pipe.sinterstore(temp, [audience_key, self.key("subs", "lang", lang), self.key("subs", "ch", ch)])
                pipe.delete(temp)
            results = pipe.execute()
        for (lang, ch), n in zip(pairs, results[0::2]):
            counts[(lang, ch)] = int(n)
        return counts

    def count_subscribers(self, langs=(), channels=(), tags=()) -> int:
        key = self.audience_key(langs, channels, tags)
        try:
            return int(self.r.scard(key))
        finally:
            self.r.delete(key)

    # --- broadcasts --------------------------------------------------------------------------

    def save_broadcast(self, data: dict) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("bc", data["id"]), mapping={"data": json.dumps(data, ensure_ascii=False),
                                                            "status": data["status"]})
            pipe.zadd(self.key("bc", "index"), {data["id"]: time.time()})
            pipe.execute()

    def broadcast(self, broadcast_id: str) -> dict | None:
        raw, status = self.r.hmget(self.key("bc", broadcast_id), "data", "status")
        if not raw:
            return None
        data = json.loads(raw)
        data["status"] = status.decode()
        return data

    def broadcast_ids(self, last: int = 20) -> list[str]:
        return [i.decode() for i in self.r.zrevrange(self.key("bc", "index"), 0, last - 1)]

    def set_broadcast_status(self, broadcast_id: str, status: str, only_from: tuple[str, ...] = ()) -> bool:
        """Change the status; with `only_from`, only from one of those (e.g. never un-cancel)."""
        key = self.key("bc", broadcast_id)
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    current = (pipe.hget(key, "status") or b"").decode()
                    if not current or (only_from and current not in only_from):
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(key, "status", status)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def broadcast_status(self, broadcast_id: str) -> str | None:
        value = self.r.hget(self.key("bc", broadcast_id), "status")
        return value.decode() if value else None

    def snapshot_audience(self, broadcast_id: str, audience_key: str) -> list[str]:
        """Freeze who gets the broadcast when sending starts; sorted for stable batches."""
        target = self.key("bc", broadcast_id, "audience")
        with self.r.pipeline(transaction=True) as pipe:
            pipe.sunionstore(target, [audience_key])
            pipe.expire(target, 30 * DAY)
            pipe.delete(audience_key)
            pipe.smembers(target)
            members = pipe.execute()[-1]
        return sorted(m.decode() for m in members)

    def bump(self, broadcast_id: str, field_: str, n: int = 1) -> None:
        self.r.hincrby(self.key("bc", broadcast_id, "stats"), field_, n)

    def broadcast_stats(self, broadcast_id: str) -> dict[str, int]:
        raw = self.r.hgetall(self.key("bc", broadcast_id, "stats"))
        return {k.decode(): int(v) for k, v in raw.items()}

    # --- hand-offs to a person ---------------------------------------------------------------

    def open_handoff(self, ref: str, address: str, kind: str, lang: str, topic: str | None, pipe=None,
                     region: str | None = None) -> str:
        handoff_id = uuid.uuid4().hex[:10]
        target = pipe if pipe is not None else self.r
        target.hset(self.key("handoff", handoff_id), mapping={
            "id": handoff_id, "ref": ref, "addr": self.seal_address(ref, address), "kind": kind, "lang": lang,
            "topic": topic or "", "region": region or "", "status": "open", "opened_at": int(time.time())})
        target.expire(self.key("handoff", handoff_id), 90 * DAY)
        target.zadd(self.key("handoffs"), {handoff_id: time.time()})
        target.sadd(self.key("handoffs", "of", ref), handoff_id)     # so a delete request finds them at once
        target.expire(self.key("handoffs", "of", ref), 90 * DAY)
        return handoff_id

    def handoffs(self, status: str | None = None, last: int = 50) -> list[dict[str, str]]:
        ids = [i.decode() for i in self.r.zrevrange(self.key("handoffs"), 0, last * 4)]
        out = []
        for handoff_id in ids:
            item = self.handoff(handoff_id)
            if item is None:
                self.r.zrem(self.key("handoffs"), handoff_id)   # expired
                continue
            if status is None or item["status"] == status:
                out.append(item)
        return out[:last]

    def handoff(self, handoff_id: str) -> dict[str, str] | None:
        raw = self.r.hgetall(self.key("handoff", handoff_id))
        if not raw:
            return None
        item = {k.decode(): v.decode() for k, v in raw.items()}
        item.pop("addr", None)
        return item

    def update_handoff(self, handoff_id: str, status: str, by: str) -> str | None:
        """Take or close a hand-off; taking returns the number to call (decrypted, for the organizer)."""
        key = self.key("handoff", handoff_id)
        ref, token = self.r.hmget(key, "ref", "addr")
        if not ref:
            return None
        self.r.hset(key, mapping={"status": status, f"{status}_by": by, f"{status}_at": int(time.time())})
        if status == "closed":
            self.r.hdel(key, "addr")
            return ""
        return self.open_address(ref.decode(), token.decode()) if token else ""

    # --- audit trail -------------------------------------------------------------------------

    def audit(self, who: str, what: str, **details) -> None:
        """Who did what, when, with audience sizes; never a phone number."""
        entry = {"at": int(time.time()), "who": who, "what": what, **details}
        with self.r.pipeline(transaction=False) as pipe:
            pipe.lpush(self.key("audit"), json.dumps(entry, ensure_ascii=False))
            pipe.ltrim(self.key("audit"), 0, 9999)
            pipe.execute()

    def audit_trail(self, last: int = 50) -> list[dict]:
        return [json.loads(x) for x in self.r.lrange(self.key("audit"), 0, last - 1)]

    # --- forgetting --------------------------------------------------------------------------

    def forget(self, ref: str) -> int:
        """Delete everything stored about one person; returns the number of records removed."""
        removed = 0
        sids = [s.decode() for s in self.r.smembers(self.key("msgs", ref))]
        sub = self.subscriber(ref)
        handoffs = [h.decode() for h in self.r.smembers(self.key("handoffs", "of", ref))]
        with self.r.pipeline(transaction=False) as pipe:
            pipe.delete(self.key("state", ref))
            pipe.hdel(self.key("optout"), ref)
            pipe.delete(self.key("msgs", ref))
            pipe.delete(self.key("window", ref))
            minute = int(time.time() // 60)
            pipe.delete(self.key("rate", ref, str(minute)), self.key("rate", ref, str(minute - 1)))
            for sid in sids:
                pipe.delete(self.key("status", sid))
            pipe.delete(self.key("sub", ref))
            pipe.srem(self.key("subs", "all"), ref)
            if sub.get("lang"):
                pipe.srem(self.key("subs", "lang", sub["lang"]), ref)
            if sub.get("channel"):
                pipe.srem(self.key("subs", "ch", sub["channel"]), ref)
            for tag in filter(None, sub.get("tags", "").split(",")):
                pipe.srem(self.key("subs", "tag", tag), ref)
            for handoff_id in handoffs:
                pipe.delete(self.key("handoff", handoff_id))
                pipe.zrem(self.key("handoffs"), handoff_id)
            pipe.delete(self.key("handoffs", "of", ref))
            removed += sum(int(x) for x in pipe.execute() if isinstance(x, int))
        # The dry-run outbox names people by ref too.
        outbox = self.r.lrange(self.key("outbox"), 0, -1)
        for item in outbox:
            if json.loads(item).get("ref") == ref:
                removed += int(self.r.lrem(self.key("outbox"), 0, item))
        return removed
