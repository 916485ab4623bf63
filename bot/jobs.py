"""RQ jobs and queues. Jobs are importable functions taking plain data (JSON-serialised, no pickle);
each builds its own clients from the environment. A job carries a person's ref and an encrypted
address, never a phone number."""
from __future__ import annotations

import json
import logging
import random
import time
import urllib.request
import uuid
from dataclasses import dataclass

import redis
from rq import Queue, Retry, get_current_job
from rq.serializers import JSONSerializer

from . import sms
from .broadcast import Broadcast, text_for
from .config import Config
from .errors import SendError
from .messages import SMS, WHATSAPP, Reply
from .privacy import Vault, load_or_create_dev_key
from .store import Store
from .twilio_gateway import OPTED_OUT, OUTSIDE_WINDOW, TwilioSender

log = logging.getLogger(__name__)
REPLIES, BROADCASTS = "replies", "broadcasts"
# Messages that carriers require or that answer the carrier keywords themselves.
CARRIER_KINDS = frozenset({"stop", "help", "start"})
MAX_RETRIES = 6
JOB_TIMEOUT = 60
BATCH_SIZE = 200
BATCH_SLICE_SECONDS = 5.0     # a broadcast batch gives its worker back this often, so replies never wait long


class YieldToReplies(Exception):
    """A broadcast batch stops so that its worker answers the people who are writing."""


def make_queue(name: str, connection: redis.Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer, default_timeout=JOB_TIMEOUT)


def backoff_schedule(retries: int = MAX_RETRIES, base: float = 2.0, cap: float = 300.0) -> list[int]:
    """Exponential backoff with full jitter, in whole seconds (at least 1).

    >>> s = backoff_schedule(); len(s) == MAX_RETRIES and all(1 <= x <= 300 for x in s)
    True
    """
    return [max(1, int(random.uniform(base ** i, min(cap, base ** (i + 1))))) for i in range(1, retries + 1)]


def reply_payload(store: Store, ref: str, address: str, channel: str, reply: Reply, lang: str,
                  kind: str = "reply") -> dict:
    """The plain data of one send job."""
    return {"id": uuid.uuid4().hex, "ref": ref, "to": store.seal_address(ref, address), "channel": channel,
            "reply": reply.to_dict(), "lang": lang, "kind": kind}


def enqueue_replies(queue: Queue, payloads: list[dict], pipeline=None) -> None:
    """One send job per reply; the job id is the reply id, so an enqueue retried is the same job."""
    for payload in payloads:
        queue.enqueue_call(send_reply, args=(payload,), job_id="reply-" + payload["id"],
                           description="reply",   # RQ would otherwise repr() the arguments
                           retry=Retry(max=MAX_RETRIES, interval=backoff_schedule()),
                           result_ttl=3600, failure_ttl=7 * 86400, pipeline=pipeline)


def build_store(connection: redis.Redis, config: Config) -> Store:
    key = config.data_key or load_or_create_dev_key(config.instance_dir)
    return Store(connection, Vault(key), config.redis_prefix, config.state_ttl_days)


class DryRunSender:
    """No Twilio credentials: keep each outgoing message in the local outbox instead."""

    def __init__(self, store: Store):
        self.store = store

    def send(self, to: str, channel: str, reply: Reply, status_callback: str | None, ref: str = "") -> str:
        body = reply.body if not reply.content_sid else f"[template {reply.content_sid}] {reply.content_variables}"
        return self.store.outbox_append(ref, channel, body, reply.media_url)

    def find_sent(self, to: str, body: str | None, since: float, ref: str = "") -> str | None:
        for entry in reversed(self.store.outbox(ref=ref, last=1000)):
            if (body is None or entry.body == body) and entry.at >= since - 1:
                return entry.id
        return None


def sender_for(config: Config, store: Store):
    return DryRunSender(store) if config.dry_run else TwilioSender(config)


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


def send_once(store: Store, config: Config, sender, out: Outgoing, owner: str) -> str:
    """Send a message exactly once: claim it, wait for the shared rate, send, record.

    A claim left pending by an attempt that died mid-send is settled by asking Twilio (or the
    outbox) whether that attempt got through, so a retry neither loses nor doubles the message.
    """
    body, media = out.reply.body, out.reply.media_url
    if media and out.channel == SMS:
        # SMS cannot carry audio everywhere (MMS is US/Canada only): announce it as a link instead.
        body, media = f"{body}\nAudio: {media}", None
    body = sms.render(body, out.channel, fold=config.sms_fold)[: sms.TWILIO_BODY_LIMIT]
    reply = Reply(body=body, media_url=media, content_sid=out.reply.content_sid,
                  content_variables=out.reply.content_variables)
    claim = store.claim_send(out.send_id, owner)
    if claim.sid:
        return "skipped: already sent " + claim.sid
    if not claim.won:
        if claim.stale_since is None:
            return "skipped: another worker is sending it"
        found = _find_sent(sender, out, None if reply.content_sid else body, claim.stale_since)
        if found:
            store.record_sent(out.send_id, _ref_to_record(out), found, broadcast=out.broadcast)
            store.count("send_reconciled")
            return found
        store.take_over(out.send_id, owner)
    if not isinstance(sender, DryRunSender):   # the outbox is no carrier: no rate to keep
        segments = 1 if reply.content_sid else sms.segment_info(body).segments
        try:
            _wait_for_rate(store, config, segments, reply=out.broadcast is None, channel=out.channel)
        except YieldToReplies:
            store.release_send(out.send_id)
            raise
    callback = f"{config.public_url}/twilio/status" if config.public_url else None
    try:
        if isinstance(sender, DryRunSender):
            sid = sender.send(out.address, out.channel, reply, callback, ref=out.ref)
        else:
            sid = sender.send(out.address, out.channel, reply, callback)
    except SendError as exc:
        if exc.retry:
            store.release_send(out.send_id)
            store.count("send_retry")
            raise
        _record_permanent_failure(store, out.ref, exc)
        raise
    store.record_sent(out.send_id, _ref_to_record(out), sid, broadcast=out.broadcast,
                      status="sent" if sid.startswith("DRY") else "queued")
    store.count("sent")
    return sid


