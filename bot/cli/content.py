"""Commands for content editors: how a message is understood, SMS segments, and the content files."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ..errors import ContentError
from . import Context, main, pass_ctx


# --- understanding -------------------------------------------------------------------------------

@main.command()
@click.argument("text", required=False)
@click.option("--eval", "eval_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A labelled .tsv: print accuracy per intent and the most confused pairs.")
@click.option("--misses", is_flag=True, help="With --eval: list every message not understood.")
@click.option("--json", "as_json", is_flag=True, help="With --eval: the report as JSON.")
@pass_ctx
def match(ctx: Context, text: str | None, eval_file: Path | None, misses: bool, as_json: bool):
    """Show how a message is understood: one JSON object with the intent, the reply language, the
    rules that matched and the intent model's top three (with no TEXT, one per stdin line).

    With --eval FILE.tsv (columns text, intent (accepted intents separated by |), lang), print the
    accuracy per intent and the most confused pairs, to measure a change to the examples.

    \b
    Examples:
      derechos match "mi patron no me paga"
      derechos match --eval tests/data/blind-a.tsv --misses
    """
    content = ctx.content()
    if eval_file is not None:
        from ..evaluation import evaluate, read_rows
        try:
            rows = read_rows(eval_file)
        except (OSError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        report = evaluate(content.matcher, content.catalog, rows)
        if as_json:
            click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
            return
        for line in report.lines():
            click.echo(line)
        if misses:
            click.echo("\nmisses (text, expected, understood as):")
            for text_, expected, got in report.misses:
                click.echo(f"  {text_!r}  {expected}  ->  {got}")
        return
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
    """SMS encoding (GSM-7 or UCS-2) and segment count, as sent and after the SMS encoding policy.

    \b
    Example:
      derechos segments "¿Cómo pido asilo?"
    """
    from .. import sms

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
    """Check, preview and translate the content files (content/README.md is the editors' guide).

    \b
    Example:
      derechos content check
    """


def editor_lang(chosen: str | None = None) -> str:
    """The language of the checker's messages: --lang, else CONTENT_CHECK_LANG, else the system locale
    (LC_ALL, LC_MESSAGES, LANG: Spanish when it starts with es), else English."""
    if chosen:
        return chosen
    wanted = os.environ.get("CONTENT_CHECK_LANG", "").strip().lower()[:2]
    if wanted in ("es", "en"):
        return wanted
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "").strip()
        if value:
            return "es" if value.lower().startswith("es") else "en"
    return "en"


lang_option = click.option("--lang", "lang", type=click.Choice(["es", "en"]), default=None,
                           help="Language of the messages (default: $CONTENT_CHECK_LANG, else the system locale: "
                                "Spanish when it is es_*, else English).")


@content.command("check")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Content folder.")
@lang_option
@pass_ctx
def content_check(ctx: Context, directory: Path | None, lang: str | None):
    """Validate the whole content tree; report every problem with file and line, in Spanish or English.
    Exits 1 when there is an error (warnings do not fail).

    \b
    Example:
      derechos content check --lang es
    """
    from ..catalog import check_content
    lang = editor_lang(lang)
    root = directory or ctx.config.content_dir
    problems = check_content(root, ctx.config.settings)
    for problem in problems:
        click.echo(problem.text(lang), err=problem.severity == "error")
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if not errors:
        warnings += _check_examples_with_the_model(root, ctx.config.settings)
    if errors:
        raise click.ClickException(f"{errors} error(es), {warnings} aviso(s) en {root}" if lang == "es"
                                   else f"{errors} error(s), {warnings} warning(s) in {root}")
    click.echo(f"contenido correcto: {root} ({warnings} aviso(s))" if lang == "es"
               else f"content OK: {root} ({warnings} warning(s))")


def page_lengths(catalog, fold: bool = True) -> list[dict]:
    """Per topic and language with its own text: each page's length as the phone gets it on SMS (after
    the SMS policy, with the line the bot adds when more pages follow), against its budget."""
    from .. import sms
    from ..catalog import FIRST_REPLY_SEGMENTS, PAGE_SEGMENTS
    rows = []
    order = {"es": 0, "en": 1}
    for lang in sorted(catalog.topics, key=lambda code: (order.get(code, 2), code)):
        hint = catalog.text("more_hint", lang) if catalog.system.get(lang) or lang in catalog.languages else ""
        for topic_id in catalog.topic_ids:
            topic = catalog.topics[lang].get(topic_id)
            if topic is None or not topic.pages:
                continue
            pages = []
            for i, page in enumerate(topic.pages):
                text = page + ("\n" + hint if i < len(topic.pages) - 1 else "")
                info = sms.segment_info(sms.render(text, "sms", fold=fold))
                budget = FIRST_REPLY_SEGMENTS if i == 0 else PAGE_SEGMENTS
                pages.append({"page": i + 1, "characters": info.characters, "segments": info.segments,
                              "budget": budget, "encoding": info.encoding})
            rows.append({"topic": topic_id, "lang": lang, "pages": pages})
    return rows


def _check_examples_with_the_model(root: Path, settings: dict) -> int:
    """Train (or take from the cache) the intent model and warn about every example it puts under
    another intent, with file and line. Returns the number of warnings."""
    from .. import intents
    from ..catalog import load_catalog
    from ..matcher import Matcher
    catalog = load_catalog(root, settings)
    if not intents.has_examples(catalog):
        click.echo("no examples: the bot understands by keywords and command words alone "
                   "(write examples: under each topic, and under examples: in system.yml)")
        return 0
    rules = Matcher(catalog)
    model = intents.load_or_train(root, catalog, settings)
    found = intents.misplaced_examples(catalog, model, rules.keyword_scores)
    for path, line, example, intent, guess in found:
        rel = path.relative_to(root.parent) if path.is_relative_to(root.parent) else path
        click.echo(f"{rel}:{line}: warning: the example '{example}' of '{intent}' reads as '{guess}' to the "
                   f"trained model: make it plainer, or add examples that tell the two apart")
    return len(found)


@content.command("stats")
@click.option("--lang", "langs", multiple=True, help="Only these languages in the page lengths (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_ctx
def content_stats(ctx: Context, langs: tuple[str, ...], as_json: bool):
    """Topics and coverage per language (reviewed text, audio, falling back to Spanish), the length of
    every page in SMS against its budget, and the topics due for review.

    \b
    Example:
      derechos content stats --lang es
    """
    from ..catalog import coverage
    catalog = ctx.content().catalog
    rows = coverage(catalog)
    lengths = [row for row in page_lengths(catalog, ctx.config.sms_fold) if not langs or row["lang"] in langs]
    due = [{"topic": t.id, "lang": t.lang, "review_by": t.review_by.isoformat()} for t in catalog.due_for_review()]
    if as_json:
        click.echo(json.dumps({"coverage": rows, "lengths": lengths, "due_for_review": due}, ensure_ascii=False,
                              indent=2))
        return
    click.echo(f"{len(catalog.topic_ids)} topics in {len(catalog.sections)} sections")
    click.echo(f"{'lang':<10} {'name':<16} {'reviewed':>8} {'audio':>6} {'fallback':>8}  coverage")
    for row in rows:
        pct = 100 * row["reviewed"] / row["topics"] if row["topics"] else 0
        click.echo(f"{row['lang']:<10} {row['name'][:16]:<16} {row['reviewed']:>8} {row['audio']:>6} "
                   f"{row['fallback']:>8}  {pct:5.1f}%")
    click.echo("\nPage lengths on SMS (characters after the SMS policy, SMS used / budget; the first reply with "
               "the more_hint line):")
    click.echo(f"{'topic':<16} {'lang':<9} {'first reply':>18}   other pages")
    for row in lengths:
        first, rest = row["pages"][0], row["pages"][1:]
        mark = lambda p: " !" if p["segments"] > p["budget"] else ""   # noqa: E731
        others = "  ".join(f"p{p['page']} {p['characters']} ch {p['segments']}/{p['budget']}{mark(p)}" for p in rest)
        click.echo(f"{row['topic']:<16} {row['lang']:<9} {first['characters']:>5} ch {first['segments']}/"
                   f"{first['budget']} SMS{mark(first):<2}   {others or '-'}")
    if due:
        click.echo("\nDue for review (review_by has passed):")
        for item in due:
            click.echo(f"  {item['lang']}/{item['topic']}.md  review_by {item['review_by']}")
    else:
        click.echo("\nNo topic is due for review.")


@content.command("preview")
@click.argument("topic")
@click.option("--lang", default="es", show_default=True, help="The language to show.")
@click.option("--channel", type=click.Choice(["sms", "whatsapp", "voice"]), default="sms", show_default=True,
              help="The phone's channel; voice: what a call says (speech text and spoken length) or plays.")
@click.option("--all-pages", is_flag=True, help="Show every page, not just the first reply.")
@pass_ctx
def content_preview(ctx: Context, topic: str, lang: str, channel: str, all_pages: bool):
    """Exactly what the phone will show for a topic (or menu, help, stop, start), with segment count
    and encoding; for a call, what it says or plays.

    \b
    Example:
      derechos content preview asylum --lang es --channel sms --all-pages
      derechos content preview menu --lang en --channel voice
    """
    from .. import conversation
    from ..conversation import State
    from ..messages import InboundMessage
    from ..preview import phone_view
    loaded = ctx.content()
    catalog = loaded.catalog
    if lang not in catalog.languages:
        raise click.BadParameter(f"unknown language '{lang}' (known: {', '.join(sorted(catalog.languages))})",
                                 param_hint="--lang")
    if channel == "voice":
        from .voice import preview_voice
        return preview_voice(ctx, topic, lang, all_pages)
    if topic not in catalog.topic_ids and topic not in ("menu", "help", "stop", "start"):
        raise click.BadParameter(f"unknown topic '{topic}' (known: {', '.join(catalog.topic_ids)})",
                                 param_hint="TOPIC")
    state = State(lang=lang, lang_chosen=True)
    if topic in catalog.topic_ids:
        # The topic as a tap on it (its stable id), then MAS for every further page.
        messages = [("", topic)]
        if all_pages:
            messages += [("mas", "")] * (len(catalog.answer(topic, lang).topic.pages) - 1)
    else:
        messages = [(topic, "")]
    for i, (body, choice) in enumerate(messages):
        inbound = InboundMessage(channel=channel, sender="+10000000000", body=body, message_sid=f"SMpreview{i}",
                                 choice=choice)
        outcome = conversation.handle(inbound, state, catalog, loaded.matcher)
        state = outcome.state
        for reply in outcome.replies:
            view = phone_view(reply.body, channel, lang, fold=ctx.config.sms_fold, media_url=reply.media_url)
            click.echo(view.header())
            click.echo(view.text)
            if view.media_url:
                click.echo(f"[media: {view.media_url}]")
            click.echo()


@content.command("export-po")
@click.argument("lang")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout).")
@pass_ctx
def content_export_po(ctx: Context, lang: str, output: Path | None):
    """Write a Gettext catalog for translators into LANG (source: Spanish; context: topic and field).

    \b
    Example:
      derechos content export-po en -o en.po
    """
    from ..po import export_po
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
    """Write a translator's catalog back into the content files; fuzzy and untranslated entries are reported.

    \b
    Example:
      derechos content import-po en.po
    """
    from ..po import import_po
    try:
        report = import_po(ctx.config.content_dir, po_file, status=status)
    except ContentError as exc:
        raise click.ClickException("\n".join(str(p) for p in exc.problems)) from None
    for line in report.lines():
        click.echo(line)


@content.command("add-examples")
@click.argument("labelled", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip", "skip", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A labelled .tsv whose messages must never become examples (an evaluation set); repeatable.")
@click.option("--dry-run", is_flag=True, help="Report what would be added; write nothing.")
@pass_ctx
def content_add_examples(ctx: Context, labelled: Path, skip: tuple[Path, ...], dry_run: bool):
    """Add the messages of a labelled .tsv (columns text, intent, lang) to the examples: each at the
    end of its intent's list, in the topic file or system.yml of the language it is written in.
    Messages already there, messages of a --skip file and rows with two intents are left out; a row
    with an unknown intent stops the file, and nothing is written.

    \b
    Example:
      derechos content add-examples reviewed-misses.tsv --skip tests/data/eval.tsv
    """
    from ..examples import add_examples
    from ..text import tokens
    root = ctx.config.content_dir
    matcher = ctx.content().matcher
    try:
        report = add_examples(root, labelled, list(skip), dry_run=dry_run,
                              text_lang=lambda text: matcher.detect_language(tokens(text)))
    except ContentError as exc:
        raise click.ClickException("\n".join(str(p) for p in exc.problems)) from None
    for line in report.lines():
        click.echo(line)
    if not dry_run and report.added:
        click.echo("next: derechos content check, then derechos match --eval on a set the examples never saw")


@content.command("misses")
@click.option("--days", type=int, default=None, help="How many days back (default: MISSES_DAYS).")
@click.option("--last", type=int, default=50, show_default=True, help="How many groups to show.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def content_misses(ctx: Context, days: int | None, last: int, as_json: bool):
    """Questions the bot could not answer (digits, emails and links removed; no person), grouped by
    similar text, most asked first: what to write next.

    \b
    Example:
      derechos content misses --days 7
    """
    keep = ctx.config.misses_days
    if not keep:
        raise click.ClickException("questions not answered are not recorded (MISSES_DAYS=off)")
    days = min(days or keep, keep)
    groups = ctx.runtime.store.misses.top(days, limit=last)
    if as_json:
        click.echo(json.dumps([{"example": g.example, "count": g.count, "variants": list(g.variants)}
                               for g in groups], ensure_ascii=False))
        return
    if not groups:
        click.echo(f"no questions left unanswered in the last {days} day(s)")
    for g in groups:
        more = f"  (+{len(g.variants) - 1} similar)" if len(g.variants) > 1 else ""
        click.echo(f"{g.count:>6}  {g.example}{more}")
