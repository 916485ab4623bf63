"""Redis storage, one module per noun; each is the only code that knows its keys.

People are found by an HMAC of their address (`ref`); what must be kept (conversation state, the
address to send to) is encrypted with the Vault. A WhatsApp user id seen beside a person's number is
linked to the number's ref (`links`), so `person()` finds them from either address. Every key sits under one prefix. Writes that belong
together go through one `UnitOfWork` (a MULTI/EXEC): `with store.unit() as uow: ...`.
"""
from __future__ import annotations

import logging

import redis

from ..addresses import WHATSAPP, bare, is_phone, on_channel
from ..privacy import Vault
from .audit import Audit
from .base import DAY, UnitOfWork
from .broadcasts import Broadcasts
from .calls import Calls
from .deliveries import Deliveries
from .handoffs import Handoffs
from .imports import Imports
from .intake import Intake
from .limits import Limits
from .links import Links
from .metrics import Metrics
from .misses import Misses
from .organizers import Organizers
from .outbox import Outbox
from .people import Arrival, People
from .resends import Resends
from .subscribers import Subscribers
from .templates import Templates
from .threads import Threads

__all__ = ["Arrival", "DAY", "Store", "UnitOfWork"]

log = logging.getLogger(__name__)


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
        self.links = Links(*args)
        self.templates = Templates(*args)
        self.resends = Resends(*args)
        # The organizer console (issue 12): accounts, conversation threads, questions not answered.
        self.organizers = Organizers(*args)
        self.threads = Threads(*args)
        self.misses = Misses(*args)
        self.imports = Imports(*args)
        self.people.conversation_key = self.threads.mark_key   # read with each arrival
        self.calls = Calls(*args)
        self.intake = Intake(*args)       # messages the webhook handed to `derechos intake`
        self.people.hold_key = self.intake.hold_key            # a STOP waiting for it silences the person

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

    # --- who is writing ------------------------------------------------------------------------

    def person(self, address: str, alias: str = "") -> str:
        """The ref of the person writing from `address`; `alias` is their other WhatsApp address in
        the same message (a user id beside their number). The first time both come together they
        are linked, so STOP, the language, subscriptions, hand-offs and deletion follow the person
        whichever address they write from next.

        A number's ref is always its person's own ref (no look-up for SMS, nor for WhatsApp from a
        number); an id's ref points to the number it was seen with, if any.
        """
        ref = self.vault.ref(address)
        if not alias:
            return ref if is_phone(address) else (self.links.primary_of(ref) or ref)
        other = self.vault.ref(alias)
        if is_phone(address) == is_phone(alias):      # two numbers or two ids: nothing to tie
            return ref if is_phone(address) else (self.links.primary_of(ref) or ref)
        phone, user_id = (address, alias) if is_phone(address) else (alias, address)
        phone_ref, id_ref = (ref, other) if phone == address else (other, ref)
        previous = self.links.primary_of(id_ref)
        if previous != phone_ref:
            self._link(phone, phone_ref, id_ref, previous)
        return phone_ref

    def _link(self, phone: str, phone_ref: str, id_ref: str, previous: str | None) -> None:
        """Tie a user id to a number; what the id had on its own joins the person."""
        if previous:
            log.warning("a WhatsApp user id seen with another number than before: linked to the new one")
        opted_out = self.people.is_opted_out(id_ref) or self.people.is_opted_out(phone_ref)
        id_state = self.people.load_state(id_ref)
        has_state = bool(self._has(self.key("state", phone_ref)))
        subscribed_id = None if previous else self.subscribers.get(id_ref)
        subscribed_phone = self.subscribers.get(phone_ref)
        with self.unit() as uow:
            self.links.link(uow, id_ref, phone_ref, bare(phone), previous)
            if not has_state and not previous and self._has(self.key("state", id_ref)):
                self.people.save_state(uow, phone_ref, id_state)
            if subscribed_id is not None:
                if subscribed_phone is None and not opted_out:
                    # Alerts the id subscribed to now reach the number (WhatsApp still): SMS is there
                    # for when WhatsApp will not take a template.
                    self.subscribers.subscribe(uow, phone_ref, on_channel(phone, WHATSAPP), WHATSAPP,
                                               subscribed_id.lang, subscribed_id.tags, subscribed_id.source,
                                               consent_at=subscribed_id.consent_at)
                self.subscribers.remove(uow, id_ref)
            if opted_out:   # STOP from either address holds for both, in every copy of the mark
                for ref in (phone_ref, id_ref):
                    self.people.opt_out(uow, ref)
                    self.subscribers.remove(uow, ref)

    def _has(self, key: str) -> bool:
        return bool(self._r.exists(key))

    def address_to_keep(self, ref: str, address: str) -> str:
        """The address to keep for alerts to a person who wrote from `address`: their number on the
        same channel when they wrote from a user id linked to it (so SMS can stand in when WhatsApp
        will not take an alert), else `address` itself."""
        if is_phone(address):
            return address
        phone = self.links.phone_of(ref)
        return on_channel(phone, WHATSAPP) if phone else address

    def refs_of(self, ref: str) -> list[str]:
        """Every ref of the person `ref` belongs to (their own first, then linked user ids)."""
        return self.links.refs_of(ref)

    # --- what spans nouns ------------------------------------------------------------------------

    def opt_out(self, uow: UnitOfWork, ref: str) -> None:
        """STOP, on every path: the mark that no message may pass, and out of every audience, for
        every address of the person (a linked user id too)."""
        for each in self.refs_of(ref):
            self.people.opt_out(uow, each)
            self.subscribers.remove(uow, each)

    def opt_in(self, uow: UnitOfWork, ref: str) -> None:
        """START: the person's own word lifts the mark on every address of theirs."""
        for each in self.refs_of(ref):
            self.people.opt_in(uow, each)

    def opt_out_now(self, ref: str) -> None:
        with self.unit() as uow:
            self.opt_out(uow, ref)

    def forget(self, ref: str) -> None:
        """Delete everything stored about one person, every address of theirs and the links between
        them, in one transaction."""
        refs = self.refs_of(ref)
        handoff_ids = {r: self.handoffs.ids_of(r) for r in refs}
        sids = {r: self.deliveries.sids_of(r) for r in refs}
        call_sids = {r: self.calls.sids_of(r) for r in refs}
        with self.unit() as uow:
            for each in refs:
                self.people.forget(uow, each)
                self.subscribers.remove(uow, each)
                self.deliveries.forget(uow, each, sids[each])
                self.resends.forget(uow, sids[each])
                self.handoffs.forget(uow, each, handoff_ids[each])
                self.threads.forget(uow, each, handoff_ids[each])
                self.calls.forget(uow, each, call_sids[each])
            self.links.forget(uow, refs)
