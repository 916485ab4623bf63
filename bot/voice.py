"""The voice line's call flow: what a caller hears, and where each key of the keypad takes them.

Pure: no Flask, Redis, RQ or Twilio. `start()`, `press()`, `dialed()` and `recorded()` take the
call's state and return a Turn: what to say or play (Say, Play, a Gather of them waiting for one
key, Dial, Record, Hangup), the next state, and the events the adapters carry out (remember the
language chosen, text a page, open a callback request).

The call: a language menu first (skipped when the caller's language is known from SMS), then the
same sections and topics as the SMS menu, said in pages of at most six choices. In a topic: the
first page, then 1 more, 9 repeat, * back, 0 a person, 8 "send me this by text message". A silence
repeats the prompt once, then the line says goodbye. Recordings (`audio:`) are played; text is said
in es-MX or en-US. An Indigenous language is heard only from recordings made in it: a topic without
one says so in Spanish and offers an interpreter, or the Spanish text said as Spanish.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import speech
from .catalog import DEFAULT_LANG, SECTION_PREFIX, Catalog, Topic, settings_for
from .text import normalize

# Screens: where a caller is.
LANGUAGE, MENU, SECTION, TOPIC, NO_RECORDING = "language", "menu", "section", "topic", "no_recording"
DIALING, RECORDING, ENDED = "dialing", "recording", "ended"
GATHER_SCREENS = (LANGUAGE, MENU, SECTION, TOPIC, NO_RECORDING)

MORE, TEXT, REPEAT, PERSON, BACK = "1", "8", "9", "0", "*"
KEYS = frozenset("0123456789*#")
NEXT_PAGE = str(speech.MAX_CHOICES)       # the last key of a menu page said in parts
GATHER_TIMEOUT = 7                        # seconds of silence before a prompt is repeated
MAX_RECORD_SECONDS = 60
LANGUAGE_RECORDING = "language"           # content/indigenous/<slug>/audio/language.mp3 (or .wav)
SAY_LANGUAGE = {"es": "es-MX", "en": "en-US"}
ANSWERED = frozenset({"completed", "answered"})

# What the line itself says, in the register of a phone menu (usted, "oprima"). Pages keep their own
# register; the SMS instructions inside them become HINTS.
PROMPTS = {
    "es": {
        "language_self": "Para español, oprima {key}.",
        "language_other": "Para {language}, oprima {key}.",
        "after_recording": "Oprima {key}.",
        "more_languages": "Para otras lenguas, oprima {key}.",
        "indigenous_notice": "Los temas que tienen grabación en {language} se escuchan en {language}. Los demás "
                             "todavía no tienen grabación: puede escucharlos en español o pedir un intérprete.",
        "menu_header": "Elija una opción.",
        "option": "{label}: oprima {key}.",
        "more_options": "Para más opciones, oprima {key}.",
        "key_language": "Para cambiar de idioma, oprima asterisco.",
        "key_more": "Para seguir, oprima 1.",
        "key_repeat": "Para repetir, oprima 9.",
        "key_text": "Para recibirlo por mensaje de texto, oprima 8.",
        "key_person": "Para hablar con una persona, oprima 0.",
        "key_interpreter": "Para hablar con un intérprete, oprima 0.",
        "key_spanish": "Para escucharlo en español, oprima 1.",
        "key_back": "Para volver, oprima asterisco.",
        "end_of_topic": "Es todo sobre este tema.",
        "no_recording": "Este tema todavía no tiene grabación en {language}.",
        "text_sent": "Listo, le mandamos este texto por mensaje.",
        "text_opted_out": "No le mandamos mensajes porque usted pidió STOP. Si quiere recibirlos otra vez, mande la "
                          "palabra START por mensaje de texto.",
        "text_unavailable": "No podemos mandar mensajes de texto a este número.",
        "invalid": "Esa opción no existe.",
        "no_key": "No escuché ninguna tecla.",
        "connecting": "Le comunicamos con una persona del programa. Un momento, por favor.",
        "dial_failed": "Nadie pudo contestar en este momento.",
        "nobody_now": "Ahora nadie puede contestar.",
        "record": "Deje un mensaje corto después del tono: su nombre y en qué le podemos ayudar. Este mensaje se "
                  "graba para que una persona del programa le devuelva la llamada. Para terminar, cuelgue u oprima "
                  "cualquier tecla.",
        "record_language": "Puede hablar en {language}.",
        "record_number": "Diga también su número de teléfono: no lo podemos ver.",
        "recorded": "Gracias. Una persona del programa le va a llamar lo antes posible.",
        "no_message": "No escuchamos un mensaje, pero anotamos que quiere hablar con una persona.",
        "goodbye": "Gracias por llamar. Adiós.",
        "unavailable": "Lo sentimos, la línea no funciona en este momento. Por favor, llame más tarde.",
    },
    "en": {
        "language_self": "For English, press {key}.",
        "language_other": "For {language}, press {key}.",
        "after_recording": "Press {key}.",
        "more_languages": "For other languages, press {key}.",
        "indigenous_notice": "Topics recorded in {language} are heard in {language}. The others have no recording "
                             "yet: you can hear them in Spanish or ask for an interpreter.",
        "menu_header": "Choose an option.",
        "option": "{label}: press {key}.",
        "more_options": "For more options, press {key}.",
        "key_language": "To change the language, press star.",
        "key_more": "To continue, press 1.",
        "key_repeat": "To repeat, press 9.",
        "key_text": "To get this by text message, press 8.",
        "key_person": "To talk to a person, press 0.",
        "key_interpreter": "To talk to an interpreter, press 0.",
        "key_spanish": "To hear it in Spanish, press 1.",
        "key_back": "To go back, press star.",
        "end_of_topic": "That is all on this topic.",
        "no_recording": "This topic has no recording in {language} yet.",
        "text_sent": "Done, we are sending you this by text message.",
        "text_opted_out": "We do not text you because you asked us to STOP. To get messages again, text the word "
                          "START.",
        "text_unavailable": "We cannot send text messages to this number.",
        "invalid": "That option does not exist.",
        "no_key": "I did not hear a key.",
        "connecting": "We are connecting you with a person from the program. One moment, please.",
        "dial_failed": "Nobody could answer right now.",
        "nobody_now": "Nobody can answer right now.",
        "record": "Leave a short message after the tone: your name and how we can help. This message is recorded "
                  "so that a person from the program can call you back. To finish, hang up or press any key.",
        "record_language": "You can speak in {language}.",
        "record_number": "Please also say your phone number: we cannot see it.",
        "recorded": "Thank you. A person from the program will call you as soon as possible.",
        "no_message": "We did not hear a message, but we noted that you want to talk to a person.",
        "goodbye": "Thank you for calling. Goodbye.",
        "unavailable": "Sorry, the line is not working right now. Please call again later.",
    },
}

# What an SMS instruction inside a page becomes on the phone (pages say "tú", as written).
HINTS = {
    "es": {"more": "oprime 1", "menu": "vuelve al menú con la tecla asterisco", "person": "oprime 0",
           "text": "manda un mensaje de texto con la palabra {word}", "topic": "busca {topic} en el menú, en {section}"},
    "en": {"more": "press 1", "menu": "go back to the menu with the star key", "person": "press 0",
           "text": "text the word {word}", "topic": "find {topic} in the menu, under {section}"},
}


# --- what a turn says and does -------------------------------------------------------------------

@dataclass(frozen=True)
class Say:
    text: str
    lang: str                  # es | en: the language of the voice


@dataclass(frozen=True)
class Play:
    audio: str                 # a content file ("audio/asylum.mp3") or an https URL
    lang: str                  # the language folder the file is in


@dataclass(frozen=True)
class Gather:
    """Wait for one key while the prompts are said (a key cuts them short)."""

    prompts: tuple[Say | Play, ...]


@dataclass(frozen=True)
class Dial:
    number: str


@dataclass(frozen=True)
class Record:
    max_seconds: int = MAX_RECORD_SECONDS


@dataclass(frozen=True)
class Hangup:
    pass


Action = Say | Play | Gather | Dial | Record | Hangup


@dataclass(frozen=True)
class CallState:
    """Where a caller is (stored by CallSid for the length of the call)."""

    screen: str = LANGUAGE
    lang: str = DEFAULT_LANG
    page: int = 0                     # the page of a menu said in parts, or of a topic
    section: str | None = None
    topic: str | None = None
    spanish: bool = False             # an Indigenous-language caller chose to hear a topic in Spanish
    timeouts: int = 0                 # silences in a row

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "CallState":
        """A state read back; anything malformed falls back to the default."""
        if not isinstance(data, dict):
            return cls()
        defaults = cls()
        values = {}
        for name, default in asdict(defaults).items():
            value = data.get(name, default)
            if default is None:
                ok = value is None or isinstance(value, str)
            elif isinstance(default, bool):
                ok = isinstance(value, bool)
            else:
                ok = isinstance(value, type(default)) and not isinstance(value, bool)
            values[name] = value if ok else default
        return cls(**values)


@dataclass(frozen=True)
class Caller:
    """What the line knows of the person calling (from their SMS record and the configuration)."""

    lang: str | None = None           # their language, when known (chosen, or from their conversation)
    opted_out: bool = False           # sent STOP: never texted, still served by voice
    can_text: bool = False            # a number that can receive SMS
    forward_to: str | None = None     # a person can take the call now at this number
    number_known: bool = True         # False: a hidden number nobody can call back
    region: str | None = None


@dataclass(frozen=True)
class CallEvent:
    """Something the adapters carry out besides answering."""

    kind: str                         # language | text | forward | callback
    lang: str
    topic: str | None = None
    page: int = 0
    recording_sid: str | None = None


@dataclass(frozen=True)
class Turn:
    actions: tuple[Action, ...]
    state: CallState
    events: tuple[CallEvent, ...] = field(default_factory=tuple)


# --- entry points --------------------------------------------------------------------------------

def start(catalog: Catalog, caller: Caller) -> Turn:
    """A new call: the language menu, or the main menu in the language already known."""
    if caller.lang and caller.lang in catalog.languages:
        state = CallState(MENU, caller.lang)
        return Turn(_welcome(catalog, caller.lang) + render(catalog, state, caller), state)
    state = CallState(LANGUAGE)
    return Turn(render(catalog, state, caller), state)


def press(catalog: Catalog, state: CallState, digits: str | None, caller: Caller) -> Turn:
    """A key pressed ("" or None: silence until the timeout)."""
    state = _valid(catalog, state)
    if state.screen not in GATHER_SCREENS:
        return start(catalog, caller) if state.screen != ENDED else _goodbye(catalog, state)
    if not digits:
        if state.timeouts >= 1:
            return _goodbye(catalog, state)
        state = replace(state, timeouts=state.timeouts + 1)
        again = render(catalog, state, caller, keys_only=state.screen == TOPIC)
        return Turn((Say(_prompt(state.lang, "no_key"), _voice_lang(state.lang)),) + again, state)
    state = replace(state, timeouts=0)
    key = digits.strip()
    if key not in KEYS or len(key) != 1:
        return _invalid(catalog, state, caller)
    if key == REPEAT:
        return Turn(render(catalog, state, caller), state)
    if key == PERSON and state.screen != LANGUAGE:
        return _person(catalog, state, caller)
    handler = {LANGUAGE: _on_language, MENU: _on_menu, SECTION: _on_section, TOPIC: _on_topic,
               NO_RECORDING: _on_no_recording}[state.screen]
    return handler(catalog, state, key, caller)


def dialed(catalog: Catalog, state: CallState, status: str, caller: Caller) -> Turn:
    """The forwarded call ended: done if a person answered, otherwise leave a message."""
    state = _valid(catalog, state)
    if status in ANSWERED:
        return Turn((Hangup(),), replace(state, screen=ENDED))
    return _record(catalog, state, caller, first=_prompt(state.lang, "dial_failed"))


def recorded(catalog: Catalog, state: CallState, recording_sid: str | None, seconds: int, caller: Caller) -> Turn:
    """The message is recorded (or the caller said nothing): open the callback request, say goodbye."""
    state = _valid(catalog, state)
    lang = _voice_lang(state.lang)
    heard = bool(recording_sid) and seconds > 0
    said = _prompt(state.lang, "recorded" if heard else "no_message")
    if not heard:
        said += " " + _prompt(state.lang, "recorded")
    event = CallEvent("callback", state.lang, topic=state.topic, recording_sid=recording_sid if heard else None)
    return Turn((Say(said, lang), Say(_prompt(state.lang, "goodbye"), lang), Hangup()),
                replace(state, screen=ENDED), (event,))


def unavailable(lang: str = DEFAULT_LANG) -> tuple[Action, ...]:
    """What a call hears when the line cannot work (storage down)."""
    lang = _voice_lang(lang)
    return (Say(PROMPTS[lang]["unavailable"], lang), Hangup())


# --- screens -------------------------------------------------------------------------------------

def language_items(catalog: Catalog) -> list[str]:
    """The language menu, in order: Spanish, English, then each Indigenous language."""
    rest = [lang for lang, language in catalog.languages.items() if language.indigenous]
    return [lang for lang in ("es", "en") if lang in catalog.languages] + rest


def top_items(catalog: Catalog) -> list[str]:
    return catalog.top_menu()


def section_items(catalog: Catalog, section_id: str) -> list[str]:
    section = catalog.section(section_id)
    return [tid for tid in (section.topics if section else ()) if tid in catalog.topics[DEFAULT_LANG]]


def language_recording(catalog: Catalog, lang: str) -> str | None:
    """The recording announcing a language in that language (audio/language.mp3 or .wav), if any."""
    language = catalog.languages.get(lang)
    if language is None or language.folder is None:
        return None
    for suffix in sorted(speech.PLAYABLE_SUFFIXES):
        path = Path(language.folder) / "audio" / (LANGUAGE_RECORDING + suffix)
        if path.is_file() and not path.is_symlink():
            return f"audio/{LANGUAGE_RECORDING}{suffix}"
    return None


def topic_recording(catalog: Catalog, lang: str, topic_id: str) -> str | None:
    """The topic's own recording in `lang` that a call can play, if any."""
    own = catalog.topics.get(lang, {}).get(topic_id)
    return own.audio if own is not None and speech.playable(own.audio) else None


