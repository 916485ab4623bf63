"""A TCP gate in front of the test Redis: `down()` cuts every connection and refuses new ones (as a
Redis that died or a network that split), `up()` lets them through again. The Redis behind it keeps
its data, as a real outage would."""
from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit


class RedisGate:
    def __init__(self, redis_url: str):
        parts = urlsplit(redis_url)
        if parts.scheme == "unix":
            self._target = ("unix", parts.path)
        else:
            self._target = ("tcp", (parts.hostname or "127.0.0.1", parts.port or 6379))
        self._db = (parts.path.strip("/") or "0") if parts.scheme != "unix" else (
            dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("db", "0"))
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._server: socket.socket | None = None
        self.port = self._free_port()
        self.up()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self._db}"

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def up(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", self.port))
            server.listen(64)
            self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        with self._lock:
            server, self._server = self._server, None
            pairs, self._pairs = self._pairs, []
        if server is not None:
            try:
                server.shutdown(socket.SHUT_RDWR)    # wakes the thread blocked in accept()
            except OSError:
                pass
            server.close()
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.down()

    def _connect(self) -> socket.socket:
        kind, address = self._target
        s = socket.socket(socket.AF_UNIX if kind == "unix" else socket.AF_INET)
        s.connect(address)
        return s

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = self._connect()
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._server is not server:
                    client.close()
                    upstream.close()
                    return
                self._pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
