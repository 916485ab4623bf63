"""The `derechos` command: run the bot locally, chat with it, and the tools editors and organizers use.

One Click group with a context object; resources (Redis, content) open only when a command needs them.
User mistakes become one-line messages, never tracebacks.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from .config import Config
from .errors import ConfigError, ContentError


class Context:
    """Lazily built configuration and runtime for one command."""

    def __init__(self):
        self._config = None
        self._runtime = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = Config.from_env()
            except ConfigError as exc:
                raise click.ClickException(f"configuration: {exc}") from None
        return self._config

    @property
    def runtime(self):
        if self._runtime is None:
            from .runtime import Runtime
            self._runtime = Runtime(self.config)
        return self._runtime

    def content(self):
        try:
            return self.runtime.content.get()
        except ContentError as exc:
            raise click.ClickException("content has errors:\n" + "\n".join(str(p) for p in exc.problems)) from None


pass_ctx = click.make_pass_decorator(Context, ensure=True)


@click.group()
@click.pass_context
def main(ctx):
    """Derechos: a multilingual SMS and WhatsApp bot that tells migrants their rights."""
    ctx.obj = Context()
    from .runtime import configure_logging
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING"))


# --- understanding -------------------------------------------------------------------------------

@main.command()
@click.argument("text", required=False)
@pass_ctx
def match(ctx: Context, text: str | None):
    """Show how a message is understood (one JSON object; with no TEXT, one per stdin line)."""
    content = ctx.content()
    lines = [text] if text is not None else (line.rstrip("\n") for line in sys.stdin)
    for line in lines:
        result = content.matcher.match(line)
        out = {"text": line, "intent": result.intent,
               "lang": content.catalog.resolve_lang(result.language if result.intent == "language"
                                                    else result.lang)}
        out.update(result.explain())
        click.echo(json.dumps(out, ensure_ascii=False))


@main.command()
@click.argument("text", required=False)
@click.option("--each-line", is_flag=True, help="Treat each stdin line as one message; one JSON object per line.")
@click.option("--no-fold", is_flag=True, help="Show the SMS policy off (no folding to GSM-7).")
def segments(text: str | None, each_line: bool, no_fold: bool):
    """SMS encoding (GSM-7 or UCS-2) and segment count, as sent and after the SMS encoding policy."""
    from . import sms

    def describe(message: str) -> dict:
        raw = sms.segment_info(message)
        policy = sms.segment_info(sms.render(message, "sms", fold=not no_fold))
        return {"text": message, "encoding": raw.encoding, "segments": raw.segments, "characters": raw.characters,
                "units": raw.units, "policy": {"encoding": policy.encoding, "segments": policy.segments,
                                               "characters": policy.characters, "units": policy.units}}

    if each_line:
        for line in sys.stdin:
            click.echo(json.dumps(describe(line.rstrip("\n")), ensure_ascii=False))
        return
    message = text if text is not None else sys.stdin.read().rstrip("\n")
    info = describe(message)
    click.echo(f"as sent: {info['encoding']}, {info['segments']} segment(s), {info['characters']} characters")
    p = info["policy"]
    click.echo(f"after SMS policy: {p['encoding']}, {p['segments']} segment(s), {p['characters']} characters")


# --- content -------------------------------------------------------------------------------------

@main.group()
def content():
    """Check, preview and translate the content files."""


@content.command("check")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Content folder.")
@pass_ctx
def content_check(ctx: Context, directory: Path | None):
    """Validate the whole content tree; report every problem with file and line."""
    from .catalog import check_content
    root = directory or ctx.config.content_dir
    problems = check_content(root, ctx.config.settings)
    for problem in problems:
        click.echo(str(problem), err=problem.severity == "error")
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        raise click.ClickException(f"{errors} error(s), {warnings} warning(s) in {root}")
    click.echo(f"content OK: {root} ({warnings} warning(s))")


@content.command("stats")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def content_stats(ctx: Context, as_json: bool):
    """Coverage per language: topics with reviewed text, with audio, falling back to Spanish."""
    from .catalog import coverage
    rows = coverage(ctx.content().catalog)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'lang':<10} {'name':<16} {'reviewed':>8} {'audio':>6} {'fallback':>8}  coverage")
    for row in rows:
        pct = 100 * row["reviewed"] / row["topics"] if row["topics"] else 0
        click.echo(f"{row['lang']:<10} {row['name'][:16]:<16} {row['reviewed']:>8} {row['audio']:>6} "
                   f"{row['fallback']:>8}  {pct:5.1f}%")


@content.command("preview")
@click.argument("topic")
@click.option("--lang", default="es", show_default=True)
@click.option("--channel", type=click.Choice(["sms", "whatsapp"]), default="sms", show_default=True)
@click.option("--all-pages", is_flag=True, help="Show every page, not just the first reply.")
@pass_ctx
def content_preview(ctx: Context, topic: str, lang: str, channel: str, all_pages: bool):
    """Exactly what the phone will show, with segment count and encoding."""
    from . import conversation, sms
    from .conversation import State
    from .messages import InboundMessage
    loaded = ctx.content()
    catalog = loaded.catalog
    if lang not in catalog.languages:
        raise click.BadParameter(f"unknown language '{lang}' (known: {', '.join(sorted(catalog.languages))})",
                                 param_hint="--lang")
    if topic not in catalog.topic_ids and topic not in ("menu", "help", "stop", "start"):
        raise click.BadParameter(f"unknown topic '{topic}' (known: {', '.join(catalog.topic_ids)})",
                                 param_hint="TOPIC")
    state = State(lang=lang, lang_chosen=True)
    if topic in catalog.topic_ids:
        number = catalog.topic_ids.index(topic) + 1
        bodies = [str(number)]
        if all_pages:
            bodies += ["mas"] * (len(catalog.answer(topic, lang).topic.pages) - 1)
    else:
        bodies = [topic]
    for i, body in enumerate(bodies):
        inbound = InboundMessage(channel=channel, sender="+10000000000", body=body, message_sid=f"SMpreview{i}")
        outcome = conversation.handle(inbound, state, catalog, loaded.matcher)
        state = outcome.state
        for reply in outcome.replies:
            shown = sms.render(reply.body, channel, fold=ctx.config.sms_fold)
            info = sms.segment_info(shown)
            header = f"[{channel} · {lang}"
            header += f" · {info.encoding} · {info.segments} segment(s) · {info.characters} chars]" if channel == "sms" \
                else f" · {info.characters} chars]"
            click.echo(header)
            click.echo(shown)
            if reply.media_url:
                click.echo(f"[media: {reply.media_url}]")
            click.echo()


@content.command("export-po")
@click.argument("lang")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout).")
@pass_ctx
def content_export_po(ctx: Context, lang: str, output: Path | None):
    """Write a Gettext catalog for translators (source: Spanish; context: topic and field)."""
    from .po import export_po
    catalog = ctx.content().catalog
    if lang not in catalog.languages or lang == "es":
        raise click.BadParameter(f"choose a target language other than es (known: {', '.join(sorted(catalog.languages))})")
    data = export_po(catalog, lang, ctx.config.content_dir)
    if output:
        output.write_bytes(data)
        click.echo(f"wrote {output}")
    else:
        click.echo(data.decode("utf-8"), nl=False)


@content.command("import-po")
@click.argument("po_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(["reviewed", "draft"]), default=None,
              help="Status for the topic files written (default: reviewed for es/en, draft for Indigenous languages).")
@pass_ctx
def content_import_po(ctx: Context, po_file: Path, status: str | None):
    """Write a translator's catalog back into the content files; fuzzy and untranslated entries are reported."""
    from .po import import_po
    try:
        report = import_po(ctx.config.content_dir, po_file, status=status)
    except ContentError as exc:
        raise click.ClickException("\n".join(str(p) for p in exc.problems)) from None
    for line in report.lines():
        click.echo(line)


