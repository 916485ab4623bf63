"""Local fake of Twilio's Messages REST API (2010-04-01) and Content API (v1) for tests and benchmarks.

Both are served on one port: point the twilio client's `api` and `content` domains at `url`. The
Content API accepts what twilio_content_v1.json describes (and what the twilio library sends: every
content type it does not use as null) and answers in its shapes; a message sent with a ContentSid the
fake made is checked like Twilio checks it (21656 for variables that are missing, empty, not JSON, or
hold a line break) and recorded with the text rendered. The call Recordings the voice line fetches
and deletes are served too (FetchRecording, its .mp3 media, DeleteRecording).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_VERSION = "2010-04-01"
CREATE_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
FETCH_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$")
# The Recording resource (.json: FetchRecording, DeleteRecording) and its media (.mp3, .wav).
RECORDING_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Recordings/([^/.]+)\.(json|mp3|wav)$")
RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
CONTENT_LIST_PATH = re.compile(r"^/v1/Content$")
CONTENT_PATH = re.compile(r"^/v1/Content/([^/]+)$")
APPROVAL_CREATE_PATH = re.compile(r"^/v1/Content/([^/]+)/ApprovalRequests/whatsapp$")
APPROVAL_FETCH_PATH = re.compile(r"^/v1/Content/([^/]+)/ApprovalRequests$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
# A WhatsApp business-scoped user id (Meta: two-letter country code, a period, up to 128 letters and
# digits): Twilio sends to whatsapp:<id> as to whatsapp:+<number>.
BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,128}$")

# The content types of twilio_content_v1.json ("types"), and the properties of the ones the fake checks.
CONTENT_TYPES = frozenset({
    "twilio/text", "twilio/media", "twilio/location", "twilio/list-picker", "twilio/call-to-action",
    "twilio/quick-reply", "twilio/card", "twilio/catalog", "twilio/carousel", "twilio/flows",
    "twilio/schedule", "whatsapp/card", "whatsapp/authentication", "whatsapp/flows",
})
CHECKED_TYPES = {   # type -> (required, allowed) properties, as the schemas say
    "twilio/text": ({"body"}, {"body"}),
    "twilio/list-picker": ({"body", "button", "items"}, {"body", "button", "items"}),
    "twilio/quick-reply": ({"body", "actions"}, {"body", "actions"}),
}
LIST_ITEM = ({"id", "item"}, {"id", "item", "description"})
QUICK_REPLY_ACTION = ({"title"}, {"type", "title", "id"})
# Limits Twilio documents for the content types the bot uses (checked on literal text, not {{n}}).
LIMITS = {"body": 1024, "button": 20, "item": 24, "description": 72, "id": 200, "title": 20}
MAX_LIST_ITEMS, MAX_QUICK_REPLIES = 10, 10
APPROVAL_CATEGORIES = frozenset({"UTILITY", "MARKETING", "AUTHENTICATION"})
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

# CreateMessageRequest properties in twilio_api_v2010.json; Twilio ignores any other names.
CREATE_PARAMS = frozenset({
    "To", "StatusCallback", "ApplicationSid", "MaxPrice", "ProvideFeedback", "Attempt",
    "ValidityPeriod", "ForceDelivery", "ContentRetention", "AddressRetention", "SmartEncoded",
    "PersistentAction", "TrafficType", "ShortenUrls", "ScheduleType", "SendAt", "SendAsMms",
    "ContentVariables", "RiskCheck", "From", "FallbackFrom", "MessagingServiceSid", "Body",
    "MediaUrl", "ContentSid",
})
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
MAX_BODY = 1600

# Twilio's wording for the codes tests usually inject, so callers can omit `message`.
DEFAULT_MESSAGES = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21655: "The ContentSid is Invalid",
    21656: "The ContentVariables Parameter is invalid",
    63016: "Failed to send freeform message because you are outside the allowed window. "
           "If you are using WhatsApp, please use a Message Template.",
    63018: "Rate limit exceeded for Channel",
    63049: "Meta chose not to deliver this WhatsApp marketing message",
}


@dataclass
class RecordedRequest:
    """One Messages.json create as the fake received it."""

    time: float
    account_sid: str
    form: dict[str, list[str]]
    sid: str | None
    status_code: int
    error_code: int | None = None

    def get(self, key: str) -> str | None:
        """First value of a form field, or None."""
        values = self.form.get(key)
        return values[0] if values else None

    @property
    def unknown_params(self) -> list[str]:
        """Form names Twilio's schema does not know (accepted and ignored)."""
        return sorted(set(self.form) - CREATE_PARAMS)

    @property
    def variables(self) -> dict:
        """ContentVariables, decoded ({} without)."""
        raw = self.get("ContentVariables")
        return json.loads(raw) if raw else {}


