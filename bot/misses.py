"""Questions the bot could not answer, made safe to keep: no digits, emails or links, no person; and
grouped by similar text so editors see what to write next. Pure: no Redis here."""
from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from .text import normalize

MAX_CHARS = 160
_LINK = re.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|gov|mx|us|info|io|ly|me)(?:/\S*)?\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGITS = re.compile(r"\+?\d(?:[\s().+/-]*\d)*")
SIMILAR = 85          # token-set similarity (0-100) above which two questions are one group


def scrub(text: str) -> str:
    """The text with emails, links and every run of digits removed, cut to a short length.

    >>> scrub("mi numero es +1 (312) 555-0199, escribe a ana@example.org o mira https://x.org/a?b=1")
    'mi numero es #, escribe a [email] o mira [link]'
    >>> scrub("tengo 3 hijos y vivo en www.ejemplo.com")
    'tengo # hijos y vivo en [link]'
    """
    text = _EMAIL.sub("[email]", text)
    text = _LINK.sub("[link]", text)
    text = _DIGITS.sub("#", text)
    text = " ".join(text.split())
    return text[:MAX_CHARS]


def group_key(scrubbed: str) -> str:
    """What questions are counted under: normalised (case, accents, punctuation), '#' kept.

    >>> group_key("¿Cuánto cuesta el #?"), group_key("cuanto CUESTA el #")
    ('cuanto cuesta el #', 'cuanto cuesta el #')
    """
    words = [w for w in normalize(scrubbed.replace("#", " numhash ")).split()]
    return " ".join("#" if w == "numhash" else w for w in words)[:MAX_CHARS]


LOW_PROBABILITY = 0.5      # a topic the intent model chose with less than this is a question worth seeing


def is_miss(intent: str, score: float, has_hits: bool, low_score: float, by_model: bool = False) -> bool:
    """`unknown`, or a topic chosen on weak evidence: a keyword score under `low_score`, or (by the
    intent model) a probability under LOW_PROBABILITY. Commands and menu numbers never are.

    >>> is_miss("unknown", 0.0, False, 2.5), is_miss("asylum", 2.1, True, 2.5), is_miss("menu", 1.0, False, 2.5)
    (True, True, False)
    >>> is_miss("about", 0.36, False, 2.5, by_model=True), is_miss("menu", 0.3, False, 2.5, by_model=True)
    (True, False)
    """
    if intent == "unknown":
        return True
    if by_model:
        from .matcher import NON_TOPICS
        return intent not in NON_TOPICS and not intent.startswith("section:") and score < LOW_PROBABILITY
    return has_hits and score < low_score


@dataclass(frozen=True)
class MissGroup:
    """Questions that read alike: an example as people wrote it, the count, the variants."""

    example: str
    count: int
    variants: tuple[str, ...]


def group(counts: dict[str, int], examples: dict[str, str], similar: int = SIMILAR, limit: int = 100) -> list[MissGroup]:
    """Merge near-identical questions (the most asked leads its group), most asked first.

    >>> [(g.example, g.count) for g in group({"donde esta la corte": 3, "donde esta la corte?": 1,
    ...                                      "el clima": 2}, {})]
    [('donde esta la corte', 4), ('el clima', 2)]
    """
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    groups: list[tuple[str, int, list[str]]] = []
    for key, n in ordered[: limit * 5]:
        for i, (lead, total, variants) in enumerate(groups):
            if fuzz.token_set_ratio(key, lead) >= similar:
                groups[i] = (lead, total + n, variants + [key])
                break
        else:
            groups.append((key, n, [key]))
    out = [MissGroup(examples.get(lead, lead), total, tuple(examples.get(v, v) for v in variants))
           for lead, total, variants in groups]
    out.sort(key=lambda g: (-g.count, g.example))
    return out[:limit]
