"""The audit trail: who did what and when, with audience sizes; never a phone number."""
from __future__ import annotations

import json
import time

from .base import Noun

KEPT = 10_000


class Audit(Noun):
    def record(self, who: str, what: str, **details) -> None:
        """`at` is when the action happened; details must not use that name."""
        entry = {**details, "at": int(time.time()), "who": who, "what": what}
        with self.r.pipeline(transaction=False) as pipe:
            pipe.lpush(self.key("audit"), json.dumps(entry, ensure_ascii=False))
            pipe.ltrim(self.key("audit"), 0, KEPT - 1)
            pipe.execute()

    def trail(self, last: int = 50, who: str | None = None, what: str | None = None) -> list[dict]:
        """The newest entries first; `who` and `what` (a prefix, e.g. "broadcast.") filter."""
        if not who and not what:
            return [json.loads(x) for x in self.r.lrange(self.key("audit"), 0, last - 1)]
        out = []
        for raw in self.r.lrange(self.key("audit"), 0, KEPT - 1):
            entry = json.loads(raw)
            if (not who or entry.get("who") == who) and (not what or str(entry.get("what", "")).startswith(what)):
                out.append(entry)
                if len(out) >= last:
                    break
        return out
