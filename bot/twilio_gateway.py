"""Everything that knows the twilio library: webhook signatures, parsing Twilio's form into an
InboundMessage, sending through the REST API with errors classified, and the Content API (WhatsApp
templates)."""
from __future__ import annotations

import functools
import hmac
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Mapping

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from .addresses import channel_of, parse_address, same_person_address
from .bodies import decode_base64_body
from .config import Config
from .errors import BadRequest, SendError
from .messages import SMS, WHATSAPP, InboundMessage, Reply
from .privacy import redact

log = logging.getLogger(__name__)

# Twilio error codes that no retry will fix (OPTED_OUT, OUTSIDE_WINDOW: see errors.py).
BAD_NUMBER = {21211, 21214, 21217, 21401, 21407, 21408, 21612, 21614}
RATE_LIMITED = {20429, 14107, 30022, 63018}   # 63018: WhatsApp's own rate limit for the sender
ACCEPTED_MEDIA = ("image/", "audio/", "video/", "application/pdf", "text/vcard", "text/x-vcard")
MAX_MEDIA = 10
# Fields Twilio sends once: a form that repeats one is not Twilio's (the signature covers both values).
SINGLE_FIELDS = ("From", "To", "Body", "MessageSid", "SmsMessageSid", "SmsSid", "AccountSid", "NumMedia",
                 "MessageStatus", "SmsStatus", "ErrorCode", "CallSid", "Digits", "ExternalUserId",
                 "ButtonPayload", "ButtonText", "ListId", "ListTitle")
# The stable id of what a WhatsApp user tapped: a quick-reply button's id comes as ButtonPayload (its
# label as ButtonText), a list-picker row's id as ListId (its title as ListTitle). Read by id, never by
# label; the label is the Body as well.
CHOICE_FIELDS = ("ButtonPayload", "ListId")
MAX_CHOICE_ID = 200       # Twilio's limit for a list item's id (and more than we ever write)


def check_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """True when X-Twilio-Signature matches the URL and form, as Twilio computes it.

    Twilio's `validate` computes the HMAC twice (the URL with and without its port) on every call;
    the URL as given is what Twilio signs nearly always, so it is tried alone first, and `validate`
    (which tries both forms) only when that does not match."""
    if not signature:
        return False
    validator = _validator(auth_token)
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return validator.validate(url, params, signature)


@functools.lru_cache(maxsize=4)
def _validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


