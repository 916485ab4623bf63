"""The Flask app: Twilio webhooks, health and media. HTTP in, HTTP out: the request is turned into an
InboundMessage here, the inbound service decides and stores, and the answer is TwiML."""
from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from urllib.parse import quote

import redis
from flask import Blueprint, Flask, abort, current_app, jsonify, request, send_file
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Request, Response

from .api import api_bp
from .catalog import AUDIO_SUFFIXES
from .config import Config
from .errors import BadRequest
from .intake import accept
from .jobs import BROADCASTS, REPLIES
from .runtime import Runtime, configure_logging
from .twilio_gateway import SINGLE_FIELDS, check_signature, media_from_form, parse_inbound
from .whatsapp import on_status

log = logging.getLogger(__name__)
twilio_bp = Blueprint("twilio", __name__)
EMPTY_TWIML = str(MessagingResponse())   # serialised once, not by ElementTree on every request


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
    app.wsgi_app = TwilioWebhooks(app, runtime, app.wsgi_app)
    if runtime.config.proxy_hops:
        hops = runtime.config.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    runtime.content.get()   # load the content now: a broken tree stops start-up with file and line
    app.register_blueprint(twilio_bp)
    app.register_blueprint(api_bp, url_prefix="/api")
    from .console import init_app as init_console     # the organizer console under /console/ (issue 12)
    init_console(app, runtime)
    from .voice_web import voice_bp   # the voice line (it uses verified_form from this module)
    app.register_blueprint(voice_bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_response(app, exc)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # never a stack trace to the caller
        return internal_error(app, request)

    notes = runtime.describe_defaults()
    if notes:
        log.info("development defaults in use: %s", "; ".join(notes))
    return app


def error_response(app: Flask, exc: HTTPException) -> Response:
    """The JSON error, with the exception's own headers (a 405's Allow) but not its HTML type."""
    response = app.json.response(error=exc.description or exc.name)
    response.status_code = exc.code or 500
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def internal_error(app: Flask, req: Request) -> Response:
    log.exception("unexpected error on %s", req.path)
    response = app.json.response(error="internal error")
    response.status_code = 500
    return response


def _runtime() -> Runtime:
    return current_app.extensions["derechos"]


def verified_form(runtime: Runtime, req: Request | None = None) -> dict[str, str]:
    """The form, if X-Twilio-Signature is right (403 otherwise); never skipped, not even in debug.
    `req` is Flask's request unless given (`TwilioWebhooks` runs outside Flask's context)."""
    req = request if req is None else req
    config = runtime.config
    if req.mimetype != "application/x-www-form-urlencoded":
        abort(415, "expected application/x-www-form-urlencoded")
    try:
        form = req.form
        flat = form.to_dict(flat=True)
    except Exception:  # undecodable body
        abort(400, "malformed form")
    signature = req.headers.get("X-Twilio-Signature")
    try:
        valid = check_signature(config.webhook_token, _public_url(config, req), form, signature)
    except ValueError:   # a malformed host, port or forwarded prefix: it is not what Twilio signed
        valid = False
    if not valid:
        try:
            runtime.store.metrics.count("bad_signature")
        except redis.RedisError:
            pass
        abort(403, "invalid signature")
    repeated = [name for name in SINGLE_FIELDS if len(form.getlist(name)) > 1]
    if repeated:
        abort(400, f"repeated field(s): {', '.join(repeated)}")
    return flat


def _public_url(config: Config, req: Request) -> str:
    """The URL Twilio signed: PUBLIC_URL + path when set, else the request URL (after ProxyFix).

    The path and query are taken as they came on the wire: a decoded path (%3A read as :) would
    not be the URL Twilio signed.
    """
    environ = req.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if not raw.startswith("/"):
        raw = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/:@!$&'()*+,;=-._~%")
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    if config.public_url:
        return config.public_url + raw
    return f"{req.scheme}://{req.host}{req.script_root}{raw}"


class TwilioWebhooks:
    """Twilio's two webhooks that come by the thousand, served below Flask; all else goes to Flask.

    Messages come in bursts, and status callbacks two or three for each message sent (sent,
    delivered, read on WhatsApp): an alert to 10,000 people brings 20,000 or more. Flask's routing,
    contexts and dispatch were a third of a handed-over message's cost (bench/README.md). The
    request, the checks (`verified_form`), the errors (`error_response`, `internal_error`) and the
    responses are the werkzeug objects and the functions Flask's routes use; ProxyFix, when
    configured, wraps this, so the URL checked is the one Twilio signed."""

    def __init__(self, app: Flask, runtime: Runtime, flask_wsgi_app):
        self.app, self.runtime, self.flask_wsgi_app = app, runtime, flask_wsgi_app
        self.routes = {"/twilio/messages": inbound_message, "/twilio/status": delivery_status}

    def __call__(self, environ, start_response):
        handler = self.routes.get(environ.get("PATH_INFO"))
        if handler is None:
            return self.flask_wsgi_app(environ, start_response)
        req = Request(environ)
        req.max_content_length = self.app.config["MAX_CONTENT_LENGTH"]
        try:
            if req.method != "POST":
                raise MethodNotAllowed(["POST"])
            response = handler(self.runtime, req)
        except HTTPException as exc:
            response = error_response(self.app, exc)
        except Exception:  # never a stack trace to the caller
            response = internal_error(self.app, req)
        return response(environ, start_response)


def inbound_message(runtime: Runtime, req: Request) -> Response:
    form = verified_form(runtime, req)
    try:
        inbound = parse_inbound(form, media_from_form(form), runtime.config.max_body_chars)
    except BadRequest as exc:
        abort(400, str(exc))
    receipt = accept(runtime, inbound)
    if receipt.inline:
        twiml = MessagingResponse()
        for text in receipt.inline:
            twiml.message(text)
        answer = str(twiml)
    else:
        answer = EMPTY_TWIML      # nearly every request: the reply goes out through the queue
    response = Response(answer, status=200, mimetype="application/xml")
    if runtime.config.dry_run and receipt.held:
        response.headers["X-Derechos-Held"] = receipt.held    # for `derechos chat`; never sent to Twilio
    for work in receipt.later:
        response.call_on_close(work)
    return response


def delivery_status(runtime: Runtime, req: Request) -> Response:
    form = verified_form(runtime, req)
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = form.get("MessageStatus") or form.get("SmsStatus")
    if not sid or not status:
        abort(400, "missing MessageSid or MessageStatus")
    if len(sid) > 64 or not sid.isascii() or not sid.isalnum():
        abort(400, "malformed MessageSid")
    try:
        # Recorded (never backwards); 63018 slows WhatsApp and sends again; a refused alert template
        # falls back to SMS; a status nobody knows is logged and accepted.
        on_status(runtime, sid, status[:40], form.get("ErrorCode") or None, form.get("To"))
    except redis.RedisError:
        abort(503, "storage unavailable; Twilio will retry")
    return Response(status=204)


@twilio_bp.get("/media/<lang>/<path:name>")
def media(lang: str, name: str):
    """Audio that content files name, served so Twilio can fetch it: only regular files inside the
    language's audio/ folder, with an audio type (never a link, never a file outside)."""
    catalog = _runtime().content.get().catalog
    language = catalog.languages.get(lang)
    if language is None or language.folder is None:
        abort(404)
    path = _audio_file(Path(language.folder) / "audio", name)
    if path is None:
        abort(404)
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not kind.startswith("audio/"):
        kind = {".opus": "audio/ogg", ".oga": "audio/ogg", ".amr": "audio/amr", ".m4a": "audio/mp4"}.get(
            path.suffix.lower(), "audio/mpeg")
    return send_file(path, mimetype=kind, conditional=True, max_age=3600)


def _audio_file(folder: Path, name: str) -> Path | None:
    """folder/name if every step of it is a real (not linked) folder or file, and an audio file."""
    if folder.is_symlink() or folder.parent.is_symlink():
        return None
    path = folder
    for part in Path(name).parts:
        if part in ("..", ".", "/") or part.startswith("."):
            return None
        path = path / part
        if path.is_symlink():
            return None
    if not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES:
        return None
    return path


@twilio_bp.get("/healthz")
def healthz():
    runtime = _runtime()
    body = {"content": None, "redis": False, "queues": {}}
    ok = True
    try:
        live = runtime.content
        content = live.get()
        body["content"] = {"version": content.catalog.version, "topics": len(content.catalog.topic_ids),
                           "languages": sorted(content.catalog.languages),
                           "due_for_review": len(content.catalog.due_for_review()),
                           "last_edit_refused": live.refused_summary()}
    except Exception:  # pragma: no cover
        ok = False
    try:
        runtime.store.ping()
        body["redis"] = True
        for name in (REPLIES, BROADCASTS):
            queue = runtime.queue(name)
            body["queues"][name] = {"queued": queue.count, "failed": queue.failed_job_registry.count}
        # Messages handed to `derechos intake` and not handled yet; with no consumer alive the web
        # answers new messages itself, and these wait for one to start.
        body["intake"] = {"consumer": runtime.store.intake.alive(), **runtime.store.intake.backlog()}
    except redis.RedisError:
        ok = False
    body["status"] = "ok" if ok else "degraded"
    if runtime.degraded_count:
        body["degraded_answers"] = runtime.degraded_count
    return jsonify(body), (200 if ok else 503)
