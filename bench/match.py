"""Matcher benchmark: messages per second on the real content, single process, beside the baseline
a typical bot uses (a rapidfuzz fuzzy scan of every keyword for each message), in the same run.
Also: how cost grows with 10 times the keywords, and the memory of the index.

    python bench/match.py [--rounds 20]
"""
from __future__ import annotations

import argparse
import csv
import random
import shutil
import string
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz, process  # noqa: E402

from bot.catalog import load_catalog  # noqa: E402
from bot.matcher import Matcher  # noqa: E402
from bot.text import normalize  # noqa: E402


def messages() -> list[str]:
    out = []
    for name in ("eval.tsv", "holdout.tsv"):
        with (ROOT / "tests" / "data" / name).open(encoding="utf-8") as handle:
            out += [r["text"] for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    return out


class FuzzyScanBaseline:
    """What many bots do: lower-case the text and fuzzy-compare it with every keyword."""

    def __init__(self, catalog):
        self.keywords, self.topics = [], []
        for by_id in catalog.topics.values():
            for tid, topic in by_id.items():
                for keyword in (*topic.keywords, *topic.phrases):
                    self.keywords.append(keyword.lower())
                    self.topics.append(tid)

    def match(self, text: str) -> str:
        best = process.extractOne(text.lower(), self.keywords, scorer=fuzz.partial_ratio, score_cutoff=85)
        return self.topics[best[2]] if best else "unknown"


def rate(match, texts: list[str], rounds: int, repeats: int = 5) -> float:
    """Best of `repeats` timings (as timeit does): the least disturbed by other work on the machine."""
    for text in texts:        # warm caches, as a long-running worker has them
        match(text)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            for text in texts:
                match(text)
        best = min(best, time.perf_counter() - start)
    return rounds * len(texts) / best


def inflate(content: Path, factor: int, seed: int = 7) -> None:
    """Give every topic `factor` times its keywords and phrases: made-up words of the same lengths."""
    rng = random.Random(seed)
    word = lambda n: "".join(rng.choice(string.ascii_lowercase) for _ in range(max(4, n)))  # noqa: E731
    for path in list(content.glob("es/*.md")) + list(content.glob("en/*.md")):
        text = path.read_text(encoding="utf-8")
        for field in ("keywords:\n", "phrases:\n"):
            head, sep, rest = text.partition(field)
            extra = []
            for line in rest.splitlines():
                if not line.startswith("  - "):
                    break
                for _ in range(factor - 1):
                    extra.append("  - " + " ".join(word(len(w)) for w in line[4:].split()))
            text = head + sep + "\n".join(extra) + "\n" + rest
        path.write_text(text, encoding="utf-8")


def index_memory(catalog) -> int:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    matcher = Matcher(catalog)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del matcher
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    texts = messages()
    catalog = load_catalog(ROOT / "content")
    matcher, baseline = Matcher(catalog), FuzzyScanBaseline(catalog)
    keywords = len(baseline.keywords)
    print(f"{len(texts)} real messages (tests/data), {keywords} keywords and phrases, Python {sys.version.split()[0]}")
    ours = rate(matcher.match, texts, args.rounds)
    base = rate(baseline.match, texts, max(1, args.rounds // 10), repeats=3)
    print(f"derechos matcher            {ours:10.0f} messages/s  (target >= 20,000)")
    print(f"baseline: rapidfuzz scan    {base:10.0f} messages/s")
    print(f"ratio                       {ours / base:10.1f} x     (target >= 10)")
    norm = rate(normalize, texts, args.rounds)
    print(f"(normalising alone          {norm:10.0f} messages/s)")

    with tempfile.TemporaryDirectory() as tmp:
        big_root = Path(tmp) / "content"
        shutil.copytree(ROOT / "content", big_root)
        inflate(big_root, 10)
        big = load_catalog(big_root, strict=False)
        big_matcher = Matcher(big)
        big_keywords = len(FuzzyScanBaseline(big).keywords)
        big_rate = rate(big_matcher.match, texts, args.rounds)
        print(f"with {big_keywords} keywords ({big_keywords / keywords:.1f}x): {big_rate:10.0f} messages/s; "
              f"time per message grew {ours / big_rate:.2f}x  (target < 2x)")
        print(f"index memory: {index_memory(catalog) / 1e6:.2f} MB for the real content, "
              f"{index_memory(big) / 1e6:.2f} MB with {big_keywords / keywords:.0f}x the keywords")


if __name__ == "__main__":
    main()
