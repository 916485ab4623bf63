"""Running the bot on a laptop: `derechos dev` (web, worker and embedded Redis in one command) and
`derechos chat` (a terminal phone)."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from ..config import Config
from . import Context, main, pass_ctx


# A North American number reserved for fiction (NPA 555-0100 to 0199): the importer and `subscribers
# forget` accept it in dry-run, so what a developer does in the chat can be imported or forgotten.
CHAT_NUMBER = "+13125550100"     # the fictional number `chat` and `call` pretend to write or call from


def _answers(url: str) -> None:
    """A one-line error when no bot answers at `url` (not a traceback at the first message)."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5):
            return
    except urllib.error.HTTPError:
        return          # something answers: the webhook will say more
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"no bot answers at {url} ({getattr(exc, 'reason', exc)}): start one with "
                                   f"`{command_path()} dev` in another terminal, or leave out --url") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web server listens on.")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 5000)), show_default="$PORT or 5000",
              help="Port the web server listens on.")
@pass_ctx
def dev(ctx: Context, host: str, port: int):
    """Run web, worker and (without REDIS_URL) an embedded Redis in one command; Ctrl-C stops them all.

    \b
    Example:
      derechos dev --port 5001
    """
    stack = DevStack(ctx.config, host, port)
    stack.start()
    click.echo(f"Derechos is running at {stack.url}  (webhook: {stack.url}/twilio/messages)")
    for note in stack.notes:
        click.echo(f"  - {note}")
    click.echo(f"Chat with it in another terminal: {command_path()} chat --url {stack.url}")
    click.echo("Stop with Ctrl-C.")
    stopping = []

    def stop(*_):
        if stopping:
            stack.hurry = True          # a second Ctrl-C: do not wait for the grace period
        stopping.append(True)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        while not stopping and stack.running():
            time.sleep(0.2)
    finally:
        killed = stack.stop()
    click.echo("stopped" + (f" (killed: {' and '.join(killed)} did not stop within {stack.grace:.0f} s)"
                            if killed else ""))