def _paged(items: list[str], page: int) -> tuple[list[str], bool, int]:
    pages = speech.keypad_pages(items)
    page = min(max(page, 0), len(pages) - 1)
    return pages[page], page + 1 < len(pages), page


def _pick(items: list[str], page: int, key: str) -> tuple[str | None, str | None]:
    """(item chosen, None) or (None, 'next') for the page's next-page key, or (None, None)."""
    shown, more, _ = _paged(items, page)
    if more and key == NEXT_PAGE:
        return None, "next"
    if key.isdigit() and 1 <= int(key) <= len(shown):
        return shown[int(key) - 1], None
    return None, None


def _on_language(catalog: Catalog, state: CallState, key: str, caller: Caller) -> Turn:
    items = language_items(catalog)
    chosen, move = _pick(items, state.page, key)
    if move:
        state = replace(state, page=state.page + 1)
        return Turn(render(catalog, state, caller), state)
    if key == BACK:
        state = replace(state, page=max(state.page - 1, 0))
        return Turn(render(catalog, state, caller), state)
    if chosen is None:
        return _invalid(catalog, state, caller)
    state = CallState(MENU, chosen)
    return Turn(_welcome(catalog, chosen) + render(catalog, state, caller), state, (CallEvent("language", chosen),))


def _on_menu(catalog: Catalog, state: CallState, key: str, caller: Caller) -> Turn:
    chosen, move = _pick(top_items(catalog), state.page, key)
    if move:
        state = replace(state, page=state.page + 1)
    elif key == BACK:
        state = replace(state, page=state.page - 1) if state.page > 0 else CallState(LANGUAGE, state.lang)
    elif chosen is None:
        return _invalid(catalog, state, caller)
    elif chosen.startswith(SECTION_PREFIX):
        state = replace(state, screen=SECTION, section=chosen[len(SECTION_PREFIX):], page=0)
    else:
        return _open_topic(catalog, replace(state, section=None), chosen, caller)
    return Turn(render(catalog, state, caller), state)


