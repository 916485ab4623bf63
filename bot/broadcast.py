"""Broadcast alerts, pure: what an alert is, how it reads in each language, and what it will cost.

No Redis, RQ or Twilio here; the broadcast store and jobs carry it out.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime, format_time

from . import sms
from .catalog import BASE_LANGS, DEFAULT_LANG
from .messages import SMS, WHATSAPP

STATUSES = ("draft", "scheduled", "sending", "sent", "cancelled")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
DATE_PLACEHOLDERS = ("{date}", "{time}", "{datetime}")


class BroadcastError(ValueError):
    """An alert that cannot be sent as written; the message says what to fix."""


@dataclass(frozen=True)
class Audience:
    """Who gets an alert: subscribers in any of `langs`, on any of `channels`, with every tag in `tags`.

    An empty field means no restriction.
    """

    langs: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"languages {', '.join(self.langs)}" if self.langs else "every language",
                 f"channels {', '.join(self.channels)}" if self.channels else "SMS and WhatsApp"]
        if self.tags:
            parts.append(f"tags {' + '.join(self.tags)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Broadcast:
    """An alert: text per language (Spanish required), audience, optional schedule and template."""

    texts: dict[str, str]
    audience: Audience = field(default_factory=Audience)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    audio: dict[str, str] = field(default_factory=dict)        # lang -> https URL, sent as media on WhatsApp
    when: str | None = None                  # the event date the text names as {date} / {time}, ISO 8601
    timezone: str = "America/Chicago"        # for `when` and the schedule
    send_at: str | None = None               # ISO 8601 UTC, when scheduled
    template_sid: str | None = None          # WhatsApp template for people outside the 24 h window
    template_variables: dict[str, str] = field(default_factory=dict)
    created_by: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    status: str = "draft"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["audience"] = asdict(self.audience)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Broadcast":
        data = dict(data)
        audience = data.pop("audience", None) or {}
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(audience=Audience(**{k: tuple(v) for k, v in audience.items()}), **known)


def validate(broadcast: Broadcast, languages: set[str], footer_texts: dict[str, str] | None = None) -> list[str]:
    """Every problem with an alert, so an organizer fixes them in one go."""
    problems = []
    if not (broadcast.texts.get(DEFAULT_LANG) or "").strip():
        problems.append("a Spanish text (es) is required: it is what every language falls back to")
    for lang, text in broadcast.texts.items():
        footer = (footer_texts or {}).get(lang) or (footer_texts or {}).get(DEFAULT_LANG) or ""
        length = len(text) + (len(footer) + 1 if footer else 0)
        if lang not in languages:
            problems.append(f"unknown language '{lang}'")
        elif length > sms.TWILIO_BODY_LIMIT:
            problems.append(f"the {lang} text is {length} characters{' with its footer' if footer else ''}; "
                            f"Twilio's limit is {sms.TWILIO_BODY_LIMIT}")
        for name in re.findall(r"\{([a-z_]+)\}", text):
            if "{" + name + "}" not in DATE_PLACEHOLDERS:
                problems.append(f"unknown placeholder {{{name}}} in the {lang} text (known: date, time, datetime)")
            elif not broadcast.when:
                problems.append(f"the {lang} text uses {{{name}}} but the alert has no date (when)")
    for lang in broadcast.audience.langs:
        if lang not in languages:
            problems.append(f"unknown audience language '{lang}'")
    for channel in broadcast.audience.channels:
        if channel not in (SMS, WHATSAPP):
            problems.append(f"unknown channel '{channel}' (sms or whatsapp)")
    for tag in broadcast.audience.tags:
        if not TAG_RE.match(tag):
            problems.append(f"tag '{tag}': lowercase letters, digits and - only")
    for lang, url in broadcast.audio.items():
        if not url.startswith("https://"):
            problems.append(f"audio for {lang} must be an https URL")
    try:
        zone(broadcast.timezone)
    except BroadcastError as exc:
        problems.append(str(exc))
    if broadcast.when:
        try:
            parse_when(broadcast.when, broadcast.timezone)
        except BroadcastError as exc:
            problems.append(str(exc))
    if broadcast.template_sid and not re.fullmatch(r"HX[0-9a-fA-F]{32}", broadcast.template_sid):
        problems.append("template_sid must be a Twilio Content SID (HX followed by 32 hex digits)")
    return problems


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BroadcastError(f"unknown time zone '{name}' (e.g. America/Chicago, America/Mexico_City)") from None


def parse_when(value: str, tz: str) -> datetime | date:
    """An ISO date or date-time; a naive date-time is read in the alert's time zone."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BroadcastError(f"'{value}' is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DD HH:MM)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone(tz))


def schedule_time(value: str, tz: str) -> datetime:
    """When to send, in UTC, from a local date-time in the alert's time zone."""
    moment = parse_when(value, tz)
    if not isinstance(moment, datetime):
        raise BroadcastError("a schedule needs a time: YYYY-MM-DD HH:MM")
    return moment.astimezone(timezone.utc)


