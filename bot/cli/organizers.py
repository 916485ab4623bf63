"""Commands for organizers: alerts, subscribers, hand-offs. Each prints what an organizer reads
(tables, progress); `--json` prints what a script reads. Every action is in the audit trail under the
organizer's name: `--as NAME`, or DERECHOS_ORGANIZER, or the login name."""
from __future__ import annotations

import json
import time

import click

from .. import organizer
from ..broadcast import BroadcastError
from . import main, pass_ctx, who

as_option = click.option("--as", "as_", metavar="NAME", default=None,
                         help="Your name for the audit trail (default: $DERECHOS_ORGANIZER, else your login).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")
DONE_FIELDS = ("sent", "skipped_opted_out", "skipped_unsubscribed", "skipped_outside_window", "skipped_duplicate")


def _name(as_: str | None) -> str:
    return (as_ or who())[:64]


def _call(fn, *args, **kwargs):
    from ..store.handoffs import HandoffTaken
    try:
        return fn(*args, **kwargs)
    except (BroadcastError, organizer.NotFound, HandoffTaken) as exc:
        raise click.ClickException(str(exc)) from None


def _pairs(values, option: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint=option)
        out[key.strip()] = text
    return out


# --- broadcasts ----------------------------------------------------------------------------------

@main.group()
def broadcast():
    """Alerts to subscribers: create, list, preview, send, schedule, status, cancel.

    \b
    Example:
      derechos broadcast create --text "es=Taller gratis el {date}" --text "en=Free workshop on {date}" \\
          --when 2026-12-12 --tag chicago
    """


@broadcast.command("create")
@click.option("--text", "texts", multiple=True, required=True, metavar="LANG=TEXT",
              help="The alert in one language (es is required; others fall back to it). Repeat per language.")
@click.option("--lang", "langs", multiple=True, help="Audience: only these languages.")
@click.option("--channel", "channels", multiple=True, type=click.Choice(["sms", "whatsapp"]),
              help="Audience: only this channel (repeat for both; default: both).")
@click.option("--tag", "tags", multiple=True, help="Audience: only subscribers with every one of these tags.")
@click.option("--audio", "audio", multiple=True, metavar="LANG=URL", help="An https audio URL for a language.")
@click.option("--when", help="The date the alert names as {date}/{time}: YYYY-MM-DD or YYYY-MM-DD HH:MM.")
@click.option("--tz", "tz", default="America/Chicago", show_default=True, help="Time zone of --when.")
@click.option("--template", help="WhatsApp template Content SID (HX...) for people outside the 24 h window.")
@click.option("--var", "variables", multiple=True, metavar="N=VALUE", help="Template variable.")
@as_option
@pass_ctx
def broadcast_create(ctx, texts, langs, channels, tags, audio, when, tz, template, variables, as_):
    """Create a draft alert; prints its id and audience.

    \b
    Example:
      derechos broadcast create --text "es=Clínica gratis el sábado" --lang es --tag houston
    """
    data = {"texts": _pairs(texts, "--text"), "audio": _pairs(audio, "--audio"),
            "audience": {"langs": list(langs), "channels": list(channels), "tags": list(tags)},
            "when": when, "timezone": tz, "template_sid": template, "template_variables": _pairs(variables, "--var")}
    created = _call(organizer.new_broadcast, ctx.runtime.store, ctx.content().catalog, data, _name(as_), ctx.config)
    click.echo(created.id)
    click.echo(f"audience: {created.audience.describe()}", err=True)


