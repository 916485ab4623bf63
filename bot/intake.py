"""Answer Twilio first, think after: the webhook hands messages to an intake consumer.

The webhook's own work is then the signature, the parsing and one Redis write, so it keeps up with a
burst (Twilio gives up on a webhook after 15 s); `derechos intake` reads the messages in the order
they came and runs the same `inbound.receive` on them, with the same rules and the same transaction.

The webhook hands a message over only when doing so cannot change what happens:
- STOP and delete requests (as exact command words) are still carried out before the webhook
  answers: an alert sent after a STOP's 200 must find the person opted out;
- no consumer has said it is alive in the last few seconds: the web answers by itself, as it always
  did (a deployment without the `intake` process loses nothing);
- Redis is down: degraded mode, inline, as before.
An entry holds the message sealed with the Vault; it is deleted once handled. A consumer that dies
with entries in hand leaves them to the next one after IDLE_S seconds; a message whose handling
fails MAX_DELIVERIES times is dropped with a count and a log line (its id, never its words).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

import redis

from .inbound import Receipt, _receive, keep_journal, receive
from .messages import InboundMessage

log = logging.getLogger(__name__)

BEAT_TTL_S = 5          # a consumer says it is alive every second; the web trusts it this long
IDLE_S = 15.0           # an entry in a consumer's hands this long is taken over by another
MAX_DELIVERIES = 4      # then it is dropped: a message that breaks the handler every time
FORGET_CONSUMERS_S = 3600   # a consumer name unseen this long, holding nothing, leaves the group
# Carried out by the webhook before it answers, whoever is alive: after STOP's 200 no alert may find
# the person still subscribed, nor after a delete request's. (HELP and START gain nothing by it:
# they are answered, and their limits applied, by the consumer like any message.)
AT_ONCE = frozenset({"stop", "delete"})
_CONTEXT = "intake"


def seal(vault, inbound: InboundMessage) -> bytes:
    # vars(): the fields as they are (dataclasses.asdict copies each deeply, 4x the time)
    return vault.seal(json.dumps(vars(inbound), ensure_ascii=False, separators=(",", ":")), _CONTEXT)


def unseal(vault, sealed: bytes) -> InboundMessage:
    data = json.loads(vault.open(sealed, _CONTEXT))
    data["media"] = tuple(tuple(m) for m in data.get("media", ()))
    return InboundMessage(**data)


def accept(runtime, inbound: InboundMessage) -> Receipt:
    """The webhook's use case: hand the message to the intake consumer, or handle it here."""
    if not runtime.redis_down() and runtime.intake_alive() and not _at_once(runtime, inbound):
        try:
            keep_journal(runtime)
            runtime.store.intake.push(seal(runtime.vault, inbound), runtime.vault.ref(inbound.sender))
        except redis.RedisError as exc:
            runtime.note_redis_down(exc)       # handled here, below: degraded mode answers it inline
        else:
            if runtime.degraded_since is not None:
                runtime.note_redis_up()
            return Receipt()                   # nothing known yet: the consumer answers
    receipt = receive(runtime, inbound)
    if receipt.intent == "delete" and not receipt.degraded:
        _drop_waiting(runtime, inbound)
    return receipt


def _drop_waiting(runtime, inbound: InboundMessage) -> None:
    """A delete request carried out here: what the person sent before it and still waits for the
    consumer is dropped, so that it is neither answered nor stored again after the delete."""
    refs = {runtime.vault.ref(address) for address in (inbound.sender, inbound.alias) if address}
    try:
        dropped = runtime.store.intake.drop_person(refs)
    except redis.RedisError:
        log.warning("intake: could not look for messages waiting from a person who asked to be deleted")
        return
    if dropped:
        log.info("intake: %d waiting message(s) of a person who asked to be deleted dropped", dropped)


def _at_once(runtime, inbound: InboundMessage) -> bool:
    return runtime.content.get().matcher.command_of(inbound.body) in AT_ONCE


class Consumer:
    """Reads the intake stream and handles each message with `inbound.receive`'s rules."""

    def __init__(self, runtime, name: str | None = None, batch: int = 20, idle_s: float = IDLE_S,
                 max_deliveries: int = MAX_DELIVERIES):
        self.runtime = runtime
        self.intake = runtime.store.intake
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
        self.batch = batch
        self.idle_s = idle_s
        self.max_deliveries = max_deliveries
        self._next_beat = 0.0
        self._next_reclaim = 0.0

    def run(self, stop: threading.Event, block_ms: int = 1000) -> None:
        """Until `stop` is set; a Redis outage is waited out (the entries stay in the stream)."""
        ready = False
        while not stop.is_set():
            try:
                if not ready:
                    self.intake.ensure_group()
                    ready = True
                self.step(block_ms)
            except redis.RedisError as exc:
                log.error("intake: Redis unavailable (%s); trying again in 1 s", type(exc).__name__)
                ready = False          # the group again too: a Redis that lost its data has none
                stop.wait(1.0)
        try:
            self.intake.stand_down()
            self.intake.leave(self.name)
        except redis.RedisError:
            pass

    def step(self, block_ms: int = 0) -> int:
        """Say we are alive, take over stale entries now and then, read and handle new ones."""
        now = time.monotonic()
        if now >= self._next_beat:
            self.intake.beat(BEAT_TTL_S)
            self._next_beat = now + 1.0
        count = 0
        if now >= self._next_reclaim:
            self._next_reclaim = now + self.idle_s / 3
            count += self.handle(self.intake.stale(self.name, self.idle_s))
            self.intake.prune(FORGET_CONSUMERS_S)
        block = block_ms if block_ms > 0 else None
        return count + self.handle(self.intake.read(self.name, self.batch, block))

    def handle(self, entries) -> int:
        done: list[str] = []
        try:
            for entry in entries:
                if entry.deliveries > self.max_deliveries:
                    log.error("intake: dropped message %s after %d failed tries", entry.id, entry.deliveries - 1)
                    self.runtime.store.metrics.count("intake_dropped")
                    done.append(entry.id)
                    continue
                try:
                    inbound = unseal(self.runtime.vault, entry.sealed)
                except (ValueError, TypeError):
                    log.error("intake: entry %s cannot be read (another DATA_KEY?): dropped", entry.id)
                    done.append(entry.id)
                    continue
                try:
                    _receive(self.runtime, inbound)
                except redis.RedisError:
                    raise
                except Exception:
                    # A bug: its MessageSid was released; left pending, it is tried again later.
                    log.exception("intake: handling message %s failed; it will be tried again", entry.id)
                    continue
                done.append(entry.id)
        finally:
            if done:
                self.intake.done(done)
        return len(done)


def drain(runtime, limit: int = 10_000) -> int:
    """Handle everything waiting now, in this thread (`derechos intake --burst`, tests)."""
    consumer = Consumer(runtime, name="drain")
    consumer.intake.ensure_group()
    total = 0
    while total < limit:
        n = consumer.handle(consumer.intake.read(consumer.name, consumer.batch, None))
        if n == 0:
            break
        total += n
    return total
