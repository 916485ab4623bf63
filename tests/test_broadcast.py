"""Subscribers, opt-in and opt-out, the organizer API and broadcasts (in-process worker)."""
from __future__ import annotations

import json
from datetime import date

import pytest

from bot.broadcast import Audience, Broadcast, plan, text_for, validate
from bot.importer import ImportRow
from bot.delivery import deliver_batch, fan_out
from bot.jobs import BROADCASTS, REPLIES, make_queue
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Phone, add_rows, run_worker

TOKEN = "organizer-token-0123456789"
LANGS = {"es", "en", "mam", "mixteco"}


# --- pure ------------------------------------------------------------------------------------

def test_dates_are_written_in_each_language():
    alert = Broadcast(texts={"es": "Clínica legal el {date} a las {time}.", "en": "Legal clinic on {date} at {time}."},
                      when="2026-12-05 10:30", timezone="America/Chicago")
    assert text_for(alert, "es")[0] == "Clínica legal el 5 de diciembre de 2026 a las 10:30."
    assert text_for(alert, "en")[0] == "Legal clinic on December 5, 2026 at 10:30\u202fAM." or \
        text_for(alert, "en")[0] == "Legal clinic on December 5, 2026 at 10:30 AM."
    text, used = text_for(alert, "mam")      # no Mam text: Spanish, with Spanish dates
    assert used == "es" and "5 de diciembre" in text


def test_validation_reports_every_problem():
    alert = Broadcast(texts={"en": "hi {place}"}, audience=Audience(langs=("xx",), channels=("fax",), tags=("Bad Tag",)),
                      audio={"mam": "http://x"}, timezone="Mars/Olympus")
    problems = " | ".join(validate(alert, LANGS))
    for needle in ("Spanish text (es) is required", "{place}", "'xx'", "'fax'", "Bad Tag", "https", "Mars/Olympus"):
        assert needle in problems


def test_plan_counts_segments_and_cost():
    alert = Broadcast(texts={"es": "Información importante: " + "á" * 150, "en": "Short."})
    result = plan(alert, {("es", "sms"): 10, ("en", "sms"): 5, ("mam", "whatsapp"): 2})
    rows = {(r.lang, r.channel): r for r in result.rows}
    assert rows[("es", "sms")].encoding == "GSM-7" and rows[("es", "sms")].segments == 2   # folded
    assert rows[("mam", "whatsapp")].text_lang == "es"
    assert result.recipients == 17
    assert result.segments == 10 * 2 + 5 * 1 + 2 * rows[("mam", "whatsapp")].segments


# --- opt-in and opt-out through the webhook ----------------------------------------------------

def test_alertas_with_a_tag_subscribes_and_stop_unsubscribes(phone, runtime):
    store = runtime.store
    phone.text("ALERTAS CHICAGO", sender="+13125550101")
    ref = store.ref("+13125550101")
    sub = store.subscribers.get(ref)
    assert sub.tags == ("chicago",) and sub.source == "keyword" and sub.channel == "sms" and sub.consent_at
    assert b"3125550101" not in sub.sealed_address          # the number is encrypted at rest
    assert store.subscribers.count(tags=["chicago"]) == 1
    phone.text("baja por favor", sender="+13125550101")
    assert store.subscribers.count() == 0 and store.people.is_opted_out(ref)
    assert store.subscribers.get(ref) is None              # out of every audience, address gone


# --- the organizer API ----------------------------------------------------------------------------

@pytest.fixture
def api(env, redis, fake_twilio):
    config = env(ADMIN_TOKEN=TOKEN, TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                 TWILIO_SMS_FROM="+15550000", TWILIO_WHATSAPP_FROM="whatsapp:+15550001",
                 TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL)
    runtime = Runtime(config, connection=redis)
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Organizer": "ana"}
    return client, headers, runtime, Phone(client, AUTH_TOKEN, base_url=PUBLIC_URL)


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-000000000", "Basic abc", f"Bearer {TOKEN}x"])
def test_the_api_refuses_a_missing_or_wrong_token(api, header):
    client, _, _, _ = api
    headers = {"Authorization": header} if header else {}
    for method, path in (("post", "/api/broadcasts"), ("get", "/api/subscribers/count"), ("get", "/api/handoffs")):
        response = getattr(client, method)(path, headers=headers, json={})
        assert response.status_code == 401
        assert TOKEN not in response.get_data(as_text=True)


