"""SMS encoding and segmenting: what a text costs on SMS and what the phone will show.

Pure standard library; no Flask, Redis or Twilio here.

How Twilio counts, and the choices made where it is silent (each one is tested):

- A body is sent as GSM-7 when every character is in the GSM 03.38 default alphabet or its
  extension table, otherwise as UCS-2. One segment holds 140 octets: 160 septets (GSM-7) or
  70 UTF-16 code units (UCS-2). Once a body needs more than one segment, each segment carries a
  6-octet concatenation header, leaving 153 septets or 67 code units.
- Extension characters (``^ { } \\ [ ~ ] | €`` and form feed) are an escape septet plus a
  septet: 2 septets, and the pair is never split, so a segment may end one septet short.
- Characters outside the Basic Multilingual Plane (most emoji) are surrogate pairs in UCS-2:
  2 code units, never split, so a segment may end one unit short.
- Whole grapheme clusters (an emoji joined with ZWJ, a flag, a letter with combining marks, CR LF)
  stay in one segment, as in Twilio's own calculator (the npm package sms-segments-calculator,
  TwilioDevEd/message-segment-calculator), and a cluster of two or more code points makes the
  message UCS-2 as it does there (CR LF excepted: two characters, both GSM-7). tests/data/segment-vectors.json holds its answers for 12,000
  texts near segment boundaries; this module agrees with every one.
- Empty text is 1 GSM-7 segment of 0 units, as Twilio's calculator reports it (its segment list
  always starts with one segment). Twilio's API refuses an empty Body with no media (error
  21602), so this count is never billed.
- A lone surrogate (``'\\ud800'``, possible in a Python str, never in valid UTF-8) counts as one
  UCS-2 code unit and is never paired with a neighbour.
- ``TWILIO_BODY_LIMIT``: Twilio accepts a Body of up to 1600 characters; truncation is the
  caller's job.

Folding policy (``fold_to_gsm7``): an accent is dropped only where the word stays readable
(acute, grave, circumflex, tilde, ring, cedilla on a GSM-7 base: á→a, ç→c; é ñ ü stay, being
GSM-7). Marks that carry meaning in Indigenous orthographies (Purépecha ï, Mixtec a̱, ...) are
kept, as are emoji and other scripts: the message then stays UCS-2. Zero-width joiners are kept
between two such characters (emoji ZWJ sequences) and removed elsewhere.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import regex

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SegmentInfo",
    "TWILIO_BODY_LIMIT",
    "fold_to_gsm7",
    "is_gsm7",
    "render",
    "chars_over_budget",
    "segment_info",
    "strip_whatsapp_formatting",
]

TWILIO_BODY_LIMIT = 1600

# GSM 03.38 default alphabet in table order (0x00-0x7F), with 0x1B (the escape to the
# extension table, not a character) left out: 127 characters. Escapes keep look-alikes out
# (Greek capitals, not the math symbols U+2206 or U+2126).
GSM7_BASIC: frozenset[str] = frozenset(
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5"  # 0x00
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e"  # 0x10-0x1A
    "\u00c6\u00e6\u00df\u00c9"  # 0x1C-0x1F
    " !\"#\u00a4%&'()*+,-./"  # 0x20
    "0123456789:;<=>?"  # 0x30
    "\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7"  # 0x40
    "\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0"  # 0x60
)

# Extension table: each is ESC + one septet on the air.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|\u20ac")

_GSM7 = GSM7_BASIC | GSM7_EXTENSION
_GRAPHEME = regex.compile(r"\X", regex.DOTALL)

_GSM7_SINGLE, _GSM7_MULTI = 160, 153
_UCS2_SINGLE, _UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SegmentInfo:
    """How a text goes out as SMS: encoding, segment count, units on the air, code points."""

    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2 (headers not counted)
    characters: int  # len(text): code points


def is_gsm7(text: str) -> bool:
    """Whether every character of text can be sent in GSM-7 (basic or extension table).

    >>> is_gsm7("Señor, ¿qué pasó?")
    False
    >>> is_gsm7("Señor, ¿qué paso?")
    True
    >>> is_gsm7("Costo: 5€ [aprox]")
    True
    """
    return all(ch in _GSM7 for ch in text)


def _count_segments(sizes: list[int], single: int, multi: int) -> int:
    """Segments needed for items of the given sizes, never splitting an item."""
    if sum(sizes) <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:
            segments += 1
            used = 0
        used += size
    return segments


def _graphemes(text: str) -> list[str]:
    """Extended grapheme clusters (what a reader sees as one character): a flag, an emoji with its
    skin tone or its ZWJ sequence, a letter with its combining marks. CR LF counts as two, as in
    Twilio's calculator."""
    out: list[str] = []
    for cluster in _GRAPHEME.findall(text):
        if cluster == "\r\n":
            out += ["\r", "\n"]
        else:
            out.append(cluster)
    return out


