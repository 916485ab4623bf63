"""The voice line through its webhooks: signed posts (twilio's RequestValidator), TwiML parsed as
XML and held to Twilio's rules, whole calls digit by digit, STOP and language shared with SMS, the
"send me this by text" SMS reaching the fake Twilio, callback hand-offs and their recordings."""
from __future__ import annotations

import uuid

import pytest
import redis as redis_lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import voice
from bot.cli.local import free_port
from bot.config import DEFAULT_VOICES, Config
from bot.jobs import REPLIES, make_queue
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Phone, run_worker
from tests.voice_helpers import Caller, check_twiml, content_with_recordings, played, said, tiny_wav

DEV_BASE = "http://localhost"


@pytest.fixture
def tree(tmp_path):
    return content_with_recordings(tmp_path / "content")


@pytest.fixture
def dev(env, redis, tree):
    """Dry-run: the dev token signs, the request URL is what is signed and where actions point."""
    config = env(CONTENT_DIR=str(tree))
    runtime = Runtime(config, connection=redis)
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    client = app.test_client()
    return runtime, client, Phone(client, config.webhook_token)


@pytest.fixture
def live(live_env, env, redis, tree):
    """Twilio credentials (the fake Twilio), PUBLIC_URL: signatures and action URLs use it."""
    config = env(CONTENT_DIR=str(tree))
    runtime = Runtime(config, connection=redis)
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    client = app.test_client()
    return runtime, client, Phone(client, AUTH_TOKEN, base_url=PUBLIC_URL)


VOICES = {"es-MX": DEFAULT_VOICES["es-MX"], "en-US": DEFAULT_VOICES["en-US"]}


def checked(caller: Caller, client, base: str = DEV_BASE):
    return check_twiml(caller.last.data, base, VOICES, client)


# --- signatures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/voice/gather", "/twilio/voice/dialed",
                                  "/twilio/voice/recorded"])
