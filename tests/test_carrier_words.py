"""Words that belong to no one language (STOP, MENU, OK, numbers, emoji) never switch the language of
the replies (issue 14): a Spanish speaker who texts STOP gets the confirmation in Spanish."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.conversation import State, handle
from bot.matcher import Matcher
from bot.messages import InboundMessage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def content():
    catalog = load_catalog(ROOT / "content")
    return catalog, Matcher(catalog)


def conversation(content, first: str):
    catalog, matcher = content
    state = State()
    n = 0

    def says(body: str):
        nonlocal state, n
        n += 1
        outcome = handle(InboundMessage(channel="sms", sender="+13125550190", body=body, message_sid=f"SM{n}"),
                         state, catalog, matcher)
        state = outcome.state
        return outcome
    says(first)
    return says, lambda: state


@pytest.mark.parametrize("lang,hello", [("es", "hola, necesito ayuda con mi trabajo"), ("en", "hi, I need help")])
@pytest.mark.parametrize("word", ["MENU", "menu", "OK", "ok 👍", "1", "👍", "STOP"])
def test_a_shared_word_keeps_the_language(content, lang, hello, word):
    catalog = content[0]
    says, state = conversation(content, hello)
    assert state().lang == lang
    outcome = says(word)
    assert state().lang == lang, f"{word!r} switched {lang} to {state().lang}"
    if word == "STOP":
        assert [r.body for r in outcome.replies] == [catalog.text("stop", lang)]
    if word.lower() == "menu":
        assert outcome.replies[0].body == catalog.menu(lang)[0]


def test_a_word_of_one_language_still_switches(content):
    catalog = content[0]
    says, state = conversation(content, "hola")
    says("english")
    assert state().lang == "en"
    assert catalog.text("stop", "en") in [r.body for r in says("STOP").replies]