def _on_section(catalog: Catalog, state: CallState, key: str, caller: Caller) -> Turn:
    chosen, move = _pick(section_items(catalog, state.section or ""), state.page, key)
    if move:
        state = replace(state, page=state.page + 1)
    elif key == BACK:
        state = replace(state, page=state.page - 1) if state.page > 0 else _menu_at(catalog, state, state.section)
    elif chosen is None:
        return _invalid(catalog, state, caller)
    else:
        return _open_topic(catalog, state, chosen, caller)
    return Turn(render(catalog, state, caller), state)


def _on_topic(catalog: Catalog, state: CallState, key: str, caller: Caller) -> Turn:
    if key == MORE:
        pages = _topic_pages(catalog, state)
        if state.page + 1 < pages:
            state = replace(state, page=state.page + 1)
            return Turn(render(catalog, state, caller), state)
        said = Say(_prompt(state.lang, "end_of_topic"), _voice_lang(state.lang))
        return Turn((said,) + render(catalog, state, caller, keys_only=True), state)
    if key == TEXT:
        return _text(catalog, state, caller)
    if key == BACK:
        return _back_from_topic(catalog, state, caller)
    return _invalid(catalog, state, caller)


def _on_no_recording(catalog: Catalog, state: CallState, key: str, caller: Caller) -> Turn:
    if key == MORE:
        state = replace(state, screen=TOPIC, spanish=True, page=0)
        return Turn(render(catalog, state, caller), state)
    if key == TEXT:
        return _text(catalog, state, caller)
    if key == BACK:
        return _back_from_topic(catalog, state, caller)
    return _invalid(catalog, state, caller)


