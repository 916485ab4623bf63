"""Broadcasts: the alert as saved, its status, its delivery figures, and the batches still to run."""
from __future__ import annotations

import json
import time

import redis

from .base import DAY, Noun, UnitOfWork, decode

# KEYS: the set of batches still to run, the broadcast hash. ARGV: this batch's id.
# The last batch to finish (whoever it is, however often it ran) marks the broadcast sent.
_FINISH_BATCH = """
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 and redis.call('HGET', KEYS[2], 'status') == 'sending' then
  redis.call('HSET', KEYS[2], 'status', 'sent')
  return 1
end
return 0
"""


class Broadcasts(Noun):
    def __init__(self, *args):
        super().__init__(*args)
        self._finish = self.r.register_script(_FINISH_BATCH)

    def save(self, data: dict) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("bc", data["id"]), mapping={"data": json.dumps(data, ensure_ascii=False),
                                                            "status": data["status"]})
            pipe.zadd(self.key("bc", "index"), {data["id"]: time.time()})
            pipe.execute()

    def get(self, broadcast_id: str) -> dict | None:
        raw, status = self.r.hmget(self.key("bc", broadcast_id), "data", "status")
        if not raw:
            return None
        data = json.loads(raw)
        data["status"] = decode(status)
        return data

    def freeze_footers(self, uow: UnitOfWork, broadcast_id: str, footers: dict[str, str]) -> None:
        """The alert footer per language as the send starts: every batch ends its texts the same way,
        whatever the content does meanwhile, and no batch has to load the content to know it."""
        uow.pipe.hset(self.key("bc", broadcast_id), "footers", json.dumps(footers, ensure_ascii=False))

    def footers(self, broadcast_id: str) -> dict[str, str] | None:
        raw = self.r.hget(self.key("bc", broadcast_id), "footers")
        return json.loads(raw) if raw is not None else None

    def ids(self, last: int = 20) -> list[str]:
        return [decode(i) for i in self.r.zrevrange(self.key("bc", "index"), 0, last - 1)]

    def set_status(self, broadcast_id: str, status: str, only_from: tuple[str, ...] = ()) -> bool:
        """Change the status; with `only_from`, only from one of those (e.g. never un-cancel)."""
        key = self.key("bc", broadcast_id)
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    current = decode(pipe.hget(key, "status"))
                    if not current or (only_from and current not in only_from):
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(key, "status", status)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def status(self, broadcast_id: str) -> str | None:
        value = self.r.hget(self.key("bc", broadcast_id), "status")
        return decode(value) if value else None

    def bump(self, broadcast_id: str, field_: str, n: int = 1) -> None:
        self.r.hincrby(self.key("bc", broadcast_id, "stats"), field_, n)

    def stats(self, broadcast_id: str) -> dict[str, int]:
        raw = self.r.hgetall(self.key("bc", broadcast_id, "stats"))
        return {decode(k): int(v) for k, v in raw.items()}

    # --- batches ------------------------------------------------------------------------------

    def add_batches(self, uow: UnitOfWork, broadcast_id: str, batch_ids: list[str]) -> None:
        """Batches about to be enqueued (in the same transaction as their jobs)."""
        if batch_ids:
            key = self.key("bc", broadcast_id, "batches")
            uow.pipe.sadd(key, *batch_ids)
            uow.pipe.expire(key, 30 * DAY)

    def finish_batch(self, broadcast_id: str, batch_id: str) -> bool:
        """This batch is done; True when it was the last one (the broadcast is now sent)."""
        return bool(self._finish(keys=[self.key("bc", broadcast_id, "batches"), self.key("bc", broadcast_id)],
                                 args=[batch_id]))
