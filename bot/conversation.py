"""The conversation rules: given what a person wrote and what we remember, what to answer.

Pure: no Flask, Redis, RQ or Twilio. `handle()` returns the replies, the new state and the events
(opt-out, hand-off, ...) that the adapters carry out.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import re

from . import sms
from .catalog import DEFAULT_LANG, SECTION_PREFIX, Catalog
from .matcher import Match, Matcher
from .messages import Choice, InboundMessage, Reply


_LINE = re.compile(r"\d{3}")      # a phone number, 911, 988
URGENT_LEAD = 0.25                 # an unsure opt-out whose reading is this likely an urgent topic gets it first


@dataclass(frozen=True)
class State:
    """What we remember about one person between messages (stored encrypted, expires)."""

    lang: str = DEFAULT_LANG
    lang_chosen: bool = False          # they asked for a language: keep it whatever they write in
    menu: tuple[str, ...] = ()         # what the numbers of the last list they saw stand for (topics, sections)
    topic: str | None = None           # last topic answered (for MAS / MORE and hand-off context)
    page: int = 0                      # last page of that topic they saw
    opted_out: bool = False            # read from the opt-out mark each time, never stored here
    awaiting_region: bool = False      # we asked which town or region (the variety depends on it)
    region: str | None = None          # their answer, for interpreter hand-offs

    def to_dict(self) -> dict:
        return {"lang": self.lang, "lang_chosen": self.lang_chosen, "menu": list(self.menu), "topic": self.topic,
                "page": self.page, "awaiting_region": self.awaiting_region, "region": self.region}

    @classmethod
    def from_dict(cls, data: dict | None) -> "State":
        if not data:
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["menu"] = tuple(known.get("menu") or ())
        return cls(**known)


@dataclass(frozen=True)
class Event:
    """Something the adapters must do besides replying (record an opt-out, open a hand-off, ...)."""

    kind: str                      # opt_out | opt_in | delete | handoff | interpreter | language
    lang: str
    topic: str | None = None
    tag: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of handling one message."""

    replies: tuple[Reply, ...]
    state: State
    match: Match
    events: tuple[Event, ...] = field(default_factory=tuple)


def reply_language(match: Match, state: State, catalog: Catalog) -> str:
    """The person's chosen language if any; otherwise the language they write in; otherwise the last one."""
    if state.lang_chosen:
        return catalog.resolve_lang(state.lang)
    return catalog.resolve_lang(match.lang or state.lang)


def handle(inbound: InboundMessage, state: State, catalog: Catalog, matcher: Matcher) -> Outcome:
    """Decide the replies to one inbound message."""
    match = (inbound.choice and matcher.choice(inbound.choice, inbound.body)) or \
        matcher.match(inbound.body, list(state.menu) or None)
    if state.awaiting_region:
        state = replace(state, awaiting_region=False)
        region = _region_answer(inbound.body, match)
        if region:
            lang = reply_language(match, state, catalog)
            menu_text, ids = catalog.menu(lang)
            saved = catalog.text("region_saved", lang, region=region)
            return Outcome((Reply(saved + "\n" + menu_text),), replace(state, region=region, menu=tuple(ids)), match)
    lang = reply_language(match, state, catalog)
    state = replace(state, lang=lang)
    intent = match.intent
    say = lambda key, **values: catalog.text(key, lang, **values)  # noqa: E731

    # Carrier rules come first and always: STOP, then HELP and START.
    if intent == "stop":
        if state.opted_out:
            return Outcome((), state, match)   # one confirmation only
        return Outcome((Reply(say("stop")),), replace(state, opted_out=True), match, (Event("opt_out", lang),))
    if intent == "start":
        return Outcome((Reply(say("start")),), replace(state, opted_out=False), match,
                       (Event("opt_in", lang, tag=match.tag),))
    if intent == "help":
        return Outcome((Reply(say("help")),), state, match)
    if state.opted_out:
        # After STOP we stay silent until START; deleting data is still honoured.
        events = (Event("delete", lang),) if intent == "delete" else ()
        return Outcome((), state, match, events)
    if intent == "delete":
        return Outcome((Reply(say("deleted")),), State(lang=lang), match, (Event("delete", lang),))
    if intent == "thanks":
        return Outcome((Reply(say("thanks")),), state, match)
    if intent == "human":
        language = catalog.languages[lang]
        if match.tag == "interpreter" or language.indigenous:
            name = language.display_name(DEFAULT_LANG if language.indigenous else lang)
            return Outcome((Reply(say("interpreter", language=name)),), state, match,
                           (Event("interpreter", lang, topic=state.topic, region=state.region),))
        return Outcome((Reply(say("handoff")),), state, match, (Event("handoff", lang, topic=state.topic),))
    if intent == "language":
        new_lang = catalog.resolve_lang(match.language)
        state = replace(state, lang=new_lang, lang_chosen=True)
        menu_text, ids = catalog.menu(new_lang)
        menu = menu_reply(catalog, new_lang, menu_text, ids)
        language = catalog.languages[new_lang]
        if language.indigenous and "language_changed" not in catalog.system.get(new_lang, {}):
            first = catalog.text("fallback_notice", new_lang, language=language.display_name(DEFAULT_LANG))
        else:
            first = catalog.text("language_changed", new_lang)
        state = replace(state, menu=tuple(ids), topic=None, page=0)
        events = (Event("language", new_lang),)
        if match.tag:   # they said where from in the same message
            first += "\n" + catalog.text("region_saved", new_lang, region=match.tag)
            state = replace(state, region=match.tag, awaiting_region=False)
        elif language.ask_region:
            # One written text does not reach every variety: ask where they are from, menu still open.
            first += "\n" + catalog.text("ask_region", new_lang)
            state = replace(state, awaiting_region=True)
        return Outcome((Reply(first), menu), state, match, events)
    if intent == "more":
        if state.topic is None:
            return _menu(catalog, lang, state, match)
        pages = catalog.answer(state.topic, lang).topic.pages
        if state.page + 1 >= len(pages):
            return Outcome((Reply(say("more_end")),), state, match)
        return _page(catalog, lang, state, match, state.topic, state.page + 1)
    if intent == "menu":
        return _menu(catalog, lang, state, match)
    if intent.startswith(SECTION_PREFIX):
        text, ids = catalog.section_menu(intent[len(SECTION_PREFIX):], lang)
        return Outcome((menu_reply(catalog, lang, text, ids),), replace(state, menu=tuple(ids), topic=None, page=0),
                       match)
    if intent == "unknown":
        return Outcome((Reply(say("not_understood")),), state, match)
    if intent == "confirm_stop":
        ask = _confirm(catalog, lang, say, "stop")
        danger = _urgent_lead(catalog, match)
        if danger:   # "stop texting me, I want to die": the answer to the danger first, then the question
            return Outcome((page_reply(catalog, lang, danger, 0, urgent=True), ask),
                           replace(state, topic=danger, page=0), match)
        if match.model and match.model[0][0] == "about" and "about" in catalog.topics.get(lang, {}):
            # "quien me escribe de este numero": who we are (free, private, how to leave), then the question
            return Outcome((page_reply(catalog, lang, "about", 0), ask), replace(state, topic="about", page=0), match)
        return Outcome((ask,), state, match)
    if intent == "confirm_delete":
        return Outcome((_confirm(catalog, lang, say, "delete"),), state, match)
    if match.clarify:
        first, second = match.clarify
        text = say("clarify", first=catalog.label(first, lang), second=catalog.label(second, lang))
        choices = (Choice(first, catalog.label(first, lang)), Choice(second, catalog.label(second, lang)))
        return Outcome((Reply(text, choices=choices, style="buttons"),),
                       replace(state, menu=(first, second), topic=None, page=0), match)
    return _page(catalog, lang, state, match, intent, 0)


