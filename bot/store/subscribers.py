"""Subscribers: consent to alerts, and the indexes audiences are cut from. One function per change
(subscribe, remove, set_lang), each a server-side script that moves the record and every index it
is in at once, so the indexes always agree with the records.

Layout, compact on purpose (a subscriber costs well under 300 bytes of Redis):
- each subscriber gets a small integer id: `subs:id:<ref[:2]>` maps ref -> id (4,096 small hashes);
- `subs:rec:<id // 32>` holds, per id, `r<n>` = "channel|lang|consent time|source|" and the ref's
  18 bytes (its base64 text costs a third more),
  `a<n>` = the address, encrypted and bound to the ref (bytes), `t<n>` = tags, comma-separated;
- a bitmap per language and per channel (`subs:bm:lang:es`, `subs:bm:ch:sms`): bit id is set when
  the subscriber is in it; `subs:dims` names them;
- a set of ids per tag (`subs:tag:<tag>`, small integers: Redis keeps them as compact intsets);
  `subs:tags` names them.
- a bitmap of the subscribers known only by a WhatsApp user id (`subs:bm:reach:id-only`): no SMS can
  reach them, which previews count.
A person who opts out or is forgotten is removed entirely; the opt-out mark lives with People.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from ..addresses import bare, is_user_id
from .base import Noun, UnitOfWork, decode

BUCKET = 32
MAX_TAGS = 8
SOURCES = {"keyword": "k", "import": "i", "api": "a", "console": "c"}
SOURCE_NAMES = {v: k for k, v in SOURCES.items()}

# KEYS: id map bucket, opt-out hash, id counter. ARGV: prefix, ref, sealed address, channel, lang,
# tags (comma-separated), consent time, source code, respect opt-out ('1': refuse an opted-out ref),
# max tags, id only ('1': the address is a WhatsApp user id, no number known), the ref as its 18 raw bytes.
# Returns {outcome, id}: outcome is 'subscribed' (new), 'updated' or 'opted_out' (refused).
_SUBSCRIBE = """
local P, ref = ARGV[1], ARGV[2]
if ARGV[9] == '1' and redis.call('HEXISTS', KEYS[2], ref) == 1 then return {'opted_out', 0} end
local id = redis.call('HGET', KEYS[1], ref)
local outcome = 'updated'
if not id then
  id = redis.call('INCR', KEYS[3])
  redis.call('HSET', KEYS[1], ref, id)
  outcome = 'subscribed'
end
id = tonumber(id)
local rec = P .. ':subs:rec:' .. math.floor(id / 32)
local n = tostring(id % 32)
local old = redis.call('HGET', rec, 'r' .. n)
if old then
  local ch, lang = string.match(old, '^([^|]*)|([^|]*)|')
  redis.call('SETBIT', P .. ':subs:bm:ch:' .. ch, id, 0)
  redis.call('SETBIT', P .. ':subs:bm:lang:' .. lang, id, 0)
end
for _, dim in ipairs({'ch:' .. ARGV[4], 'lang:' .. ARGV[5]}) do
  redis.call('SADD', P .. ':subs:dims', dim)
  redis.call('SETBIT', P .. ':subs:bm:' .. dim, id, 1)
end
local reach = P .. ':subs:bm:reach:id-only'
if ARGV[11] == '1' then
  redis.call('SADD', P .. ':subs:dims', 'reach:id-only')
  redis.call('SETBIT', reach, id, 1)
elseif redis.call('EXISTS', reach) == 1 then
  redis.call('SETBIT', reach, id, 0)
end
local tags, seen = {}, {}
local function add(list)
  for tag in string.gmatch(list or '', '[^,]+') do
    if not seen[tag] and #tags < tonumber(ARGV[10]) then seen[tag] = true; table.insert(tags, tag) end
  end
end
add(redis.call('HGET', rec, 't' .. n))
add(ARGV[6])
for _, tag in ipairs(tags) do
  redis.call('SADD', P .. ':subs:tags', tag)
  redis.call('SADD', P .. ':subs:tag:' .. tag, id)
end
redis.call('HSET', rec, 'r' .. n, ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[7] .. '|' .. ARGV[8] .. '|' .. ARGV[12],
           'a' .. n, ARGV[3])
if #tags > 0 then redis.call('HSET', rec, 't' .. n, table.concat(tags, ',')) else redis.call('HDEL', rec, 't' .. n) end
return {outcome, id}
"""

# KEYS: id map bucket. ARGV: prefix, ref. Out of every index (all of them, whatever the record says).
_REMOVE = """
local P, ref = ARGV[1], ARGV[2]
local id = redis.call('HGET', KEYS[1], ref)
if not id then return 0 end
id = tonumber(id)
for _, dim in ipairs(redis.call('SMEMBERS', P .. ':subs:dims')) do
  redis.call('SETBIT', P .. ':subs:bm:' .. dim, id, 0)
