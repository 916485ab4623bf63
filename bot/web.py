"""The Flask app: Twilio webhooks and health. The request is turned into an InboundMessage at the
edge; deciding is the conversation's job; storing is the store's; sending is the worker's."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

import redis
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request, send_from_directory
from rq import Retry
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from . import conversation, sms
from .api import api_bp
from .config import Config
from .conversation import Event, State
from .errors import BadRequest
from .jobs import BROADCASTS, MAX_RETRIES, REPLIES, backoff_schedule, enqueue_replies, notify_handoff, reply_payload
from .messages import InboundMessage, Reply
from .runtime import Runtime, configure_logging
from .twilio_gateway import check_signature, media_from_form, parse_inbound

log = logging.getLogger(__name__)
twilio_bp = Blueprint("twilio", __name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def create_app(test_config: dict | None = None) -> Flask:
    """App factory: configuration is read here, never at import time."""
    test_config = dict(test_config or {})
    runtime = test_config.pop("RUNTIME", None)
    if runtime is None:
        runtime = Runtime(Config.from_env())
    configure_logging()
    app = Flask(__name__, instance_path=str(runtime.config.instance_dir))
    app.config.update(MAX_CONTENT_LENGTH=256 * 1024, JSON_AS_ASCII=False)
    app.config.update(test_config)
    app.extensions["derechos"] = runtime
    if runtime.config.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=runtime.config.proxy_hops, x_proto=runtime.config.proxy_hops,
                                x_host=runtime.config.proxy_hops, x_port=runtime.config.proxy_hops,
                                x_prefix=runtime.config.proxy_hops)
    runtime.content.get()   # load the content now: a broken tree stops start-up with file and line
    app.register_blueprint(twilio_bp)
    app.register_blueprint(api_bp, url_prefix="/api")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # never a stack trace to the caller
        log.exception("unexpected error on %s", request.path)
        return jsonify(error="internal error"), 500

    notes = runtime.describe_defaults()
    if notes:
        log.info("development defaults in use: %s", "; ".join(notes))
    return app


def _runtime() -> Runtime:
    return current_app.extensions["derechos"]


def _verify(runtime: Runtime) -> dict[str, str]:
    """The form, if X-Twilio-Signature is right; otherwise 403. Never skipped, not even in debug."""
    config = runtime.config
    if request.mimetype != "application/x-www-form-urlencoded":
        abort(415, "expected application/x-www-form-urlencoded")
    try:
        form = request.form.to_dict(flat=True)
    except Exception:  # undecodable body
        abort(400, "malformed form")
    token = config.webhook_token
    signature = request.headers.get("X-Twilio-Signature")
    try:
        url = _public_url(config)
        valid = check_signature(token, url, request.form, signature)
    except ValueError:   # a malformed host, port or forwarded prefix: it is not what Twilio signed
        valid = False
    if not valid:
        runtime_store_count(runtime, "bad_signature")
        abort(403, "invalid signature")
    return form


def dev_auth_token(config: Config) -> str:
    """The token signatures are checked with (see Config.webhook_token)."""
    return config.webhook_token


def _public_url(config: Config) -> str:
    """The URL Twilio signed: PUBLIC_URL + path when set, else the request URL (after ProxyFix).

    The path and query are taken as they came on the wire: a decoded path (%3A read as :) would
    not be the URL Twilio signed.
    """
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if not raw.startswith("/"):
        raw = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/:@!$&'()*+,;=-._~%")
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    if config.public_url:
        return config.public_url + raw
    return f"{request.scheme}://{request.host}{request.script_root}{raw}"


def runtime_store_count(runtime: Runtime, name: str) -> None:
    try:
        runtime.store.count(name)
    except redis.RedisError:
        pass


@twilio_bp.post("/twilio/messages")
def inbound_message():
    runtime = _runtime()
    form = _verify(runtime)
    try:
        inbound = parse_inbound(form, media_from_form(form), runtime.config.max_body_chars)
    except BadRequest as exc:
        abort(400, str(exc))
    content = runtime.content.get()
    try:
        return _handle_queued(runtime, content, inbound)
    except redis.RedisError as exc:
        # Redis is down: answer inline so the person still gets an answer; nothing is stored.
        log.error("Redis unavailable (%s: %s): answering inline (degraded mode)", type(exc).__name__, exc)
        return _handle_degraded(runtime, content, inbound)


def _handle_queued(runtime: Runtime, content, inbound: InboundMessage) -> Response:
    """Two Redis round trips: one to read what we know, one transaction to write the outcome."""
    store, config = runtime.store, runtime.config
    replay_journal(runtime)
    ref = store.ref(inbound.sender)
    arrival = store.arrival(inbound.message_sid, ref)
    if not arrival.first:
        return _twiml(EMPTY_TWIML)           # Twilio delivered it again: answered already
    if arrival.count_this_minute > config.inbound_per_minute:
        store.count("rate_limited")
        return _twiml(EMPTY_TWIML)
    outcome = conversation.handle(inbound, arrival.state, content.catalog, content.matcher)
    replies = outcome.replies
    if replies and arrival.replies_this_hour + len(replies) > config.replies_per_hour:
        store.count("reply_ceiling")
        if arrival.replies_this_hour <= config.replies_per_hour:
            log.warning("hourly reply ceiling (%d) reached: not answering until the hour turns",
                        config.replies_per_hour)
        replies = ()
    kind = outcome.match.intent if outcome.match.intent in ("stop", "help", "start", "delete") else "reply"
    payloads = [reply_payload(store, ref, inbound.sender, inbound.channel,
                              _with_media_url(config, outcome.state.lang, r), outcome.state.lang, kind)
                for r in replies]
    forget = any(e.kind == "delete" for e in outcome.events)
    with store.r.pipeline(transaction=True) as pipe:
        pipe.multi()   # one MULTI for state, events and jobs (RQ expects it when given a pipeline)
        if not forget:
            store.state_command(pipe, ref, outcome.state)
        if inbound.channel == "whatsapp":
            store.touch_window(pipe, ref)
        for event in outcome.events:
            _apply_event(runtime, pipe, ref, inbound, event)
        if payloads:
            enqueue_replies(runtime.queue(REPLIES), payloads, pipeline=pipe)
            store.count_replies_command(pipe, len(payloads))
        store.count("inbound", pipe=pipe)
        pipe.execute()
    if forget:   # after the confirmation is queued: it carries only the encrypted address
        store.forget(ref)
        store.count("deleted")
    return _twiml(EMPTY_TWIML)


def _apply_event(runtime: Runtime, pipe, ref: str, inbound: InboundMessage, event: Event) -> None:
    store = runtime.store
    if event.kind == "opt_out":
        store.opt_out(ref, pipe)
        store.unsubscribe(ref, pipe)
    elif event.kind == "opt_in":
        tags = [t for t in (event.tag or "").lower().replace(",", " ").split() if t.isalnum()][:3]
        store.subscribe(ref, inbound.sender, inbound.channel, event.lang, tags, source="keyword", pipe=pipe)
    elif event.kind in ("handoff", "interpreter"):
        handoff_id = store.open_handoff(ref, inbound.sender, event.kind, event.lang, event.topic, pipe=pipe,
                                        region=event.region)
        store.count(event.kind, pipe=pipe)
        if runtime.config.handoff_webhook_url or runtime.config.handoff_notify_to:
            runtime.queue(REPLIES).enqueue_call(
                notify_handoff, args=(handoff_id, event.kind, event.lang, event.topic or ""),
                job_id=f"handoff-{handoff_id}", description="hand-off notice",
                retry=Retry(max=MAX_RETRIES, interval=backoff_schedule()), pipeline=pipe)


def _handle_degraded(runtime: Runtime, content, inbound: InboundMessage) -> Response:
    outcome = conversation.handle(inbound, State(), content.catalog, content.matcher)
    # STOP and delete requests cannot wait for Redis: keep them on disk, replayed when it is back.
    for event in outcome.events:
        if event.kind in ("opt_out", "delete"):
            journal_event(runtime.config.instance_dir, event.kind, runtime.vault.ref(inbound.sender))
    runtime.degraded_count = getattr(runtime, "degraded_count", 0) + 1
    runtime.degraded_since = getattr(runtime, "degraded_since", None) or time.time()
    messages = "".join(
        f"<Message>{escape(sms.render(r.body, inbound.channel, runtime.config.sms_fold)[:sms.TWILIO_BODY_LIMIT])}"
        "</Message>" for r in outcome.replies)
    return _twiml(f'<?xml version="1.0" encoding="UTF-8"?><Response>{messages}</Response>')


JOURNAL = "pending-events.jsonl"


def journal_event(instance_dir: Path, kind: str, ref: str) -> None:
    """Append an opt-out or delete request taken while Redis was down (refs only, never numbers)."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    with open(instance_dir / JOURNAL, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(json.dumps({"kind": kind, "ref": ref, "at": int(time.time())}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def replay_journal(runtime: Runtime) -> int:
    """Carry out what was journaled during an outage; cheap when there is nothing (one stat)."""
    path = runtime.config.instance_dir / JOURNAL
    if not path.exists():
        return 0
    store, done = runtime.store, 0
    with open(path, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("kind") == "opt_out":
                store.opt_out(entry["ref"])
                store.unsubscribe(entry["ref"])
            elif entry.get("kind") == "delete":
                store.forget(entry["ref"])
            done += 1
        handle.truncate(0)
    path.unlink(missing_ok=True)
    if done:
        log.warning("replayed %d opt-out/delete request(s) taken while Redis was down", done)
    return done


def _with_media_url(config: Config, lang: str, reply: Reply) -> Reply:
    """Content audio is a file in the language's audio/ folder: send its public URL."""
    media = reply.media_url
    if not media or media.startswith("https://"):
        return reply
    if not config.public_url:
        return Reply(reply.body, None)
    return Reply(reply.body, f"{config.public_url}/media/{lang}/{media.removeprefix('audio/')}")


def _twiml(xml: str) -> Response:
    return Response(xml, status=200, mimetype="application/xml")


@twilio_bp.post("/twilio/status")
def delivery_status():
    runtime = _runtime()
    form = _verify(runtime)
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = form.get("MessageStatus") or form.get("SmsStatus")
    if not sid or not status:
        abort(400, "missing MessageSid or MessageStatus")
    error = form.get("ErrorCode") or None
    try:
        runtime.store.record_status(sid, status, error)
        if error == "21610" and form.get("To"):
            runtime.store.opt_out(runtime.store.ref(form["To"]))
    except redis.RedisError:
        abort(503, "storage unavailable; Twilio will retry")
    return "", 204


@twilio_bp.get("/media/<lang>/<path:name>")
def media(lang: str, name: str):
    """Audio that content files name, served so Twilio can fetch it."""
    catalog = _runtime().content.get().catalog
    language = catalog.languages.get(lang)
    if language is None or language.folder is None:
        abort(404)
    return send_from_directory(Path(language.folder) / "audio", name)


@twilio_bp.get("/healthz")
def healthz():
    runtime = _runtime()
    body = {"content": None, "redis": False, "queues": {}}
    ok = True
    try:
        content = runtime.content.get()
        body["content"] = {"version": content.catalog.version, "topics": len(content.catalog.topic_ids),
                           "languages": sorted(content.catalog.languages),
                           "last_edit_refused": bool(runtime.content.last_error)}
    except Exception:  # pragma: no cover
        ok = False
    try:
        runtime.redis.ping()
        body["redis"] = True
        for name in (REPLIES, BROADCASTS):
            queue = runtime.queue(name)
            body["queues"][name] = {"queued": queue.count, "failed": queue.failed_job_registry.count}
    except redis.RedisError:
        ok = False
    body["status"] = "ok" if ok else "degraded"
    if getattr(runtime, "degraded_count", 0):
        body["degraded_answers"] = runtime.degraded_count
    return jsonify(body), (200 if ok else 503)
