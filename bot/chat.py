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

HELD = {"rate_limited": "held back: you wrote more than INBOUND_PER_MINUTE messages this minute",
        "reply_ceiling": "held back: the hourly reply ceiling (REPLIES_PER_HOUR) is reached",
        "opted_out": "no answer: this number sent STOP (write START to come back)",
        "duplicate": "no answer: this MessageSid was answered already",
        "conversation": "no answer from the bot: an organizer has this conversation",
        "stopping": "no answer: a STOP or delete request of this number waits to be carried out"}


def signed_post(url: str, form: dict[str, str], auth_token: str, timeout: float = 10.0) -> tuple[int, str, dict]:
    """POST a form the way Twilio does, with X-Twilio-Signature; returns status, body and headers."""
    signature = RequestValidator(auth_token).compute_signature(url, form)
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


def inbound_form(address: str, body: str, to: str = "+15550000") -> dict[str, str]:
    """The fields Twilio posts for one incoming message."""
    sid = "SM" + uuid.uuid4().hex
    whatsapp = address.startswith("whatsapp:")
    return {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": address,
            "To": ("whatsapp:" + to) if whatsapp else to, "Body": body, "NumMedia": "0", "NumSegments": "1",
            "ApiVersion": "2010-04-01"}


def new_entries(runtime: Runtime, ref: str, seen: set[str], timeout: float = 15.0, settle: float = 0.6):
    """Outbox entries for this person not shown yet (held ones too): wait for the first, then a moment
    for the rest.

    Entries are told apart by id, not counted: a delete request removes the person's older ones."""
    deadline, last_new, last_count, found = time.monotonic() + timeout, None, 0, []
    while time.monotonic() < deadline:
        found = [e for e in runtime.store.outbox.entries(ref=ref, last=1000, held=True) if e.id not in seen]
        if found:
            if last_new is None or len(found) != last_count:
                last_new, last_count = time.monotonic(), len(found)
            elif time.monotonic() - last_new > settle:
                break
        time.sleep(0.05)
    return found


def run_chat(runtime: Runtime, url: str, address: str, read=input, post=signed_post, timeout: float = 15.0) -> None:
    """Read a line, post it as the phone would, print what the phone gets (or why it gets nothing)."""
    token = runtime.config.webhook_token
    ref = runtime.store.ref(address)
    channel = "WhatsApp" if address.startswith("whatsapp:") else "SMS"
    article = "a" if channel == "WhatsApp" else "an"
    click.echo(f"You are writing as {article} {channel} user ({address}). Write a message (e.g. HOLA, asilo, "
               "my boss won't pay me); Ctrl-D to quit.")
    seen = {e.id for e in runtime.store.outbox.entries(ref=ref, last=1000, held=True)}
    while True:
        try:
            text = read("> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        try:
            status, body, headers = post(url + "/twilio/messages", inbound_form(address, text), token)
        except OSError as exc:      # the bot stopped meanwhile
            click.echo(f"[the bot at {url} does not answer ({getattr(exc, 'reason', exc)}): is it still running?]")
            continue
        if status != 200:
            click.echo(f"[the webhook answered {status}: {body.strip()[:200]}]")
            continue
        held = headers.get("X-Derechos-Held")
        entries = new_entries(runtime, ref, seen, timeout=2.0 if held else timeout)
        seen.update(e.id for e in entries)
        replies = [e for e in entries if not e.held]
        reasons = ([held] if held else []) + [e.held for e in entries if e.held and e.held != held]
        if not entries and not held:
            click.echo("[no reply]")
        for entry in replies:
            info = sms.segment_info(entry.body)
            detail = f"{info.segments} segment(s) {info.encoding}" if entry.channel == "sms" else \
                f"{info.characters} characters"
            click.secho(f"── {channel} · {detail} ──", dim=True)
            click.echo(entry.body)
            if entry.media_url:
                click.echo(f"[audio: {entry.media_url}]")
        for reason in dict.fromkeys(reasons):
            click.echo(f"[{HELD.get(reason, 'held back: ' + reason)}]")
