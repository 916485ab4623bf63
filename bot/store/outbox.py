"""The dry-run outbox: what would have been sent, for local development only."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from .base import DAY, Noun

LIMIT = 1000


@dataclass(frozen=True)
class OutboxEntry:
    """A message the dry-run sender would have sent."""

    id: str
    ref: str
    channel: str
    body: str
    media_url: str | None
    at: float
    held: str | None = None     # not sent, and why (reply_ceiling, opted_out): `derechos chat` says so


class Outbox(Noun):
    def append(self, ref: str, channel: str, body: str, media_url: str | None, held: str | None = None) -> str:
        entry_id = ("HELD" if held else "DRY") + uuid.uuid4().hex
        entry = {"id": entry_id, "ref": ref, "channel": channel, "body": body, "media_url": media_url,
                 "at": time.time(), **({"held": held} if held else {})}
        with self.r.pipeline(transaction=False) as pipe:
            pipe.rpush(self.key("outbox"), json.dumps(entry, ensure_ascii=False))
            pipe.ltrim(self.key("outbox"), -LIMIT, -1)
            pipe.expire(self.key("outbox"), 7 * DAY)
            pipe.execute()
        return entry_id

    def entries(self, ref: str | None = None, last: int = 50, held: bool = False) -> list[OutboxEntry]:
        """The last messages sent (to one person); with `held`, the ones held back too."""
        raw = self.r.lrange(self.key("outbox"), -max(last, 1) if ref is None and held else 0, -1)
        entries = [OutboxEntry(**json.loads(item)) for item in raw]
        if ref is not None:
            entries = [e for e in entries if e.ref == ref]
        if not held:
            entries = [e for e in entries if not e.held]
        return entries[-last:]
