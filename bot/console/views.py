"""The console's pages. A view turns the request into a call of the same organizer actions the CLI
and the API use (bot/organizer.py, bot/conversations.py, bot/accounts.py) and renders the result;
nothing here knows a Redis key."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import wraps
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_babel import get_locale, gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError

from .. import accounts, conversations, organizer
from ..broadcast import STATUSES, BroadcastError, text_for
from ..catalog import coverage
from ..importer import parse_number
from ..jobs import BROADCASTS, REPLIES
from ..preview import phone_view
from ..privacy import redact
from ..store.handoffs import HandoffTaken
from . import UI_LANGUAGES, ConsoleUser, csrf
from .charts import hbar, stacked_columns

console_bp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                       static_url_path="/static")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
TIMEZONES = ("America/Chicago", "America/New_York", "America/Denver", "America/Phoenix", "America/Los_Angeles",
             "America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico", "America/Mexico_City",
             "America/Tijuana", "America/Monterrey", "America/Cancun", "America/Guatemala",
             "America/El_Salvador", "America/Tegucigalpa", "UTC")
CHANNELS = ("sms", "whatsapp")


def N_(text: str) -> str:
    """Marks a word for the translators; it is translated where it is shown."""
    return text


# Words the templates translate from data: statuses, roles, import states, delivery states, thread notes.
WORDS = (N_("draft"), N_("scheduled"), N_("sending"), N_("sent"), N_("cancelled"), N_("open"), N_("taken"),
         N_("closed"), N_("viewer"), N_("organizer"), N_("admin"), N_("queued"), N_("reading"), N_("storing"),
         N_("done"), N_("failed"), N_("refused"), N_("delivered"), N_("undelivered"), N_("read"), N_("retrying"),
         N_("accepted"), N_("skipped_opted_out"), N_("skipped_unsubscribed"), N_("skipped_outside_window"),
         N_("skipped_duplicate"), N_("failed_batches"),
         # conversations.CARRIER_NOTES, as the thread shows them (a test keeps the two the same)
         N_("The person sent STOP: the bot confirmed it, and no reply can reach them now."),
         N_("The person asked for HELP: the bot sent its help text."),
         N_("The person sent START: the bot confirmed they are subscribed again."),
         N_("The person asked to delete their data: the conversation is deleted."))
DONE_STATUSES = ("sent", "delivered", "undelivered", "failed", "read", "queued", "sending", "accepted")


def _runtime():
    return current_app.extensions["derechos"]


def _store():
    return _runtime().store


def who() -> str:
    return current_user.name


# --- every request -------------------------------------------------------------------------------

@console_bp.before_request
def before():
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()              # every form of the console carries the token; a 400 otherwise
    if current_user.is_authenticated:
        idle = _runtime().config.console_idle_minutes * 60
        seen = session.get("seen", 0)
        now = int(time.time())
        if seen and now - seen > idle:
            logout_user()
            session.clear()
            flash(_("You were signed out after %(n)s minutes without activity.", n=idle // 60), "info")
            return redirect(url_for("console.login"))
        session.permanent = True
        session["seen"] = now


@console_bp.after_request
def security_headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@console_bp.errorhandler(CSRFError)
def csrf_refused(exc):
    return render_template("console/error.html", title=_("Form expired"),
                           message=_("The form was refused (its security token is missing or expired). "
                                     "Go back, reload the page and try again.")), 400


@console_bp.errorhandler(403)
def forbidden(exc):
    return render_template("console/error.html", title=_("Not allowed"),
                           message=_("Your role does not allow this. Ask an admin if you need it.")), 403


@console_bp.errorhandler(404)
def not_found(exc):
    return render_template("console/error.html", title=_("Not found"),
                           message=_("There is nothing here (it may have been deleted or expired).")), 404


@console_bp.app_context_processor
def inject():
    return {"ui_languages": UI_LANGUAGES, "get_locale": get_locale}


def needs(action: str):
    """The view needs a signed-in organizer whose role may do `action` (bot/accounts.py)."""
    def wrap(view):
        @wraps(view)
        @login_required
        def inner(*args, **kwargs):
            if not current_user.can(action):
                abort(403)
            return view(*args, **kwargs)
        return inner
    return wrap


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console/") and not urlsplit(target).netloc and "//" not in target:
        return target
    return url_for("console.dashboard")


# --- signing in ----------------------------------------------------------------------------------

@console_bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("console.dashboard"))
    error, status = None, 200
    email = ""
    if request.method == "POST":
        email = (request.form.get("email") or "").strip().lower()[:200]
        account, wait = accounts.sign_in(_store(), email, request.form.get("password") or "",
                                         request.remote_addr or "unknown")
        if account is not None:
            session.clear()
            login_user(ConsoleUser(account))
            session["seen"] = int(time.time())
            return redirect(_safe_next(request.args.get("next")))
        if wait:
            error, status = _("Too many attempts. Try again in %(n)s minutes.", n=max(1, (wait + 59) // 60)), 429
        else:
            error, status = _("The email or the password is wrong."), 401
    return render_template("console/login.html", error=error, email=email), status


@console_bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        _store().audit.record(who(), "console.logout")
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("console.login"))


@console_bp.post("/language")
def language():
    lang = request.form.get("lang")
    if lang in UI_LANGUAGES:
        session["lang"] = lang
        if current_user.is_authenticated:
            _store().organizers.update(current_user.account.email, lang=lang)
    return redirect(_safe_next(request.form.get("next")))


# --- dashboard -----------------------------------------------------------------------------------

@console_bp.get("/")
@needs("view")
def dashboard():
    runtime = _runtime()
    store = runtime.store
    days = store.metrics.days(7)
    names = list(days)
    rows = [{"day": d, "inbound": v.get("inbound", 0), "sent": v.get("sent", 0), "opt_out": v.get("opt_out", 0),
             "handoff": v.get("handoff", 0) + v.get("interpreter", 0), "rate_limited": v.get("rate_limited", 0)}
            for d, v in days.items()]
    topics: dict[tuple[str, str], int] = {}
    langs: set[str] = set()
    by_topic: dict[str, int] = {}
    topic_ids = set(runtime.content.get().catalog.topic_ids)
    for day, figures in days.items():
        for name, n in figures.items():
            if not name.startswith("intent:"):
                continue
            _kind, intent, lang = (name.split(":", 2) + [""])[:3]
            if intent not in topic_ids:
                continue
            topics[(day[5:], lang)] = topics.get((day[5:], lang), 0) + n
            by_topic[f"{intent} · {lang}"] = by_topic.get(f"{intent} · {lang}", 0) + n
            langs.add(lang)
    series = sorted(langs, key=lambda x: (x != "es", x != "en", x))
    chart = stacked_columns(_("Questions about topics per day, by language"), [d[5:] for d in names], series, topics)
    top_topics = sorted(by_topic.items(), key=lambda kv: -kv[1])[:10]
    waiting = store.handoffs.list(status="open", last=200)
    queues = {}
    for name in (REPLIES, BROADCASTS):
        queue = runtime.queue(name)
        queues[name] = {"queued": queue.count, "failed": queue.failed_job_registry.count}
    return render_template("console/dashboard.html", rows=rows, today=rows[-1], chart=chart, top_topics=top_topics,
                           topic_chart=hbar(_("Topics asked about in the last 7 days"), top_topics) if top_topics else None,
                           waiting=len(waiting), queues=queues, config=runtime.config,
                           replies_this_hour=store.limits.replies_this_hour(),
                           degraded=runtime.degraded_since, degraded_count=runtime.degraded_count)


# --- alerts --------------------------------------------------------------------------------------

@console_bp.get("/alerts")
@needs("view")
def alerts():
    store = _store()
    status = request.args.get("status") or ""
    rows = [organizer.summary(store, i) for i in store.broadcasts.ids(100)]
    if status in STATUSES:
        rows = [r for r in rows if r["status"] == status]
    return render_template("console/alerts.html", rows=rows, status=status, statuses=STATUSES)


def _audience_from(form) -> dict:
    return {"langs": [x for x in form.getlist("langs") if x], "channels": [x for x in form.getlist("channels") if x],
            "tags": [x.strip().lower() for x in form.getlist("tags") if x.strip()]}


def _texts_from(form, languages) -> dict[str, str]:
    return {lang: form.get(f"text_{lang}", "").strip() for lang in languages if form.get(f"text_{lang}", "").strip()}


def _previews(texts: dict[str, str], when: str | None, tz: str) -> dict[str, list]:
    """Per language: what an SMS and a WhatsApp phone show, as `derechos content preview` does."""
    from ..broadcast import Broadcast
    fold = _runtime().config.sms_fold
    out = {}
    for lang, text in texts.items():
        try:
            shown, _used = text_for(Broadcast(texts={"es": texts.get("es") or text, **texts}, when=when or None,
                                                  timezone=tz), lang)
        except BroadcastError:
            shown = text
        out[lang] = [phone_view(shown, channel, lang, fold=fold) for channel in CHANNELS]
    return out


@console_bp.route("/alerts/new", methods=["GET", "POST"])
@needs("send")
def new_alert():
    runtime = _runtime()
    store = runtime.store
    catalog = runtime.content.get().catalog
    languages = sorted(catalog.languages, key=lambda x: (x != "es", x != "en", x))
    form = request.form if request.method == "POST" else request.args
    audience = _audience_from(form)
    texts = _texts_from(form, languages)
    when = (form.get("when") or "").strip()
    tz = form.get("timezone") or "America/Chicago"
    template_sid = (form.get("template_sid") or "").strip()
    problems = []
    if request.method == "POST" and form.get("action") == "create":
        data = {"texts": texts, "audience": audience, "when": when or None, "timezone": tz,
                "template_sid": template_sid or None,
                "template_variables": {"1": (form.get("template_var") or "").strip()} if template_sid else {}}
        try:
            created = organizer.new_broadcast(store, catalog, data, who())
        except BroadcastError as exc:
            problems = str(exc).split("; ")
        else:
            return redirect(url_for("console.alert", broadcast_id=created.id))
    count = store.subscribers.count(audience["langs"], audience["channels"], audience["tags"])
    return render_template("console/alert_new.html", languages=languages, catalog=catalog, audience=audience,
                           texts=texts, when=when, tz=tz, timezones=TIMEZONES, template_sid=template_sid,
                           template_var=form.get("template_var") or "", count=count, problems=problems,
                           tags=store.subscribers.tags(), previews=_previews(texts, when, tz),
                           channels=CHANNELS), (400 if problems else 200)


@console_bp.get("/alerts/count")
@needs("send")
def alert_count():
    audience = _audience_from(request.args)
    count = _store().subscribers.count(audience["langs"], audience["channels"], audience["tags"])
    return render_template("console/_count.html", count=count)


@console_bp.post("/alerts/preview")
@needs("send")
def alert_preview():
    lang = request.form.get("lang") or "es"
    if lang not in _runtime().content.get().catalog.languages:
        abort(404)
    text = (request.form.get("text") or "")[:1600]
    previews = _previews({lang: text}, request.form.get("when") or None,
                         request.form.get("timezone") or "America/Chicago") if text.strip() else {}
    return render_template("console/_preview.html", lang=lang, views=previews.get(lang, []))


def _cost(segments: int) -> float:
    return round(segments * _runtime().config.price_per_segment, 2)


def _figures(broadcast_id: str) -> dict:
    store = _store()
    report = organizer.status(store, broadcast_id)
    figures = report["figures"]
    audience = figures.get("audience", 0)
    done = sum(v for k, v in figures.items() if k in DONE_STATUSES or k.startswith(("skipped_", "failed_at_send")))
    done -= figures.get("skipped_outside_window", 0) if any(k.startswith("failed_at_send:63016") for k in figures) else 0
    percent = 100 if report["status"] == "sent" else (min(100, int(100 * done / audience)) if audience else 0)
    status_rows = [(k, v) for k, v in sorted(figures.items(), key=lambda kv: -kv[1]) if k != "audience"]
    error_rows = [(code, n) for code, n in sorted(report["failed_by_error"].items(), key=lambda kv: -kv[1])]
    return {"report": report, "audience": audience, "done": min(done, audience) if audience else done,
            "percent": percent, "status_rows": status_rows, "error_rows": error_rows,
            "finished": report["status"] in ("sent", "cancelled")}


@console_bp.get("/alerts/<broadcast_id>")
@needs("view")
def alert(broadcast_id: str):
    runtime = _runtime()
    store = runtime.store
    catalog = runtime.content.get().catalog
    try:
        broadcast = organizer.load(store, broadcast_id)
    except organizer.NotFound:
        abort(404)
    plan = organizer.preview(store, catalog, runtime.config, broadcast_id) if broadcast.status in ("draft", "scheduled") \
        else None
    figures = _figures(broadcast_id)
    # Sent, but the worker has not picked up the start yet: show the progress from 0 already.
    starting = broadcast.status == "draft" and runtime.queue(BROADCASTS).fetch_job(f"start-{broadcast_id}") is not None
    charts = {}
    if figures["status_rows"]:
        charts["status"] = hbar(_("Messages by delivery status"), figures["status_rows"])
    if figures["error_rows"]:
        charts["errors"] = hbar(_("Failures by Twilio error code"), [(str(c), n) for c, n in figures["error_rows"]])
    return render_template("console/alert.html", broadcast=broadcast, plan=plan, f=figures, charts=charts,
                           starting=starting,
                           cost=_cost(plan.segments) if plan else None, config=runtime.config,
                           timezones=TIMEZONES, previews=_previews(broadcast.texts, broadcast.when, broadcast.timezone))


@console_bp.get("/alerts/<broadcast_id>/progress")
@needs("view")
def alert_progress(broadcast_id: str):
    try:
        organizer.load(_store(), broadcast_id)
    except organizer.NotFound:
        abort(404)
    return render_template("console/_progress.html", f=_figures(broadcast_id), broadcast_id=broadcast_id)


@console_bp.post("/alerts/<broadcast_id>/confirm")
@needs("send")
def alert_confirm(broadcast_id: str):
    runtime = _runtime()
    store = runtime.store
    try:
        broadcast = organizer.load(store, broadcast_id)
    except organizer.NotFound:
        abort(404)
    mode = "schedule" if request.form.get("mode") == "schedule" else "now"
    at = (request.form.get("at") or "").replace("T", " ").strip()
    tz = request.form.get("timezone") or broadcast.timezone
    plan = organizer.preview(store, runtime.content.get().catalog, runtime.config, broadcast_id)
    problem = None
    if mode == "schedule":
        from ..broadcast import schedule_time
        try:
            if schedule_time(at, tz) <= datetime.now(timezone.utc):
                problem = _("That time is in the past.")
        except BroadcastError as exc:
            problem = str(exc)
    return render_template("console/alert_confirm.html", broadcast=broadcast, plan=plan, cost=_cost(plan.segments),
                           config=runtime.config, mode=mode, at=at, tz=tz, problem=problem), (400 if problem else 200)


@console_bp.post("/alerts/<broadcast_id>/send")
@needs("send")
def alert_send(broadcast_id: str):
    runtime = _runtime()
    catalog = runtime.content.get().catalog
    try:
        if request.form.get("mode") == "schedule":
            when = organizer.schedule(runtime.store, catalog, runtime.config, broadcast_id, request.form.get("at", ""),
                                      request.form.get("timezone"), who())
            flash(_("Scheduled for %(when)s.", when=when.strftime("%Y-%m-%d %H:%M UTC")), "ok")
        else:
            organizer.send(runtime.store, catalog, runtime.config, broadcast_id, who())
            flash(_("Sending started."), "ok")
    except organizer.NotFound:
        abort(404)
    except BroadcastError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.alert", broadcast_id=broadcast_id))


@console_bp.post("/alerts/<broadcast_id>/cancel")
@needs("send")
def alert_cancel(broadcast_id: str):
    try:
        organizer.cancel(_store(), broadcast_id, who())
    except organizer.NotFound:
        abort(404)
    flash(_("Cancelled: nothing more of this alert will be sent."), "ok")
    return redirect(url_for("console.alert", broadcast_id=broadcast_id))


# --- conversations -------------------------------------------------------------------------------

@console_bp.get("/conversations")
@needs("converse")
def conversations_list():
    status = request.args.get("status") or "open"
    if status not in ("open", "taken", "closed"):
        status = "open"
    items = _store().handoffs.list(status=status, last=200)
    now = time.time()
    for item in items:
        item["waiting_min"] = int((now - int(item.get("opened_at") or now)) // 60)
        item["mine"] = item.get("taken_by") == who()
    return render_template("console/conversations.html", items=items, status=status)


def _handoff_or_404(handoff_id: str) -> dict:
    item = _store().handoffs.get(handoff_id)
    if item is None:
        abort(404)
    return item


@console_bp.get("/conversations/<handoff_id>")
@needs("converse")
def conversation(handoff_id: str):
    store = _store()
    item = _handoff_or_404(handoff_id)
    entries = store.threads.entries(handoff_id, item["ref"])
    for entry in entries:
        if entry.get("author") == "person":
            entry["text"] = redact(entry.get("text") or "")   # numbers stay hidden, even the ones they write
        if entry.get("author") == "organizer":
            entry["state"], entry["detail"] = conversations.entry_status(store, entry)
        entry["when"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.get("at", 0)))
    waiting = int((time.time() - int(item.get("opened_at") or time.time())) // 60)
    return render_template("console/conversation.html", item=item, entries=entries, waiting=waiting,
                           opted_out=store.people.is_opted_out(item["ref"]), mine=item.get("taken_by") == who(),
                           force=request.args.get("force") == "1")


@console_bp.post("/conversations/<handoff_id>/take")
@needs("converse")
def conversation_take(handoff_id: str):
    _handoff_or_404(handoff_id)
    try:
        organizer.take_handoff(_store(), handoff_id, who(), force=request.form.get("force") == "1")
    except HandoffTaken as exc:
        flash(_("%(name)s has this conversation already. Take it over only if you agreed with them.", name=exc.by),
              "warning")
        return redirect(url_for("console.conversation", handoff_id=handoff_id, force=1))
    flash(_("The conversation is yours: the person's messages now come here instead of to the bot."), "ok")
    return redirect(url_for("console.conversation", handoff_id=handoff_id))


@console_bp.post("/conversations/<handoff_id>/reply")
@needs("converse")
def conversation_reply(handoff_id: str):
    _handoff_or_404(handoff_id)
    try:
        conversations.reply(_runtime(), handoff_id, request.form.get("text") or "", who())
    except conversations.ConversationError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Reply queued."), "ok")
    return redirect(url_for("console.conversation", handoff_id=handoff_id) + "#reply")


@console_bp.post("/conversations/<handoff_id>/close")
@needs("converse")
def conversation_close(handoff_id: str):
    _handoff_or_404(handoff_id)
    organizer.close_handoff(_store(), handoff_id, who(), _runtime().config.conversation_retention_days)
    flash(_("Closed: the bot answers the person again."), "ok")
    return redirect(url_for("console.conversations_list"))


@console_bp.post("/conversations/<handoff_id>/number")
@needs("converse")
def conversation_number(handoff_id: str):
    _handoff_or_404(handoff_id)
    number = organizer.show_number(_store(), handoff_id, who())
    return render_template("console/number.html", handoff_id=handoff_id, number=number)


# --- subscribers ---------------------------------------------------------------------------------

@console_bp.get("/subscribers")
@needs("view")
def subscribers():
    store = _store()
    breakdown = store.subscribers.breakdown()
    total = store.subscribers.count()
    charts = {kind: hbar(title, sorted(values.items(), key=lambda kv: -kv[1]))
              for kind, title, values in (("lang", _("Subscribers by language"), breakdown["lang"]),
                                          ("channel", _("Subscribers by channel"), breakdown["channel"]),
                                          ("tag", _("Subscribers by tag"), breakdown["tag"])) if values}
    languages = sorted(_runtime().content.get().catalog.languages)
    return render_template("console/subscribers.html", breakdown=breakdown, total=total, charts=charts,
                           languages=languages)


@console_bp.post("/subscribers/import")
@needs("import")
def subscribers_import():
    from ..imports import start_import
    request.max_content_length = 20 * 1024 * 1024
    upload = request.files.get("file")
    data = upload.read() if upload else b""
    if not data.strip():
        flash(_("Choose a CSV file first."), "error")
        return redirect(url_for("console.subscribers"))
    tags = [t for t in (request.form.get("tags") or "").replace(",", " ").split() if t]
    try:
        import_id = start_import(_runtime(), data, request.form.get("lang") or "es", request.form.get("region") or "US",
                                 tags, request.form.get("strict") == "1", who())
    except UnicodeDecodeError:
        flash(_("The file must be a CSV saved as UTF-8."), "error")
        return redirect(url_for("console.subscribers"))
    return redirect(url_for("console.subscribers_import_status", import_id=import_id))


@console_bp.get("/subscribers/imports/<import_id>")
@needs("import")
def subscribers_import_status(import_id: str):
    job = _store().imports.get(import_id)
    if job is None:
        abort(404)
    finished = job["state"] in ("done", "failed", "refused")
    if job["state"] in ("reading", "queued"):
        percent = int(50 * job["read"] / job["total"]) if job["total"] else 0
    elif job["state"] == "storing":
        percent = 50 + int(50 * job["stored"] / job["total"]) if job["total"] else 50
    else:
        percent = 100
    template = "console/_import.html" if request.args.get("fragment") else "console/import.html"
    return render_template(template, job=job, finished=finished, percent=percent, import_id=import_id)


@console_bp.post("/subscribers/forget")
@needs("forget")
def subscribers_forget():
    number = (request.form.get("number") or "").strip()
    e164, reason, _fictional = parse_number(number, request.form.get("region") or "US",
                                            allow_fictional=_runtime().config.dry_run)
    if e164 is None or request.form.get("confirm") != "1":
        flash(_("Nothing was deleted: write a valid number and tick the confirmation."), "error")
        return redirect(url_for("console.subscribers"))
    store = _store()
    organizer.forget_person(store, store.ref(e164), who())
    flash(_("Forgotten: everything stored about that number is deleted."), "ok")
    return redirect(url_for("console.subscribers"))


# --- content -------------------------------------------------------------------------------------

@console_bp.get("/content")
@needs("view")
def content():
    runtime = _runtime()
    live = runtime.content
    catalog = live.get().catalog
    rows = coverage(catalog)
    for row in rows:
        row["percent"] = int(100 * row["reviewed"] / row["topics"]) if row["topics"] else 0
    days = runtime.config.misses_days
    misses = runtime.store.misses.top(days, limit=100) if days else []
    root = catalog.root
    due = [{"id": t.id, "lang": t.lang, "review_by": t.review_by, "path": _rel(t.path, root)}
           for t in catalog.due_for_review()]
    return render_template("console/content.html", rows=rows, due=due, refused=live.refused_summary(),
                           misses=misses, misses_days=days, version=catalog.version)


def _rel(path, root) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# --- audit trail ---------------------------------------------------------------------------------

@console_bp.get("/audit")
@needs("audit")
def audit():
    who_filter = (request.args.get("who") or "").strip()[:64] or None
    what = (request.args.get("what") or "").strip()[:64] or None
    last = max(1, min(request.args.get("last", 100, type=int) or 100, 1000))
    entries = _store().audit.trail(last, who=who_filter, what=what)
    for entry in entries:
        entry["when"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.get("at", 0)))
        entry["details"] = {k: v for k, v in entry.items() if k not in ("at", "who", "what", "when")}
    names = sorted({a.get("name", "") for a in _store().organizers.all()})
    return render_template("console/audit.html", entries=entries, who=who_filter or "", what=what or "", last=last,
                           names=names, kinds=("broadcast.", "handoff.", "subscribers.", "organizers.", "console."))


# --- accounts ------------------------------------------------------------------------------------

@console_bp.route("/organizers", methods=["GET", "POST"])
@needs("manage")
def organizers():
    store = _store()
    if request.method == "POST":
        action = request.form.get("action")
        email = request.form.get("email") or ""
        try:
            if action == "add":
                accounts.add(store, email, request.form.get("role") or "viewer", request.form.get("password") or "",
                             request.form.get("name") or None, who())
                flash(_("Account created."), "ok")
            elif action in ("disable", "enable"):
                if email.lower() == current_user.account.email and action == "disable":
                    raise accounts.AccountError(_("You cannot disable your own account."))
                accounts.set_disabled(store, email, action == "disable", who())
                flash(_("Account updated."), "ok")
            elif action == "role":
                accounts.set_role(store, email, request.form.get("role") or "viewer", who())
                flash(_("Account updated."), "ok")
        except accounts.AccountError as exc:
            flash(str(exc), "error")
        return redirect(url_for("console.organizers"))
    rows = [accounts.Account.from_record(r) for r in store.organizers.all()]
    return render_template("console/organizers.html", rows=rows, roles=accounts.ROLES)


@console_bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    store = _store()
    me = current_user.account
    new_token = None
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "token":
                new_token = accounts.new_token(store, me.email, request.form.get("label") or "api", who())
            elif action == "revoke":
                if store.organizers.revoke_token(me.email, request.form.get("token_id") or ""):
                    store.audit.record(who(), "organizers.revoke_token")
                    flash(_("Token revoked."), "ok")
                return redirect(url_for("console.account"))
            elif action == "password":
                ok = accounts.sign_in(store, me.email, request.form.get("current") or "",
                                      request.remote_addr or "unknown")[0]
                if ok is None:
                    raise accounts.AccountError(_("The current password is wrong."))
                if request.form.get("new") != request.form.get("again"):
                    raise accounts.AccountError(_("The two new passwords differ."))
                updated = accounts.reset_password(store, me.email, request.form.get("new") or "", who())
                login_user(ConsoleUser(updated))
                flash(_("Password changed."), "ok")
                return redirect(url_for("console.account"))
        except accounts.AccountError as exc:
            flash(str(exc), "error")
    return render_template("console/account.html", me=me, tokens=store.organizers.tokens(me.email),
                           new_token=new_token), (201 if new_token else 200)
