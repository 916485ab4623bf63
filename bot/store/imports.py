"""Subscriber imports started from the console: the uploaded CSV, encrypted, until the job has read it
(an hour at most), and the job's progress and report (line numbers and reasons only, never a number)."""
from __future__ import annotations

import json
import time
import uuid

from .base import DAY, Noun, decode, decode_hash

CSV_TTL = 3600
REPORT_TTL = DAY


class Imports(Noun):
    def _key(self, import_id: str, *more: str) -> str:
        return self.key("import", import_id, *more)

    def start(self, data: bytes, options: dict, who: str) -> str:
        import_id = uuid.uuid4().hex[:12]
        token = self.vault.encrypt(data.decode("utf-8-sig"), context="import:" + import_id)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(self._key(import_id, "csv"), token, ex=CSV_TTL)
            pipe.hset(self._key(import_id), mapping={"id": import_id, "state": "queued", "who": who,
                                                     "options": json.dumps(options), "read": 0, "stored": 0,
                                                     "total": 0, "started_at": int(time.time())})
            pipe.expire(self._key(import_id), REPORT_TTL)
            pipe.execute()
        return import_id

    def csv(self, import_id: str) -> str | None:
        raw = self.r.get(self._key(import_id, "csv"))
        return self.vault.decrypt(decode(raw), context="import:" + import_id) if raw else None

    def drop_csv(self, import_id: str) -> None:
        self.r.delete(self._key(import_id, "csv"))

    def progress(self, import_id: str, **fields) -> None:
        self.r.hset(self._key(import_id), mapping={k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
                                                   for k, v in fields.items()})

    def get(self, import_id: str) -> dict | None:
        raw = decode_hash(self.r.hgetall(self._key(import_id)))
        if not raw:
            return None
        for name in ("options", "report"):
            if raw.get(name):
                raw[name] = json.loads(raw[name])
        for name in ("read", "stored", "total"):
            raw[name] = int(raw.get(name) or 0)
        return raw
