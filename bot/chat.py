"""`derechos chat`: a terminal phone that writes to the bot through the signed webhook and reads
the replies the worker put in the dry-run outbox."""
from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import click
from twilio.request_validator import RequestValidator

from . import sms
from .runtime import Runtime


def signed_post(url: str, form: dict[str, str], auth_token: str, timeout: float = 10.0) -> tuple[int, str]:
    """POST a form the way Twilio does, with X-Twilio-Signature."""
    signature = RequestValidator(auth_token).compute_signature(url, form)
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def inbound_form(address: str, body: str, to: str = "+15550000") -> dict[str, str]:
    """The fields Twilio posts for one incoming message."""
    sid = "SM" + uuid.uuid4().hex
    whatsapp = address.startswith("whatsapp:")
    return {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": address,
            "To": ("whatsapp:" + to) if whatsapp else to, "Body": body, "NumMedia": "0", "NumSegments": "1",
            "ApiVersion": "2010-04-01"}


def wait_for_replies(runtime: Runtime, ref: str, seen: int, timeout: float = 15.0, settle: float = 0.6):
    """New outbox entries for this person: wait for the first, then a moment for the rest."""
    deadline, last_new, last_count = time.monotonic() + timeout, None, seen
    entries = []
    while time.monotonic() < deadline:
        entries = runtime.store.outbox(ref=ref, last=1000)
        if len(entries) > seen:
            if last_new is None or len(entries) != last_count:
                last_new, last_count = time.monotonic(), len(entries)
            elif time.monotonic() - last_new > settle:
                break
        time.sleep(0.05)
    return entries[seen:]


def run_chat(runtime: Runtime, url: str, address: str) -> None:
    token = runtime.config.webhook_token
    ref = runtime.store.ref(address)
    channel = "WhatsApp" if address.startswith("whatsapp:") else "SMS"
    click.echo(f"You are a {channel} user. Write a message (e.g. HOLA, asilo, my boss won't pay me); "
               "Ctrl-D to quit.")
    seen = len(runtime.store.outbox(ref=ref, last=1000))
    while True:
        try:
            text = input("> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        status, body = signed_post(url + "/twilio/messages", inbound_form(address, text), token)
        if status != 200:
            click.echo(f"[the webhook answered {status}: {body.strip()[:200]}]")
            continue
        replies = wait_for_replies(runtime, ref, seen)
        seen += len(replies)
        if not replies:
            click.echo("[no reply]")
        for entry in replies:
            info = sms.segment_info(entry.body)
            detail = f"{info.segments} segment(s) {info.encoding}" if entry.channel == "sms" else \
                f"{info.characters} characters"
            click.secho(f"── {channel} · {detail} ──", dim=True)
            click.echo(entry.body)
            if entry.media_url:
                click.echo(f"[audio: {entry.media_url}]")
