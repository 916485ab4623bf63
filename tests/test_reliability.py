"""Reliability: Redis going away and coming back, Redis restarts with append-only on, and workers
stopped (SIGTERM) or killed (SIGKILL) in the middle of a send.

Every test here starts its OWN embedded Redis (bot.embedded.EmbeddedRedis under tmp_path), never the
suite's shared one, and builds its Runtime from REDIS_URL as production does (Runtime.redis, no
connection passed in). Processes and servers are stopped in `finally` blocks even when a test fails.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import redis as redis_lib
from rq.job import Job
from rq.serializers import JSONSerializer

from bot import sms
from bot.conversation import State
from bot.embedded import EmbeddedRedis
from bot.jobs import REPLIES, make_queue
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, Phone, run_worker
from tests.fake_twilio import FakeTwilio

ROOT = Path(__file__).resolve().parent.parent


# --- helpers -----------------------------------------------------------------------------------

@pytest.fixture
def own_redis(tmp_path):
    """An embedded Redis of this test alone (append-only, Unix socket under tmp_path)."""
    server = EmbeddedRedis(tmp_path / "own")
    server.ensure()
    try:
        yield server
    finally:
        stop_redis(EmbeddedRedis(tmp_path / "own"))   # whichever server runs in that folder now


def stop_redis(server: EmbeddedRedis) -> None:
    """EmbeddedRedis.stop() without its ~3.5 s wait: SHUTDOWN through a client without retries.

    (EmbeddedRedis.stop() and .alive() use redis.Redis(...), whose default Retry in redis-py 8 backs
    off and reconnects several times after SHUTDOWN closes the socket; Redis.from_url has no retry.)"""
    pid = _redis_pid(server)
    if pid is None:
        return
    client = redis_lib.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.shutdown(nosave=False)               # flushes the append-only file
    except redis_lib.RedisError:
        os.kill(pid, signal.SIGTERM)                # our own redis-server, by its pid
    finally:
        client.close()
    wait_until(lambda: not _alive(pid), 10, "redis-server to stop")
    server.socket.unlink(missing_ok=True)


def twiml_messages(response) -> list[str]:
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


def queued_payloads(runtime: Runtime) -> list[dict]:
    return [job.args[0] for job in make_queue(REPLIES, runtime.redis).get_jobs()]


def wait_until(predicate, timeout: float, what: str, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _redis_pid(server: EmbeddedRedis) -> int | None:
    """The pid of the redis-server running for `server`, if its pidfile names a live redis-server."""
    try:
        pid = int(server.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in cmdline and _alive(pid) else None


def kill_redis_hard(server: EmbeddedRedis) -> None:
    """SIGKILL our own embedded redis-server (a crash: no SHUTDOWN, no final AOF rewrite)."""
    pid = _redis_pid(server)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), 10, "redis-server to die")


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def live_config(env, redis_url: str, api_url: str):
    """Twilio credentials pointed at a fake API; everything the worker subprocess needs is in os.environ."""
    return env(REDIS_URL=redis_url, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
               TWILIO_SMS_FROM="+15550000", TWILIO_WHATSAPP_FROM="whatsapp:+15550001", TWILIO_API_URL=api_url,
               PUBLIC_URL=PUBLIC_URL)


def _ppid_and_cmdline(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1]), cmdline


class Worker:
    """`python -m bot.cli worker` as the Procfile runs it, and every process it forks.

    RQ's work horse calls os.setpgrp(), so a signal to the worker's process group does not reach it:
    the tree is found through /proc (parent pids) and remembered, so that cleanup can stop a horse
    that outlived its parent (by pid, and only if it is still one of ours: same command line)."""

    def __init__(self, log: Path, *args: str, **env: str):
        self.log = log
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", LOG_LEVEL="INFO", **env)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", *args], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.known: dict[int, str] = {}

    def tree(self) -> list[int]:
        """The worker and its descendants now (work horse, scheduler); remembered for cleanup."""
        table = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                info = _ppid_and_cmdline(int(entry.name))
                if info:
                    table[int(entry.name)] = info
        found, frontier = [], [self.proc.pid]
        while frontier:
            pid = frontier.pop()
            if pid in table:
                found.append(pid)
                self.known[pid] = table[pid][1]
                frontier += [child for child, (ppid, _) in table.items() if ppid == pid]
        return found

    def horse(self) -> int | None:
        """The work horse: the child running a job (not the scheduler)."""
        children = [pid for pid in self.tree() if pid != self.proc.pid and os.getpgid(pid) == pid]
        return children[0] if children else None

    def signal_tree(self, sig: int) -> list[int]:
        """Send `sig` to every process of the worker at once, as a container or cgroup stop does."""
        pids = self.tree()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running after {timeout}s:\n{self.output()[-3000:]}") from None

    def cleanup(self) -> None:
        """Leave nothing running: every process of ours still alive, then reap the main process."""
        if self.proc.poll() is None:
            self.tree()
        for pid, cmdline in self.known.items():
            info = _ppid_and_cmdline(pid)
            if info and info[1] == cmdline:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass


def fetch(runtime: Runtime, job_id: str) -> Job:
    return Job.fetch(job_id, connection=runtime.redis, serializer=JSONSerializer)


def requeue_abandoned(runtime: Runtime) -> list[str]:
    """What RQ does for a job whose worker died, without waiting for it.

    RQ 3 finds abandoned jobs in StartedJobRegistry.cleanup(): an entry's score is its execution's
    expiry (now + heartbeat TTL, i.e. min(job timeout, job_monitoring_interval) + 60 s = 90 s here),
    refreshed by the worker's heartbeat while the job runs. Once a dead worker's entry expires, the
    next maintenance pass (any worker, every ~10 min, or at start) retries the job (it has retries
    left) through job.retry(): the first retry is enqueued at once (bot.jobs.backoff_schedule), later
    ones scheduled after their backoff. We call the cleanup with a timestamp an hour ahead, and enqueue
    any scheduled job now ("time passes")."""
    queue = make_queue(REPLIES, runtime.redis)
    queued_before = set(queue.get_job_ids())
    queue.started_job_registry.cleanup(timestamp=time.time() + 3600)
    moved = [job_id for job_id in queue.get_job_ids() if job_id not in queued_before]   # first retry: at once
    for job_id in queue.scheduled_job_registry.get_job_ids():
        job = fetch(runtime, job_id)
        queue.scheduled_job_registry.remove(job)
        queue.enqueue_job(job)
        moved.append(job_id)
    return moved


class BlackHole:
    """A TCP server that accepts connections and reads requests but never answers: a Twilio API that
    is unreachable in the middle of a request (hung TLS handshake, network partition)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.received = threading.Event()
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            conn.settimeout(0.1)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn):
        while not self._stop:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            self.received.set()

    def close(self):
        self._stop = True
        self.thread.join(timeout=2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


# --- Redis down when a message arrives ---------------------------------------------------------

def test_redis_down_answers_inline_then_queues_again_without_restart(env, own_redis, tmp_path):
    config = env(REDIS_URL=own_redis.url)
    runtime = Runtime(config)          # REDIS_URL -> Runtime.redis, as in production
    app = create_app({"TESTING": True, "RUNTIME": runtime})
    client = app.test_client()
    phone = Phone(client, config.webhook_token)

    response, _ = phone.text("hola", sender="+15550120")
    assert response.status_code == 200 and twiml_messages(response) == []   # normal: through the queue
    assert client.get("/healthz").status_code == 200

    stop_redis(own_redis)
    response, _ = phone.text("como pido asilo", sender="+15550121")
    assert response.status_code == 200
    [message] = twiml_messages(response)          # degraded mode: the reply inline, in TwiML
    assert "asilo" in message.lower()
    health = client.get("/healthz")
    assert health.status_code == 503
    body = health.get_json()
    assert body["status"] == "degraded" and body["redis"] is False

    EmbeddedRedis(tmp_path / "own").ensure()      # Redis is back (same folder, same append-only file)
    response, _ = phone.text("hola", sender="+15550122")
    assert response.status_code == 200
    assert twiml_messages(response) == []         # queued again, no app restart
    refs = [p["ref"] for p in queued_payloads(runtime)]
    assert runtime.store.ref("+15550122") in refs
    assert runtime.store.ref("+15550120") in refs  # the job queued before the outage is still there
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_stop_while_redis_is_down_is_remembered_when_it_returns(env, own_redis, tmp_path):
    config = env(REDIS_URL=own_redis.url)
    runtime = Runtime(config)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), config.webhook_token)
    phone.text("hola", sender="+15550130")
    stop_redis(own_redis)
    response, _ = phone.text("STOP", sender="+15550130")
    [confirmation] = twiml_messages(response)
    assert confirmation                            # the person is told they are out
    EmbeddedRedis(tmp_path / "own").ensure()
    phone.text("hola", sender="+15550199")        # the next request replays what was journaled
    assert runtime.store.people.is_opted_out(runtime.store.ref("+15550130"))
    assert not runtime.journal.pending()


