"""The voice line without a server: the call flow (`voice`), the speech version of pages (`speech`),
opening hours, and the content checks of what a call plays and says."""
from __future__ import annotations

import datetime as dt
import os
import shutil
from collections import deque
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import speech, voice
from bot.catalog import check_content, load_catalog
from bot.hours import OpenHours
from tests.conftest import CONTENT
from tests.voice_helpers import content_with_recordings, tiny_wav

CALLER = voice.Caller(can_text=True)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CONTENT)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return load_catalog(content_with_recordings(tmp_path_factory.mktemp("voice") / "content"))


def says(turn: voice.Turn) -> str:
    return " ".join(a.text for a in flat(turn.actions) if isinstance(a, voice.Say))


def flat(actions):
    for action in actions:
        if isinstance(action, voice.Gather):
            yield from action.prompts
        else:
            yield action


def walk(catalog, caller, keys, start=None):
    turn = start or voice.start(catalog, caller)
    for key in keys:
        turn = voice.press(catalog, turn.state, key, caller)
    return turn


# --- the menus -----------------------------------------------------------------------------------

def test_the_language_menu_comes_first_and_is_said_in_each_language(catalog):
    turn = voice.start(catalog, CALLER)
    first = list(flat(turn.actions))
    assert first[0] == voice.Say("Para español, oprima 1.", "es")
    assert first[1] == voice.Say("For English, press 2.", "en")
    assert first[2] == voice.Say("Para K'iche', oprima 3.", "es")   # no recording: its name in Spanish
    assert turn.state.screen == voice.LANGUAGE


def test_a_language_recording_announces_it(recorded):
    prompts = list(flat(voice.start(recorded, CALLER).actions))
    at = prompts.index(voice.Play("audio/language.wav", "mam"))
    assert prompts[at + 1] == voice.Say("Oprima 4.", "es")


def test_a_known_language_skips_the_language_menu(catalog):
    turn = voice.start(catalog, voice.Caller(lang="en"))
    assert turn.state.screen == voice.MENU and says(turn).startswith("Hi, this is")


@pytest.mark.parametrize("lang", ["es", "en", "mam"])
def test_every_topic_is_reached_by_keypad_and_no_page_says_more_than_six_choices(catalog, lang):
    """Breadth-first over the real flow: every key from every menu screen."""
    start = voice.Turn((), voice.CallState(voice.MENU, lang))
    seen, reached, queue = set(), set(), deque([start.state])
    while queue:
        state = queue.popleft()
        for key in "0123456789*":
            turn = voice.press(catalog, state, key, CALLER)
            if turn.state.screen in (voice.TOPIC, voice.NO_RECORDING):
                reached.add(turn.state.topic)
            elif turn.state.screen in (voice.MENU, voice.SECTION) and turn.state not in seen:
                seen.add(turn.state)
                queue.append(turn.state)
                said = says(turn)
                choices = said.count("oprima") + said.count("press") - 2     # less a person and back
                assert choices <= speech.MAX_CHOICES, said
    assert reached == set(catalog.topic_ids)


def test_every_language_can_be_chosen(catalog):
    chosen = set()
    for page in range(3):
        for key in "123456":
            turn = voice.press(catalog, voice.CallState(voice.LANGUAGE, page=page), key, CALLER)
            chosen.update(e.lang for e in turn.events if e.kind == "language")
    assert chosen == set(catalog.languages)


def test_keypad_problems_are_none_on_the_real_tree(catalog):
    assert voice.keypad_problems(catalog) == []


# --- a topic ---------------------------------------------------------------------------------------

def asylum(catalog, lang="es", caller=CALLER):
    return voice.press(catalog, voice.CallState(voice.SECTION, lang, section="border"), "1", caller)


