"""Webhook benchmark: the Procfile's web command against the classic minimal Flask + TwiML bot.

All run under the same gunicorn settings on this machine, with the same load: many signed
requests with unique MessageSids and real message texts (tests/data/eval.tsv). Ours runs twice:
with `derechos intake` alive (the Procfile's shape: the webhook checks the signature and hands the
sealed message over, a STOP or delete request with a hold on the person), and alone (it loads and
saves encrypted state and enqueues a send job in the request). The baseline answers inline with no
signature check and no queue; the floor (bench/floor_app.py) checks the signature and keeps the
sealed message with one Redis command, the least any safe webhook does. For the intake run it also
prints how soon after the burst the consumer had handled everything, and its CPU a message. The
apps run in turn, --rounds times, because this machine's speed drifts by tens of percent between runs;
ratios are medians of the rounds. Each app also gets a steady run at --rate requests/s (open loop,
latency from when each request was due), the p99 a person texting at ordinary load sees. Prints
requests/s, p50 and p99, the server's CPU per request (web processes and Redis, from /proc), the ratios, the in-process server time per request (median,
p99) and the cost of the parts any checked and queued webhook needs, the RSS of a web worker, and,
with two real workers sending to a local fake Twilio, the time from the webhook to Twilio
receiving the reply.

    python bench/webhook.py [--requests 4000] [--concurrency 8] [--rate 200] [--rounds 3]
"""
from __future__ import annotations

import argparse
import base64
import csv
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twilio.request_validator import RequestValidator  # noqa: E402

from bot.cli.local import free_port  # noqa: E402
from bot.embedded import EmbeddedRedis  # noqa: E402

TOKEN = "bench-auth-token-0123456789abcdef"
SID = "AC" + "0" * 32


def texts() -> list[str]:
    with (ROOT / "tests" / "data" / "eval.tsv").open(encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]


def forms(n: int, url: str) -> list[tuple[bytes, str]]:
    """Pre-signed request bodies, so the load generator spends its time sending."""
    validator, bodies, sample = RequestValidator(TOKEN), [], texts()
    for i in range(n):
        form = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": SID, "From": f"+1555{i % 5000:07d}",
                "To": "+15550000", "Body": sample[i % len(sample)], "NumMedia": "0"}
        bodies.append((urllib.parse.urlencode(form).encode(), validator.compute_signature(url, form)))
    return bodies