def parse_inbound(form: Mapping[str, str], media: list[tuple[str, str]] | None = None,
                  max_body: int = 1600) -> InboundMessage:
    """Twilio's webhook form as an InboundMessage; BadRequest names what is missing."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    sender = (form.get("From") or "").strip()
    missing = [name for name, value in (("MessageSid", sid), ("From", sender)) if not value]
    if missing:
        raise BadRequest("missing " + ", ".join(missing))
    if len(sid) > 64 or not sid.isascii() or not sid.isalnum():
        raise BadRequest("malformed MessageSid")
    address = parse_address(sender)
    if address is None or (address.startswith("whatsapp:") != sender.startswith("whatsapp:")):
        raise BadRequest("From is not an E.164 number or a WhatsApp user id")
    channel = channel_of(address)
    alias = _alias(form.get("ExternalUserId") or "", address, sid) if channel == WHATSAPP else ""
    # A long SMS a carrier turned into an MMS can arrive as base64 of its text: read the text.
    body = decode_base64_body(form.get("Body") or "")[:max_body]
    choice = ""
    if channel == WHATSAPP:
        choice = next((v.strip() for v in (form.get(name) or "" for name in CHOICE_FIELDS) if v.strip()), "")
        if len(choice) > MAX_CHOICE_ID or not choice.isprintable():
            choice = ""
        if choice and not body:
            body = (form.get("ButtonText") or form.get("ListTitle") or "")[:max_body]
    accepted = tuple((url, kind) for url, kind in (media or [])[:MAX_MEDIA]
                     if kind.startswith(ACCEPTED_MEDIA))
    return InboundMessage(channel=channel, sender=address, body=body, message_sid=sid,
                          to=(form.get("To") or ""), media=accepted,
                          profile_name=(form.get("ProfileName") or "")[:100], choice=choice, alias=alias)


def _alias(external: str, sender: str, sid: str) -> str:
    """ExternalUserId: the person's other WhatsApp address (a user id beside their number), if it is
    one and another than From; a malformed one is ignored with a warning, as courier does (never
    logging the value: an id is personal data)."""
    if not external.strip():
        return ""
    alias = parse_address(external, default_channel=WHATSAPP)
    if alias is None:
        log.warning("ignoring a malformed ExternalUserId on message %s; answering its From", sid[:34])
        return ""
    return "" if same_person_address(alias, sender) else alias


def media_from_form(form: Mapping[str, str]) -> list[tuple[str, str]]:
    """MediaUrl0..N with their content types."""
    try:
        count = min(int(form.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise BadRequest("NumMedia is not a number") from None
    return [(form.get(f"MediaUrl{i}", ""), form.get(f"MediaContentType{i}", "")) for i in range(count)
            if form.get(f"MediaUrl{i}")]


def classify(exc: Exception) -> SendError:
    """Turn what the twilio library raised into a SendError that says whether to retry."""
    if isinstance(exc, TwilioRestException):
        code, status = exc.code, exc.status
        message = redact(str(getattr(exc, "msg", "") or exc))
        retry = status == 429 or code in RATE_LIMITED or (status or 0) >= 500
        return SendError(code, status, message, retry)
    # Connection refused, timeouts, a Twilio outage answering HTML: transient.
    return SendError(None, None, redact(f"{type(exc).__name__}: {exc}"), retry=True)


def rest_client(config: Config, timeout: float = 15.0) -> Client:
    """The twilio REST client every adapter uses: a timeout, and TWILIO_API_URL when set."""
    # The library has no timeout by default: a hung connection would hold a worker forever.
    client = Client(config.twilio_account_sid, config.twilio_auth_token, http_client=TwilioHttpClient(timeout=timeout))
    if config.twilio_api_url:
        client.api.base_url = config.twilio_api_url
    return client


class TwilioSender:
    """Sends through Twilio's REST API (or a mock at TWILIO_API_URL)."""

    def __init__(self, config: Config, timeout: float = 15.0):
        self.config = config
        self.client = rest_client(config, timeout)

    def sender_for(self, channel: str) -> dict[str, str]:
        if self.config.twilio_messaging_service_sid:
            return {"messaging_service_sid": self.config.twilio_messaging_service_sid}
        if channel == WHATSAPP and self.config.twilio_whatsapp_from:
            return {"from_": self.config.twilio_whatsapp_from}
        if channel == SMS and self.config.twilio_sms_from:
            return {"from_": self.config.twilio_sms_from}
        raise SendError(None, None, f"no sender configured for {channel}", retry=False)

    dry_run = False

    def send(self, out, reply: Reply, status_callback: str | None) -> str:
        """Create the message to `out.address`; return its SID or raise SendError."""
        params = dict(self.sender_for(out.channel), to=out.address)
        if reply.content_sid:
            params["content_sid"] = reply.content_sid
            if reply.content_variables:
                params["content_variables"] = json.dumps(reply.content_variables)
        else:
            params["body"] = reply.body
        if reply.media_url:
            params["media_url"] = [reply.media_url]
        if status_callback:
            params["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**params)
        except (TwilioException, OSError, ValueError) as exc:
            raise classify(exc) from None
        except Exception as exc:  # requests' own errors (ConnectionError, Timeout) and the like
            raise classify(exc) from None
        return message.sid

    def find_sent(self, out, body: str | None, since: float) -> str | None:
        """The SID of a message with this body sent to `out.address` since `since`, if Twilio has one.

        Settles a send whose worker died before it learned the answer.
        """
        after = datetime.fromtimestamp(since, timezone.utc) - timedelta(minutes=1)
        try:
            # No DateSent filter: a message still queued at Twilio has no send date yet.
            messages = self.client.messages.list(to=out.address, limit=50)
        except (TwilioException, OSError) as exc:
            raise classify(exc) from None
        for message in messages:
            created = message.date_created
            if created is not None and created < after:
                continue
            # A template's text is Twilio's to render: any message to them since the claim is it.
            if body is None or message.body == body:
                return message.sid
        return None


class ContentClient:
    """Twilio's Content API (content.twilio.com, or the mock at TWILIO_API_URL): the templates that
    show lists and buttons on WhatsApp, and the alert templates, with their WhatsApp approval."""

    def __init__(self, config: Config, timeout: float = 15.0):
        self.client = Client(config.twilio_account_sid, config.twilio_auth_token,
                             http_client=TwilioHttpClient(timeout=timeout))
        if config.twilio_api_url:
            self.client.content.base_url = config.twilio_api_url

    def _call(self, fn):
        try:
            return fn()
        except (TwilioException, OSError, ValueError) as exc:
            raise classify(exc) from None
        except Exception as exc:  # requests' own errors and the like
            raise classify(exc) from None

    def create(self, definition: dict) -> str:
        """Create a template from a Content API create request; its SID."""
        from twilio.rest.content.v1.content import ContentList
        request = ContentList.ContentCreateRequest(definition)
        return self._call(lambda: self.client.content.v1.contents.create(request)).sid

    def update(self, sid: str, definition: dict) -> str:
        """Change a template in place (Twilio refuses for an approved one: SendError)."""
        from twilio.rest.content.v1.content import ContentList
        request = ContentList.ContentUpdateRequest(definition)
        return self._call(lambda: self.client.content.v1.contents(sid).update(request)).sid or sid

    def delete(self, sid: str) -> None:
        self._call(lambda: self.client.content.v1.contents(sid).delete())

    def request_approval(self, sid: str, name: str, category: str) -> str:
        """Submit a template to WhatsApp for approval in a category; the status Twilio answers."""
        from twilio.rest.content.v1.content.approval_create import ApprovalCreateList
        request = ApprovalCreateList.ContentApprovalRequest({"name": name, "category": category})
        answer = self._call(lambda: self.client.content.v1.contents(sid).approval_create.create(request))
        return str(getattr(answer, "status", "") or "submitted")

    def approval_status(self, sid: str) -> str:
        """WhatsApp's verdict on a template (approved, pending, rejected ...), or '' if none was asked."""
        answer = self._call(lambda: self.client.content.v1.contents(sid).approval_fetch().fetch())
        return str((getattr(answer, "whatsapp", None) or {}).get("status") or "")


# --- call recordings -------------------------------------------------------------------------------

RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
MAX_RECORDING_BYTES = 10 * 1024 * 1024


class TwilioRecordings:
    """Fetches a call recording's audio and deletes the recording at Twilio (the voice line keeps its
    own encrypted copy). Only a RecordingSid is ever followed, never a URL from a request."""

    def __init__(self, config: Config, timeout: float = 30.0):
        self.config = config
        self.timeout = timeout
        self.client = rest_client(config, timeout)

    def _url(self, sid: str, suffix: str) -> str:
        if not RECORDING_SID.match(sid):
            raise SendError(None, None, "not a RecordingSid", retry=False)
        return f"{self.client.api.base_url}/2010-04-01/Accounts/{self.config.twilio_account_sid}/Recordings/{sid}{suffix}"

    def fetch(self, sid: str) -> tuple[bytes, str]:
        """The recording as mp3 (audio bytes, "mp3"). Not there yet (Twilio is still writing it): a
        SendError to retry."""
        http = self.client.http_client
        session = http.session or requests.Session()
        try:
            # The library's client reads bodies as text; audio is bytes, so its session is used directly.
            with session.get(self._url(sid, ".mp3"), auth=(self.config.twilio_account_sid, self.config.twilio_auth_token),
                             timeout=self.timeout, stream=True, allow_redirects=True, proxies=http.proxy) as response:
                if response.status_code == 404:
                    raise SendError(20404, 404, "recording not available yet", retry=True)
                if response.status_code >= 400:
                    raise SendError(None, response.status_code, "recording fetch refused",
                                    retry=response.status_code == 429 or response.status_code >= 500)
                data = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > MAX_RECORDING_BYTES:
                        raise SendError(None, None, "recording too large", retry=False)
                kind = (response.headers.get("Content-Type") or "").split(";")[0]
        except requests.RequestException as exc:
            raise classify(exc) from None
        if not kind.startswith("audio/"):
            raise SendError(None, None, f"recording is not audio ({kind[:40]})", retry=True)
        return bytes(data), "wav" if "wav" in kind else "mp3"

    def delete(self, sid: str) -> None:
        """Delete the recording at Twilio; one already gone counts as deleted."""
        self._url(sid, "")     # validates the sid
        try:
            self.client.api.v2010.account.recordings(sid).delete()
        except TwilioRestException as exc:
            if exc.status == 404:
                return
            raise classify(exc) from None
        except (TwilioException, OSError, requests.RequestException) as exc:
            raise classify(exc) from None
