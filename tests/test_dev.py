"""`derechos dev` and `derechos chat` as a new user runs them: no REDIS_URL, no Twilio credentials."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.chat import inbound_form, signed_post
from bot.cli.local import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def clean_env(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "DERECHOS_")) and k not in ("REDIS_URL", "DATA_KEY", "PUBLIC_URL")}
    env.update(INSTANCE_DIR=str(instance), NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    return env


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_url(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def test_dev_runs_web_worker_and_embedded_redis_then_stops_cleanly(tmp_path):
    port = free_port()
    instance = tmp_path / "instance"
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "dev", "--port", str(port)], cwd=ROOT,
                            env=clean_env(instance), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any(f"running at http://127.0.0.1:{port}" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        wait_url(f"http://127.0.0.1:{port}/healthz")
        status, _, _ = signed_post(f"http://127.0.0.1:{port}/twilio/messages", inbound_form("+15550111", "hola"),
                                "derechos-dev-token")
        assert status == 200
        # The reply went through the queue and the worker into the outbox in the embedded Redis.
        from bot.config import Config
        from bot.runtime import Runtime
        runtime = Runtime(Config.from_env(clean_env(instance)))
        ref = runtime.store.ref("+15550111")
        deadline = time.monotonic() + 30
        while not runtime.store.outbox.entries(ref=ref) and time.monotonic() < deadline:
            time.sleep(0.1)
        [entry] = runtime.store.outbox.entries(ref=ref)
        assert entry.body.startswith("Hola")
        assert runtime.embedded is not None and not runtime.embedded.started_here
        runtime.redis.close()
        redis_pid = int((instance / "redis" / "redis.pid").read_text())
        assert alive(redis_pid)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "stopped" in output
    assert "Traceback" not in output
    deadline = time.monotonic() + 10
    while alive(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(redis_pid), "embedded Redis left running"
    assert (instance / "redis" / "appendonlydir").exists() or list((instance / "redis").glob("*.aof"))


def test_chat_talks_through_the_real_path(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot.cli", "chat"], cwd=ROOT, env=clean_env(tmp_path / "i"),
                            input="hola\nasilo\nenglish\n2\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "un numero:" in out                         # the Spanish menu, folded to GSM-7 for SMS
    assert "asilo" in out.lower()
    assert "Reply with a number" in out or "English" in out
    assert "segment" in out                               # shown as a phone would count it
    assert "Traceback" not in result.stderr
