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


# --- issue 14: stopping always stops everything; one-shot commands leave no Redis behind ----------

STUBBORN = r"""
import os, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
if os.fork() == 0:                       # like a gunicorn worker: holds the listening socket
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
    print(os.getpid(), flush=True)
    while True:
        time.sleep(1)
while True:
    time.sleep(1)
"""


def listening(port: int) -> bool:
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_stop_kills_a_child_that_ignores_sigterm_and_the_process_holding_the_port(tmp_path):
    """The web master that ignored SIGTERM: stop escalates to SIGKILL after the grace period, for the
    whole process group, so its worker cannot keep the port."""
    from bot.cli.local import DevStack
    from bot.config import Config
    port = free_port()
    stack = DevStack(Config.from_env(clean_env(tmp_path)), port=port, grace=2.0)
    child = stack.spawn("web", [sys.executable, "-c", STUBBORN, str(port)], dict(os.environ))
    child_pid = child.pid
    deadline = time.monotonic() + 10
    while not listening(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listening(port)
    started = time.monotonic()
    killed = stack.stop()
    took = time.monotonic() - started
    assert killed == ["web"]
    assert took < 2.0 + 3, took
    assert not alive(child_pid) and not listening(port)


def test_a_port_in_use_is_a_one_line_hint(tmp_path):
    import socket
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "bot.cli", "dev", "--port", str(port)], cwd=ROOT,
                                env=clean_env(tmp_path / "i"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert f"port {port}" in line and "in use" in line and "--port" in line
    assert not (tmp_path / "i" / "redis" / "redis.pid").exists(), "embedded Redis started for nothing"


def test_ctrl_c_after_chat_traffic_stops_every_process_within_seconds(tmp_path):
    """Ctrl-C reaches the terminal's whole foreground group; afterwards nothing of the stack is left and
    the same port can be used again at once."""
    port = free_port()
    instance = tmp_path / "instance"
    env = clean_env(instance)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "dev", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        while not any("Stop with Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        banner = "".join(lines)
        for body in ("hola", "asilo", "1", "mas", "borrar mis datos", "hola"):
            status, _, _ = signed_post(f"http://127.0.0.1:{port}/twilio/messages",
                                       inbound_form("+13125550100", body), "derechos-dev-token")
            assert status == 200
        # A one-shot command while dev runs uses dev's Redis and leaves it running.
        count = subprocess.run([sys.executable, "-m", "bot.cli", "subscribers", "count"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
        assert count.returncode == 0, count.stderr
        redis_pid = int((instance / "redis" / "redis.pid").read_text())
        assert alive(redis_pid)
        stack = [int(pid) for pid in subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True,
                                                    text=True).stdout.split()]
        assert len(stack) >= 4, stack          # dev, gunicorn master and worker, the RQ worker
    finally:
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)     # what Ctrl-C in a terminal does
        output, _ = proc.communicate(timeout=60)
    took = time.monotonic() - started
    assert proc.returncode == 0 and "stopped" in output and "Traceback" not in output, output
    assert took < 10, took
    time.sleep(0.2)
    assert [pid for pid in stack if alive(pid)] == [] and not alive(redis_pid)
    assert not listening(port)
    # The banner's chat command works as printed (the path of this very script, from here).
    import shlex
    chat_line = next(line for line in banner.splitlines() if "chat --url" in line)
    command = shlex.split(chat_line.split(": ", 1)[1])
    assert command[1:3] == ["chat", "--url"]
    assert subprocess.run(command[:2] + ["--help"], cwd=ROOT, capture_output=True, timeout=60).returncode == 0


def test_a_one_shot_command_stops_the_embedded_redis_it_started(tmp_path):
    instance = tmp_path / "instance"
    env = clean_env(instance)
    first = subprocess.run([sys.executable, "-m", "bot.cli", "subscribers", "count"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and first.stdout.strip().startswith("0"), first.stderr
    assert "generated a development key" in first.stderr          # said once, when the key is made
    assert not (instance / "redis" / "redis.pid").exists(), "embedded Redis left running"
    second = subprocess.run([sys.executable, "-m", "bot.cli", "subscribers", "count"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "DATA_KEY" not in second.stderr, second.stderr
    assert not (instance / "redis" / "redis.pid").exists()
    assert list((instance / "redis").glob("appendonly*")), "the data stays on disk"