def test_the_api_is_closed_without_admin_token(client):
    assert client.get("/api/subscribers/count", headers={"Authorization": "Bearer anything-at-all-123"}).status_code == 401


def import_csv(client, headers, csv: str, **params):
    return client.post("/api/subscribers/import", data=csv.encode(), headers=headers, content_type="text/csv",
                       query_string=params)


def test_import_count_preview_send_and_status(api, fake_twilio, redis):
    client, headers, runtime, phone = api
    csv = ("telefono;canal;idioma;etiquetas\n+13125550111;sms;es;chicago\n+13125550112;sms;en;chicago\n"
           "+13125550113;whatsapp;mam;chicago|mam-todos-santos\n12;sms;es;chicago\n+13125550111;sms;es;il\n")
    response = import_csv(client, headers, csv)
    body = response.get_json()
    assert response.status_code == 200 and body["imported"] == 3 and body["duplicates_merged"] == 1
    assert [r["line"] for r in body["rejected"]] == [5]
    assert client.get("/api/subscribers/count?tag=chicago", headers=headers).get_json() == {"count": 3}
    # The Mam speaker wrote within 24 h: WhatsApp lets us write freely.
    phone.text("hola", sender="whatsapp:+13125550113")
    run_worker(redis)
    fake_twilio.clear()

    alert = {"texts": {"es": "Clínica legal gratis el {date}.",
                       "en": "Free legal clinic on {date}."},
             "audience": {"tags": ["chicago"]}, "when": "2026-12-05"}
    created = client.post("/api/broadcasts", json=alert, headers=headers)
    assert created.status_code == 201
    broadcast_id = created.get_json()["id"]
    preview = client.get(f"/api/broadcasts/{broadcast_id}/preview", headers=headers).get_json()
    assert preview["recipients"] == 3
    assert {(r["lang"], r["channel"], r["text_lang"]) for r in preview["rows"]} == {
        ("es", "sms", "es"), ("en", "sms", "en"), ("mam", "whatsapp", "es")}
    assert client.post(f"/api/broadcasts/{broadcast_id}/send", headers=headers).status_code == 202
    run_worker(redis)
    bodies = {r.get("To"): r.get("Body") for r in fake_twilio.wait_for(3)}
    # Each ends with the program's name and how to stop, in the recipient's language (system.yml alert_footer).
    assert bodies["+13125550111"] == "Clinica legal gratis el 5 de diciembre de 2026.\nDerechos. STOP para salir"
    assert bodies["+13125550112"] == "Free legal clinic on December 5, 2026.\nDerechos. Reply STOP to end"
    assert "5 de diciembre" in bodies["whatsapp:+13125550113"]
    # Status callbacks turn into delivery figures.
    for request in fake_twilio.requests:
        status = "undelivered" if request.get("To") == "+13125550112" else "delivered"
        form = {"MessageSid": request.sid, "MessageStatus": status}
        if status == "undelivered":
            form["ErrorCode"] = "30003"
        phone.post("/twilio/status", form)
    report = client.get(f"/api/broadcasts/{broadcast_id}", headers=headers).get_json()
    assert report["status"] == "sent"
    assert report["figures"]["delivered"] == 2 and report["figures"]["undelivered"] == 1
    assert report["failed_by_error"] == {"30003": 1}
    # The audit trail says who did what, with audience sizes, and never a number.
    trail = client.get("/api/audit", headers=headers).get_json()["entries"]
    assert {e["what"] for e in trail} >= {"subscribers.import", "broadcast.create", "broadcast.send"}
    assert all(e["who"] == "ana" for e in trail)
    assert "555011" not in json.dumps(trail)


