"""Adding labelled messages to the content's `examples:` lists (`derechos content add-examples`).

A labelled file (text, intent, lang: the format `derechos match --eval` reads) becomes examples: each
row is written at the end of its intent's list, in the topic file (`<lang>/<topic>.md`) or in
`<lang>/system.yml` for a command, as a line of its own. Everything else in the files, comments
included, stays as it was. A row is left out when it is already an example in its language (under
any intent), when it is a message of a file named with --skip (an evaluation set must never become
examples), or when it accepts more than one intent (it would teach the model both). A row that
names an unknown intent or language stops the whole file: nothing is written.
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import (BASE_LANGS, EXAMPLE_INTENTS, Problem, example_key, field_line, parse_system,
                      parse_topic)
from .errors import ContentError
from .evaluation import Row, read_rows
from .files import write_atomically


@dataclass
class AddReport:
    added: Counter = field(default_factory=Counter)           # path shown to editors -> rows added
    skipped: Counter = field(default_factory=Counter)         # reason -> rows
    conflicts: list[str] = field(default_factory=list)        # already an example of another intent

    def lines(self) -> list[str]:
        out = [f"added {n} to {path}" for path, n in sorted(self.added.items())]
        out.append(f"added {sum(self.added.values())} example(s) in {len(self.added)} file(s)")
        for reason, n in sorted(self.skipped.items()):
            out.append(f"left out {n}: {reason}")
        out += [f"  {c}" for c in self.conflicts]
        return out


def yaml_item(text: str) -> str:
    """The text as a double-quoted YAML scalar (a JSON string is one), as most examples are written."""
    return json.dumps(text, ensure_ascii=False)


def add_examples(root: Path, labelled: Path, skip: tuple[Path, ...] | list[Path] = (), text_lang=None, dry_run: bool = False) -> AddReport:
    """Write the rows of `labelled` into the examples of `root`'s content; see the module's docstring.

    `text_lang(text)` tells the language a message is written in, for `language` rows (their lang
    column is the language asked for, not the one written); without it they count as Spanish."""
    rows = _rows(labelled)
    skip_keys = {example_key(r.text) for path in skip for _, r in _rows(path)}
    lists = _example_lists(root)
    known = {lang: {example_key(e): intent for intent, (_, _, items) in by_intent.items() for e in items}
             for lang, by_intent in lists.items()}

    problems, wanted = [], defaultdict(list)       # (lang, intent) -> texts, in the file's order
    report = AddReport()
    for number, row in rows:
        intent = row.intents[0]
        lang = _text_lang(row, text_lang)
        if lang not in lists or intent not in lists[lang]:
            if intent in EXAMPLE_INTENTS or any(intent in by_intent for by_intent in lists.values()):
                problems.append(Problem(str(labelled), number, f"'{intent}' has no examples list in {lang}/"))
            else:
                problems.append(Problem(str(labelled), number, f"unknown intent '{intent}'"))
            continue
        if len(row.intents) > 1:
            report.skipped["accepts more than one intent"] += 1
            continue
        k = example_key(row.text)
        if not k:
            report.skipped["empty"] += 1
        elif k in skip_keys:
            report.skipped["a message of a --skip file"] += 1
        elif k in known[lang]:
            owner = known[lang][k]
            report.skipped["already an example"] += 1
            if owner != intent:
                report.conflicts.append(f"line {number}: {row.text!r} is an example of '{owner}', labelled '{intent}'")
        else:
            known[lang][k] = intent
            wanted[(lang, intent)].append(row.text)
    if problems:
        raise ContentError(problems)

    by_file: dict[Path, list[tuple[int, list[str]]]] = defaultdict(list)
    for (lang, intent), texts in wanted.items():
        path, last_line, _ = lists[lang][intent]
        by_file[path].append((last_line, texts))
    written: dict[Path, str] = {}
    try:
        for path, inserts in by_file.items():
            if not dry_run:
                written[path] = path.read_text(encoding="utf-8")
                _insert(path, inserts)
            report.added[os.path.relpath(path, root)] = sum(len(t) for _, t in inserts)
        if written:
            _check_written(root, lists, wanted)
    except BaseException:
        for path, before in written.items():     # all or nothing: put every file back as it was
            write_atomically(path, before)
        raise
    return report


def _rows(path: Path) -> list[tuple[int, Row]]:
    try:
        return [(number, row) for number, row in enumerate(read_rows(path), start=2)]
    except ValueError as exc:
        raise ContentError([Problem(str(path), 1, str(exc))]) from None


def _text_lang(row: Row, text_lang) -> str:
    if row.intents[0] == "language" or row.lang not in BASE_LANGS:
        return (text_lang(row.text) if text_lang else None) or "es"
    return row.lang


def _example_lists(root: Path) -> dict[str, dict[str, tuple[Path, int, tuple[str, ...]]]]:
    """lang -> intent -> (file, line of its last example, the examples), for es and en."""
    out: dict[str, dict] = {}
    for lang in BASE_LANGS:
        out[lang] = lists = {}
        folder = root / lang
        for path in sorted(folder.glob("*.md")):
            topic, problems = parse_topic(root, path, lang)
            _refuse(problems)
            if topic is not None and topic.examples:
                lists[topic.id] = (path, field_line(topic, "examples", len(topic.examples) - 1), topic.examples)
        system, problems = parse_system(root, folder / "system.yml", lang)
        _refuse(problems)
        for intent, items in (system.examples if system else {}).items():
            if items:
                lists[intent] = (system.path, system.lines[f"examples.{intent}[{len(items) - 1}]"], items)
    return out


def _check_written(root: Path, before: dict, wanted: dict) -> None:
    """Read the files back: each list must be what it was plus the new texts, in order."""
    after = _example_lists(root)
    problems = []
    for (lang, intent), texts in wanted.items():
        path, _, old = before[lang][intent]
        new = after[lang].get(intent, (path, 1, ()))[2]
        if tuple(new) != tuple(old) + tuple(texts):
            problems.append(Problem(str(path), 1, f"the examples of '{intent}' did not read back as written; "
                                                  "nothing was changed"))
    if problems:
        raise ContentError(problems)


def _refuse(problems: list[Problem]) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ContentError(errors)


def _insert(path: Path, inserts: list[tuple[int, list[str]]]) -> None:
    """New items after the given lines (1-based: a list's last item), with that item's indentation,
    bottom first so the line numbers above stay right; written atomically (the caller reads it back)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for last_line, texts in sorted(inserts, reverse=True):
        item = lines[last_line - 1]
        dash = item.index("-")
        indent = item[:dash]
        end = last_line            # past the item's continuation lines, if it has any
        while end < len(lines) and lines[end].strip() and not lines[end].lstrip().startswith(("-", "#")) \
                and len(lines[end]) - len(lines[end].lstrip()) > dash:
            end += 1
        if not lines[end - 1].endswith("\n"):
            lines[end - 1] += "\n"
        lines[end:end] = [f"{indent}- {yaml_item(t)}\n" for t in texts]
    write_atomically(path, "".join(lines))
