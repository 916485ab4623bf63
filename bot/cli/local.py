"""Running the bot on a laptop: `derechos dev` (web, worker and embedded Redis in one command) and
`derechos chat` (a terminal phone)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import click

from ..config import Config
from . import Context, main, pass_ctx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        from ..embedded import EmbeddedRedis
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
    from ..chat import run_chat
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