@dataclass
class RecordedContentRequest:
    """One Content API call as the fake received it."""

    time: float
    method: str
    path: str
    body: object            # the decoded JSON body (None without one)
    status_code: int
    sid: str | None = None  # the content it made or acted on
    error_code: int | None = None


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int
    message: str | None


class ApiError(Exception):
    """An answer in Twilio's error JSON shape."""

    def __init__(self, status: int, code: int, message: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code
        self.message = message or DEFAULT_MESSAGES.get(code) or HTTPStatus(status).phrase

    def answer(self) -> tuple[int, dict]:
        """HTTP status and Twilio's error JSON."""
        return self.status, {"code": self.code, "message": self.message,
                             "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                             "status": self.status}


def _first(form: dict[str, list[str]], key: str) -> str:
    return (form.get(key) or [""])[0]


def validate(form: dict[str, list[str]]) -> None:
    """Raise ApiError for a create form Twilio would reject before sending."""
    to, from_ = _first(form, "To"), _first(form, "From")
    body = _first(form, "Body")
    if not to:
        raise ApiError(400, 21604, "A 'To' phone number is required.")
    if not from_ and not _first(form, "MessagingServiceSid"):
        raise ApiError(400, 21603, "A 'From' phone number is required.")
    if not body and not _first(form, "MediaUrl") and not _first(form, "ContentSid"):
        raise ApiError(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY:
        raise ApiError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if not (E164.match(to.removeprefix("whatsapp:"))
            or (to.startswith("whatsapp:") and BSUID.match(to.removeprefix("whatsapp:")))):
        raise ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if from_ and to.startswith("whatsapp:") != from_.startswith("whatsapp:"):
        raise ApiError(400, 21910, "Invalid From and To pair. From and To should be of the same channel.")


def message_resource(account_sid: str, sid: str, form: dict[str, list[str]], body: str | None = None) -> dict:
    """The api.v2010.account.message JSON Twilio answers a successful create with (`body`: the text
    a template rendered to)."""
    now = formatdate(usegmt=True).replace("GMT", "+0000")
    from_ = _first(form, "From") or None
    service = _first(form, "MessagingServiceSid") or None
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": _first(form, "Body") if body is None else body,
        "date_created": now,
        "date_sent": None,  # not sent yet while queued
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": from_,
        "messaging_service_sid": service,
        "num_media": str(len(form.get("MediaUrl", []))),
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        # Twilio picks the sender later (status "accepted") when only a service is given.
        "status": "accepted" if service and not from_ else "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": _first(form, "To"),
        "uri": f"{uri}.json",
    }


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _drop_nulls(value):
    """The twilio library sends every property it knows, absent ones as null: Twilio reads them as absent."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _bad(message: str) -> ApiError:
    return ApiError(400, 20001, message)


def _check_fields(where: str, value, required: set[str], allowed: set[str]) -> None:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    missing = sorted(required - set(value))
    if missing:
        raise _bad(f"{where}: missing required field(s) {', '.join(missing)}")
    extra = sorted(set(value) - allowed)
    if extra:
        raise _bad(f"{where}: unknown field(s) {', '.join(extra)}")
    for name, text in value.items():
        if name in LIMITS and isinstance(text, str):
            if not text.strip():
                raise _bad(f"{where}.{name} is empty")
            if "{{" not in text and len(text) > LIMITS[name]:
                raise _bad(f"{where}.{name} is {len(text)} characters; the limit is {LIMITS[name]}")


def validate_content(body, update: bool = False) -> dict:
    """A ContentCreateRequest (or ContentUpdateRequest) as twilio_content_v1.json describes it; the
    request with nulls dropped, or ApiError."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    body = _drop_nulls(body)
    required = {"types"} if update else {"language", "types"}
    missing = sorted(required - set(body))
    if missing:
        raise _bad(f"missing required field(s) {', '.join(missing)}")
    for name in ("friendly_name", "language"):
        if name in body and not isinstance(body[name], str):
            raise _bad(f"{name} must be a string")
    variables = body.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise _bad("variables must map names to strings")
    types = body["types"]
    if not isinstance(types, dict) or not types:
        raise _bad("types must name at least one content type")
    unknown = sorted(set(types) - CONTENT_TYPES)
    if unknown:
        raise _bad(f"unknown content type(s) {', '.join(unknown)}")
    for kind, value in types.items():
        if kind not in CHECKED_TYPES:
            if not isinstance(value, dict):
                raise _bad(f"{kind} must be an object")
            continue
        _check_fields(kind, value, *CHECKED_TYPES[kind])
        if kind == "twilio/list-picker":
            items = value["items"]
            if not isinstance(items, list) or not 1 <= len(items) <= MAX_LIST_ITEMS:
                raise _bad(f"{kind}.items must hold 1 to {MAX_LIST_ITEMS} items")
            for n, item in enumerate(items):
                _check_fields(f"{kind}.items[{n}]", item, *LIST_ITEM)
        if kind == "twilio/quick-reply":
            actions = value["actions"]
            if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_QUICK_REPLIES:
                raise _bad(f"{kind}.actions must hold 1 to {MAX_QUICK_REPLIES} actions")
            for n, action in enumerate(actions):
                _check_fields(f"{kind}.actions[{n}]", action, *QUICK_REPLY_ACTION)
                if action.get("type") not in (None, "QUICK_REPLY"):
                    raise _bad(f"{kind}.actions[{n}].type must be QUICK_REPLY")
    return body


def variables_in(value) -> list[str]:
    """The {{name}} variables a content type uses, in order, each once."""
    text = json.dumps(value, ensure_ascii=False)
    return list(dict.fromkeys(VARIABLE.findall(text)))


def render(text: str, values: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: values.get(m[1], m[0]), text)


class FakeTwilio:
    """Twilio REST API fake on 127.0.0.1: Messages create, fetch and list; Content create, fetch,
    list, update, delete, and WhatsApp approval requests."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-token",
                 latency: float = 0.0):
        self.account_sid, self.auth_token, self.latency = account_sid, auth_token, latency
        self.url = ""
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._attempts: list[RecordedRequest] = []
        self._messages: dict[str, dict] = {}
        self._next_failures: deque[_Failure] = deque()
        self._failures_by_to: dict[str, _Failure] = {}
        self._contents: dict[str, dict] = {}          # sid -> content resource
        self._approvals: dict[str, dict] = {}         # sid -> WhatsApp approval request
        self._content_requests: list[RecordedContentRequest] = []
        self._next_content_failures: deque[tuple[_Failure, str | None]] = deque()
        self.strict_content = False      # True: a ContentSid this fake did not make is 21655
        self._recordings: dict[str, dict] = {}
        self.deleted_recordings: list[str] = []
        self.recording_fetches: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.in_flight = 0               # message creates being answered right now ...
        self.max_in_flight = 0           # ... and the most at once since the start

    def start(self) -> FakeTwilio:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        self._server = _Server(self)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        # A short poll interval keeps stop() fast.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Accepted (201) creates in arrival order (a snapshot)."""
        with self._cond:
            return list(self._requests)

    @property
    def attempts(self) -> list[RecordedRequest]:
        """Every create attempt, accepted or not (a snapshot)."""
        with self._cond:
            return list(self._attempts)

    @property
    def content_requests(self) -> list[RecordedContentRequest]:
        """Every Content API call, in arrival order (a snapshot)."""
        with self._cond:
            return list(self._content_requests)

    @property
    def contents(self) -> dict[str, dict]:
        """The content resources that exist now, by SID (a snapshot)."""
        with self._cond:
            return {sid: json.loads(json.dumps(c)) for sid, c in self._contents.items()}

    def approval(self, sid: str) -> dict | None:
        with self._cond:
            found = self._approvals.get(sid)
            return dict(found) if found else None

    def set_approval(self, sid: str, status: str, rejection_reason: str = "") -> None:
        """WhatsApp's verdict on a template submitted for approval (approved, rejected, paused ...)."""
        with self._cond:
            self._approvals[sid].update(status=status, rejection_reason=rejection_reason)

    def fail_next_content(self, status: int, code: int, message: str | None = None, times: int = 1,
                          method: str | None = None) -> None:
        """Answer the next `times` authenticated Content API calls (with this `method`, if given) with
        this error."""
        with self._cond:
            self._next_content_failures.extend([(_Failure(status, code, message), method)] * times)

    def fail_next(self, status: int, code: int, message: str | None = None, times: int = 1) -> None:
        """Answer the next `times` authenticated creates with this error, before validation."""
        with self._cond:
            self._next_failures.extend([_Failure(status, code, message)] * times)

    def fail_for(self, to: str, status: int, code: int, message: str | None = None) -> None:
        """Answer every valid create to exactly this To with this error (63016 only without ContentSid)."""
        with self._cond:
            self._failures_by_to[to] = _Failure(status, code, message)

    def add_recording(self, audio: bytes, call_sid: str | None = None, content_type: str = "audio/mpeg",
                      not_ready: int = 0) -> str:
        """A call recording as Twilio keeps it; its media answers 404 for the first `not_ready` fetches
        (Twilio is still writing it). Returns its RecordingSid."""
        sid = "RE" + secrets.token_hex(16)
        with self._cond:
            self._recordings[sid] = {"audio": audio, "type": content_type, "not_ready": not_ready,
                                     "call_sid": call_sid or "CA" + secrets.token_hex(16)}
        return sid

    @property
    def recordings(self) -> dict[str, dict]:
        """Recordings still at the fake Twilio, by sid (a snapshot)."""
        with self._cond:
            return dict(self._recordings)

    def clear(self) -> None:
        """Forget recorded requests, messages and scripted failures."""
        with self._cond:
            self._requests.clear()
            self._attempts.clear()
            self._messages.clear()
            self._next_failures.clear()
            self._failures_by_to.clear()
            self._contents.clear()
            self._approvals.clear()
            self._content_requests.clear()
            self._next_content_failures.clear()
            self._recordings.clear()
            self.deleted_recordings.clear()
            self.recording_fetches.clear()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least n creates were accepted; AssertionError otherwise."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                return list(self._requests)
            accepted = len(self._requests)
            attempts = [(r.get("To"), r.status_code, r.error_code) for r in self._attempts]
        shown = attempts if len(attempts) <= 40 else [*attempts[:20], "...", *attempts[-20:]]
        raise AssertionError(f"expected {n} accepted messages within {timeout}s, got {accepted}; "
                             f"{len(attempts)} attempts (To, status, code): {shown}")

    # -- request handling, called from server threads --

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user == self.account_sid or user.startswith("SK")) and password == self.auth_token

    def _create(self, account_sid: str, auth: str | None, form: dict[str, list[str]]) -> tuple[int, dict]:
        arrived = time.monotonic()
        sid, error = None, None
        try:
            self._check_access(account_sid, auth)
            with self._cond:
                failure = self._next_failures.popleft() if self._next_failures else None
            if failure:
                raise ApiError(failure.status, failure.code, failure.message)
            validate(form)
            rendered = self._check_content(form)
            self._check_recipient(form, rendered is not None and self._session_only(_first(form, "ContentSid")))
            sid = "SM" + secrets.token_hex(16)
            status, payload = 201, message_resource(account_sid, sid, form, rendered)
        except ApiError as e:
            error, (status, payload) = e.code, e.answer()
        record = RecordedRequest(arrived, account_sid, form, sid, status, error)
        with self._cond:
            self._attempts.append(record)
            if sid:
                self._messages[sid] = payload
                self._requests.append(record)
                self._cond.notify_all()
        return status, payload

    def _fetch(self, account_sid: str, sid: str, auth: str | None) -> tuple[int, dict]:
        try:
            self._check_access(account_sid, auth)
            with self._cond:
                message = self._messages.get(sid)
            if message is None:
                raise _not_found(f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json")
            return 200, message
        except ApiError as e:
            return e.answer()

    def _list(self, account_sid: str, query: dict[str, str], auth: str | None) -> tuple[int, dict]:
        """ListMessage: filter by To, From and the DateSent day (Twilio filters by day, not time)."""
        try:
            self._check_access(account_sid, auth)
            with self._cond:
                messages = list(self._messages.values())
            day = lambda m: parsedate_to_datetime(m["date_created"]).date().isoformat()  # noqa: E731
            # The twilio library sends DateSent>/< as a date-time; Twilio compares the day.
            for key, test in (("To", lambda m, v: m["to"] == v), ("From", lambda m, v: m["from"] == v),
                              ("DateSent", lambda m, v: day(m) == v[:10]),
                              ("DateSent>", lambda m, v: day(m) >= v[:10]),
                              ("DateSent<", lambda m, v: day(m) <= v[:10])):
                if key in query:
                    messages = [m for m in messages if test(m, query[key])]
            messages.reverse()   # newest first, like Twilio
            size = int(query.get("PageSize", 50))
            uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
            return 200, {"messages": messages[:size], "end": min(size, len(messages)) - 1, "first_page_uri": uri,
                         "next_page_uri": None, "page": 0, "page_size": size, "previous_page_uri": None,
                         "start": 0, "uri": uri}
        except ApiError as e:
            return e.answer()

    def _get_recording(self, account_sid: str, sid: str, kind: str, auth: str | None, path: str):
        """FetchRecording (.json), or the recording's audio (.mp3 / .wav) as (bytes, content type)."""
        try:
            self._check_access(account_sid, auth)
            with self._cond:
                item = self._recordings.get(sid)
                if item is not None and kind != "json":
                    self.recording_fetches.append(sid)
                    if item["not_ready"] > 0:
                        item["not_ready"] -= 1
                        item = None
            if item is None or not RECORDING_SID.match(sid):
                raise _not_found(path)
            if kind == "json":
                return 200, recording_resource(account_sid, sid, item)
            return 200, (item["audio"], item["type"] if kind == "mp3" else "audio/x-wav")
        except ApiError as e:
            return e.answer()

    def _delete_recording(self, account_sid: str, sid: str, auth: str | None, path: str) -> tuple[int, dict | None]:
        """DeleteRecording: 204, or 404 for a recording that is not there."""
        try:
            self._check_access(account_sid, auth)
            with self._cond:
                item = self._recordings.pop(sid, None)
                if item is not None:
                    self.deleted_recordings.append(sid)
            if item is None:
                raise _not_found(path)
            return 204, None
        except ApiError as e:
            return e.answer()

    def _check_access(self, account_sid: str, auth: str | None) -> None:
        if not self._authorized(auth):
            raise ApiError(401, 20003, "Authenticate")
        if account_sid != self.account_sid:
            raise _not_found(f"/{API_VERSION}/Accounts/{account_sid}/Messages.json")

    def _check_recipient(self, form: dict[str, list[str]], session_only: bool = False) -> None:
        with self._cond:
            failure = self._failures_by_to.get(_first(form, "To"))
        # 63016 is the WhatsApp 24 h session window, which an approved template (ContentSid) bypasses;
        # a list picker, or quick replies never approved, are session messages all the same.
        if failure and not (failure.code == 63016 and _first(form, "ContentSid") and not session_only):
            raise ApiError(failure.status, failure.code, failure.message)

    def _session_only(self, content_sid: str) -> bool:
        with self._cond:
            content = self._contents.get(content_sid) or {}
            approved = (self._approvals.get(content_sid) or {}).get("status") == "approved"
        types = content.get("types") or {}
        return "twilio/list-picker" in types or ("twilio/quick-reply" in types and not approved)

    def _check_content(self, form: dict[str, list[str]]) -> str | None:
        """A send with ContentSid, checked as Twilio checks it; the text the template renders to
        (None without ContentSid, or for a SID this fake did not make)."""
        content_sid, raw = _first(form, "ContentSid"), _first(form, "ContentVariables")
        if not content_sid:
            if raw:
                raise ApiError(400, 21654, "ContentSid Required")
            return None
        if not CONTENT_SID.match(content_sid):
            raise ApiError(400, 21655)
        with self._cond:
            content = self._contents.get(content_sid)
        if content is None:
            if self.strict_content:
                raise ApiError(400, 21655)
            return None
        try:
            given = json.loads(raw) if raw else {}
        except ValueError:
            raise ApiError(400, 21656, "The ContentVariables Parameter is not a JSON String") from None
        if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
            raise ApiError(400, 21656)
        values = {**(content.get("variables") or {}), **given}
        types = content["types"]
        kind = next(iter(types))
        for name in variables_in(types):
            value = values.get(name)
            if not value or not value.strip():
                raise ApiError(400, 21656, f"ContentVariables: variable {{{{{name}}}}} is missing or empty")
        for name in variables_in(types[kind].get("body", "")):
            value = values[name]
            if "\n" in value or "\t" in value or "     " in value:
                raise ApiError(400, 21656, f"ContentVariables: variable {{{{{name}}}}} of the body holds a "
                                           "line break, a tab or more than four spaces")
        return render(types[kind].get("body", ""), values)

    # -- the Content API --

    def _content_call(self, method: str, path: str, auth: str | None, body) -> tuple[int, dict | None]:
        arrived = time.monotonic()
        sid, error = None, None
        try:
            if not self._authorized(auth):
                raise ApiError(401, 20003, "Authenticate")
            with self._cond:
                failure = next((f for f in self._next_content_failures if f[1] in (None, method)), None)
                if failure:
                    self._next_content_failures.remove(failure)
            if failure:
                raise ApiError(failure[0].status, failure[0].code, failure[0].message)
            status, payload, sid = self._content_route(method, path, body)
        except ApiError as e:
            error, (status, payload) = e.code, e.answer()
        with self._cond:
            self._content_requests.append(RecordedContentRequest(arrived, method, path, body, status, sid, error))
        return status, payload

    def _content_resource(self, sid: str, body: dict, created: str | None = None) -> dict:
        base = self.url or "https://content.twilio.com"
        now = _iso_now()
        return {"sid": sid, "account_sid": self.account_sid, "friendly_name": body.get("friendly_name", ""),
                "language": body.get("language", "en"), "variables": body.get("variables", {}),
                "types": body["types"], "url": f"{base}/v1/Content/{sid}", "date_created": created or now,
                "date_updated": now,
                "links": {"approval_create": f"{base}/v1/Content/{sid}/ApprovalRequests/whatsapp",
                          "approval_fetch": f"{base}/v1/Content/{sid}/ApprovalRequests"}}

    def _content_route(self, method: str, path: str, body) -> tuple[int, dict | None, str | None]:
        if CONTENT_LIST_PATH.match(path):
            if method == "POST":
                request = validate_content(body)
                sid = "HX" + secrets.token_hex(16)
                resource = self._content_resource(sid, request)
                with self._cond:
                    self._contents[sid] = resource
                return 201, resource, sid
            if method == "GET":
                with self._cond:
                    contents = list(self._contents.values())
                base = self.url
                return 200, {"contents": contents, "meta": {
                    "page": 0, "page_size": 50, "first_page_url": f"{base}/v1/Content?PageSize=50&Page=0",
                    "previous_page_url": None, "url": f"{base}/v1/Content?PageSize=50&Page=0",
                    "next_page_url": None, "key": "contents"}}, None
        if match := APPROVAL_CREATE_PATH.match(path):
            sid = match[1]
            content = self._existing(sid, path)
            if method != "POST":
                raise _not_found(path)
            if not isinstance(body, dict):
                raise _bad("the request body must be a JSON object")
            request = _drop_nulls(body)
            name, category = request.get("name"), request.get("category")
            if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
                raise _bad("name: lowercase letters, digits and underscores only")
            if category not in APPROVAL_CATEGORIES:
                raise _bad(f"category must be one of {', '.join(sorted(APPROVAL_CATEGORIES))}")
            kind = next(iter(content["types"]))
            if kind == "twilio/list-picker":
                raise _bad("twilio/list-picker can't be submitted for WhatsApp approval")
            missing = [v for v in variables_in(content["types"]) if not (content.get("variables") or {}).get(v)]
            if missing:
                raise _bad(f"a sample value is required for each variable: {', '.join(missing)}")
            approval = {"name": name, "category": category, "content_type": kind, "status": "received",
                        "rejection_reason": "", "allow_category_change": True}
            with self._cond:
                self._approvals[sid] = approval
            return 201, dict(approval), sid
        if match := APPROVAL_FETCH_PATH.match(path):
            sid = match[1]
            self._existing(sid, path)
            if method != "GET":
                raise _not_found(path)
            with self._cond:
                approval = self._approvals.get(sid)
            whatsapp = dict(approval, type="whatsapp") if approval else {}
            return 200, {"sid": sid, "account_sid": self.account_sid, "whatsapp": whatsapp,
                         "url": f"{self.url}/v1/Content/{sid}/ApprovalRequests"}, sid
        if match := CONTENT_PATH.match(path):
            sid = match[1]
            content = self._existing(sid, path)
            if method == "GET":
                return 200, content, sid
            if method == "PUT":
                request = validate_content(body, update=True)
                merged = {**content, **request}
                resource = self._content_resource(sid, merged, created=content["date_created"])
                with self._cond:
                    self._contents[sid] = resource
                    self._approvals.pop(sid, None)   # changed content needs approval again
                return 200, resource, sid
            if method == "DELETE":
                with self._cond:
                    self._contents.pop(sid, None)
                    self._approvals.pop(sid, None)
                return 204, None, sid
        raise _not_found(path)

    def _existing(self, sid: str, path: str) -> dict:
        with self._cond:
            content = self._contents.get(sid)
        if content is None:
            raise _not_found(path)
        return content


def recording_resource(account_sid: str, sid: str, item: dict) -> dict:
    """The api.v2010.account.recording JSON (FetchRecording)."""
    now = formatdate(usegmt=True).replace("GMT", "+0000")
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Recordings/{sid}"
    return {"account_sid": account_sid, "api_version": API_VERSION, "call_sid": item["call_sid"],
            "conference_sid": None, "date_created": now, "date_updated": now, "start_time": now,
            "duration": "4", "sid": sid, "price": None, "price_unit": "USD", "status": "completed", "channels": 1,
            "source": "RecordVerb", "error_code": None, "uri": f"{uri}.json", "encryption_details": None,
            "subresource_uris": {}, "media_url": f"https://api.twilio.com{uri}"}


def _not_found(path: str) -> ApiError:
    return ApiError(404, 20404, f"The requested resource {path} was not found")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the twilio client's requests.Session expects
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid a 40 ms delayed-ACK stall
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def _content(self, method: str) -> bool:
        """Serve a Content API call; False when the path is not one."""
        path = urlsplit(self.path).path
        if not path.startswith("/v1/Content"):
            return False
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                body = raw.decode("utf-8", "replace")
        status, payload = self.server.fake._content_call(method, path, self.headers.get("Authorization"), body)
        self._send(status, payload)
        return True

    def do_PUT(self) -> None:
        if not self._content("PUT"):
            self._send(*_not_found(urlsplit(self.path).path).answer())

    def do_DELETE(self) -> None:
        path = urlsplit(self.path).path
        recording = RECORDING_PATH.match(path)
        if recording and recording[3] == "json":
            return self._send(*self.server.fake._delete_recording(recording[1], recording[2],
                                                                  self.headers.get("Authorization"), path))
        if not self._content("DELETE"):
            self._send(*_not_found(path).answer())

    def do_POST(self) -> None:
        if self._content("POST"):
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake = self.server.fake
        match = CREATE_PATH.match(urlsplit(self.path).path)
        if not match:
            return self._send(*_not_found(urlsplit(self.path).path).answer())
        # Like Twilio, only a form body carries parameters; anything else reads as an empty form.
        is_form = self.headers.get_content_type() == "application/x-www-form-urlencoded"
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True) if is_form else {}
        with fake._cond:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            status, payload = fake._create(match[1], self.headers.get("Authorization"), form)
            if fake.latency:
                time.sleep(fake.latency)  # only this connection's thread waits
        finally:
            with fake._cond:
                fake.in_flight -= 1
        self._send(status, payload)

    def do_GET(self) -> None:
        if self._content("GET"):
            return
        parts = urlsplit(self.path)
        recording = RECORDING_PATH.match(parts.path)
        if recording:
            status, payload = self.server.fake._get_recording(recording[1], recording[2], recording[3],
                                                              self.headers.get("Authorization"), parts.path)
            if isinstance(payload, tuple):
                return self._send_bytes(status, *payload)
            return self._send(status, payload)
        listing = CREATE_PATH.match(parts.path)
        if listing:
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            return self._send(*self.server.fake._list(listing[1], query, self.headers.get("Authorization")))
        match = FETCH_PATH.match(urlsplit(self.path).path)
        if not match:
            return self._send(*_not_found(urlsplit(self.path).path).answer())
        self._send(*self.server.fake._fetch(match[1], match[2], self.headers.get("Authorization")))

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status: int, payload: dict | None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    def __init__(self, fake: FakeTwilio):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            (self._connections.add if open_ else self._connections.discard)(conn)

    def close_connections(self) -> None:
        # Otherwise a pooled keep-alive connection would still be answered after stop().
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are not bugs
            super().handle_error(request, client_address)
