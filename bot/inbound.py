"""The inbound use case: one message from a person, from parsed webhook to stored outcome.

`receive(runtime, inbound)` is the only path, whether Redis answers or not:
1. de-duplicate the MessageSid (released again if a bug stops the message before its outcome is
   stored, so that a retry is answered);
2. understand it and apply the conversation rules (STOP, HELP, START and delete are carried out
   whatever the limits: limits only hold back answers);
3. store the outcome and queue the replies in one transaction.
When Redis is down, the same rules run against the machine's local journal (who opted out, which
MessageSids were answered, the limits), the answer goes back inline in the TwiML, and opt-outs and
delete requests are journaled and replayed into Redis when it is back.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import redis

from . import conversation, conversations, sms
from .conversation import Event, Outcome, State
from .delivery import reply_payload
from .jobs import REPLIES, enqueue_handoff_notice, enqueue_replies
from .messages import WHATSAPP, InboundMessage, Reply

log = logging.getLogger(__name__)

# Answers that are carried out and sent whatever the limits: the STOP confirmation (once), and the
# confirmation of a delete request.
ESSENTIAL = frozenset({"stop", "delete"})
# Answers that answer the carrier keywords themselves: never counted against the hourly ceiling.
CARRIER = frozenset({"stop", "help", "start", "delete"})


@dataclass(frozen=True)
class Receipt:
    """What the webhook answers: texts to send inline (only when Redis is down), and why nothing
    was answered when nothing was."""

    inline: tuple[str, ...] = ()
    held: str | None = None   # duplicate | rate_limited | reply_ceiling | opted_out | conversation | stopping
    degraded: bool = False
    intent: str = ""
    later: tuple[Callable[[], None], ...] = ()    # to do once the answer is sent


def reply_kind(outcome: Outcome) -> str:
    intent = outcome.match.intent
    return intent if intent in CARRIER else "reply"


def receive(runtime, inbound: InboundMessage) -> Receipt:
    """Handle one inbound message; never raises for Redis being away."""
    if runtime.redis_down():
        return _receive_degraded(runtime, inbound)
    try:
        return receive_with_redis(runtime, inbound)
    except redis.RedisError as exc:
        runtime.note_redis_down(exc)
        return _receive_degraded(runtime, inbound)


def keep_journal(runtime) -> None:
    """While Redis answers: replay what was journaled during an outage, and keep this machine's copy
    of who opted out fresh, so that degraded mode knows it if Redis goes away."""
    journal = runtime.journal
    if journal.pending():
        replay_journal(runtime)
    if journal.sync_due():
        people = runtime.store.people
        journal.sync_optouts(people.optout_changes, people.optout_log_head, people.opted_out_tokens)


def receive_with_redis(runtime, inbound: InboundMessage) -> Receipt:
    """`receive` with Redis up; raises RedisError instead of falling back (the intake consumer keeps
    the message and tries again; the web falls back to degraded mode)."""
    store, config, journal = runtime.store, runtime.config, runtime.journal
    keep_journal(runtime)
    ref = store.person(inbound.sender, inbound.alias)   # a user id with a number: one person
    arrival = store.people.arrive(inbound.message_sid, ref)
    if not arrival.first:
        return Receipt(held="duplicate")           # Twilio delivered it again: answered already
    try:
        content = runtime.content.get()
        outcome = conversation.handle(inbound, arrival.state, content.catalog, content.matcher)
        kind = reply_kind(outcome)
        if arrival.stopping and kind not in CARRIER:
            # Sent before a STOP or delete request that waits for the intake consumer: not answered
            # after it, nor kept (the person's last word, carried out next, is to stop or be forgotten).
            return Receipt(held="stopping", intent=outcome.match.intent)
        if arrival.conversation and kind not in CARRIER:     # an organizer answers them, not the bot
            conversations.take_message(runtime, ref, inbound, arrival.conversation)
            return Receipt(held="conversation", intent=outcome.match.intent)
        limited = arrival.count_this_minute > config.inbound_per_minute
        replies = outcome.replies if (not limited or kind in ESSENTIAL) else ()
        payloads = [reply_payload(runtime, ref, inbound.sender, inbound.channel, r, outcome.state.lang, kind)
                    for r in replies]
    except Exception as exc:
        if not isinstance(exc, redis.RedisError):   # a bug, not an outage: the outcome is not stored,
            store.people.release(inbound.message_sid)   # so Twilio's retry of it is answered, not dropped
        raise
    forget = any(e.kind == "delete" for e in outcome.events)
    with store.unit() as uow:
        if not forget:
            store.people.save_state(uow, ref, outcome.state)
        if inbound.channel == WHATSAPP:
            store.people.touch_window(uow, ref)
        for event in outcome.events:
            _apply(runtime, uow, ref, inbound, event)
        enqueue_replies(runtime.queue(REPLIES), payloads, uow)
        _count(store, uow, outcome, limited)
        if arrival.conversation:      # STOP, HELP, START, delete acted first: the thread says so
            conversations.note_carrier(store, uow, arrival.conversation, ref, kind)
        if not arrival.state.awaiting_region:    # a town's name is no question
            store.misses.note(uow, inbound.body, outcome.match, config.misses_days, config.misses_low_score)
    if forget:   # after the confirmation is queued: it carries only the encrypted address
        store.forget(ref)
        journal.note_opt_out(ref, False)
        store.metrics.count("deleted")
    if runtime.degraded_since is not None:
        runtime.note_redis_up()
    held = None
    if outcome.replies and not replies:
        held = "rate_limited"
    elif not outcome.replies and arrival.state.opted_out:
        held = "opted_out"
    return Receipt(held=held, intent=outcome.match.intent)


def _apply(runtime, uow, ref: str, inbound: InboundMessage, event: Event) -> None:
    store, journal = runtime.store, runtime.journal
    if event.kind == "opt_out":
        store.opt_out(uow, ref)
        uow.after(lambda: journal.note_opt_out(ref, True))
    elif event.kind == "opt_in":
        store.opt_in(uow, ref)
        tags = [t for t in (event.tag or "").lower().replace(",", " ").split() if t.isalnum()][:3]
        store.subscribers.subscribe(uow, ref, store.address_to_keep(ref, inbound.sender), inbound.channel,
                                    event.lang, tags, source="keyword")
        uow.after(lambda: journal.note_opt_out(ref, False))
    elif event.kind == "language":
        store.subscribers.set_lang(uow, ref, event.lang)
    elif event.kind in ("handoff", "interpreter"):
        handoff_id = store.handoffs.open(uow, ref, inbound.sender, event.kind, event.lang, event.topic,
                                         region=event.region)
        store.metrics.count(event.kind, uow=uow)
        config = runtime.config
        if config.handoff_webhook_url or config.handoff_notify_to:
            enqueue_handoff_notice(runtime.queue(REPLIES), handoff_id, event, uow)


def _count(store, uow, outcome: Outcome, limited: bool) -> None:
    """Counts for the organizers' figures: what came in, what it was about (no text, no person)."""
    intent = outcome.match.intent
    store.metrics.count("inbound", uow=uow)
    store.metrics.count(f"intent:{intent}:{outcome.state.lang}", uow=uow)
    if intent == "stop" and outcome.events:
        store.metrics.count("opt_out", uow=uow)
    if limited:
        store.metrics.count("rate_limited", uow=uow)


