"""WhatsApp lists and buttons through the Content API: templates made by `derechos whatsapp sync` in
Twilio's shapes, menus sent as list pickers inside the 24-hour window, taps read back by id, and the
numbered text whenever no template fits (SMS, nothing synced, outside the window, old content)."""
from __future__ import annotations

import json
import shutil
import uuid

import pytest
from click.testing import CliRunner

from bot import interactive
from bot.cli import main
from bot.conversation import menu_reply
from bot.delivery import Outgoing, send_once
from bot.interactive import BUTTONS, LIST, Shape
from bot.messages import Choice, Reply
from bot.runtime import Runtime
from bot.twilio_gateway import parse_inbound
from bot.web import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CONTENT, PUBLIC_URL, Phone, run_worker
from tests.fake_twilio import validate_content

WA = "whatsapp:+5215512345678"
SMS_PERSON = "+13125550170"


@pytest.fixture
def content_dir(tmp_path):
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


@pytest.fixture
def live(env, redis, fake_twilio, content_dir):
    config = env(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_SMS_FROM="+15550000",
                 TWILIO_WHATSAPP_FROM="whatsapp:+15550001", TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL,
                 CONTENT_DIR=str(content_dir))
    runtime = Runtime(config, connection=redis)
    client = create_app({"TESTING": True, "RUNTIME": runtime}).test_client()
    return runtime, Phone(client, AUTH_TOKEN, base_url=PUBLIC_URL)


def sync(*args):
    result = CliRunner().invoke(main, ["whatsapp", "sync", *args])
    assert result.exit_code == 0, result.output
    return result.output


def write(phone, redis, sender, body="", **extra):
    phone.text(body, sender=sender, **extra)
    run_worker(redis)


def sent_to(fake_twilio, to):
    return [r for r in fake_twilio.requests if r.get("To") == to]


def test_without_templates_whatsapp_gets_the_numbered_text(live, fake_twilio, redis):
    runtime, phone = live
    write(phone, redis, WA, "hola")
    [request] = fake_twilio.requests
    assert request.get("ContentSid") is None and "\n1 " in request.get("Body")


def test_sync_makes_every_template_in_twilios_shapes_and_keeps_their_sids(live, fake_twilio, redis):
    runtime, _ = live
    output = sync()
    creates = [r for r in fake_twilio.content_requests if r.method == "POST" and r.path == "/v1/Content"]
    assert creates and all(r.status_code == 201 for r in creates)
    for request in creates:
        validate_content(request.body)      # what twilio_content_v1.json describes
    kinds = {next(k for k, v in r.body["types"].items() if v): r.body["friendly_name"] for r in creates}
    assert {"twilio/list-picker", "twilio/quick-reply", "twilio/text"} <= set(kinds)
    menu = next(r.body for r in creates if r.body["friendly_name"] == "derechos_list8_l3_es")
    picker = menu["types"]["twilio/list-picker"]
    assert picker["button"] == "Ver opciones" and len(picker["items"]) == 8 and menu["language"] == "es"
    assert picker["body"] == "{{1}}\n{{2}}\n{{3}}" and picker["items"][0] == {"item": "{{4}}", "id": "{{5}}"}
    approvals = [r for r in fake_twilio.content_requests if r.path.endswith("/ApprovalRequests/whatsapp")]
    assert sorted(r.body["name"] for r in approvals) == ["derechos_alert_en", "derechos_alert_es"]
    assert {r.body["category"] for r in approvals} == {"UTILITY"}
    alert = next(r.body for r in creates if r.body["friendly_name"] == "derechos_alert_es")
    assert alert["types"]["twilio/text"]["body"].startswith("Derechos: ")      # {org_name} filled
    records = runtime.store.templates.all()
    assert set(records) == {r.body["friendly_name"] for r in creates}
    assert {rec["sid"] for rec in records.values()} == set(fake_twilio.contents)
    assert records["derechos_alert_es"]["status"] == "received"
    assert "created" in output
    # Nothing changed: nothing is sent again.
    before = len(fake_twilio.content_requests)
    assert "0 changed" in sync()
    assert [r.method for r in fake_twilio.content_requests[before:]] == ["GET", "GET"]   # approval verdicts


def test_an_edit_updates_the_templates_it_changes(live, fake_twilio, redis, content_dir):
    runtime, _ = live
    sync()
    path = content_dir / "es" / "whatsapp.yml"
    path.write_text(path.read_text().replace('list_button: "Ver opciones"', 'list_button: "Ver temas"'))
    before = len(fake_twilio.content_requests)
    sync()
    puts = [r for r in fake_twilio.content_requests[before:] if r.method == "PUT"]
    assert puts and all(r.body["types"]["twilio/list-picker"]["button"] == "Ver temas" for r in puts
                        if r.body["types"].get("twilio/list-picker"))
    assert all("_es" in (r.body.get("friendly_name") or "") for r in puts)


