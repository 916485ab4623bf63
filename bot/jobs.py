"""RQ queues and jobs. Jobs are importable functions taking plain data (JSON-serialised, no pickle);
each gets its context from the process's Runtime and hands the work to `delivery`. One helper,
`enqueue`, owns the retry policy and the time results and failures are kept."""
from __future__ import annotations

import random
import re

import redis
from rq import Callback, Queue, Retry, get_current_job
from rq.serializers import JSONSerializer

REPLIES, BROADCASTS = "replies", "broadcasts"
MAX_RETRIES = 6
JOB_TIMEOUT = 60
BATCH_TIMEOUT = 120
RESULT_TTL = 3600
FAILURE_TTL = 7 * 86400


def make_queue(name: str, connection: redis.Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer, default_timeout=JOB_TIMEOUT)


def backoff_schedule(retries: int = MAX_RETRIES, base: float = 2.0, cap: float = 300.0) -> list[int]:
    """The first retry at once (a worker that died, a dropped connection: no scheduler needed, whose
    lock a dead worker may hold for minutes), then exponential backoff with full jitter, in seconds.

    >>> s = backoff_schedule(); len(s) == MAX_RETRIES and s[0] == 0 and all(1 <= x <= 300 for x in s[1:])
    True
    """
    return [0] + [max(1, int(random.uniform(base ** i, min(cap, base ** (i + 1))))) for i in range(1, retries)]


def enqueue(queue: Queue, fn, args: tuple, job_id: str, description: str, uow=None, at_front: bool = False,
            timeout: int | None = None, retry: bool = True, on_failure=None) -> None:
    """Put one job on a queue, in `uow`'s transaction when given. The job id makes an enqueue that
    is retried the same job. `description` is set so that RQ never repr()s the arguments."""
    queue.enqueue_call(fn, args=args, job_id=job_id, description=description, at_front=at_front,
                       timeout=timeout, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
                       retry=Retry(max=MAX_RETRIES, interval=backoff_schedule()) if retry else None,
                       on_failure=Callback(on_failure) if on_failure else None,
                       pipeline=uow.pipe if uow is not None else None)


def enqueue_replies(queue: Queue, payloads: list[dict], uow=None) -> None:
    """One send job per reply; the job id is the reply id."""
    for payload in payloads:
        enqueue(queue, send_reply, (payload,), "reply-" + payload["id"], "reply", uow)


def enqueue_batch(queue: Queue, broadcast_id: str, batch_id: str, ids: list[int], uow=None,
                  at_front: bool = False) -> None:
    enqueue(queue, send_broadcast_batch, (broadcast_id, batch_id, ids), batch_id, f"broadcast {broadcast_id}",
            uow, at_front=at_front, timeout=BATCH_TIMEOUT, on_failure=batch_failed)


def enqueue_handoff_notice(queue: Queue, handoff_id: str, event, uow=None) -> None:
    enqueue(queue, notify_handoff, (handoff_id, event.kind, event.lang, event.topic or ""),
            f"handoff-{handoff_id}", "hand-off notice", uow)


def enqueue_resend(queue: Queue, record: dict, uow=None, delay=None, at_front: bool = False) -> None:
    """Send a kept WhatsApp message again (after 63018), or an alert's SMS fallback; `delay` (a
    timedelta) waits first, through the worker's scheduler."""
    job_id = "resend-" + re.sub(r"[^A-Za-z0-9_-]", "_", record["id"])     # RQ's rule for job ids
    if delay:
        queue.enqueue_in(delay, resend, record, job_id=job_id, description="resend",
                         result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
                         retry=Retry(max=MAX_RETRIES, interval=backoff_schedule()))
        return
    enqueue(queue, resend, (record,), job_id, "resend", uow, at_front=at_front)


def enqueue_conversation_reply(queue: Queue, payload: dict, uow=None) -> None:
    """An organizer's reply in a conversation (the text stays in the encrypted thread, not here)."""
    enqueue(queue, send_conversation_reply, (payload,), "conv-" + payload["id"], "conversation reply", uow)


