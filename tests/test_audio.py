"""Audio in Indigenous-language content: served at a public URL, sent as media on WhatsApp,
announced as a link on SMS."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Phone, run_worker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def content_with_audio(tmp_path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(ROOT / "content", root)
    mam = root / "indigenous" / "mam"
    (mam / "audio" / "asylum.mp3").write_bytes(b"ID3 test audio")
    # Audio only: no reviewed Mam text, so the text falls back to Spanish and the recording goes along.
    (mam / "asylum.md").write_text("---\nstatus: reviewed\naudio: audio/asylum.mp3\n---\n", encoding="utf-8")
    return root


@pytest.fixture
def live(live_env, env, redis, content_with_audio):
    config = env(CONTENT_DIR=str(content_with_audio))
    app = create_app({"TESTING": True, "RUNTIME": Runtime(config, connection=redis)})
    return app, Phone(app.test_client(), AUTH_TOKEN, base_url=PUBLIC_URL)


def test_whatsapp_gets_the_audio_as_media(live, fake_twilio, redis):
    app, phone = live
    phone.text("qyool mam", sender="whatsapp:+50255550101")
    phone.text("asilo", sender="whatsapp:+50255550101")
    run_worker(redis)
    requests = fake_twilio.wait_for(3)
    topic = requests[-1]
    assert topic.form.get("MediaUrl") == [PUBLIC_URL + "/media/mam/asylum.mp3"]
    assert "Mam" in topic.get("Body")                  # the fallback notice names the language
    served = app.test_client().get("/media/mam/asylum.mp3")
    assert served.status_code == 200 and served.data == b"ID3 test audio"
    assert app.test_client().get("/media/mam/../../settings.yml").status_code == 404


def test_sms_announces_the_audio_as_a_link(live, fake_twilio, redis):
    _, phone = live
    phone.text("mam", sender="+50255550102")
    phone.text("asilo", sender="+50255550102")
    run_worker(redis)
    topic = fake_twilio.wait_for(3)[-1]
    assert topic.get("MediaUrl") is None
    assert "Audio: " + PUBLIC_URL + "/media/mam/asylum.mp3" in topic.get("Body")
