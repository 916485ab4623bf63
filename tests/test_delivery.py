"""End to end through the real parts: signed webhook -> RQ queue -> worker -> twilio library ->
fake Twilio over HTTP -> status callback."""
from __future__ import annotations

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.jobs import REPLIES, make_queue
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Phone, run_worker


@pytest.fixture
def live(live_env, redis):
    runtime = Runtime(live_env, connection=redis)
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    return Phone(app.test_client(), AUTH_TOKEN, base_url=PUBLIC_URL), runtime


def test_reply_reaches_twilio_with_the_right_fields(live, fake_twilio, redis):
    phone, runtime = live
    response, _ = phone.text("como pido asilo", sender="+15557654321")
    assert response.status_code == 200
    run_worker(redis)
    [request] = fake_twilio.wait_for(1)
    assert request.get("To") == "+15557654321"
    assert request.get("From") == "+15550000"
    assert "asilo" in request.get("Body").lower()
    assert request.get("StatusCallback") == PUBLIC_URL + "/twilio/status"
    # SMS policy: no accents that would force UCS-2, no WhatsApp asterisks.
    assert not set("áíóú*") & set(request.get("Body"))
    # The status callback then moves the delivery record forward, never back.
    form = {"MessageSid": request.sid, "MessageStatus": "delivered", "To": "+15557654321"}
    assert phone.post("/twilio/status", form).status_code == 204
    assert phone.post("/twilio/status", dict(form, MessageStatus="sent")).status_code == 204
    assert runtime.store.deliveries.status(request.sid)["status"] == "delivered"


def test_whatsapp_reply_uses_the_whatsapp_sender_and_keeps_accents(live, fake_twilio, redis):
    phone, _ = live
    phone.text("hola", sender="whatsapp:+5215512345678")
    run_worker(redis)
    [request] = fake_twilio.wait_for(1)
    assert request.get("To") == "whatsapp:+5215512345678"
    assert request.get("From") == "whatsapp:+15550001"
    assert any(c in request.get("Body") for c in "áéíóú")    # WhatsApp keeps the accents SMS folds


def test_messaging_service_replaces_from(env, fake_twilio, redis):
    config = env(TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_URL=PUBLIC_URL,
                 TWILIO_MESSAGING_SERVICE_SID="MG" + "1" * 32, TWILIO_API_URL=fake_twilio.url)
    app = create_app({"TESTING": True, "RUNTIME": Runtime(config, connection=redis)})
    Phone(app.test_client(), AUTH_TOKEN, base_url=PUBLIC_URL).text("help")
    run_worker(redis)
    [request] = fake_twilio.wait_for(1)
    assert request.get("MessagingServiceSid") == "MG" + "1" * 32
    assert request.get("From") is None


def _failed_jobs(redis):
    queue = make_queue(REPLIES, redis)
    return [Job.fetch(i, connection=redis, serializer=JSONSerializer) for i in queue.failed_job_registry.get_job_ids()]


def test_21610_records_the_opt_out_and_is_not_retried(live, fake_twilio, redis):
    phone, runtime = live
    fake_twilio.fail_for("+15550199", 400, 21610, "Attempt to send to unsubscribed recipient")
    phone.text("asilo", sender="+15550199")
    run_worker(redis)
    assert len(fake_twilio.attempts) == 1
    assert runtime.store.people.is_opted_out(runtime.store.ref("+15550199"))
    [job] = _failed_jobs(redis)
    assert job.retries_left == 0
    assert make_queue(REPLIES, redis).scheduled_job_registry.count == 0
    # Nothing more is sent to them until they write START.
    phone.text("salud", sender="+15550199")
    run_worker(redis)
    assert len(fake_twilio.attempts) == 1


@pytest.mark.parametrize("code", [21211, 21614, 63016])
def test_permanent_errors_are_not_retried_and_stay_visible(live, fake_twilio, redis, code):
    phone, runtime = live
    fake_twilio.fail_next(400, code, times=5)
    phone.text("asilo", sender="+15550198")
    run_worker(redis)
    assert len(fake_twilio.attempts) == 1
    [job] = _failed_jobs(redis)
    assert str(code) in (job.latest_result().exc_string or "")
    assert not runtime.store.people.is_opted_out(runtime.store.ref("+15550198"))


@pytest.mark.parametrize("status,code", [(429, 20429), (500, 20500)])
def test_transient_errors_are_retried_with_backoff(live, fake_twilio, redis, status, code):
    phone, runtime = live
    fake_twilio.fail_next(status, code, times=2)
    phone.text("asilo", sender="+15550197")
    run_worker(redis)                     # the first retry runs at once (and fails again here)...
    queue = make_queue(REPLIES, redis)
    [job_id] = queue.scheduled_job_registry.get_job_ids()    # ...the next waits for its backoff, not failed
    assert queue.failed_job_registry.count == 0 and len(fake_twilio.attempts) == 2
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.retries_left == 4
    # Time passes: the scheduler puts it back; the retry is delivered once.
    queue.enqueue_job(job)
    run_worker(redis)
    assert len(fake_twilio.wait_for(1)) == 1
    assert len(fake_twilio.attempts) == 3


def test_a_duplicated_job_sends_once(live, fake_twilio, redis):
    phone, _ = live
    phone.text("asilo", sender="+15550196")
    queue = make_queue(REPLIES, redis)
    [job] = queue.get_jobs()
    from bot.jobs import send_reply
    queue.enqueue_call(send_reply, args=job.args, job_id="dup")   # at-least-once: it ran twice
    run_worker(redis)
    assert len(fake_twilio.wait_for(1)) == 1
    assert len(fake_twilio.attempts) == 1


def test_dry_run_writes_the_outbox(phone, runtime, redis):
    phone.text("hola", sender="+15550195")
    run_worker(redis)
    [entry] = runtime.store.outbox.entries(ref=runtime.store.ref("+15550195"))
    assert entry.channel == "sms"
    assert entry.body.startswith("Hola")