def test_topic_keys_more_repeat_text_person_back(catalog):
    turn = asylum(catalog)
    assert turn.state.topic == "asylum" and "Pedir asilo es un derecho humano" in says(turn)
    keys = says(turn)
    for phrase in ("Para seguir, oprima 1.", "Para repetir, oprima 9.", "oprima 8", "oprima 0", "oprima asterisco"):
        assert phrase in keys
    nxt = voice.press(catalog, turn.state, "1", CALLER)
    assert nxt.state.page == 1
    assert says(voice.press(catalog, nxt.state, "9", CALLER)) == says(nxt)
    text = voice.press(catalog, nxt.state, "8", CALLER)
    assert text.events == (voice.CallEvent("text", "es", topic="asylum", page=1),)
    back = voice.press(catalog, nxt.state, "*", CALLER)
    assert (back.state.screen, back.state.section) == (voice.SECTION, "border")
    person = voice.press(catalog, nxt.state, "0", CALLER)
    assert isinstance(person.actions[-1], voice.Record) and "se graba" in says(person)


def test_opted_out_callers_are_not_offered_a_text(catalog):
    caller = voice.Caller(opted_out=True, can_text=False)
    turn = asylum(catalog, caller=caller)
    assert "oprima 8" not in says(turn)
    pressed = voice.press(catalog, turn.state, "8", caller)
    assert pressed.events == () and "STOP" in says(pressed)


def test_silence_repeats_once_then_goodbye(catalog):
    turn = asylum(catalog)
    again = voice.press(catalog, turn.state, "", CALLER)
    assert says(again).startswith("No escuché ninguna tecla. Para seguir")    # the keys, not the page again
    bye = voice.press(catalog, again.state, None, CALLER)
    assert isinstance(bye.actions[-1], voice.Hangup) and bye.state.screen == voice.ENDED
    # A key resets the count.
    pressed = voice.press(catalog, again.state, "9", CALLER)
    assert voice.press(catalog, pressed.state, "", CALLER).state.screen == voice.TOPIC


def test_indigenous_topic_without_recording_is_never_read_as_that_language(catalog):
    turn = asylum(catalog, "mam")
    assert turn.state.screen == voice.NO_RECORDING
    assert says(turn).startswith("Este tema todavía no tiene grabación en Mam.")
    assert all(a.lang == "es" for a in flat(turn.actions) if isinstance(a, voice.Say))
    spanish = voice.press(catalog, turn.state, "1", CALLER)
    assert spanish.state.spanish and "Pedir asilo" in says(spanish)
    interpreter = voice.press(catalog, turn.state, "0", CALLER)
    assert "Puede hablar en Mam." in says(interpreter)


def test_indigenous_topic_with_a_recording_plays_it(recorded):
    turn = asylum(recorded, "mam")
    assert voice.Play("audio/asylum.wav", "mam") in list(flat(turn.actions))
    assert "Pedir asilo" not in says(turn) and "Para seguir" not in says(turn)


def test_a_voice_text_replaces_the_written_page(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    path = root / "es" / "asylum.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("status: reviewed", 'status: reviewed\nvoice:\n  - ""\n  - "Texto para el teléfono."',
                                 1), encoding="utf-8")
    catalog = load_catalog(root)
    first = asylum(catalog)
    assert "Pedir asilo es un derecho humano" in says(first)                # "" keeps the written page
    assert says(voice.press(catalog, first.state, "1", CALLER)).startswith("Texto para el teléfono.")


def test_forwarding_dials_and_a_missed_call_records(catalog):
    caller = voice.Caller(forward_to="+13125550199")
    turn = voice.press(catalog, voice.CallState(voice.MENU, "en"), "0", caller)
    assert turn.actions[-1] == voice.Dial("+13125550199") and turn.events[0].kind == "forward"
    missed = voice.dialed(catalog, turn.state, "busy", caller)
    assert isinstance(missed.actions[-1], voice.Record)
    done = voice.recorded(catalog, missed.state, "RE" + "1" * 32, 5, caller)
    assert done.events == (voice.CallEvent("callback", "en", recording_sid="RE" + "1" * 32),)
    assert isinstance(done.actions[-1], voice.Hangup)