def command_path() -> str:
    """How to run `derechos` from where the user is: the bare name when the shell finds this very
    script, else its path (relative when under the current folder, as README writes .venv/bin/derechos)."""
    script = Path(sys.executable).with_name("derechos")
    if not script.exists():
        return f"{sys.executable} -m bot.cli"
    found = shutil.which("derechos")
    if found and Path(found).resolve() == script.resolve():
        return "derechos"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as gunicorn binds: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: the child gets SIGTERM if `derechos dev` itself dies (SIGKILL, a closed terminal)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class DevStack:
    """Web and worker as child processes sharing one embedded Redis; stops all it started.

    Each child leads its own process group, so Ctrl-C reaches only `derechos dev`, which stops the
    children in order: SIGTERM to each whole group (gunicorn's workers, RQ's work horse), then after
    `grace` seconds SIGKILL to whatever is left of the groups, so no process survives to hold the port.
    """

    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 5000, grace: float = 5.0):
        self.config, self.host, self.port, self.grace = config, host, port, grace
        self.children: list[subprocess.Popen] = []
        self.names: list[str] = []
        self.embedded = None
        self.notes: list[str] = []
        self.hurry = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        from ..embedded import EmbeddedRedis
        if port_in_use(self.host, self.port):
            raise click.ClickException(f"port {self.port} on {self.host} is in use (another `derechos dev` still "
                                       f"running?): stop it, or choose another with --port {self.port + 1}")
        env = dict(os.environ)
        if self.config.redis_url is None:
            self.embedded = EmbeddedRedis(self.config.instance_dir)
            env["REDIS_URL"] = self.embedded.ensure()
            self.notes.append(f"embedded Redis (append-only) in {self.embedded.dir}")
        if self.config.dry_run:
            self.notes.append(f"dry-run: replies go to the outbox ({command_path()} outbox), not to Twilio")
        env.setdefault("INSTANCE_DIR", str(self.config.instance_dir))
        env.setdefault("LOG_LEVEL", "WARNING")
        python = sys.executable
        try:
            # The data key before the children: both would create it at once otherwise.
            from ..privacy import load_or_create_dev_key
            if self.config.data_key is None:
                load_or_create_dev_key(self.config.instance_dir)
            self.spawn("web", [python, "-m", "gunicorn", "--config", "python:bot.gunicorn_conf", "--bind",
                        f"{self.host}:{self.port}", "--workers", "1", "--threads", "4",
                        "--graceful-timeout", str(max(1, int(self.grace) - 2)), "bot.web:create_app()"], env)
            self.spawn("worker", [python, "-m", "bot.cli", "worker", "--no-notes"], env)
            self._wait_healthy(timeout)
        except BaseException:   # Ctrl-C during start-up too: leave nothing running
            self.stop()
            raise

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        child = subprocess.Popen(argv, env=env, process_group=0,
                                 preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        self.children.append(child)
        self.names.append(name)
        return child

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

    def stop(self) -> list[str]:
        """Stop every process started, within `grace` seconds and a moment; returns the ones (web,
        worker) that had to be killed."""
        groups = [child.pid for child in self.children]
        for child in self.children:
            if child.poll() is None:
                _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while any(child.poll() is None for child in self.children) and time.monotonic() < deadline \
                and not self.hurry:
            time.sleep(0.05)
        # Whatever is left of each group after the grace period (a leader that ignored SIGTERM, or its
        # children: a gunicorn worker, an RQ work horse) is killed: nothing may keep the port.
        killed = [name for name, pgid in zip(self.names, groups) if _signal_group(pgid, signal.SIGKILL)]
        for child in self.children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:   # pragma: no cover - SIGKILL cannot be ignored
                pass
        for pgid in groups:
            _wait_group_gone(pgid, timeout=2.0)
        self.children.clear()
        self.names.clear()
        if self.embedded is not None and self.embedded.started_here:
            self.embedded.stop()
        return killed


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal a whole process group; False when nobody is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:   # pragma: no cover - the group id was reused by another user's process
        return False
    return True


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.02)


@main.command()
@click.option("--url", default=None, help="A running bot (default: start one like `derechos dev`).")
@click.option("--whatsapp", is_flag=True, help="Write as a WhatsApp user instead of SMS.")
@click.option("--number", default=CHAT_NUMBER, show_default=True,
              help="The phone number you pretend to be (the default is a fictional 555-01xx number, which "
                   "`subscribers import` and `subscribers forget` accept in dry-run).")
@pass_ctx
def chat(ctx: Context, url: str | None, whatsapp: bool, number: str):
    """Chat with the bot as a phone would, through the real path: signed webhook, queue, worker, outbox.
    Without --url it starts its own local bot and stops it when you quit (Ctrl-D).

    \b
    Example:
      derechos chat --url http://127.0.0.1:5000 --whatsapp
    """
    from ..chat import run_chat
    with local_bot(ctx.config, url, "chat") as base:
        run_chat(ctx.runtime, base, ("whatsapp:" + number) if whatsapp else number)


@contextlib.contextmanager
def local_bot(config: Config, url: str | None, command: str):
    """The bot a terminal phone (`chat`, `call`) talks to: the one at `url`, checked to answer, or one
    started like `derechos dev` and stopped on the way out. Yields its base URL."""
    if not config.dry_run:
        raise click.ClickException(f"{command} reads the dry-run outbox: unset TWILIO_ACCOUNT_SID to use it")
    if url is not None:
        _answers(url.rstrip("/"))
        yield url.rstrip("/")
        return
    stack = DevStack(config, port=free_port())
    stack.start()
    click.echo(f"(started a local bot at {stack.url})")
    try:
        yield stack.url
    finally:
        stack.stop()
