"""Every shape Twilio posts (SMS, MMS, short codes, WhatsApp by number, by business-scoped user id,
by both, buttons and lists, base64 bodies), signed and through the real app; and a person known by a
number and a WhatsApp user id is one person: STOP, the language, alerts, hand-offs and deletion follow
them whichever address they write from."""
from __future__ import annotations

import base64
import logging
import uuid

import pytest

from bot.addresses import identity
from bot.jobs import REPLIES, make_queue
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, Phone, run_worker

PHONE = "+14135550142"
WA_PHONE = "whatsapp:" + PHONE
USER_ID = "US.13491208655302741918"
WA_ID = "whatsapp:" + USER_ID


def twilio_form(sender: str, body: str, to: str | None = None, **extra) -> dict:
    """A form as Twilio posts it for an inbound message (the fields courier's tests also carry)."""
    sid = "SM" + uuid.uuid4().hex
    whatsapp = sender.startswith("whatsapp:")
    form = {"ToCountry": "US", "ToState": "IL", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "CHICAGO",
            "FromZip": "01020", "SmsSid": sid, "FromState": "MA", "SmsStatus": "received", "FromCity": "CHICOPEE",
            "Body": body, "FromCountry": "US", "To": to or ("whatsapp:+13125550000" if whatsapp else "+13125550000"),
            "ToZip": "60601", "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
            "ApiVersion": "2010-04-01"}
    if whatsapp:
        form.update(ProfileName="Ana", MessageType="text")
        if sender.removeprefix("whatsapp:").startswith("+"):
            form["WaId"] = sender.removeprefix("whatsapp:+")
    form.update(extra)
    return form


def payloads(redis) -> list[dict]:
    return [job.args[0] for job in make_queue(REPLIES, redis).get_jobs()]


def to_of(runtime, payload) -> str:
    return runtime.vault.decrypt(payload["to"], context="addr:" + payload["ref"])


def send(phone, form):
    response = phone.post("/twilio/messages", form)
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/xml"
    return response


def last_reply(runtime, redis) -> dict:
    return payloads(redis)[-1]


# --- every shape -------------------------------------------------------------------------------------