def test_delete_request_while_redis_is_down_is_not_confirmed_falsely(env, own_redis, tmp_path):
    config = env(REDIS_URL=own_redis.url)
    runtime = Runtime(config)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), config.webhook_token)
    phone.text("hola", sender="+15550131")
    state_key = runtime.store.key("state", runtime.store.ref("+15550131"))
    assert runtime.redis.exists(state_key)
    stop_redis(own_redis)
    response, _ = phone.text("BORRAR MIS DATOS", sender="+15550131")
    [answer] = twiml_messages(response)
    EmbeddedRedis(tmp_path / "own").ensure()
    phone.text("hola", sender="+15550198")        # the next request replays what was journaled
    # Either the data is gone, or the person was not told it is.
    deleted_text = sms.render(runtime.content.get().catalog.text("deleted", "es"), "sms", config.sms_fold)
    assert not runtime.redis.exists(state_key) or answer.strip() != deleted_text.strip()


# --- Redis restart with append-only on ---------------------------------------------------------

@pytest.mark.parametrize("how", ["shutdown", "crash"])
def test_opt_outs_state_and_jobs_survive_a_redis_restart(env, own_redis, tmp_path, how):
    config = env(REDIS_URL=own_redis.url)
    runtime = Runtime(config)
    store = runtime.store
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), config.webhook_token)

    out = store.ref("+15550140")
    store.opt_out_now(out)
    talking = store.ref("+15550141")
    state = State(lang="en", lang_chosen=True, menu=("asylum", "labor"), topic="labor", page=1)
    with store.unit() as uow:
        store.people.save_state(uow, talking, state)
    response, _ = phone.text("hola", sender="+15550142")
    assert twiml_messages(response) == []
    job_ids = make_queue(REPLIES, runtime.redis).get_job_ids()
    assert len(job_ids) == 1

    if how == "shutdown":
        own_redis.stop()                           # the project's stop (SHUTDOWN): the AOF is flushed
    else:
        time.sleep(0.1)
        kill_redis_hard(own_redis)                 # SIGKILL: only what reached the AOF survives
    EmbeddedRedis(tmp_path / "own").ensure()

    assert store.people.is_opted_out(out)
    assert store.people.load_state(talking) == state
    queue = make_queue(REPLIES, runtime.redis)
    assert queue.get_job_ids() == job_ids
    run_worker(runtime.redis)                      # and the job still runs after the restart
    [entry] = store.outbox.entries(ref=store.ref("+15550142"))
    assert entry.body.startswith("Hola")
    assert fetch(runtime, job_ids[0]).get_status() == "finished"