def test_unsigned_or_wrongly_signed_posts_are_403(dev, path):
    _, _, phone = dev
    form = Caller(phone).form(Digits="1")
    assert phone.post(path, form, signature=None).status_code == 403
    assert phone.post(path, form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    good = phone.validator.compute_signature(DEV_BASE + path, form)
    assert phone.post(path, dict(form, Digits="2"), signature=good).status_code == 403      # tampered
    other = phone.validator.compute_signature(DEV_BASE + "/twilio/messages", form)
    assert phone.post(path, form, signature=other).status_code == 403                      # another URL
    assert phone.post(path, form).status_code == 200


def test_live_signatures_and_action_urls_use_public_url(live):
    runtime, client, phone = live
    caller = Caller(phone, base=PUBLIC_URL)
    caller.dial()
    root = checked(caller, client, PUBLIC_URL)
    assert root.find("Gather").get("action") == PUBLIC_URL + "/twilio/voice/gather"
    # Signed with the dev token: refused once a real auth token is configured.
    dev_phone = Phone(client, "derechos-dev-token", base_url=PUBLIC_URL)
    assert Caller(dev_phone, base=PUBLIC_URL).post("/twilio/voice").status_code == 403


# --- whole calls, digit by digit ------------------------------------------------------------------

def test_a_call_in_spanish_from_the_language_menu_to_the_last_page(dev):
    runtime, client, phone = dev
    catalog = runtime.content.get().catalog
    caller = Caller(phone)
    root = caller.dial()
    checked(caller, client)
    first = [el for el in root.iter("Say")]
    assert (first[0].text, first[0].get("language")) == ("Para español, oprima 1.", "es-MX")
    assert (first[1].text, first[1].get("language")) == ("For English, press 2.", "en-US")
    root = caller.press("1")
    checked(caller, client)
    assert "Migra y detención: oprima 1." in said(root)
    root = caller.press("2")                                  # Asilo y frontera
    checked(caller, client)
    assert "Asilo: oprima 1." in said(root)
    root = caller.press("1")                                  # Asilo: the first page
    checked(caller, client)
    assert "Pedir asilo es un derecho humano" in said(root)
    assert "Para seguir, oprima 1." in said(root) and "oprima 8" in said(root)
    pages = len(catalog.answer("asylum", "es").topic.pages)
    for _ in range(pages - 1):
        root = caller.press("1")
        checked(caller, client)
    assert "Para seguir" not in said(root)                    # the last page
    assert "información general" in said(root)
    root = caller.press("1")
    assert said(root).startswith("Es todo sobre este tema.")
    root = caller.press("9")                                  # repeat the page
    assert "información general" in said(root)
    root = caller.press("*")                                  # back to the section
    assert "Asilo y frontera." in said(root)
    root = caller.press("*")                                  # back to the main menu
    assert "Migra y detención: oprima 1." in said(root)


def test_a_call_in_english_through_a_split_menu(dev):
    runtime, client, phone = dev
    caller = Caller(phone, number="+15550124")
    caller.dial()
    root = caller.press("2")
    checked(caller, client)
    text = said(root)
    assert text.startswith("Hi, this is") and "For more options, press 6." in text
    assert all(el.get("language") == "en-US" for el in root.iter("Say"))
    root = caller.press("6")                                  # the rest of the sections
    checked(caller, client)
    assert "DACA, T P S and papers: press 1." in said(root)
    root = caller.press("1")
    root = caller.press("2")                                  # TPS
    checked(caller, client)
    assert "T P S" in said(root) and "U S C I S" in said(root)
    assert "uscis.gov" not in said(root)


def test_language_chosen_by_sms_skips_the_language_menu_and_one_chosen_by_phone_reaches_sms(dev):
    runtime, client, phone = dev
    phone.text("english", sender="+15550125")
    root = Caller(phone, number="+15550125").dial()
    assert said(root).startswith("Hi, this is")               # no language menu
    caller = Caller(phone, number="+15550126")
    caller.dial()
    caller.press("2")
    state = runtime.store.people.load_state(runtime.store.ref("+15550126"))
    assert state.lang == "en" and state.lang_chosen


def test_silence_repeats_the_prompt_once_then_says_goodbye(dev):
    runtime, client, phone = dev
    caller = Caller(phone)
    caller.dial()
    root = caller.silence()
    checked(caller, client)
    assert said(root).startswith("No escuché ninguna tecla. Para español, oprima 1.")
    root = caller.silence()
    checked(caller, client)
    assert [el.tag for el in root] == ["Say", "Hangup"]
    assert "Adiós" in said(root)
    assert runtime.store.calls.load(caller.call_sid) is None   # the call's state is gone with it


def test_indigenous_language_with_recordings_plays_them(dev):
    runtime, client, phone = dev
    caller = Caller(phone, number="+50255550101")
    root = caller.dial()
    checked(caller, client)                                   # fetches every <Play> URL from the app
    assert DEV_BASE + "/media/mam/language.wav" in played(root)
    caller.press("6")
    assert "Para Zapoteco, oprima 1." in said(caller.press("6"))   # no recording: its name said in Spanish
    caller.press("*")
    caller.press("*")
    root = caller.press("4")                                  # Mam (page 1: es, en, K'iche', Mam ...)
    checked(caller, client)
    assert "grabación en Mam" in said(root)
    assert all(el.get("language") == "es-MX" for el in root.iter("Say"))
    caller.press("2")                                         # Asilo y frontera
    root = caller.press("1")                                  # Asilo: Mam has a recording
    checked(caller, client)
    assert played(root) == [DEV_BASE + "/media/mam/asylum.wav"]
    assert "Pedir asilo" not in said(root)                    # the Spanish text is not read as Mam
    served = client.get("/media/mam/asylum.wav")
    assert served.data[:4] == b"RIFF"


def test_indigenous_language_without_a_recording_offers_an_interpreter_or_spanish(dev):
    runtime, client, phone = dev
    catalog = runtime.content.get().catalog
    caller = Caller(phone, number="+5215512345678")
    caller.dial()
    caller.press("6")
    assert voice.language_items(catalog)[10] == "zapoteco"   # the first of page 3
    root = caller.press("6")
    assert "Para Zapoteco, oprima 1." in said(root)
    caller.press("1")
    caller.press("2")
    root = caller.press("1")                                  # Asilo
    checked(caller, client)
    text = said(root)
    assert text.startswith("Este tema todavía no tiene grabación en Zapoteco.")
    assert "intérprete, oprima 0" in text and "en español, oprima 1" in text
    assert not played(root)
    root = caller.press("1")                                  # in Spanish, said as Spanish
    assert "Pedir asilo es un derecho humano" in said(root)
    assert {el.get("language") for el in root.iter("Say")} == {"es-MX"}


# --- STOP is shared with SMS; the text message goes through the send path -------------------------

def test_opted_out_caller_is_served_but_never_texted(live, fake_twilio, redis):
    runtime, client, phone = live
    phone.text("STOP", sender="+15550127")
    run_worker(redis)
    fake_twilio.clear()
    caller = Caller(phone, number="+15550127", base=PUBLIC_URL)
    caller.dial()
    caller.press("1")
    caller.press("2")
    root = caller.press("1")
    checked(caller, client, PUBLIC_URL)
    assert "Pedir asilo" in said(root)
    assert "oprima 8" not in said(root)                       # not offered
    root = caller.press("8")
    assert said(root).startswith("No le mandamos mensajes porque usted pidió STOP.")
    run_worker(redis)
    assert fake_twilio.requests == []
    assert make_queue(REPLIES, redis).count == 0


def test_send_me_this_by_text_reaches_the_fake_twilio(live, fake_twilio, redis):
    runtime, client, phone = live
    catalog = runtime.content.get().catalog
    caller = Caller(phone, number="+15550128", base=PUBLIC_URL)
    caller.dial()
    caller.press("1")
    caller.press("2")
    caller.press("1")
    caller.press("1")                                         # page 2 of asylum
    root = caller.press("8")
    assert said(root).startswith("Listo, le mandamos este texto por mensaje.")
    run_worker(redis)
    [sms] = fake_twilio.wait_for(1)
    assert sms.get("To") == "+15550128" and sms.get("From") == "+15550000"
    page = catalog.answer("asylum", "es").topic.pages[1]
    assert page.split()[0] in sms.get("Body") and "MAS" in sms.get("Body")
    assert sms.get("StatusCallback") == PUBLIC_URL + "/twilio/status"
    # By SMS, MAS goes on from the page they asked for.
    phone.text("mas", sender="+15550128")
    run_worker(redis)
    second = fake_twilio.wait_for(2)[-1]
    assert catalog.answer("asylum", "es").topic.pages[2].split()[0] in second.get("Body")


def test_hidden_number_cannot_be_texted(dev):
    runtime, client, phone = dev
    caller = Caller(phone, number="anonymous")
    caller.dial()
    caller.press("1")
    caller.press("2")
    root = caller.press("1")
    assert "oprima 8" not in said(root)
    assert said(caller.press("8")).startswith("No podemos mandar mensajes de texto a este número.")


# --- a person: forwarding, or a message and a callback hand-off ------------------------------------

def test_zero_records_a_message_and_opens_a_callback_that_keeps_the_recording(live, fake_twilio, redis):
    runtime, client, phone = live
    store = runtime.store
    audio = tiny_wav(runtime.config.instance_dir / "message.wav", seconds=1.0)
    caller = Caller(phone, number="+15550129", base=PUBLIC_URL)
    caller.dial()
    caller.press("1")
    caller.press("1")                                         # Migra y detención
    caller.press("3")                                         # Corte
    root = caller.press("0")
    checked(caller, client, PUBLIC_URL)
    assert "se graba" in said(root)                           # the notice that it is recorded
    record = root.find("Record")
    assert record is not None and record.get("action") == PUBLIC_URL + "/twilio/voice/recorded"
    sid = fake_twilio.add_recording(audio, call_sid=caller.call_sid, content_type="audio/x-wav")
    root = caller.root(caller.post("/twilio/voice/recorded", RecordingSid=sid, RecordingDuration="6",
                                   RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{sid}"))
    checked(caller, client, PUBLIC_URL)
    assert root[-1].tag == "Hangup"
    [item] = store.handoffs.list()
    assert (item["kind"], item["lang"], item["topic"], item["recording"]) == ("callback", "es", "court", "pending")
    assert store.handoffs.address(item["id"]) == "+15550129"
    run_worker(redis)
    assert store.handoffs.get(item["id"])["recording"] == "kept"
    assert store.handoffs.recording(item["id"]) == (audio, "wav")
    assert sid in fake_twilio.deleted_recordings and sid not in fake_twilio.recordings
    raw = redis.get(store.key("handoff", item["id"], "recording"))
    assert raw and audio[44:1044] not in raw                  # kept encrypted
    store.handoffs.close(item["id"], "maria")
    assert store.handoffs.recording(item["id"]) is None


def test_borrar_by_sms_deletes_the_callback_and_its_recording(live, fake_twilio, redis):
    runtime, client, phone = live
    store = runtime.store
    audio = tiny_wav(runtime.config.instance_dir / "m.wav")
    caller = Caller(phone, number="+15550130", base=PUBLIC_URL)
    caller.dial()
    caller.press("1")
    caller.press("0")
    sid = fake_twilio.add_recording(audio)
    caller.post("/twilio/voice/recorded", RecordingSid=sid, RecordingDuration="3")
    run_worker(redis)
    [item] = store.handoffs.list()
    assert store.handoffs.recording(item["id"]) is not None
    phone.text("BORRAR", sender="+15550130")
    assert store.handoffs.list() == []
    assert store.handoffs.recording(item["id"]) is None
    assert not list(redis.scan_iter(store.key("call*")))


def test_a_recording_for_a_closed_request_is_not_kept_but_deleted_at_twilio(live, fake_twilio, redis):
    from bot.calls import keep_recording
    runtime, client, phone = live
    caller = Caller(phone, number="+15550131", base=PUBLIC_URL)
    caller.dial()
    caller.press("0")
    sid = fake_twilio.add_recording(tiny_wav(runtime.config.instance_dir / "c.wav"), not_ready=1)
    caller.post("/twilio/voice/recorded", RecordingSid=sid, RecordingDuration="2")
    [item] = runtime.store.handoffs.list()
    from bot.errors import SendError
    with pytest.raises(SendError) as not_yet:               # Twilio is still writing it: retried
        keep_recording(runtime, item["id"], sid)
    assert not_yet.value.retry
    runtime.store.handoffs.close(item["id"], "ana")
    assert keep_recording(runtime, item["id"], sid).startswith("deleted")
    assert runtime.store.handoffs.recording(item["id"]) is None
    assert sid in fake_twilio.deleted_recordings


def test_nothing_recorded_still_opens_the_callback(dev):
    runtime, client, phone = dev
    caller = Caller(phone, number="+15550132")
    caller.dial()
    caller.press("2")
    root = caller.press("0")
    assert "recorded" in said(root)
    root = caller.root(caller.post("/twilio/voice/recorded"))   # Twilio went on to the <Redirect>
    assert said(root).startswith("We did not hear a message")
    [item] = runtime.store.handoffs.list()
    assert (item["kind"], item["lang"]) == ("callback", "en")


def test_zero_forwards_the_call_during_the_hours(env, redis, tree):
    config = env(CONTENT_DIR=str(tree), VOICE_FORWARD_TO="+13125550199", VOICE_HOURS="Mon-Sun 00:00-24:00 UTC")
    app = create_app({"TESTING": True, "RUNTIME": Runtime(config, connection=redis)})
    client = app.test_client()
    caller = Caller(Phone(client, config.webhook_token))
    caller.dial()
    caller.press("1")
    root = caller.press("0")
    checked(caller, client)
    dial = root.find("Dial")
    assert dial is not None and dial.text == "+13125550199"
    assert dial.get("action") == DEV_BASE + "/twilio/voice/dialed"
    root = caller.root(caller.post("/twilio/voice/dialed", DialCallStatus="no-answer"))
    checked(caller, client)
    assert said(root).startswith("Nadie pudo contestar") and root.find("Record") is not None
    caller2 = Caller(Phone(client, config.webhook_token))
    caller2.dial()
    caller2.press("1")
    caller2.press("0")
    root = caller2.root(caller2.post("/twilio/voice/dialed", DialCallStatus="completed"))
    assert [el.tag for el in root] == ["Hangup"]


def test_outside_the_hours_zero_records(env, redis, tree):
    config = env(CONTENT_DIR=str(tree), VOICE_FORWARD_TO="+13125550199", VOICE_HOURS="Mon 00:00-00:01 UTC")
    app = create_app({"TESTING": True, "RUNTIME": Runtime(config, connection=redis)})
    caller = Caller(Phone(app.test_client(), config.webhook_token))
    caller.dial()
    caller.press("1")
    root = caller.press("0")
    assert root.find("Dial") is None and root.find("Record") is not None


def test_configured_voices_are_used(env, redis, tree):
    config = env(CONTENT_DIR=str(tree), VOICE_ES="Polly.Andres-Neural", VOICE_EN="Polly.Matthew")
    app = create_app({"TESTING": True, "RUNTIME": Runtime(config, connection=redis)})
    caller = Caller(Phone(app.test_client(), config.webhook_token))
    root = caller.dial()
    voices = {(el.get("language"), el.get("voice")) for el in root.iter("Say")}
    assert voices == {("es-MX", "Polly.Andres-Neural"), ("en-US", "Polly.Matthew")}


# --- failures are still valid TwiML --------------------------------------------------------------

def test_unknown_call_sid_starts_the_call_over(dev):
    runtime, client, phone = dev
    caller = Caller(phone)
    root = caller.press("3")                                  # a gather for a call never seen
    checked(caller, client)
    assert said(root).startswith("Para español, oprima 1.")


def test_missing_call_sid_gets_an_apology_not_an_error(dev):
    runtime, client, phone = dev
    response = phone.post("/twilio/voice", {"From": "+15550133", "To": "+15550000"})
    assert response.status_code == 200
    root = check_twiml(response.data, DEV_BASE, VOICES, client)
    assert root[-1].tag == "Hangup"


def test_redis_down_gets_an_apology_in_twiml(env, tree):
    config = env(CONTENT_DIR=str(tree))
    dead = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    app = create_app({"TESTING": True, "RUNTIME": Runtime(config, connection=dead)})
    client = app.test_client()
    caller = Caller(Phone(client, config.webhook_token))
    root = caller.dial()
    check_twiml(caller.last.data, DEV_BASE, VOICES, client)
    assert "no funciona en este momento" in said(root) and root[-1].tag == "Hangup"


def test_no_number_in_redis_after_a_call(live, fake_twilio, redis):
    runtime, client, phone = live
    caller = Caller(phone, number="+13125557781", base=PUBLIC_URL)
    caller.dial()
    for key in ("1", "2", "1", "8", "0"):
        caller.press(key)
    caller.post("/twilio/voice/recorded", RecordingSid=fake_twilio.add_recording(b"ID3" + b"\x00" * 64),
                RecordingDuration="2")
    run_worker(redis)
    dump = b"".join(key + (redis.dump(key) or b"") for key in redis.scan_iter(count=1000))
    assert b"5557781" not in dump


def test_voice_settings_are_checked_at_start_up():
    with pytest.raises(Exception) as caught:
        Config.from_env({"VOICE_FORWARD_TO": "+13125550199", "VOICE_HOURS": "weekdays 9 to 5"})
    assert str(caught.value).startswith("VOICE_HOURS")


# --- hypothesis: random keys, missing fields, unknown CallSids -----------------------------------

KEY = st.one_of(st.sampled_from(list("0123456789*#")), st.sampled_from(["", "12", "x", "٣", " 1", "\x00", "1" * 300]),
                st.text(max_size=5))
PATH = st.sampled_from(["/twilio/voice", "/twilio/voice/gather", "/twilio/voice/gather", "/twilio/voice/gather",
                        "/twilio/voice/dialed", "/twilio/voice/recorded"])
FIELD = st.sampled_from(["CallSid", "From", "To", "Digits", "AccountSid", "CallStatus"])
OTHER = st.one_of(st.text(max_size=40), st.sampled_from(["", "anonymous", "+266696687", "client:alice", "sip:a@b",
                                                         "CA" + "0" * 32, "RE" + "f" * 32, "RE" + "z" * 32]))
STEP = st.tuples(PATH, KEY, st.lists(FIELD, max_size=2), st.booleans(), st.dictionaries(
    st.sampled_from(["RecordingSid", "RecordingDuration", "DialCallStatus", "From", "CallSid"]), OTHER, max_size=3))


def test_fuzz_calls_never_fail_and_always_answer_valid_twiml(dev):
    runtime, client, phone = dev
    count = 0

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(STEP, min_size=1, max_size=12))
    def run(steps):
        nonlocal count
        caller = Caller(phone, number="+15550140")
        for path, key, dropped, unknown_sid, extra in steps:
            form = caller.form(Digits=key if path.endswith("gather") else None, **extra)
            if unknown_sid:
                form["CallSid"] = "CA" + uuid.uuid4().hex
            for name in dropped:
                form.pop(name, None)
            response = phone.post(path, form)
            count += 1
            assert response.status_code == 200, (path, form, response.data[:300])
            assert b"Traceback" not in response.data
            check_twiml(response.data, DEV_BASE, VOICES, None)

    run()
    assert count >= 120


def test_fake_twilio_recordings_answer_as_the_openapi_description_says(fake_twilio):
    """FetchRecording (200), its media, DeleteRecording (204, no body), as Twilio's 2010-04-01 OpenAPI
    description gives them; 401 without credentials and Twilio's 20404 for a recording not there."""
    import requests

    from tests.conftest import ACCOUNT_SID
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    sid = fake_twilio.add_recording(b"ID3" + b"\x00" * 32)
    base = f"{fake_twilio.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
    resource = requests.get(base + ".json", auth=auth, timeout=5).json()
    assert resource["sid"] == sid and resource["status"] == "completed"
    media = requests.get(base + ".mp3", auth=auth, timeout=5)
    assert media.headers["Content-Type"] == "audio/mpeg" and media.content.startswith(b"ID3")
    assert requests.delete(base + ".json", timeout=5).status_code == 401
    gone = requests.delete(base + ".json", auth=auth, timeout=5)
    assert gone.status_code == 204 and gone.content == b""
    missing = requests.delete(base + ".json", auth=auth, timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == 20404