# --- running -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
@click.option("--name", default=None)
@pass_ctx
def worker(ctx: Context, burst: bool, name: str | None):
    """Run an RQ worker for the replies then broadcasts queues, with the scheduler."""
    from rq.serializers import JSONSerializer

    from .jobs import BROADCASTS, REPLIES, make_queue
    from .worker import GracefulWorker
    runtime = ctx.runtime
    connection = runtime.redis
    if runtime.embedded is not None:
        os.environ.setdefault("REDIS_URL", runtime.embedded.url)   # jobs build their clients from the env
    queues = [make_queue(REPLIES, connection), make_queue(BROADCASTS, connection)]
    notes = runtime.describe_defaults()
    if notes:
        click.echo("development defaults in use: " + "; ".join(notes), err=True)
    # Replies first (queue order); abandoned jobs are looked for every minute, not every ten.
    GracefulWorker(queues, connection=connection, serializer=JSONSerializer, name=name,
                   maintenance_interval=60).work(burst=burst, with_scheduler=True,
                                                 logging_level=os.environ.get("LOG_LEVEL", "INFO"))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 5000)), show_default="$PORT or 5000")
@pass_ctx
def dev(ctx: Context, host: str, port: int):
    """Run web, worker and (without REDIS_URL) an embedded Redis in one command."""
    stack = DevStack(ctx.config, host, port)
    stack.start()
    click.echo(f"Derechos is running at {stack.url}  (webhook: {stack.url}/twilio/messages)")
    for note in stack.notes:
        click.echo(f"  - {note}")
    click.echo("Chat with it in another terminal: derechos chat --url " + stack.url)
    click.echo("Stop with Ctrl-C.")
    stopping = []

    def stop(*_):
        stopping.append(True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping and stack.running():
            time.sleep(0.2)
    finally:
        stack.stop()
    click.echo("stopped")


class DevStack:
    """Web and worker as child processes sharing one embedded Redis; stops all it started."""

    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 5000):
        self.config, self.host, self.port = config, host, port
        self.children: list[subprocess.Popen] = []
        self.embedded = None
        self.notes: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        from .embedded import EmbeddedRedis
        env = dict(os.environ)
        if self.config.redis_url is None:
            self.embedded = EmbeddedRedis(self.config.instance_dir)
            env["REDIS_URL"] = self.embedded.ensure()
            self.notes.append(f"embedded Redis (append-only) in {self.embedded.dir}")
        if self.config.dry_run:
            self.notes.append("dry-run: replies go to the outbox (derechos outbox), not to Twilio")
        env.setdefault("INSTANCE_DIR", str(self.config.instance_dir))
        env.setdefault("LOG_LEVEL", "WARNING")
        python = sys.executable
        self.children.append(subprocess.Popen(
            [python, "-m", "gunicorn", "--config", "python:bot.gunicorn_conf", "--bind", f"{self.host}:{self.port}",
             "--workers", "1", "--threads", "4", "bot.web:create_app()"], env=env))
        self.children.append(subprocess.Popen([python, "-m", "bot.cli", "worker"], env=env))
        try:
            self._wait_healthy(timeout)
        except BaseException:   # Ctrl-C during start-up too: leave nothing running
            self.stop()
            raise

    def _wait_healthy(self, timeout: float) -> None:
        import urllib.request
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise click.ClickException("the web or worker process stopped during start-up (see above)")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise click.ClickException(f"the web server did not answer on {self.url} within {timeout:.0f} s")

    def running(self) -> bool:
        return all(child.poll() is None for child in self.children)

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()
        if self.embedded is not None and self.embedded.started_here:
            self.embedded.stop()