# --- workers stopped or killed in the middle of a send -----------------------------------------

@pytest.fixture
def slow_twilio():
    """The fake Twilio API, answering each create after 1.5 s (it records the request first)."""
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, latency=1.5) as fake:
        yield fake


def _live_app(env, own_redis, api_url):
    config = live_config(env, own_redis.url, api_url)
    runtime = Runtime(config)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), AUTH_TOKEN, base_url=PUBLIC_URL)
    return runtime, phone


def _one_reply(runtime, phone, sender: str) -> tuple[str, str]:
    response, _ = phone.text("como pido asilo", sender=sender)
    assert response.status_code == 200 and twiml_messages(response) == []
    [job] = make_queue(REPLIES, runtime.redis).get_jobs()
    return job.id, job.args[0]["id"]


@pytest.mark.slow
def test_sigterm_lets_the_worker_finish_the_send_and_exit_0(env, own_redis, slow_twilio, tmp_path):
    runtime, phone = _live_app(env, own_redis, slow_twilio.url)
    job_id, send_id = _one_reply(runtime, phone, "+15557654321")
    worker = Worker(tmp_path / "worker.log")
    try:
        wait_until(lambda: slow_twilio.attempts, 30, "the worker's request to Twilio")
        stopped_at = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)    # to the worker (PID 1 in a container gets it alone)
        code = worker.wait(timeout=10)
        took = time.monotonic() - stopped_at
    finally:
        worker.cleanup()
    assert code == 0, worker.output()[-3000:]
    assert took < 10
    [request] = slow_twilio.requests
    assert request.status_code == 201 and request.get("To") == "+15557654321"
    assert len(slow_twilio.attempts) == 1
    job = fetch(runtime, job_id)
    assert job.get_status() == "finished", worker.output()[-3000:]
    assert job.return_value() == request.sid
    assert runtime.store.deliveries.sent(send_id) == request.sid          # the send was recorded, not left "pending"


