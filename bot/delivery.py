"""Getting messages out, exactly once: the Sender protocol (Twilio, or the dry-run outbox), the send
of one message (claim, shared rate, last opt-out check, the hourly ceiling, send, record), replies,
broadcast fan-out and batches, and hand-off notices.

A job carries a person's ref and an encrypted address, never a phone number. Everything here takes
the process's Runtime (the one composition root) and is called by the RQ jobs in `jobs.py`.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, replace
from typing import Protocol

from . import sms, whatsapp
from .broadcast import Broadcast, footers, text_for
from .errors import OPTED_OUT, OUTSIDE_WINDOW, SendError
from .messages import SMS, WHATSAPP, Reply

log = logging.getLogger(__name__)

# Messages that carriers require, or that answer the carrier keywords themselves: they go to
# people who opted out (the STOP confirmation) and never count against the hourly ceiling.
CARRIER_KINDS = frozenset({"stop", "help", "start", "delete"})
BATCH_SIZE = 200
BATCH_SLICE_SECONDS = 5.0     # a broadcast batch gives its worker back this often, so replies never wait long


class YieldToReplies(Exception):
    """A broadcast batch stops so that its worker answers the people who are writing."""


class Sender(Protocol):
    """What sends a message: Twilio's REST API, or the dry-run outbox."""

    dry_run: bool

    def send(self, out: "Outgoing", reply: Reply, status_callback: str | None) -> str:
        """Send `reply` to `out.address`; return the message SID, or raise SendError."""

    def find_sent(self, out: "Outgoing", body: str | None, since: float) -> str | None:
        """The SID of a message with this body (any, if None) sent to `out` since `since`, if any."""


class DryRunSender:
    """No Twilio credentials: keep each outgoing message in the local outbox instead."""

    dry_run = True

    def __init__(self, store):
        self.store = store

    def send(self, out: "Outgoing", reply: Reply, status_callback: str | None) -> str:
        body = reply.body if not reply.content_sid else f"[template {reply.content_sid}] {reply.content_variables}"
        return self.store.outbox.append(out.ref, out.channel, body, reply.media_url)

    def hold(self, out: "Outgoing", reply: Reply, reason: str) -> None:
        """A message not sent (the hourly ceiling, an opt-out at send time) is noted in the outbox as
        held, so `derechos chat` can say why nothing came."""
        self.store.outbox.append(out.ref, out.channel, reply.body, None, held=reason)

    def find_sent(self, out: "Outgoing", body: str | None, since: float) -> str | None:
        for entry in reversed(self.store.outbox.entries(ref=out.ref, last=1000)):
            if not entry.held and (body is None or entry.body == body) and entry.at >= since - 1:
                return entry.id
        return None


@dataclass(frozen=True)
class Outgoing:
    """One message to one person, ready to claim and send."""

    send_id: str
    ref: str
    address: str
    channel: str
    reply: Reply
    kind: str = "reply"
    broadcast: str | None = None
    lang: str = ""               # the reader's language (which WhatsApp template fits)


def reply_payload(runtime, ref: str, address: str, channel: str, reply: Reply, lang: str,
                  kind: str = "reply") -> dict:
    """The plain data of one send job: the address sealed to the person's ref."""
    return {"id": uuid.uuid4().hex, "ref": ref, "to": runtime.vault.encrypt(address, context="addr:" + ref),
            "channel": channel, "reply": media_url(runtime.config, lang, reply).to_dict(), "lang": lang,
            "kind": kind}


def media_url(config, lang: str, reply: Reply) -> Reply:
    """Content audio is a file in the language's audio/ folder: send its public URL."""
    media = reply.media_url
    if not media or media.startswith("https://"):
        return reply
    if not config.public_url:
        return Reply(reply.body)
    return Reply(reply.body, f"{config.public_url}/media/{lang}/{media.removeprefix('audio/')}")


