"""Broadcast benchmark: 100,000 subscribers.

Figures: time to import them, Redis memory per subscriber, time to plan and enqueue a broadcast to all
of them (frozen audience, batches on the broadcasts queue) beside the baseline of one RQ job per
message, and the send rate achieved by real worker processes against the configured rate with a fake
Twilio that answers in 50 ms (`--latency`).

    python bench/broadcast.py [--subscribers 100000] [--rate 50] [--workers 4] [--seconds 30]
"""
from __future__ import annotations

import argparse
import base64
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bot import organizer  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.delivery import fan_out, reply_payload  # noqa: E402
from bot.embedded import EmbeddedRedis  # noqa: E402
from bot.importer import ImportResult, ImportRow  # noqa: E402
from bot.jobs import make_queue, send_reply  # noqa: E402
from bot.messages import Reply  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from tests.fake_twilio import FakeTwilio  # noqa: E402

SID, TOKEN = "AC" + "0" * 32, "bench-token-0123456789"


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=50.0, help="configured segments per second")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to measure the send rate")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake Twilio takes to answer")
    args = parser.parse_args()
    n = args.subscribers

    with tempfile.TemporaryDirectory() as tmp, FakeTwilio(account_sid=SID, auth_token=TOKEN, latency=args.latency) as fake:
        server = EmbeddedRedis(Path(tmp))
        env = dict(os.environ, REDIS_URL=server.ensure(), INSTANCE_DIR=tmp, TWILIO_ACCOUNT_SID=SID,
                   TWILIO_AUTH_TOKEN=TOKEN, TWILIO_SMS_FROM="+15550000", TWILIO_API_URL=fake.url,
                   PUBLIC_URL="https://bench.example.org", DATA_KEY=base64.b64encode(os.urandom(32)).decode(), SECRET_KEY="b" * 48,
                   DERECHOS_HELP_LINE="1-800-555-0100",
                   SEND_RATE=str(args.rate), LOG_LEVEL="WARNING", NO_PROXY="127.0.0.1,localhost")
        config = Config.from_env(env)
        r = redis.Redis.from_url(env["REDIS_URL"])
        runtime = Runtime(config, connection=r)
        store, catalog = runtime.store, runtime.content.get().catalog
        print(f"{n:,} subscribers, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, embedded Redis")

        rows = [ImportRow(f"+1312{i:07d}", "sms", ("es", "en", "mam")[i % 3], ("chicago", f"zone-{i % 10}"), (i + 2,))
                for i in range(n)]
        before = used_memory(r)
        start = time.perf_counter()
        organizer.import_subscribers(store, ImportResult(rows, [], 0, n + 1), "bench")
        imported = time.perf_counter() - start
        per_subscriber = (used_memory(r) - before) / n
        print(f"import: {imported:.1f} s ({n / imported:,.0f} subscribers/s); "
              f"Redis memory per subscriber: {per_subscriber:.0f} bytes (target <= 300)")

        alert = organizer.new_broadcast(store, catalog, {"texts": {"es": "Alerta: clinica legal el sabado.",
                                                                   "en": "Alert: legal clinic on Saturday."},
                                                         "audience": {"tags": ["chicago"]}}, "bench")
        start = time.perf_counter()
        the_plan = organizer.preview(store, catalog, config, alert.id)
        planned = time.perf_counter() - start
        before = used_memory(r)
        start = time.perf_counter()
        batches = fan_out(runtime, alert.id)
        enqueued = time.perf_counter() - start
        ours_memory = used_memory(r) - before
        print(f"plan (audience {the_plan.recipients:,}, {the_plan.segments:,} segments): {planned:.2f} s; "
              f"freeze + enqueue {batches} batches: {enqueued:.2f} s, queue memory {ours_memory / 1e6:.1f} MB")

        # Baseline: one RQ job per message, as a typical RQ app would fan out.
        baseline = make_queue("baseline", r)
        before = used_memory(r)
        start = time.perf_counter()
        refs = [s.ref for s in store.subscribers.by_ids(sorted(store.subscribers.audience(tags=("chicago",))))]
        for i in range(0, len(refs), 1000):
            with r.pipeline(transaction=True) as pipe:
                pipe.multi()
                for ref in refs[i:i + 1000]:
                    payload = reply_payload(runtime, ref, "+13120000000", "sms", Reply("Alerta"), "es", "broadcast")
                    baseline.enqueue_call(send_reply, args=(payload,), description="one job per message", pipeline=pipe)
                pipe.execute()
        base_time = time.perf_counter() - start
        base_memory = used_memory(r) - before
        print(f"baseline, one RQ job per message: enqueue {base_time:.2f} s, queue memory {base_memory / 1e6:.1f} MB")
        print(f"  -> batches are {base_time / enqueued:.1f}x faster to enqueue and take "
              f"{base_memory / max(ours_memory, 1):.1f}x less memory")
        baseline.empty()

        # The send rate: real workers, fake Twilio answering in --latency seconds.
        workers = [subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--name", f"bench-{i}"], cwd=ROOT,
                                    env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for i in range(args.workers)]
        try:
            time.sleep(args.seconds + 3)
        finally:
            organizer.cancel(store, alert.id, "bench")
            for w in workers:
                os.killpg(w.pid, signal.SIGTERM)
            for w in workers:
                w.wait(timeout=30)
        times = sorted(x.time for x in fake.requests)
        steady = [t for t in times if times[0] + 3 <= t < times[0] + 3 + args.seconds]
        per_second = collections.Counter(int(t - times[0]) for t in steady)
        achieved = len(steady) / args.seconds
        worst = max(sum(1 for t in times[i:i + int(args.rate) + 5] if t - s < 1.0) for i, s in enumerate(times))
        print(f"send rate with {args.workers} workers x {config.batch_sends} sends in flight (BATCH_SENDS), Twilio "
              f"answering in {args.latency * 1000:.0f} ms, SEND_MARGIN_MS {config.send_margin_ms:g}: {achieved:.1f} messages/s "
              f"against {args.rate:g} configured ({100 * achieved / args.rate:.0f}%, target >= 95%); "
              f"most in any one-second window: {worst} (never above {args.rate:g})")
        print(f"  per second: {[per_second[k] for k in sorted(per_second)][:12]} ...")
        r.close()
        server.stop()


if __name__ == "__main__":
    main()