def _open_topic(catalog: Catalog, state: CallState, topic_id: str, caller: Caller) -> Turn:
    language = catalog.languages[state.lang]
    state = replace(state, topic=topic_id, page=0, spanish=False)
    if language.indigenous and topic_recording(catalog, state.lang, topic_id) is None:
        state = replace(state, screen=NO_RECORDING)
    else:
        state = replace(state, screen=TOPIC)
    return Turn(render(catalog, state, caller), state)


def _back_from_topic(catalog: Catalog, state: CallState, caller: Caller) -> Turn:
    base = replace(state, topic=None, page=0, spanish=False)
    if state.section:
        items = section_items(catalog, state.section)
        page = speech.keypad_pages(items)
        where = next((i for i, p in enumerate(page) if state.topic in p), 0)
        back = replace(base, screen=SECTION, page=where)
    else:
        back = _menu_at(catalog, base, None, state.topic)
    return Turn(render(catalog, back, caller), back)


def _menu_at(catalog: Catalog, state: CallState, section_id: str | None, topic_id: str | None = None) -> CallState:
    """The main menu, at the page that lists this section (or topic)."""
    item = SECTION_PREFIX + section_id if section_id else topic_id
    pages = speech.keypad_pages(top_items(catalog))
    where = next((i for i, p in enumerate(pages) if item in p), 0)
    return replace(state, screen=MENU, page=where, section=None, topic=None, spanish=False)


