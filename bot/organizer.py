"""What organizers do, once for both the CLI and the JSON API: broadcasts, subscribers, hand-offs.

Every action is written to the audit trail (who, what, when, audience size; never a number).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from .broadcast import Audience, Broadcast, BroadcastError, Plan, plan, schedule_time, validate
from .catalog import Catalog
from .config import Config
from .jobs import BROADCASTS, make_queue, start_broadcast
from .store import Store


class NotFound(LookupError):
    """No broadcast or hand-off with that id."""


def new_broadcast(store: Store, catalog: Catalog, data: dict, who: str) -> Broadcast:
    """Check and save a draft alert; BroadcastError lists every problem."""
    audience = data.get("audience") or {}
    try:
        broadcast = Broadcast(
            texts={k: str(v) for k, v in (data.get("texts") or {}).items()},
            audience=Audience(langs=tuple(audience.get("langs") or ()), channels=tuple(audience.get("channels") or ()),
                              tags=tuple(t.lower() for t in audience.get("tags") or ())),
            audio={k: str(v) for k, v in (data.get("audio") or {}).items()},
            when=data.get("when") or None, timezone=data.get("timezone") or "America/Chicago",
            template_sid=data.get("template_sid") or None,
            template_variables={str(k): str(v) for k, v in (data.get("template_variables") or {}).items()},
            created_by=who)
    except (TypeError, AttributeError) as exc:
        raise BroadcastError(f"malformed alert: {exc}") from None
    problems = validate(broadcast, set(catalog.languages))
    if problems:
        raise BroadcastError("; ".join(problems))
    store.save_broadcast(broadcast.to_dict())
    store.audit(who, "broadcast.create", broadcast=broadcast.id, audience=broadcast.audience.describe())
    return broadcast


def load(store: Store, broadcast_id: str) -> Broadcast:
    data = store.broadcast(broadcast_id)
    if data is None:
        raise NotFound(f"no broadcast '{broadcast_id}'")
    return Broadcast.from_dict(data)


def preview(store: Store, catalog: Catalog, config: Config, broadcast_id: str) -> Plan:
    """Audience per language and channel, segments per message and in all, before anything is sent."""
    broadcast = load(store, broadcast_id)
    langs = broadcast.audience.langs or tuple(catalog.languages)
    channels = broadcast.audience.channels or ("sms", "whatsapp")
    key = store.audience_key(broadcast.audience.langs, broadcast.audience.channels, broadcast.audience.tags)
    try:
        counts = store.audience_counts(key, langs, channels)
    finally:
        store.r.delete(key)
    return plan(broadcast, counts, fold=config.sms_fold)


def send(store: Store, catalog: Catalog, config: Config, broadcast_id: str, who: str) -> Plan:
    """Start sending now: the audience is frozen and cut into batches by a job on the broadcasts queue."""
    broadcast = load(store, broadcast_id)
    if broadcast.status not in ("draft", "scheduled"):
        raise BroadcastError(f"broadcast {broadcast_id} is {broadcast.status}: only a draft or scheduled one can be sent")
    the_plan = preview(store, catalog, config, broadcast_id)
    make_queue(BROADCASTS, store.r).enqueue_call(start_broadcast, args=(broadcast_id,), job_id=f"start-{broadcast_id}",
                                                 description=f"start broadcast {broadcast_id}", at_front=True)
    store.audit(who, "broadcast.send", broadcast=broadcast_id, audience_size=the_plan.recipients,
                segments=the_plan.segments)
    return the_plan


def schedule(store: Store, catalog: Catalog, config: Config, broadcast_id: str, at: str, tz: str | None,
             who: str) -> datetime:
    """Send at a local time in a time zone; the worker's scheduler starts it."""
    broadcast = load(store, broadcast_id)
    if broadcast.status != "draft":
        raise BroadcastError(f"broadcast {broadcast_id} is {broadcast.status}: only a draft can be scheduled")
    when = schedule_time(at, tz or broadcast.timezone)
    if when <= datetime.now(timezone.utc):
        raise BroadcastError(f"{at} ({tz or broadcast.timezone}) is in the past")
    data = replace(broadcast, send_at=when.isoformat(), status="scheduled").to_dict()
    store.save_broadcast(data)
    make_queue(BROADCASTS, store.r).enqueue_at(when, start_broadcast, broadcast_id, job_id=f"start-{broadcast_id}",
                                               description=f"start broadcast {broadcast_id}")
    audience = preview(store, catalog, config, broadcast_id).recipients
    store.audit(who, "broadcast.schedule", broadcast=broadcast_id, at=when.isoformat(), audience_size=audience)
    return when


def cancel(store: Store, broadcast_id: str, who: str) -> dict:
    """Stop the rest: batches check the status before every message."""
    load(store, broadcast_id)
    changed = store.set_broadcast_status(broadcast_id, "cancelled", only_from=("draft", "scheduled", "sending"))
    queue = make_queue(BROADCASTS, store.r)
    try:
        queue.scheduled_job_registry.remove(f"start-{broadcast_id}", delete_job=True)
    except Exception:  # noqa: BLE001 - nothing scheduled
        pass
    store.audit(who, "broadcast.cancel", broadcast=broadcast_id, changed=changed)
    return status(store, broadcast_id)


def status(store: Store, broadcast_id: str) -> dict:
    """Delivery figures from the sends and Twilio's status callbacks."""
    broadcast = load(store, broadcast_id)
    stats = store.broadcast_stats(broadcast_id)
    errors = {k.split(":", 1)[1]: v for k, v in stats.items() if k.startswith("error:") and v}
    figures = {k: v for k, v in stats.items() if not k.startswith("error:") and v}
    return {"id": broadcast_id, "status": broadcast.status, "audience": broadcast.audience.describe(),
            "send_at": broadcast.send_at, "figures": figures, "failed_by_error": errors}


def import_subscribers(store: Store, result, who: str, source: str = "import") -> int:
    """Store a validated import in one transaction (nothing half-imported), and audit it."""
    written = store.import_subscribers(result.rows, source=source)
    store.audit(who, "subscribers.import", imported=written, rejected=len(result.rejected),
                duplicates_merged=result.duplicates_merged)
    return written
