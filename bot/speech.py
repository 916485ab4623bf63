"""How the phone line speaks a written text: the speech version of a page, how long it takes to say,
and which recordings a call can play.

Pure: no Flask, Redis, RQ or Twilio. A page written for SMS does not speak well as it is: it says
"escribe MAS", "EE. UU.", "1-800-799-7233" and "uscis.gov/fees". `speak()` turns it into what a
text-to-speech voice should read: SMS instructions become keypad instructions, abbreviations are
expanded, phone numbers are read digit by digit and web addresses are spelled out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .text import normalize

# A normal speaking pace; text-to-speech voices at their default rate read about this fast.
WORDS_PER_MINUTE = 150
PAGE_SECONDS = 45                 # the budget of one page said aloud
MAX_CHOICES = 6                   # choices said at once in a menu (a longer list is split)
# What Twilio's <Play> plays (it does not play ogg, amr or m4a: those are WhatsApp formats).
PLAYABLE_SUFFIXES = frozenset({".mp3", ".wav"})
SPEECH_LANGS = ("es", "en")

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def word_count(text: str) -> int:
    """Words as a voice says them; a digit read alone is a word.

    >>> word_count("Llama al 9 1 1, ahora.")
    6
    """
    return len(_WORD.findall(text))


def spoken_seconds(text: str) -> float:
    """How long `text` takes to say at WORDS_PER_MINUTE.

    >>> spoken_seconds(" ".join(["palabra"] * 150))
    60.0
    """
    return word_count(text) * 60.0 / WORDS_PER_MINUTE


def words_for(seconds: float) -> int:
    """How many words fit in `seconds`.

    >>> words_for(PAGE_SECONDS)
    112
    """
    return int(seconds * WORDS_PER_MINUTE / 60)


@dataclass(frozen=True)
class Hints:
    """What the SMS instructions of one language's pages mean on the phone.

    `instead` maps the normalised words a page tells people to write ("interprete", "fraude") to
    what the voice says instead ("oprime 0", "busca Fraude en el menú, en ..."; words in ⟦ ⟧ are said
    exactly as written, as an SMS command word must be); `numbers` are the
    phone numbers of the settings, read digit by digit wherever they appear (911, 988 ...).
    """

    instead: dict[str, str] = field(default_factory=dict)
    numbers: tuple[str, ...] = ()


# The verbs of an SMS instruction ("escribe FRAUDE", "responde STOP", "write FRAUD").
_INSTRUCTION = re.compile(
    r"\b(?i:escr[ií]benos|escribe|escriba|responde|responda|contesta|manda|env[ií]a|write|reply|text|send|type)"
    r"(?:\s+(?i:la palabra|the word))?\s+"
    r"((?:[A-ZÁÉÍÓÚÑÜ][A-ZÁÉÍÓÚÑÜ']+)(?:\s+[A-ZÁÉÍÓÚÑÜ][A-ZÁÉÍÓÚÑÜ']+)*)\b")

# Abbreviations said as words or letters, per language; matched as whole words, longest first.
_SAY = {
    "es": {
        "EE. UU.": "Estados Unidos", "EE.UU.": "Estados Unidos", "EE. UU": "Estados Unidos",
        "EE.UU": "Estados Unidos", "EEUU": "Estados Unidos", "U.S.C.": "U S C", "EO": "orden ejecutiva",
        "Título VI": "Título 6", "CA": "California", "NY": "Nueva York", "IL": "Illinois", "WA": "Washington",
        "ej.": "por ejemplo", "p. ej.": "por ejemplo", "No.": "número", "núm.": "número", "T-MEC": "T MEC",
        "24/7": "24 horas, 7 días a la semana",
    },
    "en": {
        "U.S.C.": "U S C", "U.S.": "U S", "EO": "Executive Order", "Title VI": "Title 6", "CA": "California",
        "NY": "New York", "IL": "Illinois", "WA": "Washington", "e.g.": "for example", "i.e.": "that is",
        "No.": "number", "T-MEC": "T MEC", "24/7": "24 hours a day, 7 days a week", "A-number": "A number",
    },
}
# Read letter by letter (also inside web addresses).
SPELLED = frozenset({
    "USCIS", "TPS", "CBP", "MPP", "EOIR", "ORR", "SIJS", "OIT", "ILO", "BIA", "GED", "FTC", "HUD", "CFR",
    "USMCA", "US", "UN", "DC", "ER", "ID", "DHS", "DOL", "EEOC", "NLRB", "HHS", "IRS", "ITIN", "SSN", "SAT",
    "CURP", "RFC", "INE", "SRE", "DIF", "ACLU", "CPS", "PTSD", "EPA", "FBI", "HRSA",
})
# Capitals said as a word; any other word in capitals is emphasis ("NO es abogado") and is read in
# lower case, so no voice spells it.
AS_WORDS = frozenset({
    "DACA", "ICE", "VAWA", "OSHA", "NAFTA", "TLCAN", "CIAM", "ONU", "COVID", "MEC", "STOP", "START",
    "ALTA", "BAJA", "BORRAR", "AYUDA", "HELP", "MENU", "MAS", "MORE", "PERSONA", "PERSON", "INTERPRETE",
    "INTERPRETER", "DELETE", "UNICEF", "OEA", "FEMA",
})

_PLACE = {"es": ("punto", "diagonal", "guion"), "en": ("dot", "slash", "dash")}
_MONEY = {"es": "dólares", "en": "dollars"}
_OR_MORE = {"es": "o más", "en": "or more"}
_PERCENT = {"es": "por ciento", "en": "percent"}
_AND = {"es": "y", "en": "and"}

_URL = re.compile(r"(?i)\b(?:https?://)?(?:www\.)?((?:[a-z0-9][a-z0-9-]*\.)+(?:gov|org|com|net|edu|mx|us|info|io))"
                  r"\b((?:/[\w\-.%]*[\w\-%])*)/?")
# Digit groups joined by hyphens, dots or spaces, with 7 digits or more: a phone number.
_PHONE = re.compile(r"(?<![\w$.,/])(?:\+\s?)?(?:\(\d{2,4}\)\s?|\d{1,4}[ .-])(?:\d{2,4}[ .-]){1,3}\d{2,4}(?![\w/]|[.,]\d)")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A short number right after a word for calling or texting ("llama al 911", "texto 233733").
_SHORT_NUMBER = re.compile(
    r"(?i)\b(llam[ae]r?(?: al?)?|marca(?:r)?(?: el)?|un texto al|texto(?: al)?|mensaje al|call|dial|text|line)"
    r"\s+(\d{3,6})\b")
_CODE = re.compile(r"\b([A-Z]{1,5})-(\d+)([A-Z]?)\b")         # H-2A, I-205, AR-11, COVID-19
_CAPS = re.compile(r"\b[A-ZÁÉÍÓÚÑÜ]{2,}\b")
_KEEP = re.compile(r"⟦([^⟦⟧]*)⟧")        # in a hint: said exactly as written


def digits_aloud(number: str) -> str:
    """A phone number read digit by digit, its groups apart.

    >>> digits_aloud("1-800-799-7233")
    '1, 8 0 0, 7 9 9, 7 2 3 3'
    >>> digits_aloud("911")
    '9 1 1'
    """
    return ", ".join(" ".join(group) for group in re.findall(r"\d+", number))


def spell(word: str) -> str:
    """Letters one by one, digits kept together.

    >>> spell("USCIS"), spell("H2A")
    ('U S C I S', 'H 2 A')
    """
    return " ".join(re.findall(r"\d+|[^\W\d_]", word))


def address_aloud(host: str, path: str, lang: str) -> str:
    """A web address as a voice should say it.

    >>> address_aloud("uscis.gov", "/fees", "es")
    'U S C I S punto gov diagonal fees'
    >>> address_aloud("immigrationadvocates.org", "/legaldirectory", "en")
    'immigrationadvocates dot org slash legaldirectory'
    """
    dot, slash, dash = _PLACE[_speech_lang(lang)]

    def label(part: str) -> str:
        words = [spell(p.upper()) if p.upper() in SPELLED else p for p in part.split("-") if p]
        return f" {dash} ".join(words)
    spoken = f" {dot} ".join(label(p) for p in host.lower().split(".") if p)
    for segment in (s for s in path.split("/") if s):
        spoken += f" {slash} " + f" {dot} ".join(label(p) for p in segment.split(".") if p)
    return spoken


def speak(text: str, lang: str, hints: Hints | None = None, sentence: bool = True) -> str:
    """The speech version of a written text (`lang` es or en; others are read as Spanish). Each line
    is a sentence; `sentence=False` (a label, a name) adds no full stop to the last one.

    >>> speak("NO es abogado en EE. UU. Llama al 1-800-799-7233 o ve a uscis.gov/fees.", "es")
    'no es abogado en Estados Unidos. Llama al 1, 8 0 0, 7 9 9, 7 2 3 3 o ve a U S C I S punto gov diagonal fees.'
    >>> speak("Pide la forma I-821 (cuesta $50).", "es")
    'Pide la forma I 821, cuesta 50 dólares.'
    >>> speak("If you need an interpreter, write INTERPRETER.", "en", Hints({"interpreter": "press 0"}))
    'If you need an interpreter, press 0.'
    """
    lang = _speech_lang(lang)
    hints = hints or Hints()
    text = text.replace("*", "").replace("_", " ")
    text = re.sub(r"[<>«»“”\"]", "", text)
    text = text.replace("…", ".")
    # Lines are sentences on a phone: a line without a full stop gets one.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = " ".join(line if line[-1] in ".,;:?!" or (i == len(lines) - 1 and not sentence) else line + "."
                    for i, line in enumerate(lines))
    text = _INSTRUCTION.sub(lambda m: hints.instead.get(normalize(m.group(1)), m.group(0)), text)
    # Words to say exactly as written (an SMS command word: "STOP", "DELETE MY DATA") wait aside.
    kept: list[str] = []

    def keep(m: re.Match) -> str:
        kept.append(m.group(1))
        return f"\ue000{chr(0xE100 + len(kept) - 1)}\ue000"
    text = _KEEP.sub(keep, text)
    text = _URL.sub(lambda m: address_aloud(m.group(1), m.group(2) or "", lang), text)
    for number in sorted(hints.numbers, key=len, reverse=True):
        if number:
            text = re.sub(r"(?<![\d-])" + re.escape(number) + r"(?![\d-])", lambda m: digits_aloud(m.group(0)), text)
    text = _PHONE.sub(lambda m: m.group(0) if _DATE.match(m.group(0).strip()) or _digit_total(m.group(0)) < 7
                      else digits_aloud(m.group(0)), text)
    text = _SHORT_NUMBER.sub(lambda m: f"{m.group(1)} {digits_aloud(m.group(2))}", text)
    text = _say_table(text, lang)
    text = re.sub(r"\$\s?(\d[\d,.]*\d|\d)", lambda m: f"{m.group(1)} {_MONEY[lang]}", text)
    text = re.sub(r"(\d)\s?%", lambda m: f"{m.group(1)} {_PERCENT[lang]}", text)
    text = re.sub(r"(\d)\+", lambda m: f"{m.group(1)} {_OR_MORE[lang]}", text)
    text = text.replace(" & ", f" {_AND[lang]} ")
    text = _CODE.sub(_code_aloud, text)
    text = _CAPS.sub(_caps_aloud, text)
    text = re.sub(r"(?<=\w)/(?=\w)", " ", text)
    # Brackets are pauses; tidy the commas they leave.
    text = re.sub(r"\s*[()\[\]]\s*", ", ", text)
    text = re.sub(r",\s*([,.;:?!])", r"\1", text)
    text = re.sub(r"([.;:?!]),", r"\1", text)
    text = re.sub(r"\s+([,.;:?!])", r"\1", text)
    text = re.sub(r"^[,\s]+", "", text)
    text = re.sub("\ue000(.)\ue000", lambda m: kept[ord(m.group(1)) - 0xE100], text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _speech_lang(lang: str) -> str:
    return lang if lang in SPEECH_LANGS else "es"


def _digit_total(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _code_aloud(m: re.Match) -> str:
    letters, number, tail = m.groups()
    head = letters if letters in AS_WORDS else spell(letters)
    return f"{head} {number}" + (f" {tail}" if tail else "")


def _caps_aloud(m: re.Match) -> str:
    word = m.group(0)
    if word in SPELLED:
        return spell(word)
    return word if word in AS_WORDS else word.lower()


_TABLES: dict[str, tuple[re.Pattern, dict[str, str]]] = {}


def _say_table(text: str, lang: str) -> str:
    if lang not in _TABLES:
        table = _SAY[lang]
        keys = sorted(table, key=len, reverse=True)
        pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w])")
        _TABLES[lang] = (pattern, table)
    pattern, table = _TABLES[lang]

    def say(m: re.Match) -> str:
        spoken = table[m.group(1)]
        # "EE. UU." ending a sentence keeps the sentence's full stop.
        if m.group(1).endswith(".") and _SENTENCE_NEXT.match(m.string, m.end()):
            spoken += "."
        return spoken
    return pattern.sub(say, text)


_SENTENCE_NEXT = re.compile(r"\s+[A-ZÁÉÍÓÚÑ¿¡]|\s*$")


# --- recordings ----------------------------------------------------------------------------------

def audio_kind(head: bytes) -> str | None:
    """What kind of audio a file starts with (its first bytes), or None if it is not audio.

    >>> audio_kind(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt "), audio_kind(b"ID3\\x04"), audio_kind(b"<html>")
    ('wav', 'mp3', None)
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"                     # ADTS: the same sync word as MPEG audio, layer bits 00
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"                     # an MPEG audio frame with no ID3 tag
    if head[:4] == b"OggS":
        return "ogg"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[4:8] == b"ftyp":
        return "m4a"
    return None


_SUFFIX_KINDS = {".mp3": "mp3", ".wav": "wav", ".ogg": "ogg", ".oga": "ogg", ".opus": "ogg", ".amr": "amr",
                 ".m4a": "m4a", ".aac": "aac"}


def audio_problem(path: Path) -> str | None:
    """Why a recording cannot be used, or None: a real file, audio, of the kind its name says."""
    if path.is_symlink():
        return "is a link: put the real file in the audio/ folder"
    if not path.is_file():
        return "not found"
    with path.open("rb") as handle:
        kind = audio_kind(handle.read(16))
    if kind is None:
        return "is not an audio file (its first bytes are not mp3, wav, ogg, amr or m4a)"
    expected = _SUFFIX_KINDS.get(path.suffix.lower())
    if expected and expected != kind and not {expected, kind} <= {"mp3", "aac"}:
        return f"is {kind} audio but its name ends in {path.suffix}: rename it"
    return None


def playable(audio: str | None) -> bool:
    """A recording a call can play: an mp3 or wav file (or https URL).

    >>> playable("audio/asylum.mp3"), playable("audio/asylum.ogg"), playable(None)
    (True, False, False)
    """
    return bool(audio) and Path(audio.split("?")[0]).suffix.lower() in PLAYABLE_SUFFIXES


def keypad_pages(items: list[str], size: int = MAX_CHOICES) -> list[list[str]]:
    """A menu said in pages of at most `size` choices: when the list is longer, each page holds
    size - 1 items and the last key of the page asks for the next one.

    >>> keypad_pages(list("abcdefgh"))
    [['a', 'b', 'c', 'd', 'e'], ['f', 'g', 'h']]
    >>> keypad_pages(list("abcdef"))
    [['a', 'b', 'c', 'd', 'e', 'f']]
    """
    if len(items) <= size:
        return [list(items)]
    step = size - 1
    return [list(items[i:i + step]) for i in range(0, len(items), step)]