def _ref_to_record(out: Outgoing) -> str | None:
    # The confirmation of a delete request must not leave a delivery record that names the person.
    return None if out.kind == "delete" else out.ref


def _find_sent(sender, out: Outgoing, body: str | None, since: float) -> str | None:
    try:
        if isinstance(sender, DryRunSender):
            return sender.find_sent(out.address, body, since, ref=out.ref)
        return sender.find_sent(out.address, body, since)
    except SendError as exc:
        log.warning("could not ask Twilio whether a message went out (%s): sending it", exc)
        return None


def _wait_for_rate(store: Store, config: Config, segments: int, reply: bool, channel: str) -> None:
    queue_key = make_queue(REPLIES, store.r).key
    bucket, rate = config.rate_for(channel)
    while True:
        wait = store.send_wait(segments, rate, reply, queue_key, config.send_margin_ms, bucket=bucket)
        if wait < 0:
            raise YieldToReplies()
        if wait == 0:
            return
        time.sleep(min(wait, 1.0))


def _record_permanent_failure(store: Store, ref: str, exc: SendError) -> None:
    store.count(f"send_failed_{exc.code or 'unknown'}")
    if exc.code == OPTED_OUT:
        store.opt_out(ref)
        store.unsubscribe(ref)
        log.info("Twilio says the recipient opted out (21610): recorded")
    else:
        log.error("send failed for good: %s", exc)


def _no_retry() -> None:
    job = get_current_job()
    if job is not None:
        job.retries_left = 0   # no retry will fix this; the job stays visible in the failed registry


def _context() -> tuple[Config, Store, str]:
    job = get_current_job()
    config = Config.from_env()
    connection = job.connection if job else redis.Redis.from_url(config.redis_url)
    return config, build_store(connection, config), (job.id if job else "local")


# --- replies ---------------------------------------------------------------------------------

def send_reply(payload: dict) -> str:
    """Send one reply, once: a retried or duplicated job does not send it twice."""
    config, store, owner = _context()
    return deliver(store, config, sender_for(config, store), payload, owner)


def deliver(store: Store, config: Config, sender, payload: dict, owner: str = "local") -> str:
    """The body of `send_reply`, with its collaborators passed in (tests and benchmarks call it)."""
    ref = payload["ref"]
    if payload.get("kind") not in CARRIER_KINDS and store.is_opted_out(ref):
        store.count("skipped_opted_out")
        return "skipped: opted out"
    try:
        address = store.open_address(ref, payload["to"])
    except ValueError:   # the key changed: nobody can read this address any more
        store.count("send_undecryptable")
        _no_retry()
        raise SendError(None, None, "cannot open the address: DATA_KEY changed?", retry=False) from None
    out = Outgoing(payload["id"], ref, address, payload["channel"], Reply.from_dict(payload["reply"]),
                   payload.get("kind", "reply"))
    try:
        return send_once(store, config, sender, out, owner)
    except SendError as exc:
        if not exc.retry:
            _no_retry()
        else:
            log.warning("send %s will be retried: %s", out.send_id, exc)
        raise


# --- broadcasts ------------------------------------------------------------------------------

def start_broadcast(broadcast_id: str) -> int:
    """Freeze the audience and cut it into batches on the broadcasts queue."""
    config, store, _ = _context()
    return fan_out(store, broadcast_id)


