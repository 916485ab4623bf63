"""The organizer console through Flask's test client: accounts and sign-in, CSRF, headers, roles,
API tokens, conversations (routing, replies, the WhatsApp window, retention, BORRAR), questions not
answered, imports, languages. The same flows in a real browser are in test_console_browser.py."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import time

import pytest
from babel.messages.pofile import read_po

from bot import accounts, conversations
from bot.config import Config
from bot.console import HERE as CONSOLE_DIR
from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, ROOT, TEST_KEY, Phone, run_worker

PASSWORD = "correct horse battery"
PERSON = "+13125550142"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, email: str, password: str = PASSWORD, **headers):
    client.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")   # the assertions read English
    page = client.get("/console/login", headers=headers)
    return client.post("/console/login", data={"email": email, "password": password,
                                               "csrf_token": csrf_of(page.get_data(as_text=True))}, headers=headers)


def post(client, path: str, data: dict | None = None, page: str = "/console/"):
    """A console form post with the CSRF token of `page`, as a browser sends it."""
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token})


@pytest.fixture
def people(runtime):
    store = runtime.store
    for email, role in (("ana@example.org", "admin"), ("luis@example.org", "organizer"), ("vera@example.org", "viewer")):
        accounts.add(store, email, role, PASSWORD, email.split("@")[0].title(), "test")
    return store


@pytest.fixture
def live(env, redis, fake_twilio, people):
    """Twilio credentials pointed at the fake, an app, a signing phone and an organizer signed in."""
    config = env(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_SMS_FROM="+15550000",
                 TWILIO_WHATSAPP_FROM="whatsapp:+15550001", TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL)
    runtime = Runtime(config, connection=redis)
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    client = app.test_client()
    assert sign_in(client, "luis@example.org").status_code == 302
    return runtime, client, Phone(app.test_client(), AUTH_TOKEN, base_url=PUBLIC_URL)


# --- accounts, sign-in, sessions ------------------------------------------------------------------

def test_pages_need_a_signed_in_organizer(client, people):
    for path in ("/console/", "/console/alerts", "/console/conversations", "/console/audit"):
        response = client.get(path)
        assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_sign_in_and_out_are_audited_with_the_name(client, people):
    response = sign_in(client, "ana@example.org")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")
    assert client.get("/console/").status_code == 200
    post(client, "/console/logout")
    assert client.get("/console/").status_code == 302
    whats = [(e["who"], e["what"]) for e in people.audit.trail(10)]
    assert ("Ana", "console.login") in whats and ("Ana", "console.logout") in whats


def test_a_wrong_password_is_refused_and_throttled_per_account(client, people):
    for _ in range(5):
        response = sign_in(client, "ana@example.org", "wrong password!")
        assert response.status_code == 401
        assert "The email or the password is wrong." in response.get_data(as_text=True)
    # Five failures: even the right password waits now.
    assert sign_in(client, "ana@example.org").status_code == 429
    assert sign_in(client, "luis@example.org").status_code == 302     # another account is not held back
    assert people.audit.trail(50, what="console.login_failed")


def test_login_is_throttled_per_address(client, people):
    for i in range(20):
        sign_in(client, f"nobody{i}@example.org", "whatever at all")
    assert sign_in(client, "luis@example.org").status_code == 429
    keys = [k.decode() for k in people._r.scan_iter("*org:fail*")]
    assert keys and not any("127.0.0.1" in k or "@" in k for k in keys)   # neither address nor email in clear


def test_a_disabled_account_or_a_new_password_ends_its_sessions(client, people):
    sign_in(client, "luis@example.org")
    assert client.get("/console/").status_code == 200
    accounts.reset_password(people, "luis@example.org", "another long password", "test")
    assert client.get("/console/").status_code == 302
    sign_in(client, "luis@example.org", "another long password")
    accounts.set_disabled(people, "luis@example.org", True, "test")
    assert client.get("/console/").status_code == 302
    assert sign_in(client, "luis@example.org", "another long password").status_code == 401


def test_passwords_are_scrypt_hashes(people):
    record = people.organizers.get("ana@example.org")
    assert record["hash"].startswith("scrypt:") and PASSWORD not in record["hash"]


def test_idle_sessions_end(client, people, runtime):
    sign_in(client, "ana@example.org")
    with client.session_transaction("/console/") as session:
        session["seen"] = int(time.time()) - runtime.config.console_idle_minutes * 60 - 5
    response = client.get("/console/")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_forms_without_the_csrf_token_are_refused(client, people):
    page = client.get("/console/login")
    assert client.post("/console/login", data={"email": "ana@example.org", "password": PASSWORD}).status_code == 400
    sign_in(client, "ana@example.org")
    response = client.post("/console/alerts/new", data={"action": "create", "text_es": "Alerta"})
    assert response.status_code == 400
    assert page.status_code == 200
    assert client.post("/console/logout").status_code == 400


def test_security_headers_and_cookie(client, people):
    response = sign_in(client, "ana@example.org")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie   # http in development
    page = client.get("/console/")
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert " style=" not in html and "<style" not in html and "onclick" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/console/static/console.js" defer>']


def test_the_session_cookie_is_secure_behind_https(live):
    runtime, client, _ = live
    response = sign_in(client.application.test_client(), "ana@example.org")
    assert "Secure" in response.headers["Set-Cookie"]


def test_secret_key_is_required_with_twilio_credentials():
    base = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "x" * 32, "TWILIO_SMS_FROM": "+15550000",
            "PUBLIC_URL": "https://b.org", "DATA_KEY": TEST_KEY, "DERECHOS_HELP_LINE": "1-800-555-0100"}
    with pytest.raises(ConfigError) as caught:
        Config.from_env(base)
    assert caught.value.variable == "SECRET_KEY"
    with pytest.raises(ConfigError):
        Config.from_env({"SECRET_KEY": "short"})
    assert Config.from_env({**base, "SECRET_KEY": "z" * 40}).secret_key == b"z" * 40
    result = subprocess.run([sys.executable, "-m", "bot.cli", "config"], capture_output=True, text=True, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", **base})
    assert result.returncode != 0 and result.stderr.strip().count("\n") == 0 and "SECRET_KEY" in result.stderr


def test_a_development_secret_is_generated_in_the_instance_folder(env, redis, monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY")
    config = env()
    app = create_app({"TESTING": True, "RUNTIME": Runtime(config, connection=redis)})
    path = config.instance_dir / "secret.key"
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert app.secret_key == path.read_text().strip().encode()


# --- roles ----------------------------------------------------------------------------------------

def test_a_viewer_sees_figures_but_cannot_send_or_converse(client, people):
    sign_in(client, "vera@example.org")
    for path in ("/console/", "/console/alerts", "/console/subscribers", "/console/content"):
        assert client.get(path).status_code == 200
    for path in ("/console/alerts/new", "/console/conversations", "/console/audit", "/console/organizers"):
        assert client.get(path).status_code == 403
    assert post(client, "/console/alerts/new", {"action": "create", "text_es": "Alerta"}).status_code == 403
    assert "New alert" not in client.get("/console/alerts").get_data(as_text=True)


def test_an_organizer_cannot_import_forget_or_manage(client, people):
    sign_in(client, "luis@example.org")
    assert client.get("/console/alerts/new").status_code == 200
    assert post(client, "/console/subscribers/forget", {"number": PERSON, "confirm": "1"}).status_code == 403
    assert client.get("/console/organizers").status_code == 403


def test_an_admin_manages_organizers_from_the_console(client, people):
    sign_in(client, "ana@example.org")
    post(client, "/console/organizers", {"action": "add", "email": "rosa@example.org", "name": "Rosa",
                                         "role": "viewer", "password": "a fine long password"}, page="/console/organizers")
    assert accounts.get(people, "rosa@example.org").role == "viewer"
    post(client, "/console/organizers", {"action": "role", "email": "rosa@example.org", "role": "organizer"},
         page="/console/organizers")
    post(client, "/console/organizers", {"action": "disable", "email": "rosa@example.org"}, page="/console/organizers")
    rosa = accounts.get(people, "rosa@example.org")
    assert rosa.role == "organizer" and rosa.disabled
    assert [e["what"] for e in people.audit.trail(3, who="Ana")] == ["organizers.disable", "organizers.role",
                                                                     "organizers.add"]


# --- the CLI --------------------------------------------------------------------------------------

def test_organizers_cli_reads_the_password_from_stdin(env, redis):
    env()
    run = lambda *args, stdin="": subprocess.run([sys.executable, "-m", "bot.cli", "organizers", *args],  # noqa: E731
                                                 input=stdin, capture_output=True, text=True, cwd=ROOT)
    added = run("add", "Maria@Example.org", "--role", "admin", "--name", "Maria", stdin="una frase bien larga\n")
    assert added.returncode == 0, added.stderr
    assert "maria@example.org" in run("list").stdout
    assert run("add", "x@example.org", "--role", "viewer", stdin="short\n").returncode != 0
    assert run("reset-password", "maria@example.org", stdin="otra frase bien larga\n").returncode == 0
    assert run("disable", "maria@example.org").returncode == 0
    assert "disabled" in run("list").stdout
    token = run("token", "nadie@example.org")
    assert token.returncode != 0 and "no organizer" in token.stderr


def test_the_password_is_asked_twice_at_a_terminal(env, redis):
    import os
    import pty
    import select
    env()
    pid, fd = pty.fork()
    if pid == 0:     # the child: the CLI with a terminal as standard input
        os.execv(sys.executable, [sys.executable, "-m", "bot.cli", "organizers", "add", "t@example.org",
                                  "--role", "viewer"])
    output, answers, deadline = b"", [b"terminal password 1\n"] * 2, time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if answers and output.rstrip().endswith(b":"):
            os.write(fd, answers.pop())
            output += b"\n--answered--\n"
    os.waitpid(pid, 0)
    text = output.replace(b"\r", b"")
    assert b"Password:" in text and b"Repeat for confirmation:" in text and b"added t@example.org" in text
    assert b"terminal password 1" not in text     # never echoed


# --- API tokens -----------------------------------------------------------------------------------

def test_organizer_tokens_work_beside_admin_token_and_keep_their_role(client, people, redis):
    luis = accounts.new_token(people, "luis@example.org", "script", "test")
    vera = accounts.new_token(people, "vera@example.org", "figures", "test")
    as_luis, as_vera = {"Authorization": f"Bearer {luis}"}, {"Authorization": f"Bearer {vera}"}
    created = client.post("/api/broadcasts", json={"texts": {"es": "Alerta de prueba"}}, headers=as_luis)
    assert created.status_code == 201 and created.get_json()["created_by"] == "Luis"
    assert client.get("/api/broadcasts", headers=as_vera).status_code == 200
    assert client.post("/api/broadcasts", json={"texts": {"es": "x"}}, headers=as_vera).status_code == 403
    assert client.post("/api/subscribers/import", data=b"phone\n", headers=as_luis).status_code == 403
    assert client.get("/api/broadcasts", headers={"Authorization": "Bearer drc_not-a-token"}).status_code == 401
    dump = b"".join(k + (redis.dump(k) or b"") for k in redis.scan_iter())
    assert luis.encode() not in dump and vera.encode() not in dump        # hashed at rest
    accounts.set_disabled(people, "luis@example.org", True, "test")
    assert client.get("/api/broadcasts", headers=as_luis).status_code == 401


def test_a_token_made_in_the_console_is_shown_once(client, people):
    sign_in(client, "luis@example.org")
    response = post(client, "/console/account", {"action": "token", "label": "laptop"}, page="/console/account")
    token = re.search(r'id="new-token">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert accounts.token_account(people, token).name == "Luis"
    assert token not in client.get("/console/account").get_data(as_text=True)


# --- conversations --------------------------------------------------------------------------------

def handoff_for(runtime, phone, sender=PERSON) -> str:
    phone.text("quiero hablar con alguien", sender=sender)
    items = runtime.store.handoffs.list(status="open")
    assert items
    return items[0]["id"]


def test_a_taken_conversation_gets_the_persons_messages_and_the_reply(live, fake_twilio, redis):
    runtime, client, phone = live
    handoff = handoff_for(runtime, phone)
    run_worker(redis)
    fake_twilio.clear()
    post(client, f"/console/conversations/{handoff}/take", page=f"/console/conversations/{handoff}")
    response, _ = phone.text("necesito ayuda con mi caso de asilo", sender=PERSON)
    assert response.status_code == 200
    run_worker(redis)
    assert fake_twilio.requests == []                  # the bot kept quiet: an organizer answers now
    page = client.get(f"/console/conversations/{handoff}").get_data(as_text=True)
    assert "necesito ayuda con mi caso de asilo" in page and "5550142" not in page
    post(client, f"/console/conversations/{handoff}/reply", {"text": "Hola, soy Luis. ¿En qué ciudad estás?"},
         page=f"/console/conversations/{handoff}")
    run_worker(redis)
    sent = fake_twilio.wait_for(1)
    assert sent[0].get("To") == PERSON and sent[0].get("Body").startswith("Hola, soy Luis")
    phone.post("/twilio/status", {"MessageSid": sent[0].sid, "MessageStatus": "delivered", "To": PERSON})
    assert "delivered" in client.get(f"/console/conversations/{handoff}").get_data(as_text=True)
    assert ("Luis", "handoff.reply") in [(e["who"], e["what"]) for e in runtime.store.audit.trail(5)]
    dump = b"".join(k + (redis.dump(k) or b"") for k in redis.scan_iter())
    assert b"necesito ayuda" not in dump and "Soy Luis".encode() not in dump    # thread texts are encrypted
    post(client, f"/console/conversations/{handoff}/close", page=f"/console/conversations/{handoff}")
    ttl = redis.ttl(runtime.store.key("thread", handoff))
    assert 29 * 86400 < ttl <= 30 * 86400               # deleted CONVERSATION_RETENTION_DAYS after closing
    fake_twilio.clear()
    phone.text("asilo", sender=PERSON)
    run_worker(redis)
    assert fake_twilio.wait_for(1)[0].get("To") == PERSON    # the bot answers again


def test_stop_and_help_act_first_in_a_conversation_and_the_thread_says_so(live, fake_twilio, redis):
    runtime, client, phone = live
    handoff = handoff_for(runtime, phone)
    post(client, f"/console/conversations/{handoff}/take", page=f"/console/conversations/{handoff}")
    run_worker(redis)
    fake_twilio.clear()
    phone.text("AYUDA", sender=PERSON)
    phone.text("STOP", sender=PERSON)
    run_worker(redis)
    assert len(fake_twilio.requests) == 2          # the help text and the STOP confirmation, from the bot
    page = client.get(f"/console/conversations/{handoff}").get_data(as_text=True)
    assert "HELP" in page or "AYUDA" in page
    assert "STOP" in page
    response = post(client, f"/console/conversations/{handoff}/reply", {"text": "¿Sigues ahí?"},
                    page=f"/console/conversations/{handoff}")
    assert response.status_code == 302
    with pytest.raises(conversations.ConversationError):
        conversations.reply(runtime, handoff, "¿Sigues ahí?", "Luis")
    run_worker(redis)
    assert len(fake_twilio.requests) == 2          # nothing after STOP


def test_borrar_deletes_the_thread(live, redis):
    runtime, client, phone = live
    handoff = handoff_for(runtime, phone)
    post(client, f"/console/conversations/{handoff}/take", page=f"/console/conversations/{handoff}")
    phone.text("mi nombre es Rosa y vivo en Joliet", sender=PERSON)
    assert runtime.store.threads.entries(handoff, runtime.store.ref(PERSON))
    phone.text("BORRAR MIS DATOS", sender=PERSON)
    assert not redis.exists(runtime.store.key("thread", handoff))
    assert not redis.exists(runtime.store.key("conv", runtime.store.ref(PERSON)))
    assert client.get(f"/console/conversations/{handoff}").status_code == 404


@pytest.mark.parametrize("expect", ["template", "sms"])
def test_whatsapp_outside_the_window_gets_the_template_or_an_sms(env, redis, fake_twilio, people, expect):
    template = "HX" + "c" * 32
    extra = {"CONVERSATION_TEMPLATE_SID": template} if expect == "template" else {}
    config = env(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_SMS_FROM="+15550000",
                 TWILIO_WHATSAPP_FROM="whatsapp:+15550001", TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL,
                 **extra)
    runtime = Runtime(config, connection=redis)
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    phone = Phone(app.test_client(), AUTH_TOKEN, base_url=PUBLIC_URL)
    handoff = handoff_for(runtime, phone, sender="whatsapp:" + PERSON)
    from bot import organizer
    organizer.take_handoff(runtime.store, handoff, "Luis")
    run_worker(redis)             # the bot's own answer to the request goes first
    redis.delete(runtime.store.key("window", runtime.store.ref(PERSON)))   # 24 hours have passed
    fake_twilio.clear()
    conversations.reply(runtime, handoff, "Te llamo mañana", "Luis")
    run_worker(redis)
    sent = fake_twilio.wait_for(1)[0]
    if expect == "template":
        assert sent.get("To") == "whatsapp:" + PERSON and sent.get("ContentSid") == template
    else:
        assert sent.get("To") == PERSON and sent.get("Body") == "Te llamo mañana"


def test_handoff_reply_from_the_cli_and_the_api(live, fake_twilio, redis):
    runtime, client, phone = live
    handoff = handoff_for(runtime, phone)
    token = accounts.new_token(runtime.store, "luis@example.org", "script", "test")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/handoffs/{handoff}/reply", json={"text": "hola"}, headers=headers).status_code == 409
    assert client.post(f"/api/handoffs/{handoff}/take", headers=headers).status_code == 200
    assert client.post(f"/api/handoffs/{handoff}/reply", json={"txt": "hola"}, headers=headers).status_code == 400
    response = client.post(f"/api/handoffs/{handoff}/reply", json={"text": "Hola desde la API"}, headers=headers)
    assert response.status_code == 202
    from click.testing import CliRunner

    from bot.cli import main
    result = CliRunner().invoke(main, ["handoff", "reply", handoff, "Hola desde la terminal", "--as", "Luis"])
    assert result.exit_code == 0, result.output
    run_worker(redis)
    bodies = [r.get("Body") for r in fake_twilio.requests if r.get("To") == PERSON]
    assert "Hola desde la API" in bodies and "Hola desde la terminal" in bodies
    assert [e["what"] for e in runtime.store.audit.trail(10, what="handoff.show_number")]   # take showed the number


def test_a_second_organizer_is_warned_and_showing_the_number_is_audited(live, people):
    runtime, client, phone = live
    handoff = handoff_for(runtime, phone)
    runtime.store.handoffs.take(handoff, "Ana")
    response = post(client, f"/console/conversations/{handoff}/take", page=f"/console/conversations/{handoff}")
    assert "force=1" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Ana" in page and "Take it over" in page
    assert runtime.store.handoffs.get(handoff)["taken_by"] == "Ana"
    shown = post(client, f"/console/conversations/{handoff}/number", page=f"/console/conversations/{handoff}")
    assert "+13125550142" in shown.get_data(as_text=True)
    entry = runtime.store.audit.trail(1)[0]
    assert entry["what"] == "handoff.show_number" and entry["who"] == "Luis" and "5550142" not in str(entry)


# --- questions the bot could not answer ----------------------------------------------------------

def test_questions_not_answered_are_kept_scrubbed_grouped_and_without_a_person(phone, runtime, redis, client, people):
    phone.text("¿Dónde queda la oficina de Joliet? mi número es 312 555 0142", sender=PERSON)
    phone.text("donde queda la oficina de joliet? mi numero es 773-555-0199", sender="+17735550199")
    phone.text("quien arregla bicicletas ana@example.org https://x.org", sender="+17735550100")
    groups = runtime.store.misses.top(14)
    assert groups[0].count == 2 and "#" in groups[0].example
    assert "[email]" in groups[1].example and "[link]" in groups[1].example
    keys = [k for k in redis.scan_iter("*misses*")]
    dump = b"".join(k + (redis.dump(k) or b"") for k in keys)
    ref = runtime.store.ref(PERSON).encode()
    assert b"555" not in dump and b"ana@example" not in dump and ref not in dump
    assert all(0 < redis.ttl(k) <= 14 * 86400 for k in keys)
    sign_in(client, "vera@example.org")
    page = client.get("/console/content").get_data(as_text=True)
    assert "oficina de Joliet" in page or "oficina de joliet" in page
    from click.testing import CliRunner

    from bot.cli import main
    result = CliRunner().invoke(main, ["content", "misses"])
    assert result.exit_code == 0 and "     2  " in result.output


def test_misses_off_records_nothing(env, redis):
    config = env(MISSES_DAYS="off")
    runtime = Runtime(config, connection=redis)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), config.webhook_token)
    phone.text("una pregunta que nadie entiende")
    assert not list(redis.scan_iter("*misses*"))


# --- subscribers ----------------------------------------------------------------------------------

def test_an_admin_imports_a_csv_with_a_report_by_line_and_no_number(client, people, redis):
    sign_in(client, "ana@example.org")
    csv = "phone,lang,tags\n+13125550101,es,chicago\nnot a number,es,chicago\n+13125550102,xx,chicago\n"
    token = csrf_of(client.get("/console/subscribers").get_data(as_text=True))
    response = client.post("/console/subscribers/import", data={"csrf_token": token, "lang": "es", "region": "US",
                                                                "file": (io.BytesIO(csv.encode()), "lista.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    status_url = response.headers["Location"]
    assert "<progress" in client.get(status_url).get_data(as_text=True)
    run_worker(redis)
    page = client.get(status_url).get_data(as_text=True)
    assert re.search(r"<dt>New subscribers</dt><dd>1</dd>", page)
    assert re.search(r'<tr><th scope="row">3</th><td>number</td>', page)
    assert re.search(r'<tr><th scope="row">4</th><td>lang</td>', page)
    assert "5550101" not in page and "5550102" not in page and "not a number" not in page
    assert not list(redis.scan_iter("*import*csv*"))       # the uploaded file is gone once read
    assert people.subscribers.count(tags=["chicago"]) == 1


def test_an_admin_forgets_a_person(client, people, phone, runtime):
    phone.text("ALERTAS CHICAGO", sender=PERSON)
    assert runtime.store.subscribers.count() == 1
    sign_in(client, "ana@example.org")
    response = post(client, "/console/subscribers/forget", {"number": PERSON, "confirm": "1"}, page="/console/subscribers")
    assert response.status_code == 302
    page = client.get("/console/subscribers").get_data(as_text=True)
    assert "5550142" not in page and runtime.store.subscribers.count() == 0


# --- alerts ---------------------------------------------------------------------------------------

def test_the_wizard_without_javascript_counts_previews_costs_and_confirms(client, people, redis):
    from tests.conftest import add_rows
    from bot.importer import ImportRow
    add_rows(people, [ImportRow(f"+1312555{i:04d}", "sms", "es" if i % 2 else "en", ("chicago",), (i + 2,))
                      for i in range(10)])
    sign_in(client, "luis@example.org")
    form = {"langs": ["es", "en"], "tags": ["chicago"], "text_es": "Clínica legal gratis el sábado",
            "text_en": "Free legal clinic on Saturday", "timezone": "America/Chicago"}
    checked = post(client, "/console/alerts/new", {**form, "action": "check"}, page="/console/alerts/new")
    html = checked.get_data(as_text=True)
    assert "<strong>10</strong>" in html                                # the audience count
    assert "[sms · es · GSM-7 · 1 segment(s)" in html                   # the phone preview, as the CLI shows it
    created = post(client, "/console/alerts/new", {**form, "action": "create"}, page="/console/alerts/new")
    alert_url = created.headers["Location"]
    review = client.get(alert_url).get_data(as_text=True)
    assert "10 segments × 0.0083 USD = 0.08 USD" in review
    broadcast_id = alert_url.rsplit("/", 1)[1]
    confirm = post(client, f"/console/alerts/{broadcast_id}/confirm", {"mode": "now"}, page=alert_url)
    assert "Send now to 10 people?" in confirm.get_data(as_text=True)
    assert "0.08 USD" in confirm.get_data(as_text=True)
    sent = post(client, f"/console/alerts/{broadcast_id}/send", {"mode": "now"}, page=alert_url)
    assert sent.status_code == 302
    assert '<meta http-equiv="refresh"' in client.get(alert_url).get_data(as_text=True)   # progress without JS
    run_worker(redis)
    page = client.get(alert_url).get_data(as_text=True)
    assert 'value="100"' in page and "<svg" in page


def test_a_schedule_in_the_past_is_refused_at_the_confirmation(client, people):
    sign_in(client, "luis@example.org")
    created = post(client, "/console/alerts/new", {"text_es": "Hola", "action": "create"}, page="/console/alerts/new")
    broadcast_id = created.headers["Location"].rsplit("/", 1)[1]
    response = post(client, f"/console/alerts/{broadcast_id}/confirm", {"mode": "schedule", "at": "2020-01-01T09:00",
                                                                        "timezone": "America/Chicago"})
    assert response.status_code == 400


# --- languages ------------------------------------------------------------------------------------

def test_the_ui_follows_the_browser_then_the_organizers_choice(client, people):
    assert "Iniciar sesión" in client.get("/console/login", headers={"Accept-Language": "es-MX"}).get_data(as_text=True)
    assert "Sign in" in client.get("/console/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    sign_in(client, "ana@example.org")
    post(client, "/console/language", {"lang": "en", "next": "/console/"})
    assert people.organizers.get("ana@example.org")["lang"] == "en"
    page = client.get("/console/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Dashboard" in page


def test_every_console_message_has_a_spanish_text():
    template = read_po((CONSOLE_DIR / "translations" / "messages.pot").open("rb"))
    spanish = {m.id: m.string for m in read_po((CONSOLE_DIR / "translations" / "es" / "LC_MESSAGES" /
                                                "messages.po").open("rb"), locale="es") if m.id}
    missing = [m.id for m in template if m.id and not spanish.get(m.id)]
    assert not missing
    assert set(conversations.CARRIER_NOTES.values()) <= set(spanish)


def test_catalogs_are_compiled_at_start_into_the_instance_folder(app, runtime):
    mo = runtime.config.instance_dir / "console-translations" / "es" / "LC_MESSAGES" / "messages.mo"
    assert mo.exists()


# --- content --------------------------------------------------------------------------------------

def test_the_content_page_shows_coverage_and_the_last_refused_edit_with_file_and_line(client, people, runtime):
    from bot.catalog import Problem
    from bot.errors import ContentError
    live = runtime.content
    live.get()
    live.last_error = ContentError([Problem("es/asylum.md", 7, "unknown placeholder {fecha}")])
    live.last_error_at = time.time()
    sign_in(client, "vera@example.org")
    page = client.get("/console/content").get_data(as_text=True)
    assert "es/asylum.md:7: error: unknown placeholder {fecha}" in page
    assert "Coverage per language" in page and "22 / 22" in page


def test_numbers_a_person_writes_in_a_thread_are_hidden(live):
    runtime, client, phone = live
    handoff = handoff_for(runtime, phone)
    post(client, f"/console/conversations/{handoff}/take", page=f"/console/conversations/{handoff}")
    phone.text("llámame al 312 555 0199 por favor", sender=PERSON)
    page = client.get(f"/console/conversations/{handoff}").get_data(as_text=True)
    assert "por favor" in page and "555 0199" not in page and "[number]" in page