@pytest.mark.slow
def test_sigkill_while_twilio_holds_the_request_the_person_gets_it_once(env, own_redis, slow_twilio, tmp_path):
    """The worker dies after Twilio accepted the message but before the answer came back."""
    runtime, phone = _live_app(env, own_redis, slow_twilio.url)
    job_id, send_id = _one_reply(runtime, phone, "+15557654322")
    first = Worker(tmp_path / "worker1.log")
    try:
        wait_until(lambda: slow_twilio.attempts, 30, "the worker's request to Twilio")
        horse = first.horse()
        assert horse is not None
        first.signal_tree(signal.SIGKILL)          # worker, work horse and scheduler, mid-request
        first.wait(timeout=10)
        wait_until(lambda: not _alive(horse), 10, "the work horse to die")
    finally:
        first.cleanup()
    assert fetch(runtime, job_id).get_status() == "started"    # abandoned in the started registry
    assert requeue_abandoned(runtime) == [job_id]

    second = Worker(tmp_path / "worker2.log", "--burst")
    try:
        assert second.wait(timeout=60) == 0, second.output()[-3000:]
    finally:
        second.cleanup()
    # What the person sees: the message exactly once (the retry finds it at Twilio and records it).
    assert len(slow_twilio.requests) == 1, [(r.get("To"), r.status_code) for r in slow_twilio.attempts]
    assert fetch(runtime, job_id).get_status() == "finished"
    assert runtime.store.deliveries.sent(send_id) == slow_twilio.requests[0].sid


@pytest.mark.slow
def test_sigkill_before_twilio_got_the_request_the_person_still_gets_it(env, own_redis, slow_twilio, tmp_path):
    """The worker dies while its request has not reached Twilio (the API is unreachable for a moment)."""
    hole = BlackHole()
    try:
        runtime, phone = _live_app(env, own_redis, hole.url)
        job_id, send_id = _one_reply(runtime, phone, "+15557654323")
        first = Worker(tmp_path / "worker1.log")
        try:
            wait_until(hole.received.is_set, 30, "the worker's request to reach the (unanswering) API")
            horse = first.horse()
            assert horse is not None
            first.signal_tree(signal.SIGKILL)
            first.wait(timeout=10)
            wait_until(lambda: not _alive(horse), 10, "the work horse to die")
        finally:
            first.cleanup()
    finally:
        hole.close()
    assert runtime.store.deliveries.sent(send_id).startswith("pending")  # claimed, never answered
    assert requeue_abandoned(runtime) == [job_id]

    second = Worker(tmp_path / "worker2.log", "--burst", TWILIO_API_URL=slow_twilio.url)  # Twilio is back
    try:
        assert second.wait(timeout=60) == 0, second.output()[-3000:]
    finally:
        second.cleanup()
    job = fetch(runtime, job_id)
    assert len(slow_twilio.requests) == 1, f"sent {len(slow_twilio.requests)} times; job returned " \
        f"{job.return_value()!r}"
    assert job.get_status() == "finished"
    assert runtime.store.deliveries.sent(send_id) == slow_twilio.requests[0].sid


@pytest.mark.slow
def test_sigterm_to_every_process_of_the_worker_still_finishes_the_send(env, own_redis, slow_twilio, tmp_path):
    """Heroku (the Procfile's platform) and systemd (KillMode=control-group) send SIGTERM to every
    process of the worker at once, the RQ work horse included."""
    runtime, phone = _live_app(env, own_redis, slow_twilio.url)
    job_id, send_id = _one_reply(runtime, phone, "+15557654324")
    worker = Worker(tmp_path / "worker.log")
    try:
        wait_until(lambda: slow_twilio.attempts, 30, "the worker's request to Twilio")
        assert worker.horse() is not None
        worker.signal_tree(signal.SIGTERM)
        code = worker.wait(timeout=10)
    finally:
        worker.cleanup()
    assert code == 0, worker.output()[-3000:]
    time.sleep(1.6)                                # the fake's answer to a request still open
    assert len(slow_twilio.requests) == 1
    job = fetch(runtime, job_id)
    assert job.get_status() == "finished", f"{job.get_status()}: {worker.output()[-3000:]}"
    assert runtime.store.deliveries.sent(send_id) == slow_twilio.requests[0].sid