def test_a_stored_state_that_no_longer_fits_starts_over(catalog):
    assert voice.CallState.from_dict({"screen": "topic", "topic": 3, "page": "x", "lang": None}) == voice.CallState(
        screen="topic")
    turn = voice.press(catalog, voice.CallState(voice.TOPIC, "es", topic="gone"), "1", CALLER)
    assert (turn.state.screen, turn.state.section) == (voice.SECTION, "enforcement")   # the key went to the menu
    turn = voice.press(catalog, voice.CallState(voice.SECTION, "xx", section="nope"), "1", CALLER)
    assert turn.state.screen in (voice.LANGUAGE, voice.MENU)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.one_of(st.sampled_from(list("0123456789*#")), st.sampled_from(["", None, "12", "x", "٣", " 1"])),
                max_size=30), st.sampled_from(["es", "en", "mam", None]), st.booleans(), st.booleans())
def test_any_key_sequence_gives_a_valid_turn(keys, lang, opted_out, forward):
    catalog = _CATALOG
    caller = voice.Caller(lang=lang, opted_out=opted_out, can_text=not opted_out,
                          forward_to="+13125550199" if forward else None)
    turn = voice.start(catalog, caller)
    for key in keys:
        if turn.state.screen == voice.ENDED:
            break
        if turn.state.screen == voice.DIALING:
            turn = voice.dialed(catalog, turn.state, "no-answer", caller)
        elif turn.state.screen == voice.RECORDING:
            turn = voice.recorded(catalog, turn.state, None, 0, caller)
        else:
            turn = voice.press(catalog, turn.state, key, caller)
        assert turn.actions
        for action in flat(turn.actions):
            if isinstance(action, voice.Say):
                assert action.lang in ("es", "en") and action.text.strip()
            if isinstance(action, voice.Play):
                assert speech.playable(action.audio)
        gathers = [a for a in turn.actions if isinstance(a, voice.Gather)]
        assert len(gathers) <= 1
        assert bool(gathers) == (turn.state.screen in voice.GATHER_SCREENS)
        assert voice.CallState.from_dict(turn.state.to_dict()) == turn.state
        if opted_out:
            assert not any(e.kind == "text" for e in turn.events)


_CATALOG = load_catalog(CONTENT)


# --- speech ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang,written,spoken", [
    ("es", "Escribe INTERPRETE.", "oprime 0."),
    ("es", "Si alguien te promete papeles, escribe FRAUDE.",
     "Si alguien te promete papeles, busca Fraude y notarios en el menú, en DACA, T P S y papeles."),
    ("es", "Para dejar de recibir mensajes, responde STOP.",
     "Para dejar de recibir mensajes, manda un mensaje de texto con la palabra STOP."),
    ("en", "To delete all your data, write DELETE MY DATA.",
     "To delete all your data, text the word DELETE MY DATA."),
    ("es", "Llama al 911 o manda un texto al 233733.", "Llama al 9 1 1 o manda un texto al 2 3 3 7 3 3."),
    ("es", "Desde 2025 cuesta $100 en EE.UU.", "Desde 2025 cuesta 100 dólares en Estados Unidos."),
    ("en", "Call 1-888-373-7888, 24/7.", "Call 1, 8 8 8, 3 7 3, 7 8 8 8, 24 hours a day, 7 days a week."),
    ("en", "Go to justice.gov/eoir or the ER.", "Go to justice dot gov slash E O I R or the E R."),
    ("es", "Un \"notario\" NO es abogado en EE. UU. Cuidado.", "Un notario no es abogado en Estados Unidos. Cuidado."),
    ("es", "Visas H-2A y H-2B (EO 14224)", "Visas H 2 A y H 2 B, orden ejecutiva 14224."),
    ("en", "Kʼicheʼ speakers: 2+ years, 50%.", "Kʼicheʼ speakers: 2 or more years, 50 percent."),
])
def test_speech_version_of_written_text(catalog, lang, written, spoken):
    assert speech.speak(written, lang, voice.hints(catalog, lang)) == spoken


def test_every_page_is_said_within_the_budget(catalog):
    longest = {}
    for lang in ("es", "en"):
        for topic in catalog.topics[lang].values():
            for i in range(len(topic.pages)):
                said = voice.page_speech(catalog, topic, i, lang)
                seconds = speech.spoken_seconds(said)
                assert seconds <= speech.PAGE_SECONDS, (lang, topic.id, i, said)
                assert "{" not in said and "*" not in said and "uscis.gov" not in said
                longest[lang] = max(longest.get(lang, 0), seconds)
    assert 0 < longest["es"] <= speech.PAGE_SECONDS


