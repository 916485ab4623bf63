"""Answer Twilio first, think after: the webhook hands messages to an intake consumer.

The webhook's own work is then the signature, the parsing and one Redis write, so it keeps up with a
burst (Twilio gives up on a webhook after 15 s); `derechos intake` reads the messages in the order
they came and runs the same `inbound.receive` on them, with the same rules and the same transaction.

The webhook hands a message over only when doing so cannot change what happens:
- a STOP or delete request (as exact command words) is handed over too, in order, but with a hold on
  the person in the same transaction: from the webhook's 200 on, nothing but a carrier word's answer
  reaches them (an alert sent meanwhile is skipped, as for anyone opted out), and what they sent
  before it is not answered; the consumer carries the request out and sends its one confirmation,
  then releases the hold;
- no consumer has said it is alive in the last few seconds: the web answers by itself, as it always
  did (a deployment without the `intake` process loses nothing);
- Redis is down: degraded mode, inline, as before.
An entry holds the message sealed with the Vault; it is deleted once handled. A consumer that dies
with entries in hand leaves them to the next one after IDLE_S seconds; a message whose handling
fails MAX_DELIVERIES times is dropped with a count and a log line (its id, never its words), and a
STOP or delete request dropped so is still carried out, without its confirmation.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time

import redis

from .inbound import Receipt, keep_journal, receive, receive_with_redis
from .messages import InboundMessage

log = logging.getLogger(__name__)

BEAT_TTL_S = 5          # a consumer says it is alive every second; the web trusts it this long
IDLE_S = 15.0           # an entry in a consumer's hands this long is taken over by another
MAX_DELIVERIES = 4      # then it is dropped: a message that breaks the handler every time
FORGET_CONSUMERS_S = 3600   # a consumer name unseen this long, holding nothing, leaves the group
# Requests that hold the person from the webhook's answer on, until the consumer carried them out:
# after STOP's 200 no alert may reach them, nor after a delete request's. (HELP and START need no
# hold: they are answered, and their limits applied, by the consumer like any message.)
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
    if not runtime.redis_down() and runtime.intake_alive():
        try:
            keep_journal(runtime)
            later = _hand_over(runtime, inbound)
        except redis.RedisError as exc:
            runtime.note_redis_down(exc)       # handled here, below: degraded mode answers it inline
        else:
            if runtime.degraded_since is not None:
                runtime.note_redis_up()
            return Receipt(later=later)        # nothing known yet: the consumer answers
    return receive(runtime, inbound)


def _hand_over(runtime, inbound: InboundMessage) -> tuple:
    """One Redis round trip, whatever the message (a request waits on each under load)."""
    store, sealed = runtime.store, seal(runtime.vault, inbound)
    command = runtime.content.get().matcher.command_of(inbound.body)
    if command not in AT_ONCE:
        store.intake.push(sealed)
        return ()
    ref = store.person(inbound.sender, inbound.alias)
    store.intake.push_held(sealed, command, ref)
    if command != "stop":
        return ()
    return (lambda: _note_stop(runtime, ref),)


def _note_stop(runtime, ref: str) -> None:
    """Once the answer is sent: this machine's copy of who opted out knows it too, should Redis go
    away before the consumer carries it out (the opt-out log brings the consumer's outcome later)."""
    try:
        runtime.journal.note_opt_out(ref, True)
    except sqlite3.Error as exc:
        log.warning("intake: the local copy of opt-outs could not note a STOP (%s); the next sync will",
                    type(exc).__name__)


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
                    self._carry_out_held(entry)
                    done.append(entry.id)
                    continue
                try:
                    inbound = unseal(self.runtime.vault, entry.sealed)
                except (ValueError, TypeError):
                    log.error("intake: entry %s cannot be read (another DATA_KEY?): dropped", entry.id)
                    self._carry_out_held(entry)
                    done.append(entry.id)
                    continue
                try:
                    receive_with_redis(self.runtime, inbound)
                except redis.RedisError:
                    raise
                except Exception:
                    # A bug: its MessageSid was released; left pending, it is tried again later.
                    log.exception("intake: handling message %s failed; it will be tried again", entry.id)
                    continue
                # At once, not with the batch: the person's next message in this batch (a START,
                # a question after it) is no longer held.
                self.intake.release(entry)
                done.append(entry.id)
        finally:
            if done:
                self.intake.done(done)
        return len(done)

    def _carry_out_held(self, entry) -> None:
        """A STOP or delete request that cannot be handled is still carried out (without its
        confirmation: the message itself cannot be read or answered), then its hold released."""
        if not entry.holds:
            return
        store = self.runtime.store
        if entry.command == "delete":
            store.forget(entry.holds[0])
            self.runtime.journal.note_opt_out(entry.holds[0], False)
        else:
            store.opt_out_now(entry.holds[0])
            self.runtime.journal.note_opt_out(entry.holds[0], True)
        self.intake.release(entry)
        log.warning("intake: the %s request in message %s was carried out without a confirmation",
                    entry.command, entry.id)


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
