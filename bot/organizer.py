"""What organizers do, once for the CLI, the JSON API and the console: broadcasts, subscribers,
hand-offs. Every action is written to the audit trail (who, what, when, audience size; never a number).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

from .broadcast import Audience, Broadcast, BroadcastError, Plan, footers, plan, schedule_time, validate
from .catalog import Catalog
from .config import Config
from .jobs import BROADCASTS, enqueue_start, make_queue, schedule_start, unschedule_start
from .store import Store


IMPORT_CHUNK = 5000    # rows per transaction: a re-run of an interrupted import is harmless


class NotFound(LookupError):
    """No broadcast or hand-off with that id."""


def new_broadcast(store: Store, catalog: Catalog, data: dict, who: str, config: Config | None = None) -> Broadcast:
    """Check and save a draft alert; BroadcastError lists every problem."""
    audience = data.get("audience") or {}
    try:
        broadcast = Broadcast(
            texts={str(k): str(v) for k, v in (data.get("texts") or {}).items()},
            audience=Audience(langs=tuple(str(x) for x in audience.get("langs") or ()),
                              channels=tuple(str(x) for x in audience.get("channels") or ()),
                              tags=tuple(str(t).lower() for t in audience.get("tags") or ())),
            audio={str(k): str(v) for k, v in (data.get("audio") or {}).items()},
            when=str(data["when"]) if data.get("when") else None,
            timezone=str(data.get("timezone") or "America/Chicago"),
            template_sid=str(data["template_sid"]) if data.get("template_sid") else None,
            template_variables={str(k): str(v) for k, v in (data.get("template_variables") or {}).items()},
            created_by=who)
    except (TypeError, AttributeError, ValueError) as exc:
        raise BroadcastError(f"malformed alert: {exc}") from None
    problems = validate(broadcast, set(catalog.languages), footers(catalog, config.alert_footer if config else True))
    if problems:
        raise BroadcastError("; ".join(problems))
    store.broadcasts.save(broadcast.to_dict())
    store.audit.record(who, "broadcast.create", broadcast=broadcast.id, audience=broadcast.audience.describe())
    return broadcast


def load(store: Store, broadcast_id: str) -> Broadcast:
    data = store.broadcasts.get(broadcast_id)
    if data is None:
        raise NotFound(f"no broadcast '{broadcast_id}'")
    return Broadcast.from_dict(data)


def preview(store: Store, catalog: Catalog, config: Config, broadcast_id: str) -> Plan:
    """Audience per language and channel, segments per message and in all, before anything is sent."""
    broadcast = load(store, broadcast_id)
    audience = broadcast.audience
    langs = audience.langs or tuple(catalog.languages)
    channels = audience.channels or ("sms", "whatsapp")
    ids = store.subscribers.audience(audience.langs, audience.channels, audience.tags)
    only = store.subscribers.counts(store.subscribers.whatsapp_only(ids), langs, ("whatsapp",))
    return plan(broadcast, store.subscribers.counts(ids, langs, channels), fold=config.sms_fold,
                whatsapp_only={lang: n for (lang, _), n in only.items() if n},
                footer_texts=footers(catalog, config.alert_footer))


def preview_report(store: Store, catalog: Catalog, config: Config, broadcast_id: str) -> dict:
    """The preview with the audience in words, so nobody sends to the wrong people by a typo."""
    broadcast = load(store, broadcast_id)
    the_plan = preview(store, catalog, config, broadcast_id)
    return {"id": broadcast_id, "status": broadcast.status, "audience": broadcast.audience.describe(),
            **the_plan.to_dict()}


def send(store: Store, catalog: Catalog, config: Config, broadcast_id: str, who: str) -> Plan:
    """Start sending now: the audience is frozen and cut into batches by a job on the broadcasts queue."""
    broadcast = load(store, broadcast_id)
    if broadcast.status not in ("draft", "scheduled"):
        raise BroadcastError(f"broadcast {broadcast_id} is {broadcast.status}: only a draft or scheduled one can be sent")
    the_plan = preview(store, catalog, config, broadcast_id)
    queue = _queue(store)
    if broadcast.status == "scheduled":
        unschedule_start(queue, broadcast_id)
    enqueue_start(queue, broadcast_id)
    store.audit.record(who, "broadcast.send", broadcast=broadcast_id, audience=broadcast.audience.describe(),
                       audience_size=the_plan.recipients, segments=the_plan.segments)
    return the_plan


def _queue(store: Store):
    return make_queue(BROADCASTS, store.broadcasts.r)


def schedule(store: Store, catalog: Catalog, config: Config, broadcast_id: str, at: str, tz: str | None,
             who: str) -> datetime:
    """Send at a local time in a time zone; the worker's scheduler starts it."""
    broadcast = load(store, broadcast_id)
    if broadcast.status != "draft":
        raise BroadcastError(f"broadcast {broadcast_id} is {broadcast.status}: only a draft can be scheduled")
    when = schedule_time(at, tz or broadcast.timezone)
    if when <= datetime.now(timezone.utc):
        raise BroadcastError(f"{at} ({tz or broadcast.timezone}) is in the past")
    store.broadcasts.save(replace(broadcast, send_at=when.isoformat(), status="scheduled").to_dict())
    schedule_start(_queue(store), broadcast_id, when)
    audience = preview(store, catalog, config, broadcast_id).recipients
    store.audit.record(who, "broadcast.schedule", broadcast=broadcast_id, send_at=when.isoformat(),
                       audience=broadcast.audience.describe(), audience_size=audience)
    return when


