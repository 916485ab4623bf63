"""The `derechos` command: one Click group with a context object; resources (Redis, content) open
only when a command needs them. User mistakes become one-line messages, never tracebacks.

The commands live by who uses them: `content` (editors), `organizers` (alerts, subscribers,
hand-offs), `operations` (the Procfile's processes, queues, configuration), `local` (running it on
a laptop: dev and chat).
"""
from __future__ import annotations

import os

import click

from ..config import Config
from ..errors import ConfigError, ContentError


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
            from ..runtime import Runtime
            self._runtime = Runtime(self.config)
        return self._runtime

    def close(self) -> None:
        """After the command: an embedded Redis this command started is stopped again (unless another
        process uses it meanwhile), so a one-shot command leaves no server behind."""
        runtime = self._runtime
        if runtime is None or runtime.embedded is None or not runtime.embedded.started_here:
            return
        if "redis" in runtime.__dict__:
            runtime.redis.close()
            runtime.redis.connection_pool.disconnect()
        runtime.embedded.stop_if_unused()

    def content(self):
        try:
            return self.runtime.content.get()
        except ContentError as exc:
            from .content import editor_lang
            lang = editor_lang()
            raise click.ClickException(("el contenido tiene errores:\n" if lang == "es" else "content has errors:\n")
                                       + "\n".join(p.text(lang) for p in exc.problems)) from None


pass_ctx = click.make_pass_decorator(Context, ensure=True)


@click.group(name="derechos")
@click.version_option(package_name="derechos", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx):
    """Derechos: a multilingual SMS and WhatsApp bot that tells migrants their rights.

    \b
    Example:
      derechos dev
    """
    ctx.obj = Context()
    ctx.call_on_close(ctx.obj.close)
    from ..runtime import configure_logging
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING"))


def who() -> str:
    """The organizer's name for the audit trail."""
    return os.environ.get("DERECHOS_ORGANIZER") or os.environ.get("USER") or "cli"


from . import content, local, operations, organizers  # noqa: E402,F401  (registers the commands)
from . import whatsapp  # noqa: E402,F401  (WhatsApp templates: issue 15)
from . import accounts  # noqa: E402,F401  (the organizer console's accounts: `derechos organizers`)
from . import voice  # noqa: E402,F401  (the voice line: derechos call, handoff recording)
