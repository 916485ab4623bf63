"""Tests for bot.sms: GSM-7 alphabet, Twilio segment counts, folding, WhatsApp marks, render."""
import doctest
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bot.sms
from bot.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    TWILIO_BODY_LIMIT,
    SegmentInfo,
    fold_to_gsm7,
    is_gsm7,
    render,
    segment_info,
    strip_whatsapp_formatting,
)

EURO = "\u20ac"
EMOJI = "\U0001F600"  # 😀, outside the BMP: one surrogate pair in UTF-16
A_ACUTE = "\u00e1"  # á: in the BMP, not GSM-7


# --- the alphabet --------------------------------------------------------------------------


def test_gsm7_basic_is_the_03_38_default_table():
    # Typed from the GSM 03.38 default alphabet, row by row (code points as in unicode.org's
    # GSM0338.TXT), 0x1B (escape) left out; it also equals the key set of Twilio's calculator.
    rows = [
        [0x40, 0xA3, 0x24, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC,
         0xF2, 0xC7, 0x0A, 0xD8, 0xF8, 0x0D, 0xC5, 0xE5],
        [0x394, 0x5F, 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8,
         0x3A3, 0x398, 0x39E, 0xC6, 0xE6, 0xDF, 0xC9],
        [0x20, 0x21, 0x22, 0x23, 0xA4, *range(0x25, 0x30)],
        list(range(0x30, 0x40)),
        [0xA1, *range(0x41, 0x5B), 0xC4, 0xD6, 0xD1, 0xDC, 0xA7],
        [0xBF, *range(0x61, 0x7B), 0xE4, 0xF6, 0xF1, 0xFC, 0xE0],
    ]
    expected = {chr(code) for row in rows for code in row}
    assert len(expected) == 127
    assert GSM7_BASIC == expected


def test_gsm7_extension_table():
    assert GSM7_EXTENSION == {"\f", "^", "{", "}", "\\", "[", "~", "]", "|", EURO}
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize("ch", list("ñÑüÜéÉ¿¡èùìòàÇØøÅåÄÖäößÆæ§£¥ΔΦΓΛΩΠΨΣΘΞ@$_\n\r"))
def test_in_gsm7(ch):
    assert is_gsm7(ch)


@pytest.mark.parametrize(
    "ch",
    # Spanish vowels with acute, capital grave letters, lowercase ç, backtick, ESC, look-alikes
    # of the Greek capitals (U+2206 increment, U+2126 ohm), ï, tab, curly quote, emoji.
    list("áíóúÁÍÓÚÀÈÌÒÙçâêôãõï`\x1b\u2206\u2126\t’") + [EMOJI],
)
def test_not_in_gsm7(ch):
    assert not is_gsm7(ch)


# --- segment counts, each computed by hand ---------------------------------------------------


