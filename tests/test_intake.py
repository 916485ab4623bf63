"""Ack-first intake (bot/intake.py): with a consumer alive the webhook answers Twilio at once and
`derechos intake` holds the conversation; a STOP or delete request silences the person at once."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from bot import intake
from bot.intake import Consumer, drain
from tests.conftest import ROOT
from tests.test_webhook import queued_payloads, twiml_messages


@pytest.fixture
def consumer_alive(runtime):
    """A consumer has said it is alive (the web trusts that for a few seconds)."""
    runtime.store.intake.ensure_group()
    runtime.store.intake.beat(60)


def waiting(runtime) -> int:
    return runtime.store.intake.backlog()["waiting"]


def test_with_a_consumer_alive_the_webhook_answers_at_once_and_the_consumer_replies(consumer_alive, phone,
                                                                                   runtime, redis):
    response, _ = phone.text("como pido asilo")
    assert response.status_code == 200
    assert twiml_messages(response) == []
    assert queued_payloads(redis) == []            # not handled yet: waiting for the consumer
    assert waiting(runtime) == 1
    assert drain(runtime) == 1
    payloads = queued_payloads(redis)
    assert len(payloads) == 1 and payloads[0]["channel"] == "sms"
    assert waiting(runtime) == 0                   # handled entries are deleted, not only acknowledged


def test_without_a_consumer_the_webhook_handles_the_message_itself(phone, runtime, redis):
    phone.text("como pido asilo")
    assert len(queued_payloads(redis)) == 1
    assert waiting(runtime) == 0


def test_the_handed_over_message_keeps_no_number_or_words_in_clear(consumer_alive, phone, redis):
    phone.text("mi patron no me quiere pagar", sender="+15557654321")
    values = b"".join(redis.dump(k) or b"" for k in redis.keys("*"))
    keys = b"".join(redis.keys("*"))
    for secret in (b"5557654321", b"patron", b"pagar"):
        assert secret not in values and secret not in keys


def kinds(redis) -> list[str]:
    return [p["kind"] for p in queued_payloads(redis)]


def test_stop_silences_the_person_from_the_webhooks_answer_until_the_consumer_carries_it_out(
        consumer_alive, phone, runtime, redis):
    from bot.delivery import deliver
    phone.text("como pido asilo", sender="+15550111")
    assert drain(runtime) == 1
    answer = queued_payloads(redis)[0]                 # queued, not sent yet
    phone.text("STOP", sender="+15550111")
    ref = runtime.store.person("+15550111")
    assert waiting(runtime) == 1                       # handed over like any message...
    assert runtime.store.people.silenced(ref)          # ...with the person held at once
    assert not runtime.store.people.is_opted_out(ref)
    assert deliver(runtime, answer) == "skipped: opted out"     # what waited to be sent does not go
    assert drain(runtime) == 1
    assert runtime.store.people.is_opted_out(ref)
    assert kinds(redis)[1:] == ["stop"]                # the one confirmation, sent by the consumer
    assert not redis.exists(runtime.store.intake.hold_key(ref))     # carried out: the hold is gone


def test_a_question_waiting_when_stop_comes_is_not_answered_after_it(consumer_alive, phone, runtime, redis):
    phone.text("como pido asilo", sender="+15550112")
    phone.text("STOP", sender="+15550112")
    assert drain(runtime) == 2
    assert kinds(redis) == ["stop"]


def test_what_a_person_sends_around_a_stop_is_handled_in_their_order(consumer_alive, phone, runtime, redis):
    ref = runtime.store.person("+15550120")
    phone.text("START", sender="+15550120")            # START waiting, then STOP: opted out at the end
    phone.text("STOP", sender="+15550120")
    assert drain(runtime) == 2
    assert kinds(redis) == ["start", "stop"] and runtime.store.people.is_opted_out(ref)
    redis.delete(*redis.keys("rq:*"))
    phone.text("START", sender="+15550120")            # STOP then START in one batch: the question
    phone.text("STOP", sender="+15550120")             # after the last START is answered
    phone.text("START", sender="+15550120")
    phone.text("como pido asilo", sender="+15550120")
    assert drain(runtime) == 4
    assert kinds(redis) == ["start", "stop", "start", "reply"]
    assert not runtime.store.people.silenced(ref)


def test_twilio_sending_a_stop_twice_confirms_it_once_and_releases_both_holds(consumer_alive, phone, runtime,
                                                                              redis):
    form = {"MessageSid": "SM" + "8" * 32, "From": "+15550121", "To": "+15550000", "Body": "STOP"}
    for _ in range(2):
        assert phone.post("/twilio/messages", form).status_code == 200
    assert drain(runtime) == 2
    assert kinds(redis) == ["stop"]
    assert redis.keys(runtime.store.intake.hold_key("*")) == []


def test_a_stop_that_cannot_be_handled_is_still_carried_out(consumer_alive, phone, runtime, redis, monkeypatch):
    def always(rt, inbound):
        raise RuntimeError("a bug")
    monkeypatch.setattr(intake, "receive_with_redis", always)
    phone.text("STOP", sender="+15550122")
    phone.text("BORRAR", sender="+15550123")
    phone.text("ALERTAS", sender="+15550123")     # (nothing of the second person's stays either way)
    consumer = Consumer(runtime, name="c", idle_s=0.0, max_deliveries=1)
    for _ in range(3):
        consumer.step()
    assert runtime.store.intake.backlog() == {"waiting": 0, "in_hand": 0}
    assert runtime.store.people.is_opted_out(runtime.store.ref("+15550122"))
    assert queued_payloads(redis) == []           # the message could not be read: no confirmation
    assert redis.keys(runtime.store.intake.hold_key("*")) == []


def test_a_delete_request_leaves_nothing_of_what_the_person_sent_before(consumer_alive, phone, runtime, redis):
    phone.text("como pido asilo", sender="+15550118")
    phone.text("mi patron no me paga", sender="+15550119")       # somebody else's: answered
    phone.text("quiero hablar con una persona", sender="+15550118")
    phone.text("BORRAR", sender="+15550118")
    ref = runtime.store.ref("+15550118")
    assert waiting(runtime) == 4 and runtime.store.people.silenced(ref)
    assert drain(runtime) == 4
    assert sorted(kinds(redis)) == ["delete", "reply"]  # the confirmation, and the other person's answer
    assert runtime.store.handoffs.ids_of(ref) == []     # what came before it was not acted on
    leftover = [k for k in redis.keys("*") if not k.startswith(b"rq:")
                and (ref.encode() in k or ref.encode() in (redis.dump(k) or b""))]
    assert leftover == []


def test_twilio_sending_the_same_message_twice_is_answered_once(consumer_alive, phone, runtime, redis):
    form = {"MessageSid": "SM" + "7" * 32, "From": "+15550113", "To": "+15550000", "Body": "asilo"}
    for _ in range(2):
        assert phone.post("/twilio/messages", form).status_code == 200
    assert drain(runtime) == 2
    assert len(queued_payloads(redis)) == 1


def test_a_hand_over_that_fails_is_handled_by_the_webhook_itself(consumer_alive, phone, runtime, redis,
                                                                  monkeypatch):
    import redis as redis_lib

    def fails(*args, **kwargs):
        raise redis_lib.ConnectionError("refused")
    monkeypatch.setattr(runtime.store.intake, "push", fails)
    response, _ = phone.text("como pido asilo")
    assert response.status_code == 200
    assert len(queued_payloads(redis)) == 1      # Redis answered again: handled here, not lost


def test_with_redis_down_the_webhook_answers_inline_and_knows_who_opted_out(env, redis_url, redis):
    from bot.runtime import Runtime
    from bot.web import create_app
    from tests.conftest import Phone
    from tests.redis_gate import RedisGate
    gate = RedisGate(redis_url)
    try:
        config = env(REDIS_URL=gate.url)
        runtime = Runtime(config)
        phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), config.webhook_token)
        runtime.store.intake.beat(60)
        phone.text("STOP", sender="+15550115")            # handed over, not carried out yet...
        phone.text("como pido asilo", sender="+15550116")
        assert waiting(runtime) == 2
        gate.down()                                       # ...when Redis goes away
        stopped, _ = phone.text("hola", sender="+15550115")
        other, _ = phone.text("hola", sender="+15550117")
        assert stopped.status_code == other.status_code == 200
        assert twiml_messages(stopped) == []
        assert twiml_messages(other)                  # degraded mode: the answer in the TwiML itself
    finally:
        gate.close()
    assert redis.xlen(runtime.store.intake.stream) == 2    # what was handed over before waits, kept


def test_a_consumer_that_died_leaves_its_messages_to_the_next(consumer_alive, phone, runtime, redis):
    phone.text("como pido asilo")
    taken = runtime.store.intake.read("died", 10, None)   # read, then never finished
    assert len(taken) == 1 and drain(runtime) == 0
    survivor = Consumer(runtime, name="survivor", idle_s=0.0)
    assert survivor.step() == 1
    assert len(queued_payloads(redis)) == 1
    assert runtime.store.intake.backlog() == {"waiting": 0, "in_hand": 0}


def test_a_message_the_handler_fails_on_is_tried_again(consumer_alive, phone, runtime, redis, monkeypatch):
    real = intake.receive_with_redis
    calls = []

    def fails_once(rt, inbound):
        calls.append(inbound.message_sid)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real(rt, inbound)
    monkeypatch.setattr(intake, "receive_with_redis", fails_once)
    phone.text("como pido asilo")
    consumer = Consumer(runtime, name="c", idle_s=0.0)
    assert consumer.step() == 0 and queued_payloads(redis) == []
    assert consumer.step() == 1                      # taken over again (idle 0 s here), answered
    assert len(calls) == 2 and len(queued_payloads(redis)) == 1


def test_a_message_that_always_breaks_the_handler_is_dropped_with_a_count(consumer_alive, phone, runtime, redis,
                                                                         monkeypatch, caplog):
    def always(rt, inbound):
        raise RuntimeError("a bug")
    monkeypatch.setattr(intake, "receive_with_redis", always)
    phone.text("mi patron no me paga", sender="+15557654321")
    consumer = Consumer(runtime, name="c", idle_s=0.0, max_deliveries=3)
    with caplog.at_level(logging.INFO):
        for _ in range(6):
            consumer.step()
    assert runtime.store.intake.backlog() == {"waiting": 0, "in_hand": 0}
    assert runtime.store.metrics.totals().get("intake_dropped") == 1
    assert "after 3 failed tries" in caplog.text
    assert "5557654321" not in caplog.text and "patron" not in caplog.text


def test_a_running_consumer_answers_and_stands_down_when_stopped(phone, runtime, redis):
    stop = threading.Event()
    thread = threading.Thread(target=Consumer(runtime, name="t").run, args=(stop, 100))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not runtime.store.intake.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runtime.store.intake.alive()
        phone.text("como pido asilo")
        while not queued_payloads(redis) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(queued_payloads(redis)) == 1
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert not runtime.store.intake.alive()          # the web answers by itself again at once
    assert redis.xinfo_consumers(runtime.store.intake.stream, "consumers") == []   # it left the group


def test_consumers_that_died_holding_nothing_are_forgotten(consumer_alive, phone, runtime, redis):
    intake_ = runtime.store.intake
    phone.text("como pido asilo")
    phone.text("mi patron no me paga")
    intake_.read("holds-one", 1, None)                  # died with a message in hand: kept
    intake_.done([e.id for e in intake_.read("holds-none", 1, None)])    # died after finishing it
    time.sleep(0.05)
    assert intake_.prune(0.01) == 1
    names = {c["name"] for c in redis.xinfo_consumers(intake_.stream, "consumers")}
    assert names == {b"holds-one"}


def test_healthz_shows_what_waits_for_the_consumer(consumer_alive, phone, client):
    phone.text("como pido asilo")
    body = client.get("/healthz").get_json()
    assert body["intake"] == {"consumer": True, "waiting": 1, "in_hand": 0}


def test_intake_burst_command_handles_what_waits(consumer_alive, phone, runtime, redis, config):
    from bot.cli import main
    phone.text("como pido asilo")
    result = CliRunner().invoke(main, ["intake", "--burst"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "handled 1 message(s)" in result.output
    assert len(queued_payloads(redis)) == 1


@pytest.mark.slow
def test_intake_process_answers_then_finishes_on_sigterm(phone, runtime, redis, config):
    """`derechos intake` as the Procfile runs it: alive, answers, and on SIGTERM stops cleanly."""
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "intake"], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not runtime.store.intake.alive() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        phone.text("como pido asilo")
        assert waiting(runtime) <= 1
        while not queued_payloads(redis) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(queued_payloads(redis)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert not runtime.store.intake.alive()
    assert waiting(runtime) == 0


def test_only_whole_stop_and_delete_commands_hold_the_person(runtime):
    """What the webhook holds the person for: a message that is STOP or a delete request word for word,
    as content lists them (with or without please, accents, case); nothing that merely contains one."""
    matcher = runtime.content.get().matcher
    for text in ("STOP", " stop!! ", "Baja por favor", "borrar mis datos", "BORRAR"):
        assert matcher.command_of(text) in intake.AT_ONCE, text
    assert matcher.command_of("AYUDA") == "help" and matcher.command_of("START") == "start"
    for text in ("AYUDA", "START", "como pido asilo", "my boss won't stop calling me", "",
                 "stop stop stop stop stop stop", "STOP " + "x" * 80):
        assert matcher.command_of(text) not in intake.AT_ONCE, text


def test_help_is_handed_over_and_answered_by_the_consumer(consumer_alive, phone, runtime, redis):
    phone.text("AYUDA")
    assert queued_payloads(redis) == [] and waiting(runtime) == 1
    assert drain(runtime) == 1
    assert [p["kind"] for p in queued_payloads(redis)] == ["help"]