def add_subscribers(store, n, channel="sms", lang="es", tags=("test",), start=0):
    rows = [ImportRow(address=("whatsapp:" if channel == "whatsapp" else "") + f"+1312555{start + i:04d}",
                      channel=channel, lang=lang, tags=tuple(tags), lines=(i + 2,)) for i in range(n)]
    add_rows(store, rows)
    return rows


def create(client, headers, **extra):
    alert = {"texts": {"es": "Alerta de prueba."}, "audience": {"tags": ["test"]}}
    alert.update(extra)
    response = client.post("/api/broadcasts", json=alert, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_nobody_opted_out_gets_it_and_nobody_gets_it_twice(api, fake_twilio, redis):
    client, headers, runtime, _ = api
    store = runtime.store
    rows = add_subscribers(store, 30)
    ids = sorted(store.subscribers.id_of(store.ref(r.address)) for r in rows)
    for row in rows[:5]:
        store.opt_out_now(store.ref(row.address))
    broadcast_id = create(client, headers)
    client.post(f"/api/broadcasts/{broadcast_id}/send", headers=headers)
    run_worker(redis)
    # The batch job runs again (a retry after a crash), with everyone: nobody gets it twice, and
    # nobody who opted out gets it.
    deliver_batch(runtime, broadcast_id, f"bc-{broadcast_id}-0", ids)
    sent_to = [r.get("To") for r in fake_twilio.requests]
    assert sorted(sent_to) == sorted(r.address for r in rows[5:])
    report = client.get(f"/api/broadcasts/{broadcast_id}", headers=headers).get_json()
    assert report["figures"]["audience"] == 25 and report["figures"]["skipped_unsubscribed"] == 5


def test_whatsapp_outside_24_hours_gets_the_template(api, fake_twilio, redis):
    client, headers, runtime, phone = api
    store = runtime.store
    inside, outside = add_subscribers(store, 2, channel="whatsapp")
    phone.text("hola", sender=inside.address)
    run_worker(redis)
    fake_twilio.clear()
    template = "HX" + "a" * 32
    broadcast_id = create(client, headers, template_sid=template, template_variables={"1": "5 dic"})
    client.post(f"/api/broadcasts/{broadcast_id}/send", headers=headers)
    run_worker(redis)
    by_to = {r.get("To"): r for r in fake_twilio.wait_for(2)}
    assert by_to[inside.address].get("Body") == "Alerta de prueba.\nDerechos. STOP para salir" and by_to[inside.address].get("ContentSid") is None
    assert by_to[outside.address].get("ContentSid") == template
    assert json.loads(by_to[outside.address].get("ContentVariables")) == {"1": "5 dic"}
    # Without a template, people outside the window are skipped and counted.
    fake_twilio.clear()
    second = create(client, headers)
    client.post(f"/api/broadcasts/{second}/send", headers=headers)
    run_worker(redis)
    assert [r.get("To") for r in fake_twilio.requests] == [inside.address]
    assert client.get(f"/api/broadcasts/{second}", headers=headers).get_json()["figures"]["skipped_outside_window"] == 1


def test_cancel_before_the_batches_run(api, fake_twilio, redis):
    client, headers, runtime, _ = api
    add_subscribers(runtime.store, 20)
    broadcast_id = create(client, headers)
    client.post(f"/api/broadcasts/{broadcast_id}/send", headers=headers)
    fan_out(runtime, broadcast_id)                            # batches queued...
    client.post(f"/api/broadcasts/{broadcast_id}/cancel", headers=headers)
    run_worker(redis)                                          # ...and they stop at once
    assert fake_twilio.requests == []
    assert client.get(f"/api/broadcasts/{broadcast_id}", headers=headers).get_json()["status"] == "cancelled"


def test_scheduled_broadcast_waits_for_its_time(api, fake_twilio, redis):
    client, headers, runtime, _ = api
    add_subscribers(runtime.store, 2)
    broadcast_id = create(client, headers)
    response = client.post(f"/api/broadcasts/{broadcast_id}/send", json={"at": "2099-01-01 09:00",
                                                                          "timezone": "America/Mexico_City"},
                           headers=headers)
    assert response.status_code == 202 and response.get_json()["send_at"] == "2099-01-01T15:00:00+00:00"
    run_worker(redis)
    assert fake_twilio.requests == []
    queue = make_queue(BROADCASTS, redis)
    assert queue.scheduled_job_registry.get_job_ids() == [f"start-{broadcast_id}"]
    bad = client.post(f"/api/broadcasts/{broadcast_id}/send", json={"at": "2001-01-01 09:00"}, headers=headers)
    assert bad.status_code == 400


def test_bad_alerts_are_a_400_listing_the_problems(api):
    client, headers, _, _ = api
    response = client.post("/api/broadcasts", json={"texts": {"en": "only english"}}, headers=headers)
    assert response.status_code == 400 and "Spanish" in response.get_json()["error"]
    assert client.post("/api/broadcasts", data="nope", headers=headers, content_type="text/plain").status_code == 400
    assert client.get("/api/broadcasts/nope", headers=headers).status_code == 404


def test_handoff_is_listed_taken_and_closed(api, redis):
    client, headers, runtime, phone = api
    phone.text("asilo", sender="+13125550150")
    phone.text("hablar con alguien", sender="+13125550150")
    [item] = client.get("/api/handoffs?status=open", headers=headers).get_json()["handoffs"]
    assert item["kind"] == "handoff" and item["topic"] == "asylum" and "3125550150" not in json.dumps(item)
    taken = client.post(f"/api/handoffs/{item['id']}/take", headers=headers).get_json()
    assert taken["number"] == "+13125550150"
    client.post(f"/api/handoffs/{item['id']}/close", headers=headers)
    assert client.get("/api/handoffs?status=open", headers=headers).get_json()["handoffs"] == []
    # Deleting my data removes the hand-off too.
    phone.text("hablar con alguien", sender="+13125550150")
    phone.text("borrar mis datos", sender="+13125550150")
    assert client.get("/api/handoffs", headers=headers).get_json()["handoffs"] == []


def test_dates_in_preview_use_babel(api):
    client, headers, _, _ = api
    broadcast_id = create(client, headers, texts={"es": "Fecha límite: {date}", "en": "Deadline: {date}"},
                          when=date(2027, 1, 15).isoformat())
    assert client.get(f"/api/broadcasts/{broadcast_id}/preview", headers=headers).status_code == 200


def test_handoff_notifies_a_webhook_without_the_number(env, redis):
    """The on-call system hears that someone asked for a person; never who."""
    import http.server
    import threading
    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = env(HANDOFF_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hook")
        runtime = Runtime(config, connection=redis)
        phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), "derechos-dev-token")
        phone.text("necesito un interprete", sender="+13125550161")
        run_worker(redis)
    finally:
        server.shutdown()
    [body] = received
    notice = json.loads(body)
    assert notice["kind"] == "interpreter" and notice["lang"] == "es"
    assert "5550161" not in body.decode()