@given(st.lists(st.integers(), max_size=40))
def test_keypad_pages_keep_every_item_in_order_six_choices_at_most(items):
    pages = speech.keypad_pages(items)
    assert [x for page in pages for x in page] == items
    for number, page in enumerate(pages, 1):
        assert len(page) + (number < len(pages)) <= speech.MAX_CHOICES


def test_audio_is_recognised_by_its_bytes(tmp_path):
    wav = tmp_path / "a.wav"
    tiny_wav(wav)
    assert speech.audio_kind(wav.read_bytes()[:16]) == "wav" and speech.audio_problem(wav) is None
    fake = tmp_path / "b.mp3"
    fake.write_bytes(b"<html>not audio</html>")
    assert "not an audio file" in speech.audio_problem(fake)
    renamed = tmp_path / "c.mp3"
    shutil.copy(wav, renamed)
    assert "rename it" in speech.audio_problem(renamed)
    link = tmp_path / "d.wav"
    os.symlink(wav, link)
    assert "link" in speech.audio_problem(link)


# --- opening hours ---------------------------------------------------------------------------------

def test_open_hours():
    hours = OpenHours.parse("Mon-Fri 09:00-17:00, Sat 10:00-14:00 America/Chicago")
    chicago = lambda *a: dt.datetime(*a, tzinfo=dt.timezone(dt.timedelta(hours=-6)))  # noqa: E731 (CST, December)
    assert hours.is_open(chicago(2026, 12, 4, 9, 0)) and not hours.is_open(chicago(2026, 12, 4, 17, 0))
    assert hours.is_open(chicago(2026, 12, 5, 13, 59)) and not hours.is_open(chicago(2026, 12, 6, 12, 0))
    summer = dt.datetime(2026, 7, 6, 14, 0, tzinfo=dt.timezone.utc)    # 09:00 CDT on a Monday
    assert hours.is_open(summer)
    weekend = OpenHours.parse("Fri-Mon 00:00-24:00 UTC")
    assert [weekend.is_open(dt.datetime(2026, 12, d, 12, tzinfo=dt.timezone.utc)) for d in range(1, 8)] == \
        [False, False, False, True, True, True, True]


@pytest.mark.parametrize("text,says", [
    ("Mon-Fri 09:00-17:00", "time zone"), ("Mon-Fri 09:00-17:00 Mars/Olympus", "unknown time zone"),
    ("Lun-Vie 09:00-17:00 America/Chicago", "unknown day"), ("Mon-Fri 17:00-09:00 America/Chicago", "after the start"),
    ("Mon-Fri 09:00-25:00 America/Chicago", "00:00 to 24:00"), ("weekdays America/Chicago", "DAYS HH:MM-HH:MM"),
])
def test_bad_hours_say_what_is_wrong(text, says):
    with pytest.raises(ValueError) as caught:
        OpenHours.parse(text)
    assert says in str(caught.value)


# --- content check ---------------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path) -> Path:
    return content_with_recordings(tmp_path / "content")


def problems(root: Path) -> list[str]:
    return [str(p) for p in check_content(root)]


def test_the_real_tree_and_the_recordings_tree_pass(tree):
    for root in (CONTENT, tree):
        found = check_content(root)
        assert [str(p) for p in found if p.severity == "error"] == []
        assert [str(p) for p in found if "voice" in p.message or "phone" in p.message or "recording" in p.message
                or "said aloud" in p.message] == []


def test_a_recording_that_is_not_audio_or_a_link_is_an_error(tree):
    (tree / "indigenous" / "mam" / "audio" / "language.wav").write_bytes(b"<html>oops</html>")
    found = problems(tree)
    assert any("indigenous/mam/audio/language.wav:1: error: the recording of the language's name is not an audio"
               in p for p in found), found
    target = tree / "indigenous" / "mam" / "audio" / "asylum.wav"
    real = tree.parent / "elsewhere.wav"
    shutil.move(target, real)
    os.symlink(real, target)
    assert any("asylum.md" in p and "link" in p for p in problems(tree))


