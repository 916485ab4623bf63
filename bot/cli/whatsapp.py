"""Commands for WhatsApp's templates: the lists, buttons and alert templates made from the content."""
from __future__ import annotations

import json

import click

from ..errors import SendError
from . import Context, main, pass_ctx


@main.group()
def whatsapp():
    """WhatsApp templates: lists and buttons (inside the 24 h window) and alerts (outside it).

    \b
    Example:
      derechos whatsapp check
      derechos whatsapp sync --dry-run
      derechos whatsapp sync
    """


@whatsapp.command("check")
@pass_ctx
def whatsapp_check(ctx: Context):
    """Check every language's whatsapp.yml: each problem with file and line.

    \b
    Example:
      derechos whatsapp check
    """
    from .. import whatsapp as wa
    problems = wa.check(ctx.content().catalog, ctx.config.content_dir)
    for problem in problems:
        click.echo(problem)
    errors = [p for p in problems if ": error: " in p]
    if errors:
        raise click.ClickException(f"{len(errors)} error(s) in the WhatsApp texts")
    click.echo("whatsapp texts: ok" if not problems else f"whatsapp texts: {len(problems)} warning(s)")


@whatsapp.command("sync")
@click.option("--dry-run", is_flag=True, help="Show what would change at Twilio; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per template.")
@pass_ctx
def whatsapp_sync(ctx: Context, dry_run: bool, as_json: bool):
    """Create or update the WhatsApp templates from the content files, keep their SIDs, and submit
    the alert templates for WhatsApp's approval (as utility messages).

    Until a template is synced, WhatsApp gets the numbered text, as SMS does. Run it again after
    editing whatsapp.yml, the menu or the section names; alert templates need WhatsApp's approval
    again after a change (run it again later to see the verdict).

    \b
    Example:
      derechos whatsapp sync --dry-run
    """
    from .. import whatsapp as wa
    catalog = ctx.content().catalog
    problems = [p for p in wa.check(catalog, ctx.config.content_dir) if ": error: " in p]
    if problems:
        raise click.ClickException("the WhatsApp texts have errors:\n" + "\n".join(problems))
    if ctx.config.dry_run and not dry_run:
        raise click.ClickException("no Twilio credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN): "
                                   "nothing to sync with; --dry-run shows what would be made")
    client = None
    if not dry_run:
        from ..twilio_gateway import ContentClient
        client = ContentClient(ctx.config)
    try:
        lines = wa.sync(ctx.runtime, catalog, client, dry_run=dry_run)
    except SendError as exc:
        raise click.ClickException(f"Twilio refused: {exc}") from None
    for line in lines:
        if as_json:
            click.echo(json.dumps(line.__dict__, ensure_ascii=False))
        else:
            status = f" ({line.status})" if line.status else ""
            click.echo(f"{line.action:<13} {line.name:<28} {line.sid}{status}")
    if not as_json:
        changed = sum(1 for line in lines if line.action != "unchanged")
        click.echo(f"{len(lines)} template(s), {changed} {'to change' if dry_run else 'changed'}")


@whatsapp.command("templates")
@pass_ctx
def whatsapp_templates(ctx: Context):
    """The templates in use: name, Content SID, approval status.

    \b
    Example:
      derechos whatsapp templates
    """
    records = ctx.runtime.store.templates.all()
    if not records:
        click.echo("no templates synced: WhatsApp gets the numbered text (run `derechos whatsapp sync`)")
    for name, record in sorted(records.items()):
        status = f" ({record['status']})" if record.get("status") else ""
        click.echo(f"{name:<28} {record.get('sid', '')}{status}")
