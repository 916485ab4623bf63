"""Odd bodies: a long SMS a carrier delivered as an MMS whose body is the base64 of its text."""
from __future__ import annotations

import base64

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.bodies import MIN_LENGTH, decode_base64_body, plausible_word, readable


def b64(text: str, line_breaks: bool = False) -> str:
    encoded = base64.b64encode(text.encode("utf-8")).decode()
    if line_breaks:       # as MIME writes it: 76 characters a line, CRLF
        encoded = "\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    return encoded


# Text people write: letters of Spanish, English and the Indigenous alphabets, digits, punctuation,
# spaces and line breaks, emoji.
people_text = st.text(alphabet=st.characters(categories=("L", "M", "N", "P", "Zs", "So"),
                                             include_characters="\n"), min_size=1, max_size=400)


@given(people_text)
@example("¿Cómo pido asilo si entré sin papeles? Mi patrón no me paga las horas extra desde hace dos meses.")
@example("Tuꞌun Savi: ¿ndáa kúu ña̱ kuníi̱ ná?")
def test_base64_of_text_is_read_back(text):
    if not readable(text):
        return
    encoded = b64(text)
    decoded = decode_base64_body(encoded)
    if len(encoded) >= MIN_LENGTH and not plausible_word(encoded):
        assert decoded == text
        assert decode_base64_body(b64(text, line_breaks=True)) == text
    else:     # very short, or a run of letters of one case that could be a word: left alone
        assert decoded == encoded
    if len(text) > 20:    # a long SMS: always read back (no word is that long)
        assert decoded == text


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_never_raises_and_keeps_what_is_not_base64(body):
    decoded = decode_base64_body(body)
    assert isinstance(decoded, str)
    if decoded != body:     # only ever replaced by readable text
        assert readable(decoded)
        assert " " not in body.strip(" ")


@given(st.from_regex(r"[A-Za-z]{1,24}", fullmatch=True).filter(lambda w: w.isupper() or w.islower() or w.istitle()))
def test_a_plausible_word_is_never_decoded(word):
    assert decode_base64_body(word) == word


@given(people_text, people_text)
def test_a_message_with_spaces_is_never_decoded(first, second):
    text = f"{first.strip() or 'a'} {second.strip() or 'b'}"
    assert decode_base64_body(text) == text


@pytest.mark.parametrize("body", ["ASILO", "Ayuda", "menu", "TRABAJO", "BORRAR", "HOLA", "STOP", "INTERPRETE",
                                  "BuenosDias", "1234", "SG9sYQ", "como pido asilo", "¿asilo?", ""])
def test_what_people_type_is_left_alone(body):
    assert decode_base64_body(body) == body


def test_binary_and_latin1_base64_is_left_alone():
    assert decode_base64_body(base64.b64encode(bytes(range(256))).decode()).startswith("AAEC")
    latin1 = base64.b64encode("¿Cómo pido asilo? Mi patrón no me paga.".encode("latin-1")).decode()
    assert decode_base64_body(latin1) == latin1