def enqueue_import(queue: Queue, import_id: str) -> None:
    """A subscriber import from the console (the CSV waits encrypted in Redis, not in the job)."""
    enqueue(queue, import_subscribers, (import_id,), "import-" + import_id, "subscriber import", retry=False,
            timeout=1800)


def enqueue_start(queue: Queue, broadcast_id: str) -> None:
    """Start a broadcast now: the fan-out job goes ahead of any batch waiting."""
    queue.enqueue_call(start_broadcast, args=(broadcast_id,), job_id=f"start-{broadcast_id}",
                       description=f"start broadcast {broadcast_id}", at_front=True, result_ttl=RESULT_TTL,
                       failure_ttl=FAILURE_TTL, retry=Retry(max=MAX_RETRIES, interval=backoff_schedule()))


def schedule_start(queue: Queue, broadcast_id: str, when) -> None:
    queue.enqueue_at(when, start_broadcast, broadcast_id, job_id=f"start-{broadcast_id}",
                     description=f"start broadcast {broadcast_id}", result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL)


def unschedule_start(queue: Queue, broadcast_id: str) -> None:
    try:
        queue.scheduled_job_registry.remove(f"start-{broadcast_id}", delete_job=True)
    except Exception:  # noqa: BLE001 - nothing scheduled
        pass


def _runtime():
    from .runtime import Runtime
    job = get_current_job()
    return Runtime.for_job(job.connection if job else None), (job.id if job else "local")


def _no_retry() -> None:
    job = get_current_job()
    if job is not None:
        job.retries_left = 0   # no retry will fix this; the job stays visible in the failed registry


# --- the jobs ------------------------------------------------------------------------------------

def send_reply(payload: dict) -> str:
    """Send one reply, once."""
    from .delivery import deliver
    from .errors import SendError
    runtime, owner = _runtime()
    try:
        return deliver(runtime, payload, owner)
    except SendError as exc:
        if not exc.retry:
            _no_retry()
        raise


def resend(record: dict) -> str:
    """Send a kept message again, or an alert's SMS fallback, once."""
    from .errors import SendError
    from .whatsapp import resend as send_again
    runtime, owner = _runtime()
    try:
        return send_again(runtime, record, owner)
    except SendError as exc:
        if not exc.retry:
            _no_retry()
        raise


def start_broadcast(broadcast_id: str) -> int:
    """Freeze the audience and cut it into batches on the broadcasts queue."""
    from .delivery import fan_out
    runtime, _ = _runtime()
    return fan_out(runtime, broadcast_id)


def send_broadcast_batch(broadcast_id: str, batch_id: str, ids: list[int]) -> dict:
    """Send one batch; after a time slice the rest goes back on the queue (replies come first)."""
    from .delivery import deliver_batch
    runtime, owner = _runtime()
    return deliver_batch(runtime, broadcast_id, batch_id, ids, owner)


def batch_failed(job, connection, *exc_info) -> None:
    """RQ failure callback of a batch: when it has no retries left, the broadcast still completes."""
    if job.retries_left:
        return
    from .delivery import batch_failed_for_good
    from .runtime import Runtime
    broadcast_id, batch_id, _ = job.args
    batch_failed_for_good(Runtime.for_job(connection), broadcast_id, batch_id)


def notify_handoff(handoff_id: str, kind: str, lang: str, topic: str) -> str:
    from .delivery import notify_handoff as notify
    runtime, owner = _runtime()
    return notify(runtime, handoff_id, kind, lang, topic, owner)


def send_conversation_reply(payload: dict) -> str:
    """Send one organizer reply of a conversation, once."""
    from .conversations import deliver_reply
    from .errors import SendError
    runtime, owner = _runtime()
    try:
        return deliver_reply(runtime, payload, owner)
    except SendError as exc:
        if not exc.retry:
            _no_retry()
        raise


def import_subscribers(import_id: str) -> dict:
    """Check and store a CSV uploaded in the console, with progress for its page."""
    from .imports import run_import
    runtime, _ = _runtime()
    return run_import(runtime, import_id)
