"""Commands for operators: the Procfile's processes, queues, the outbox and the configuration."""
from __future__ import annotations

import os
import sys
import time

import click

from . import Context, main, pass_ctx


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 5000)), show_default="$PORT or 5000",
              help="Port to listen on.")
@pass_ctx
def web(ctx: Context, host: str, port: int):
    """Serve the webhooks with gunicorn (what the Procfile runs; WEB_CONCURRENCY processes).

    \b
    Example:
      derechos web --host 0.0.0.0 --port 8000
    """
    ctx.config  # validate before starting anything
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--config", "python:bot.gunicorn_conf",
                               "--bind", f"{host}:{port}", "bot.web:create_app()"])


@main.command()
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
@click.option("--name", default=None, help="The worker's name in RQ (default: one RQ makes up).")
@click.option("--no-notes", is_flag=True, hidden=True, help="Do not list the development defaults (dev does).")
@pass_ctx
def worker(ctx: Context, burst: bool, name: str | None, no_notes: bool):
    """Run an RQ worker for the replies then broadcasts queues, with the scheduler.

    \b
    Example:
      derechos worker --burst
    """
    from rq.serializers import JSONSerializer

    from ..jobs import BROADCASTS, REPLIES, make_queue
    from ..worker import GracefulWorker, warm_up
    warm_up()
    runtime = ctx.runtime
    connection = runtime.redis
    if runtime.embedded is not None:
        os.environ.setdefault("REDIS_URL", runtime.embedded.url)   # jobs build their clients from the env
    queues = [make_queue(REPLIES, connection), make_queue(BROADCASTS, connection)]
    notes = [] if no_notes else runtime.describe_defaults()
    if notes:
        click.echo("development defaults in use: " + "; ".join(notes), err=True)
    # Replies first (queue order); a job whose worker died is picked up again within a minute.
    GracefulWorker(queues, connection=connection, serializer=JSONSerializer, name=name).work(
        burst=burst, with_scheduler=True, logging_level=os.environ.get("LOG_LEVEL", "INFO"))