def _text(catalog: Catalog, state: CallState, caller: Caller) -> Turn:
    lang = _voice_lang(state.lang)
    keys = render(catalog, state, caller, keys_only=True)
    if caller.opted_out:
        return Turn((Say(_prompt(state.lang, "text_opted_out"), lang),) + keys, state)
    if not caller.can_text:
        return Turn((Say(_prompt(state.lang, "text_unavailable"), lang),) + keys, state)
    text_lang = DEFAULT_LANG if state.spanish else state.lang
    page = state.page if state.screen == TOPIC else 0
    event = CallEvent("text", text_lang, topic=state.topic, page=page)
    return Turn((Say(_prompt(state.lang, "text_sent"), lang),) + keys, state, (event,))


def _person(catalog: Catalog, state: CallState, caller: Caller) -> Turn:
    if caller.forward_to:
        lang = _voice_lang(state.lang)
        return Turn((Say(_prompt(state.lang, "connecting"), lang), Dial(caller.forward_to)),
                    replace(state, screen=DIALING), (CallEvent("forward", state.lang, topic=state.topic),))
    return _record(catalog, state, caller, first=_prompt(state.lang, "nobody_now"))


def _record(catalog: Catalog, state: CallState, caller: Caller, first: str) -> Turn:
    lang = _voice_lang(state.lang)
    parts = [first, _prompt(state.lang, "record")]
    language = catalog.languages[state.lang]
    if language.indigenous:
        parts.append(_prompt(state.lang, "record_language", language=_language_name(catalog, state.lang)))
    if not caller.number_known:
        parts.append(_prompt(state.lang, "record_number"))
    return Turn((Say(" ".join(parts), lang), Record()), replace(state, screen=RECORDING))


