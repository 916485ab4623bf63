"""Measuring how well messages are understood, on a labelled file (pure).

A file is tab-separated UTF-8 with a header: `text`, `intent` (accepted intents separated by `|`),
`lang` (the expected reply language) and optionally `note`. `derechos match --eval FILE.tsv` prints
the report, so an editor can measure a change to the examples before making it.

How a result counts: the intent must be one the row accepts. A question between two topics counts
as understood when the right one is among them (the person reaches it with one tap or number), and
is reported separately; a "do you want to stop?" question for a row labelled `stop` is not an opt-out
carried out, so it is wrong here and reported separately too.
"""
from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Row:
    text: str
    intents: tuple[str, ...]
    lang: str
    note: str = ""


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    lang_correct: int = 0
    clarified: int = 0
    confirm_stop: int = 0
    per_intent: dict[str, list[int]] = field(default_factory=dict)     # intent -> [right, total]
    confused: Counter = field(default_factory=Counter)                 # (expected, got) -> n
    misses: list[tuple[str, str, str]] = field(default_factory=list)   # (text, expected, got)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def lang_accuracy(self) -> float:
        return self.lang_correct / self.total if self.total else 0.0

    def lines(self, top: int = 10) -> list[str]:
        out = [f"{self.total} messages: intent {100 * self.accuracy:.1f}%, reply language "
               f"{100 * self.lang_accuracy:.1f}% ({self.clarified} answered with a two-topic question, "
               f"{self.confirm_stop} with the opt-out question)", "", f"{'intent':<16} {'right':>6} {'of':>5}  accuracy"]
        for intent, (right, total) in sorted(self.per_intent.items(), key=lambda kv: (kv[1][0] / kv[1][1], kv[0])):
            out.append(f"{intent:<16} {right:>6} {total:>5}  {100 * right / total:5.1f}%")
        if self.confused:
            out += ["", "most confused (expected -> understood as):"]
            out += [f"  {a} -> {b}: {n}" for (a, b), n in self.confused.most_common(top)]
        return out

    def to_dict(self) -> dict:
        return {"total": self.total, "accuracy": round(self.accuracy, 4), "lang_accuracy": round(self.lang_accuracy, 4),
                "clarified": self.clarified, "confirm_stop": self.confirm_stop,
                "per_intent": {k: {"right": v[0], "total": v[1]} for k, v in sorted(self.per_intent.items())},
                "confused": [{"expected": a, "got": b, "n": n} for (a, b), n in self.confused.most_common()]}


def read_rows(path: Path) -> list[Row]:
    """The labelled rows of a file; ValueError names a row that is malformed."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"text", "intent", "lang"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: the header must name text, intent and lang (missing: {', '.join(sorted(missing))})")
        rows = []
        for number, record in enumerate(reader, start=2):
            if not record.get("intent") or record.get("text") is None:
                raise ValueError(f"{path}:{number}: a row needs a text and an intent")
            rows.append(Row(record["text"], tuple(i.strip() for i in record["intent"].split("|")),
                            (record.get("lang") or "").strip(), (record.get("note") or "").strip()))
    return rows


def understood(match, catalog) -> tuple[str, str]:
    """(intent, reply language) of a match, as the bot would act on it."""
    lang = catalog.resolve_lang(match.language if match.intent == "language" else match.lang)
    return match.intent, lang


def evaluate(matcher, catalog, rows: list[Row]) -> Report:
    report = Report()
    for row in rows:
        match = matcher.match(row.text)
        intent, lang = understood(match, catalog)
        expected = row.intents[0]
        ok = intent in row.intents
        if not ok and match.clarify and any(c in row.intents for c in match.clarify):
            ok = True
            report.clarified += 1
        if intent == "confirm_stop":
            report.confirm_stop += 1
        report.total += 1
        report.correct += ok
        report.lang_correct += lang == row.lang
        bucket = report.per_intent.setdefault(expected, [0, 0])
        bucket[0] += ok
        bucket[1] += 1
        if not ok:
            report.confused[(expected, intent)] += 1
            report.misses.append((row.text, "|".join(row.intents), intent))
    return report
