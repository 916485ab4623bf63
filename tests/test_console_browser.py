"""The organizer console in a real browser: Playwright drives Debian's Chromium (headless) against the
real app served over HTTP in a thread, a real Redis, a real RQ worker process and the fake Twilio.

Without Chromium these tests skip with one line; in CI (CI=true) a missing browser is a failure.
On a failure, screenshots at 390 px and 1280 px wide are saved under tests/artifacts/; with
CONSOLE_SCREENSHOTS=1 every page visited is saved there too. axe-core's results per page go to
tests/artifacts/axe.json.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from bot import accounts
from bot.config import Config
from bot.importer import ImportRow
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, TEST_KEY, TEST_SECRET, add_rows

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORD = "correct horse battery"
PERSON = "+13125550142"
OTHER = "+17735550143"
SUBSCRIBERS = [f"+1312555{i:04d}" for i in range(1000, 1030)]
WIDTHS = (390, 1280)
AXE_RESULTS: dict[str, dict] = {}


def _need_browser():
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
        import axe_playwright_python  # noqa: F401
    except ImportError as exc:
        reason = f"browser tests need playwright and axe-playwright-python ({exc.name} missing)"
    else:
        if not os.path.exists(CHROMIUM):
            reason = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


class Live:
    """The app over HTTP, its Redis, a worker process, the fake Twilio, and a phone that signs."""

    def __init__(self, url, runtime, fake, redis):
        self.url, self.runtime, self.fake, self.redis = url, runtime, fake, redis
        self.validator = RequestValidator(AUTH_TOKEN)

    def post_twilio(self, path: str, form: dict) -> requests.Response:
        signature = self.validator.compute_signature(self.url + path, form)
        return requests.post(self.url + path, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)

    def text(self, body: str, sender: str = PERSON) -> requests.Response:
        form = {"MessageSid": "SM" + os.urandom(16).hex(), "AccountSid": ACCOUNT_SID, "From": sender,
                "To": "+15550000", "Body": body, "NumMedia": "0"}
        response = self.post_twilio("/twilio/messages", form)
        assert response.status_code == 200
        return response

    def sent_to(self, to: str) -> list:
        return [r for r in self.fake.requests if r.get("To") == to]

    def wait_sent_to(self, to: str, n: int = 1, timeout: float = 20.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent_to(to)
            if len(found) >= n:
                return found
            time.sleep(0.1)
        raise AssertionError(f"expected {n} message(s) to {to}, got {len(self.sent_to(to))}")


@pytest.fixture(scope="module")
def live(redis_url, tmp_path_factory, browser):
    from tests.fake_twilio import FakeTwilio
    connection = redis_lib.Redis.from_url(redis_url)
    connection.flushdb()
    instance = tmp_path_factory.mktemp("console-instance")
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as fake:
        env = {"REDIS_URL": redis_url, "DATA_KEY": TEST_KEY, "SECRET_KEY": TEST_SECRET, "INSTANCE_DIR": str(instance),
               "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_SMS_FROM": "+15550000",
               "TWILIO_WHATSAPP_FROM": "whatsapp:+15550001", "TWILIO_API_URL": fake.url, "PUBLIC_URL": url,
               "SEND_RATE": "1000", "PRICE_PER_SEGMENT": "0.01", "PROXY_HOPS": "0"}
        runtime = Runtime(Config.from_env(env), connection=connection)
        holder["app"] = create_app({"RUNTIME": runtime})
        thread = threading.Thread(target=server.serve_forever, name="console-server", daemon=True)
        thread.start()
        worker_env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DERECHOS_"))}
        worker_env.update(env, LOG_LEVEL="WARNING", NO_PROXY="127.0.0.1,localhost")
        worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--name", "console-e2e"], cwd=ROOT,
                                  env=worker_env, start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        store = runtime.store
        for email, role, name in (("ana@example.org", "admin", "Ana"), ("luis@example.org", "organizer", "Luis"),
                                  ("vera@example.org", "viewer", "Vera")):
            accounts.add(store, email, role, PASSWORD, name, "test")
        add_rows(store, [ImportRow(n, "sms", "es" if i % 3 else "en", ("chicago",), (i + 2,))
                         for i, n in enumerate(SUBSCRIBERS)])
        try:
            yield Live(url, runtime, fake, connection)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
            server.shutdown()
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / "axe.json").write_text(json.dumps(AXE_RESULTS, indent=2, ensure_ascii=False))


def snapshot(page, name: str) -> None:
    """Full-page screenshots at each width under tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    before = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(before)