@broadcast.command("list")
@click.option("--last", type=int, default=20, show_default=True, help="How many broadcasts to show.")
@json_option
@pass_ctx
def broadcast_list(ctx, last, as_json):
    """The last broadcasts, newest first, with their status and figures.

    \b
    Example:
      derechos broadcast list --last 5
    """
    store = ctx.runtime.store
    rows = [organizer.summary(store, i) for i in store.broadcasts.ids(last)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("no broadcasts yet")
        return
    click.echo(f"{'id':<13} {'status':<10} {'created':<17} {'sent':>6} {'delivered':>9}  audience / text")
    for row in rows:
        figures = row["figures"]
        created = (row.get("created_at") or "")[:16].replace("T", " ")
        click.echo(f"{row['id']:<13} {row['status']:<10} {created:<17} {figures.get('sent', 0):>6} "
                   f"{figures.get('delivered', 0):>9}  {row['audience']} / {row['text'][:40]}")


@broadcast.command("preview")
@click.argument("broadcast_id")
@json_option
@pass_ctx
def broadcast_preview(ctx, broadcast_id, as_json):
    """Audience per language and channel, segments per message and in all (the cost), and each text.

    \b
    Example:
      derechos broadcast preview 3f9c1a2b4d5e
    """
    from ..broadcast import footers, text_for
    store = ctx.runtime.store
    report = _call(organizer.preview_report, store, ctx.content().catalog, ctx.config, broadcast_id)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    the_plan = _call(organizer.preview, store, ctx.content().catalog, ctx.config, broadcast_id)
    click.echo(f"audience: {report['audience']}")
    for line in the_plan.lines():
        click.echo(line)
    alert = organizer.load(store, broadcast_id)
    for lang in sorted({row.lang for row in the_plan.rows}):
        text, used = text_for(alert, lang, footers(ctx.content().catalog, ctx.config.alert_footer))
        click.echo(f"\n[{lang}{' (falls back to ' + used + ')' if used != lang else ''}]\n{text}")


@broadcast.command("send")
@click.argument("broadcast_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, help="Start it and return; follow with `derechos broadcast status`.")
@json_option
@as_option
@pass_ctx
def broadcast_send(ctx, broadcast_id, yes, no_wait, as_json, as_):
    """Send now: shows the audience and cost, asks, then follows the sending with a progress bar and
    prints the delivery figures.

    \b
    Example:
      derechos broadcast send 3f9c1a2b4d5e
    """
    store, catalog = ctx.runtime.store, ctx.content().catalog
    report = _call(organizer.preview_report, store, catalog, ctx.config, broadcast_id)
    if not as_json:
        click.echo(f"audience: {report['audience']}")
        for line in _call(organizer.preview, store, catalog, ctx.config, broadcast_id).lines():
            click.echo(line)
    if not yes:
        click.confirm(f"Send to {report['recipients']} people ({report['audience']}; {report['segments']} "
                      "segments)?", abort=True)
    _call(organizer.send, store, catalog, ctx.config, broadcast_id, _name(as_))
    if no_wait:
        click.echo(json.dumps({"id": broadcast_id, "status": "sending"}) if as_json else f"sending {broadcast_id}")
        return
    _follow(store, broadcast_id, report["recipients"], quiet=as_json)
    _print_status(organizer.status(store, broadcast_id), as_json)


def _handled(figures: dict[str, int]) -> int:
    return sum(figures.get(k, 0) for k in DONE_FIELDS) + sum(
        v for k, v in figures.items() if k.startswith("failed_at_send"))


def _follow(store, broadcast_id: str, total: int, quiet: bool = False, timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    with click.progressbar(length=max(total, 1), label=f"broadcast {broadcast_id}", file=None if not quiet
                           else open("/dev/null", "w")) as bar:
        shown = 0
        while time.monotonic() < deadline:
            report = organizer.status(store, broadcast_id)
            handled = min(_handled(report["figures"]), total)
            bar.update(max(0, handled - shown))
            shown = max(shown, handled)
            if report["status"] in ("sent", "cancelled") or handled >= total:
                break
            time.sleep(0.5)


def _print_status(report: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    figures = report["figures"]
    click.echo(f"broadcast {report['id']}: {report['status']}")
    click.echo(f"  audience      {report['audience']} ({figures.get('audience', 0)} people)")
    if report.get("send_at"):
        click.echo(f"  scheduled for {report['send_at']}")
    order = ["sent", "queued", "sending", "delivered", "read", "undelivered", "failed", "skipped_opted_out",
             "skipped_unsubscribed", "skipped_outside_window", "skipped_duplicate", "failed_batches"]
    names = {"skipped_opted_out": "opted out (not sent)", "skipped_unsubscribed": "left before it went",
             "skipped_outside_window": "outside WhatsApp's 24 h window", "skipped_duplicate": "already sent",
             "failed_batches": "batches that failed for good"}
    for key in order + sorted(k for k in figures if k not in order and k != "audience"):
        if figures.get(key):
            click.echo(f"  {names.get(key, key):<31} {figures[key]:>7}")
    for code, n in sorted(report["failed_by_error"].items()):
        click.echo(f"  failed with Twilio error {code:<6} {n:>7}")


@broadcast.command("schedule")
@click.argument("broadcast_id")
@click.option("--at", required=True, help="Local date and time: YYYY-MM-DD HH:MM.")
@click.option("--tz", default=None, help="Time zone (default: the alert's).")
@as_option
@pass_ctx
def broadcast_schedule(ctx, broadcast_id, at, tz, as_):
    """Send later, at a local time in a time zone; the worker's scheduler starts it.

    \b
    Example:
      derechos broadcast schedule 3f9c1a2b4d5e --at "2026-12-05 09:00" --tz America/Chicago
    """
    store = ctx.runtime.store
    when = _call(organizer.schedule, store, ctx.content().catalog, ctx.config, broadcast_id, at, tz, _name(as_))
    report = organizer.preview_report(store, ctx.content().catalog, ctx.config, broadcast_id)
    click.echo(f"scheduled {broadcast_id} for {when.isoformat()} to {report['recipients']} people "
               f"({report['audience']})")


@broadcast.command("status")
@click.argument("broadcast_id", required=False)
@json_option
@pass_ctx
def broadcast_status(ctx, broadcast_id, as_json):
    """Delivery figures of one broadcast (by status and by Twilio error code), or of the last ones.

    \b
    Example:
      derechos broadcast status 3f9c1a2b4d5e
    """
    store = ctx.runtime.store
    ids = [broadcast_id] if broadcast_id else store.broadcasts.ids()
    for one in ids:
        _print_status(_call(organizer.status, store, one), as_json)


@broadcast.command("cancel")
@click.argument("broadcast_id")
@json_option
@as_option
@pass_ctx
def broadcast_cancel(ctx, broadcast_id, as_json, as_):
    """Stop the rest of a broadcast within seconds (or a scheduled one before it starts).

    \b
    Example:
      derechos broadcast cancel 3f9c1a2b4d5e
    """
    _print_status(_call(organizer.cancel, ctx.runtime.store, broadcast_id, _name(as_)), as_json)


# --- subscribers ---------------------------------------------------------------------------------

@main.group()
def subscribers():
    """Import, count, check and forget subscribers.

    \b
    Example:
      derechos subscribers import lista.csv --lang es --tag houston
    """


@subscribers.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--lang", default="es", show_default=True, help="Language for rows that name none.")
@click.option("--region", default="US", show_default=True, help="Country for numbers written without +.")
@click.option("--tag", "tags", multiple=True, help="A tag for every row.")
@click.option("--strict", is_flag=True, help="Import nothing if any row is rejected (exit 1).")
@as_option
@pass_ctx
def subscribers_import(ctx, csv_file, lang, region, tags, strict, as_):
    """Check every row (number, language, tags) and import the valid ones; rejected rows are listed by
    line (never with their number) and not imported. People who texted STOP are kept out.

    \b
    Example:
      derechos subscribers import lista.csv --region MX --tag oaxaca
    """
    from ..importer import CsvFormatError, read_subscribers_csv
    languages = set(ctx.content().catalog.languages)
    with click.progressbar(length=0, label="reading", show_pos=True) as bar:
        def progress(n):
            bar.update(n - bar.pos)
        try:
            result = read_subscribers_csv(csv_file, languages, default_lang=lang, default_region=region,
                                          extra_tags=tags, progress=progress, allow_fictional=ctx.config.dry_run)
        except (CsvFormatError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    for rejected in result.rejected:
        click.echo(f"line {rejected.line}: {rejected.field}: {rejected.reason}", err=True)
    if result.fictional:
        click.echo(f"warning: {result.fictional} fictional 555-01xx number(s) accepted (dry-run only)", err=True)
    click.echo(result.summary())
    if strict and result.rejected:
        raise click.ClickException("nothing imported (--strict): fix the rows above")
    report = organizer.import_subscribers(ctx.runtime.store, result, _name(as_))
    click.echo(f"imported {report.imported} new, updated {report.updated}, kept out {report.opted_out} who opted out"
               + (f"; {len(result.rejected_lines)} row(s) rejected and not imported" if result.rejected else ""))


@subscribers.command("count")
@click.option("--lang", "langs", multiple=True, help="Only people reading this language (repeatable).")
@click.option("--channel", "channels", multiple=True, type=click.Choice(["sms", "whatsapp"]),
              help="Only people on this channel (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only people with every one of these tags.")
@json_option
@pass_ctx
def subscribers_count(ctx, langs, channels, tags, as_json):
    """How many subscribed people an audience has; with no filter, the breakdown by language, channel, tag.

    \b
    Example:
      derechos subscribers count --lang es --tag chicago
    """
    subs = ctx.runtime.store.subscribers
    if langs or channels or tags or as_json:
        count = subs.count(langs, channels, [t.lower() for t in tags])
        if as_json:
            click.echo(json.dumps({"count": count, **({} if (langs or channels or tags) else subs.breakdown())}))
        else:
            click.echo(count)
        return
    click.echo(subs.count())
    for kind, values in subs.breakdown().items():
        for name, n in sorted(values.items()):
            click.echo(f"  {kind:<8} {name:<20} {n:>7}")


@subscribers.command("check")
@click.option("--repair", is_flag=True, help="Make the indexes agree with the records.")
@pass_ctx
def subscribers_check(ctx, repair):
    """Compare every audience index (languages, channels, tags) with the subscriber records.

    \b
    Example:
      derechos subscribers check --repair
    """
    drift = ctx.runtime.store.subscribers.check(repair=repair)
    if not drift.total:
        click.echo("indexes agree with the records")
        return
    click.echo(f"{len(drift.stray_bits)} index entries without a record, {len(drift.missing_bits)} missing; "
               f"{len(drift.stray_tags)} tag entries without a record, {len(drift.missing_tags)} missing; "
               f"{len(drift.orphan_ids)} id mappings out of step")
    if repair:
        click.echo("repaired")
    else:
        raise click.ClickException("drift found: run with --repair")


@subscribers.command("forget")
@click.argument("number")
@as_option
@pass_ctx
def subscribers_forget(ctx, number, as_):
    """Delete everything stored about one person (state, subscription, hand-offs, delivery records),
    on every address of theirs; NUMBER may also be a WhatsApp user id (US.1234...).

    \b
    Example:
      derechos subscribers forget +13125550123
    """
    from ..addresses import WHATSAPP, is_user_id, parse_address
    from ..importer import parse_number
    if is_user_id(number.strip().removeprefix("whatsapp:")):
        e164 = parse_address(number, WHATSAPP)
    else:
        e164, reason, _ = parse_number(number, "US", allow_fictional=ctx.config.dry_run)
        if e164 is None:
            raise click.BadParameter(reason or "not a phone number", param_hint="NUMBER")
    store = ctx.runtime.store
    organizer.forget_person(store, store.ref(e164), _name(as_))
    click.echo("forgotten: everything stored about that number is deleted")


# --- hand-offs -----------------------------------------------------------------------------------

@main.group()
def handoff():
    """Requests to talk to a person or an interpreter: list, take, reply, close.

    \b
    Example:
      derechos handoff list --status open
    """


@handoff.command("list")
@click.option("--status", type=click.Choice(["open", "taken", "closed"]), default="open", show_default=True,
              help="Which requests to list.")
@json_option
@pass_ctx
def handoff_list(ctx, status, as_json):
    """The requests waiting (or taken, or closed), newest first: kind, language, topic, region, waiting time.

    \b
    Example:
      derechos handoff list --status taken
    """
    items = ctx.runtime.store.handoffs.list(status=status)
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    if not items:
        click.echo(f"no {status} requests")
    now = time.time()
    for item in items:
        waiting = int((now - int(item["opened_at"])) // 60)
        taken = f"  taken by {item['taken_by']}" if item.get("taken_by") and item["status"] == "taken" else ""
        click.echo(f"{item['id']}  {waiting:>5} min  {item['kind']:<11} {item['lang']:<9} "
                   f"{item.get('topic') or '-':<15} {item.get('region') or ''}{taken}")


@handoff.command("take")
@click.argument("handoff_id")
@click.option("--force", is_flag=True, help="Take it even if another organizer has it.")
@as_option
@pass_ctx
def handoff_take(ctx, handoff_id, force, as_):
    """Take a request: it is assigned to you, and the number to answer is printed (keep it out of
    notes and chats).

    \b
    Example:
      derechos handoff take 1a2b3c4d5e --as maria
    """
    from ..store.handoffs import HandoffTaken
    store = ctx.runtime.store
    try:
        item = organizer.take_handoff(store, handoff_id, _name(as_), force=force)
    except HandoffTaken as exc:
        raise click.ClickException(f"hand-off {handoff_id} is already taken by {exc.by}: ask them, or take it "
                                   "over with --force (the audit trail records it)") from None
    if item is None:
        raise click.ClickException(f"no hand-off '{handoff_id}'")
    click.echo(organizer.show_number(store, handoff_id, _name(as_)) or "(no number: the request is closed)")


@handoff.command("close")
@click.argument("handoff_id")
@as_option
@pass_ctx
def handoff_close(ctx, handoff_id, as_):
    """Close a request when the person has been answered; the number is dropped.

    \b
    Example:
      derechos handoff close 1a2b3c4d5e
    """
    if _call(organizer.close_handoff, ctx.runtime.store, handoff_id, _name(as_),
             ctx.config.conversation_retention_days) is None:
        raise click.ClickException(f"no hand-off '{handoff_id}'")
    click.echo(f"closed {handoff_id}")


@handoff.command("reply")
@click.argument("handoff_id")
@click.argument("text")
@as_option
@pass_ctx
def handoff_reply(ctx, handoff_id, text, as_):
    """Answer the person through the bot's own number (same rate, STOP rules and WhatsApp window as
    every message); the text is kept in the conversation's encrypted thread.

    \b
    Example:
      derechos handoff reply 1a2b3c4d5e "Hola, soy Ana de la organización. ¿En qué te ayudo?"
    """
    from ..conversations import ConversationError, reply
    try:
        entry = reply(ctx.runtime, handoff_id, text, _name(as_))
    except (ConversationError, organizer.NotFound) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"queued reply {entry} to hand-off {handoff_id}")
