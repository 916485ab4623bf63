"""Normalising what people type, so that matching sees words, not spellings."""
from __future__ import annotations

import re
import unicodedata

# The glottal mark arrives in many shapes; they are one letter to the reader.
APOSTROPHES = "'’‘ʼꞌ´`ʻ′"
_APOSTROPHE_TABLE = str.maketrans({c: "'" for c in APOSTROPHES})
_REPEATS = re.compile(r"(\w)\1{2,}")
_NON_WORD = re.compile(r"[^\w']+|_+")

# SMS spellings, expanded before matching. Shared by both languages where harmless;
# ambiguous ones (e.g. English "u", Spanish "k") are expanded only when they stand alone as words.
SMS_SPELLINGS = {
    "q": "que", "k": "que", "ke": "que", "qe": "que", "xq": "porque", "pq": "porque", "porq": "porque",
    "xk": "porque", "x": "por", "tb": "tambien", "tmb": "tambien", "tambn": "tambien", "d": "de",
    "pa": "para", "xa": "para", "xfa": "por favor", "porfa": "por favor", "xfavor": "por favor",
    "msj": "mensaje", "mjs": "mensajes", "toy": "estoy", "ta": "esta", "nd": "nada", "dnd": "donde",
    "kien": "quien", "qien": "quien", "kiero": "quiero", "qiero": "quiero", "aki": "aqui", "aca": "aqui",
    "u": "you", "ur": "your", "r": "are", "pls": "please", "plz": "please", "thx": "thanks",
    "bc": "because", "cuz": "because", "b4": "before", "im": "i am", "dont": "do not", "cant": "can not",
    "wont": "will not", "didnt": "did not", "doesnt": "does not", "isnt": "is not", "n": "and",
}


def fold_apostrophes(text: str) -> str:
    """Make every apostrophe-like mark a plain '.

    >>> fold_apostrophes("Kʼicheʼ Q’anjob´al")
    "K'iche' Q'anjob'al"
    """
    return text.translate(_APOSTROPHE_TABLE)


def strip_accents(text: str) -> str:
    """Remove diacritics (ñ becomes n too: many phones cannot type it).

    >>> strip_accents("Pedí asilo en Nueva York, niño")
    'Pedi asilo en Nueva York, nino'
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_surrogates(text: str) -> str:
    r"""Drop lone surrogates and control characters that cannot be text.

    >>> clean_surrogates("a\x00b\ud800c\n")
    'abc\n'
    """
    return _NOT_TEXT.sub("", text)


# A few emoji are words people send alone: a wave is a greeting, a thumbs up is "ok".
EMOJI_WORDS = {"👋": " hola ", "👍": " ok ", "👌": " ok ", "✅": " ok ", "🆗": " ok "}
_EMOJI = re.compile("|".join(map(re.escape, EMOJI_WORDS)))


def normalize(text: str) -> str:
    """What matching compares: lower case, no accents, no punctuation or emoji, one space between words.

    >>> normalize("¿Cómo pido ASILO??? 🙏")
    'como pido asilo'
    >>> normalize("ayudaaaa  porfavor!!")
    'ayuda porfavor'
    >>> normalize("K’iche’"), normalize("Q´anjob´al")
    ('kiche', 'qanjobal')
    >>> normalize("tengo 3 hijos")
    'tengo 3 hijos'
    >>> normalize("👋"), normalize("gracias 👍🏽")
    ('hola', 'gracias ok')
    """
    # Apostrophes first: NFKC would turn ´ into a space and an accent.
    text = fold_apostrophes(clean_surrogates(text))
    if not text.isascii():
        text = _EMOJI.sub(lambda m: EMOJI_WORDS[m.group(0)], text)
    text = strip_accents(unicodedata.normalize("NFKC", text).casefold())
    text = _REPEATS.sub(r"\1", text)
    text = _NON_WORD.sub(" ", text)
    # Apostrophes are part of words in K'iche' or Tu'un Savi, but people drop them: compare without.
    text = text.replace("'", "")
    return " ".join(text.split())


def tokens(text: str, expand: bool = True) -> list[str]:
    """Words of a normalised text, with SMS spellings expanded.

    >>> tokens("q ago si me qieren cobrar x la visa")
    ['que', 'ago', 'si', 'me', 'qieren', 'cobrar', 'por', 'la', 'visa']
    """
    words = normalize(text).split()
    if not expand:
        return words
    out: list[str] = []
    for word in words:
        expansion = _EXPANSIONS.get(word)
        if expansion is None:
            out.append(word)
        else:
            out.extend(expansion)
    return out


_EXPANSIONS = {short: long.split() for short, long in SMS_SPELLINGS.items()}