def fan_out(store: Store, broadcast_id: str, batch_size: int = BATCH_SIZE) -> int:
    data = store.broadcast(broadcast_id)
    if data is None or not store.set_broadcast_status(broadcast_id, "sending", only_from=("draft", "scheduled")):
        return 0
    broadcast = Broadcast.from_dict(data)
    audience = store.audience_key(broadcast.audience.langs, broadcast.audience.channels, broadcast.audience.tags)
    refs = store.snapshot_audience(broadcast_id, audience)
    store.bump(broadcast_id, "audience", len(refs))
    queue = make_queue(BROADCASTS, store.r)
    batches = [refs[i:i + batch_size] for i in range(0, len(refs), batch_size)]
    with store.r.pipeline(transaction=True) as pipe:
        pipe.multi()
        for number, batch in enumerate(batches):
            queue.enqueue_call(send_broadcast_batch, args=(broadcast_id, batch),
                               job_id=f"bc-{broadcast_id}-{number}", description=f"broadcast {broadcast_id} #{number}",
                               retry=Retry(max=MAX_RETRIES, interval=backoff_schedule()), timeout=120,
                               result_ttl=3600, failure_ttl=7 * 86400, pipeline=pipe)
        pipe.execute()
    if not batches:
        store.set_broadcast_status(broadcast_id, "sent", only_from=("sending",))
    return len(batches)


def send_broadcast_batch(broadcast_id: str, refs: list[str]) -> dict:
    """Send one batch; after a time slice the rest goes back on the queue (replies come first)."""
    config, store, owner = _context()
    return deliver_batch(store, config, sender_for(config, store), broadcast_id, refs, owner)


def deliver_batch(store: Store, config: Config, sender, broadcast_id: str, refs: list[str], owner: str = "local",
                  slice_seconds: float = BATCH_SLICE_SECONDS) -> dict:
    data = store.broadcast(broadcast_id)
    if data is None:
        return {"skipped": "unknown broadcast"}
    broadcast = Broadcast.from_dict(data)
    done: dict[str, int] = {}
    started = time.monotonic()
    for position, ref in enumerate(refs):
        if store.broadcast_status(broadcast_id) == "cancelled":
            done["cancelled"] = len(refs) - position
            break
        try:
            if time.monotonic() - started > slice_seconds:
                raise YieldToReplies()
            outcome = _send_to_subscriber(store, config, sender, broadcast, ref, owner)
        except YieldToReplies:
            # The rest goes back to the front of the broadcasts queue; the worker takes replies first.
            rest = refs[position:]
            make_queue(BROADCASTS, store.r).enqueue_call(
                send_broadcast_batch, args=(broadcast_id, rest), job_id=f"bc-{broadcast_id}-{uuid.uuid4().hex[:8]}",
                description=f"broadcast {broadcast_id} (continued)", at_front=True,
                retry=Retry(max=MAX_RETRIES, interval=backoff_schedule()), timeout=120)
            done["continued"] = len(rest)
            break
        done[outcome] = done.get(outcome, 0) + 1
    _finish_if_done(store, broadcast_id)
    return done


def _send_to_subscriber(store: Store, config: Config, sender, broadcast: Broadcast, ref: str, owner: str) -> str:
    if store.is_opted_out(ref):
        store.bump(broadcast.id, "skipped_opted_out")
        return "skipped_opted_out"
    found = store.subscriber_address(ref)
    if found is None:
        store.bump(broadcast.id, "skipped_unsubscribed")
        return "skipped_unsubscribed"
    address, channel, lang = found
    text, _ = text_for(broadcast, lang)
    if channel == WHATSAPP and not store.in_window(ref):
        if not broadcast.template_sid:
            store.bump(broadcast.id, "skipped_outside_window")
            return "skipped_outside_window"
        reply = Reply(body=text, content_sid=broadcast.template_sid, content_variables=broadcast.template_variables)
    else:
        reply = Reply(body=text, media_url=broadcast.audio.get(lang) if channel == WHATSAPP else None)
    out = Outgoing(f"bc:{broadcast.id}:{ref}", ref, address, channel, reply, "broadcast", broadcast.id)
    try:
        result = send_once(store, config, sender, out, owner)
    except SendError as exc:
        if exc.retry:
            raise   # the batch is retried; recipients already sent are skipped by their claims
        store.bump(broadcast.id, f"failed_at_send:{exc.code or 'unknown'}")
        if exc.code == OUTSIDE_WINDOW:
            store.bump(broadcast.id, "skipped_outside_window")
        return "failed"
    return "skipped_duplicate" if result.startswith("skipped") else "sent"


def _finish_if_done(store: Store, broadcast_id: str) -> None:
    """The last batch to finish marks the broadcast sent."""
    queue = make_queue(BROADCASTS, store.r)
    pending = [j for j in queue.get_job_ids() if j.startswith(f"bc-{broadcast_id}-")]
    started = [j for j in queue.started_job_registry.get_job_ids() if j.startswith(f"bc-{broadcast_id}-")]
    current = get_current_job()
    started = [j for j in started if current is None or j != current.id]
    if not pending and not started:
        store.set_broadcast_status(broadcast_id, "sent", only_from=("sending",))


# --- hand-offs -------------------------------------------------------------------------------

def notify_handoff(handoff_id: str, kind: str, lang: str, topic: str) -> str:
    """Tell the on-call person or system that someone asked for a person; never the number."""
    config, store, owner = _context()
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
        out = Outgoing(f"handoff:{handoff_id}", store.ref(to), to, WHATSAPP if to.startswith("whatsapp:") else SMS,
                       Reply(text), "handoff")
        sent.append(send_once(store, config, sender_for(config, store), out, owner))
    return ", ".join(sent) or "no notification configured"
