"""Shared fixtures: a real Redis (REDIS_URL, or an embedded server the suite starts), a Flask app
wired to it, a Twilio-signing client, and the fake Twilio server."""
from __future__ import annotations

import base64
import os
import sys
import threading
import urllib.parse
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
from twilio.request_validator import RequestValidator

from bot.config import Config
from bot.embedded import EmbeddedRedis
from bot.runtime import LiveContent, Runtime

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
TEST_KEY = base64.b64encode(b"k" * 32).decode()
TEST_SECRET = "s" * 48
AUTH_TOKEN = "test-auth-token-0123456789"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC_URL = "https://bot.example.org"


@pytest.fixture(scope="session", autouse=True)
def content_loaded_once_per_tree():
    """Hundreds of tests build a Runtime on the same content tree, and each first load (catalog,
    matcher, model) took about 0.75 s: 40% of the suite. The first load of a tree that has not
    changed, with the same settings, now gives the objects of the last such load. Nothing in the
    code changes what it loaded; a tree that was edited, a copy in a tmp folder and every reload
    after an edit still load for real."""
    loaded: dict[tuple, object] = {}
    first_load = LiveContent._first_load

    def cached(self):
        key = (str(self.root.resolve()), repr(sorted(self.settings.items())), self._fingerprint, self.train)
        if key not in loaded:
            loaded[key] = first_load(self)
        return loaded[key]

    LiveContent._first_load = cached
    yield
    LiveContent._first_load = first_load


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when set (a database the suite may wipe), otherwise an embedded server."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.ensure()
    server.stop()


@pytest.fixture
def redis(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def env(monkeypatch, redis_url, tmp_path):
    """A clean environment for Config.from_env(): the jobs read it too."""
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "DERECHOS_")) or name in (
                "PUBLIC_URL", "DATA_KEY", "ADMIN_TOKEN", "CONTENT_DIR", "INSTANCE_DIR", "REDIS_PREFIX"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATA_KEY", TEST_KEY)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("SEND_RATE", "1000")   # tests of the rate limit set their own
    values = {}

    def set_(**kw):
        if "TWILIO_ACCOUNT_SID" in kw and "DERECHOS_HELP_LINE" not in os.environ:
            kw = {"DERECHOS_HELP_LINE": "1-800-555-0100", **kw}    # production needs the program's line
        for k, v in kw.items():
            monkeypatch.setenv(k, v)
            values[k] = v
        return Config.from_env()

    return set_


@pytest.fixture
def config(env):
    return env()


@pytest.fixture
def runtime(config, redis):
    return Runtime(config, connection=redis)


@pytest.fixture
def app(runtime):
    from bot.web import create_app
    return create_app({"TESTING": True, "RUNTIME": runtime})


@pytest.fixture
def client(app):
    return app.test_client()


class Phone:
    """Posts webhook requests signed exactly as Twilio signs them."""

    def __init__(self, client, auth_token: str, base_url: str = "http://localhost"):
        self.client = client
        self.validator = RequestValidator(auth_token)
        self.base_url = base_url

    def post(self, path: str, form: dict, signature: str | None = "auto", headers: dict | None = None,
             url: str | None = None):
        signed_url = url or (self.base_url + path)
        headers = dict(headers or {})
        if signature == "auto":
            signature = self.validator.compute_signature(signed_url, form)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        response = self.client.post(path, data=urllib.parse.urlencode(form, doseq=True), headers=headers,
                                    content_type="application/x-www-form-urlencoded",
                                    base_url=_base(signed_url))
        response.get_data()
        response.close()      # as a WSGI server does once the answer is sent (runs call_on_close work)
        return response

    def text(self, body: str, sender: str = "+15550101", **extra):
        sid = "SM" + uuid.uuid4().hex
        form = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
                "To": "whatsapp:+15550000" if sender.startswith("whatsapp:") else "+15550000",
                "Body": body, "NumMedia": "0"}
        form.update(extra)
        return self.post("/twilio/messages", form), sid


def run_on_threads(target, args_per_thread: list[tuple]) -> None:
    """Run target(*args) on one thread each, all at once, with the interpreter switching threads as
    often as it can: what threads share must hold at the worst interleaving, not only the likely one."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=target, args=args) for args in args_per_thread]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)


def _base(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
def phone(client):
    """Dry-run configuration: the dev token signs, the request URL is what Twilio signed."""
    return Phone(client, client.application.extensions["derechos"].config.webhook_token)


@pytest.fixture
def fake_twilio():
    from tests.fake_twilio import FakeTwilio
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def live_env(env, fake_twilio):
    """Twilio credentials pointed at the fake server; returns the Config."""
    return env(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_SMS_FROM="+15550000",
               TWILIO_WHATSAPP_FROM="whatsapp:+15550001", TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL)


def add_rows(store, rows, source: str = "import"):
    """Store import rows as the importer does (opted-out people stay out); returns the report."""
    from bot import organizer
    from bot.importer import ImportResult
    result = ImportResult(rows=list(rows), rejected=[], duplicates_merged=0, total_lines=len(rows) + 1)
    return organizer.import_subscribers(store, result, "test", source=source)


def run_worker(connection, burst: bool = True):
    """Run a real RQ worker in this process until the queues are empty."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from bot.jobs import BROADCASTS, REPLIES, make_queue
    queues = [make_queue(REPLIES, connection), make_queue(BROADCASTS, connection)]
    worker = SimpleWorker(queues, connection=connection, serializer=JSONSerializer)
    worker.work(burst=burst, with_scheduler=False)
    return worker


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can tell a failure (browser screenshots)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