def send_once(runtime, out: Outgoing, owner: str) -> str:
    """Send a message exactly once: claim it, wait for the shared rate, check STOP and the ceiling
    once more, send, record.

    A claim left pending by an attempt that died mid-send is settled by asking Twilio (or the
    outbox) whether that attempt got through, so a retry neither loses nor doubles the message.
    """
    store, config, sender = runtime.store, runtime.config, runtime.sender
    body, media = out.reply.body, out.reply.media_url
    if media and out.channel == SMS:
        # SMS cannot carry audio everywhere (MMS is US/Canada only): announce it as a link instead.
        body, media = f"{body}\nAudio: {media}", None
    body = sms.render(body, out.channel, fold=config.sms_fold)[: sms.TWILIO_BODY_LIMIT]
    # Choices stay with the reply: on WhatsApp they may go as a list or buttons (a synced template).
    reply = whatsapp.as_interactive(runtime, out, replace(out.reply, body=body, media_url=media))
    claim = store.deliveries.claim(out.send_id, owner)
    if claim.sid:
        return "skipped: already sent " + claim.sid
    if not claim.won:
        if claim.stale_since is None:
            return "skipped: another worker is sending it"
        found = _find_sent(sender, out, None if reply.content_sid else body, claim.stale_since)
        if found:
            store.deliveries.record_sent(out.send_id, _ref_to_record(out), found, broadcast=out.broadcast)
            store.metrics.count("send_reconciled")
            return found
        store.deliveries.take_over(out.send_id, owner)
    if not sender.dry_run:   # the outbox is no carrier: no rate to keep
        segments = 1 if reply.content_sid else sms.segment_info(body).segments
        try:
            _wait_for_rate(runtime, segments, reply=out.broadcast is None, channel=out.channel)
        except YieldToReplies:
            store.deliveries.release(out.send_id)
            raise
    # The last look before the carrier: a STOP may have come while this message waited.
    if out.kind not in CARRIER_KINDS and store.people.silenced(out.ref):
        store.deliveries.release(out.send_id)
        store.metrics.count("skipped_opted_out")
        if sender.dry_run and out.kind == "reply":
            sender.hold(out, reply, "opted_out")
        return "skipped: opted out"
    if out.kind == "reply" and not store.limits.take_reply(config.replies_per_hour):
        store.deliveries.release(out.send_id)
        store.metrics.count("reply_ceiling")
        log.warning("hourly reply ceiling (%d) reached: a reply is not sent", config.replies_per_hour)
        if sender.dry_run:
            sender.hold(out, reply, "reply_ceiling")
        return "skipped: hourly reply ceiling"
    callback = f"{config.public_url}/twilio/status" if config.public_url else None
    try:
        sid = sender.send(out, reply, callback)
    except SendError as exc:
        if exc.retry:
            store.deliveries.release(out.send_id)
            store.metrics.count("send_retry")
            raise
        _record_permanent_failure(runtime, out.ref, exc)
        raise
    store.deliveries.record_sent(out.send_id, _ref_to_record(out), sid, broadcast=out.broadcast,
                                 status="sent" if sender.dry_run else "queued")
    whatsapp.keep_for_resend(runtime, out, reply, sid)   # for a failure Twilio reports later (63018)
    store.metrics.count("sent")
    return sid


def _ref_to_record(out: Outgoing) -> str | None:
    # The confirmation of a delete request must not leave a delivery record that names the person.
    return None if out.kind == "delete" else out.ref


def _find_sent(sender: Sender, out: Outgoing, body: str | None, since: float) -> str | None:
    try:
        return sender.find_sent(out, body, since)
    except SendError as exc:
        log.warning("could not ask Twilio whether a message went out (%s): sending it", exc)
        return None


def _wait_for_rate(runtime, segments: int, reply: bool, channel: str) -> None:
    queue_key = runtime.queue("replies").key
    bucket, rate = runtime.config.rate_for(channel)
    while True:
        wait = runtime.store.limits.send_wait(segments, rate, reply, queue_key, runtime.config.send_margin_ms,
                                              bucket=bucket, channel=channel)
        if wait < 0:
            raise YieldToReplies()
        if wait == 0:
            return
        time.sleep(min(wait, 1.0))


def _record_permanent_failure(runtime, ref: str, exc: SendError) -> None:
    store = runtime.store
    store.metrics.count(f"send_failed_{exc.code or 'unknown'}")
    if exc.code == OPTED_OUT:
        store.opt_out_now(ref)
        log.info("Twilio says the recipient opted out (21610): recorded")
    else:
        log.error("send failed for good: %s", exc)


# --- replies -------------------------------------------------------------------------------------

def deliver(runtime, payload: dict, owner: str = "local") -> str:
    """Send one queued reply, once: a retried or duplicated job does not send it twice."""
    store, ref = runtime.store, payload["ref"]
    if payload.get("kind") not in CARRIER_KINDS and store.people.silenced(ref):
        store.metrics.count("skipped_opted_out")
        return "skipped: opted out"
    try:
        address = runtime.vault.decrypt(payload["to"], context="addr:" + ref)
    except ValueError:   # the key changed: nobody can read this address any more
        store.metrics.count("send_undecryptable")
        raise SendError(None, None, "cannot open the address: DATA_KEY changed?", retry=False) from None
    out = Outgoing(payload["id"], ref, address, payload["channel"], Reply.from_dict(payload["reply"]),
                   payload.get("kind", "reply"), lang=payload.get("lang", ""))
    return send_once(runtime, out, owner)