def test_sync_refuses_texts_whatsapp_would_refuse(live, content_dir):
    path = content_dir / "es" / "whatsapp.yml"
    text = path.read_text().replace('list_button: "Ver opciones"', 'list_button: "Ver todas las opciones del menú"')
    path.write_text(text.split("\nalert:")[0] + '\nalert: "Aviso: {{1}}"\n')
    result = CliRunner().invoke(main, ["whatsapp", "sync"])
    assert result.exit_code != 0
    assert f"{path}:7: error: list_button is 31 characters" in result.output
    assert f"{path}:19: error: alert" in result.output and "starts or ends with a variable" in result.output
    assert CliRunner().invoke(main, ["whatsapp", "check"]).exit_code != 0


def test_the_menu_is_a_list_and_a_tap_leads_where_the_number_leads_on_sms(live, fake_twilio, redis):
    runtime, phone = live
    sync()
    records = runtime.store.templates.all()
    catalog = runtime.content.get().catalog
    write(phone, redis, WA, "hola")
    [menu] = sent_to(fake_twilio, WA)
    assert menu.get("ContentSid") == records["derechos_list8_l3_es"]["sid"] and menu.get("Body") is None
    variables = menu.variables
    first = catalog.sections[0]
    assert variables["4"] == catalog.section_label(first.id, "es") and variables["5"] == "section:" + first.id
    # Tap the first section, then its first topic.
    write(phone, redis, WA, variables["4"], ListId=variables["5"], ListTitle=variables["4"])
    section = sent_to(fake_twilio, WA)[-1]
    assert section.get("ContentSid") == records[f"derechos_list{len(first.topics)}_l2_es"]["sid"]
    topic_id, topic_title = section.variables["4"], section.variables["3"]
    write(phone, redis, WA, topic_title, ListId=topic_id, ListTitle=topic_title)
    answer = sent_to(fake_twilio, WA)[-1]
    assert answer.get("ContentSid") is None
    # The same two numbers on SMS reach the same topic, with the same text.
    for text in ("hola", "1", "1"):
        write(phone, redis, SMS_PERSON, text)
    by_sms = runtime.store.people.load_state(runtime.vault.ref(SMS_PERSON)).topic
    by_list = runtime.store.people.load_state(runtime.vault.ref(WA)).topic
    assert by_list == by_sms == first.topics[0] == topic_id
    page = catalog.answer(topic_id, "es").topic.pages[0]
    assert answer.get("Body").startswith(page[:60])
    sms_menu = sent_to(fake_twilio, SMS_PERSON)[0]
    assert sms_menu.get("ContentSid") is None and "\n1 " in sms_menu.get("Body")     # SMS: numbered text


def test_outside_the_window_the_menu_goes_as_text(live, fake_twilio, redis):
    runtime, phone = live
    sync()
    phone.text("hola", sender=WA)
    redis.delete(runtime.store.key("window", runtime.vault.ref(WA)))     # as if a day had passed
    run_worker(redis)
    [request] = fake_twilio.requests
    assert request.get("ContentSid") is None and "\n1 " in request.get("Body")


def test_a_template_made_from_other_content_is_not_used_until_the_next_sync(live, fake_twilio, redis, content_dir):
    runtime, phone = live
    sync()
    path = content_dir / "es" / "whatsapp.yml"
    path.write_text(path.read_text().replace('list_button: "Ver opciones"', 'list_button: "Ver temas"'))
    write(phone, redis, WA, "hola")
    assert fake_twilio.requests[-1].get("ContentSid") is None
    sync()
    write(phone, redis, WA, "menu")
    assert fake_twilio.requests[-1].get("ContentSid") == runtime.store.templates.get("derechos_list8_l3_es")["sid"]


def yes_no_question(runtime, ref, address):
    reply = Reply("¿Quieres dejar de recibir mensajes? Responde BAJA.",
                  choices=(Choice("yes", "Sí"), Choice("no", "No")), style="buttons")
    out = Outgoing(uuid.uuid4().hex, ref, address, "whatsapp", reply, lang="es")
    return send_once(runtime, out, "test")


def test_a_yes_no_question_goes_as_quick_reply_buttons_and_the_tap_comes_back_by_id(live, fake_twilio, redis):
    runtime, phone = live
    sync()
    phone.text("hola", sender=WA)             # opens the window
    run_worker(redis)
    yes_no_question(runtime, runtime.vault.ref(WA), WA)
    request = fake_twilio.requests[-1]
    assert request.get("ContentSid") == runtime.store.templates.get("derechos_buttons2_l1_es")["sid"]
    assert request.variables == {"1": "¿Quieres dejar de recibir mensajes? Responde BAJA.", "2": "Sí", "3": "yes",
                                 "4": "No", "5": "no"}
    content = fake_twilio.contents[request.get("ContentSid")]
    assert content["types"]["twilio/quick-reply"]["actions"] == [{"title": "{{2}}", "id": "{{3}}"},
                                                                 {"title": "{{4}}", "id": "{{5}}"}]
    # What Twilio posts when the person taps "Sí": read by the payload.
    inbound = parse_inbound({"MessageSid": "SM" + "1" * 32, "From": WA, "Body": "Sí", "ButtonText": "Sí",
                             "ButtonPayload": "yes", "MessageType": "button"})
    assert inbound.choice == "yes"
    assert runtime.content.get().matcher.choice(inbound.choice, inbound.body).intent == "yes"