def segment_info(text: str) -> SegmentInfo:
    """Encoding and segment count of text as Twilio sends it over SMS.

    >>> segment_info("Hola")
    SegmentInfo(encoding='GSM-7', segments=1, units=4, characters=4)
    >>> segment_info("a" * 161).segments
    2
    >>> segment_info("Tus derechos 😀")
    SegmentInfo(encoding='UCS-2', segments=1, units=15, characters=14)
    >>> segment_info("")
    SegmentInfo(encoding='GSM-7', segments=1, units=0, characters=0)
    """
    graphemes = _graphemes(text)
    # A cluster of two or more code points (e with a combining accent, a flag) is never GSM-7.
    if all(len(g) == 1 and g in _GSM7 for g in graphemes):
        sizes = [2 if g in GSM7_EXTENSION else 1 for g in graphemes]
        encoding, single, multi = "GSM-7", _GSM7_SINGLE, _GSM7_MULTI
    else:
        # UTF-16 code units per cluster: astral code points are surrogate pairs; a lone surrogate is one.
        sizes = [sum(2 if ord(ch) > 0xFFFF else 1 for ch in g) for g in graphemes]
        encoding, single, multi = "UCS-2", _UCS2_SINGLE, _UCS2_MULTI
    return SegmentInfo(
        encoding=encoding,
        segments=_count_segments(sizes, single, multi),
        units=sum(sizes),
        characters=len(text),
    )


def chars_over_budget(text: str, segments: int) -> int:
    """How many characters to cut from the end of text so that it fits `segments` SMS segments.

    >>> chars_over_budget("a" * 170, 1), chars_over_budget("hola", 1)
    (10, 0)
    """
    if segment_info(text).segments <= segments:
        return 0
    low, high = 0, len(text)          # the longest prefix that fits is in [low, high)
    while low < high - 1:
        middle = (low + high) // 2
        if segment_info(text[:middle]).segments <= segments:
            low = middle
        else:
            high = middle
    return len(text) - low


# --- folding to GSM-7 -------------------------------------------------------------------------

# Diacritics whose loss leaves a Latin word readable (Spanish, Portuguese, French). Other
# marks carry meaning in Indigenous orthographies, so letters bearing them are kept and the
# message stays UCS-2: the diaeresis (Purépecha ï is its own vowel; ä ö ü are GSM-7 anyway),
# macron below (Mixtec a̱), dot below, caron, ...
_DIACRITICS = frozenset(
    "\u0300"  # grave
    "\u0301"  # acute
    "\u0302"  # circumflex
    "\u0303"  # tilde
    "\u030a"  # ring above
    "\u0327"  # cedilla
)

# Invisible characters removed wherever they are.
_INVISIBLE = frozenset(
    "\u00ad"  # soft hyphen
    "\u180e"  # Mongolian vowel separator
    "\u200b"  # zero width space
    "\u2060"  # word joiner
    "\ufeff"  # zero width no-break space (BOM)
)

# Invisible characters that shape their neighbours (emoji ZWJ sequences, Indic and Persian
# joining, bidi): removed unless both neighbours are characters that stay non-GSM anyway.
_JOINERS = frozenset(
    "\u200c"  # zero width non-joiner
    "\u200d"  # zero width joiner
    "\u200e"  # left-to-right mark
    "\u200f"  # right-to-left mark
)


def _build_table() -> dict[str, str]:
    """Single characters folded by table, independent of their neighbours."""
    table: dict[str, str] = {}
    for ch in (
        "\u2018\u2019\u201a\u201b\u2039\u203a"  # single quotes, single guillemets
        "\u02bc\u02bb\u02bd\u02b9\u02c8\ua78c\ua78b"  # modifier apostrophes, saltillo
        "\u00b4`\u2032"  # acute accent, grave accent, prime
    ):
        table[ch] = "'"
    for ch in "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033":
        table[ch] = '"'
    for ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63":
        table[ch] = "-"  # hyphens, dashes, minus
    for ch in "\u2022\u2023\u25e6\u2043\u2219\u25cf\u25aa":
        table[ch] = "-"  # bullets
    table["\u2026"] = "..."
    table["\u00ba"] = "o"  # Spanish ordinal: 1º -> 1o
    table["\u00aa"] = "a"  # 1ª -> 1a
    table["\t"] = " "
    for ch in "\u000b\u0085\u2028\u2029":
        table[ch] = "\n"  # vertical tab, next line, line and paragraph separators
    for code in range(0x80, 0x3001):
        ch = chr(code)
        if unicodedata.category(ch) == "Zs":
            table[ch] = " "  # no-break, en, em, thin, narrow no-break, ideographic ... spaces
    for code in range(0xFF01, 0xFF5F):
        table[chr(code)] = chr(code - 0xFEE0)  # fullwidth ASCII forms
    return table


