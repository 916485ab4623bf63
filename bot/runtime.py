"""Wiring shared by the web app, the worker and the CLI: connections built lazily from a Config,
and the live content (catalog and matcher) reloaded when an editor saves a file."""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import redis

from .catalog import Catalog, load_catalog, tree_fingerprint
from .config import Config
from .embedded import EmbeddedRedis
from .errors import ContentError
from .heap import refreeze_heap
from .matcher import Matcher
from .privacy import Vault, install_log_redaction, load_or_create_dev_key
from .store import Store
from .store.journal import Journal

log = logging.getLogger(__name__)


def configure_logging(level: str | None = None) -> None:
    """One handler on the root logger, with phone numbers redacted from every record."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO").upper())
    install_log_redaction(root)


@dataclass
class Content:
    """One loaded catalog and the matcher built from it."""

    catalog: Catalog
    matcher: Matcher


class LiveContent:
    """The current content; checks the tree for edits at most every `interval` seconds.

    A broken edit is refused and logged with file and line; the last good content stays live. When
    an edit changes what the intent model learns from (examples, keywords, command words), the model
    trains in the background, in its own process, while the last good content (and its model)
    stays live; the first load waits for it (or takes it from the cache).
    """

    def __init__(self, root: Path, settings: dict[str, str] | None = None, interval: float = 2.0,
                 train: bool = True):
        self.root = Path(root)
        self.settings = settings or {}
        self.interval = interval
        self.train = train
        self._lock = threading.Lock()
        self._fingerprint = tree_fingerprint(self.root)
        self._current = self._first_load()
        self._checked = time.monotonic()
        self._training: threading.Thread | None = None
        self.last_error: ContentError | None = None
        self.last_error_at: float | None = None
        self.model_error: str | None = None

    def _first_load(self) -> Content:
        """The content as the tree is now; the first load must succeed: raise if broken."""
        catalog = load_catalog(self.root, self.settings)
        return Content(catalog, Matcher(catalog, self._model_for(catalog)))

    def _model_for(self, catalog):
        if not self.train:
            return None
        from . import intents
        return intents.load_or_train(self.root, catalog, self.settings)

    def get(self) -> Content:
        if time.monotonic() - self._checked >= self.interval:
            self.reload_if_changed()
        return self._current

    def refused_summary(self) -> dict | None:
        """The last edit refused (and still not fixed): when, and its first problems with file and line."""
        if self.last_error is None:
            return None
        problems = self.last_error.problems
        return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last_error_at or 0)),
                "problems": [str(p) for p in problems[:10]], "count": len(problems),
                "problems_es": [p.text("es") if hasattr(p, "text") else str(p) for p in problems[:10]]}

    def reload_if_changed(self) -> bool:
        """Reload when files changed; True if new content went live now (False: unchanged, refused,
        or waiting for its model to train)."""
        with self._lock:
            self._checked = time.monotonic()
            fingerprint = tree_fingerprint(self.root)
            if fingerprint == self._fingerprint:
                return False
            self._fingerprint = fingerprint
            try:
                catalog = load_catalog(self.root, self.settings)
            except ContentError as exc:
                self.last_error, self.last_error_at = exc, time.time()
                log.error("content edit refused, keeping the last good content:\n  %s",
                          "\n  ".join(str(p) for p in exc.problems))
                return False
            self.last_error = None
            from . import intents
            old = self._current.matcher.model
            if not self.train or not intents.has_examples(catalog):
                return self._go_live(catalog, None)
            if old is not None and old.fingerprint == intents.fingerprint(catalog):
                return self._go_live(catalog, old)
            if intents.cached_path(intents.fingerprint(catalog)).exists():
                return self._go_live(catalog, self._model_for(catalog))
            self._training = threading.Thread(target=self._train_then_go_live, args=(catalog, fingerprint),
                                              name="train-intents", daemon=True)
            self._training.start()
            log.info("content changed what the bot learns from: training; the last good content stays live")
            return False

    def _go_live(self, catalog, model) -> bool:
        self._current = Content(catalog, Matcher(catalog, model))
        log.info("content reloaded (%s)", catalog.version)
        refreeze_heap()
        return True

    def _train_then_go_live(self, catalog, fingerprint: str) -> None:
        try:
            model = self._model_for(catalog)
        except Exception as exc:  # noqa: BLE001 - a failed training keeps the last good content
            self.model_error = str(exc)
            log.error("training the intent model failed, keeping the last good content: %s", exc)
            return
        with self._lock:
            if self._fingerprint == fingerprint:       # not superseded by a newer edit meanwhile
                self.model_error = None
                self._go_live(catalog, model)

    def wait_for_training(self, timeout: float = 120.0) -> None:
        """For tests and tools: return once a background training (if any) has finished."""
        thread = self._training
        if thread is not None:
            thread.join(timeout)


class Runtime:
    """The one composition root: lazily built resources for one process (web, worker, CLI);
    nothing connects until it is first used."""

    REDIS_RETRY_SECONDS = 1.0     # after a Redis timeout, answer from the journal this long before trying again

    def __init__(self, config: Config, connection: redis.Redis | None = None):
        self.config = config
        self._connection = connection
        self.embedded: EmbeddedRedis | None = None
        self._redis_down_until = 0.0
        self.degraded_since: float | None = None
        self.degraded_count = 0
        self.replayer: threading.Thread | None = None     # replays the journal when Redis is back
        self.replayer_lock = threading.Lock()
        self.closing = threading.Event()
        self._intake_alive = (0.0, False)   # (until when it is trusted, whether a consumer is alive)

    def close(self) -> None:
        """Stop background work (the journal replayer) and close the local journal."""
        self.closing.set()
        if self.replayer is not None:
            self.replayer.join(timeout=5)
        if "journal" in self.__dict__:
            self.journal.close()

    @classmethod
    def for_job(cls, connection: redis.Redis | None) -> "Runtime":
        """The context of one RQ job: configuration from the environment, the job's connection."""
        return cls(Config.from_env(), connection=connection)

    @cached_property
    def redis(self) -> redis.Redis:
        if self._connection is not None:
            return self._connection
        url = self.config.redis_url
        if url is None:
            self.embedded = EmbeddedRedis(self.config.instance_dir)
            url = self.embedded.ensure()
        return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)

    @cached_property
    def vault(self) -> Vault:
        key = self.config.data_key or load_or_create_dev_key(self.config.instance_dir)
        return Vault(key)

    @cached_property
    def store(self) -> Store:
        return Store(self.redis, self.vault, self.config.redis_prefix, self.config.state_ttl_days)

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.config.instance_dir, token=lambda ref: self.vault.pseudonym(ref, "optout"))

    @cached_property
    def sender(self):
        """The Twilio REST sender, or the dry-run outbox without credentials."""
        if self.config.dry_run:
            from .delivery import DryRunSender
            return DryRunSender(self.store)
        from .twilio_gateway import TwilioSender
        return TwilioSender(self.config)

    # --- Redis away ----------------------------------------------------------------------------

    def redis_down(self) -> bool:
        return time.monotonic() < self._redis_down_until

    def note_redis_down(self, exc: Exception) -> None:
        if self.degraded_since is None:
            log.error("Redis unavailable (%s: %s): answering from the local journal (degraded mode)",
                      type(exc).__name__, exc)
            self.degraded_since = time.time()
        # A refused connection fails at once: try again on the next message. A Redis that hangs
        # costs a timeout each time: stop trying for a moment.
        if isinstance(exc, redis.TimeoutError):
            self._redis_down_until = time.monotonic() + self.REDIS_RETRY_SECONDS

    def note_redis_up(self) -> None:
        if self.degraded_since is not None:
            log.warning("Redis is back after %.0f s", time.time() - self.degraded_since)
        self.degraded_since = None

    def intake_alive(self) -> bool:
        """Whether an intake consumer said it is alive; asked of Redis at most once a second."""
        until, alive = self._intake_alive
        now = time.monotonic()
        if now >= until:
            try:
                alive = self.store.intake.alive()
            except redis.RedisError as exc:
                self.note_redis_down(exc)
                alive = False          # the web answers by itself: degraded mode, inline
            self._intake_alive = (now + 1.0, alive)
        return alive

    def count_degraded(self) -> None:
        self.degraded_count += 1

    @cached_property
    def content(self) -> LiveContent:
        return LiveContent(self.config.content_dir, self.config.settings, self.config.content_reload_seconds)

    def queue(self, name: str = "replies"):
        """One Queue object per name for the life of the process."""
        queues = self.__dict__.setdefault("_queues", {})
        if name not in queues:
            from .jobs import make_queue
            queues[name] = make_queue(name, self.redis)
        return queues[name]

    def describe_defaults(self) -> list[str]:
        """Which development defaults are in use, for one log line at start-up."""
        notes = []
        if self.config.redis_url is None:
            notes.append(f"embedded Redis in {self.config.instance_dir / 'redis'}")
        if self.config.dry_run:
            notes.append("dry-run sender (replies go to the outbox: `derechos outbox`)")
        if self.config.data_key is None:
            notes.append("development DATA_KEY in the instance folder")
        if self.config.admin_token is None:
            notes.append("organizer API disabled (no ADMIN_TOKEN)")
        return notes