def babel_locale(lang: str) -> str:
    """Babel has no data for most Indigenous languages: their dates read as in Spanish."""
    return lang if lang in BASE_LANGS else DEFAULT_LANG


def footers(catalog, enabled: bool = True) -> dict[str, str]:
    """The line every alert ends with, per language: the program's name and how to stop (CTIA asks a
    recurring alert program to say both), from each language's system.yml `alert_footer`."""
    if not enabled:
        return {}
    return {lang: texts["alert_footer"] for lang, texts in catalog.system.items() if texts.get("alert_footer")}


def text_for(broadcast: Broadcast, lang: str, footer_texts: dict[str, str] | None = None) -> tuple[str, str]:
    """The alert's text for someone reading `lang`, with the footer in the same language, and the
    language it is actually in."""
    used = lang if (broadcast.texts.get(lang) or "").strip() else DEFAULT_LANG
    text = _dated(broadcast, broadcast.texts[used], used)
    footer = (footer_texts or {}).get(used) or (footer_texts or {}).get(DEFAULT_LANG)
    if footer and footer not in text:
        text = f"{text.rstrip()}\n{footer}"
    return text, used


def _dated(broadcast: Broadcast, text: str, used: str) -> str:
    if broadcast.when and any(p in text for p in DATE_PLACEHOLDERS):
        moment = parse_when(broadcast.when, broadcast.timezone)
        locale = babel_locale(used)
        text = text.replace("{date}", format_date(moment, format="long", locale=locale))
        if isinstance(moment, datetime):
            local = moment.astimezone(zone(broadcast.timezone))
            text = text.replace("{time}", format_time(local, format="short", locale=locale, tzinfo=local.tzinfo))
            text = text.replace("{datetime}", format_datetime(local, format="long", locale=locale,
                                                              tzinfo=local.tzinfo))
    return text


@dataclass(frozen=True)
class PlanRow:
    lang: str
    channel: str
    recipients: int
    text_lang: str          # the language the text is in (Spanish when it falls back)
    encoding: str
    segments: int           # per message
    total_segments: int
    template: bool = False  # WhatsApp recipients outside the 24 h window get the template
    whatsapp_only: int = 0  # of them, known only by a WhatsApp user id: no SMS can stand in for WhatsApp


@dataclass(frozen=True)
class Plan:
    """What sending would do: recipients and segments per language and channel."""

    rows: tuple[PlanRow, ...]

    @property
    def recipients(self) -> int:
        return sum(r.recipients for r in self.rows)

    @property
    def segments(self) -> int:
        return sum(r.total_segments for r in self.rows)

    @property
    def whatsapp_only(self) -> int:
        return sum(r.whatsapp_only for r in self.rows)

    def to_dict(self) -> dict:
        return {"recipients": self.recipients, "segments": self.segments, "whatsapp_only": self.whatsapp_only,
                "rows": [asdict(r) for r in self.rows]}

    def lines(self) -> list[str]:
        out = [f"{'language':<10} {'channel':<9} {'people':>8} {'text':<5} {'encoding':<8} {'seg/msg':>7} {'segments':>9}"]
        for r in self.rows:
            out.append(f"{r.lang:<10} {r.channel:<9} {r.recipients:>8} {r.text_lang:<5} {r.encoding:<8} "
                       f"{r.segments:>7} {r.total_segments:>9}")
        out.append(f"{'total':<10} {'':<9} {self.recipients:>8} {'':<5} {'':<8} {'':>7} {self.segments:>9}")
        if self.whatsapp_only:
            out.append(f"of the WhatsApp people, {self.whatsapp_only} are known only by a WhatsApp username "
                       "(user id): reached on WhatsApp only, never by SMS")
        return out


def plan(broadcast: Broadcast, counts: dict[tuple[str, str], int], fold: bool = True,
         whatsapp_only: dict[str, int] | None = None, footer_texts: dict[str, str] | None = None) -> Plan:
    """Recipients per (language, channel) -> segments per message and in all (the cost), footer included;
    `whatsapp_only` counts, per language, the WhatsApp recipients known only by a user id."""
    rows = []
    whatsapp_only = whatsapp_only or {}
    for (lang, channel), recipients in sorted(counts.items()):
        if not recipients:
            continue
        text, used = text_for(broadcast, lang, footer_texts)
        info = sms.segment_info(sms.render(text, channel, fold=fold))
        rows.append(PlanRow(lang, channel, recipients, used, info.encoding, info.segments,
                            info.segments * recipients, template=channel == WHATSAPP and bool(broadcast.template_sid),
                            whatsapp_only=whatsapp_only.get(lang, 0) if channel == WHATSAPP else 0))
    return Plan(tuple(rows))
