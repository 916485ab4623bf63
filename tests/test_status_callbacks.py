"""Status callbacks: 63018 (WhatsApp's rate limit) slows the WhatsApp sender and sends that message
again later; `read` is recorded; a status nobody knows is accepted and logged; an alert whose
template WhatsApp refuses for its category or the person's country falls back to SMS when their number
is known, and the delivery figures count it by reason."""
from __future__ import annotations

import logging
import time

import pytest
from click.testing import CliRunner
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.cli import main
from bot.jobs import BROADCASTS, REPLIES, make_queue
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, Phone, run_worker

TOKEN = "organizer-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
WA = "whatsapp:+5215512345678"
PHONE = "+5215512345678"
WA_ID = "whatsapp:MX.987654321012345"


@pytest.fixture
def live(env, redis, fake_twilio):
    config = env(ADMIN_TOKEN=TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                 TWILIO_SMS_FROM="+15550000", TWILIO_WHATSAPP_FROM="whatsapp:+15550001",
                 TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL)
    runtime = Runtime(config, connection=redis)
    client = create_app({"TESTING": True, "RUNTIME": runtime}).test_client()
    return runtime, client, Phone(client, AUTH_TOKEN, base_url=PUBLIC_URL)


def callback(phone, sid, status, **extra):
    response = phone.post("/twilio/status", {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID,
                                             **extra})
    assert response.status_code == 204, response.data
    return response


def release_scheduled(redis, name):
    """What the worker's scheduler does when the time comes: move scheduled jobs onto the queue."""
    queue = make_queue(name, redis)
    registry = queue.scheduled_job_registry
    ids = registry.get_job_ids()
    for job_id in ids:
        job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
        registry.remove(job)
        queue.enqueue_job(job)
    return ids


# --- 63018 ---------------------------------------------------------------------------------------

def test_63018_slows_whatsapp_and_sends_that_message_again_later(live, fake_twilio, redis):
    runtime, _, phone = live
    phone.text("asilo", sender=WA)
    run_worker(redis)
    [first] = fake_twilio.requests
    callback(phone, first.sid, "sent")
    callback(phone, first.sid, "failed", ErrorCode="63018", To=WA)
    assert runtime.store.limits.speed("whatsapp") == 0.5
    assert runtime.store.limits.speed("sms") == 1.0
    scheduled = make_queue(REPLIES, redis).scheduled_job_registry
    [job_id] = scheduled.get_job_ids()
    assert scheduled.get_scheduled_time(job_id).timestamp() > time.time() + 10     # later, not now
    callback(phone, first.sid, "failed", ErrorCode="63018", To=WA)                 # Twilio repeats itself
    assert len(scheduled.get_job_ids()) == 1 and runtime.store.limits.speed("whatsapp") == 0.5
    release_scheduled(redis, REPLIES)
    run_worker(redis)
    again = fake_twilio.wait_for(2)[1]
    assert (again.get("To"), again.get("Body")) == (WA, first.get("Body"))
    assert runtime.store.deliveries.status(first.sid)["error_code"] == "63018"
    assert runtime.store.metrics.totals()["whatsapp_rate_limited"] == 1


def test_63018_gives_up_after_three_more_tries(live, fake_twilio, redis):
    runtime, _, phone = live
    phone.text("asilo", sender=WA)
    run_worker(redis)
    for attempt in range(4):
        sid = fake_twilio.requests[-1].sid
        callback(phone, sid, "failed", ErrorCode="63018")
        if attempt < 3:
            assert release_scheduled(redis, REPLIES)
            run_worker(redis)
    assert len(fake_twilio.requests) == 4
    assert make_queue(REPLIES, redis).scheduled_job_registry.get_job_ids() == []
    assert runtime.store.metrics.totals()["whatsapp_rate_limited_gave_up"] == 1
    assert runtime.store.limits.speed("whatsapp") == 0.125          # never slower than an eighth