_TABLE = _build_table()


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _keeps_unchanged(ch: str) -> bool:
    """Whether ch is a non-GSM character that folding leaves as it is (emoji, other scripts)."""
    if not ch or ch in _GSM7 or ch in _JOINERS:
        return False
    return _fold_cluster(ch, "", "") == ch


def _fold_cluster(cluster: str, before: str, after: str) -> str:
    """Fold one base character with its combining marks; before/after are its neighbours."""
    head = cluster[0]
    if _is_mark(head):  # marks with no base (start of text): a lone accent means nothing
        return "".join(m for m in cluster if m not in _DIACRITICS)
    if head in _JOINERS and _keeps_unchanged(before) and _keeps_unchanged(after):
        return cluster
    if head in _INVISIBLE or head in _JOINERS:
        return "".join(m for m in cluster[1:] if m not in _DIACRITICS)
    composed = unicodedata.normalize("NFC", cluster)
    if all(ch in _GSM7 for ch in composed):
        return composed  # e + combining acute is é, already GSM-7
    decomposed = unicodedata.normalize("NFD", cluster)
    base, marks = decomposed[0], decomposed[1:]
    prefix = ""
    if base in _TABLE:  # marks, if any, sit on the last character of the replacement
        prefix, base = _TABLE[base][:-1], _TABLE[base][-1]
    if base not in _GSM7:
        return cluster
    # Keep each mark that still gives a GSM-7 letter (n + tilde = ñ, u + diaeresis = ü), drop
    # the droppable accents; any other mark keeps the cluster as it is.
    folded = base
    for mark in marks:
        candidate = unicodedata.normalize("NFC", folded + mark)
        if len(candidate) == 1 and candidate in GSM7_BASIC:
            folded = candidate
        elif mark not in _DIACRITICS:
            return cluster
    return prefix + folded


def _clusters(text: str):
    """Yield (start, end) of each base character with the combining marks that follow it."""
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or not _is_mark(text[i]):
            if i > start:
                yield start, i
            start = i


def fold_to_gsm7(text: str) -> str:
    """Replace characters outside GSM-7 by their closest GSM-7 form where meaning survives.

    >>> fold_to_gsm7("¿Qué información necesitás? Sí, “mañana” — ¡ya!")
    '¿Qué informacion necesitas? Si, "mañana" - ¡ya!'
    >>> fold_to_gsm7("Tuꞌun Savi… K’iche’")
    "Tu'un Savi... K'iche'"
    >>> fold_to_gsm7("Llame 😀 ya")
    'Llame 😀 ya'
    """
    parts = []
    for start, end in _clusters(text):
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        parts.append(_fold_cluster(text[start:end], before, after))
    return "".join(parts)


# --- WhatsApp formatting ----------------------------------------------------------------------

_MONO = re.compile(r"```(.+?)```", re.DOTALL)


def _inline(mark: str) -> re.Pattern[str]:
    m = re.escape(mark)
    # Opens at a word start before a non-space, closes after a non-space at a word end,
    # within one line: "5 * 3" and "file_name" are not formatting.
    return re.compile(rf"(?<![\w{m}]){m}(?=[^\s{m}])([^\n]*?[^\s]){m}(?![\w{m}])")


_INLINE = [_inline(mark) for mark in "*_~"]


def _strip_inline(text: str) -> str:
    while True:
        before = text
        for pattern in _INLINE:
            text = pattern.sub(r"\1", text)
        if text == before:  # nested marks (*_x_*) take more than one pass
            return text


def strip_whatsapp_formatting(text: str) -> str:
    """Remove WhatsApp *bold*, _italic_, ~strike~ and ```mono``` marks, keeping the text inside.

    >>> strip_whatsapp_formatting("*Tus derechos*: _no_ firme ~nada~")
    'Tus derechos: no firme nada'
    >>> strip_whatsapp_formatting("5 * 3 = 15, file_name, ```*literal*```")
    '5 * 3 = 15, file_name, *literal*'
    """
    parts = _MONO.split(text)
    # Even parts are ordinary text; odd parts are monospace contents, shown literally.
    return "".join(part if i % 2 else _strip_inline(part) for i, part in enumerate(parts))


def render(text: str, channel: str, fold: bool = True) -> str:
    """The text the phone will show on channel 'sms' or 'whatsapp' (no truncation here).

    >>> render("*Línea de ayuda*: 800", "sms")
    'Linea de ayuda: 800'
    >>> render("*Línea de ayuda*: 800", "sms", fold=False)
    'Línea de ayuda: 800'
    >>> render("*Línea de ayuda*: 800", "whatsapp")
    '*Línea de ayuda*: 800'
    """
    if channel == "whatsapp":
        return text
    if channel == "sms":
        text = strip_whatsapp_formatting(text)
        return fold_to_gsm7(text) if fold else text
    raise ValueError(f"unknown channel {channel!r}: expected 'sms' or 'whatsapp'")
