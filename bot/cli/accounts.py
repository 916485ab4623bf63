"""`derechos organizers`: the accounts of the organizer console (and their API tokens)."""
from __future__ import annotations

import sys

import click

from .. import accounts
from . import main, pass_ctx, who


def _password(prompt: str) -> str:
    """Asked twice at a terminal; one line of standard input otherwise (so scripts can do it)."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    if not line:
        raise click.ClickException("no password on standard input")
    return line.rstrip("\r\n")


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def organizers():
    """Accounts of the organizer console: add, list, disable, enable, reset-password, token.

    \b
    Example:
      derechos organizers add ana@example.org --role admin
    """


@organizers.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True,
              help="viewer: sees figures; organizer: also sends alerts and answers conversations; "
                   "admin: also imports subscribers, forgets people and manages organizers.")
@click.option("--name", help="The name shown in the console and the audit trail (default: the email's first part).")
@pass_ctx
def organizers_add(ctx, email, role, name):
    """Create an account; the password is asked twice (or read from standard input).

    \b
    Example:
      echo 'a long passphrase' | derechos organizers add luis@example.org --role organizer --name Luis
    """
    password = _password("Password")
    account = _call(accounts.add, ctx.runtime.store, email, role, password, name, who())
    click.echo(f"added {account.email} ({account.name}, {account.role})")


@organizers.command("list")
@pass_ctx
def organizers_list(ctx):
    """Every account: email, name, role, and whether it is disabled.

    \b
    Example:
      derechos organizers list
    """
    rows = ctx.runtime.store.organizers.all()
    if not rows:
        click.echo("no organizers yet: derechos organizers add EMAIL --role admin")
    for raw in rows:
        account = accounts.Account.from_record(raw)
        click.echo(f"{account.email:<32} {account.name:<20} {account.role:<10}"
                   f"{' disabled' if account.disabled else ''}")


@organizers.command("disable")
@click.argument("email")
@pass_ctx
def organizers_disable(ctx, email):
    """Stop an account from signing in (its sessions and API tokens stop working at once).

    \b
    Example:
      derechos organizers disable luis@example.org
    """
    account = _call(accounts.set_disabled, ctx.runtime.store, email, True, who())
    click.echo(f"disabled {account.email}")


@organizers.command("enable")
@click.argument("email")
@pass_ctx
def organizers_enable(ctx, email):
    """Let a disabled account sign in again.

    \b
    Example:
      derechos organizers enable luis@example.org
    """
    account = _call(accounts.set_disabled, ctx.runtime.store, email, False, who())
    click.echo(f"enabled {account.email}")


@organizers.command("reset-password")
@click.argument("email")
@pass_ctx
def organizers_reset_password(ctx, email):
    """Set a new password (asked twice, or read from standard input); open sessions end.

    \b
    Example:
      derechos organizers reset-password luis@example.org
    """
    password = _password("New password")
    account = _call(accounts.reset_password, ctx.runtime.store, email, password, who())
    click.echo(f"password changed for {account.email}")


@organizers.command("token")
@click.argument("email")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
@pass_ctx
def organizers_token(ctx, email, label):
    """A new API token for /api/ (printed once; only its hash is kept).

    \b
    Example:
      derechos organizers token luis@example.org --label reports
    """
    click.echo(_call(accounts.new_token, ctx.runtime.store, email, label, who()))
