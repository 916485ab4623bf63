"""The organizer JSON API under /api/, behind a bearer token (ADMIN_TOKEN)."""
from __future__ import annotations

import hmac
import io

from flask import Blueprint, abort, current_app, g, jsonify, request

from . import organizer
from .broadcast import BroadcastError
from .importer import CsvFormatError, read_subscribers_csv

api_bp = Blueprint("api", __name__)


def _runtime():
    return current_app.extensions["derechos"]


@api_bp.before_request
def require_token():
    """Constant-time comparison; no token configured means the API refuses everything."""
    expected = _runtime().config.admin_token
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer "):] if header.startswith("Bearer ") else ""
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        response = jsonify(error="a valid bearer token is required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="derechos"'
        return response
    # Who did it, for the audit trail: the organizer names themselves; the token proves the right.
    g.who = (request.headers.get("X-Organizer") or "api")[:64]


@api_bp.errorhandler(BroadcastError)
def bad_broadcast(exc):
    return jsonify(error=str(exc)), 400


@api_bp.errorhandler(organizer.NotFound)
def not_found(exc):
    return jsonify(error=str(exc)), 404


def _json() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "expected a JSON object")
    return data


@api_bp.post("/broadcasts")
def create_broadcast():
    runtime = _runtime()
    broadcast = organizer.new_broadcast(runtime.store, runtime.content.get().catalog, _json(), g.who)
    return jsonify(broadcast.to_dict()), 201


@api_bp.get("/broadcasts/<broadcast_id>/preview")
def preview_broadcast(broadcast_id: str):
    runtime = _runtime()
    return jsonify(organizer.preview(runtime.store, runtime.content.get().catalog, runtime.config,
                                     broadcast_id).to_dict())


@api_bp.post("/broadcasts/<broadcast_id>/send")
def send_broadcast(broadcast_id: str):
    runtime = _runtime()
    data = request.get_json(silent=True) or {}
    catalog = runtime.content.get().catalog
    if data.get("at"):
        when = organizer.schedule(runtime.store, catalog, runtime.config, broadcast_id, data["at"],
                                  data.get("timezone"), g.who)
        return jsonify(id=broadcast_id, status="scheduled", send_at=when.isoformat()), 202
    the_plan = organizer.send(runtime.store, catalog, runtime.config, broadcast_id, g.who)
    return jsonify(id=broadcast_id, status="sending", plan=the_plan.to_dict()), 202


@api_bp.get("/broadcasts/<broadcast_id>")
def broadcast_status(broadcast_id: str):
    return jsonify(organizer.status(_runtime().store, broadcast_id))


@api_bp.post("/broadcasts/<broadcast_id>/cancel")
def cancel_broadcast(broadcast_id: str):
    return jsonify(organizer.cancel(_runtime().store, broadcast_id, g.who))


@api_bp.post("/subscribers/import")
def import_subscribers():
    """CSV in the body (text/csv); ?lang= default language, ?region= default country, ?tag= extra tags."""
    runtime = _runtime()
    languages = set(runtime.content.get().catalog.languages)
    try:
        text = request.get_data().decode("utf-8-sig")
        result = read_subscribers_csv(io.StringIO(text), languages, default_lang=request.args.get("lang", "es"),
                                      default_region=request.args.get("region", "US"),
                                      extra_tags=request.args.getlist("tag"))
    except UnicodeDecodeError:
        abort(400, "the CSV must be UTF-8")
    except (CsvFormatError, ValueError) as exc:
        abort(400, str(exc))
    written = organizer.import_subscribers(runtime.store, result, g.who)
    return jsonify(imported=written, duplicates_merged=result.duplicates_merged,
                   rejected=[{"line": r.line, "field": r.field, "reason": r.reason} for r in result.rejected])


@api_bp.get("/subscribers/count")
def count_subscribers():
    store = _runtime().store
    count = store.count_subscribers(request.args.getlist("lang"), request.args.getlist("channel"),
                                    [t.lower() for t in request.args.getlist("tag")])
    return jsonify(count=count)


@api_bp.get("/handoffs")
def list_handoffs():
    return jsonify(handoffs=_runtime().store.handoffs(status=request.args.get("status")))


@api_bp.post("/handoffs/<handoff_id>/<action>")
def update_handoff(handoff_id: str, action: str):
    if action not in ("take", "close"):
        abort(404)
    store = _runtime().store
    number = store.update_handoff(handoff_id, "taken" if action == "take" else "closed", g.who)
    if number is None:
        abort(404, f"no hand-off '{handoff_id}'")
    store.audit(g.who, f"handoff.{action}", handoff=handoff_id)
    body = {"id": handoff_id, "status": "taken" if action == "take" else "closed"}
    if action == "take":
        body["number"] = number   # the organizer needs it to answer; the audit trail does not keep it
    return jsonify(body)


@api_bp.get("/audit")
def audit_trail():
    last = max(1, min(request.args.get("last", 50, type=int) or 50, 1000))
    return jsonify(entries=_runtime().store.audit_trail(last))
