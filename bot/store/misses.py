"""Questions the bot could not answer, per day: scrubbed texts and counts, linked to nobody (no ref,
no MessageSid, no time finer than the day). Each day's records expire after the retention period."""
from __future__ import annotations

import time

from ..misses import group, group_key, is_miss, scrub
from .base import DAY, Noun, UnitOfWork, decode
from .metrics import today


class Misses(Noun):
    def note(self, uow: UnitOfWork, text: str, match, days: int, low_score: float) -> None:
        """Record the text if the match is `unknown` or weak (see misses.is_miss)."""
        if days > 0 and is_miss(match.intent, match.score, bool(match.hits), low_score, by_model=bool(match.model)):
            self.record(uow, text, days)

    def record(self, uow: UnitOfWork, text: str, days: int) -> None:
        """Count one question (nothing when `days` is 0: the setting is off)."""
        if days <= 0:
            return
        clean = scrub(text)
        key = group_key(clean)
        if not key or key == "#":
            return
        day = today()
        counts, examples = self.key("misses", day), self.key("misses", day, "ex")
        uow.pipe.hincrby(counts, key, 1)
        uow.pipe.hsetnx(examples, key, clean)
        for name in (counts, examples):
            uow.pipe.expire(name, days * DAY)

    def top(self, days: int, limit: int = 100):
        """The groups of the last `days` days, most asked first."""
        if days <= 0:
            return []
        now = time.time()
        names = [today(now - i * DAY) for i in range(days)]
        with self.r.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self.key("misses", name))
                pipe.hgetall(self.key("misses", name, "ex"))
            rows = pipe.execute()
        counts: dict[str, int] = {}
        examples: dict[str, str] = {}
        for i in range(0, len(rows), 2):
            for k, v in rows[i].items():
                counts[decode(k)] = counts.get(decode(k), 0) + int(v)
            for k, v in rows[i + 1].items():
                examples.setdefault(decode(k), decode(v))
        return group(counts, examples, limit=limit)
