"""The organizer JSON API under /api/, behind a bearer token (ADMIN_TOKEN).

Every body is checked against what the endpoint takes: an unknown or misplaced key is a 400 that
names it (an alert about a raid in one city must never go to the whole list by a typo).
"""
from __future__ import annotations

import hmac
import io
import json

from flask import Blueprint, abort, current_app, g, jsonify, request

from . import accounts, conversations, organizer
from .broadcast import BroadcastError
from .importer import CsvFormatError, read_subscribers_csv
from .store.handoffs import HandoffTaken

api_bp = Blueprint("api", __name__)
MAX_DEPTH = 6

TEXTS = {"*": str}                  # language -> text
STRINGS = [str]
BROADCAST_SCHEMA = {"texts": TEXTS, "audience": {"langs": STRINGS, "channels": STRINGS, "tags": STRINGS},
                    "audio": TEXTS, "when": (str, type(None)), "timezone": str, "template_sid": (str, type(None)),
                    "template_variables": TEXTS}
SEND_SCHEMA = {"at": (str, type(None)), "timezone": (str, type(None))}
EMPTY_SCHEMA: dict = {}
TAKE_SCHEMA = {"force": bool}
REPLY_SCHEMA = {"text": str}


def _runtime():
    return current_app.extensions["derechos"]


# What each endpoint needs (bot/accounts.py PERMISSIONS); ADMIN_TOKEN may do everything.
NEEDS = {"list_broadcasts": "view", "create_broadcast": "send", "preview_broadcast": "view",
         "send_broadcast": "send", "broadcast_status": "view", "cancel_broadcast": "send",
         "import_subscribers": "import", "count_subscribers": "view", "list_handoffs": "converse",
         "update_handoff": "converse", "audit_trail": "audit"}


@api_bp.before_request
def require_token():
    """ADMIN_TOKEN (constant-time comparison) or an organizer's own API token (kept hashed)."""
    runtime = _runtime()
    expected = runtime.config.admin_token
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer "):] if header.startswith("Bearer ") else ""
    if expected and given and hmac.compare_digest(given.encode(), expected.encode()):
        # Who did it, for the audit trail: the organizer names themselves; the token proves the right.
        g.who = (request.headers.get("X-Organizer") or "api")[:64]
        return None
    account = accounts.token_account(runtime.store, given) if given.startswith("drc_") else None
    if account is None:
        response = jsonify(error="a valid bearer token is required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="derechos"'
        return response
    endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
    if not account.can(NEEDS.get(endpoint, "manage")):
        return jsonify(error=f"the {account.role} role may not do this"), 403
    g.who = account.name     # an organizer's token speaks for that organizer only


@api_bp.errorhandler(BroadcastError)
def bad_broadcast(exc):
    return jsonify(error=str(exc)), 400


@api_bp.errorhandler(organizer.NotFound)
def not_found(exc):
    return jsonify(error=str(exc)), 404


def _depth(value, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()] or [level + 1])
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value] or [level + 1])
    return level