def test_a_recording_a_call_cannot_play_is_a_warning(tree):
    mam = tree / "indigenous" / "mam"
    (mam / "audio" / "asylum.ogg").write_bytes(b"OggS" + b"\x00" * 60)
    (mam / "asylum.md").write_text("---\nstatus: reviewed\naudio: audio/asylum.ogg\n---\n", encoding="utf-8")
    [warning] = [p for p in check_content(tree) if "phone call" in p.message]
    assert warning.severity == "warning" and "no recording yet" in warning.message


def test_a_page_too_long_to_say_and_too_many_voice_texts(tree):
    path = tree / "en" / "about.md"
    text = path.read_text(encoding="utf-8")
    long_voice = " ".join(["word"] * 130)
    path.write_text(text.replace("status: reviewed", f"status: reviewed\nvoice:\n  - \"{long_voice}\"" +
                                 "\n  - \"\"" * 9, 1), encoding="utf-8")
    found = [p for p in check_content(tree) if p.path.endswith("en/about.md")]
    assert any("page 1 said aloud takes about 52 s (130 words at 150 a minute)" in p.message for p in found), found
    assert any("voice: has 10 texts but the topic has" in p.message for p in found), found


def test_an_unreachable_topic_is_reported(catalog):
    from dataclasses import replace
    sections = tuple(replace(s, topics=tuple(t for t in s.topics if t != "fraud")) for s in catalog.sections)
    broken = replace(catalog, sections=sections)
    assert voice.keypad_problems(broken) == ["topic 'fraud' cannot be reached by keypad (it is in no section of "
                                             "menu.yml)"]


# --- configuration ---------------------------------------------------------------------------------

@pytest.mark.parametrize("env,variable", [
    ({"VOICE_FORWARD_TO": "+13125550199"}, "VOICE_HOURS"),
    ({"VOICE_HOURS": "Mon-Fri 09:00-17:00 America/Chicago"}, "VOICE_FORWARD_TO"),
    ({"VOICE_FORWARD_TO": "312-555-0199", "VOICE_HOURS": "Mon-Fri 09:00-17:00 America/Chicago"}, "VOICE_FORWARD_TO"),
    ({"VOICE_FORWARD_TO": "+13125550199", "VOICE_HOURS": "Mon-Fri 9-5"}, "VOICE_HOURS"),
    ({"VOICE_ES": "Polly.Joanna-Neural"}, "VOICE_ES"),        # an English voice for Spanish
    ({"VOICE_ES": "alice"}, "VOICE_ES"),
    ({"VOICE_EN": "Google.es-MX-Neural2-A"}, "VOICE_EN"),
])
def test_bad_voice_settings_name_the_variable(env, variable):
    from bot.config import Config
    from bot.errors import ConfigError
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env)
    assert caught.value.variable == variable and str(caught.value).startswith(variable)


def test_voice_settings_defaults_and_accepted_values():
    from bot.config import Config
    config = Config.from_env({})
    assert (config.voice_es, config.voice_en, config.voice_forward_to) == ("Polly.Mia-Neural", "Polly.Joanna-Neural",
                                                                         None)
    config = Config.from_env({"VOICE_ES": "Google.es-MX-Neural2-B", "VOICE_EN": "Polly.Matthew-Generative",
                              "VOICE_FORWARD_TO": "+13125550199", "VOICE_HOURS": "Mon-Fri 09:00-17:00 America/Chicago"})
    assert config.voice_es == "Google.es-MX-Neural2-B" and str(config.voice_hours).startswith("Mon-Fri")


def test_cli_stops_with_one_line_naming_a_bad_voice_setting():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "bot.cli", "config"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "VOICE_FORWARD_TO": "+13125550199",
                                 "VOICE_HOURS": "Mon-Fri 09:00-17:00 Nowhere/Land"})
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "VOICE_HOURS" in result.stderr
