"""Redis storage, one module per noun; each is the only code that knows its keys.

People are found by an HMAC of their address (`ref`); what must be kept (conversation state, the
address to send to) is encrypted with the Vault. Every key sits under one prefix. Writes that belong
together go through one `UnitOfWork` (a MULTI/EXEC): `with store.unit() as uow: ...`.
"""
from __future__ import annotations

import redis

from ..privacy import Vault
from .audit import Audit
from .base import DAY, UnitOfWork
from .broadcasts import Broadcasts
from .calls import Calls
from .deliveries import Deliveries
from .handoffs import Handoffs
from .limits import Limits
from .metrics import Metrics
from .outbox import Outbox
from .people import Arrival, People
from .subscribers import Subscribers

__all__ = ["Arrival", "DAY", "Store", "UnitOfWork"]


class Store:
    """The nouns over one connection, and what spans them (forgetting a person, opting out)."""

    def __init__(self, connection: redis.Redis, vault: Vault, prefix: str = "derechos", state_ttl_days: int = 30):
        self._r = connection
        self.vault = vault
        self.prefix = prefix
        args = (connection, vault, prefix, state_ttl_days * DAY)
        self.people = People(*args)
        self.subscribers = Subscribers(*args)
        self.deliveries = Deliveries(*args)
        self.broadcasts = Broadcasts(*args)
        self.handoffs = Handoffs(*args)
        self.limits = Limits(*args)
        self.metrics = Metrics(*args)
        self.outbox = Outbox(*args)
        self.audit = Audit(*args)
        self.calls = Calls(*args)

    def unit(self) -> UnitOfWork:
        """A transaction: commands queue on it and run together when the `with` block ends."""
        return UnitOfWork(self._r)

    def key(self, *parts: str) -> str:
        """A key's name (for tests and tools that look at Redis itself)."""
        return ":".join((self.prefix, *parts))

    def ref(self, address: str) -> str:
        return self.vault.ref(address)

    def ping(self) -> bool:
        return bool(self._r.ping())

    # --- what spans nouns ------------------------------------------------------------------------

    def opt_out(self, uow: UnitOfWork, ref: str) -> None:
        """STOP, on every path: the mark that no message may pass, and out of every audience."""
        self.people.opt_out(uow, ref)
        self.subscribers.remove(uow, ref)

    def opt_out_now(self, ref: str) -> None:
        with self.unit() as uow:
            self.opt_out(uow, ref)

    def forget(self, ref: str) -> None:
        """Delete everything stored about one person, in one transaction."""
        handoff_ids = self.handoffs.ids_of(ref)
        sids = self.deliveries.sids_of(ref)
        call_sids = self.calls.sids_of(ref)
        with self.unit() as uow:
            self.people.forget(uow, ref)
            self.subscribers.remove(uow, ref)
            self.deliveries.forget(uow, ref, sids)
            self.handoffs.forget(uow, ref, handoff_ids)
            self.calls.forget(uow, ref, call_sids)