def post(conn: http.client.HTTPConnection, body: bytes, signature: str) -> int:
    """POST one pre-signed webhook body; return the status."""
    conn.request("POST", "/twilio/messages", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
    response = conn.getresponse()
    response.read()
    return response.status


def on_threads(target, args_per_thread: list[tuple]) -> None:
    threads = [threading.Thread(target=target, args=args) for args in args_per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def load(port: int, bodies: list[tuple[bytes, str]], concurrency: int,
         sent_at: dict | None = None) -> tuple[float, list[float], int]:
    """Send every body over keep-alive connections; return elapsed seconds, latencies, errors.
    With `sent_at`, record when each request was sent (by its From number)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    chunks = [bodies[i::concurrency] for i in range(concurrency)]

    def run(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for body, signature in chunk:
            if sent_at is not None:
                sent_at[urllib.parse.parse_qs(body.decode())["From"][0]] = time.monotonic()
            start = time.perf_counter()
            status = post(conn, body, signature)
            mine.append(time.perf_counter() - start)
            if status != 200:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    on_threads(run, [(c,) for c in chunks])
    return time.perf_counter() - start, latencies, errors[0]


def paced(port: int, bodies: list[tuple[bytes, str]], rate: float, concurrency: int) -> list[float]:
    """Send at a fixed rate (open loop), as traffic arrives, not as fast as the server answers: request i
    is due at start + i / rate, and its latency counts from when it was due, so time spent waiting for
    a free connection counts too (no coordinated omission). Returns latencies in seconds."""
    latencies: list[float] = []
    lock = threading.Lock()
    following = iter(range(len(bodies)))
    start = time.perf_counter() + 0.05

    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while True:
            with lock:
                i = next(following, None)
            if i is None:
                break
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            post(conn, *bodies[i])
            mine.append(time.perf_counter() - due)
        conn.close()
        with lock:
            latencies.extend(mine)

    on_threads(run, [()] * concurrency)
    return sorted(latencies)


def wait_up(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (from /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])      # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def worker_pids(master_pid: int) -> list[int]:
    """gunicorn's worker processes (children of the master)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"PPid:\t{master_pid}\n" in status.read_text():
                pids.append(int(status.parent.name))
        except (OSError, ValueError):
            continue
    return pids


def rss_of_workers(master_pid: int) -> list[int]:
    """RSS in kB of gunicorn's worker processes."""
    out = []
    for pid in worker_pids(master_pid):
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        out.append(int(fields.get("VmRSS", "0 kB").split()[0]))
    return out


def serve(app: str, port: int, env: dict, workers: int, threads: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--config", "python:bot.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--threads", str(threads), app]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


INTAKE_NICE = 10    # the webhook first: a burst's conversations wait a moment, Twilio never does


def intake_of(env: dict):
    import redis

    from bot.store.intake import Intake
    return Intake(redis.Redis.from_url(env["REDIS_URL"]), None, "derechos", 0)


def start_intake(env: dict) -> subprocess.Popen:
    """`derechos intake` as the Procfile runs it, at a lower priority than the web; returns once it
    said it is alive (from then on the web hands messages over)."""
    intake = intake_of(env)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "intake"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: os.nice(INTAKE_NICE))
    deadline = time.monotonic() + 60
    while not intake.alive():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("derechos intake did not start")
        time.sleep(0.05)
    time.sleep(1.1)          # the web's one-second view of it
    return proc


def wait_for_intake(env: dict, timeout: float = 600) -> float:
    """Until the intake backlog is handled; returns when (time.monotonic())."""
    intake = intake_of(env)
    deadline = time.monotonic() + timeout
    while intake.backlog()["waiting"] and time.monotonic() < deadline:
        time.sleep(0.02)
    return time.monotonic()


def summary(name: str, elapsed: float, latencies: list[float], errors: int) -> dict:
    latencies = sorted(latencies)
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    row = {"name": name, "rps": len(latencies) / elapsed, "p50": p(0.50), "p99": p(0.99), "errors": errors}
    print(f"{name:<34} {row['rps']:8.0f} req/s   p50 {row['p50']:6.2f} ms   p99 {row['p99']:6.2f} ms"
          f"   errors {errors}")
    return row


def in_process_server_time(env: dict, n: int = 2000, handed_over: bool = False) -> tuple[float, float]:
    """Time inside the app (no network, no load generator): what one request costs the server,
    handling the message itself or (a consumer said it is alive) handing it over."""
    from bot.config import Config
    from bot.heap import freeze_heap
    from bot.runtime import Runtime
    from bot.web import create_app
    config = Config.from_env(dict(env, PUBLIC_URL="http://localhost"))
    runtime = Runtime(config)
    if handed_over:
        runtime.store.intake.beat(600)
    app = create_app({"RUNTIME": runtime})
    freeze_heap()                     # as gunicorn's post_worker_init does in the served app
    client = app.test_client()
    bodies = forms(n, "http://localhost/twilio/messages")
    times = []
    for body, signature in bodies:
        start = time.perf_counter()
        response = client.post("/twilio/messages", data=body, headers={"X-Twilio-Signature": signature},
                               content_type="application/x-www-form-urlencoded")
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.data
    times.sort()
    runtime.store.intake.stand_down()
    return statistics.median(times) * 1000, times[int(0.99 * len(times))] * 1000


def in_process_parts(env: dict, n: int = 2000) -> str:
    """What the smallest honest webhook would cost, part by part, beside the baseline app: the
    signature check, one Redis round trip (de-duplication) and one RQ enqueue in a transaction.
    The sum bounds the throughput ratio any design that checks and queues could reach."""
    import redis

    from bench.baseline_app import create_app as baseline_app
    from bot.jobs import make_queue
    from bot.twilio_gateway import check_signature

    def median_ms(fn) -> float:
        times = []
        for i in range(n):
            start = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    bodies = forms(n, "http://localhost/twilio/messages")
    parsed = [dict(urllib.parse.parse_qsl(body.decode())) for body, _ in bodies]
    client = baseline_app().test_client()
    connection = redis.Redis.from_url(env["REDIS_URL"])
    queue = make_queue("bench-parts", connection)

    def enqueue(i):
        with connection.pipeline() as pipe:
            pipe.multi()
            queue.enqueue_call("bench.webhook.texts", args=(parsed[i]["Body"],), pipeline=pipe)
            pipe.execute()

    parts = {
        "baseline app": median_ms(lambda i: client.post("/twilio/messages", data=bodies[i][0],
                                                        content_type="application/x-www-form-urlencoded")),
        "signature check": median_ms(lambda i: check_signature(TOKEN, "http://localhost/twilio/messages", parsed[i],
                                                               bodies[i][1])),
        "one Redis round trip": median_ms(lambda i: connection.set(f"bench:seen:{i}:{uuid.uuid4().hex}", 1,
                                                                    nx=True, ex=60)),
        "one RQ enqueue": median_ms(enqueue),
    }
    queue.empty()
    return "in process, median ms: " + ", ".join(f"{name} {ms:.3f}" for name, ms in parts.items())


def webhook_to_twilio(env: dict, args) -> str:
    """From the webhook to the fake Twilio receiving the reply, under the same load, with two real
    workers (`derechos worker`) and a send rate that does not hold them back."""
    import redis

    from tests.fake_twilio import FakeTwilio
    # The throughput runs above queued thousands of replies that no worker sent: start from an empty
    # queue, or the workers spend this measurement draining them.
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        env = dict(env, TWILIO_API_URL=fake.url, SEND_RATE="100000")
        port = free_port()
        env["PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        server = serve("bot.web:create_app()", port, env, args.workers, args.threads)
        consumer = start_intake(env)
        workers = [subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--name", f"bench{i}"], cwd=ROOT,
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
        try:
            wait_up(port)
            warm = forms(100, f"http://127.0.0.1:{port}/twilio/messages")
            load(port, warm, args.concurrency)
            fake.wait_for(100, timeout=60)
            fake.clear()
            n = min(args.requests, 2000)
            sent_at: dict = {}
            load(port, forms(n, f"http://127.0.0.1:{port}/twilio/messages"), args.concurrency, sent_at)
            received = fake.wait_for(n, timeout=max(120, n / 4))
            delays = sorted((r.time - sent_at[r.get("To")]) * 1000 for r in received if r.get("To") in sent_at)
            first = min(sent_at.values())
            drained = max(r.time for r in received) - first
        finally:
            for w in workers:
                w.terminate()
            server.terminate()
            consumer.terminate()
            for proc in (*workers, server, consumer):
                proc.wait(timeout=30)
    p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]  # noqa: E731
    return (f"webhook -> Twilio receives the reply ({len(delays)} replies, 2 workers, 1 intake): p50 {p(0.5):.1f} ms, "
            f"p99 {p(0.99):.1f} ms; all sent in {drained:.1f} s ({len(delays) / drained:.1f} replies/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200,
                        help="requests/s of the steady (open-loop) run, well below any app's capacity here")
    parser.add_argument("--paced", type=int, default=1500, help="requests in the steady run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of the three apps in turn; ratios are medians")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        redis_server = EmbeddedRedis(Path(tmp))
        redis_url = redis_server.ensure()
        redis_pid = int(redis_server.pidfile.read_text().strip())
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        env.update(REDIS_URL=redis_url, INSTANCE_DIR=tmp, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN,
                   TWILIO_SMS_FROM="+15550000", DATA_KEY=base64.b64encode(os.urandom(32)).decode(), SECRET_KEY="b" * 48,
                   DERECHOS_HELP_LINE="1-800-555-0100",
                   LOG_LEVEL="WARNING", INBOUND_PER_MINUTE="1000000", REPLIES_PER_HOUR="100000000")
        apps = (("baseline: inline TwiML, no checks", "bench.baseline_app:create_app()", False),
                ("floor: signature + one SET NX", "bench.floor_app:create_app()", False),
                ("derechos, no intake: all inline", "bot.web:create_app()", False),
                ("derechos: hands over to intake", "bot.web:create_app()", True))
        print(f"{args.requests} requests, {args.concurrency} connections, gunicorn {args.workers} workers x "
              f"{args.threads} threads, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
              f"{args.rounds} rounds of the apps in turn; intake: `derechos intake` at nice {INTAKE_NICE}")
        rounds: list[dict] = []
        for number in range(1, args.rounds + 1):
            print(f"round {number}")
            results = {}
            for name, app, with_intake in apps:
                port = free_port()
                env["PUBLIC_URL"] = f"http://127.0.0.1:{port}"
                server = serve(app, port, env, args.workers, args.threads)
                consumer = start_intake(env) if with_intake else None
                try:
                    wait_up(port)
                    warm = forms(200, f"http://127.0.0.1:{port}/twilio/messages")
                    load(port, warm, args.concurrency)
                    bodies = forms(args.requests, f"http://127.0.0.1:{port}/twilio/messages")
                    web_pids = [server.pid, *worker_pids(server.pid)]
                    if consumer is not None:
                        wait_for_intake(env)
                        intake_before = cpu_seconds([consumer.pid])
                    before = cpu_seconds(web_pids), cpu_seconds([redis_pid])
                    started = time.monotonic()
                    results[name] = summary(name, *load(port, bodies, args.concurrency))
                    ended = time.monotonic()
                    web_cpu = (cpu_seconds(web_pids) - before[0]) / args.requests * 1000
                    redis_cpu = (cpu_seconds([redis_pid]) - before[1]) / args.requests * 1000
                    results[name]["cpu"] = web_cpu + redis_cpu
                    if consumer is not None:
                        done = wait_for_intake(env)
                        lag, rate = done - ended, args.requests / (done - started)
                        intake_cpu = (cpu_seconds([consumer.pid]) - intake_before) / args.requests * 1000
                        results[name].update(lag=lag, handled_rate=rate, intake_cpu=intake_cpu)
                        print(f"{'':<34} intake: backlog handled {lag:.1f} s after the load ended"
                              f" ({rate:.0f} messages/s from the start), CPU {intake_cpu:.2f} ms a message")
                    steady = paced(port, forms(args.paced, f"http://127.0.0.1:{port}/twilio/messages"), args.rate,
                                   args.concurrency)
                    results[name]["steady_p50"] = steady[len(steady) // 2] * 1000
                    results[name]["steady_p99"] = steady[min(len(steady) - 1, int(0.99 * len(steady)))] * 1000
                    print(f"{'':<34} at a steady {args.rate:.0f} req/s: p50 {results[name]['steady_p50']:6.2f} ms"
                          f"   p99 {results[name]['steady_p99']:6.2f} ms")
                    rss = rss_of_workers(server.pid)
                    print(f"{'':<34} CPU a request: web {web_cpu:.2f} ms + Redis {redis_cpu:.2f} ms;"
                          f" web worker RSS: {', '.join(f'{r / 1024:.1f} MiB' for r in rss)}")
                finally:
                    server.terminate()
                    server.wait(timeout=20)
                    if consumer is not None:
                        consumer.terminate()
                        consumer.wait(timeout=20)
            rounds.append(results)
        base, floor, inline, ours = (name for name, _, _ in apps)
        compared = ((floor, "floor"), (inline, "derechos inline"), (ours, "derechos"))
        ratio = lambda name: sorted(r[name]["rps"] / r[base]["rps"] for r in rounds)  # noqa: E731
        for name, label in compared:
            values = ratio(name)
            print(f"throughput ratio ({label} / baseline): median {statistics.median(values):.2f}  "
                  f"(rounds: {', '.join(f'{v:.2f}' for v in values)})" + ("  (target >= 0.70)" if name == ours else ""))
        for name, label in compared:
            cpu = statistics.median(r[name]["cpu"] for r in rounds)
            print(f"web CPU a request ({label}): median {cpu:.2f} ms against the baseline's "
                  f"{statistics.median(r[base]['cpu'] for r in rounds):.2f} ms")
        print(f"intake CPU a message: median {statistics.median(r[ours]['intake_cpu'] for r in rounds):.2f} ms;"
              f" backlog of a {args.requests}-message burst handled a median "
              f"{statistics.median(r[ours]['lag'] for r in rounds):.1f} s after it ended")
        for name, label in compared:
            p99s = sorted(r[name]["p99"] for r in rounds)
            print(f"p99 at full load, {label} ({args.concurrency} connections kept busy): median "
                  f"{statistics.median(p99s):.2f} ms, worst {p99s[-1]:.2f} ms" + ("  (target < 20 ms)" if name == ours else ""))
        for name, label in ((base, "baseline"), *compared):
            steady = sorted(r[name]["steady_p99"] for r in rounds)
            print(f"p99 at a steady {args.rate:.0f} req/s ({label}): median {statistics.median(steady):.2f} ms, "
                  f"worst {steady[-1]:.2f} ms" + ("  (target < 20 ms)" if name == ours else ""))
        print(webhook_to_twilio(env, args))
        for handed_over, label in ((False, "inline"), (True, "handed over")):
            median, p99 = in_process_server_time(env, handed_over=handed_over)
            print(f"server time in process, {label} (no network): median {median:.2f} ms, p99 {p99:.2f} ms"
                  "  (target median < 5 ms)")
        print(in_process_parts(env))
        redis_server.stop()


if __name__ == "__main__":
    main()