def body(schema: dict, required: bool = True) -> dict:
    """The JSON object of the request, checked against `schema`; a 400 that says what is wrong."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required and schema:
            abort(400, "expected a JSON object")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        abort(400, "the body is not valid JSON")
    if not isinstance(data, dict):
        abort(400, "expected a JSON object")
    if _depth(data) > MAX_DEPTH:
        abort(400, f"the JSON is nested more than {MAX_DEPTH} levels deep")
    problems = list(_check(data, schema, ""))
    if problems:
        abort(400, "; ".join(problems))
    return data


def _where_else(key: str, schema: dict, prefix: str = "") -> str | None:
    for name, sub in schema.items():
        if isinstance(sub, dict) and "*" not in sub:
            if key in sub:
                return prefix + name + "." + key
            found = _where_else(key, sub, prefix + name + ".")
            if found:
                return found
    return None


def _check(data: dict, schema: dict, path: str, root: dict | None = None):
    root = schema if root is None else root
    for key, value in data.items():
        name = path + str(key)
        if key not in schema and "*" not in schema:
            hint = _where_else(key, root)
            yield f"unknown key '{name}'" + (f" (did you mean '{hint}'?)" if hint else "")
            continue
        rule = schema.get(key, schema.get("*"))
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                yield f"'{name}' must be an object"
            else:
                yield from _check(value, rule, name + ".", root)
        elif isinstance(rule, list):
            if not isinstance(value, list) or not all(isinstance(v, rule[0]) for v in value):
                yield f"'{name}' must be a list of texts"
        elif not isinstance(value, rule) or (rule is not bool and isinstance(value, bool)):
            kinds = rule if isinstance(rule, tuple) else (rule,)
            names = " or ".join({str: "a text", type(None): "null", bool: "true or false"}.get(k, k.__name__)
                                for k in kinds)
            yield f"'{name}' must be {names}"


@api_bp.get("/broadcasts")
def list_broadcasts():
    last = max(1, min(request.args.get("last", 20, type=int) or 20, 200))
    store = _runtime().store
    return jsonify(broadcasts=[organizer.summary(store, i) for i in store.broadcasts.ids(last)])


@api_bp.post("/broadcasts")
def create_broadcast():
    runtime = _runtime()
    broadcast = organizer.new_broadcast(runtime.store, runtime.content.get().catalog, body(BROADCAST_SCHEMA), g.who,
                                        runtime.config)
    out = broadcast.to_dict()
    out["audience_described"] = broadcast.audience.describe()
    return jsonify(out), 201


@api_bp.get("/broadcasts/<broadcast_id>/preview")
def preview_broadcast(broadcast_id: str):
    runtime = _runtime()
    return jsonify(organizer.preview_report(runtime.store, runtime.content.get().catalog, runtime.config,
                                            broadcast_id))


@api_bp.post("/broadcasts/<broadcast_id>/send")
def send_broadcast(broadcast_id: str):
    runtime = _runtime()
    data = body(SEND_SCHEMA, required=False)
    catalog = runtime.content.get().catalog
    if data.get("at"):
        when = organizer.schedule(runtime.store, catalog, runtime.config, broadcast_id, data["at"],
                                  data.get("timezone"), g.who)
        report = organizer.preview_report(runtime.store, catalog, runtime.config, broadcast_id)
        return jsonify(id=broadcast_id, status="scheduled", send_at=when.isoformat(), audience=report["audience"],
                       recipients=report["recipients"], segments=report["segments"]), 202
    the_plan = organizer.send(runtime.store, catalog, runtime.config, broadcast_id, g.who)
    broadcast = organizer.load(runtime.store, broadcast_id)
    return jsonify(id=broadcast_id, status="sending", audience=broadcast.audience.describe(),
                   recipients=the_plan.recipients, segments=the_plan.segments, plan=the_plan.to_dict()), 202


@api_bp.get("/broadcasts/<broadcast_id>")
def broadcast_status(broadcast_id: str):
    return jsonify(organizer.status(_runtime().store, broadcast_id))


@api_bp.post("/broadcasts/<broadcast_id>/cancel")
def cancel_broadcast(broadcast_id: str):
    body(EMPTY_SCHEMA, required=False)
    return jsonify(organizer.cancel(_runtime().store, broadcast_id, g.who))


@api_bp.post("/subscribers/import")
def import_subscribers():
    """CSV in the body (text/csv); ?lang= default language, ?region= default country, ?tag= extra tags."""
    runtime = _runtime()
    languages = set(runtime.content.get().catalog.languages)
    unknown = sorted(set(request.args) - {"lang", "region", "tag", "strict"})
    if unknown:
        abort(400, f"unknown parameter(s): {', '.join(unknown)}")
    try:
        text = request.get_data().decode("utf-8-sig")
        result = read_subscribers_csv(io.StringIO(text), languages, default_lang=request.args.get("lang", "es"),
                                      default_region=request.args.get("region", "US"),
                                      extra_tags=request.args.getlist("tag"),
                                      allow_fictional=runtime.config.dry_run)   # as the CLI: 555-01xx in dry-run
    except UnicodeDecodeError:
        abort(400, "the CSV must be UTF-8")
    except (CsvFormatError, ValueError) as exc:
        abort(400, str(exc))
    rejected = [{"line": r.line, "field": r.field, "reason": r.reason} for r in result.rejected]
    if request.args.get("strict") in ("1", "true", "yes") and rejected:
        return jsonify(imported=0, rejected=rejected, error="nothing imported (strict): fix the rows listed"), 400
    report = organizer.import_subscribers(runtime.store, result, g.who)
    return jsonify(imported=report.imported, updated=report.updated, kept_out_opted_out=report.opted_out,
                   duplicates_merged=result.duplicates_merged, rejected=rejected, fictional=result.fictional)


@api_bp.get("/subscribers/count")
def count_subscribers():
    unknown = sorted(set(request.args) - {"lang", "channel", "tag"})
    if unknown:
        abort(400, f"unknown parameter(s): {', '.join(unknown)}")
    subscribers = _runtime().store.subscribers
    count = subscribers.count(request.args.getlist("lang"), request.args.getlist("channel"),
                              [t.lower() for t in request.args.getlist("tag")])
    return jsonify(count=count)


@api_bp.get("/handoffs")
def list_handoffs():
    return jsonify(handoffs=_runtime().store.handoffs.list(status=request.args.get("status")))


@api_bp.post("/handoffs/<handoff_id>/<action>")
def update_handoff(handoff_id: str, action: str):
    if action not in ("take", "close", "reply"):
        abort(404)
    runtime = _runtime()
    store = runtime.store
    if action == "reply":
        data = body(REPLY_SCHEMA)
        if not isinstance(data.get("text"), str):
            abort(400, "'text' is required")
        try:
            entry = conversations.reply(runtime, handoff_id, data["text"], g.who)
        except conversations.ConversationError as exc:
            abort(409, str(exc))
        return jsonify(id=handoff_id, reply=entry, status="queued"), 202
    data = body(TAKE_SCHEMA if action == "take" else EMPTY_SCHEMA, required=False)
    try:
        item = organizer.take_handoff(store, handoff_id, g.who, force=bool(data.get("force"))) if action == "take" \
            else organizer.close_handoff(store, handoff_id, g.who, runtime.config.conversation_retention_days)
    except HandoffTaken as exc:
        abort(409, f"hand-off {handoff_id} is {exc} (send {{\"force\": true}} to take it over)")
    if item is None:
        abort(404, f"no hand-off '{handoff_id}'")
    body_out = {"id": handoff_id, "status": item["status"]}
    if action == "take":
        # To call the person; the audit trail records that it was shown (never the number itself).
        body_out["number"] = organizer.show_number(store, handoff_id, g.who) or ""
    return jsonify(body_out)


@api_bp.get("/audit")
def audit_trail():
    last = max(1, min(request.args.get("last", 50, type=int) or 50, 1000))
    return jsonify(entries=_runtime().store.audit.trail(last, who=request.args.get("who"),
                                                        what=request.args.get("what")))