def test_a_slowed_channel_takes_more_of_the_shared_rate(runtime, monkeypatch):
    """On a clock that stands still between sends, so the counts do not depend on how fast this
    machine makes the calls (they did: SMS 3 against WhatsApp's 5 on a busy CI run)."""
    import types

    import bot.store.limits
    clock = [time.time()]
    monkeypatch.setattr(bot.store.limits, "time", types.SimpleNamespace(time=lambda: clock[0]))
    limits, key = runtime.store.limits, runtime.queue(REPLIES).key

    def burst(channel):
        sent = 0
        while limits.send_wait(1, 100.0, True, key, bucket="shared", channel=channel) == 0:
            sent += 1
            assert sent < 100
        clock[0] += 0.5               # long enough for the rate to come back in full
        return sent

    full = burst("whatsapp")
    limits.slow_down("whatsapp", factor=0.125)
    slowed = burst("whatsapp")
    assert 1 <= slowed < full
    assert burst("sms") == full          # SMS on the same sender keeps its speed
    assert burst("whatsapp") == slowed   # and WhatsApp stays slowed


# --- read, unknown ---------------------------------------------------------------------------------

def test_read_is_recorded_and_counted_in_the_figures(live, fake_twilio, redis):
    runtime, client, phone = live
    phone.text("ALERTAS", sender=WA)
    run_worker(redis)
    broadcast = client.post("/api/broadcasts", json={"texts": {"es": "Alerta."}}, headers=HEADERS).get_json()["id"]
    client.post(f"/api/broadcasts/{broadcast}/send", headers=HEADERS)
    run_worker(redis)
    sid = fake_twilio.requests[-1].sid
    for status in ("sent", "delivered", "read"):
        callback(phone, sid, status)
    assert runtime.store.deliveries.status(sid)["status"] == "read"
    figures = client.get(f"/api/broadcasts/{broadcast}", headers=HEADERS).get_json()["figures"]
    assert figures.get("read") == 1 and not figures.get("delivered")


@pytest.mark.parametrize("status", ["frobnicated", "DELIVERED", "ñandú", "x" * 300, "deleted"])
def test_an_unknown_status_is_accepted_and_logged_never_a_5xx(live, redis, caplog, status):
    runtime, _, phone = live
    sid = "SM" + "c" * 32
    callback(phone, sid, "sent")
    with caplog.at_level(logging.INFO):
        callback(phone, sid, status, ErrorCode="abc")
    assert "do not know" in caplog.text
    assert runtime.store.deliveries.status(sid)["status"] == "sent"


def test_a_malformed_message_sid_is_a_400(live):
    _, _, phone = live
    response = phone.post("/twilio/status", {"MessageSid": "SM../../x", "MessageStatus": "sent"})
    assert response.status_code == 400


# --- alerts outside the window: WhatsApp refuses the template, SMS stands in ---------------------

def sync_templates():
    result = CliRunner().invoke(main, ["whatsapp", "sync"])
    assert result.exit_code == 0, result.output


def alert(client, redis, text="Mañana: feria de información legal gratuita en la parroquia."):
    broadcast = client.post("/api/broadcasts", json={"texts": {"es": text}}, headers=HEADERS).get_json()["id"]
    assert client.post(f"/api/broadcasts/{broadcast}/send", headers=HEADERS).status_code == 202
    run_worker(redis)
    return broadcast


def figures(client, broadcast):
    return client.get(f"/api/broadcasts/{broadcast}", headers=HEADERS).get_json()


def subscribe_and_leave_the_window(runtime, phone, redis, sender=WA):
    phone.text("ALERTAS", sender=sender)
    run_worker(redis)
    redis.delete(runtime.store.key("window", runtime.store.person(sender)))


def test_outside_the_window_an_alert_goes_as_the_alert_template(live, fake_twilio, redis):
    runtime, client, phone = live
    sync_templates()
    subscribe_and_leave_the_window(runtime, phone, redis)
    fake_twilio.clear()
    alert(client, redis, text="Mañana:\nferia   legal.")
    [request] = fake_twilio.requests
    assert request.get("ContentSid") == runtime.store.templates.get("derechos_alert_es")["sid"]
    assert request.variables == {"1": "Mañana: feria legal."}      # one line: Twilio's rule for variables
    assert request.get("Body") is None


def test_without_an_alert_template_people_outside_the_window_are_skipped(live, fake_twilio, redis):
    runtime, client, phone = live
    subscribe_and_leave_the_window(runtime, phone, redis)
    fake_twilio.clear()
    broadcast = alert(client, redis)
    assert fake_twilio.requests == []
    assert figures(client, broadcast)["figures"]["skipped_outside_window"] == 1