# --- broadcasts ----------------------------------------------------------------------------------

def fan_out(runtime, broadcast_id: str, batch_size: int = BATCH_SIZE) -> int:
    """Freeze the audience (subscriber ids) and cut it into batches on the broadcasts queue."""
    from .jobs import BROADCASTS, enqueue_batch
    store = runtime.store
    data = store.broadcasts.get(broadcast_id)
    if data is None or not store.broadcasts.set_status(broadcast_id, "sending", only_from=("draft", "scheduled")):
        return 0
    broadcast = Broadcast.from_dict(data)
    audience = broadcast.audience
    ids = sorted(store.subscribers.audience(audience.langs, audience.channels, audience.tags))
    store.broadcasts.bump(broadcast_id, "audience", len(ids))
    batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    batch_ids = [f"bc-{broadcast_id}-{number}" for number in range(len(batches))]
    queue = runtime.queue(BROADCASTS)
    footer_texts = footers(runtime.content.get().catalog, runtime.config.alert_footer)
    with store.unit() as uow:
        store.broadcasts.freeze_footers(uow, broadcast_id, footer_texts)
        store.broadcasts.add_batches(uow, broadcast_id, batch_ids)
        for batch_id, batch in zip(batch_ids, batches):
            enqueue_batch(queue, broadcast_id, batch_id, batch, uow)
    if not batches:
        store.broadcasts.set_status(broadcast_id, "sent", only_from=("sending",))
    return len(batches)