def _invalid(catalog: Catalog, state: CallState, caller: Caller) -> Turn:
    said = Say(_prompt(state.lang, "invalid"), _voice_lang(state.lang))
    return Turn((said,) + render(catalog, state, caller, keys_only=state.screen == TOPIC), state)


def _goodbye(catalog: Catalog, state: CallState) -> Turn:
    said = Say(_prompt(state.lang, "goodbye"), _voice_lang(state.lang))
    return Turn((said, Hangup()), replace(state, screen=ENDED))


def _valid(catalog: Catalog, state: CallState) -> CallState:
    """A stored state that still fits the content (an edit may have removed a topic or a section)."""
    if state.lang not in catalog.languages:
        return CallState()
    if state.screen == SECTION and catalog.section(state.section or "") is None:
        return CallState(MENU, state.lang)
    if state.topic is not None and state.topic not in catalog.topics[DEFAULT_LANG]:
        return CallState(MENU, state.lang)
    if state.screen in (TOPIC, NO_RECORDING) and state.topic is None:
        return CallState(MENU, state.lang)
    if state.screen == TOPIC and state.page >= _topic_pages(catalog, state):
        return replace(state, page=0)
    return replace(state, page=max(state.page, 0), timeouts=min(max(state.timeouts, 0), 1))


# --- what each screen says -----------------------------------------------------------------------

def render(catalog: Catalog, state: CallState, caller: Caller, keys_only: bool = False) -> tuple[Action, ...]:
    """What a screen says (`keys_only`: a topic's key instructions without its page)."""
    if state.screen == LANGUAGE:
        return (Gather(_language_prompts(catalog, state.page)),)
    if state.screen == MENU:
        return (Gather(_menu_prompts(catalog, state, top_items(catalog), header=None, top=True)),)
    if state.screen == SECTION:
        label = _spoken(catalog, catalog.section_label(state.section or "", state.lang), state.lang)
        return (Gather(_menu_prompts(catalog, state, section_items(catalog, state.section or ""), header=label)),)
    if state.screen == NO_RECORDING:
        return (Gather(_no_recording_prompts(catalog, state, caller)),)
    if state.screen == TOPIC:
        content = () if keys_only else topic_content(catalog, state)
        return (Gather(content + _topic_keys(catalog, state, caller)),)
    return ()


def _language_prompts(catalog: Catalog, page: int) -> tuple[Say | Play, ...]:
    shown, more, page = _paged(language_items(catalog), page)
    prompts: list[Say | Play] = []
    for number, lang in enumerate(shown, 1):
        key = str(number)
        if lang in PROMPTS:
            prompts.append(Say(PROMPTS[lang]["language_self"].format(key=key), lang))
            continue
        recording = language_recording(catalog, lang)
        if recording:
            prompts += [Play(recording, lang), Say(PROMPTS["es"]["after_recording"].format(key=key), "es")]
        else:
            name = _language_name(catalog, lang)
            prompts.append(Say(PROMPTS["es"]["language_other"].format(language=name, key=key), "es"))
    if more:
        prompts += [Say(PROMPTS[lang]["more_languages"].format(key=NEXT_PAGE), lang) for lang in ("es", "en")]
    if page > 0:
        prompts.append(Say(PROMPTS["es"]["key_back"], "es"))
    return tuple(prompts)


def _menu_prompts(catalog: Catalog, state: CallState, items: list[str], header: str | None,
                  top: bool = False) -> tuple[Say, ...]:
    lang = _voice_lang(state.lang)
    shown, more, page = _paged(items, state.page)
    lines = [header + "." if header else _prompt(state.lang, "menu_header")]
    for number, item in enumerate(shown, 1):
        label = _spoken(catalog, catalog.label(item, state.lang), state.lang)
        lines.append(_prompt(state.lang, "option", label=label, key=str(number)))
    if more:
        lines.append(_prompt(state.lang, "more_options", key=NEXT_PAGE))
    # 9 repeats a menu too, unsaid: a menu says its choices, a person and the way back, no more.
    lines.append(_person_key(catalog, state))
    lines.append(_prompt(state.lang, "key_language" if top and page == 0 else "key_back"))
    return (Say(" ".join(lines), lang),)


