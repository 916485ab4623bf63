"""WhatsApp beyond plain text, the side that touches the store and the queues: lists and buttons sent
through the templates `derechos whatsapp sync` made, the alert template for people outside the
24-hour window, and what a status callback asks for afterwards (a message sent again after WhatsApp's
rate limit, an alert that falls back to SMS).

What a template is and what fills it is pure and lives in `interactive`; the texts an editor writes
are each language's `whatsapp.yml`; the Content API calls are in `twilio_gateway`. With no template
synced everything still works: WhatsApp gets the numbered text, as SMS does.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import redis
import yaml

from . import interactive
from .addresses import SMS, WHATSAPP, is_phone, on_channel
from .catalog import BASE_LANGS, DEFAULT_LANG, Catalog
from .errors import (OPTED_OUT, TEMPLATE_REFUSED_CATEGORY, TEMPLATE_REFUSED_COUNTRY, WHATSAPP_RATE_LIMIT,
                     SendError)
from .interactive import ALERT_CATEGORY, BUTTONS, Shape
from .messages import Reply

log = logging.getLogger(__name__)

TEXTS_FILE = "whatsapp.yml"
TEXT_KEYS = {"list_button", "alert"}
MAX_RESENDS = 3                   # after WhatsApp's rate limit (63018), then the message is given up
RESEND_DELAY_SECONDS = 30         # doubled at each attempt
UNUSABLE = {"rejected", "paused", "disabled"}   # approval states in which a template cannot send
# Buttons the conversation asks with (yes/no, "did you mean 1) ... or 2) ...?"): made for every
# language, whatever the menus hold, for a question of up to three lines.
BUTTON_SHAPES = tuple(Shape(BUTTONS, rows, lines) for rows in (2, 3) for lines in (1, 2, 3))
_LANG_RE = re.compile(r"^[a-z0-9-]{1,40}$")
_SETTING_RE = re.compile(r"(?<!\{)\{([a-z_]+)\}(?!\})")


# --- the texts editors write -----------------------------------------------------------------------

@dataclass(frozen=True)
class Texts:
    """One language's whatsapp.yml (or Spanish's, for a language that has none)."""

    lang: str
    list_button: str = ""
    alert: str = ""
    path: Path | None = None
    lines: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def texts_path(content_dir: Path, lang: str) -> Path:
    folder = Path(content_dir) / lang if lang in BASE_LANGS else Path(content_dir) / "indigenous" / lang
    return folder / TEXTS_FILE


def texts_for(content_dir: Path, lang: str) -> Texts:
    """The WhatsApp texts for someone reading `lang`: their language's file, else Spanish's."""
    for candidate in ((lang, DEFAULT_LANG) if lang != DEFAULT_LANG else (DEFAULT_LANG,)):
        if not _LANG_RE.match(candidate or ""):
            continue
        path = texts_path(content_dir, candidate)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            continue
        return _read(str(path), candidate, stamp)
    return Texts(DEFAULT_LANG)


@lru_cache(maxsize=64)
def _read(path: str, lang: str, _stamp: int) -> Texts:
    """Read a whatsapp.yml with the line of each key (cached until the file changes)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        node = yaml.compose(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
        return Texts(lang, path=Path(path), problems=(f"{path}:{line}: error: not readable YAML: {exc}",))
    values, lines, problems = {}, {}, []
    if node is not None and not isinstance(node, yaml.MappingNode):
        problems.append(f"{path}:1: error: whatsapp.yml must be 'name: text' lines")
        node = None
    for key_node, value_node in (node.value if node is not None else ()):
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key not in TEXT_KEYS:
            problems.append(f"{path}:{line}: warning: '{key}' is not read (known: {', '.join(sorted(TEXT_KEYS))})")
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            problems.append(f"{path}:{line}: error: '{key}' must be one text")
            continue
        values[key], lines[key] = " ".join(str(value_node.value).split()), line
    return Texts(lang, values.get("list_button", ""), values.get("alert", ""), Path(path), lines, tuple(problems))


def iso_lang(lang: str) -> str:
    """The language Twilio and WhatsApp are told (they know es and en, not our Indigenous slugs)."""
    return lang if lang in BASE_LANGS else DEFAULT_LANG


def fill_settings(text: str, catalog: Catalog, lang: str) -> str:
    """{org_name} and the other settings filled in; {{1}} (a template variable) left alone."""
    return _SETTING_RE.sub(lambda m: catalog.setting(m[1], lang) or m[0], text)


def check(catalog: Catalog, content_dir: Path) -> list[str]:
    """Every problem with the WhatsApp texts, with file and line (errors stop a sync)."""
    problems: list[str] = []
    seen = set()
    for lang in catalog.languages:
        texts = texts_for(content_dir, lang)
        if texts.path is None or texts.path in seen:
            continue
        seen.add(texts.path)
        problems += texts.problems
        where = lambda key: f"{texts.path}:{texts.lines.get(key, 1)}"  # noqa: E731
        if not texts.list_button:
            problems.append(f"{where('list_button')}: error: list_button is missing (the button that opens the menu list)")
        elif len(texts.list_button) > interactive.LIST_BUTTON_MAX:
            problems.append(f"{where('list_button')}: error: list_button is {len(texts.list_button)} characters; "
                            f"WhatsApp shows at most {interactive.LIST_BUTTON_MAX}")
        if texts.alert:
            filled = fill_settings(texts.alert, catalog, texts.lang)
            problems += [f"{where('alert')}: error: alert: {p}" for p in interactive.alert_problems(filled)]
    return problems


# --- what the content asks Twilio for --------------------------------------------------------------

@dataclass(frozen=True)
class Wanted:
    """One template as the content defines it now."""

    name: str
    definition: dict            # the Content API create request, settings filled
    source: str                 # fingerprint of what the worker can rebuild without the catalog
    category: str | None = None  # submitted for WhatsApp approval in this category (alerts)
    room: int = 0               # characters of alert text that fit


def _shapes(catalog: Catalog, lang: str) -> list[Shape]:
    from .conversation import menu_reply    # the menus exactly as the conversation builds them
    replies = [menu_reply(catalog, lang, *catalog.menu(lang))]
    replies += [menu_reply(catalog, lang, *catalog.section_menu(s.id, lang)) for s in catalog.sections]
    shapes = [s for s in (interactive.shape_of(r) for r in replies) if s is not None]
    return list(dict.fromkeys(shapes + list(BUTTON_SHAPES)))


def interactive_source(shape: Shape, texts: Texts) -> dict:
    """A list or buttons template as the worker rebuilds it from whatsapp.yml alone."""
    return interactive.interactive_definition(shape, texts.lang, iso_lang(texts.lang), texts.list_button)


def alert_source(texts: Texts) -> dict:
    return interactive.alert_definition(texts.lang, iso_lang(texts.lang), texts.alert)


def wanted_templates(catalog: Catalog, content_dir: Path) -> dict[str, Wanted]:
    """Every template the content asks for: per language with its own whatsapp.yml, each menu and
    question shape, and the alert template."""
    wanted: dict[str, Wanted] = {}
    for lang in catalog.languages:
        texts = texts_for(content_dir, lang)
        if not texts.list_button:
            continue
        for shape in _shapes(catalog, lang):
            source = interactive_source(shape, texts)
            definition = dict(source, types=_filled(source["types"], catalog, texts.lang))
            wanted.setdefault(source["friendly_name"], Wanted(source["friendly_name"], definition,
                                                              interactive.fingerprint(source)))
        if texts.alert:
            source = alert_source(texts)
            filled = fill_settings(texts.alert, catalog, texts.lang)
            definition = dict(source, types={"twilio/text": {"body": filled}})
            wanted.setdefault(source["friendly_name"], Wanted(source["friendly_name"], definition,
                                                              interactive.fingerprint(source), ALERT_CATEGORY,
                                                              interactive.alert_room(filled)))
    return wanted


def _filled(types: dict, catalog: Catalog, lang: str) -> dict:
    if isinstance(types, dict):
        return {k: _filled(v, catalog, lang) for k, v in types.items()}
    if isinstance(types, list):
        return [_filled(v, catalog, lang) for v in types]
    return fill_settings(types, catalog, lang) if isinstance(types, str) else types


@dataclass(frozen=True)
class SyncLine:
    name: str
    action: str                 # created | updated | replaced | unchanged | removed | would create ...
    sid: str = ""
    status: str = ""


def sync(runtime, catalog: Catalog, client=None, dry_run: bool = False) -> list[SyncLine]:
    """Create or update at Twilio every template the content asks for, keep their SIDs, submit the
    alert templates for approval, and remove the ones the content no longer asks for."""
    store = runtime.store
    wanted = wanted_templates(catalog, runtime.config.content_dir)
    known = store.templates.all()
    lines = []
    for name, item in sorted(wanted.items()):
        record = known.get(name)
        fp = interactive.fingerprint(item.definition)
        if dry_run:
            action = "unchanged" if record and record.get("fingerprint") == fp else (
                "would update" if record else "would create")
            lines.append(SyncLine(name, action, (record or {}).get("sid", ""), (record or {}).get("status", "")))
            continue
        sid, status = (record or {}).get("sid", ""), (record or {}).get("status", "")
        if record and record.get("fingerprint") == fp:
            action = "unchanged"
        elif record:
            try:
                sid = client.update(sid, item.definition)
                action = "updated"
            except SendError:   # Twilio would not change it (approved, or gone): make a new one
                old = sid
                sid = client.create(item.definition)
                _delete_quietly(client, old)
                action = "replaced"
            status = ""
        else:
            sid, action = client.create(item.definition), "created"
        if item.category:
            if not status or action != "unchanged":
                status = client.request_approval(sid, name, item.category)
            else:
                status = client.approval_status(sid) or status
        store.templates.save(name, sid, fp, status, source=item.source, room=str(item.room))
        lines.append(SyncLine(name, action, sid, status))
    for name, record in sorted(known.items()):
        if name not in wanted and name.startswith(interactive.NAME_PREFIX):
            if not dry_run:
                _delete_quietly(client, record.get("sid", ""))
                store.templates.remove(name)
            lines.append(SyncLine(name, "would remove" if dry_run else "removed", record.get("sid", "")))
    return lines


def _delete_quietly(client, sid: str) -> None:
    try:
        if sid:
            client.delete(sid)
    except SendError as exc:
        log.warning("could not delete an old template at Twilio: %s", exc)


# --- sending ----------------------------------------------------------------------------------------

def _template(runtime, name: str, source: dict) -> dict | None:
    """The synced template of this name, if it was made from the definition the content gives now."""
    record = runtime.store.templates.get(name)
    if not record or record.get("source") != interactive.fingerprint(source) or not record.get("sid"):
        return None
    if record.get("status") in UNUSABLE:
        return None
    return record


def as_interactive(runtime, out, reply: Reply) -> Reply:
    """A reply with choices, to someone on WhatsApp inside the 24-hour window, as the list picker or
    quick-reply template synced for its shape; anything else (SMS, no template, a shape WhatsApp
    cannot show) goes as it is, the numbered text."""
    if out.channel != WHATSAPP or not reply.choices or reply.content_sid or reply.media_url:
        return reply
    shape = interactive.shape_of(reply)
    if shape is None:
        return reply
    texts = texts_for(runtime.config.content_dir, getattr(out, "lang", "") or DEFAULT_LANG)
    if not texts.list_button:
        return reply
    source = interactive_source(shape, texts)
    record = _template(runtime, source["friendly_name"], source)
    if record is None or not runtime.store.people.in_window(out.ref):
        return reply    # a list or buttons cannot open a conversation: outside the window, text
    return replace(reply, content_sid=record["sid"], content_variables=interactive.content_variables(reply, shape))


def alert_reply(runtime, lang: str, text: str) -> Reply | None:
    """An alert as the approved alert template of the reader's language, or None when there is none
    (or the text is too long for it)."""
    texts = texts_for(runtime.config.content_dir, lang or DEFAULT_LANG)
    if not texts.alert:
        return None
    source = alert_source(texts)
    record = _template(runtime, source["friendly_name"], source)
    # A template's variable may not hold line breaks or long runs of spaces: one line it is.
    value = " ".join(text.split())
    if record is None or len(value) > int(record.get("room") or interactive.alert_room(texts.alert)):
        return None
    return Reply(body=text, content_sid=record["sid"], content_variables={"1": value})


# --- after a send: what a status callback may ask for ---------------------------------------------

_ATTEMPT_RE = re.compile(r"^(.*):r(\d+)$")


def base_and_attempt(send_id: str) -> tuple[str, int]:
    """A send's id without its resend number, and that number (0: the first send).

    >>> base_and_attempt("bc:abc:7"), base_and_attempt("bc:abc:7:r2")
    (('bc:abc:7', 0), ('bc:abc:7', 2))
    """
    match = _ATTEMPT_RE.match(send_id)
    return (match[1], int(match[2])) if match else (send_id, 0)


def resend_record(runtime, out, reply: Reply) -> dict:
    """A send's plain data, to send it again (the address sealed to the person's ref)."""
    attempt = base_and_attempt(out.send_id)[1]
    return {"id": out.send_id, "ref": out.ref,
            "to": runtime.vault.encrypt(out.address, context="addr:" + out.ref), "channel": out.channel,
            "reply": reply.to_dict(), "kind": out.kind, "broadcast": out.broadcast or "",
            "lang": getattr(out, "lang", "") or "", "attempt": attempt}


def keep_for_resend(runtime, out, reply: Reply, sid: str) -> None:
    """Remember a WhatsApp message for a few hours, for a failure Twilio reports later."""
    if out.channel == WHATSAPP and not runtime.sender.dry_run and out.kind != "delete":
        runtime.store.resends.keep(sid, resend_record(runtime, out, reply))


def reason_for(code: int | None) -> str | None:
    """Why WhatsApp refused a template, when SMS can stand in: its category, or the country."""
    if code in TEMPLATE_REFUSED_CATEGORY:
        return "category"
    if code in TEMPLATE_REFUSED_COUNTRY:
        return "country"
    return None


def on_status(runtime, sid: str, status: str, error: str | None, to: str | None) -> str:
    """A status callback: record it (never moving backwards), and act on what it reports."""
    store = runtime.store
    code = int(error) if error and error.isascii() and error.isdigit() else None
    moved = store.deliveries.record_status(sid, status, error if code is not None else None)
    if status not in _STATUSES:
        log.info("status callback with a status we do not know (%s): accepted, nothing changed",
                 "".join(c for c in status[:20] if c.isascii() and (c.isalnum() or c in "-_")))
        return "unknown status"
    if code == OPTED_OUT and to:
        store.opt_out_now(store.ref(to))
        return "opted out"
    if not moved or status not in ("failed", "undelivered") or code is None:
        return "recorded"       # a repeated or late callback acts once
    try:
        if code == WHATSAPP_RATE_LIMIT:
            return _retry_later(runtime, sid)
        reason = reason_for(code)
        if reason:
            record = store.resends.take(sid)
            if record and record.get("reply", {}).get("content_sid") and record.get("broadcast"):
                return fall_back(runtime, record, reason, queue=True)
    except redis.RedisError:
        raise               # storage away: Twilio will post again
    except Exception:       # recorded already; what follows must not turn into a 5xx for Twilio
        log.exception("could not act on a status callback (%s, error %s)", status, code)
        return "recorded, not acted on"
    return "recorded"


_STATUSES = {"accepted", "scheduled", "queued", "sending", "sent", "receiving", "received", "delivered",
             "undelivered", "failed", "canceled", "read", "partially_delivered"}


def _retry_later(runtime, sid: str) -> str:
    """WhatsApp's rate limit: slow the WhatsApp sender down and send that message again later."""
    from .jobs import BROADCASTS, REPLIES, enqueue_resend
    store = runtime.store
    store.limits.slow_down(WHATSAPP)
    store.metrics.count("whatsapp_rate_limited")
    record = store.resends.take(sid)
    if record is None:
        return "rate limited (nothing to send again)"
    base, attempt = base_and_attempt(record["id"])
    attempt += 1
    if attempt > MAX_RESENDS:
        store.metrics.count("whatsapp_rate_limited_gave_up")
        return "rate limited (given up)"
    record = dict(record, id=f"{base}:r{attempt}", attempt=attempt)
    if record.get("broadcast"):
        store.broadcasts.bump(record["broadcast"], "whatsapp_rate_limited_resent")
    queue = runtime.queue(BROADCASTS if record.get("broadcast") else REPLIES)
    enqueue_resend(queue, record, delay=timedelta(seconds=RESEND_DELAY_SECONDS * 2 ** (attempt - 1)))
    return f"rate limited: sending again (attempt {attempt})"


def fall_back(runtime, record: dict, reason: str, owner: str = "local", queue: bool = False) -> str:
    """WhatsApp would not take an alert's template (its category, or the person's country): send the
    alert by SMS when the person has a number; counted by reason in the broadcast's figures."""
    from .jobs import BROADCASTS, enqueue_resend
    store, broadcast = runtime.store, record.get("broadcast") or ""
    bump = (lambda what: store.broadcasts.bump(broadcast, what)) if broadcast else (lambda what: None)
    bump(f"whatsapp_refused:{reason}")
    try:
        address = runtime.vault.decrypt(record["to"], context="addr:" + record["ref"])
    except (KeyError, ValueError):
        address = ""
    phone = address if address and is_phone(address) else (store.links.phone_of(record["ref"]) or "")
    if not phone:
        bump(f"no_sms_fallback:{reason}")      # known only by a WhatsApp user id: no SMS to send
        store.metrics.count(f"no_sms_fallback:{reason}")
        return "no SMS fallback: no number"
    text = record.get("reply", {}).get("body") or ""
    sms_record = {"id": f"{base_and_attempt(record['id'])[0]}:sms", "ref": record["ref"],
                  "to": runtime.vault.encrypt(on_channel(phone, SMS), context="addr:" + record["ref"]),
                  "channel": SMS, "reply": Reply(text).to_dict(), "kind": record.get("kind") or "broadcast",
                  "broadcast": broadcast, "lang": record.get("lang", ""), "attempt": 0,
                  "counts_as": f"sms_fallback:{reason}"}
    store.metrics.count(f"sms_fallback:{reason}")
    if not queue:
        try:
            return resend(runtime, sms_record, owner)
        except SendError as exc:
            if not exc.retry:
                bump(f"sms_fallback_failed:{exc.code or 'unknown'}")
                return "SMS fallback failed"
            # Twilio busy: the queue will try again, with the usual backoff.
    enqueue_resend(runtime.queue(BROADCASTS), sms_record)
    return f"falling back to SMS ({reason})"


def resend(runtime, record: dict, owner: str = "local") -> str:
    """Send a kept message again (after WhatsApp's rate limit), or its SMS fallback, once."""
    from .delivery import Outgoing, YieldToReplies, send_once
    from .jobs import BROADCASTS, enqueue_resend
    store = runtime.store
    try:
        address = runtime.vault.decrypt(record["to"], context="addr:" + record["ref"])
    except ValueError:
        store.metrics.count("send_undecryptable")
        return "skipped: the address cannot be opened"
    out = Outgoing(record["id"], record["ref"], address, record["channel"], Reply.from_dict(record["reply"]),
                   record.get("kind") or "reply", record.get("broadcast") or None, lang=record.get("lang", ""))
    try:
        result = send_once(runtime, out, owner)
    except YieldToReplies:
        enqueue_resend(runtime.queue(BROADCASTS), record, at_front=True)
        return "continued after the replies"
    if record.get("counts_as") and out.broadcast and not result.startswith("skipped"):
        store.broadcasts.bump(out.broadcast, record["counts_as"])
    return result