end
for _, tag in ipairs(redis.call('SMEMBERS', P .. ':subs:tags')) do
  redis.call('SREM', P .. ':subs:tag:' .. tag, id)
end
local n = tostring(id % 32)
redis.call('HDEL', P .. ':subs:rec:' .. math.floor(id / 32), 'r' .. n, 'a' .. n, 't' .. n)
redis.call('HDEL', KEYS[1], ref)
return 1
"""

# KEYS: id map bucket. ARGV: prefix, ref, new language. Only for someone subscribed.
_SET_LANG = """
local P, ref = ARGV[1], ARGV[2]
local id = redis.call('HGET', KEYS[1], ref)
if not id then return 0 end
id = tonumber(id)
local rec = P .. ':subs:rec:' .. math.floor(id / 32)
local n = 'r' .. tostring(id % 32)
local old = redis.call('HGET', rec, n)
if not old then return 0 end
local ch, lang, rest = string.match(old, '^([^|]*)|([^|]*)|(.*)$')
if lang == ARGV[3] then return 0 end
redis.call('SETBIT', P .. ':subs:bm:lang:' .. lang, id, 0)
redis.call('SADD', P .. ':subs:dims', 'lang:' .. ARGV[3])
redis.call('SETBIT', P .. ':subs:bm:lang:' .. ARGV[3], id, 1)
redis.call('HSET', rec, n, ch .. '|' .. ARGV[3] .. '|' .. rest)
return 1
"""

def _raw_ref(ref: str) -> bytes:
    return base64.urlsafe_b64decode(ref)


def _ref_text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


_BITS = [tuple(i for i in range(8) if byte & (0x80 >> i)) for byte in range(256)]


def ids_in_bitmap(raw: bytes | None) -> set[int]:
    """The ids whose bit is set (Redis numbers bits from the most significant of each byte).

    >>> sorted(ids_in_bitmap(bytes([0b10000001, 0, 0b01000000])))
    [0, 7, 17]
    """
    out: set[int] = set()
    if not raw:
        return out
    for position, byte in enumerate(raw):
        if byte:
            base = position * 8
            out.update(base + i for i in _BITS[byte])
    return out


@dataclass(frozen=True)
class Subscriber:
    """One subscriber as a broadcast batch needs them."""

    id: int
    ref: str
    channel: str
    lang: str
    consent_at: int
    source: str
    sealed_address: bytes
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Drift:
    """Where the indexes disagree with the records."""

    stray_bits: list[tuple[str, int]]      # (index, id) set without a record saying so
    missing_bits: list[tuple[str, int]]    # (index, id) a record says but the index lacks
    stray_tags: list[tuple[str, int]]      # (tag, id) in a tag set without a record
    missing_tags: list[tuple[str, int]]    # (tag, id) a record names but the set lacks
    orphan_ids: list[str]                  # refs mapped to an id with no record (and the reverse)

    @property
    def total(self) -> int:
        return (len(self.stray_bits) + len(self.missing_bits) + len(self.stray_tags) + len(self.missing_tags)
                + len(self.orphan_ids))


class Subscribers(Noun):
    def __init__(self, *args):
        super().__init__(*args)
        self._subscribe = self.r.register_script(_SUBSCRIBE)
        self._remove = self.r.register_script(_REMOVE)
        self._set_lang = self.r.register_script(_SET_LANG)

    def _id_key(self, ref: str) -> str:
        return self.key("subs", "id", ref[:2])

    def _rec_key(self, subscriber_id: int) -> str:
        return self.key("subs", "rec", str(subscriber_id // BUCKET))

    # --- changes (each one script, inside the caller's transaction) -----------------------------

    def subscribe(self, uow: UnitOfWork, ref: str, address: str, channel: str, lang: str, tags=(),
                  source: str = "keyword", consent_at: int | None = None) -> int:
        """Record consent (time and source) and put the person in their indexes; returns the index
        of the script's reply in `uow.results` ({outcome, id}).

        Only the person's own START (source "keyword") may subscribe someone who opted out; an
        import or an organizer is refused ('opted_out'). `consent_at` keeps the time of a consent
        given earlier (a subscription that moves to the person's number when their id is linked).
        """
        index = uow.index()
        self._subscribe(keys=[self._id_key(ref), self.key("optout"), self.key("subs", "next")],
                        args=[self.prefix, ref, self.vault.seal(address, "addr:" + ref), channel, lang,
                              ",".join(tags), int(consent_at or time.time()), SOURCES[source],
                              "0" if source == "keyword" else "1", MAX_TAGS,
                              "1" if is_user_id(bare(address)) else "0", _raw_ref(ref)], client=uow.pipe)
        return index

    def remove(self, uow: UnitOfWork, ref: str) -> None:
        """Out of every audience, record and address gone (STOP, a delete request)."""
        self._remove(keys=[self._id_key(ref)], args=[self.prefix, ref], client=uow.pipe)

    def set_lang(self, uow: UnitOfWork, ref: str, lang: str) -> None:
        """The person chose another language: alerts follow it (no-op for non-subscribers)."""
        self._set_lang(keys=[self._id_key(ref)], args=[self.prefix, ref, lang], client=uow.pipe)

    # --- reading -------------------------------------------------------------------------------

    def id_of(self, ref: str) -> int | None:
        value = self.r.hget(self._id_key(ref), ref)
        return int(value) if value else None

    def get(self, ref: str) -> Subscriber | None:
        subscriber_id = self.id_of(ref)
        if subscriber_id is None:
            return None
        found = self.by_ids([subscriber_id])
        return found[0] if found else None

    def by_ids(self, ids) -> list[Subscriber]:
        """The subscribers with these ids that still exist, in order."""
        ids = list(ids)
        with self.r.pipeline(transaction=False) as pipe:
            for subscriber_id in ids:
                n = subscriber_id % BUCKET
                pipe.hmget(self._rec_key(subscriber_id), f"r{n}", f"a{n}", f"t{n}")
            rows = pipe.execute()
        out = []
        for subscriber_id, (rec, addr, tags) in zip(ids, rows):
            if not rec or not addr:
                continue
            channel, lang, consent_at, source, raw = rec.split(b"|", 4)
            out.append(Subscriber(subscriber_id, _ref_text(raw), decode(channel), decode(lang), int(consent_at or 0),
                                  SOURCE_NAMES.get(decode(source), decode(source)), addr,
                                  tuple(t for t in decode(tags).split(",") if t)))
        return out

    def open_address(self, subscriber: Subscriber) -> str:
        return self.vault.open(subscriber.sealed_address, "addr:" + subscriber.ref)

    def dimensions(self) -> tuple[list[str], list[str]]:
        """(languages, channels) that have an index."""
        dims = sorted(decode(d) for d in self.r.smembers(self.key("subs", "dims")))
        return ([d[5:] for d in dims if d.startswith("lang:")], [d[3:] for d in dims if d.startswith("ch:")])

    def tags(self) -> list[str]:
        return sorted(decode(t) for t in self.r.smembers(self.key("subs", "tags")))

    def _bitmaps(self, names: list[str]) -> dict[str, set[int]]:
        if not names:
            return {}
        with self.r.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.get(self.key("subs", "bm", name))
            raws = pipe.execute()
        return {name: ids_in_bitmap(raw) for name, raw in zip(names, raws)}

    def audience(self, langs=(), channels=(), tags=()) -> set[int]:
        """The ids an audience selects: any of `langs`, any of `channels`, every one of `tags`
        (an empty field is no restriction)."""
        known_langs, known_channels = self.dimensions()
        chosen_channels = [c for c in (channels or known_channels) if c in known_channels]
        chosen_langs = [lang for lang in langs if lang in known_langs]
        maps = self._bitmaps([f"ch:{c}" for c in chosen_channels] + [f"lang:{lang}" for lang in chosen_langs])
        ids: set[int] = set().union(*(maps[f"ch:{c}"] for c in chosen_channels))
        if langs:
            ids &= set().union(*(maps[f"lang:{lang}"] for lang in chosen_langs))
        for tag in tags:
            if not ids:
                break
            ids &= {int(m) for m in self.r.smembers(self.key("subs", "tag", tag))}
        return ids

    def counts(self, ids: set[int], langs, channels) -> dict[tuple[str, str], int]:
        """How many of `ids` read each language on each channel."""
        maps = self._bitmaps([f"lang:{lang}" for lang in langs] + [f"ch:{c}" for c in channels])
        return {(lang, c): len(ids & maps[f"lang:{lang}"] & maps[f"ch:{c}"]) for lang in langs for c in channels}

    def whatsapp_only(self, ids: set[int]) -> set[int]:
        """Those of `ids` known only by a WhatsApp user id: WhatsApp reaches them, SMS never."""
        return ids & self._bitmaps(["reach:id-only"])["reach:id-only"] if ids else set()

    def count(self, langs=(), channels=(), tags=()) -> int:
        return len(self.audience(langs, channels, tags))

    def breakdown(self) -> dict[str, dict[str, int]]:
        """Subscribers by language, by channel and by tag (for organizers' figures)."""
        langs, channels = self.dimensions()
        maps = self._bitmaps([f"lang:{lang}" for lang in langs] + [f"ch:{c}" for c in channels])
        tags = self.tags()
        with self.r.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.scard(self.key("subs", "tag", tag))
            sizes = pipe.execute()
        return {"lang": {lang: len(maps[f"lang:{lang}"]) for lang in langs},
                "channel": {c: len(maps[f"ch:{c}"]) for c in channels},
                "tag": {t: int(n) for t, n in zip(tags, sizes) if n}}

    # --- drift ---------------------------------------------------------------------------------

    def _all_records(self) -> tuple[dict[int, tuple[str, str, str, tuple[str, ...]]], dict[str, int]]:
        """Every record by id (channel, lang, ref, tags) and every ref -> id mapping."""
        records: dict[int, tuple[str, str, str, tuple[str, ...]]] = {}
        for key in self.r.scan_iter(match=self.key("subs", "rec", "*"), count=1000):
            bucket = int(decode(key).rsplit(":", 1)[1])
            raw = {decode(k): v for k, v in self.r.hgetall(key).items()}
            for name, value in raw.items():
                if name.startswith("r"):
                    n = int(name[1:])
                    channel, lang, _, _, ref = value.split(b"|", 4)
                    tags = tuple(t for t in decode(raw.get(f"t{n}", b"")).split(",") if t)
                    records[bucket * BUCKET + n] = (decode(channel), decode(lang), _ref_text(ref), tags)
        mapping: dict[str, int] = {}
        for key in self.r.scan_iter(match=self.key("subs", "id", "*"), count=1000):
            for ref, value in self.r.hgetall(key).items():
                mapping[decode(ref)] = int(value)
        return records, mapping

    def check(self, repair: bool = False) -> Drift:
        """Compare every index with the records; with `repair`, make the indexes agree."""
        records, mapping = self._all_records()
        langs, channels = self.dimensions()
        dims = [f"lang:{lang}" for lang in langs] + [f"ch:{c}" for c in channels]
        maps = self._bitmaps(dims)
        stray, missing = [], []
        for dim in dims:
            kind, value = dim.split(":", 1)
            want = {i for i, (ch, lang, _, _) in records.items() if (ch if kind == "ch" else lang) == value}
            stray += [(dim, i) for i in sorted(maps[dim] - want)]
            missing += [(dim, i) for i in sorted(want - maps[dim])]
        for i, (ch, lang, _, _) in records.items():     # a record naming an index nobody registered
            for dim in (f"ch:{ch}", f"lang:{lang}"):
                if dim not in maps:
                    missing.append((dim, i))
        stray_tags, missing_tags = [], []
        tags = set(self.tags()) | {t for (_, _, _, ts) in records.values() for t in ts}
        for tag in sorted(tags):
            members = {int(m) for m in self.r.smembers(self.key("subs", "tag", tag))}
            want = {i for i, (_, _, _, ts) in records.items() if tag in ts}
            stray_tags += [(tag, i) for i in sorted(members - want)]
            missing_tags += [(tag, i) for i in sorted(want - members)]
        by_id = {i: ref for ref, i in mapping.items()}
        orphans = sorted({ref for ref, i in mapping.items() if i not in records}
                         | {rec[2] for i, rec in records.items() if by_id.get(i) != rec[2]})
        drift = Drift(stray, missing, stray_tags, missing_tags, orphans)
        if repair and drift.total:
            self._repair(drift, records, mapping)
        return drift

    def _repair(self, drift: Drift, records, mapping) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            for dim, i in drift.stray_bits:
                pipe.setbit(self.key("subs", "bm", dim), i, 0)
            for dim, i in drift.missing_bits:
                pipe.sadd(self.key("subs", "dims"), dim)
                pipe.setbit(self.key("subs", "bm", dim), i, 1)
            for tag, i in drift.stray_tags:
                pipe.srem(self.key("subs", "tag", tag), i)
            for tag, i in drift.missing_tags:
                pipe.sadd(self.key("subs", "tags"), tag)
                pipe.sadd(self.key("subs", "tag", tag), i)
            by_ref = {rec[2]: i for i, rec in records.items()}
            for ref in drift.orphan_ids:
                if ref in by_ref:   # a record without its mapping: map it back
                    pipe.hset(self._id_key(ref), ref, by_ref[ref])
                else:               # a mapping without a record: nothing to send to
                    pipe.hdel(self._id_key(ref), ref)
            pipe.execute()