def _confirm(catalog: Catalog, lang: str, say, command: str) -> Reply:
    """It may be an opt-out or a delete request, but it is not clear: ask, naming the word that does
    it (nothing is carried out until that word comes)."""
    word = catalog.commands.get(lang, catalog.commands[DEFAULT_LANG])[command][0]
    return Reply(say(f"confirm_{command}"), choices=(Choice(command, word), Choice("menu", "MENU")), style="buttons")


def _urgent_lead(catalog: Catalog, match: Match) -> str | None:
    """The likeliest urgent topic among the model's readings of an opt-out it is unsure of, when it
    is at least URGENT_LEAD likely ("stop texting me i want to die": stop 0.52, health 0.44), else
    the urgent topic whose phrase the message has (the matcher never carries out such an opt-out:
    "dejen de escribirme ya no quiero vivir"), or None. Nothing is carried out on an unsure opt-out,
    so the answer to the danger costs nothing."""
    for intent, p in match.model or ():
        if intent in catalog.urgent and p >= URGENT_LEAD:
            return intent
    return match.hits[0].topic if match.hits else None     # an urgent topic's phrase in the message


def _region_answer(body: str, match: Match) -> str | None:
    """The town or region they wrote, unless the message is a command, a menu number or a topic."""
    if match.intent != "unknown" or match.number is not None:
        return None
    words = " ".join(body.split())[:60].strip(" .,;:!?¿¡")
    return words if words and any(c.isalpha() for c in words) else None


def _menu(catalog: Catalog, lang: str, state: State, match: Match) -> Outcome:
    text, ids = catalog.menu(lang)
    return Outcome((menu_reply(catalog, lang, text, ids),), replace(state, menu=tuple(ids), topic=None, page=0), match)


def menu_reply(catalog: Catalog, lang: str, text: str, ids: list[str]) -> Reply:
    """A numbered menu, with its options as choices (a list on WhatsApp)."""
    return Reply(text, choices=tuple(Choice(i, catalog.label(i, lang)) for i in ids), style="list")


def _page(catalog: Catalog, lang: str, state: State, match: Match, topic_id: str, page: int) -> Outcome:
    return Outcome((page_reply(catalog, lang, topic_id, page, urgent=match.urgent),),
                   replace(state, topic=topic_id, page=page), match)


def page_reply(catalog: Catalog, lang: str, topic_id: str, page: int, urgent: bool = False) -> Reply:
    """One page of a topic as a message (also what the voice line texts on request): the fallback
    notice before a first page in Spanish, the line to call when the message was an emergency
    (`urgent`), the MAS hint when more pages follow, the audio with the first."""
    answer = catalog.answer(topic_id, lang)
    pages = answer.topic.pages
    body = pages[page]
    if answer.fallback and page == 0:
        language = catalog.languages[lang]
        body = catalog.text("fallback_notice", lang, language=language.display_name(DEFAULT_LANG)) + "\n" + body
    if page == 0 and urgent and not _LINE.search(sms.render(body, "sms")[:153]):
        # An emergency on a topic whose first SMS gives no line to call: the line first.
        body = catalog.text("urgent_note", lang) + "\n" + body
    if page + 1 < len(pages):
        body += "\n" + catalog.text("more_hint", lang)
    media = answer.audio_url if page == 0 else None
    return Reply(body, media_url=media)