@main.command()
@click.option("--url", default=None, help="A running bot (default: start one like `derechos dev`).")
@click.option("--whatsapp", is_flag=True, help="Write as a WhatsApp user instead of SMS.")
@click.option("--number", default="+15550100", show_default=True, help="The phone number you pretend to be.")
@pass_ctx
def chat(ctx: Context, url: str | None, whatsapp: bool, number: str):
    """Chat with the bot through the real path: signed webhook, queue, worker, outbox."""
    from .chat import run_chat
    config = ctx.config
    if not config.dry_run:
        raise click.ClickException("chat reads the dry-run outbox: unset TWILIO_ACCOUNT_SID to use it")
    stack = None
    if url is None:
        stack = DevStack(config, port=free_port())
        stack.start()
        url = stack.url
        click.echo(f"(started a local bot at {url})")
    try:
        run_chat(ctx.runtime, url.rstrip("/"), ("whatsapp:" + number) if whatsapp else number)
    finally:
        if stack:
            stack.stop()


# --- operations ----------------------------------------------------------------------------------

@main.command()
@click.option("--last", type=int, default=20, show_default=True)
@pass_ctx
def outbox(ctx: Context, last: int):
    """Messages the dry-run sender kept instead of sending (numbers are never shown)."""
    from . import sms
    entries = ctx.runtime.store.outbox(last=last)
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

    from .jobs import BROADCASTS, REPLIES, make_queue
    from .privacy import redact
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