def test_separate_whatsapp_rate_has_its_own_bucket(env):
    config = env(SEND_RATE="1", SEND_RATE_WHATSAPP="80")
    assert config.rate_for("sms") == ("default", 1.0)
    assert config.rate_for("whatsapp") == ("whatsapp", 80.0)


def test_batches_send_the_footer_frozen_at_the_start_without_loading_the_content(api, fake_twilio, redis,
                                                                                 monkeypatch):
    """Each batch runs in a fresh work horse: loading the content (and its model) there cost seconds
    a batch and more than halved the send rate. The footer is frozen when the send starts."""
    from bot.runtime import Runtime
    client, headers, runtime, _ = api
    add_subscribers(runtime.store, 3)
    broadcast_id = create(client, headers)
    client.post(f"/api/broadcasts/{broadcast_id}/send", headers=headers)
    fan_out(runtime, broadcast_id)

    def no_content(self):
        raise AssertionError("a batch loaded the content")
    monkeypatch.setattr(Runtime, "content", property(no_content))
    run_worker(redis)
    bodies = [r.get("Body") for r in fake_twilio.wait_for(3)]
    assert bodies == ["Alerta de prueba.\nDerechos. STOP para salir"] * 3


@pytest.fixture
def fast_api(env, redis, fake_twilio):
    """The API with a send rate that never holds a test back."""
    config = env(ADMIN_TOKEN=TOKEN, TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                 TWILIO_SMS_FROM="+15550000", TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL,
                 SEND_RATE="1000", BATCH_SENDS="4")
    runtime = Runtime(config, connection=redis)
    client = create_app({"TESTING": True, "RUNTIME": runtime}).test_client()
    return client, {"Authorization": f"Bearer {TOKEN}", "X-Organizer": "ana"}, runtime


