"""Word stems (Snowball) for the matcher and the intent model, safe across threads.

A snowballstemmer stemmer keeps the word it is working on in the instance. One shared by gunicorn's
threads stemmed one thread's word with another's cursor: an IndexError (a 500, measured in
bench/webhook.py) or, worse, a wrong stem and so a wrong answer. Each thread gets its own stemmers;
the cache of stems is shared (stems do not depend on the content).
"""
from __future__ import annotations

import threading

import snowballstemmer

LANGS = {"es": "spanish", "en": "english"}      # stemmed languages; any other is left as written
CACHE_LIMIT = 200_000

_local = threading.local()
_cache: dict[tuple[str, str], str] = {}


def stem(word: str, lang: str) -> str:
    """The Snowball stem of `word` in `lang` (es, en); digits and other languages unchanged."""
    key = (lang, word)
    found = _cache.get(key)
    if found is None:
        found = word if word.isdigit() or lang not in LANGS else _stemmer(lang).stemWord(word)
        if len(_cache) > CACHE_LIMIT:
            _cache.clear()
        _cache[key] = found
    return found


def _stemmer(lang: str):
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {code: snowballstemmer.stemmer(name) for code, name in LANGS.items()}
    return stemmers[lang]