@pytest.mark.parametrize(
    "text, encoding, segments, units",
    [
        # GSM-7: 160 septets fit one segment; beyond, 153 per segment.
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),  # 153 + 8
        ("a" * 306, "GSM-7", 2, 306),  # 153 + 153
        ("a" * 307, "GSM-7", 3, 307),  # 153 + 153 + 1
        # Extension characters are 2 septets.
        ("a" * 158 + EURO, "GSM-7", 1, 160),  # 158 + 2 = 160
        ("a" * 159 + EURO, "GSM-7", 2, 161),  # 159 + 2 = 161 > 160
        ("[" * 80, "GSM-7", 1, 160),  # 80 x 2
        ("[" * 81, "GSM-7", 2, 162),  # 76 pairs (152) + 5 pairs (10)
        # An escape pair ending exactly at septet 153 stays in segment 1: 151 + 2 = 153, then 153.
        ("a" * 151 + EURO + "a" * 153, "GSM-7", 2, 306),
        # An escape pair that would take septets 153-154 moves whole to segment 2:
        # segment 1 = 152, segment 2 = 2 + 151 = 153, segment 3 = the last 1. 306 septets in
        # all, which a naive ceil(306 / 153) would call 2 segments.
        ("a" * 152 + EURO + "a" * 152, "GSM-7", 3, 306),
        # Twilio's calculator test vectors: '{' + 158 digits is 1 segment, '{' + 159 is 2.
        ("{" + "1234567890" * 15 + "12345678", "GSM-7", 1, 160),
        ("{" + "1234567890" * 15 + "123456789", "GSM-7", 2, 161),
        # UCS-2: 70 code units fit one segment; beyond, 67 per segment.
        (A_ACUTE * 70, "UCS-2", 1, 70),
        (A_ACUTE * 71, "UCS-2", 2, 71),  # 67 + 4
        (A_ACUTE * 134, "UCS-2", 2, 134),  # 67 + 67
        (A_ACUTE * 135, "UCS-2", 3, 135),  # 67 + 67 + 1
        # One non-GSM character makes every character cost a UCS-2 unit.
        ("a" * 69 + A_ACUTE, "UCS-2", 1, 70),
        ("a" * 70 + A_ACUTE, "UCS-2", 2, 71),
        # Emoji are 2 units: 35 emoji = 70 units = 1 segment.
        (EMOJI * 35, "UCS-2", 1, 70),
        # 35 emoji + 'a' = 71 units: segment 1 takes 33 emoji (66 units; a 34th would need
        # units 67-68), segment 2 takes 2 emoji + 'a' (5 units).
        (EMOJI * 35 + "a", "UCS-2", 2, 71),
        # A pair ending exactly at unit 67 stays: 65 + 2 = 67, then 67.
        (A_ACUTE * 65 + EMOJI + A_ACUTE * 67, "UCS-2", 2, 134),
        # A pair that would take units 67-68 moves: segment 1 = 66, segment 2 = 2 + 65 = 67,
        # segment 3 = 1. 134 units, which a naive ceil(134 / 67) would call 2 segments.
        (A_ACUTE * 66 + EMOJI + A_ACUTE * 66, "UCS-2", 3, 134),
        # Twilio's calculator test vectors: emoji + 68 digits = 70 units = 1, + 69 = 2.
        (EMOJI + "2345678901" + "1234567890" * 5 + "12345678", "UCS-2", 1, 70),
        (EMOJI + "2345678901" + "1234567890" * 5 + "123456789", "UCS-2", 2, 71),
        # Empty text: 1 GSM-7 segment of 0 units, as Twilio's calculator reports (Twilio's API
        # refuses an empty Body without media, error 21602, so it is never billed).
        ("", "GSM-7", 1, 0),
        # A lone surrogate (only possible in a Python str) is one UCS-2 unit, never paired.
        ("\ud800", "UCS-2", 1, 1),
        ("\ud83d\ude00", "UCS-2", 1, 2),  # two lone surrogates, not one emoji: 2 characters
    ],
)
def test_segment_vectors(text, encoding, segments, units):
    info = segment_info(text)
    expected = SegmentInfo(encoding=encoding, segments=segments, units=units, characters=len(text))
    assert info == expected


def test_characters_counts_code_points():
    # 'Hola ' (5) + emoji (1 code point, 2 units) + ' ñ' (2) = 8 characters, 9 units.
    assert segment_info("Hola " + EMOJI + " ñ") == SegmentInfo("UCS-2", 1, 9, 8)
    # '5' + € (1 character, 2 septets) = 2 characters, 3 septets.
    assert segment_info("5" + EURO) == SegmentInfo("GSM-7", 1, 3, 2)


def test_body_limit():
    assert TWILIO_BODY_LIMIT == 1600


# --- folding -----------------------------------------------------------------------------------


def test_spanish_accents_fold_to_fewer_segments():
    text = (
        "Usted tiene derecho a guardar silencio y a pedir un abogado. "
        "La policía no puede entrar sin una orden judicial válida."
    )
    assert len(text) == 118
    # With í and á the text is UCS-2: 118 > 70, so ceil(118 / 67) = 2 segments.
    assert segment_info(text) == SegmentInfo("UCS-2", 2, 118, 118)
    folded = fold_to_gsm7(text)
    assert folded == text.replace("í", "i").replace("á", "a")
    # Folded it is GSM-7: 118 <= 160, 1 segment.
    assert segment_info(folded) == SegmentInfo("GSM-7", 1, 118, 118)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("áéíóú", "aéiou"),  # é is GSM-7 already: kept
        ("ÁÉÍÓÚ", "AÉIOU"),
        ("àâãä", "àaaä"),  # à and ä are GSM-7
        ("ÀÂÃ", "AAA"),
        ("èê", "èe"),
        ("ìîòôõùûç", "ìiòooùuc"),
        ("ý", "y"),
        # Decomposed input: base + combining mark.
        ("a\u0301", "a"),
        ("e\u0301", "é"),
        ("n\u0303", "ñ"),
        ("N\u0303", "Ñ"),
        ("u\u0308", "ü"),
        ("n\u0303\u0301", "ñ"),  # keep the tilde that makes ñ, drop the acute
        ("U\u0308\u0301", "Ü"),  # Ǘ decomposed: the diaeresis makes Ü, the acute goes
        ("\u01d8", "ü"),  # ǘ precomposed
        ("\u0301abc", "abc"),  # a lone accent at the start means nothing
        ("1º 2ª", "1o 2a"),
    ],
)
def test_fold_letters(text, expected):
    assert fold_to_gsm7(text) == expected
    assert is_gsm7(expected)


