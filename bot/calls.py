"""The voice line's use case: one webhook of a call, from the verified form to what to answer.

`answer(runtime, step, form)` is the only path: it finds the caller by the same ref as on SMS (so
their language and STOP are shared), runs the call flow (`voice`), and in one transaction stores
the call's state and carries out what the flow asks: remember a language chosen, text a page through
the normal send path, open a `callback` hand-off. `keep_recording` is the job that fetches a call
recording from Twilio, keeps it encrypted with its hand-off and deletes it at Twilio.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import replace

from . import voice
from .addresses import is_e164
from .conversation import Event, State, page_reply
from .delivery import reply_payload
from .jobs import REPLIES, enqueue_handoff_notice, enqueue_recording, enqueue_replies
from .messages import SMS
from .twilio_gateway import RECORDING_SID, TwilioRecordings

log = logging.getLogger(__name__)

INCOMING, GATHER, DIALED, RECORDED = "incoming", "gather", "dialed", "recorded"
STEPS = (INCOMING, GATHER, DIALED, RECORDED)
CALL_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")


def answer(runtime, step: str, form: dict[str, str], now: dt.datetime | None = None) -> voice.Turn:
    """Handle one webhook of a call; raises redis.RedisError when storage is away (the web answers
    with an apology then)."""
    call_sid = (form.get("CallSid") or "").strip()
    if step not in STEPS or not CALL_SID.match(call_sid):
        return voice.Turn(voice.unavailable(), voice.CallState(screen=voice.ENDED))
    store = runtime.store
    catalog = runtime.content.get().catalog
    number = (form.get("From") or "").strip()
    ref = store.ref(number) if is_e164(number) else None
    person = store.people.load_state(ref) if ref else None
    caller = _caller(runtime, number, person, now)
    stored = store.calls.load(call_sid) if step != INCOMING else None
    if stored is None and step != RECORDED:
        turn = voice.start(catalog, caller)
        if step == INCOMING:
            store.metrics.count("call")
    else:
        state = voice.CallState.from_dict(stored)
        if step == GATHER:
            turn = voice.press(catalog, state, form.get("Digits"), caller)
        elif step == DIALED:
            turn = voice.dialed(catalog, state, (form.get("DialCallStatus") or "").strip(), caller)
        else:
            sid = (form.get("RecordingSid") or "").strip()
            turn = voice.recorded(catalog, state, sid if RECORDING_SID.match(sid) else None,
                                  _seconds(form.get("RecordingDuration")), caller)
    with store.unit() as uow:
        for event in turn.events:
            _apply(runtime, uow, event, call_sid, ref, number, person, caller)
        if turn.state.screen == voice.ENDED:
            store.calls.end(uow, call_sid)
        else:
            store.calls.save(uow, call_sid, turn.state.to_dict(), ref)
    return turn


def _caller(runtime, number: str, person: State | None, now: dt.datetime | None) -> voice.Caller:
    config = runtime.config
    known = person is not None and (person.lang_chosen or replace(person, opted_out=False) != State())
    hours = config.voice_hours
    open_now = bool(config.voice_forward_to and hours and hours.is_open(now or dt.datetime.now(dt.timezone.utc)))
    opted_out = bool(person and person.opted_out)
    return voice.Caller(lang=person.lang if known else None, opted_out=opted_out,
                        can_text=person is not None and not opted_out,
                        forward_to=config.voice_forward_to if open_now else None,
                        number_known=person is not None, region=person.region if person else None)


def _apply(runtime, uow, event: voice.CallEvent, call_sid: str, ref: str | None, number: str,
           person: State | None, caller: voice.Caller) -> None:
    store = runtime.store
    catalog = runtime.content.get().catalog
    if event.kind == "language" and ref and person is not None:
        store.people.save_state(uow, ref, replace(person, lang=event.lang, lang_chosen=True))
        store.subscribers.set_lang(uow, ref, event.lang)
    elif event.kind == "text" and ref and person is not None and caller.can_text:
        pages = catalog.answer(event.topic, event.lang).topic.pages
        page = min(event.page, len(pages) - 1)
        payload = reply_payload(runtime, ref, number, SMS, page_reply(catalog, event.lang, event.topic, page),
                                event.lang)
        enqueue_replies(runtime.queue(REPLIES), [payload], uow)
        # Replying MAS by SMS goes on from the page they asked for.
        store.people.save_state(uow, ref, replace(person, topic=event.topic, page=page, menu=()))
        store.metrics.count("call_text", uow=uow)
    elif event.kind == "forward":
        store.metrics.count("call_forwarded", uow=uow)
    elif event.kind == "callback":
        # A hidden number cannot be called back: the request still holds the message, under a
        # pseudonym of the call.
        who = ref or store.ref("call:" + call_sid)
        handoff_id = store.handoffs.open(uow, who, number if ref else "", "callback", event.lang, event.topic,
                                         region=caller.region)
        store.metrics.count("callback", uow=uow)
        if event.recording_sid and not runtime.config.dry_run:
            store.handoffs.expect_recording(uow, handoff_id)
            enqueue_recording(runtime.queue(REPLIES), handoff_id, event.recording_sid, uow)
        config = runtime.config
        if config.handoff_webhook_url or config.handoff_notify_to:
            enqueue_handoff_notice(runtime.queue(REPLIES), handoff_id, Event("callback", event.lang, event.topic), uow)


def _seconds(raw: str | None) -> int:
    try:
        return max(int((raw or "0").strip()), 0)
    except ValueError:
        return 0


# --- recordings (a job) ---------------------------------------------------------------------------

def keep_recording(runtime, handoff_id: str, recording_sid: str) -> str:
    """Fetch the recording, keep it encrypted with its hand-off, delete it at Twilio. A hand-off
    closed or deleted meanwhile keeps nothing; the recording is deleted at Twilio either way."""
    twilio = TwilioRecordings(runtime.config)
    store = runtime.store
    item = store.handoffs.get(handoff_id)
    kept = False
    if item is not None and item.get("status") != "closed":
        audio, kind = twilio.fetch(recording_sid)
        kept = store.handoffs.attach_recording(handoff_id, audio, kind)
    twilio.delete(recording_sid)
    store.metrics.count("recording_kept" if kept else "recording_dropped")
    return "kept" if kept else "deleted: the request was closed or deleted"


def give_up_recording(runtime, handoff_id: str, recording_sid: str) -> None:
    """Out of retries: mark the hand-off, and still try to delete the recording at Twilio."""
    runtime.store.handoffs.note_recording(handoff_id, "failed")
    try:
        TwilioRecordings(runtime.config).delete(recording_sid)
    except Exception as exc:  # noqa: BLE001 - the failed job stays visible in the failed registry
        log.error("a call recording could not be fetched nor deleted at Twilio (%s): delete %s by hand",
                  exc, recording_sid)
