"""Understanding benchmark, in one run: the matcher as it serves (rules, then the intent model) beside
the keyword matcher alone and the baseline a typical bot uses (a rapidfuzz fuzzy scan of every
keyword), on the real content.

Prints, for each: accuracy on the labelled sets (tests/data: eval, holdout, blind set A, the
stop-word set), messages per second and the p99 time per message in one process; then the training
time, the model's k-fold cross-validation on the examples, and the memory a web process pays for the
model (RSS of a fresh process that loads the content without it, then with it).

    python bench/match.py [--rounds 5] [--folds 5] [--final NEW-BLIND-SET.tsv]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz, process  # noqa: E402

from bot import intents  # noqa: E402
from bot.catalog import load_catalog  # noqa: E402
from bot.evaluation import evaluate, read_rows  # noqa: E402
from bot.matcher import Matcher  # noqa: E402

SETTINGS = {"help_line": "1-800-555-0100"}
SETS = ("eval.tsv", "holdout.tsv", "blind-a.tsv", "stopwords.tsv")


class FuzzyScanBaseline:
    """What many bots do: lower-case the text and fuzzy-compare it with every keyword."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.keywords, self.intents = [], []
        for by_id in catalog.topics.values():
            for tid, topic in by_id.items():
                for keyword in (*topic.keywords, *topic.phrases):
                    self.keywords.append(keyword.lower())
                    self.intents.append(tid)
        for by_command in catalog.commands.values():
            for command, words in by_command.items():
                for word in words:
                    self.keywords.append(word.lower())
                    self.intents.append("human" if command == "interpreter" else command)

    def match(self, text: str):
        best = process.extractOne(text.lower(), self.keywords, scorer=fuzz.partial_ratio, score_cutoff=85)
        from bot.matcher import Match
        return Match(self.intents[best[2]] if best else "unknown", None)


def timing(match, texts: list[str], rounds: int) -> tuple[float, float]:
    """(messages per second, p99 seconds per message), caches warm as in a running worker."""
    for text in texts:
        match(text)
    each = []
    start = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            t = time.perf_counter()
            match(text)
            each.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    each.sort()
    return rounds * len(texts) / total, each[int(0.99 * len(each))]


RSS_PROBE = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from bot.runtime import LiveContent
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
base = rss()
live = LiveContent(Path(sys.argv[1]) / "content", {"help_line": "1-800-555-0100"}, train=sys.argv[2] == "1")
live.get().matcher.match("como pido asilo")
print(json.dumps({"before": base, "after": rss()}))
"""


def rss_with(model: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(ROOT), "1" if model else "0"], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--final", type=Path, help="score this blind set too (once, at the end of the work)")
    args = parser.parse_args()
    catalog = load_catalog(ROOT / "content", SETTINGS)
    keywords = Matcher(catalog)
    start = time.perf_counter()
    model = intents.train(catalog, keywords.keyword_scores)
    trained = time.perf_counter() - start
    served = Matcher(catalog, model)
    baseline = FuzzyScanBaseline(catalog)
    rows = {name: read_rows(ROOT / "tests" / "data" / name) for name in SETS}
    if args.final:
        rows[args.final.name] = read_rows(args.final)
    texts = [r.text for name in ("eval.tsv", "holdout.tsv", "blind-a.tsv") for r in rows[name]]
    print(f"{len(texts)} messages, {model.report['samples']} training samples, {model.report['features']} "
          f"features, {model.report['classes']} intents, Python {sys.version.split()[0]}")
    print(f"{'':<30}" + "".join(f"{name:>15}" for name in rows) + f"{'msgs/s':>10}{'p99 ms':>9}")
    for label, matcher, rounds in (("rules + intent model", served, args.rounds),
                                   ("keyword matcher alone", keywords, args.rounds),
                                   ("baseline: rapidfuzz scan", baseline, 1)):
        scores = [evaluate(matcher, catalog, r).accuracy for r in rows.values()]
        per_second, p99 = timing(matcher.match, texts, rounds)
        print(f"{label:<30}" + "".join(f"{100 * s:14.1f}%" for s in scores) + f"{per_second:10.0f}{p99 * 1000:9.3f}")
    lang = evaluate(served, catalog, rows["blind-a.tsv"]).lang_accuracy
    print(f"reply language on blind set A: {100 * lang:.1f}%")
    traps = [r for r in rows["stopwords.tsv"] if "stop" not in r.intents]
    opt_outs = [r for r in rows["stopwords.tsv"] if r.intents == ("stop",)]
    carried = sum(served.match(r.text).intent == "stop" for r in opt_outs)
    asked = sum(served.match(r.text).intent == "confirm_stop" for r in opt_outs)
    false = sum(served.match(r.text).intent == "stop" for r in traps)
    asked_traps = sum(served.match(r.text).intent == "confirm_stop" for r in traps)
    print(f"opt-outs in natural words ({len(opt_outs)}): {carried} carried out, {asked} asked about, "
          f"{len(opt_outs) - carried - asked} missed; other senses ({len(traps)}): {false} carried out as an "
          f"opt-out, {asked_traps} asked about")
    print(f"training: {trained:.1f} s in process (plus about 4 s to import scikit-learn in its own process)")
    cv = intents.cross_validate(catalog, keywords.keyword_scores, folds=args.folds)
    print(f"{cv['folds']}-fold cross-validation on {cv['examples']} examples: {100 * cv['accuracy']:.1f}%")
    without, with_model = rss_with(False), rss_with(True)
    grew = (with_model["after"] - without["after"]) / 2 ** 20
    print(f"process memory after loading the content: {without['after'] / 2 ** 20:.1f} MiB without the model, "
          f"{with_model['after'] / 2 ** 20:.1f} MiB with it: +{grew:.1f} MiB  (target < 60)")


if __name__ == "__main__":
    main()
