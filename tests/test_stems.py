"""Stems are the same whichever thread asks: gunicorn serves each worker's requests on 4 threads."""
from __future__ import annotations

import threading

import snowballstemmer

from bot import stems
from tests.conftest import run_on_threads

WORDS = [(w, "es") for w in "trabajando trabajadores deportaciones inmigrantes solicitudes abogadas consulados "
                            "protecciones ciudadanía detenido detenidas".split()]
WORDS += [(w, "en") for w in "employers deportations immigrants applications lawyers detained citizenship "
                             "protections working consulates relatives".split()]


def stem_everywhere(stem, threads: int = 8, rounds: int = 400) -> list[str]:
    """Stem every word on many threads at once, with the interpreter switching threads as often as
    it can; return what differed from the single-threaded stem (or raised)."""
    expected = {w: snowballstemmer.stemmer(stems.LANGS[lang]).stemWord(w) for w, lang in WORDS}
    wrong: list[str] = []
    barrier = threading.Barrier(threads)

    def run(offset: int) -> None:
        barrier.wait()
        for i in range(rounds):
            word, lang = WORDS[(i + offset) % len(WORDS)]
            try:
                got = stem(word, lang)
            except Exception as exc:  # noqa: BLE001 - what a shared stemmer raises is the finding
                wrong.append(f"{word}: {type(exc).__name__}")
                continue
            if got != expected[word]:
                wrong.append(f"{word}: {got} != {expected[word]}")

    run_on_threads(run, [(n,) for n in range(threads)])
    return wrong


def test_stems_are_right_on_many_threads_at_once():
    def uncached(word, lang):          # the cache would hide the stemmer after the first call
        stems._cache.clear()
        return stems.stem(word, lang)
    assert stem_everywhere(uncached) == []


def test_one_shared_stemmer_is_what_went_wrong():
    """The check above can fail: one snowballstemmer instance shared by threads gives wrong stems
    or raises (as the web did under load before bot/stems.py)."""
    shared = {code: snowballstemmer.stemmer(name) for code, name in stems.LANGS.items()}
    wrong = []
    for _ in range(5):
        wrong = stem_everywhere(lambda word, lang: shared[lang].stemWord(word))
        if wrong:
            break
    assert wrong


def test_digits_and_other_languages_are_left_as_written():
    assert stems.stem("2026", "es") == "2026"
    assert stems.stem("tlamatini", "nah") == "tlamatini"
    assert stems.stem("trabajando", "es") == "trabaj"