# --- organizers ----------------------------------------------------------------------------------

def _who() -> str:
    return os.environ.get("DERECHOS_ORGANIZER") or os.environ.get("USER") or "cli"


@main.group()
def broadcast():
    """Alerts to subscribers: create, preview, send, schedule, status, cancel."""


@broadcast.command("create")
@click.option("--text", "texts", multiple=True, required=True, metavar="LANG=TEXT",
              help="The alert in one language (es is required; others fall back to it). Repeat per language.")
@click.option("--lang", "langs", multiple=True, help="Audience: only these languages.")
@click.option("--channel", "channels", multiple=True, type=click.Choice(["sms", "whatsapp"]))
@click.option("--tag", "tags", multiple=True, help="Audience: only subscribers with every one of these tags.")
@click.option("--audio", "audio", multiple=True, metavar="LANG=URL", help="An https audio URL for a language.")
@click.option("--when", help="The date the alert names as {date}/{time}: YYYY-MM-DD or YYYY-MM-DD HH:MM.")
@click.option("--tz", "tz", default="America/Chicago", show_default=True)
@click.option("--template", help="WhatsApp template Content SID (HX...) for people outside the 24 h window.")
@click.option("--var", "variables", multiple=True, metavar="N=VALUE", help="Template variable.")
@pass_ctx
def broadcast_create(ctx, texts, langs, channels, tags, audio, when, tz, template, variables):
    """Create a draft alert and print its id."""
    from . import organizer
    from .broadcast import BroadcastError
    data = {"texts": _pairs(texts, "--text"), "audio": _pairs(audio, "--audio"),
            "audience": {"langs": list(langs), "channels": list(channels), "tags": list(tags)},
            "when": when, "timezone": tz, "template_sid": template, "template_variables": _pairs(variables, "--var")}
    try:
        created = organizer.new_broadcast(ctx.runtime.store, ctx.content().catalog, data, _who())
    except BroadcastError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(created.id)


def _pairs(values, option: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint=option)
        out[key.strip()] = text
    return out


def _organizer_call(fn, *args):
    from . import organizer
    from .broadcast import BroadcastError
    try:
        return fn(*args)
    except (BroadcastError, organizer.NotFound) as exc:
        raise click.ClickException(str(exc)) from None