def _no_recording_prompts(catalog: Catalog, state: CallState, caller: Caller) -> tuple[Say, ...]:
    name = _language_name(catalog, state.lang)
    lines = [_prompt(state.lang, "no_recording", language=name),
             _prompt(state.lang, "key_interpreter"), _prompt(state.lang, "key_spanish")]
    if caller.can_text and not caller.opted_out:
        lines.append(_prompt(state.lang, "key_text"))
    lines.append(_prompt(state.lang, "key_back"))
    return (Say(" ".join(lines), "es"),)


def topic_content(catalog: Catalog, state: CallState) -> tuple[Say | Play, ...]:
    """What a topic page says: its recording when it has one a call can play, else its speech text."""
    language = catalog.languages[state.lang]
    if language.indigenous and not state.spanish:
        recording = topic_recording(catalog, state.lang, state.topic or "")
        return (Play(recording, state.lang),) if recording else ()
    text_lang = DEFAULT_LANG if state.spanish or language.indigenous else state.lang
    answer = catalog.answer(state.topic or "", text_lang)
    if state.page == 0 and speech.playable(answer.audio_url):
        return (Play(answer.audio_url, text_lang),)
    return (Say(page_speech(catalog, answer.topic, state.page, text_lang), _voice_lang(text_lang)),)


def _topic_pages(catalog: Catalog, state: CallState) -> int:
    language = catalog.languages[state.lang]
    if language.indigenous and not state.spanish:
        return 1                       # the recording is the topic
    text_lang = DEFAULT_LANG if state.spanish or language.indigenous else state.lang
    return len(catalog.answer(state.topic or "", text_lang).topic.pages)


def _topic_keys(catalog: Catalog, state: CallState, caller: Caller) -> tuple[Say, ...]:
    lines = []
    if state.page + 1 < _topic_pages(catalog, state):
        lines.append(_prompt(state.lang, "key_more"))
    lines.append(_prompt(state.lang, "key_repeat"))
    if caller.can_text and not caller.opted_out:
        lines.append(_prompt(state.lang, "key_text"))
    lines += [_person_key(catalog, state), _prompt(state.lang, "key_back")]
    return (Say(" ".join(lines), _voice_lang(state.lang)),)


def _person_key(catalog: Catalog, state: CallState) -> str:
    indigenous = catalog.languages[state.lang].indigenous
    return _prompt(state.lang, "key_interpreter" if indigenous else "key_person")


def _welcome(catalog: Catalog, lang: str) -> tuple[Say, ...]:
    voice_lang = _voice_lang(lang)
    said = [Say(_spoken(catalog, catalog.text("welcome", voice_lang), voice_lang, sentence=True), voice_lang)]
    if catalog.languages[lang].indigenous:
        name = _language_name(catalog, lang)
        said.append(Say(PROMPTS["es"]["indigenous_notice"].format(language=name), "es"))
    return tuple(said)


# --- speech --------------------------------------------------------------------------------------

def _voice_lang(lang: str) -> str:
    """The voice a language is spoken with: English, or Spanish (an Indigenous caller hears Spanish)."""
    return "en" if lang == "en" else "es"


def _prompt(lang: str, name: str, **values: str) -> str:
    return PROMPTS[_voice_lang(lang)][name].format(**values)


def _language_name(catalog: Catalog, lang: str) -> str:
    return speech.speak(catalog.languages[lang].display_name("es"), "es", sentence=False)


def _spoken(catalog: Catalog, text: str, lang: str, sentence: bool = False) -> str:
    """A label or short text as said (no full stop added unless it is a sentence)."""
    return speech.speak(text, _voice_lang(lang), hints(catalog, _voice_lang(lang)), sentence=sentence)