SHAPES = {
    "sms": (twilio_form("+13125550111", "asilo"), "+13125550111", "sms"),
    "mms": (twilio_form("+13125550112", "asilo", NumMedia="1", MediaUrl0="https://api.twilio.com/x/Media/ME1",
                        MediaContentType0="image/jpeg"), "+13125550112", "sms"),
    "short code To": (twilio_form("+13125550113", "asilo", to="89203"), "+13125550113", "sms"),
    "whatsapp with number": (twilio_form("whatsapp:+5215512345678", "asilo"), "whatsapp:+5215512345678", "whatsapp"),
    "whatsapp with id only": (twilio_form(WA_ID, "asilo", ExternalUserId=WA_ID), WA_ID, "whatsapp"),
    "whatsapp with both": (twilio_form(WA_PHONE, "asilo", ExternalUserId=WA_ID), WA_PHONE, "whatsapp"),
    "whatsapp with a bad ExternalUserId": (twilio_form(WA_PHONE, "asilo", ExternalUserId="whatsapp:foo_bar"),
                                           WA_PHONE, "whatsapp"),
    "base64 body": (twilio_form("+13125550114", base64.b64encode("Como pido asilo? Llegue hace un mes a la "
                                                                 "frontera con mis hijos".encode()).decode(),
                                NumMedia="1", MediaUrl0="https://api.twilio.com/x/Media/ME2",
                                MediaContentType0="text/plain"), "+13125550114", "sms"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_is_answered_on_the_address_it_came_from(shape, phone, runtime, redis):
    form, address, channel = SHAPES[shape]
    send(phone, form)
    [payload] = payloads(redis)
    assert payload["channel"] == channel
    assert to_of(runtime, payload) == address
    assert payload["reply"]["body"].startswith(runtime.content.get().catalog.answer("asylum", "es").topic.pages[0][:40])


def test_a_user_id_is_its_own_person_until_seen_with_a_number(phone, runtime, redis):
    send(phone, twilio_form(WA_ID, "english"))
    id_ref = runtime.vault.ref(WA_ID)
    assert runtime.store.people.load_state(id_ref).lang == "en"
    assert runtime.store.links.primary_of(id_ref) is None
    assert id_ref != runtime.vault.ref(PHONE)


def test_a_malformed_external_user_id_is_ignored_with_a_warning_naming_no_id(phone, runtime, redis, caplog):
    with caplog.at_level(logging.WARNING):
        send(phone, twilio_form(WA_PHONE, "hola", ExternalUserId="whatsapp:foo_bar"))
    assert "ExternalUserId" in caplog.text and "foo_bar" not in caplog.text
    assert to_of(runtime, payloads(redis)[0]) == WA_PHONE
    assert runtime.store.links.refs_of(runtime.vault.ref(PHONE)) == [runtime.vault.ref(PHONE)]


@pytest.mark.parametrize("sender", ["US.1234", "whatsapp:foo_bar", "whatsapp:US.ENT.1234", "whatsapp:us.1234"])
def test_a_sender_that_is_no_address_is_400(phone, sender):
    assert phone.post("/twilio/messages", twilio_form(sender, "hola")).status_code == 400


def test_list_reply_is_read_by_its_id_not_its_title(phone, runtime, redis):
    catalog = runtime.content.get().catalog
    section = catalog.sections[2]
    send(phone, twilio_form(WA_PHONE, "hola"))
    # The title says one section, the id another: the id wins.
    other = catalog.section_label(catalog.sections[0].id, "es")
    send(phone, twilio_form(WA_PHONE, other, MessageType="interactive", ListId="section:" + section.id,
                            ListTitle=other))
    state = runtime.store.people.load_state(runtime.vault.ref(PHONE))
    assert state.menu == tuple(t for t in section.topics)


def test_button_reply_is_read_by_its_payload(phone, runtime, redis):
    send(phone, twilio_form(WA_PHONE, "hola"))
    send(phone, twilio_form(WA_PHONE, "Sí", MessageType="button", ButtonPayload="labor", ButtonText="Sí"))
    assert runtime.store.people.load_state(runtime.vault.ref(PHONE)).topic == "labor"


def test_a_choice_on_sms_is_not_a_tap(phone, runtime, redis):
    send(phone, twilio_form("+13125550115", "hola", ListId="labor"))
    assert runtime.store.people.load_state(runtime.vault.ref("+13125550115")).topic is None


# --- one person, two addresses -------------------------------------------------------------------

def link(phone):
    send(phone, twilio_form(WA_PHONE, "hola", ExternalUserId=WA_ID))


def test_both_addresses_in_one_message_are_linked_both_ways(phone, runtime, redis):
    link(phone)
    phone_ref, id_ref = runtime.vault.ref(PHONE), runtime.vault.ref(WA_ID)
    assert runtime.store.links.primary_of(id_ref) == phone_ref
    assert runtime.store.refs_of(phone_ref) == [phone_ref, id_ref] == runtime.store.refs_of(id_ref)
    assert runtime.store.person(WA_ID) == phone_ref == runtime.store.person(PHONE)
    # The number is kept encrypted for an alert's SMS fallback, never in clear.
    assert runtime.store.links.phone_of(phone_ref) == PHONE
    assert not any(PHONE[2:].encode() in (redis.dump(k) or b"") for k in redis.scan_iter())


def test_the_language_chosen_from_the_id_holds_on_the_number(phone, runtime, redis):
    link(phone)
    send(phone, twilio_form(WA_ID, "english"))
    send(phone, twilio_form(PHONE, "asilo"))
    assert last_reply(runtime, redis)["lang"] == "en"
    assert to_of(runtime, last_reply(runtime, redis)) == PHONE       # replies go where the message came from


def alert_to_everyone(runtime, fake_twilio, redis, api_headers, client, text="Alerta: taller gratis."):
    response = client.post("/api/broadcasts", json={"texts": {"es": text}}, headers=api_headers)
    broadcast = response.get_json()["id"]
    client.post(f"/api/broadcasts/{broadcast}/send", headers=api_headers)
    run_worker(redis)
    return broadcast


@pytest.fixture
def live(env, redis, fake_twilio):
    config = env(ADMIN_TOKEN="organizer-token-0123456789", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                 TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_SMS_FROM="+15550000",
                 TWILIO_WHATSAPP_FROM="whatsapp:+15550001", TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL)
    runtime = Runtime(config, connection=redis)
    client = create_app({"TESTING": True, "RUNTIME": runtime}).test_client()
    return runtime, client, Phone(client, AUTH_TOKEN, base_url=PUBLIC_URL), \
        {"Authorization": "Bearer organizer-token-0123456789"}


def test_stop_from_the_id_stops_alerts_to_the_number(live, fake_twilio, redis):
    runtime, client, phone, headers = live
    send(phone, twilio_form(PHONE, "ALERTAS"))          # subscribed by SMS
    link(phone)
    send(phone, twilio_form(WA_ID, "STOP"))             # from the username alone
    run_worker(redis)
    fake_twilio.clear()
    alert_to_everyone(runtime, fake_twilio, redis, headers, client)
    assert [r.get("To") for r in fake_twilio.requests] == []
    assert runtime.store.people.is_opted_out(runtime.vault.ref(PHONE))
    assert runtime.store.subscribers.count() == 0


def test_with_an_intake_consumer_a_stop_from_the_id_silences_the_number_at_once(live, fake_twilio, redis):
    from bot.intake import drain
    runtime, client, phone, headers = live
    runtime.store.intake.ensure_group()
    runtime.store.intake.beat(60)                       # a consumer is alive
    send(phone, twilio_form(PHONE, "ALERTAS"))          # subscribed by SMS, then linked
    link(phone)
    assert drain(runtime) == 2
    send(phone, twilio_form(WA_ID, "STOP"))             # handed over; the consumer has not run yet
    run_worker(redis)
    fake_twilio.clear()
    alert_to_everyone(runtime, fake_twilio, redis, headers, client)
    assert fake_twilio.requests == []                   # held on the number too
    assert drain(runtime) == 1
    run_worker(redis)
    assert [r.get("To") for r in fake_twilio.requests] == [WA_ID]    # the one confirmation
    assert runtime.store.people.is_opted_out(runtime.vault.ref(PHONE))
    assert redis.keys(runtime.store.intake.hold_key("*")) == []


def test_stop_from_the_number_silences_the_id(live, fake_twilio, redis):
    runtime, client, phone, headers = live
    link(phone)
    send(phone, twilio_form(WA_ID, "ALERTAS"))          # subscribed from the username
    send(phone, twilio_form(PHONE, "STOP"))             # STOP by SMS
    run_worker(redis)
    fake_twilio.clear()
    send(phone, twilio_form(WA_ID, "asilo"))
    assert payloads(redis) == []                        # silence after STOP, on the other address too
    alert_to_everyone(runtime, fake_twilio, redis, headers, client)
    assert fake_twilio.requests == []


def test_a_stop_the_id_sent_alone_joins_the_person_when_linked(phone, runtime, redis):
    send(phone, twilio_form(WA_ID, "STOP"))             # not yet known to be anyone's
    assert not runtime.store.people.is_opted_out(runtime.vault.ref(PHONE))
    link(phone)
    assert runtime.store.people.is_opted_out(runtime.vault.ref(PHONE))
    send(phone, twilio_form(PHONE, "START"))            # the person's own word lifts it everywhere
    assert not runtime.store.people.is_opted_out(runtime.vault.ref(PHONE))
    assert not runtime.store.people.is_opted_out(runtime.vault.ref(WA_ID))


def test_a_subscription_from_the_id_moves_to_the_number_when_linked(phone, runtime, redis):
    send(phone, twilio_form(WA_ID, "ALERTAS CHICAGO"))
    store = runtime.store
    assert store.subscribers.whatsapp_only(store.subscribers.audience()) == store.subscribers.audience()
    link(phone)
    subscriber = store.subscribers.get(runtime.vault.ref(PHONE))
    assert subscriber is not None and store.subscribers.get(runtime.vault.ref(WA_ID)) is None
    assert subscriber.tags == ("chicago",) and subscriber.channel == "whatsapp"
    assert store.subscribers.open_address(subscriber) == WA_PHONE
    assert store.subscribers.whatsapp_only(store.subscribers.audience()) == set()


def test_alerts_asked_for_from_a_linked_id_keep_the_number(phone, runtime, redis):
    link(phone)
    send(phone, twilio_form(WA_ID, "ALERTAS"))
    subscriber = runtime.store.subscribers.get(runtime.vault.ref(PHONE))
    assert runtime.store.subscribers.open_address(subscriber) == WA_PHONE


def test_a_handoff_asked_for_from_the_id_is_the_persons(phone, runtime, redis):
    link(phone)
    send(phone, twilio_form(WA_ID, "hablar con alguien"))
    [handoff] = runtime.store.handoffs.list()
    assert handoff["ref"] == runtime.vault.ref(PHONE)
    assert runtime.store.handoffs.address(handoff["id"]) == WA_ID      # a person answers where they wrote


def everything_about(redis, refs) -> list[bytes]:
    found = []
    for key in redis.scan_iter():
        if key.startswith(b"rq:") or key.endswith(b":outbox"):
            continue        # RQ's record of the confirmation job (ciphertext), the dry-run outbox
        value = redis.dump(key) or b""
        if any(r.encode() in key or r.encode() in value for r in refs):
            found.append(key)
    return found


@pytest.mark.parametrize("deleting_from", [PHONE, WA_ID])
def test_borrar_from_either_address_erases_both_and_the_link(deleting_from, phone, runtime, redis):
    send(phone, twilio_form(WA_ID, "ALERTAS"))          # the id on its own first
    send(phone, twilio_form(WA_ID, "hablar con alguien"))
    link(phone)
    send(phone, twilio_form(PHONE, "english"))
    send(phone, twilio_form(WA_ID, "hablar con alguien"))
    run_worker(redis)
    refs = [runtime.vault.ref(PHONE), runtime.vault.ref(WA_ID)]
    assert everything_about(redis, refs)
    send(phone, twilio_form(deleting_from, "BORRAR MIS DATOS"))
    run_worker(redis)
    assert everything_about(redis, refs) == []
    assert runtime.store.subscribers.count() == 0 and runtime.store.handoffs.list() == []
    assert runtime.store.links.primary_of(refs[1]) is None and runtime.store.links.phone_of(refs[0]) is None


def test_an_id_only_subscriber_gets_whatsapp_only_and_previews_say_so(live, fake_twilio, redis):
    runtime, client, phone, headers = live
    send(phone, twilio_form(WA_ID, "ALERTAS"))
    send(phone, twilio_form("+13125550120", "ALERTAS"))
    run_worker(redis)
    fake_twilio.clear()
    broadcast = client.post("/api/broadcasts", json={"texts": {"es": "Alerta."}}, headers=headers).get_json()["id"]
    preview = client.get(f"/api/broadcasts/{broadcast}/preview", headers=headers).get_json()
    assert preview["recipients"] == 2 and preview["whatsapp_only"] == 1
    [row] = [r for r in preview["rows"] if r["channel"] == "whatsapp"]
    assert row["whatsapp_only"] == 1
    client.post(f"/api/broadcasts/{broadcast}/send", headers=headers)
    run_worker(redis)
    assert sorted(r.get("To") for r in fake_twilio.requests) == ["+13125550120", WA_ID]


def test_identity_of_an_id_never_collides_with_a_number():
    assert identity(WA_ID) == USER_ID and identity(WA_PHONE) == PHONE


def test_an_organizer_forgets_a_person_by_their_user_id(phone, runtime, redis):
    from click.testing import CliRunner

    from bot.cli import main
    link(phone)
    send(phone, twilio_form(WA_ID, "ALERTAS"))
    result = CliRunner().invoke(main, ["subscribers", "forget", USER_ID])
    assert result.exit_code == 0, result.output
    assert USER_ID not in result.output
    refs = [runtime.vault.ref(PHONE), runtime.vault.ref(WA_ID)]
    assert runtime.store.subscribers.count() == 0 and everything_about(redis, refs) == []


def test_whatever_the_order_stop_holds_for_the_person_on_every_address(env, redis):
    """Random sequences of messages from a number, a user id and both at once: after STOP from any
    address the person hears nothing (but START) from any address they are known by, and START from
    any lifts it everywhere."""
    from hypothesis import HealthCheck, settings
    runtime = Runtime(env(INBOUND_PER_MINUTE="1000"), connection=redis)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), "derechos-dev-token")
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

    senders = {"sms": (PHONE, {}), "whatsapp number": (WA_PHONE, {}), "id": (WA_ID, {}),
               "both": (WA_PHONE, {"ExternalUserId": WA_ID})}

    class TwoAddresses(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            redis.flushdb()
            self.linked = False
            self.out = {"number": False, "id": False}      # the model: who opted out

        def person(self, which: str) -> str:
            return "id" if which == "id" and not self.linked else "number"

        @rule(which=st.sampled_from(sorted(senders)), text=st.sampled_from(["asilo", "STOP", "START", "hola"]))
        def write(self, which, text):
            sender, extra = senders[which]
            if which == "both" and not self.linked:
                self.linked = True
                self.out["number"] = self.out["number"] or self.out["id"]
            person = self.person(which)
            response, _ = phone.text(text, sender=sender, **extra)
            held = response.headers.get("X-Derechos-Held")
            if text == "START":
                assert held is None
                self.out[person] = False
            elif text == "STOP":
                assert (held == "opted_out") == self.out[person]
                self.out[person] = True
            else:
                assert (held == "opted_out") == self.out[person], (which, text, self.out)

        @invariant()
        def every_ref_of_an_opted_out_person_is_marked(self):
            people = runtime.store.people
            number_refs = [runtime.vault.ref(PHONE)] + ([runtime.vault.ref(WA_ID)] if self.linked else [])
            assert all(people.is_opted_out(r) == self.out["number"] for r in number_refs)
            if not self.linked:
                assert people.is_opted_out(runtime.vault.ref(WA_ID)) == self.out["id"]

    run_state_machine_as_test(TwoAddresses, settings=settings(
        max_examples=40, stateful_step_count=12, deadline=None, database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