def deliver_batch(runtime, broadcast_id: str, batch_id: str, ids: list[int], owner: str = "local",
                  slice_seconds: float = BATCH_SLICE_SECONDS, concurrency: int | None = None) -> dict:
    """Send one batch, `concurrency` sends in flight at once (config BATCH_SENDS), all under the one
    shared rate; after a time slice, or when replies wait, the rest goes back on the queue (replies
    come first). A send that fails for a retry makes the whole batch retry: the recipients already
    sent are skipped by their claims."""
    from .jobs import BROADCASTS, enqueue_batch
    store = runtime.store
    data = store.broadcasts.get(broadcast_id)
    if data is None:
        return {"skipped": "unknown broadcast"}
    broadcast = Broadcast.from_dict(data)
    footer_texts = store.broadcasts.footers(broadcast_id)   # frozen by fan_out: no content load per batch
    if footer_texts is None:                                 # a send started before footers were frozen
        footer_texts = footers(runtime.content.get().catalog, runtime.config.alert_footer)
    runtime.sender                                           # built once, before the threads share it
    done: dict[str, int] = {}
    started = time.monotonic()
    lock = threading.Lock()
    cursor = [0]                 # the next position to send
    returned: list[int] = []     # positions given back (the rate said replies wait)
    failure: list[BaseException] = []
    stopping = threading.Event()
    cancelled = [False]

    def take() -> int | None:
        with lock:
            if stopping.is_set() or cursor[0] >= len(ids):
                return None
            if cursor[0] and time.monotonic() - started > slice_seconds:   # (one send at least: progress)
                stopping.set()
                return None
            position, cursor[0] = cursor[0], cursor[0] + 1
            return position

    def work() -> None:
        while (position := take()) is not None:
            if store.broadcasts.status(broadcast_id) == "cancelled":
                cancelled[0] = True
                stopping.set()
                with lock:
                    returned.append(position)
                return
            try:
                outcome = _send_to_subscriber(runtime, broadcast, ids[position], owner, footer_texts)
            except YieldToReplies:
                stopping.set()
                with lock:
                    returned.append(position)
                return
            except BaseException as exc:   # noqa: BLE001 - re-raised below, after the others stop
                stopping.set()
                with lock:
                    failure.append(exc)
                return
            with lock:
                done[outcome] = done.get(outcome, 0) + 1

    threads = max(1, min(concurrency or runtime.config.batch_sends, len(ids)))
    if threads == 1:
        work()
    else:
        pool = [threading.Thread(target=work, name=f"batch-{i}", daemon=True) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    if failure:
        raise failure[0]
    rest = [ids[p] for p in sorted(returned)] + ids[cursor[0]:]
    if cancelled[0]:
        done["cancelled"] = len(rest)
    elif rest:
        # The rest goes back to the front of the broadcasts queue; the worker takes replies first.
        rest_id = f"bc-{broadcast_id}-{uuid.uuid4().hex[:8]}"
        with store.unit() as uow:
            store.broadcasts.add_batches(uow, broadcast_id, [rest_id])
            enqueue_batch(runtime.queue(BROADCASTS), broadcast_id, rest_id, rest, uow, at_front=True)
        done["continued"] = len(rest)
    store.broadcasts.finish_batch(broadcast_id, batch_id)
    return done


def _send_to_subscriber(runtime, broadcast: Broadcast, subscriber_id: int, owner: str,
                        footer_texts: dict[str, str] | None = None) -> str:
    store = runtime.store
    found = store.subscribers.by_ids([subscriber_id])
    if not found:
        store.broadcasts.bump(broadcast.id, "skipped_unsubscribed")
        return "skipped_unsubscribed"
    subscriber = found[0]
    if store.people.silenced(subscriber.ref):
        store.broadcasts.bump(broadcast.id, "skipped_opted_out")
        return "skipped_opted_out"
    address = store.subscribers.open_address(subscriber)
    text, _ = text_for(broadcast, subscriber.lang, footer_texts)
    if subscriber.channel == WHATSAPP and not store.people.in_window(subscriber.ref):
        if broadcast.template_sid:
            reply = Reply(body=text, content_sid=broadcast.template_sid,
                          content_variables=broadcast.template_variables)
        else:   # the alert template of the reader's language, synced from content (whatsapp.yml); it names
            # the program and how to stop itself, so its variable is the text without the footer (the
            # body, which an SMS fallback sends, keeps it)
            reply = whatsapp.alert_reply(runtime, subscriber.lang, text_for(broadcast, subscriber.lang)[0])
            reply = replace(reply, body=text) if reply is not None else None
        if reply is None:
            store.broadcasts.bump(broadcast.id, "skipped_outside_window")
            return "skipped_outside_window"
    else:
        reply = Reply(body=text, media_url=broadcast.audio.get(subscriber.lang) if subscriber.channel == WHATSAPP
                      else None)
    out = Outgoing(f"bc:{broadcast.id}:{subscriber_id}", subscriber.ref, address, subscriber.channel, reply,
                   "broadcast", broadcast.id, lang=subscriber.lang)
    try:
        result = send_once(runtime, out, owner)
    except SendError as exc:
        if exc.retry:
            raise   # the batch is retried; recipients already sent are skipped by their claims
        store.broadcasts.bump(broadcast.id, f"failed_at_send:{exc.code or 'unknown'}")
        reason = whatsapp.reason_for(exc.code) if reply.content_sid else None
        if reason:      # WhatsApp refused the template (category, country): SMS if there is a number
            whatsapp.fall_back(runtime, whatsapp.resend_record(runtime, out, reply), reason, owner)
            return "fell_back_to_sms"
        if exc.code == OUTSIDE_WINDOW:
            store.broadcasts.bump(broadcast.id, "skipped_outside_window")
        return "failed"
    if result == "skipped: opted out":
        store.broadcasts.bump(broadcast.id, "skipped_opted_out")
        return "skipped_opted_out"
    return "skipped_duplicate" if result.startswith("skipped") else "sent"


def batch_failed_for_good(runtime, broadcast_id: str, batch_id: str) -> None:
    """A batch out of retries: the broadcast still completes, with the batch counted as failed."""
    runtime.store.broadcasts.bump(broadcast_id, "failed_batches")
    runtime.store.broadcasts.finish_batch(broadcast_id, batch_id)


# --- hand-offs -----------------------------------------------------------------------------------

def notify_handoff(runtime, handoff_id: str, kind: str, lang: str, topic: str, owner: str = "local") -> str:
    """Tell the on-call person or system that someone asked for a person; never the number."""
    config = runtime.config
    text = f"Derechos: new {kind} request #{handoff_id} ({lang}{', ' + topic if topic else ''}). " \
           f"derechos handoff take {handoff_id}"
    sent = []
    if config.handoff_webhook_url:
        body = json.dumps({"id": handoff_id, "kind": kind, "lang": lang, "topic": topic}).encode()
        request = urllib.request.Request(config.handoff_webhook_url, data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            sent.append(f"webhook {response.status}")
    if config.handoff_notify_to:
        to = config.handoff_notify_to
        out = Outgoing(f"handoff:{handoff_id}", runtime.store.ref(to), to,
                       WHATSAPP if to.startswith("whatsapp:") else SMS, Reply(text), "handoff")
        sent.append(send_once(runtime, out, owner))
    return ", ".join(sent) or "no notification configured"