def page_speech(catalog: Catalog, topic: Topic, page: int, lang: str, with_hints: speech.Hints | None = None) -> str:
    """What the voice says for one page of a topic: its `voice:` text when it has one, else the page."""
    voice_lang = _voice_lang(lang)
    written = topic.voice[page] if page < len(topic.voice) and topic.voice[page] else topic.pages[page]
    return speech.speak(written, voice_lang, with_hints or hints(catalog, voice_lang))


def hints(catalog: Catalog, lang: str) -> speech.Hints:
    """What the SMS instructions of `lang`'s pages mean on the phone, from its commands and topics."""
    return _hints(catalog, catalog.version, lang)


_HINTS_CACHE: dict[tuple, speech.Hints] = {}


def _hints(catalog: Catalog, version: str, lang: str) -> speech.Hints:
    key = (id(catalog), version, lang)
    cached = _HINTS_CACHE.get(key) if version else None    # a catalog still being checked has no version
    if cached is not None:
        return cached
    phrases = HINTS[lang]
    instead: dict[str, str] = {}
    for command, words in (catalog.commands.get(lang) or {}).items():
        for word in words:
            if command == "more":
                said = phrases["more"]
            elif command == "menu":
                said = phrases["menu"]
            elif command in ("human", "interpreter"):
                said = phrases["person"]
            else:
                said = phrases["text"].format(word=f"⟦{word.upper()}⟧")
            instead.setdefault(normalize(word), said)
    for tid in catalog.topic_ids:
        topic = catalog.topics.get(lang, {}).get(tid)
        if topic is None:
            continue
        section = next((s for s in catalog.sections if tid in s.topics), None)
        where = catalog.section_label(section.id, lang) if section else phrases["menu"]
        said = phrases["topic"].format(topic=topic.label, section=where)
        for word in topic.keywords + topic.phrases:
            instead.setdefault(normalize(word), said)
    values = settings_for(catalog.settings, lang, catalog.languages).values()
    numbers = tuple(v for v in values if any(c.isdigit() for c in v) and set(v) <= set("0123456789 -().+"))
    result = speech.Hints(instead, numbers)
    if version:
        if len(_HINTS_CACHE) > 32:
            _HINTS_CACHE.clear()
        _HINTS_CACHE[key] = result
    return result


# --- for editors and the content check -----------------------------------------------------------

def describe(actions: tuple[Action, ...]) -> list[str]:
    """Lines saying what a caller hears, for the terminal phone and previews."""
    lines = []
    for action in actions:
        if isinstance(action, Gather):
            lines += describe(action.prompts)
            lines.append("[waiting for a key]")
        elif isinstance(action, Say):
            lines.append(f"({SAY_LANGUAGE[action.lang]}) {action.text}")
        elif isinstance(action, Play):
            lines.append(f"[plays {action.lang}/{action.audio}]")
        elif isinstance(action, Dial):
            lines.append(f"[forwards the call to {action.number}]")
        elif isinstance(action, Record):
            lines.append(f"[records a message, up to {action.max_seconds} s]")
        elif isinstance(action, Hangup):
            lines.append("[hangs up]")
    return lines


def keypad_problems(catalog: Catalog) -> list[str]:
    """Every menu reachable by keypad: each language, section and topic has a key on some page of
    its menu, and no page says more than MAX_CHOICES choices."""
    problems = []
    menus = [("the language menu", language_items(catalog), set(catalog.languages)),
             ("the main menu", top_items(catalog), None)]
    menus += [(f"section '{s.id}'", section_items(catalog, s.id), None) for s in catalog.sections]
    reached: set[str] = set()
    for name, items, expected in menus:
        pages = speech.keypad_pages(items)
        for number, page in enumerate(pages, 1):
            choices = len(page) + (1 if number < len(pages) else 0)
            if choices > speech.MAX_CHOICES:
                problems.append(f"page {number} of {name} says {choices} choices; at most {speech.MAX_CHOICES}")
        listed = [item for page in pages for item in page]
        if listed != list(items):
            problems.append(f"{name}: some choices have no key")
        if expected is not None:
            for lang in sorted(expected - set(listed)):
                problems.append(f"language '{lang}' cannot be chosen in {name}")
        reached.update(listed)
    for tid in catalog.topic_ids:
        if tid not in reached:
            problems.append(f"topic '{tid}' cannot be reached by keypad (it is in no section of menu.yml)")
    return problems