def test_buttons_without_templates_go_as_text(live, fake_twilio, redis):
    runtime, phone = live
    phone.text("hola", sender=WA)
    run_worker(redis)
    yes_no_question(runtime, runtime.vault.ref(WA), WA)
    assert fake_twilio.requests[-1].get("ContentSid") is None
    assert fake_twilio.requests[-1].get("Body").startswith("¿Quieres dejar")


def test_the_fake_renders_what_the_template_makes_of_the_variables(live, fake_twilio, redis):
    runtime, phone = live
    sync()
    write(phone, redis, WA, "hola")
    sid = fake_twilio.requests[-1].sid
    body = fake_twilio._messages[sid]["body"]
    catalog = runtime.content.get().catalog
    assert body.split("\n")[0] == catalog.text("welcome", "es")


@pytest.mark.parametrize("lang", ["es", "en", "mam", "mixteco"])
def test_every_menu_fits_whatsapps_limits(runtime, lang):
    catalog = runtime.content.get().catalog
    replies = [menu_reply(catalog, lang, *catalog.menu(lang))]
    replies += [menu_reply(catalog, lang, *catalog.section_menu(s.id, lang)) for s in catalog.sections]
    for reply in replies:
        shape = interactive.shape_of(reply)
        assert shape is not None and shape.style == LIST and shape.rows <= interactive.LIST_MAX_ROWS
        values = interactive.content_variables(reply, shape)
        titles = [values[t] for t, _, _ in interactive._slots(shape)]
        assert titles == [c.title for c in reply.choices]        # no label had to be cut
        assert all(len(t) <= interactive.ROW_TITLE_MAX for t in titles)
        assert all("\n" not in v and v.strip() for v in values.values())
        assert len("\n".join(values[str(n)] for n in range(1, shape.lines + 1))) <= interactive.BODY_MAX


def test_long_labels_are_cut_to_whatsapps_limits():
    long = "Derechos laborales y salario mínimo"
    reply = Reply("Elige:", choices=(Choice("a", long), Choice("b", "Corto")), style="buttons")
    values = interactive.content_variables(reply, interactive.shape_of(reply))
    assert len(values["2"]) <= interactive.BUTTON_TITLE_MAX and values["2"].endswith("…")
    too_many = Reply("Elige:", choices=tuple(Choice(str(i), f"Opción {i}") for i in range(11)), style="list")
    assert interactive.shape_of(too_many) is None                  # 11 rows: the numbered text
    assert interactive.shape_of(Reply("Elige:", choices=too_many.choices[:10], style="list")) == Shape(LIST, 10, 1)
    assert interactive.shape_of(Reply("¿Sí?", choices=(Choice("yes", "Sí"),) * 2, style="buttons")) is None
    assert interactive.shape_of(Reply("x", choices=(Choice("a", "A"), Choice("b", "B")), style="buttons")) == \
        Shape(BUTTONS, 2, 1)


def test_a_tap_on_an_id_no_longer_known_is_read_as_what_it_says(phone, runtime, redis):
    other = "whatsapp:+5215512340000"
    for sender, extra in ((WA, {"ListId": "a-topic-since-removed", "ListTitle": "asilo"}), (other, {})):
        phone.text("hola", sender=sender)
        phone.text("asilo", sender=sender, **extra)
    tapped = runtime.store.people.load_state(runtime.vault.ref(WA))
    typed = runtime.store.people.load_state(runtime.vault.ref(other))
    assert tapped.topic == typed.topic == "asylum"


def test_dry_run_sync_changes_nothing(live, fake_twilio, redis):
    runtime, _ = live
    output = sync("--dry-run")
    assert "would create" in output and fake_twilio.content_requests == []
    assert runtime.store.templates.all() == {}
    assert json.loads(CliRunner().invoke(main, ["whatsapp", "sync", "--dry-run", "--json"]).output.splitlines()[0])


def test_a_template_twilio_will_not_change_is_replaced(live, fake_twilio, redis, content_dir):
    runtime, _ = live
    sync()
    old = runtime.store.templates.get("derechos_alert_es")["sid"]
    path = content_dir / "es" / "whatsapp.yml"
    path.write_text(path.read_text().replace("novedad de las alertas", "novedades de las alertas"))
    fake_twilio.fail_next_content(400, 20001, "approved content cannot be changed", method="PUT")
    output = sync()
    assert "replaced" in output
    new = runtime.store.templates.get("derechos_alert_es")
    assert new["sid"] != old and old not in fake_twilio.contents and new["sid"] in fake_twilio.contents
    assert fake_twilio.approval(new["sid"])["category"] == "UTILITY"       # submitted again
    assert fake_twilio.contents[new["sid"]]["types"]["twilio/text"]["body"].startswith("Derechos: novedades")