@main.command()
@click.option("--burst", is_flag=True, help="Handle what is waiting, then quit.")
@click.option("--threads", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Consumers in this process (one keeps each person's messages in order).")
@pass_ctx
def intake(ctx: Context, burst: bool, threads: int):
    """Handle the messages the webhook handed over (what the Procfile's `intake:` runs).

    While one runs, the webhook answers Twilio at once and leaves the conversation to it; without
    one, the webhook handles each message itself. A STOP or delete request is handed over too, with
    a hold that silences the person from the webhook's answer until this carries it out.

    \b
    Example:
      derechos intake --threads 2
    """
    import signal
    import threading

    from ..intake import Consumer, drain
    runtime = ctx.runtime
    runtime.content.get()        # load and train before saying we are alive
    if burst:
        click.echo(f"handled {drain(runtime)} message(s)")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())     # the messages in hand are finished first
    consumers = [threading.Thread(target=Consumer(runtime).run, args=(stop,), name=f"intake-{i}")
                 for i in range(threads)]
    for thread in consumers:
        thread.start()
    click.echo(f"intake: {threads} consumer(s) running", err=True)
    while any(t.is_alive() for t in consumers):
        for thread in consumers:
            thread.join(timeout=0.5)
    runtime.close()


@main.command()
@click.option("--last", type=int, default=20, show_default=True, help="How many messages to show.")
@pass_ctx
def outbox(ctx: Context, last: int):
    """Messages the dry-run sender kept instead of sending (numbers are never shown), and the ones
    held back (hourly ceiling, opted out).

    \b
    Example:
      derechos outbox --last 5
    """
    from .. import sms
    entries = ctx.runtime.store.outbox.entries(last=last, held=True)
    if not entries:
        click.echo("the outbox is empty")
    for entry in entries:
        when = time.strftime("%H:%M:%S", time.localtime(entry.at))
        info = sms.segment_info(entry.body)
        held = f"; held back, not sent: {entry.held}" if entry.held else ""
        click.echo(f"--- {when} to #{entry.ref[:8]} via {entry.channel} "
                   f"({info.segments} segment(s) {info.encoding}{held})")
        click.echo(entry.body)
        if entry.media_url:
            click.echo(f"[media: {entry.media_url}]")


@main.command()
@click.argument("action", type=click.Choice(["status", "failed", "requeue"]), default="status")
@click.option("--all", "requeue_all", is_flag=True, help="With requeue: every failed job.")
@click.argument("job_ids", nargs=-1)
@pass_ctx
def queue(ctx: Context, action: str, requeue_all: bool, job_ids: tuple[str, ...]):
    """Queue depths (status), failed jobs with their reason (failed: the dead letters), and putting
    failed jobs back on their queue (requeue JOB_ID ... or --all).

    \b
    Example:
      derechos queue failed
    """
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from ..jobs import BROADCASTS, REPLIES, make_queue
    from ..privacy import redact
    connection = ctx.runtime.redis
    queues = [make_queue(REPLIES, connection), make_queue(BROADCASTS, connection)]
    if action == "status":
        for q in queues:
            click.echo(f"{q.name:<11} queued {q.count:>6}  started {q.started_job_registry.count:>4}  "
                       f"scheduled {q.scheduled_job_registry.count:>4}  failed {q.failed_job_registry.count:>4}")
        return
    for q in queues:
        registry = q.failed_job_registry
        ids = registry.get_job_ids()
        if action == "failed":
            for job_id in ids:
                job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
                result = job.latest_result()
                reason = (result.exc_string or "").strip().splitlines()[-1:] if result else []
                click.echo(f"{q.name} {job_id} {redact(reason[0]) if reason else '(no reason)'}")
        else:
            chosen = ids if requeue_all else [i for i in ids if i in job_ids]
            for job_id in chosen:
                registry.requeue(job_id)
                click.echo(f"requeued {job_id}")
    if action == "requeue" and not requeue_all and not job_ids:
        raise click.UsageError("name job ids to requeue, or --all")


SECRETS = {"twilio_auth_token", "admin_token", "data_key"}
# What an unset variable means (README's configuration table says the same).
UNSET_MEANS = {
    "redis_url": "embedded Redis in {instance}/redis",
    "twilio_account_sid": "dry-run, replies go to the outbox",
    "twilio_api_url": "https://api.twilio.com",
    "public_url": "the request URL as seen through the proxy",
    "admin_token": "the organizer API refuses every request",
    "data_key": "development key in {instance}/data.key",
    "send_rate_whatsapp": "shares SEND_RATE",
}
PROCESS_VARIABLES = (("PORT", "5000"), ("WEB_CONCURRENCY", "2"), ("WEB_THREADS", "4"), ("LOG_LEVEL", "INFO"))


def config_rows(config, env: dict[str, str]) -> list[dict]:
    """Every setting in use: its variable, the value (secrets as set / not set) and where it came from."""
    from dataclasses import fields
    rows = []
    for f in fields(config):
        if f.name == "settings":
            continue
        variable, value = f.name.upper(), getattr(config, f.name)
        source = "environment" if (env.get(variable) or "").strip() else "default"
        if f.name in SECRETS:
            shown = "set" if value else "not set"
        elif value is None:
            shown = "not set"
        elif isinstance(value, bool):
            shown = "on" if value else "off"
        else:
            shown = str(value)
        if value is None and f.name in UNSET_MEANS:
            shown += ": " + UNSET_MEANS[f.name].format(instance=config.instance_dir)
        rows.append({"variable": variable, "value": shown, "source": source})
    for variable, default in PROCESS_VARIABLES:
        given = (env.get(variable) or "").strip()
        rows.append({"variable": variable, "value": given or default, "source": "environment" if given else "default"})
    return rows


def setting_rows(config, env: dict[str, str]) -> list[dict]:
    """The content placeholders in use, per language where they differ, each with its source:
    content/settings.yml or the DERECHOS_ variable that overrides it."""
    from ..catalog import _Reader, read_settings
    root = config.content_dir
    from_file = read_settings(_Reader(root), root, {})
    in_use = read_settings(_Reader(root), root, config.settings)
    file_name = f"{root.name}/settings.yml"
    rows = []
    for name, value in in_use.items():
        base = from_file.get(name)
        if isinstance(value, dict):
            for lang, text in value.items():
                own = base.get(lang) if isinstance(base, dict) else (base if lang == "es" else None)
                variable = f"DERECHOS_{name.upper()}_{lang.upper()}"
                if not (env.get(variable) or "").strip():
                    variable = f"DERECHOS_{name.upper()}"
                rows.append({"setting": name, "lang": lang, "value": text,
                             "source": file_name if text == own and not (env.get(variable) or "").strip()
                             else variable})
        else:
            variable = f"DERECHOS_{name.upper()}"
            rows.append({"setting": name, "lang": "", "value": value,
                         "source": variable if (env.get(variable) or "").strip() else file_name})
    return rows


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_ctx
def show_config(ctx: Context, as_json: bool):
    """Print the configuration in use and where each value came from (the environment, a default, or
    content/settings.yml for the placeholders); secrets show only as set / not set.

    \b
    Example:
      derechos config
    """
    import json
    env = dict(os.environ)
    config = ctx.config
    rows, settings = config_rows(config, env), setting_rows(config, env)
    known = {f"DERECHOS_{row['setting'].upper()}" for row in settings} | {
        f"DERECHOS_{row['setting'].upper()}_{row['lang'].upper()}" for row in settings if row["lang"]}
    ignored = sorted(name for name, value in env.items() if name.startswith("DERECHOS_") and value.strip()
                     and name not in known and name != "DERECHOS_ORGANIZER")
    if as_json:
        click.echo(json.dumps({"environment": rows, "settings": settings, "ignored": ignored}, ensure_ascii=False))
        return
    click.echo("Environment (README, Configuration):")
    for row in rows:
        click.echo(f"  {row['variable']:<30} {row['source']:<12} {row['value']}")
    organizer = (env.get("DERECHOS_ORGANIZER") or "").strip()
    click.echo(f"  {'DERECHOS_ORGANIZER':<30} {'environment' if organizer else 'default':<12} "
               f"{organizer or 'not set: your login name (the audit trail)'}")
    click.echo("Content settings (the {placeholders}; DERECHOS_<NAME> or DERECHOS_<NAME>_<LANG> overrides):")
    for row in settings:
        note = "  (a placeholder: set it before going live)" if row["value"].startswith("<") else ""
        click.echo(f"  {row['setting']:<22} {row['lang']:<7} {row['source']:<26} {row['value']}{note}")
    for name in ignored:
        click.echo(f"  {name} is set but is no setting in content/settings.yml: ignored", err=True)