def test_spanish_gsm7_letters_stay():
    text = "¿Señor Müller? ¡Qué niño! ÉL, ÑANDÚ, PINGÜINO"
    assert not is_gsm7(text)  # only because of Ú
    assert fold_to_gsm7(text) == "¿Señor Müller? ¡Qué niño! ÉL, ÑANDU, PINGÜINO"
    assert is_gsm7(fold_to_gsm7(text))


@pytest.mark.parametrize(
    "mark",
    ["'", "\u2019", "\u02bc", "\ua78c", "\u00b4", "\u2018", "\u201a", "\u201b", "`", "\ua78b"],
)
def test_apostrophe_family_folds_to_apostrophe(mark):
    # ' ’ ʼ ꞌ ´ ‘ ‚ ‛ ` Ꞌ: the glottal mark of K'iche', Tuꞌun Savi, ... arrives as any of them.
    assert fold_to_gsm7(f"K{mark}iche{mark}") == "K'iche'"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\u201cHola\u201d \u201eHola\u201d \u00abHola\u00bb", '"Hola" "Hola" "Hola"'),
        ("9\u201317 h \u2014 ver \u2212 5", "9-17 h - ver - 5"),
        ("Espere\u2026", "Espere..."),
        ("a\u00a0b\u202fc\u2003d\u3000e\tf", "a b c d e f"),
        ("\u2022 uno\n\u2022 dos", "- uno\n- dos"),
        ("\ufeffa\u200bb\u2060c\u00add", "abcd"),  # zero-width and soft hyphen removed
        ("a\u200db", "ab"),  # a joiner between GSM-7 letters is removed
        ("\uff21\uff11\uff01", "A1!"),  # fullwidth forms
        ("linea\u2028otra", "linea\notra"),
    ],
)
def test_fold_punctuation_and_spaces(text, expected):
    assert fold_to_gsm7(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Llame " + EMOJI,
        "\U0001F469\u200d\u2695\ufe0f",  # woman health worker: the ZWJ is kept
        "\u0645\u0631\u062d\u0628\u0627",  # Arabic
        "\u041f\u0440\u0438\u0432\u0435\u0442",  # Cyrillic
        "\u4f60\u597d",  # Chinese
        "#\ufe0f\u20e3",  # keycap emoji on a GSM-7 base
        "\u0268",  # ɨ (barred i)
        "ï",  # Purépecha vowel
        "a\u0331",  # Mixtec underlined vowel
    ],
)
def test_marks_that_carry_meaning_are_kept(text):
    assert fold_to_gsm7(text) == text
    assert segment_info(fold_to_gsm7(text)).encoding == "UCS-2"


def test_fold_leaves_gsm7_alone():
    text = "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))
    assert fold_to_gsm7(text) == text


# --- WhatsApp formatting -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("*Importante*", "Importante"),
        ("_Nota_: ~no~ firme", "Nota: no firme"),
        ("```codigo 123```", "codigo 123"),
        ("```\n*literal* _x_\n```", "\n*literal* _x_\n"),  # monospace shows its content as is
        ("*_negrita cursiva_*", "negrita cursiva"),
        ("_*cursiva negrita*_", "cursiva negrita"),
        ("(*nota*), ¡*Hola*!", "(nota), ¡Hola!"),
        ("*Tus derechos* y *tus deberes*", "Tus derechos y tus deberes"),
        ("*mañana* y _información_", "mañana y información"),
        ("_file_name_", "file_name"),
        # Not formatting pairs: left alone.
        ("5 * 3 = 15", "5 * 3 = 15"),
        ("5 * 3 * 2 = 30", "5 * 3 * 2 = 30"),
        ("2*3*4", "2*3*4"),
        ("file_name y otro_nombre", "file_name y otro_nombre"),
        ("snake_case_name", "snake_case_name"),
        ("*hola*mundo", "*hola*mundo"),
        ("* uno\n* dos", "* uno\n* dos"),
        ("*abre\ncierra*", "*abre\ncierra*"),  # a pair does not span lines
        ("Marque *69", "Marque *69"),
        ("~ 5 km", "~ 5 km"),
        ("", ""),
    ],
)
def test_strip_whatsapp_formatting(text, expected):
    assert strip_whatsapp_formatting(text) == expected


# --- render --------------------------------------------------------------------------------


def test_render_sms_strips_then_folds():
    assert render("*Línea* de ayuda: “24 h”", "sms") == 'Linea de ayuda: "24 h"'


def test_render_sms_without_fold_only_strips():
    assert render("*Línea* de ayuda", "sms", fold=False) == "Línea de ayuda"


def test_render_whatsapp_unchanged():
    text = "*Línea* de ayuda " + EMOJI + " “24 h”"
    assert render(text, "whatsapp") == text


def test_render_does_not_truncate():
    text = "a" * (TWILIO_BODY_LIMIT + 10)
    assert render(text, "sms") == text


