"""The local journal: what the web processes of one machine must know and keep when Redis is down.

One SQLite database in WAL mode (made for concurrent, durable appends from several processes),
under the instance folder. It holds refs (HMACs) and MessageSids only, never a number or a text:

- `journal`: opt-outs, opt-ins, delete requests and seen MessageSids taken during an outage, replayed
  into Redis in order when it is back, and deleted only once applied (by id: entries added while a
  replay runs are kept for the next one);
- `optouts`: a copy of who opted out (by opt-out token, a pseudonym of the ref), kept fresh from
  Redis while it is up (its opt-out log), so a process that starts during an outage still knows who
  said STOP before it;
- `seen` and `counters`: MessageSids answered and the per-person and hourly limits during an outage,
  shared by every process of the machine.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

FILE = "local.sqlite3"
SEEN_SECONDS = 2 * 86400
SYNC_SECONDS = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
                                    ref TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS optouts (token TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (sid TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

KINDS = ("opt_out", "opt_in", "delete", "seen")


class Journal:
    """The machine's local database; one connection per thread, opened on first use."""

    def __init__(self, instance_dir: Path, token: Callable[[str], str]):
        self.path = Path(instance_dir) / FILE
        self.token = token          # ref -> opt-out token
        self._local = threading.local()
        self._synced = 0.0

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")       # an opt-out taken is on disk before we answer
            db.execute("PRAGMA busy_timeout=10000")
            db.executescript(_SCHEMA)
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- during an outage ----------------------------------------------------------------------

    def record(self, kind: str, ref: str) -> None:
        """Journal an event to replay into Redis, and apply it to the local copy of opt-outs."""
        if kind not in KINDS:
            raise ValueError(kind)
        now = int(time.time())
        db = self._db()
        with _transaction(db):
            db.execute("INSERT INTO journal (kind, ref, at) VALUES (?, ?, ?)", (kind, ref, now))
            self._mirror(db, kind, ref, now)

    def _mirror(self, db, kind: str, ref: str, now: int) -> None:
        if kind == "opt_out":
            db.execute("INSERT OR REPLACE INTO optouts (token, at) VALUES (?, ?)", (self.token(ref), now))
        elif kind in ("opt_in", "delete"):
            db.execute("DELETE FROM optouts WHERE token = ?", (self.token(ref),))

    def first_time(self, message_sid: str) -> bool:
        """True the first time any process of this machine sees this MessageSid during an outage."""
        now = int(time.time())
        db = self._db()
        with _transaction(db):
            inserted = db.execute("INSERT OR IGNORE INTO seen (sid, at) VALUES (?, ?)", (message_sid, now)).rowcount
            if inserted:
                db.execute("INSERT INTO journal (kind, ref, at) VALUES ('seen', ?, ?)", (message_sid, now))
        return bool(inserted)

    def count(self, name: str, ttl: int) -> int:
        """Add one to a counter that starts again after `ttl` seconds; returns the new value."""
        now = int(time.time())
        row = self._db().execute(
            "INSERT INTO counters (name, n, expires) VALUES (?, 1, ?) ON CONFLICT(name) DO UPDATE SET "
            "n = CASE WHEN expires <= ? THEN 1 ELSE n + 1 END, "
            "expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END RETURNING n",
            (name, now + ttl, now, now)).fetchone()
        return int(row[0])

    def is_opted_out(self, ref: str) -> bool:
        return self._db().execute("SELECT 1 FROM optouts WHERE token = ?", (self.token(ref),)).fetchone() is not None

    def note_opt_out(self, ref: str, opted_out: bool) -> None:
        """Apply an opt-out change made in Redis to the local copy at once (not only at the next sync)."""
        self._mirror(self._db(), "opt_out" if opted_out else "opt_in", ref, int(time.time()))

    # --- when Redis is back --------------------------------------------------------------------

    def pending(self) -> bool:
        return self._db().execute("SELECT 1 FROM journal LIMIT 1").fetchone() is not None

    def replay(self, apply: Callable[[list[tuple[str, str]]], None]) -> int:
        """Give every journaled event, in order, to `apply` (which writes them to Redis); delete them
        only if it returns. Several processes may call this at once: one replays, the others wait and
        find nothing. Returns the number of events replayed."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute("SELECT id, kind, ref FROM journal ORDER BY id").fetchall()
            if rows:
                apply([(kind, ref) for _, kind, ref in rows])
                db.execute("DELETE FROM journal WHERE id <= ?", (rows[-1][0],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return len(rows)

    def sync_due(self) -> bool:
        return time.monotonic() - self._synced >= SYNC_SECONDS

    def sync_optouts(self, changes_after: Callable[[str], tuple[list[tuple[str, str, bool]], bool]],
                     log_head: Callable[[], str], everyone: Callable[[], Iterable[str]]) -> int:
        """Bring the local copy of opt-outs up to date from Redis: the log's changes since the last
        sync, or the whole set when the log no longer reaches back that far. Returns rows changed."""
        self._synced = time.monotonic()
        db = self._db()
        row = db.execute("SELECT value FROM meta WHERE name = 'optout_log'").fetchone()
        changes, covered = changes_after(row[0] if row else "")
        now = int(time.time())
        if covered:
            if not changes:
                return 0
            with _transaction(db):
                for _, token, opted_out in changes:
                    if opted_out:
                        db.execute("INSERT OR REPLACE INTO optouts (token, at) VALUES (?, ?)", (token, now))
                    else:
                        db.execute("DELETE FROM optouts WHERE token = ?", (token,))
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('optout_log', ?)", (changes[-1][0],))
            return len(changes)
        head = log_head()           # taken before the copy: changes made during it come again next time
        tokens = list(everyone())
        with _transaction(db):
            db.execute("DELETE FROM optouts")
            db.executemany("INSERT OR REPLACE INTO optouts (token, at) VALUES (?, ?)", ((t, now) for t in tokens))
            # Opt-outs taken during an outage and not replayed yet are not in Redis: keep them.
            for kind, ref in db.execute("SELECT kind, ref FROM journal ORDER BY id").fetchall():
                self._mirror(db, kind, ref, now)
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('optout_log', ?)", (head,))
            db.execute("DELETE FROM seen WHERE at < ?", (now - SEEN_SECONDS,))
            db.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        return len(tokens)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
