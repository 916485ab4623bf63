"""The voice line's commands: `derechos call` (a terminal phone through the signed webhooks),
`derechos content preview --channel voice`, `derechos content check` and `derechos handoff recording`."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from bot.cli import main
from bot.cli.local import free_port
from bot.phonecall import TerminalCall
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import run_worker
from tests.test_dev import clean_env
from tests.voice_helpers import content_with_recordings, tiny_wav

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def served(env, redis, tmp_path):
    """The app on a real local port (the terminal phone posts over HTTP, signed)."""
    config = env(CONTENT_DIR=str(content_with_recordings(tmp_path / "content")))
    runtime = Runtime(config, connection=redis)
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield runtime, f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join()


def test_terminal_call_prints_what_is_said_and_played_and_takes_keys(served, redis):
    runtime, url = served
    typed = iter(["1", "21", "8", "", "0", "my name is Ana", ])
    out: list[str] = []

    def keys(prompt: str) -> str:
        run_worker(redis)                      # the worker sends what the last key queued
        out.append(prompt)
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None
    TerminalCall(runtime, url, "+15550150", keys=keys, echo=out.append).run()
    text = "\n".join(out)
    assert "(es-MX) Para español, oprima 1." in text
    assert "(en-US) For English, press 2." in text
    assert f"[plays {url}/media/mam/language.wav]" in text
    assert "Pedir asilo es un derecho humano" in text          # "21": Asilo y frontera, then Asilo
    assert "── text message to you ──" in text                 # 8: the page by SMS, through the worker
    assert "[silence: no key]" in text and "No escuché ninguna tecla." in text
    assert "[beep: recording up to 60 s." in text
    assert "Gracias. Una persona del programa le va a llamar" in text
    assert text.rstrip().endswith("[call ended]")
    [item] = runtime.store.handoffs.list()
    assert (item["kind"], item["topic"]) == ("callback", "asylum")


@pytest.fixture
def run(monkeypatch, tmp_path):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "REDIS_URL", "CONTENT_DIR", "DATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_preview_voice_shows_the_speech_text_and_its_length(run):
    result = run("content", "preview", "asylum", "--lang", "es", "--channel", "voice", "--all-pages")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[voice · es · page 1 of 5 ·" in out and "s at 150 words a minute (budget 45 s)]" in out
    assert "(es-MX) Pedir asilo es un derecho humano." in out
    assert "U S C I S" in out and "Para seguir, oprima 1." in out
    result = run("content", "preview", "asylum", "--lang", "mam", "--channel", "voice")
    assert "no recording in mam" in result.output and "grabación en Mam" in result.output
    result = run("content", "preview", "menu", "--lang", "en", "--channel", "voice")
    assert "For English, press 2." in result.output and "[voice · menu menu · page 2" in result.output


def test_handoff_recording_writes_the_message_and_is_audited(env, redis, tmp_path, monkeypatch):
    config = env()
    runtime = Runtime(config, connection=redis)
    store = runtime.store
    with store.unit() as uow:
        handoff_id = store.handoffs.open(uow, "ref1", "+15550151", "callback", "es", "court")
    audio = tiny_wav(tmp_path / "a.wav")
    assert store.handoffs.attach_recording(handoff_id, audio, "wav")
    target = tmp_path / "out.wav"
    result = CliRunner().invoke(main, ["handoff", "recording", handoff_id, "-o", str(target), "--as", "maria"])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == audio
    [entry] = store.audit.trail(what="handoff.recording")
    assert (entry["who"], entry["handoff"]) == ("maria", handoff_id)
    store.handoffs.close(handoff_id, "maria")
    result = CliRunner().invoke(main, ["handoff", "recording", handoff_id])
    assert result.exit_code != 0 and "no recording kept" in result.output


def test_content_check_reports_a_recording_that_is_not_audio(run, tmp_path):
    root = content_with_recordings(tmp_path / "c")
    (root / "indigenous" / "mam" / "audio" / "language.wav").write_text("not audio")
    result = CliRunner().invoke(main, ["content", "check", "--dir", str(root)])
    assert result.exit_code != 0
    assert "indigenous/mam/audio/language.wav:1: error: the recording of the language's name is not an audio" in \
        result.output


@pytest.mark.slow
def test_derechos_call_starts_a_bot_and_talks_through_the_real_path(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot.cli", "call"], cwd=ROOT, env=clean_env(tmp_path / "i"),
                            input="2\n1\n1\n8\n\n\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(es-MX) Para español, oprima 1." in out
    assert "If ICE comes: press 1." in out
    assert "Do not open the door." in out
    assert "── text message to you ──" in out
    assert "(en-US) Thank you for calling. Goodbye." in out and "[call ended]" in out
    assert "Traceback" not in result.stderr
