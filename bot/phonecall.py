"""`derechos call`: a terminal phone that calls the voice line through its signed webhooks, prints
what a caller would hear (what is said, in which voice, and which recordings are played), and
takes keypad digits. It follows the TwiML as Twilio would: a <Gather> waits for a key, a silence
goes on to the next verb, <Redirect>, <Dial> and <Record> post where they say."""
from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from typing import Callable

import click

from .chat import new_entries, signed_post
from .runtime import Runtime

ACCOUNT_SID = "AC" + "0" * 32


def call_form(call_sid: str, number: str, to: str = "+15550000", **extra: str) -> dict[str, str]:
    """The fields Twilio posts to a voice webhook for an incoming call."""
    form = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call_sid, "CallStatus": "in-progress",
            "Called": to, "Caller": number, "Direction": "inbound", "From": number, "To": to}
    form.update(extra)
    return form


class TerminalCall:
    """One call, from the first webhook to the hang-up."""

    def __init__(self, runtime: Runtime, url: str, number: str, keys: Callable[[str], str] = input,
                 echo: Callable[[str], None] = click.echo):
        self.runtime, self.url, self.number = runtime, url.rstrip("/"), number
        self.read, self.echo = keys, echo
        self.call_sid = "CA" + secrets.token_hex(16)
        self.pending = ""            # keys typed ahead ("21" presses 2, then 1)
        self.ref = runtime.store.ref(number)
        self.seen = {e.id for e in runtime.store.outbox.entries(ref=self.ref, last=1000)}

    def run(self) -> None:
        document = self.post(self.url + "/twilio/voice", {})
        while document is not None:
            document = self.follow(document)
        self.echo("[call ended]")

    def post(self, url: str, extra: dict[str, str]) -> ET.Element | None:
        status, body, _ = signed_post(url, call_form(self.call_sid, self.number, **extra),
                                      self.runtime.config.webhook_token)
        if status != 200:
            self.echo(f"[the webhook answered {status}: {body.strip()[:200]}]")
            return None
        return ET.fromstring(body)

    def follow(self, document: ET.Element) -> ET.Element | None:
        """Carry out one TwiML document; the next document, or None when the call is over."""
        for verb in document:
            if verb.tag in ("Say", "Play"):
                self.hear(verb)
            elif verb.tag == "Gather":
                for prompt in verb:
                    self.hear(prompt)
                self.texts()
                key = self.key()
                if key is None:
                    self.echo("[you hung up]")
                    return None
                if key:
                    return self.post(verb.get("action"), {"Digits": key})
                self.echo("[silence: no key]")
            elif verb.tag == "Redirect":
                return self.post((verb.text or "").strip(), {})
            elif verb.tag == "Dial":
                answered = self.ask(f"[the line forwards the call to {(verb.text or '').strip()}; a terminal cannot "
                                    "connect it. Did a person answer? y/N] ")
                if answered is None:
                    return None
                status = "completed" if answered.strip().lower().startswith("y") else "no-answer"
                return self.post(verb.get("action"), {"DialCallStatus": status})
            elif verb.tag == "Record":
                said = self.ask(f"[beep: recording up to {verb.get('maxLength')} s. Type what you would say "
                                "(it is not kept), Enter to finish] ")
                if said is None:
                    return None
                words = len(said.split())
                extra = {"RecordingDuration": str(words), "Digits": "hangup"}
                if words:
                    sid = "RE" + secrets.token_hex(16)
                    extra.update(RecordingSid=sid, RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/"
                                                                 f"{ACCOUNT_SID}/Recordings/{sid}")
                return self.post(verb.get("action"), extra)
            elif verb.tag == "Hangup":
                self.texts()
                return None
        self.texts()
        return None

    def hear(self, verb: ET.Element) -> None:
        if verb.tag == "Play":
            self.echo(f"[plays {(verb.text or '').strip()}]")
        elif verb.tag == "Say":
            self.echo(f"({verb.get('language')}) {(verb.text or '').strip()}")

    def key(self) -> str | None:
        """The next key: typed ahead, or asked for ("" is a silence, None a hang-up)."""
        if not self.pending:
            typed = self.ask("keys> ")
            if typed is None:
                return None
            self.pending = "".join(c for c in typed if c in "0123456789*#")
            if not self.pending:
                return ""
        key, self.pending = self.pending[0], self.pending[1:]
        return key

    def ask(self, prompt: str) -> str | None:
        try:
            return self.read(prompt)
        except (EOFError, KeyboardInterrupt):
            self.echo("")
            return None

    def texts(self) -> None:
        """Text messages the line sent this caller (the worker puts them in the dry-run outbox)."""
        for entry in new_entries(self.runtime, self.ref, self.seen, timeout=0.3, settle=0.2):
            self.seen.add(entry.id)
            self.echo("── text message to you ──")
            self.echo(entry.body)
            if entry.media_url:
                self.echo(f"[audio: {entry.media_url}]")


def run_call(runtime: Runtime, url: str, number: str) -> None:
    click.echo(f"You are calling the voice line from {number}. Type the keys you press (0-9, *), Enter alone "
               "for a silence; Ctrl-D hangs up.")
    TerminalCall(runtime, url, number).run()