@broadcast.command("preview")
@click.argument("broadcast_id")
@pass_ctx
def broadcast_preview(ctx, broadcast_id):
    """Audience per language and channel, segments per message, estimated segments (cost)."""
    from . import organizer
    from .broadcast import text_for
    the_plan = _organizer_call(organizer.preview, ctx.runtime.store, ctx.content().catalog, ctx.config, broadcast_id)
    for line in the_plan.lines():
        click.echo(line)
    alert = organizer.load(ctx.runtime.store, broadcast_id)
    for lang in sorted({row.lang for row in the_plan.rows}):
        text, used = text_for(alert, lang)
        click.echo(f"\n[{lang}{' (falls back to ' + used + ')' if used != lang else ''}]\n{text}")


@broadcast.command("send")
@click.argument("broadcast_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, help="Start it and return; follow with `derechos broadcast status`.")
@pass_ctx
def broadcast_send(ctx, broadcast_id, yes, no_wait):
    """Send now (after showing the audience and cost), with a progress bar."""
    from . import organizer
    store, catalog = ctx.runtime.store, ctx.content().catalog
    the_plan = _organizer_call(organizer.preview, store, catalog, ctx.config, broadcast_id)
    for line in the_plan.lines():
        click.echo(line)
    if not yes:
        click.confirm(f"Send to {the_plan.recipients} people ({the_plan.segments} segments)?", abort=True)
    _organizer_call(organizer.send, store, catalog, ctx.config, broadcast_id, _who())
    if no_wait:
        click.echo(f"sending {broadcast_id}")
        return
    _follow(store, broadcast_id, the_plan.recipients)


def _follow(store, broadcast_id: str, total: int) -> None:
    from . import organizer
    done_fields = ("sent", "queued", "accepted", "delivered", "undelivered", "failed", "read", "skipped_opted_out",
                   "skipped_unsubscribed", "skipped_outside_window", "skipped_duplicate")
    with click.progressbar(length=max(total, 1), label=f"broadcast {broadcast_id}") as bar:
        shown = 0
        while True:
            report = organizer.status(store, broadcast_id)
            figures = report["figures"]
            handled = sum(figures.get(k, 0) for k in done_fields) + sum(
                v for k, v in figures.items() if k.startswith("failed_at_send"))
            bar.update(max(0, min(handled, total) - shown))
            shown = max(shown, min(handled, total))
            if report["status"] in ("sent", "cancelled") or handled >= total:
                break
            time.sleep(0.5)
    click.echo(json.dumps(organizer.status(store, broadcast_id), ensure_ascii=False))


@broadcast.command("schedule")
@click.argument("broadcast_id")
@click.option("--at", required=True, help="Local date and time: YYYY-MM-DD HH:MM.")
@click.option("--tz", default=None, help="Time zone (default: the alert's).")
@pass_ctx
def broadcast_schedule(ctx, broadcast_id, at, tz):
    """Send later; the worker's scheduler starts it."""
    from . import organizer
    when = _organizer_call(organizer.schedule, ctx.runtime.store, ctx.content().catalog, ctx.config, broadcast_id,
                           at, tz, _who())
    click.echo(f"scheduled {broadcast_id} for {when.isoformat()}")


@broadcast.command("status")
@click.argument("broadcast_id", required=False)
@pass_ctx
def broadcast_status(ctx, broadcast_id):
    """Delivery figures of one broadcast, or the last ones."""
    from . import organizer
    store = ctx.runtime.store
    ids = [broadcast_id] if broadcast_id else store.broadcast_ids()
    for one in ids:
        click.echo(json.dumps(_organizer_call(organizer.status, store, one), ensure_ascii=False))


@broadcast.command("cancel")
@click.argument("broadcast_id")
@pass_ctx
def broadcast_cancel(ctx, broadcast_id):
    """Stop the rest of a broadcast within seconds."""
    from . import organizer
    click.echo(json.dumps(_organizer_call(organizer.cancel, ctx.runtime.store, broadcast_id, _who())))


@main.group()
def subscribers():
    """Import, count and forget subscribers."""


@subscribers.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--lang", default="es", show_default=True, help="Language for rows that name none.")
@click.option("--region", default="US", show_default=True, help="Country for numbers written without +.")
@click.option("--tag", "tags", multiple=True, help="A tag for every row.")
@click.option("--strict", is_flag=True, help="Import nothing if any row is rejected.")
@pass_ctx
def subscribers_import(ctx, csv_file, lang, region, tags, strict):
    """Validate every row first (E.164, language, tags), then store them all in one transaction."""
    from . import organizer
    from .importer import CsvFormatError, read_subscribers_csv
    languages = set(ctx.content().catalog.languages)
    with click.progressbar(length=0, label="reading", show_pos=True) as bar:
        def progress(n):
            bar.update(n - bar.pos)
        try:
            result = read_subscribers_csv(csv_file, languages, default_lang=lang, default_region=region,
                                          extra_tags=tags, progress=progress)
        except (CsvFormatError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    for rejected in result.rejected:
        click.echo(f"line {rejected.line}: {rejected.field}: {rejected.reason}", err=True)
    click.echo(result.summary())
    if strict and result.rejected:
        raise click.ClickException("nothing imported (--strict): fix the rows above")
    written = organizer.import_subscribers(ctx.runtime.store, result, _who())
    click.echo(f"imported {written} subscribers")


@subscribers.command("count")
@click.option("--lang", "langs", multiple=True)
@click.option("--channel", "channels", multiple=True, type=click.Choice(["sms", "whatsapp"]))
@click.option("--tag", "tags", multiple=True)
@pass_ctx
def subscribers_count(ctx, langs, channels, tags):
    """How many subscribed people an audience has."""
    click.echo(ctx.runtime.store.count_subscribers(langs, channels, [t.lower() for t in tags]))


@subscribers.command("forget")
@click.argument("number")
@pass_ctx
def subscribers_forget(ctx, number):
    """Delete everything stored about one person (state, subscription, hand-offs, delivery records)."""
    from .importer import parse_number
    e164, reason, _ = parse_number(number, "US")
    if e164 is None:
        raise click.BadParameter(reason or "not a phone number", param_hint="NUMBER")
    store = ctx.runtime.store
    removed = store.forget(store.ref(e164))
    store.audit(_who(), "subscribers.forget", records=removed)
    click.echo(f"forgotten: {removed} record(s) deleted")


@main.group()
def handoff():
    """Requests to talk to a person or an interpreter."""


@handoff.command("list")
@click.option("--status", type=click.Choice(["open", "taken", "closed"]), default="open", show_default=True)
@pass_ctx
def handoff_list(ctx, status):
    for item in ctx.runtime.store.handoffs(status=status):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(int(item["opened_at"])))
        click.echo(f"{item['id']}  {when}  {item['kind']:<11} {item['lang']:<9} {item.get('topic') or '-':<15} "
                   f"{item.get('region') or ''}")


@handoff.command("take")
@click.argument("handoff_id")
@pass_ctx
def handoff_take(ctx, handoff_id):
    """Take a request: prints the number to answer (keep it out of notes and chats)."""
    store = ctx.runtime.store
    number = store.update_handoff(handoff_id, "taken", _who())
    if number is None:
        raise click.ClickException(f"no hand-off '{handoff_id}'")
    store.audit(_who(), "handoff.take", handoff=handoff_id)
    click.echo(number)


@handoff.command("close")
@click.argument("handoff_id")
@pass_ctx
def handoff_close(ctx, handoff_id):
    store = ctx.runtime.store
    if store.update_handoff(handoff_id, "closed", _who()) is None:
        raise click.ClickException(f"no hand-off '{handoff_id}'")
    store.audit(_who(), "handoff.close", handoff=handoff_id)
    click.echo(f"closed {handoff_id}")


if __name__ == "__main__":  # `python -m bot.cli` (used by derechos dev for its children)
    main()
