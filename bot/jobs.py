"""RQ jobs and queues. Jobs are importable functions taking plain data (JSON-serialised, no pickle);
each builds its own clients from the environment. A job carries a person's ref and an encrypted
address, never a phone number."""
from __future__ import annotations

import logging
import random
import uuid

import redis
from rq import Queue, Retry, get_current_job
from rq.serializers import JSONSerializer

from . import sms
from .config import Config
from .errors import SendError
from .messages import SMS, Reply
from .privacy import Vault, load_or_create_dev_key
from .store import Store
from .twilio_gateway import OPTED_OUT, TwilioSender

log = logging.getLogger(__name__)
REPLIES, BROADCASTS = "replies", "broadcasts"
# Messages that carriers require or that answer the carrier keywords themselves.
CARRIER_KINDS = frozenset({"stop", "help", "start"})
MAX_RETRIES = 6
JOB_TIMEOUT = 60


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
        return self.store.outbox_append(ref, channel, reply.body, reply.media_url)


def sender_for(config: Config, store: Store):
    return DryRunSender(store) if config.dry_run else TwilioSender(config)


def send_reply(payload: dict) -> str:
    """Send one reply, once: a retried or duplicated job does not send it twice."""
    job = get_current_job()
    config = Config.from_env()
    connection = job.connection if job else redis.Redis.from_url(config.redis_url)
    store = build_store(connection, config)
    return deliver(store, config, sender_for(config, store), payload)


def deliver(store: Store, config: Config, sender, payload: dict) -> str:
    """The body of `send_reply`, with its collaborators passed in (tests and benchmarks call it)."""
    send_id, ref, channel = payload["id"], payload["ref"], payload["channel"]
    if payload.get("kind") not in CARRIER_KINDS and store.is_opted_out(ref):
        store.count("skipped_opted_out")
        return "skipped: opted out"
    if not store.claim_send(send_id):
        return "skipped: already sent " + (store.sent(send_id) or "")
    reply = Reply.from_dict(payload["reply"])
    body, media = reply.body, reply.media_url
    if media and channel == SMS:
        # SMS cannot carry audio everywhere (MMS is US/Canada only): announce it as a link instead.
        body, media = f"{body}\nAudio: {media}", None
    body = sms.render(body, channel, fold=config.sms_fold)[: sms.TWILIO_BODY_LIMIT]
    reply = Reply(body=body, media_url=media, content_sid=reply.content_sid,
                  content_variables=reply.content_variables)
    callback = f"{config.public_url}/twilio/status" if config.public_url else None
    try:
        to = store.open_address(ref, payload["to"])
        if isinstance(sender, DryRunSender):
            sid = sender.send(to, channel, reply, callback, ref=ref)
        else:
            sid = sender.send(to, channel, reply, callback)
    except SendError as exc:
        if exc.retry:
            store.release_send(send_id)
            store.count("send_retry")
            log.warning("send %s will be retried: %s", send_id, exc)
            raise
        _record_permanent_failure(store, ref, exc)
        job = get_current_job()
        if job is not None:
            job.retries_left = 0   # no retry will fix this; the job stays visible in the failed registry
        raise
    except ValueError as exc:   # the address could not be decrypted: key changed
        store.count("send_undecryptable")
        job = get_current_job()
        if job is not None:
            job.retries_left = 0
        raise SendError(None, None, f"cannot open address: {exc}", retry=False) from None
    # The confirmation of a delete request must not leave a delivery record that names the person.
    store.record_sent(send_id, None if payload.get("kind") == "delete" else ref, sid,
                      status="sent" if sid.startswith("DRY") else "queued")
    store.count("sent")
    return sid


def _record_permanent_failure(store: Store, ref: str, exc: SendError) -> None:
    store.count(f"send_failed_{exc.code or 'unknown'}")
    if exc.code == OPTED_OUT:
        store.opt_out(ref)
        log.info("Twilio says the recipient opted out (21610): recorded")
    else:
        log.error("send failed for good: %s", exc)
