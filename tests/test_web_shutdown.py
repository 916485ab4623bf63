"""The Procfile's web process on SIGTERM (a deploy): every request it was sent is answered; later
connections are refused (Twilio retries those elsewhere), none is reset."""
from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from bot.cli.local import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_sigterm_answers_every_request_sent_before_it(redis_url, redis, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DERECHOS_"))}
    env.update(REDIS_URL=redis_url, INSTANCE_DIR=str(tmp_path / "instance"), PORT=str(port), LOG_LEVEL="WARNING",
               DATA_KEY="a2trazJrMmsyazJrMmsyazJrMmsyazJrMmsyazJrMms=", WEB_CONCURRENCY="2", WEB_THREADS="4")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "python:bot.gunicorn_conf",
                             "bot.web:create_app()"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/twilio/messages"
    validator = RequestValidator("derechos-dev-token")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        counts = {"answered": 0, "refused": 0, "reset": 0, "other": 0}
        lock, stop = threading.Lock(), time.monotonic() + 3.0

        def send_until_stopped():
            while time.monotonic() < stop:
                form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": f"+1312555{uuid.uuid4().int % 10**4:04d}",
                        "To": "+15550000", "Body": "como pido asilo", "NumMedia": "0"}
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    connection.request("POST", "/twilio/messages", urllib.parse.urlencode(form), {
                        "X-Twilio-Signature": validator.compute_signature(url, form),
                        "Content-Type": "application/x-www-form-urlencoded"})
                    response = connection.getresponse()
                    response.read()
                    kind = "answered" if response.status == 200 else "other"
                except ConnectionRefusedError:
                    kind = "refused"
                    time.sleep(0.01)
                except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
                    kind = "reset"
                with lock:
                    counts[kind] += 1

        threads = [threading.Thread(target=send_until_stopped) for _ in range(16)]
        [t.start() for t in threads]
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)                       # mid-traffic, as a deploy does
        [t.join() for t in threads]
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"\n{counts}")
    assert counts["answered"] > 0 and counts["refused"] > 0
    assert counts["reset"] == 0 and counts["other"] == 0