def test_render_unknown_channel():
    with pytest.raises(ValueError, match="fax"):
        render("hola", "fax")


# --- properties ----------------------------------------------------------------------------

# Characters worth mixing: GSM-7 and extension, Spanish letters, every folding case, combining
# marks, joiners, emoji, other scripts, and lone surrogates.
_INTERESTING = (
    sorted(GSM7_BASIC | GSM7_EXTENSION)
    + list("áéíóúÁÉÍÓÚàâãçïÀ’‘‚‛ʼꞌꞋ´`“”„«»–—−…•\u00a0\u202f\u3000\t\u2028ºª")
    + ["\u0300", "\u0301", "\u0303", "\u0308", "\u0327", "\u0331", "\u0323", "\ufe0f", "\u20e3"]
    + ["\u200b", "\u200c", "\u200d", "\u200e", "\u2060", "\ufeff", "\u00ad"]
    + [EMOJI, "\U0001F469", "\u2695", "\u0268", "\u0645", "\u0416", "\u4f60", "\u1100", "\u1161"]
    + ["\ud800", "\udfff", "\ud83d", "\ude00", "\uff21"]
)
_any_char = st.characters(exclude_categories=())  # includes surrogates (category Cs)
any_text = st.text(st.one_of(st.sampled_from(_INTERESTING), _any_char), max_size=400)


def _reference_segments(text: str) -> int:
    """Twilio's calculator algorithm, bit for bit: 1120-bit segments, a 48-bit header on each
    once there are two, characters moved whole (here per code point, not per grapheme)."""
    if is_gsm7(text):
        bits = [14 if ch in GSM7_EXTENSION else 7 for ch in text]
    else:
        bits = [32 if ord(ch) > 0xFFFF else 16 for ch in text]
    segments = [[]]
    headered = [False]
    for size in bits:
        used = sum(segments[-1]) + (48 if headered[-1] else 0)
        if 1120 - used < size:
            segments.append([])
            headered.append(True)
            if not headered[-2]:
                headered[-2] = True
                while sum(segments[-2]) + 48 > 1120:
                    segments[-1].insert(0, segments[-2].pop())
        segments[-1].append(size)
    return len(segments)


@settings(max_examples=500)
@given(any_text)
def test_segment_info_never_raises_and_is_consistent(text):
    info = segment_info(text)
    assert info.encoding == ("GSM-7" if is_gsm7(text) else "UCS-2")
    assert info.characters == len(text)
    if info.encoding == "UCS-2":
        assert info.units == len(text.encode("utf-16-le", "surrogatepass")) // 2
    else:
        assert info.units == len(text) + sum(ch in GSM7_EXTENSION for ch in text)
    single, multi = (160, 153) if info.encoding == "GSM-7" else (70, 67)
    if info.units <= single:
        assert info.segments == 1
    else:
        # At least ceil(units / multi); at most one more per unit lost to a moved pair.
        assert -(-info.units // multi) <= info.segments <= -(-info.units // (multi - 1))
    assert info.segments == _reference_segments(text)


@settings(max_examples=300)
@given(st.text(st.sampled_from(["a", EURO, A_ACUTE, EMOJI]), min_size=60, max_size=480))
def test_segments_match_twilio_algorithm_near_boundaries(text):
    assert segment_info(text).segments == _reference_segments(text)


@settings(max_examples=1000)
@given(any_text)
def test_fold_is_idempotent(text):
    once = fold_to_gsm7(text)
    assert fold_to_gsm7(once) == once


@settings(max_examples=300)
@given(any_text)
def test_fold_never_touches_gsm7_text(text):
    if is_gsm7(text):
        assert fold_to_gsm7(text) == text


_spanish = st.text(
    st.sampled_from(
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:¿?¡!()-\n")
        + list("áéíóúÁÉÍÓÚñÑüÜ")
        + ["\u0301", "\u0303", "*", "_", "~", "`", "\u2019", "\u201c", "\u201d", "\u2026", "\u00a0"]
    ),
    max_size=300,
)


@settings(max_examples=500)
@given(_spanish)
def test_render_sms_of_spanish_text_is_gsm7(text):
    assert is_gsm7(render(text, "sms"))


@settings(max_examples=300)
@given(any_text)
def test_strip_only_removes_marks(text):
    stripped = strip_whatsapp_formatting(text)

    def drop_marks(s):
        return "".join(ch for ch in s if ch not in "*_~`")

    assert drop_marks(stripped) == drop_marks(text)


@settings(max_examples=300)
@given(any_text)
def test_render_whatsapp_is_identity(text):
    assert render(text, "whatsapp") == text


# --- doctests ------------------------------------------------------------------------------


def test_doctests():
    result = doctest.testmod(bot.sms)
    assert result.attempted > 0
    assert result.failed == 0
