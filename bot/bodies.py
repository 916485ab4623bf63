"""Bodies Twilio delivers in another form than the person wrote them.

Pure: no Flask, Redis or Twilio. A long SMS that a carrier turned into an MMS sometimes reaches
Twilio, and so us, as the base64 of its text (RapidPro's courier decodes such bodies too). We decode a
body only when it is one unbroken run of base64 (line breaks allowed, as MIME writes them) that
decodes to readable UTF-8 text, and when it could not be a word a person typed: anything with a space,
an accent, or punctuation outside base64 is left alone, and so is a short run of letters of one case
("ASILO", "Ayuda", "menu"), however it happens to decode.
"""
from __future__ import annotations

import base64
import binascii
import re

# Standard base64 (MIME), padded. URL-safe base64 is not what carriers send.
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
LONGEST_WORD = 24          # longer runs of letters are no Spanish or English word anyone types
MIN_LENGTH = 8             # "SG9sYQ==" ("Hola") is the shortest a decoded body can usefully be


def plausible_word(token: str) -> bool:
    """A run of letters someone may have typed: letters only, one case or capitalised, not too long.

    >>> [plausible_word(w) for w in ("ASILO", "ayuda", "Trabajo", "SG9sYQ==", "dGhlIHN3ZWF0", "iPad")]
    [True, True, True, False, False, False]
    """
    return (token.isascii() and token.isalpha() and len(token) <= LONGEST_WORD
            and (token.isupper() or token.islower() or token.istitle()))


def readable(text: str) -> bool:
    """Text a person could have written: printable (line breaks and tabs allowed), with a letter.

    >>> readable("Hola, ¿cómo pido asilo?\\n"), readable("\\x00\\x13ab"), readable("1234 !!")
    (True, False, False)
    """
    return (bool(text) and all(c.isprintable() or c in "\r\n\t" for c in text)
            and any(c.isalpha() for c in text))


def decode_base64_body(body: str) -> str:
    """The text inside a base64 body, or the body unchanged.

    >>> decode_base64_body("Q29tbyBwaWRvIGFzaWxvPyBNaSBwYXRy824gbm8gbWUgcGFnYQ==")   # not UTF-8: kept
    'Q29tbyBwaWRvIGFzaWxvPyBNaSBwYXRy824gbm8gbWUgcGFnYQ=='
    >>> decode_base64_body("wr9Dw7NtbyBwaWRvIGFzaWxvPyBNaSBwYXRyw7NuIG5vIG1lIHBhZ2Eu")
    '¿Cómo pido asilo? Mi patrón no me paga.'
    >>> decode_base64_body("SG9sYQ=="), decode_base64_body("ASILO"), decode_base64_body("como pido asilo")
    ('Hola', 'ASILO', 'como pido asilo')
    >>> decode_base64_body("dGhlIHN3ZWF0LCB0aGUgdGVhcnMgYW5kIHRoZSBzYWNyaWZp\\r\\nY2Ugb2Ygd29ya2luZyBBbWVyaWNh\\r\\n")
    'the sweat, the tears and the sacrifice of working America'
    """
    # MIME breaks base64 into lines; Twilio passes the breaks on. Any other space means it is prose.
    token = body.replace("\r", "").replace("\n", "").strip(" ")
    if (len(token) < MIN_LENGTH or len(token) % 4 or not _BASE64_RE.match(token)
            or plausible_word(token)):
        return body
    try:
        text = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return body
    return text if readable(text) else body
