"""Commands of the voice line: `derechos call` (a terminal phone), `derechos handoff recording` (the
message a caller left), and the voice preview of `derechos content preview --channel voice`."""
from __future__ import annotations

from pathlib import Path

import click

from . import Context, main, pass_ctx, who
from .local import CHAT_NUMBER
from .organizers import handoff


@main.command()
@click.option("--url", default=None, help="A running bot (default: start one like `derechos dev`).")
@click.option("--number", default=CHAT_NUMBER, show_default=True,
              help="The phone number you call from (the default is a fictional 555-01xx number).")
@pass_ctx
def call(ctx: Context, url: str | None, number: str):
    """Call the voice line from the terminal: hear what a caller hears, press keys.

    \b
    Example:
      derechos call --url http://127.0.0.1:5000
    """
    from ..phonecall import run_call
    from .local import local_bot
    with local_bot(ctx.config, url, "call") as base:
        run_call(ctx.runtime, base, number)


@handoff.command("recording")
@click.argument("handoff_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: callback-ID.mp3 in this folder).")
@click.option("--as", "as_", metavar="NAME", default=None, help="Your name for the audit trail.")
@pass_ctx
def handoff_recording(ctx: Context, handoff_id: str, output: Path | None, as_: str | None):
    """Save the message a caller recorded for a callback request (kept encrypted until the request
    is closed). Delete the file when you have listened to it.

    \b
    Example:
      derechos handoff recording 1a2b3c4d5e -o message.mp3
    """
    store = ctx.runtime.store
    item = store.handoffs.get(handoff_id)
    if item is None:
        raise click.ClickException(f"no hand-off '{handoff_id}'")
    found = store.handoffs.recording(handoff_id)
    if found is None:
        state = item.get("recording") or "none"
        raise click.ClickException(f"no recording kept for '{handoff_id}' (recording: {state})")
    audio, kind = found
    target = output or Path(f"callback-{handoff_id}.{kind}")
    target.write_bytes(audio)
    store.audit.record((as_ or who())[:64], "handoff.recording", handoff=handoff_id)
    click.echo(f"wrote {target} ({len(audio)} bytes)")


def preview_voice(ctx: Context, topic: str, lang: str, all_pages: bool) -> None:
    """What a call says for a topic (each page: its speech text and how long it takes to say), or the
    menus (`menu`)."""
    from .. import speech, voice
    catalog = ctx.content().catalog
    caller = voice.Caller(can_text=True)
    if topic == "menu":
        screens = [voice.CallState(voice.LANGUAGE, page=p)
                   for p in range(len(speech.keypad_pages(voice.language_items(catalog))))]
        screens += [voice.CallState(voice.MENU, lang, page=p)
                    for p in range(len(speech.keypad_pages(voice.top_items(catalog))))]
        for state in screens:
            _show(f"[voice · {state.screen} menu · page {state.page + 1}", voice.render(catalog, state, caller))
        return
    if topic not in catalog.topic_ids:
        raise click.BadParameter(f"the voice preview shows a topic or 'menu' (topics: {', '.join(catalog.topic_ids)})",
                                 param_hint="TOPIC")
    language = catalog.languages[lang]
    if language.indigenous and voice.topic_recording(catalog, lang, topic) is None:
        state = voice.CallState(voice.NO_RECORDING, lang, topic=topic)
        _show(f"[voice · {lang} · no recording in {lang}", voice.render(catalog, state, caller))
        click.echo(f"(1 plays the Spanish text: derechos content preview {topic} --lang es --channel voice --all-pages)")
        return
    pages = 1 if language.indigenous else len(catalog.answer(topic, lang).topic.pages)
    for page in range(pages if all_pages else 1):
        state = voice.CallState(voice.TOPIC, lang, topic=topic, page=page)
        _show(f"[voice · {lang} · page {page + 1} of {pages}", voice.topic_content(catalog, state),
              budget=True)
        _show("  [then the keys", voice.render(catalog, state, caller, keys_only=True))


def _show(header: str, actions, budget: bool = False) -> None:
    from .. import speech, voice
    flat = list(_flat(actions))
    said = " ".join(a.text for a in flat if isinstance(a, voice.Say))
    played = sum(isinstance(a, voice.Play) for a in flat)
    seconds = speech.spoken_seconds(said)
    figures = f"{speech.word_count(said)} words, about {seconds:.0f} s at {speech.WORDS_PER_MINUTE} words a minute"
    if budget:
        figures += f" (budget {speech.PAGE_SECONDS} s)"
    if played:
        figures = f"plays {played} recording(s)" + (f"; says {figures}" if said else "")
    click.echo(f"{header} · {figures}]")
    for line in voice.describe(actions):
        click.echo(line)
    click.echo()


def _flat(actions):
    from .. import voice
    for action in actions:
        if isinstance(action, voice.Gather):
            yield from action.prompts
        else:
            yield action
