"""WhatsApp content templates: the Content SID of each template `derechos whatsapp sync` made, with
the fingerprint of the definition it was made from (a template whose definition has changed since
is not used until the next sync: the plain text goes instead) and its approval status."""
from __future__ import annotations

import json
import time

from .base import Noun, decode


class Templates(Noun):
    def _key(self) -> str:
        return self.key("wa", "templates")

    def get(self, name: str) -> dict | None:
        raw = self.r.hget(self._key(), name)
        return json.loads(decode(raw)) if raw else None

    def all(self) -> dict[str, dict]:
        return {decode(k): json.loads(decode(v)) for k, v in self.r.hgetall(self._key()).items()}

    def save(self, name: str, sid: str, fingerprint: str, status: str = "", **extra: str) -> None:
        record = {"sid": sid, "fingerprint": fingerprint, "status": status, "synced_at": int(time.time()), **extra}
        self.r.hset(self._key(), name, json.dumps(record, separators=(",", ":")))

    def remove(self, name: str) -> None:
        self.r.hdel(self._key(), name)
