"""Privacy: no phone number in any log line or anywhere in Redis after a full conversation, an
import, a broadcast, a hand-off and delivery callbacks; deletion on request; abuse limits."""
from __future__ import annotations

import io
import logging
import re

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.privacy import RedactingFilter, install_log_redaction, redact
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, Phone, run_worker

TOKEN = "organizer-token-0123456789"
PEOPLE = ["+13125550177", "whatsapp:+5215512345678", "+50255501234"]


def digits(address: str) -> str:
    return re.sub(r"\D", "", address)[-8:]     # what would give a number away, in any format


@pytest.fixture
def captured_logs():
    """A handler like production's: every record at DEBUG, through the redacting filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    install_log_redaction(root)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)
    root.filters = [f for f in root.filters if not isinstance(f, RedactingFilter)]


def test_no_number_in_logs_or_redis_after_everything(env, redis, fake_twilio, captured_logs):
    config = env(ADMIN_TOKEN=TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                 TWILIO_SMS_FROM="+15550000", TWILIO_WHATSAPP_FROM="whatsapp:+15550001",
                 TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL)
    runtime = Runtime(config, connection=redis)
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    client = app.test_client()
    phone = Phone(client, AUTH_TOKEN, base_url=PUBLIC_URL)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    # A full conversation for each person, an opt-in, a hand-off, a failed send.
    for person in PEOPLE:
        for text in ("hola", "asilo", "mas", "ALERTAS CHICAGO", "hablar con alguien"):
            phone.text(text, sender=person, ProfileName="Maria Lopez")
    fake_twilio.fail_next(400, 21211)
    run_worker(redis)
    # An import and a broadcast, with delivery callbacks.
    csv = "phone,lang,tags\n+13125550188,es,chicago\n+13125550199,en,chicago\n"
    assert client.post("/api/subscribers/import", data=csv, headers=headers, content_type="text/csv").status_code == 200
    broadcast = client.post("/api/broadcasts", json={"texts": {"es": "Alerta."}, "audience": {"tags": ["chicago"]}},
                            headers=headers).get_json()["id"]
    client.post(f"/api/broadcasts/{broadcast}/send", headers=headers)
    run_worker(redis)
    for request in fake_twilio.requests:
        phone.post("/twilio/status", {"MessageSid": request.sid, "MessageStatus": "delivered", "To": request.get("To")})
    everyone = PEOPLE + ["+13125550188", "+13125550199"]
    assert {r.get("To") for r in fake_twilio.requests} >= set(everyone) - {"+13125550177"}   # one send failed

    logs = captured_logs.getvalue()
    assert "POST" in logs or "Request" in logs or "Job" in logs      # the logs did capture the traffic
    for person in everyone:
        assert digits(person) not in logs, f"a number reached the logs: {person}"
    assert "Maria Lopez" not in logs

    # Every key and every value in Redis, as a dump would show them.
    dump = b""
    for key in redis.scan_iter(count=1000):
        dump += key + b"\n" + (redis.dump(key) or b"") + b"\n"
    assert len(dump) > 10_000
    for person in everyone:
        assert digits(person).encode() not in dump, f"a number is in Redis in clear: {person}"
    assert b"Maria Lopez" not in dump
    assert b"como pido" not in dump.lower() and b"hablar con alguien" not in dump   # message texts are not kept


def test_delete_my_data_removes_everything_about_the_sender(phone, runtime, redis):
    person = "+13125550166"
    for text in ("hola", "asilo", "ALERTAS", "hablar con alguien"):
        phone.text(text, sender=person)
    run_worker(redis)
    ref = runtime.store.ref(person)
    assert any(ref.encode() in key or ref.encode() in (redis.dump(key) or b"") for key in redis.scan_iter())
    phone.text("BORRAR MIS DATOS", sender=person)
    run_worker(redis)              # the confirmation goes out...
    leftovers = []
    for key in redis.scan_iter():
        if key.startswith(b"rq:"):
            continue               # RQ's own records of the confirmation job carry ciphertext only
        value = redis.dump(key) or b""
        if ref.encode() in key or ref.encode() in value:
            leftovers.append(key)
    outbox_only = [k for k in leftovers if k.endswith(b":outbox")]   # dry-run only: the confirmation itself
    assert leftovers == outbox_only
    assert runtime.store.subscribers.count() == 0
    assert runtime.store.handoffs.list() == []


def test_organizer_forgets_a_number(env, redis, monkeypatch):
    config = env()
    runtime = Runtime(config, connection=redis)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), "derechos-dev-token")
    phone.text("ALERTAS", sender="+13125550155")
    assert runtime.store.subscribers.count() == 1
    result = CliRunner().invoke(main, ["subscribers", "forget", "(312) 555-0155"])
    assert result.exit_code == 0, result.output
    assert runtime.store.subscribers.count() == 0
    assert runtime.store.subscribers.get(runtime.store.ref("+13125550155")) is None
    assert "5550155" not in result.output


def test_per_sender_rate_limit_stops_answering_and_counts(env, redis):
    config = env(INBOUND_PER_MINUTE="3")
    runtime = Runtime(config, connection=redis)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), "derechos-dev-token")
    for _ in range(6):
        assert phone.text("asilo", sender="+13125550144")[0].status_code == 200
    assert runtime.queue("replies").count == 3
    assert runtime.store.metrics.totals()["rate_limited"] == 3
    phone.text("asilo", sender="+13125550145")       # someone else is still answered
    assert runtime.queue("replies").count == 4


def test_global_reply_ceiling(env, redis):
    config = env(REPLIES_PER_HOUR="2")
    runtime = Runtime(config, connection=redis)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), "derechos-dev-token")
    for i in range(4):
        phone.text("asilo", sender=f"+1312555013{i}")
    run_worker(redis)
    assert len(runtime.store.outbox.entries()) == 2              # taken at send time, never over
    assert runtime.store.metrics.totals()["reply_ceiling"] == 2
    phone.text("STOP", sender="+13125550130")                     # the carrier's words never count against it
    run_worker(redis)
    assert len(runtime.store.outbox.entries()) == 3


def test_long_bodies_are_cut_and_unknown_media_types_dropped(env, redis, phone, runtime):
    from bot.twilio_gateway import media_from_form, parse_inbound
    form = {"MessageSid": "SM" + "1" * 32, "From": "+13125550120", "Body": "asilo " * 1000, "NumMedia": "3",
            "MediaUrl0": "https://x/a", "MediaContentType0": "image/jpeg",
            "MediaUrl1": "https://x/b", "MediaContentType1": "application/x-msdownload",
            "MediaUrl2": "https://x/c", "MediaContentType2": "audio/ogg"}
    inbound = parse_inbound(form, media_from_form(form), max_body=1600)
    assert len(inbound.body) == 1600
    assert [kind for _, kind in inbound.media] == ["image/jpeg", "audio/ogg"]


def test_redaction_covers_the_shapes_numbers_come_in():
    for text in ("+5215512345678", "whatsapp:+5215512345678", "+1 (312) 555-0177", "312.555.0177", "0052 55 1234 5678"):
        assert re.search(r"\d{4}", redact(f"to {text} now")) is None, text


def test_redaction_covers_whatsapp_user_ids():
    for text in ("whatsapp:US.13491208655302741918", "US.13491208655302741918", "BR.abcXYZ123",
                 "whatsapp:US.ENT.11815799212886844830", "MX.1"):
        assert redact(f"to {text} now") == "to [id] now", text
    assert redact("bot.web: GET /healthz 200, OK.") == "bot.web: GET /healthz 200, OK."


USER_IDS = ["whatsapp:US.13491208655302741918", "whatsapp:MX.55512345678901234567"]


def test_no_user_id_in_logs_or_redis_after_everything(env, redis, fake_twilio, captured_logs):
    config = env(ADMIN_TOKEN=TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                 TWILIO_SMS_FROM="+15550000", TWILIO_WHATSAPP_FROM="whatsapp:+15550001",
                 TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL)
    runtime = Runtime(config, connection=redis)
    client = create_app({"TESTING": True, "RUNTIME": runtime}).test_client()
    phone = Phone(client, AUTH_TOKEN, base_url=PUBLIC_URL)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    only_id, linked = USER_IDS
    number = "whatsapp:+5215598765432"
    phone.text("hola", sender=number, ExternalUserId=linked)                  # linked to a number
    phone.text("hola", sender=number, ExternalUserId="whatsapp:not an id")    # a malformed one, warned about
    for sender in (only_id, linked):
        for text in ("hola", "asilo", "ALERTAS", "hablar con alguien"):
            phone.text(text, sender=sender, ProfileName="Maria Lopez")
    fake_twilio.fail_next(400, 21211)
    run_worker(redis)
    broadcast = client.post("/api/broadcasts", json={"texts": {"es": "Alerta."}}, headers=headers).get_json()["id"]
    client.post(f"/api/broadcasts/{broadcast}/send", headers=headers)
    run_worker(redis)
    for request in fake_twilio.requests:
        phone.post("/twilio/status", {"MessageSid": request.sid, "MessageStatus": "failed", "ErrorCode": "63018",
                                      "To": request.get("To")})
    assert {r.get("To") for r in fake_twilio.requests} >= {only_id, linked}
    logs = captured_logs.getvalue()
    assert "malformed ExternalUserId" in logs and "Job" in logs       # the logs did see all of it
    for user_id in USER_IDS:
        bare = user_id.removeprefix("whatsapp:")
        assert bare not in logs and bare.split(".")[1] not in logs, f"an id reached the logs: {user_id}"
    dump = b""
    for key in redis.scan_iter(count=1000):
        dump += key + b"\n" + (redis.dump(key) or b"") + b"\n"
    for user_id in USER_IDS + [number]:
        tail = user_id.split(".")[-1].removeprefix("whatsapp:+").encode()
        assert tail[-10:] not in dump, f"an address is in Redis in clear: {user_id}"
