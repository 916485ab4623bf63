"""Shared by the voice line's tests: a content tree with real (tiny, silent) recordings, a caller
that signs its webhook posts as Twilio does, and the rules TwiML must follow to be accepted."""
from __future__ import annotations

import shutil
import uuid
import wave
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import ACCOUNT_SID, CONTENT

SAY_LANGUAGES = {"es-MX", "en-US"}     # what the line speaks; both are in Twilio's <Say> language list
VERBS = {"Say", "Play", "Gather", "Redirect", "Dial", "Record", "Hangup", "Pause"}
GATHER_NOUNS = {"Say", "Play", "Pause"}   # what Twilio allows inside <Gather>
VOICE_PATHS = ("/twilio/voice/gather", "/twilio/voice/dialed", "/twilio/voice/recorded")


def tiny_wav(path: Path, seconds: float = 0.25) -> bytes:
    """A real WAV file: 8 kHz mono silence (no invented speech)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))
    return path.read_bytes()


def content_with_recordings(root: Path) -> Path:
    """The project's content, with Mam recordings: the language's name and the asylum topic.
    Zapotec keeps none."""
    shutil.copytree(CONTENT, root)
    mam = root / "indigenous" / "mam"
    tiny_wav(mam / "audio" / "language.wav")
    tiny_wav(mam / "audio" / "asylum.wav")
    (mam / "asylum.md").write_text("---\nstatus: reviewed\nreviewed_by: \"test fixture (not speech)\"\n"
                                   "audio: audio/asylum.wav\n---\n", encoding="utf-8")
    return root


class Caller:
    """A phone calling the voice line: posts each webhook signed, as Twilio does."""

    def __init__(self, phone, number: str = "+15550123", base: str = "http://localhost"):
        self.phone, self.number, self.base = phone, number, base
        self.call_sid = "CA" + uuid.uuid4().hex
        self.last = None

    def form(self, **extra) -> dict[str, str]:
        form = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": self.call_sid,
                "CallStatus": "in-progress", "Direction": "inbound", "From": self.number, "To": "+15550000",
                "Caller": self.number, "Called": "+15550000"}
        form.update(extra)
        return {k: v for k, v in form.items() if v is not None}

    def post(self, path: str, **extra):
        response = self.phone.post(path, self.form(**extra), url=self.base + path)
        self.last = response
        return response

    def dial(self):
        return self.root(self.post("/twilio/voice"))

    def press(self, key: str):
        return self.root(self.post("/twilio/voice/gather", Digits=key))

    def silence(self):
        return self.root(self.post("/twilio/voice/gather"))

    @staticmethod
    def root(response) -> ET.Element:
        assert response.status_code == 200, response.data[:300]
        return ET.fromstring(response.data)


def said(root: ET.Element) -> str:
    """Everything the TwiML says, in order."""
    return " ".join((el.text or "").strip() for el in root.iter("Say"))


def played(root: ET.Element) -> list[str]:
    return [(el.text or "").strip() for el in root.iter("Play")]


def check_twiml(data: bytes, base: str, voices: dict[str, str], client=None) -> ET.Element:
    """TwiML as Twilio accepts it, and as the voice line promises it: known verbs only, absolute
    action URLs under `base` posted with POST, one digit per <Gather>, <Say> in es-MX or en-US with
    the configured voice, <Play> of a URL the app serves (fetched through `client`)."""
    root = ET.fromstring(data)
    assert root.tag == "Response"
    for verb in root:
        assert verb.tag in VERBS, verb.tag
        if verb.tag == "Gather":
            assert verb.get("numDigits") == "1" and verb.get("input") == "dtmf"
            assert int(verb.get("timeout")) > 0
            _action(verb.get("action"), base, "/twilio/voice/gather")
            assert verb.get("method") == "POST"
            assert list(verb), "a Gather says something"
            for noun in verb:
                assert noun.tag in GATHER_NOUNS, noun.tag
                _noun(noun, base, voices, client)
        elif verb.tag == "Redirect":
            _action((verb.text or "").strip(), base, None)
            assert verb.get("method") == "POST"
        elif verb.tag == "Dial":
            _action(verb.get("action"), base, "/twilio/voice/dialed")
            assert (verb.text or "").strip().startswith("+")
        elif verb.tag == "Record":
            _action(verb.get("action"), base, "/twilio/voice/recorded")
            assert 0 < int(verb.get("maxLength")) <= 120
        elif verb.tag in ("Say", "Play"):
            _noun(verb, base, voices, client)
    return root


def _action(url: str | None, base: str, path: str | None) -> None:
    assert url and url.startswith(base + "/"), url
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.netloc
    assert parts.path in ((path,) if path else VOICE_PATHS), url


def _noun(noun: ET.Element, base: str, voices: dict[str, str], client) -> None:
    text = (noun.text or "").strip()
    assert text, f"empty <{noun.tag}>"
    if noun.tag == "Say":
        language = noun.get("language")
        assert language in SAY_LANGUAGES, language
        assert noun.get("voice") == voices[language]
        assert "{" not in text and "<" not in text, text
    elif noun.tag == "Play":
        assert text.startswith(base + "/media/") or text.startswith("https://"), text
        if client is not None and text.startswith(base + "/media/"):
            served = client.get(urlsplit(text).path)
            assert served.status_code == 200, text
            assert served.mimetype.startswith("audio/"), served.mimetype
