"""The voice line's webhooks: `POST /twilio/voice` (a call comes in) and the URLs its <Gather>, <Dial>
and <Record> post to. Signed and verified like the message webhooks; HTTP in, TwiML out: the form
goes to the call use case (`calls.answer`), and the Turn it returns is written as TwiML here."""
from __future__ import annotations

import logging
from urllib.parse import quote

import redis
from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from . import calls, voice
from .web import verified_form

log = logging.getLogger(__name__)
voice_bp = Blueprint("voice", __name__)

PATHS = {calls.INCOMING: "/twilio/voice", calls.GATHER: "/twilio/voice/gather", calls.DIALED: "/twilio/voice/dialed",
         calls.RECORDED: "/twilio/voice/recorded"}
DIAL_TIMEOUT = 20        # seconds the forwarded call rings before the caller may leave a message


def base_url(config) -> str:
    """Where Twilio reaches the app: PUBLIC_URL, or (development) the URL this request came to."""
    return config.public_url or request.url_root.rstrip("/")


def media_url(base: str, lang: str, audio: str) -> str:
    """The URL the app serves a content recording at (see web.media), or an https URL as written."""
    if audio.startswith("https://"):
        return audio
    return f"{base}/media/{quote(lang)}/{quote(audio.removeprefix('audio/'))}"


def twiml(actions: tuple[voice.Action, ...], base: str, config) -> str:
    """The Turn's actions as TwiML."""
    response = VoiceResponse()
    for action in actions:
        if isinstance(action, voice.Gather):
            gather = response.gather(input="dtmf", num_digits=1, timeout=voice.GATHER_TIMEOUT,
                                     action=base + PATHS[calls.GATHER], method="POST")
            for prompt in action.prompts:
                _add(gather, prompt, base, config)
            # No key before the timeout: Twilio goes on to the next verb, which asks the flow again.
            response.redirect(base + PATHS[calls.GATHER], method="POST")
        elif isinstance(action, voice.Dial):
            response.dial(action.number, action=base + PATHS[calls.DIALED], method="POST", timeout=DIAL_TIMEOUT)
        elif isinstance(action, voice.Record):
            response.record(action=base + PATHS[calls.RECORDED], method="POST", max_length=action.max_seconds,
                            timeout=5, play_beep=True, trim="trim-silence", finish_on_key="1234567890*#")
            # Nothing recorded: Twilio may go on to the next verb instead of the action; either way the
            # flow hears that the message step ended (without a RecordingSid).
            response.redirect(base + PATHS[calls.RECORDED], method="POST")
        elif isinstance(action, voice.Hangup):
            response.hangup()
        else:
            _add(response, action, base, config)
    return str(response)


def _add(parent, prompt, base: str, config) -> None:
    if isinstance(prompt, voice.Play):
        parent.play(media_url(base, prompt.lang, prompt.audio))
    else:
        voice_name = config.voice_en if prompt.lang == "en" else config.voice_es
        parent.say(prompt.text, voice=voice_name, language=voice.SAY_LANGUAGE[prompt.lang])


def _answer(step: str) -> Response:
    runtime = current_app.extensions["derechos"]
    form = verified_form(runtime)
    try:
        turn = calls.answer(runtime, step, form)
        actions = turn.actions
    except redis.RedisError as exc:
        runtime.note_redis_down(exc)
        log.error("a call was answered with an apology: storage is unavailable")
        actions = voice.unavailable()
    except Exception:  # a caller hears an apology in Spanish, never Twilio's "application error"
        log.exception("a call was answered with an apology: unexpected error on %s", request.path)
        actions = voice.unavailable()
    body = twiml(actions, base_url(runtime.config), runtime.config)
    return Response(body, status=200, mimetype="application/xml")


@voice_bp.post(PATHS[calls.INCOMING])
def incoming_call():
    return _answer(calls.INCOMING)


@voice_bp.post(PATHS[calls.GATHER])
def gathered():
    return _answer(calls.GATHER)


@voice_bp.post(PATHS[calls.DIALED])
def dialed():
    return _answer(calls.DIALED)


@voice_bp.post(PATHS[calls.RECORDED])
def recorded():
    return _answer(calls.RECORDED)