def test_refused_for_its_category_the_alert_falls_back_to_sms(live, fake_twilio, redis):
    runtime, client, phone = live
    sync_templates()
    subscribe_and_leave_the_window(runtime, phone, redis)
    fake_twilio.clear()
    broadcast = alert(client, redis)
    [template] = fake_twilio.requests
    callback(phone, template.sid, "sent", To=WA)
    callback(phone, template.sid, "undelivered", ErrorCode="63049", To=WA)
    callback(phone, template.sid, "undelivered", ErrorCode="63049", To=WA)      # repeated: once
    run_worker(redis)
    [_, sms] = fake_twilio.wait_for(2)
    assert sms.get("To") == PHONE and sms.get("From") == "+15550000"
    # As SMS writes it, with the footer the template had around it (the program's name and STOP).
    assert sms.get("Body") == "Mañana: feria de informacion legal gratuita en la parroquia.\nDerechos. STOP para salir"
    report = figures(client, broadcast)
    assert report["figures"]["whatsapp_refused:category"] == 1
    assert report["figures"]["sms_fallback:category"] == 1
    assert report["failed_by_error"] == {"63049": 1}


def test_refused_for_the_country_at_send_the_alert_falls_back_to_sms_at_once(live, fake_twilio, redis):
    runtime, client, phone = live
    sync_templates()
    subscribe_and_leave_the_window(runtime, phone, redis)
    fake_twilio.clear()
    fake_twilio.fail_for(WA, 400, 21408)
    broadcast = alert(client, redis)
    [sms] = fake_twilio.requests
    assert sms.get("To") == PHONE and sms.get("ContentSid") is None
    report = figures(client, broadcast)["figures"]
    assert report["whatsapp_refused:country"] == 1 and report["sms_fallback:country"] == 1


def test_known_only_by_a_user_id_there_is_no_sms_to_fall_back_to(live, fake_twilio, redis):
    runtime, client, phone = live
    sync_templates()
    subscribe_and_leave_the_window(runtime, phone, redis, sender=WA_ID)
    fake_twilio.clear()
    broadcast = alert(client, redis)
    [template] = fake_twilio.requests
    assert template.get("To") == WA_ID
    callback(phone, template.sid, "failed", ErrorCode="63032", To=WA_ID)
    run_worker(redis)
    assert len(fake_twilio.requests) == 1
    report = figures(client, broadcast)["figures"]
    assert report["whatsapp_refused:category"] == 1 and report["no_sms_fallback:category"] == 1


def test_a_linked_user_id_falls_back_to_the_number(live, fake_twilio, redis):
    runtime, client, phone = live
    sync_templates()
    phone.text("hola", sender="whatsapp:+13125550190", ExternalUserId=WA_ID)
    subscribe_and_leave_the_window(runtime, phone, redis, sender=WA_ID)
    fake_twilio.clear()
    alert(client, redis)
    [template] = fake_twilio.requests
    callback(phone, template.sid, "undelivered", ErrorCode="63049")
    run_worker(redis)
    assert fake_twilio.wait_for(2)[1].get("To") == "+13125550190"


def test_an_opt_out_before_the_fallback_stops_it(live, fake_twilio, redis):
    runtime, client, phone = live
    sync_templates()
    subscribe_and_leave_the_window(runtime, phone, redis)
    fake_twilio.clear()
    alert(client, redis)
    [template] = fake_twilio.requests
    phone.text("STOP", sender=PHONE)
    callback(phone, template.sid, "undelivered", ErrorCode="63049")
    run_worker(redis)
    assert [r.get("Body") for r in fake_twilio.requests[1:]] == [runtime.content.get().catalog.text("stop", "es")
                                                                 .replace("á", "a").replace("í", "i")]


def test_a_rate_limited_alert_is_sent_again_on_the_broadcasts_queue(live, fake_twilio, redis):
    runtime, client, phone = live
    phone.text("ALERTAS", sender=WA)
    run_worker(redis)
    fake_twilio.clear()
    broadcast = alert(client, redis)
    [first] = fake_twilio.requests
    callback(phone, first.sid, "failed", ErrorCode="63018")
    assert release_scheduled(redis, BROADCASTS)
    run_worker(redis)
    assert [r.get("To") for r in fake_twilio.wait_for(2)] == [WA, WA]
    assert figures(client, broadcast)["figures"]["whatsapp_rate_limited_resent"] == 1