@pytest.fixture
def context(browser, request):
    """One browser context (its own cookies) per test; screenshots of every open page on failure."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    ctx.set_default_timeout(15_000)
    yield ctx
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for i, page in enumerate(ctx.pages):
            try:
                snapshot(page, f"FAILED-{request.node.name}-{i}")
            except Exception:  # noqa: BLE001 - the failure itself matters more
                pass
    ctx.close()


def sign_in(context, live, email: str, password: str = PASSWORD):
    page = context.new_page()
    page.goto(live.url + "/console/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit].primary")
    return page


def wait_until(page, script: str, timeout: float = 15.0) -> None:
    """Poll a JS function in the page (Playwright's wait_for_function evaluates strings, which the
    console's CSP rightly forbids)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if page.evaluate(script):
                return
        except Exception:  # noqa: BLE001 - the page is navigating
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {script} on {page.url}")


def numbers_in(html: str) -> list[str]:
    digits = [n.lstrip("+") for n in [PERSON, OTHER, *SUBSCRIBERS]]
    return [d for d in digits if d in html or d[-7:] in html.replace("-", "").replace(" ", "")]


# --- sign-in --------------------------------------------------------------------------------------

def test_a_wrong_password_and_a_form_without_csrf_are_refused(context, live):
    page = sign_in(context, live, "luis@example.org", "not the password")
    assert page.locator("#login-error").is_visible()
    assert "/console/login" in page.url
    status = page.evaluate("""async () => {
        const body = new URLSearchParams({email: 'luis@example.org', password: 'correct horse battery'});
        const r = await fetch('/console/login', {method: 'POST', body});
        return r.status; }""")
    assert status == 400                        # no CSRF token: refused even with the right password
    page.goto(live.url + "/console/")
    assert "/console/login" in page.url


def test_sign_in_by_keyboard(context, live):
    page = context.new_page()
    page.goto(live.url + "/console/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "email":
            break
    page.keyboard.type("luis@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(live.url + "/console/")
    assert page.locator("h1").inner_text() == "Dashboard"


# --- an alert, from the wizard to the delivery figures ---------------------------------------------

def test_compose_a_two_language_alert_send_it_and_see_the_delivery(context, live):
    page = sign_in(context, live, "luis@example.org")
    page.click("text=Alerts")
    page.click("text=New alert")
    page.check("input[name=langs][value=es]")
    page.check("input[name=langs][value=en]")
    page.check("input[name=tags][value=chicago]")
    wait_until(page, "() => document.getElementById('audience-count').innerText.startsWith('30')")
    page.fill("#text_es", "Clínica legal gratis el sábado en el centro comunitario.")
    page.fill("#text_en", "Free legal clinic on Saturday at the community center.")
    wait_until(page, "() => document.querySelector('#preview-es .phone-head') !== null")
    assert "[sms · es · GSM-7 · 1 segment(s)" in page.locator("#preview-es").inner_text()   # á í folded by policy
    page.fill("#text_es", "Clínica legal gratis 🙏 el sábado en el centro comunitario.")
    wait_until(page, "() => document.querySelector('#preview-es').innerText.includes('UCS-2')")
    page.fill("#text_es", "Clínica legal gratis el sábado en el centro comunitario.")
    page.click("button[value=create]")
    page.wait_for_selector("#total-people")
    assert page.locator("#total-people").inner_text() == "30"
    assert "30 segments × 0.01 USD = 0.30 USD" in page.locator("#cost").inner_text()
    page.get_by_role("button", name="Review and confirm").click()
    assert "Send now to 30 people?" in page.locator("#confirm-text").inner_text()
    assert "0.30 USD" in page.locator("#confirm-cost").inner_text()
    page.get_by_role("button", name="Yes, send it").click()
    wait_until(page, "() => { const bar = document.getElementById('progress-bar'); return bar && bar.value == 100; }",
               timeout=30)
    broadcast_id = page.url.rsplit("/", 1)[1]
    # Twilio calls back: 28 delivered, 2 failed with error 30003 (unreachable handset).
    requests_ = [r for r in live.fake.requests if r.get("To") in SUBSCRIBERS]
    assert len(requests_) == 30 and len({r.get("To") for r in requests_}) == 30
    bodies = {r.get("Body") for r in requests_}
    assert any(b.startswith("Clinica legal") for b in bodies) and any(b.startswith("Free legal") for b in bodies)
    for i, r in enumerate(requests_):
        form = {"MessageSid": r.sid, "MessageStatus": "failed" if i < 2 else "delivered", "To": r.get("To")}
        if i < 2:
            form["ErrorCode"] = "30003"
        assert live.post_twilio("/twilio/status", form).status_code == 204
    page.goto(f"{live.url}/console/alerts/{broadcast_id}")
    delivery = page.locator("#delivery").inner_text()
    assert re.search(r"delivered\s+28", delivery) and re.search(r"failed\s+2", delivery)
    assert re.search(r"30003\s+2", page.locator("#errors").inner_text())
    assert page.locator("svg.chart").count() >= 2
    assert not numbers_in(page.content())


def test_a_viewer_cannot_send(context, live):
    page = sign_in(context, live, "vera@example.org")
    page.click("text=Alerts")
    assert page.locator("text=New alert").count() == 0
    response = page.goto(live.url + "/console/alerts/new")
    assert response.status == 403
    page.goto(live.url + "/console/alerts")
    status = page.evaluate("""async () => {
        const token = document.querySelector('input[name=csrf_token]').value;
        const body = new URLSearchParams({csrf_token: token, action: 'create', text_es: 'Hola'});
        const r = await fetch('/console/alerts/new', {method: 'POST', body});
        return r.status; }""")
    assert status == 403


# --- a conversation -------------------------------------------------------------------------------

def test_a_person_asks_for_someone_an_organizer_answers_and_closes(browser, context, live):
    live.text("quiero hablar con alguien")
    live.wait_sent_to(PERSON, 1)                     # the bot's own answer: someone will write
    page = sign_in(context, live, "luis@example.org")
    page.click("header >> text=Conversations")
    item = page.locator("ul.queue li").first
    assert "a person" in item.inner_text()
    assert not numbers_in(page.content())
    item.locator("a").click()
    page.get_by_role("button", name="Take it", exact=True).click()
    assert page.locator(".flash.ok").is_visible()
    # A second organizer who opens it is warned it is taken.
    other = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    try:
        ana = sign_in(other, live, "ana@example.org")
        ana.goto(page.url)
        assert "Luis has this conversation already" in ana.locator(".flash.warning").inner_text()
    finally:
        other.close()
    page.fill("#text", "Hola, soy Luis de la organización. ¿En qué ciudad estás?")
    page.get_by_role("button", name="Send reply").click()
    reply = live.wait_sent_to(PERSON, 2)[-1]
    assert reply.get("Body").startswith("Hola, soy Luis")
    live.text("Estoy en Aurora, gracias")
    time.sleep(0.3)
    assert len(live.sent_to(PERSON)) == 2              # no bot answer while the conversation is open
    page.reload()
    assert "Estoy en Aurora, gracias" in page.locator("ol.thread").inner_text()
    assert not numbers_in(page.content())
    page.get_by_role("button", name="Close: the bot answers again").click()
    live.text("asilo")
    answer = live.wait_sent_to(PERSON, 3)[-1]
    assert "asilo" in answer.get("Body").lower()       # the bot answers again


# --- every page: axe, keyboard, phone width, no number ---------------------------------------------

FOCUSABLE = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]';
  const folded = el => { const d = el.closest('details'); return d && !d.open && el.tagName !== 'SUMMARY'; };
  const visible = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !folded(el); };
  // A radio group is one stop for Tab (the arrow keys move inside it).
  const radios = new Set();
  const oneStop = el => { if (el.type !== 'radio') return true; if (radios.has(el.name)) return false;
    radios.add(el.name); return true; };
  window.__controls = Array.from(document.querySelectorAll(selector)).filter(el => !el.disabled && visible(el) && oneStop(el))
    .map(el => el.type === 'radio' ? (document.querySelector(`input[type=radio][name="${el.name}"]:checked`) || el) : el);
  return window.__controls.length; }"""
FOCUSED = """() => { const el = document.activeElement; const i = (window.__controls || []).indexOf(el);
  if (i < 0) return {index: -1, tag: el ? el.tagName : null};
  const s = getComputedStyle(el);
  return {index: i, outline: s.outlineStyle !== 'none' && s.outlineWidth !== '0px'}; }"""


def keyboard_reaches_everything(page) -> None:
    """Tab from the top: every visible control gets the focus, in turn, and shows it."""
    expected = page.evaluate(FOCUSABLE)
    page.evaluate("() => { if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0); }")
    reached, no_outline, last = set(), [], -1
    for _ in range(expected * 3 + 10):
        page.keyboard.press("Tab")
        info = page.evaluate(FOCUSED)
        if info["index"] < 0:
            if info.get("tag") in (None, "BODY"):
                break
            continue
        if info["index"] == last:
            continue          # the parts of one control (a date-time field's day, month, hour...)
        if info["index"] < last:
            break             # round again from the top
        last = info["index"]
        reached.add(info["index"])
        if not info["outline"]:
            no_outline.append(info["index"])
    assert len(reached) == expected, f"the keyboard reaches {len(reached)} of {expected} controls on {page.url}"
    assert not no_outline, f"controls {no_outline} show no focus on {page.url}"


def check_page(page, name: str) -> None:
    from axe_playwright_python.sync_playwright import Axe
    html = page.content()
    assert not numbers_in(html), f"a phone number on {name}"
    results = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        violations = Axe().run(page).response["violations"]
        results[width] = [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in violations]
        if width == 390:
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= 390, f"{name} is {overflow} px wide on a 390 px screen"
    AXE_RESULTS[name] = results
    bad = [v for width in WIDTHS for v in results[width] if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {name}: {bad}"
    page.set_viewport_size({"width": 1280, "height": 900})
    keyboard_reaches_everything(page)
    if os.environ.get("CONSOLE_SCREENSHOTS"):
        snapshot(page, name)


def test_axe_runs_offline_and_finds_what_is_wrong(context):
    """The check is real: axe (shipped inside the package, no network) flags a page built to fail."""
    from axe_playwright_python.sync_playwright import Axe
    page = context.new_page()
    page.set_content('<html><body><img src="x.png"><input type="text"><a href="#"></a></body></html>')
    found = {v["id"]: v["impact"] for v in Axe().run(page).response["violations"]}
    assert found.get("image-alt") == "critical" and "label" in found and "html-has-lang" in found


def test_every_page_passes_axe_works_by_keyboard_fits_a_phone_and_shows_no_number(context, live):
    store = live.runtime.store
    live.text("necesito un interprete", sender=OTHER)
    handoff = store.handoffs.list(status="open")[0]["id"]
    live.organizers_take = store.handoffs.take(handoff, "Luis")
    store.threads.start(handoff, store.ref(OTHER))
    live.text("vivo en Aurora, mi numero es 773 555 0143", sender=OTHER)     # shown in the thread, digits included
    live.text("quien arregla bicicletas cerca de 60505", sender=PERSON)     # a question the bot cannot answer
    broadcasts = store.broadcasts.ids(5)
    login = context.new_page()
    login.goto(live.url + "/console/login")
    check_page(login, "login")
    page = sign_in(context, live, "ana@example.org")
    pages = [("dashboard", "/console/"), ("alerts", "/console/alerts"), ("alert-new", "/console/alerts/new"),
             ("conversations", "/console/conversations"), ("conversation", f"/console/conversations/{handoff}"),
             ("subscribers", "/console/subscribers"), ("content", "/console/content"), ("audit", "/console/audit"),
             ("organizers", "/console/organizers"), ("account", "/console/account")]
    if broadcasts:
        pages.insert(2, ("alert", f"/console/alerts/{broadcasts[0]}"))
    for name, path in pages:
        page.goto(live.url + path)
        check_page(page, name)
    # A draft's review page, with the cost and the schedule form.
    page.goto(live.url + "/console/alerts/new")
    page.fill("#text_es", "Taller de derechos laborales el {date}.")
    page.fill("#when", "2026-12-12")
    page.click("button[value=create]")
    page.wait_for_selector("#cost")
    check_page(page, "alert-draft")
    page.get_by_role("button", name="Review and confirm").click()
    check_page(page, "alert-confirm")


def test_an_admin_imports_a_csv_and_watches_it(context, live, tmp_path):
    csv = tmp_path / "lista.csv"
    csv.write_text("phone,lang,tags\n+13125559001,es,aurora\n12,es,aurora\n+13125559002,zz,aurora\n")
    page = sign_in(context, live, "ana@example.org")
    page.goto(live.url + "/console/subscribers")
    page.set_input_files("#file", str(csv))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_selector("#import-report", timeout=30_000)
    report = page.locator("#import-report").inner_text()
    assert re.search(r"New subscribers\s+1", report) and re.search(r"Rows rejected\s+2", report)
    rejected = page.locator("#rejected").inner_text()
    assert re.search(r"^3\s+number", rejected, re.M) and re.search(r"^4\s+lang", rejected, re.M)
    html = page.content()
    assert "9001" not in html and "9002" not in html
    check_page(page, "import")
