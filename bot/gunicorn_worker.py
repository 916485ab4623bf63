"""The web server's worker: gunicorn's threaded worker, made to answer every request it was sent
before a shutdown.

On SIGTERM gunicorn stops accepting and finishes the requests in hand, but connections the kernel
had already queued (accepted, waiting for a worker) are reset when the listening socket closes.
Twilio does not retry a reset webhook, so a message would be lost. This worker takes every queued
connection first, closes its listening sockets so that later ones are refused (Twilio retries
those against another dyno), then finishes everything within the graceful timeout.
"""
from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker

MAX_DRAIN = 10_000


class DrainingThreadWorker(ThreadWorker):
    def set_accept_enabled(self, enabled: bool) -> None:
        if not enabled and not self.alive and not getattr(self, "_drained", False):
            self._drained = True
            self._drain()
        super().set_accept_enabled(enabled)

    def _drain(self) -> None:
        for listener in self.sockets:
            for _ in range(MAX_DRAIN):
                before = self.nr_conns
                self.accept(listener)          # non-blocking: returns at once when nothing is queued
                if self.nr_conns == before:
                    break
        for listener in self.sockets:
            listener.close()                   # new connections are refused, not queued and reset
