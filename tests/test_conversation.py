"""The conversation rules, pure: no server. Every base language gets every test."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.conversation import State, handle
from bot.matcher import Matcher
from bot.messages import InboundMessage

ROOT = Path(__file__).resolve().parent.parent
WORDS = {  # what a person of each language would type
    "es": {"hi": "hola", "help": "ayuda", "stop": "baja", "start": "alta", "more": "mas", "delete": "borrar mis datos",
           "human": "hablar con alguien", "topic": "mi patron no me paga", "topic_id": "labor"},
    "en": {"hi": "hi", "help": "help", "stop": "stop", "start": "start", "more": "more", "delete": "delete my data",
           "human": "talk to a person", "topic": "my boss won't pay me", "topic_id": "labor"},
}


@pytest.fixture(scope="module")
def content():
    catalog = load_catalog(ROOT / "content")
    return catalog, Matcher(catalog)


class Person:
    def __init__(self, content, channel="sms", state=None):
        self.catalog, self.matcher = content
        self.state = state or State()
        self.channel = channel
        self.n = 0

    def picks(self, topic_id: str):
        """Choose a topic from the menu by numbers alone, as a person who does not read would."""
        catalog = self.catalog
        outcome = None
        if catalog.sections:
            section = next(s for s in catalog.sections if topic_id in s.topics)
            self.says("menu")
            self.says(str(catalog.top_menu().index("section:" + section.id) + 1))
            outcome = self.says(str([t for t in section.topics if t in catalog.topic_ids].index(topic_id) + 1))
        else:
            self.says("menu")
            outcome = self.says(str(catalog.topic_ids.index(topic_id) + 1))
        return outcome

    def says(self, body: str):
        self.n += 1
        inbound = InboundMessage(channel=self.channel, sender="+15550101", body=body, message_sid=f"SM{self.n}")
        outcome = handle(inbound, self.state, self.catalog, self.matcher)
        self.state = outcome.state
        return outcome


@pytest.mark.parametrize("lang", ["es", "en"])
def test_greeting_gets_the_numbered_menu_in_that_language(content, lang):
    person = Person(content)
    outcome = person.says(WORDS[lang]["hi"])
    [reply] = outcome.replies
    assert reply.body == content[0].menu(lang)[0]
    assert person.state.lang == lang and list(person.state.menu) == content[0].top_menu()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_number_picks_from_the_last_menu(content, lang):
    catalog = content[0]
    person = Person(content)
    person.says(WORDS[lang]["hi"])
    for topic_id in catalog.topic_ids:               # every topic is reachable by numbers alone
        outcome = person.picks(topic_id)
        assert outcome.match.intent == topic_id
        assert outcome.replies[0].body.startswith(catalog.answer(topic_id, lang).topic.pages[0])
    # A section's own menu, then MENU back to the top.
    person.says("menu")
    section_menu = person.says("1")
    assert section_menu.match.intent == catalog.top_menu()[0]
    assert person.says("menu").replies[0].body == catalog.menu(lang)[0]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_more_pages_then_the_end(content, lang):
    catalog = content[0]
    person = Person(content)
    first = person.says(WORDS[lang]["topic"])
    topic = catalog.answer(WORDS[lang]["topic_id"], lang).topic
    assert first.match.intent == topic.id
    assert catalog.text("more_hint", lang) in first.replies[0].body
    for page in topic.pages[1:]:
        assert person.says(WORDS[lang]["more"]).replies[0].body.startswith(page)
    assert person.says(WORDS[lang]["more"]).replies[0].body == catalog.text("more_end", lang)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_help_names_the_program_and_how_to_stop(content, lang):
    [reply] = Person(content).says(WORDS[lang]["help"]).replies
    assert "STOP" in reply.body and content[0].settings["org_name"] in reply.body


@pytest.mark.parametrize("lang", ["es", "en"])
def test_stop_confirms_once_then_silence_until_start(content, lang):
    person = Person(content)
    outcome = person.says(WORDS[lang]["stop"])
    assert [e.kind for e in outcome.events] == ["opt_out"] and len(outcome.replies) == 1
    assert person.state.opted_out
    assert person.says(WORDS[lang]["stop"]).replies == ()
    assert person.says(WORDS[lang]["topic"]).replies == ()
    assert person.says(WORDS[lang]["hi"]).replies == ()
    outcome = person.says(WORDS[lang]["start"])
    assert [e.kind for e in outcome.events] == ["opt_in"] and not person.state.opted_out
    assert person.says(WORDS[lang]["topic"]).replies


@pytest.mark.parametrize("lang", ["es", "en"])
def test_delete_my_data(content, lang):
    person = Person(content)
    person.says(WORDS[lang]["topic"])
    outcome = person.says(WORDS[lang]["delete"])
    assert [e.kind for e in outcome.events] == ["delete"]
    assert outcome.state.topic is None and outcome.replies[0].body == content[0].text("deleted", lang)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_talk_to_a_person(content, lang):
    outcome = Person(content).says(WORDS[lang]["human"])
    assert [e.kind for e in outcome.events] == ["handoff"]
    assert outcome.replies[0].body == content[0].text("handoff", lang)


def test_language_switch_sticks_whatever_they_write_in(content):
    person = Person(content)
    person.says("hola")
    outcome = person.says("english")
    assert person.state.lang == "en" and person.state.lang_chosen
    assert outcome.replies[0].body == content[0].text("language_changed", "en")
    assert person.says("asilo").replies[0].body.startswith(content[0].topics["en"]["asylum"].pages[0])


def test_an_indigenous_language_falls_back_to_spanish_with_a_notice(content):
    catalog = content[0]
    person = Person(content)
    outcome = person.says("qyool mam")
    assert person.state.lang == "mam"
    assert "Mam" in outcome.replies[0].body
    reply = person.picks("asylum").replies[0]
    assert reply.body.startswith(catalog.text("fallback_notice", "mam", language="Mam"))
    assert catalog.topics["es"]["asylum"].pages[0] in reply.body
    # Asking for a person in an Indigenous language asks for an interpreter.
    outcome = person.says("hablar con alguien")
    assert [e.kind for e in outcome.events] == ["interpreter"] and "Mam" in outcome.replies[0].body


def test_the_menu_works_by_number_alone_in_every_language(content):
    catalog = content[0]
    for lang in catalog.languages:
        person = Person(content, state=State(lang=lang, lang_chosen=True))
        assert person.says("menu").replies
        assert person.picks(catalog.topic_ids[1]).match.intent == catalog.topic_ids[1]


def test_not_understood_offers_the_menu(content):
    [reply] = Person(content).says("asdfgh qwerty").replies
    assert "MENU" in reply.body.upper()


def test_spanglish_gets_spanish(content):
    person = Person(content)
    person.says("el boss no me quiere pagar el overtime")
    assert person.state.lang == "es"


def test_reply_language_is_remembered(content):
    person = Person(content)
    person.says("my boss won't pay me")
    assert person.state.lang == "en"
    outcome = person.picks(content[0].topic_ids[2])
    assert outcome.replies[0].body.startswith(content[0].answer(content[0].topic_ids[2], "en").topic.pages[0])


def test_a_language_of_many_varieties_asks_the_region_for_the_interpreter(content):
    catalog = content[0]
    person = Person(content)
    first = person.says("hablo mixteco").replies[0].body
    assert catalog.text("ask_region", "mixteco") in first and person.state.awaiting_region
    outcome = person.says("San Juan Mixtepec, Oaxaca")
    assert person.state.region == "San Juan Mixtepec, Oaxaca" and not person.state.awaiting_region
    assert outcome.replies[0].body.startswith(catalog.text("region_saved", "mixteco", region="San Juan Mixtepec, Oaxaca"))
    outcome = person.says("interprete")
    assert [(e.kind, e.region) for e in outcome.events] == [("interpreter", "San Juan Mixtepec, Oaxaca")]


def test_the_region_question_does_not_trap_a_menu_choice_or_stop(content):
    person = Person(content)
    person.says("mam")
    assert person.says("1").match.intent == content[0].top_menu()[0]
    assert not person.state.awaiting_region and person.state.region is None
    person.says("mam")
    assert [e.kind for e in person.says("STOP").events] == ["opt_out"]
    person = Person(content)
    person.says("maya")                       # one variety reaches everyone: no question
    assert not person.state.awaiting_region


def test_language_and_region_in_one_message(content):
    person = Person(content)
    outcome = person.says("hablo mixteco de Guerrero")
    assert person.state.lang == "mixteco" and person.state.region == "guerrero" and not person.state.awaiting_region
    assert "guerrero" in outcome.replies[0].body
    assert Person(content).says("la gente de mexico se va por el tlcan").match.intent != "language"


# --- understanding in natural words (the intent model) ---------------------------------------------

@pytest.fixture(scope="module")
def served():
    from bot.runtime import LiveContent
    content = LiveContent(ROOT / "content", {"help_line": "1-800-555-0100"}).get()
    return content.catalog, content.matcher


def test_two_close_topics_get_one_numbered_question_and_the_number_picks(served):
    catalog, matcher = served
    person = Person(served)
    outcome = None
    for text in ("me lastime en el trabajo y el patron no me paga los dias", "me corrieron porque me lastime"):
        outcome = person.says(text)
        if outcome.match.clarify:
            break
    if not outcome.match.clarify:      # the model may be sure of both: then the question is tested directly
        from bot.matcher import Match
        outcome = handle(InboundMessage("sms", "+15550101", "x", "SMx"), State(),
                         catalog, type("M", (), {"match": lambda self, *a: Match("labor", "es", 0.4,
                                                                                   clarify=("labor", "injury")),
                                                 "choice": lambda self, *a: None})())
        person.state = outcome.state
    first, second = outcome.match.clarify
    [reply] = outcome.replies
    assert catalog.label(first, "es") in reply.body and catalog.label(second, "es") in reply.body
    assert [c.id for c in reply.choices] == [first, second] and reply.style == "buttons"
    assert person.says("2").match.intent == second


@pytest.mark.parametrize("text, intent", [("puedes escribirme en ingles?", "language"),
                                          ("me pasan con alguien de carne y hueso?", "human"),
                                          ("gracias", "thanks"), ("holiii", "menu"),
                                          ("ya no quiero que me escriban nada", "stop"),
                                          ("porfa borrenme de su lista y de todo", "delete")])
def test_commands_in_natural_words(served, text, intent):
    outcome = Person(served).says(text)
    # Removing me from your list "and everything" is an opt-out and a delete request at once: either is right.
    accepted = {"stop": {"stop", "confirm_stop"}, "delete": {"delete", "confirm_delete", "stop", "confirm_stop"}}.get(intent, {intent})
    assert outcome.match.intent in accepted, outcome.match


@pytest.mark.parametrize("text", ["how do i stop an eviction", "me dieron de baja del trabajo", "alto el fuego"])
def test_a_stop_word_in_another_sense_is_never_an_opt_out(served, text):
    outcome = Person(served).says(text)
    assert outcome.match.intent != "stop" and not any(e.kind == "opt_out" for e in outcome.events)


def test_an_unclear_opt_out_asks_with_the_word_that_does_it(served):
    catalog, _ = served
    from bot.matcher import Match
    matcher = type("M", (), {"match": lambda self, *a: Match("confirm_stop", "es", 0.6),
                             "choice": lambda self, *a: None})()
    outcome = handle(InboundMessage("sms", "+15550101", "ya estuvo", "SMy"), State(), catalog, matcher)
    [reply] = outcome.replies
    assert reply.body == catalog.text("confirm_stop", "es") and "BAJA" in reply.body
    assert outcome.events == () and [c.id for c in reply.choices] == ["stop", "menu"]


@pytest.mark.parametrize("text, topic", [("la migra esta tocando mi puerta ahorita", "ice-encounter"),
                                         ("MY SON IS 12 AND BORDER PATROL HAS HIM", "minors"),
                                         ("me duele el pecho y no puedo respirar", "health"),
                                         ("my chest hurts and i cant breathe", "health"),
                                         ("la patrulla fronteriza tiene a mi hija de 9", "minors")])
def test_an_emergency_gets_a_line_to_call_in_its_first_sms(served, text, topic):
    import re

    from bot import sms
    outcome = Person(served).says(text)
    [reply] = outcome.replies
    assert re.search(r"\d{3}", sms.render(reply.body, "sms")[:153]), reply.body


@pytest.mark.parametrize("text", ["me quiero matar", "ya no quiero vivir, nadie me entiende",
                                  "i want to kill myself", "i dont want to live anymore"])
def test_someone_who_speaks_of_ending_their_life_gets_the_crisis_line_first(served, text):
    """Not "no entendí", not an opt-out, not asylum: the health answer, with 988 in its first SMS."""
    from bot import sms
    outcome = Person(served).says(text)
    assert outcome.match.intent == "health", outcome.match
    [reply] = outcome.replies
    assert "988" in sms.render(reply.body, "sms")[:153], reply.body


@pytest.mark.parametrize("text, lang", [("stop texting me i want to die", "en"),
                                        ("dejen de escribirme ya no quiero vivir", "es")])
def test_an_unclear_opt_out_that_speaks_of_danger_gets_the_line_then_the_question(served, text, lang):
    """"stop texting me i want to die": the opt-out is not clear, the danger is. The health answer
    with 988 in its first SMS comes first, then the opt-out question; nothing is carried out, even
    when the model is sure of the opt-out ("dejen de escribirme ya no quiero vivir": stop 0.98)."""
    from bot import sms
    catalog, _ = served
    outcome = Person(served).says(text)
    assert outcome.match.intent == "confirm_stop"
    first, ask = outcome.replies
    assert "988" in sms.render(first.body, "sms")[:153], first.body
    assert ask.body == catalog.text("confirm_stop", lang) and outcome.events == ()


def test_short_english_is_answered_in_english(served):
    for text in ("lol", "wrong number", "thx"):
        person = Person(served)
        person.says(text)
        assert person.state.lang == "en", text


def test_someone_who_asks_who_writes_and_may_want_out_learns_who_we_are_then_the_question(served):
    """"quien me escribe de este numero": likeliest a question about us, and with a word about our
    messages it may be an opt-out. Who we are (free, private, how to leave) comes first, then the
    question; nothing is carried out. (An opt-out phrase as a sentence of its own, "quien les dio mi
    numero? no me escriban mas", is carried out: see test_matcher.)"""
    catalog, matcher = served
    from bot.matcher import Match
    # The model's reading is pinned: every new example moves what it says about one sentence.
    reads_as_about = type("M", (), {
        "match": lambda self, text, *a: Match("confirm_stop", "es", 0.37, model=(("about", 0.45), ("stop", 0.37))),
        "choice": lambda self, *a: None})()
    outcome = handle(InboundMessage("sms", "+15550101", "quien les dio mi numero?? dejen de mandarme cosas", "SMq1"),
                     State(), catalog, reads_as_about)
    assert outcome.match.intent == "confirm_stop"
    about, ask = outcome.replies
    assert about.body.startswith(catalog.topics["es"]["about"].pages[0][:40])
    assert ask.body == catalog.text("confirm_stop", "es") and outcome.events == ()


def test_an_unclear_delete_request_is_asked_about_and_the_word_does_it(served):
    """"Elimina mi informacion, mi esposo no sabe que escribi aqui" (once delete 0.67, under the 0.7 that
    carries it out) was "not understood": a person hiding from someone got nothing. It is asked about,
    naming the word; nothing is deleted until the word comes."""
    catalog, matcher = served
    from bot.matcher import Match
    unsure = type("M", (), {"match": lambda self, text, *a: (Match("confirm_delete", "es", 0.55) if text != "BORRAR"
                                                                else matcher.match(text, *a)),
                            "choice": lambda self, *a: None})()
    outcome = handle(InboundMessage("sms", "+15550101", "Elimina mi informacion", "SMd1"), State(), catalog, unsure)
    assert outcome.events == ()
    assert outcome.replies[0].body == catalog.text("confirm_delete", "es") and "BORRAR" in outcome.replies[0].body
    done = handle(InboundMessage("sms", "+15550101", "BORRAR", "SMd2"), outcome.state, catalog, unsure)
    assert [e.kind for e in done.events] == ["delete"]


@pytest.mark.parametrize("p, intent", [(0.45, "confirm_delete"), (0.65, "confirm_delete"), (0.9, "delete")])
def test_the_model_s_delete_confidence_decides_between_asking_and_doing(served, monkeypatch, p, intent):
    """Between DELETE_ASK and DELETE_SURE a delete request is asked about; above, carried out. The
    prediction is pinned: the real model's figure for any one sentence moves as examples are added."""
    from bot.intents import Prediction
    _, matcher = served
    pinned = Prediction([("delete", p), ("stop", (1 - p) / 2), ("about", (1 - p) / 2)], p_english=0.1)
    monkeypatch.setattr(matcher.model, "predict", lambda *a, **k: pinned)
    assert matcher.match("Elimina mi informacion, mi esposo no sabe que escribi aqui").intent == intent