# --- Redis away ----------------------------------------------------------------------------------

def _receive_degraded(runtime, inbound: InboundMessage) -> Receipt:
    """Answer inline from the local journal: opt-outs known, MessageSids once, limits applied."""
    journal, config = runtime.journal, runtime.config
    runtime.count_degraded()
    start_replayer(runtime)
    if not journal.first_time(inbound.message_sid):
        return Receipt(held="duplicate", degraded=True)
    ref = runtime.vault.ref(inbound.sender)
    content = runtime.content.get()
    state = State(opted_out=journal.is_opted_out(ref))
    outcome = conversation.handle(inbound, state, content.catalog, content.matcher)
    for event in outcome.events:
        if event.kind in ("opt_out", "opt_in", "delete"):
            # STOP and delete requests cannot wait for Redis: on disk now, replayed when it is back.
            journal.record(event.kind, ref)
    kind = reply_kind(outcome)
    minute, hour = int(time.time() // 60), int(time.time() // 3600)
    limited = journal.count(f"rate:{ref}:{minute}", 120) > config.inbound_per_minute
    texts = []
    held = None
    for reply in outcome.replies:
        if limited and kind not in ESSENTIAL:
            held = "rate_limited"
            continue
        if kind not in CARRIER and journal.count(f"replies:{hour}", 7200) > config.replies_per_hour:
            held = "reply_ceiling"
            continue
        texts.append(_inline_text(reply, inbound.channel, config.sms_fold))
    if not outcome.replies and state.opted_out:
        held = "opted_out"
    return Receipt(inline=tuple(texts), held=held, degraded=True, intent=outcome.match.intent)


def _inline_text(reply: Reply, channel: str, fold: bool) -> str:
    return sms.render(reply.body, channel, fold)[:sms.TWILIO_BODY_LIMIT]


def start_replayer(runtime) -> None:
    """Replay the journal as soon as Redis answers again, not only at the next message: replies
    queued before the outage must not reach someone whose STOP is still in the journal."""
    with runtime.replayer_lock:
        if runtime.replayer is not None and runtime.replayer.is_alive():
            return
        runtime.replayer = threading.Thread(target=_replay_when_back, args=(runtime,), name="journal-replay",
                                            daemon=True)
        runtime.replayer.start()


def _replay_when_back(runtime, every: float = 0.5, give_up_after: float = 3600.0) -> None:
    deadline = time.monotonic() + give_up_after
    while time.monotonic() < deadline and not runtime.closing.is_set() and runtime.journal.pending():
        try:
            runtime.store.ping()
            replay_journal(runtime)
            runtime.note_redis_up()
        except redis.RedisError:
            runtime.closing.wait(every)


def replay_journal(runtime) -> int:
    """Carry out, in order, what was journaled while Redis was down (refs only, never numbers)."""
    store = runtime.store

    def apply(events: list[tuple[str, str]]) -> None:
        for kind, ref in events:      # one at a time, in order: STOP after a delete request must stand
            if kind == "delete":
                store.forget(ref)
                continue
            with store.unit() as uow:
                if kind == "opt_out":
                    store.opt_out(uow, ref)
                elif kind == "opt_in":
                    store.opt_in(uow, ref)
                elif kind == "seen":
                    store.people.mark_seen(uow, ref)
    done = runtime.journal.replay(apply)
    if done:
        log.warning("replayed %d event(s) taken while Redis was down", done)
    return done
