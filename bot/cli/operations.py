"""Commands for operators: the Procfile's processes, queues, the outbox and the configuration."""
from __future__ import annotations

import os
import sys
import time

import click

from . import Context, main, pass_ctx


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 5000)), show_default="$PORT or 5000")
@pass_ctx
def web(ctx: Context, host: str, port: int):
    """Serve the webhooks with gunicorn (what the Procfile runs)."""
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
    from ..worker import GracefulWorker
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
@click.option("--last", type=int, default=20, show_default=True)
@pass_ctx
def outbox(ctx: Context, last: int):
    """Messages the dry-run sender kept instead of sending (numbers are never shown)."""
    from .. import sms
    entries = ctx.runtime.store.outbox.entries(last=last)
    if not entries:
        click.echo("the outbox is empty")
    for entry in entries:
        when = time.strftime("%H:%M:%S", time.localtime(entry.at))
        info = sms.segment_info(entry.body)
        click.echo(f"--- {when} to #{entry.ref[:8]} via {entry.channel} "
                   f"({info.segments} segment(s) {info.encoding})")
        click.echo(entry.body)
        if entry.media_url:
            click.echo(f"[media: {entry.media_url}]")


@main.command()
@click.argument("action", type=click.Choice(["status", "failed", "requeue"]), default="status")
@click.option("--all", "requeue_all", is_flag=True, help="With requeue: every failed job.")
@click.argument("job_ids", nargs=-1)
@pass_ctx
def queue(ctx: Context, action: str, requeue_all: bool, job_ids: tuple[str, ...]):
    """Queue depths, failed jobs (the dead letters) and requeueing them."""
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


@main.command("config")
@pass_ctx
def show_config(ctx: Context):
    """Print the configuration in use (secrets shown as set/unset)."""
    for name, value in ctx.config.public().items():
        click.echo(f"{name} = {value}")
