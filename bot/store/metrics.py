"""Counters: totals since the start, and per day (for the organizers' figures). Counts only: no
person, no text."""
from __future__ import annotations

import time

from .base import DAY, Noun, UnitOfWork, decode

DAYS_KEPT = 40


def today(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now if now is not None else time.time()))


class Metrics(Noun):
    def count(self, name: str, n: int = 1, uow: UnitOfWork | None = None) -> None:
        """Add to a total and to today's figure."""
        target = uow.pipe if uow is not None else self.r.pipeline(transaction=False)
        day = self.key("stats", "day", today())
        target.hincrby(self.key("stats"), name, n)
        target.hincrby(day, name, n)
        target.expire(day, DAYS_KEPT * DAY)
        if uow is None:
            target.execute()

    def totals(self) -> dict[str, int]:
        return {decode(k): int(v) for k, v in self.r.hgetall(self.key("stats")).items()}

    def days(self, n: int = 7) -> dict[str, dict[str, int]]:
        """The figures of the last `n` days (UTC), oldest first."""
        now = time.time()
        names = [today(now - i * DAY) for i in range(n - 1, -1, -1)]
        with self.r.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self.key("stats", "day", name))
            rows = pipe.execute()
        return {name: {decode(k): int(v) for k, v in row.items()} for name, row in zip(names, rows)}