def test_a_batch_keeps_several_sends_in_flight_and_sends_each_once(fast_api, fake_twilio, redis):
    """Twilio takes 50-300 ms to answer a send: one at a time, 4 workers reached 19 of 50 messages/s
    (bench/broadcast.py --latency 0.2). A batch keeps BATCH_SENDS in flight, under the one shared rate."""
    client, headers, runtime = fast_api
    rows = add_subscribers(runtime.store, 12)
    broadcast_id = create(client, headers)
    client.post(f"/api/broadcasts/{broadcast_id}/send", headers=headers)
    fake_twilio.latency = 0.1
    run_worker(redis)
    sent_to = [r.get("To") for r in fake_twilio.wait_for(12)]
    assert sorted(sent_to) == sorted(r.address for r in rows)
    assert fake_twilio.max_in_flight >= 2
    assert runtime.store.broadcasts.status(broadcast_id) == "sent"


def frozen_broadcast(fast_api, n: int):
    """A broadcast to n new subscribers, its audience frozen and its batches taken off the queue (the
    test runs a batch by hand): (id, rows, subscriber ids)."""
    client, headers, runtime = fast_api
    rows = add_subscribers(runtime.store, n)
    ids = sorted(runtime.store.subscribers.id_of(runtime.store.ref(r.address)) for r in rows)
    broadcast_id = create(client, headers)
    client.post(f"/api/broadcasts/{broadcast_id}/send", headers=headers)
    fan_out(runtime, broadcast_id)
    runtime.queue(BROADCASTS).empty()
    return broadcast_id, rows, ids


def test_a_batch_gives_way_to_waiting_replies_and_the_rest_goes_out_once(fast_api, fake_twilio, redis):
    """People who wrote come first: while replies wait, a batch hands the rest back to the front of the
    broadcasts queue, and the rest is sent later, each recipient once."""
    runtime = fast_api[2]
    broadcast_id, rows, ids = frozen_broadcast(fast_api, 10)
    redis.rpush(runtime.queue(REPLIES).key, "a reply waiting")
    done = deliver_batch(runtime, broadcast_id, f"bc-{broadcast_id}-0", ids)
    assert done == {"continued": 10} and fake_twilio.requests == []
    assert runtime.queue(BROADCASTS).count == 1
    redis.delete(runtime.queue(REPLIES).key)
    run_worker(redis)
    assert sorted(r.get("To") for r in fake_twilio.wait_for(10)) == sorted(r.address for r in rows)
    assert runtime.store.broadcasts.status(broadcast_id) == "sent"


def test_a_batch_past_its_time_slice_hands_back_the_rest(fast_api, fake_twilio, redis):
    runtime = fast_api[2]
    broadcast_id, rows, ids = frozen_broadcast(fast_api, 6)
    done = deliver_batch(runtime, broadcast_id, f"bc-{broadcast_id}-0", ids, slice_seconds=0.0, concurrency=1)
    assert done == {"sent": 1, "continued": 5}      # one send at least, so a batch always progresses
    run_worker(redis)
    assert sorted(r.get("To") for r in fake_twilio.wait_for(6)) == sorted(r.address for r in rows)