def cancel(store: Store, broadcast_id: str, who: str) -> dict:
    """Stop the rest: batches check the status before every message."""
    load(store, broadcast_id)
    changed = store.broadcasts.set_status(broadcast_id, "cancelled", only_from=("draft", "scheduled", "sending"))
    unschedule_start(_queue(store), broadcast_id)
    store.audit.record(who, "broadcast.cancel", broadcast=broadcast_id, changed=changed)
    return status(store, broadcast_id)


def status(store: Store, broadcast_id: str) -> dict:
    """Delivery figures from the sends and Twilio's status callbacks."""
    broadcast = load(store, broadcast_id)
    stats = store.broadcasts.stats(broadcast_id)
    errors = {k.split(":", 1)[1]: v for k, v in stats.items() if k.startswith("error:") and v}
    figures = {k: v for k, v in stats.items() if not k.startswith("error:") and v}
    return {"id": broadcast_id, "status": broadcast.status, "audience": broadcast.audience.describe(),
            "created_at": broadcast.created_at, "created_by": broadcast.created_by,
            "send_at": broadcast.send_at, "figures": figures, "failed_by_error": errors}


def summary(store: Store, broadcast_id: str) -> dict:
    """One line of the list of broadcasts."""
    report = status(store, broadcast_id)
    broadcast = load(store, broadcast_id)
    report["text"] = (broadcast.texts.get("es") or "")[:80]
    return report


@dataclass(frozen=True)
class ImportReport:
    imported: int          # new subscribers
    updated: int           # already subscribed: language, channel or tags brought up to date
    opted_out: int         # sent STOP: kept out (only their own START brings them back)


def import_subscribers(store: Store, result, who: str, source: str = "import", progress=None) -> ImportReport:
    """Store the valid rows of an import in one transaction and audit it. People who opted out stay
    out: an import never undoes a STOP. `progress(rows stored)` is called after each chunk."""
    outcomes: list[str] = []
    for start in range(0, len(result.rows), IMPORT_CHUNK):
        with store.unit() as uow:
            indexes = [store.subscribers.subscribe(uow, store.ref(row.address), row.address, row.channel, row.lang,
                                                   row.tags, source=source)
                       for row in result.rows[start:start + IMPORT_CHUNK]]
        outcomes += [_text(uow.results[i][0]) for i in indexes]
        if progress is not None:
            progress(len(outcomes))
    report = ImportReport(outcomes.count("subscribed"), outcomes.count("updated"), outcomes.count("opted_out"))
    store.audit.record(who, "subscribers.import", imported=report.imported, updated=report.updated,
                       kept_out_opted_out=report.opted_out, rejected=len(result.rejected),
                       duplicates_merged=result.duplicates_merged)
    return report


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def take_handoff(store: Store, handoff_id: str, who: str, force: bool = False) -> dict | None:
    """Assign it; from now on the person's messages go to its thread, not to the bot."""
    item = store.handoffs.take(handoff_id, who, force=force)
    if item is not None:
        if item.get("status") == "taken" and item.get("ref"):
            store.threads.start(handoff_id, item["ref"])
        store.audit.record(who, "handoff.take", handoff=handoff_id, forced=force)
    return item


def close_handoff(store: Store, handoff_id: str, who: str, retention_days: int = 30) -> dict | None:
    """Close it: the bot answers the person again; the thread's texts go after `retention_days`."""
    item = store.handoffs.close(handoff_id, who)
    if item is not None:
        if item.get("ref"):
            store.threads.end(handoff_id, item["ref"], retention_days)
        store.audit.record(who, "handoff.close", handoff=handoff_id)
    return item


def show_number(store: Store, handoff_id: str, who: str) -> str | None:
    """The number to call the person on, for an organizer who will call; always in the audit trail."""
    number = store.handoffs.address(handoff_id)
    store.audit.record(who, "handoff.show_number", handoff=handoff_id, shown=number is not None)
    return number


def forget_person(store: Store, ref: str, who: str) -> None:
    store.forget(ref)
    store.audit.record(who, "subscribers.forget")
