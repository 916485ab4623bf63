"""Gettext catalogs (.po) for translators: export the Spanish texts, import the translations.

`export_po` writes one entry per translatable field, msgctxt naming the field:

- ``<topic>:title``, ``<topic>:label``, ``<topic>:page1`` ... ``<topic>:pageN``,
  ``<topic>:keywords`` and ``<topic>:phrases`` (one word or phrase a line);
- ``system:<key>`` for the messages of ``system.yml``;
- ``commands:<command>`` for the words of each command (one a line).

msgid is the Spanish text as written in the files ({placeholders} kept, not filled from
settings), msgstr the current text in the target language, if any. Draft topics of the target
language are exported as fuzzy.

`import_po` writes the translated entries back into the content files of the catalog's
Language. Untranslated and fuzzy entries are reported and not imported, and so is an entry
whose {placeholders} differ from its msgid's; what is not imported keeps its current text.

Babel is used for the .po format, with a few choices made on purpose:

- ``write_po(width=0)``: msgid/msgstr lines are not wrapped at word boundaries; a text is
  only split after each newline (lossless: the pieces are concatenated on reading).
- Babel flags any text with ``%`` followed by a letter as ``python-format`` (``50% de``);
  that is dropped, and ``python-brace-format`` is set only when the text has {placeholders},
  so translation tools check them.
- Babel's parser silently drops or merges malformed entries (an unclosed quote, a second
  msgstr, a duplicate msgctxt); the file is checked line by line first, and every error is
  raised as ContentError with the .po file and line.
- Babel rejects a Language header that is not a valid locale (a slug such as ``kiche`` is
  fine, one with digits is not); a Catalog subclass keeps such a slug as the identifier.
"""
from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from babel.messages.catalog import Catalog as _BabelCatalog
from babel.messages.pofile import PoFileError, PoFileParser, unescape, write_po

from . import sms
from .catalog import (
    BASE_LANGS,
    COMMANDS,
    DEFAULT_LANG,
    FIRST_REPLY_SEGMENTS,
    LABEL_MAX,
    PAGE_SEGMENTS,
    STATUSES,
    SYSTEM_KEYS,
    Catalog,
    Problem,
    Topic,
    _fill,
    _read_system,
    _read_topic,
    _Reader,
    check_content,
    placeholders,
    settings_for,
)
from .errors import ContentError
from .text import normalize

__all__ = ["ImportReport", "export_po", "import_po"]

PROJECT = "derechos"
TOPIC_TEXT_FIELDS = ("title", "label")
TOPIC_LIST_FIELDS = ("keywords", "phrases")
PAGE_FIELD = re.compile(r"page([1-9][0-9]*)")
PAGE_SEPARATOR = "\n\n---\n\n"
# Key order of a topic file's front matter; other keys (audio, id) follow in their own order.
KEY_ORDER = ("title", "menu", "label", "status", "reviewed_by", "keywords", "phrases", "related", "sources")
FLOW_WIDTH = 99          # command lists in system.yml wrap before this column, as written by hand
LIST_PREVIEW = 12        # how many msgctxt a summary line names before "and N more"

SYSTEM_NOTES = {
    "welcome": "First line of the menu, sent when someone writes for the first time or asks for the menu.",
    "menu_header": "Line above the numbered list of topics in the menu.",
    "menu_footer": "Line below the numbered list of topics: the main commands.",
    "more_hint": "Added below a page when a next page exists: how to ask for it.",
    "more_end": "Sent when someone asks for more after the last page.",
    "help": "Answer to the HELP command. Carriers require it to name the service, say how to reach "
            "a person and how to stop the messages.",
    "stop": "Sent after STOP: the person will get no more messages.",
    "start": "Sent after START: the person gets messages again.",
    "not_understood": "Sent when the bot cannot tell what the person asked.",
    "language_changed": "Sent when the person switches to this language.",
    "fallback_notice": "Put above a topic that has no text in the person's language yet and goes out in Spanish.",
    "interpreter": "Sent when the person asks for an interpreter.",
    "handoff": "Sent when the person asks to talk to a person.",
    "deleted": "Sent after the person's data is deleted.",
    "rate_limited": "Sent when someone sends too many messages in a short time.",
    "ask_region": "Added after choosing a language of many varieties: asks the person's town or region.",
    "region_saved": "Sent after the person names their town or region ({region} is their answer).",
}
COMMAND_NOTES = {
    "menu": "show the menu of topics",
    "more": "send the next page of the topic",
    "help": "send the HELP message",
    "stop": "stop all messages (opt out)",
    "start": "receive messages again (opt in)",
    "delete": "delete the person's data",
    "human": "ask to talk to a person",
    "interpreter": "ask for an interpreter",
}
WORDS_ADVICE = ("Write the words people really text in {name} (everyday spellings, short forms, words "
                "borrowed from Spanish or English), not a word-for-word translation of the Spanish list. "
                "Capitals and accents do not matter.")


# --- Babel -------------------------------------------------------------------------------------

class _PoCatalog(_BabelCatalog):
    """Babel's Catalog with two fixes: any content slug as Language, Project-Id-Version without a version."""

    def _set_locale(self, locale) -> None:
        try:
            super()._set_locale(locale)
        except ValueError:             # e.g. a slug with digits: not a locale, still our language id
            self._locale_identifier = str(locale)
            self._locale = None

    def _get_mime_headers(self):
        headers = super()._get_mime_headers()
        if self.version in (None, "", "VERSION"):
            headers = [(name, self.project if name == "Project-Id-Version" else value) for name, value in headers]
        return headers


# --- reading the content files as written ------------------------------------------------------

def _folder(root: Path, lang: str) -> Path:
    return root / lang if lang in BASE_LANGS else root / "indigenous" / lang


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root.parent).as_posix()
    except ValueError:
        return str(path)


def _topic_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.glob("*.md")) if p.name.upper() != "README.MD"]


def _raw_topic(root: Path, path: Path, lang: str) -> tuple[Topic | None, list[Problem]]:
    """The topic as written (placeholders not filled), or None with the reasons."""
    if not path.is_file():
        return None, []
    reader = _Reader(root)
    topic = _read_topic(reader, path, lang)
    return topic, [p for p in reader.problems if p.severity == "error"]


def _raw_system(root: Path, path: Path, base: bool):
    """(texts, commands, where) of a system.yml as written, or None; and the problems."""
    if not path.is_file():
        return None, []
    reader = _Reader(root)
    result = _read_system(reader, path, base=base)
    return result, [p for p in reader.problems if p.severity == "error"]


def _page_line(topic: Topic, index: int) -> int:
    """The file line where page `index` (from 0) starts: its first line that is not blank."""
    starts = topic._lines["pages"]
    line = starts[index] if index < len(starts) else 1
    try:
        file_lines = topic.path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return line
    while line - 1 < len(file_lines) and not file_lines[line - 1].strip():
        line += 1
    return line


def _spanish_texts(topic: Topic) -> dict[str, str]:
    """Field -> msgid for one Spanish topic (fields with no Spanish text are left out)."""
    texts = {"title": topic.title, "label": topic.label}
    texts.update({f"page{i}": page for i, page in enumerate(topic.pages, 1)})
    texts.update({name: "\n".join(getattr(topic, name)) for name in TOPIC_LIST_FIELDS})
    return {name: text for name, text in texts.items() if text}


# --- export ------------------------------------------------------------------------------------

def export_po(catalog: Catalog, lang: str, content_root: Path) -> bytes:
    """A Gettext catalog (UTF-8 bytes) for translating the content from Spanish into `lang`."""
    root = Path(content_root)
    if lang == DEFAULT_LANG:
        raise ValueError("Spanish is the source language of the catalog: choose another target language")
    if lang not in catalog.languages:
        raise ValueError(f"unknown language {lang!r} (known: {', '.join(sorted(catalog.languages))})")
    language = catalog.languages[lang]
    name = language.display_name("en")
    folder = _folder(root, lang)
    po = _PoCatalog(locale=lang, project=PROJECT, version=None, charset="UTF-8", fuzzy=False,
                    header_comment=_header_comment(root, language, lang, folder),
                    language_team=name)
    settings = settings_for(catalog.settings, lang, catalog.languages)
    es_system, _ = _raw_system(root, root / DEFAULT_LANG / "system.yml", base=True)
    own_system, own_system_problems = _raw_system(root, folder / "system.yml", base=lang in BASE_LANGS)
    hints = {"es": _fill((es_system[0] if es_system else {}).get("more_hint", ""), settings)}
    hints[lang] = _fill((own_system[0] if own_system else {}).get("more_hint", ""), settings) or hints["es"]

    for tid in catalog.topic_ids:
        es, _ = _raw_topic(root, root / DEFAULT_LANG / f"{tid}.md", DEFAULT_LANG)
        if es is None:
            continue
        target_path = folder / f"{tid}.md"
        target, target_problems = _raw_topic(root, target_path, lang)
        draft = target is not None and target.status != "reviewed"
        goes_to = f"Goes to {_rel(root, target_path)}"
        if draft:
            goes_to += " (a draft there: its text is marked fuzzy until someone reviews it)"
        elif target_problems:
            goes_to += f" (that file has errors and was not read: {target_problems[0].message})"
        es_rel = _rel(root, es.path)
        where = es._lines["where"]
        texts = _spanish_texts(es)
        own = {} if target is None else _spanish_texts(target)

        notes = {
            "title": "Title of the topic: a short heading for editors; its words also help the bot "
                     "recognise questions about the topic. Not sent by SMS.",
            "label": f"Menu label, shown as \"{es.menu} {es.label}\" in the menu: at most {LABEL_MAX} "
                     "characters, and the whole menu must fit in a few SMS.",
            "keywords": "Words people text to ask about this topic, one per line. " + WORDS_ADVICE.format(name=name)
                        + " Each word should point to this topic only.",
            "phrases": "Phrases (several words) people text to ask about this topic, one per line. "
                       + WORDS_ADVICE.format(name=name),
        }
        lines = {"title": where.get("title", 2), "label": where.get("label", 2),
                 "keywords": where.get("keywords", 2), "phrases": where.get("phrases", 2)}
        count = len(es.pages)
        for number in range(1, count + 1):
            notes[f"page{number}"] = _page_note(number, count, es.pages[number - 1],
                                                own.get(f"page{number}"), hints, lang, settings)
            lines[f"page{number}"] = _page_line(es, number - 1)
        order = ["title", "label", *[f"page{n}" for n in range(1, count + 1)], "keywords", "phrases"]
        for name_ in order:
            if name_ not in texts:
                continue
            comments = [f"{tid}: {notes[name_]}", goes_to]
            comments += _placeholder_notes(texts[name_], settings)
            _add(po, f"{tid}:{name_}", texts[name_], own.get(name_, ""), comments, (es_rel, lines[name_]),
                 fuzzy=draft)

    if es_system is not None:
        texts, commands, _, _, where = es_system
        es_rel = _rel(root, root / DEFAULT_LANG / "system.yml")
        own_texts, own_commands = (own_system[0], own_system[1]) if own_system else ({}, {})
        goes_to = f"Goes to {_rel(root, folder / 'system.yml')}"
        if own_system_problems:
            goes_to += f" (that file has errors and was not read: {own_system_problems[0].message})"
        for key in SYSTEM_KEYS:
            if key not in texts:
                continue
            comments = [f"System message '{key}': {SYSTEM_NOTES.get(key, '')}", goes_to]
            _add(po, f"system:{key}", texts[key], own_texts.get(key, ""),
                 comments + _placeholder_notes(texts[key], settings), (es_rel, where.get(key, 1)))
        for command in COMMANDS:
            if command not in commands:
                continue
            comments = [f"Command '{command}' ({COMMAND_NOTES.get(command, '')}): words that run it when a "
                        "message is only that word or phrase, one per line. The words of every language work "
                        "for everyone, so avoid ordinary words people use in questions. "
                        + WORDS_ADVICE.format(name=name), goes_to]
            _add(po, f"commands:{command}", "\n".join(commands[command]), "\n".join(own_commands.get(command, ())),
                 comments, (es_rel, where.get(f"commands.{command}", where.get("commands", 1))))

    out = io.BytesIO()
    write_po(out, po, width=0, include_previous=False)
    return out.getvalue()


def _header_comment(root: Path, language, lang: str, folder: Path) -> str:
    name = language.display_name("en")
    lines = [
        f"# Derechos: the bot's texts, to translate from Spanish into {name} ({lang}).",
        "# Each entry is one field of one content file; msgctxt says which: <topic>:title, <topic>:label,",
        "# <topic>:page1 ..., <topic>:keywords, <topic>:phrases, system:<message>, commands:<command>.",
        "# Keep {placeholders} such as {help_line} exactly as they are: the bot fills them in.",
        "# Leave an entry empty when you have no translation, and mark it fuzzy (needs work) when you",
        "# are not sure of it: empty and fuzzy entries are not imported, the current text stays.",
        "# Pages are sent by SMS: a segment holds 153 characters, but only 67 when the text has a character",
        "# SMS cannot carry (an emoji, or letters such as ë; accents and ꞌ are simplified). Placeholders",
        "# count at the length of their values. Each page's comment gives its budget in segments.",
        f"# The translations go to {_rel(root, folder)}/.",
    ]
    if language.indigenous:
        codes = ", ".join(language.iso639_3) or "none listed"
        lines.append(f"# Language: {lang} is the slug of {_rel(root, folder)}; ISO 639-3: {codes}.")
        if language.regions:
            lines.append(f"# Regional variants: {'; '.join(language.regions)}.")
            lines.append("# Say in Language-Team which variant you write.")
    return "\n".join(lines)


def _add(po: _PoCatalog, context: str, msgid: str, msgstr: str, comments: list[str], location: tuple[str, int],
         fuzzy: bool = False) -> None:
    flags = set()
    if fuzzy and msgstr:
        flags.add("fuzzy")
    if placeholders(msgid):
        flags.add("python-brace-format")
    message = po.add(msgid, msgstr, locations=[location], auto_comments=[c for c in comments if c],
                     context=context)
    message.flags = flags          # Babel guesses python-format from any "%"; say what is true


def _placeholder_notes(text: str, settings: dict[str, str]) -> list[str]:
    names = sorted(placeholders(text))
    if not names:
        return []
    parts = []
    for name in names:
        if name == "language":
            parts.append("{language} = the name of the person's language")
        elif name in settings:
            parts.append(f"{{{name}}} = {settings[name]}")
        else:
            parts.append(f"{{{name}}}")
    return ["Keep these placeholders as they are; the bot writes in their values: " + "; ".join(parts) + "."]


def _page_note(number: int, count: int, page: str, own: str | None, hints: dict[str, str], lang: str,
               settings: dict[str, str]) -> str:
    budget = FIRST_REPLY_SEGMENTS if number == 1 else PAGE_SEGMENTS
    what = "the first reply, sent when someone picks this topic" if number == 1 else "sent when someone asks for more"
    last = number == count
    note = f"Page {number} of {count}: {what}. Budget: {budget} SMS segments"
    note += "." if last else f" with the line \"{hints[lang]}\" the bot adds below it."

    def size(text: str, hint: str) -> str:
        info = sms.segment_info(sms.render(_fill(text, settings) + ("" if last else "\n" + hint), "sms", fold=True))
        return f"{info.segments} segment{'s' if info.segments != 1 else ''} ({info.characters} characters)"

    note += f" The Spanish is {size(page, hints['es'])}"
    if own:
        note += f"; the current {lang} text is {size(own, hints[lang])}"
    return note + "."


# --- reading a .po file ------------------------------------------------------------------------

_KEYWORD = re.compile(r"(msgctxt|msgid|msgid_plural|msgstr|msgstr\[[0-9]+\])[ \t]+(.*)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = set('\\"ntr')
_CHARSET = re.compile(rb"charset=([A-Za-z0-9_.:-]+)")


def _decode(po_path: Path, data: bytes) -> str:
    match = _CHARSET.search(data[:4096])
    charset = match.group(1).decode("ascii") if match else "utf-8"
    if charset.upper() == "CHARSET":
        charset = "utf-8"
    try:
        text = data.decode(charset)
    except LookupError:
        raise ContentError([Problem(str(po_path), 1, f"unknown charset {charset!r} in Content-Type; save the file "
                                                     "as UTF-8")]) from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ContentError([Problem(str(po_path), line, f"not {charset} text (byte {exc.start}); save the file as "
                                                        "UTF-8 with charset=UTF-8")]) from None
    return text[1:] if text.startswith("\ufeff") else text


def _lint(po_path: Path, text: str) -> list[Problem]:
    """Errors Babel would let through silently: malformed strings, entries out of order, duplicates."""
    problems: list[Problem] = []
    seen: dict[tuple[str | None, str], int] = {}
    entry: dict | None = None     # keyword -> pieces; plus bookkeeping keys starting with "_"

    def error(line: int, message: str) -> None:
        problems.append(Problem(str(po_path), line, message))

    def finish() -> None:
        nonlocal entry
        if entry is None:
            return
        if "msgid" not in entry:
            error(entry["_line"], "msgctxt without msgid")
        elif not any(k.startswith("msgstr") for k in entry):
            error(entry["_msgid_line"], "msgid without msgstr")
        else:
            context = "".join(entry["msgctxt"]) if "msgctxt" in entry else None
            key = (context, "".join(entry["msgid"]))
            if key in seen:
                what = f"msgctxt \"{context}\"" if context is not None else f"msgid \"{key[1][:40]}\""
                error(entry["_msgid_line"], f"a second entry for {what} (the first is at line {seen[key]})")
            else:
                seen[key] = entry["_msgid_line"]
        entry = None

    def string(line: int, quoted: str) -> str | None:
        if not _QUOTED.fullmatch(quoted):
            error(line, "a text must be in double quotes on one line, with \" and \\ written as \\\" and \\\\")
            return None
        for match in _ESCAPE.finditer(quoted[1:-1]):
            if match.group(1) not in _ESCAPES:
                error(line, f"unknown escape \\{match.group(1)} (use \\n, \\t, \\\", \\\\)")
                return None
        return unescape(quoted)

    last: str | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if entry is not None and any(k.startswith("msgstr") for k in entry):
                finish()
            last = None
            continue
        if line.startswith('"'):
            if entry is None or last is None:
                error(number, "a text in quotes that follows no msgctxt, msgid or msgstr")
                continue
            piece = string(number, line)
            if piece is not None:
                entry[last].append(piece)
            continue
        match = _KEYWORD.fullmatch(line)
        if not match:
            error(number, f"not a .po line: {line[:40]!r} (expected msgctxt, msgid, msgstr, a \"text\" or a # comment)")
            last = None
            continue
        keyword, rest = match.groups()
        if keyword in ("msgctxt", "msgid") and entry is not None and any(k.startswith("msgstr") for k in entry):
            finish()
        if entry is None:
            entry = {"_line": number}
        if keyword in entry:
            error(number, f"a second {keyword} in the entry that starts at line {entry['_line']}")
            last = None
            continue
        order_ok = {
            "msgctxt": "msgid" not in entry,
            "msgid": True,
            "msgid_plural": "msgid" in entry and not any(k.startswith("msgstr") for k in entry),
        }.get(keyword, "msgid" in entry)
        if not order_ok:
            error(number, f"{keyword} out of order (an entry is: msgctxt, msgid, msgstr)")
            last = None
            continue
        piece = string(number, rest)
        entry[keyword] = [piece or ""]
        if keyword == "msgid":
            entry["_msgid_line"] = number
        last = keyword if piece is not None else None
        if len(problems) >= 20:
            break
    finish()
    return problems


def _read_po_file(po_path: Path) -> _PoCatalog:
    try:
        data = po_path.read_bytes()
    except OSError as exc:
        raise ContentError([Problem(str(po_path), 1, f"cannot read: {exc.strerror}")]) from None
    text = _decode(po_path, data)
    problems = _lint(po_path, text)
    if problems:
        raise ContentError(problems)
    po = _PoCatalog(charset="UTF-8")
    try:
        PoFileParser(po, ignore_obsolete=True, abort_invalid=True).parse(io.StringIO(text))
    except PoFileError as exc:
        raise ContentError([Problem(str(po_path), (exc.lineno or 0) + 1, f"invalid .po: {exc}")]) from None
    except (ValueError, TypeError) as exc:
        raise ContentError([Problem(str(po_path), 1, f"invalid .po header: {exc}")]) from None
    return po


def _po_language(po: _PoCatalog, root: Path, po_path: Path) -> str:
    value = po.locale_identifier
    if not value:
        raise ContentError([Problem(str(po_path), 1, "no Language header: it names the language of the "
                                                     "translations, e.g. \"Language: en\\n\" or \"Language: mam\\n\"")])
    known = [*BASE_LANGS, *(p.parent.name for p in sorted((root / "indigenous").glob("*/language.yml")))]
    for lang in (value, value.split("_")[0]):
        if lang == DEFAULT_LANG:
            raise ContentError([Problem(str(po_path), 1, "Language is es, the source language: a translation "
                                                         "catalog names its target language")])
        if lang in known:
            return lang
    raise ContentError([Problem(str(po_path), 1, f"Language {value!r} is not a language of the content "
                                                 f"(known: {', '.join(k for k in known if k != DEFAULT_LANG)})")])


# --- import ------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What an import did: files written, entries imported, and what was left out and why."""

    written: list[Path] = field(default_factory=list)
    translated: int = 0                                       # entries imported (including unchanged ones)
    fuzzy: list[str] = field(default_factory=list)            # msgctxt of fuzzy entries, not imported
    untranslated: list[str] = field(default_factory=list)     # msgctxt of empty entries
    unknown: list[str] = field(default_factory=list)          # msgctxt that match no field
    problems: list[str] = field(default_factory=list)         # entries or files not imported, and why
    notes: list[str] = field(default_factory=list)            # things to know that are not errors
    lang: str = ""
    status: str = ""
    root: Path | None = None

    def lines(self) -> list[str]:
        """Human-readable summary for the CLI."""
        out = [f"{self.lang or '?'}: imported {self.translated} translated entries "
               f"(topic files written as {self.status or '?'})"]
        for path in self.written:
            out.append(f"wrote {_rel(self.root, path) if self.root else path}")
        if not self.written:
            out.append("no file changed")
        for label, items in (("fuzzy, not imported", self.fuzzy), ("untranslated, not imported", self.untranslated),
                             ("unknown msgctxt, ignored", self.unknown)):
            if items:
                shown = ", ".join(items[:LIST_PREVIEW])
                more = f" and {len(items) - LIST_PREVIEW} more" if len(items) > LIST_PREVIEW else ""
                out.append(f"{label} ({len(items)}): {shown}{more}")
        out += [f"problem: {p}" for p in self.problems]
        out += [f"note: {n}" for n in self.notes]
        return out


@dataclass
class _Entry:
    context: str
    kind: str                  # "topic" | "system" | "commands"
    key: str                   # topic id, message key or command
    field: str = ""            # topic field: title, label, pageN, keywords, phrases
    value: object = None


def import_po(content_root: Path, po_path: Path, status: str | None = None) -> ImportReport:
    """Write the translations of a .po file into the content files of its Language."""
    root = Path(content_root)
    po_path = Path(po_path)
    po = _read_po_file(po_path)
    lang = _po_language(po, root, po_path)
    indigenous = lang not in BASE_LANGS
    status = status or ("draft" if indigenous else "reviewed")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    folder = _folder(root, lang)
    report = ImportReport(lang=lang, status=status, root=root)

    es_topics = {}
    for path in _topic_files(root / DEFAULT_LANG):
        topic, _ = _raw_topic(root, path, DEFAULT_LANG)
        if topic is not None:
            es_topics[topic.id] = topic
    es_system, _ = _raw_system(root, root / DEFAULT_LANG / "system.yml", base=True)
    es_texts, es_commands = (es_system[0], es_system[1]) if es_system else ({}, {})

    entries: list[_Entry] = []
    fuzzy_topics: set[str] = set()
    stale: list[str] = []
    for message in po:
        if message.id == "" and message.context is None:
            continue                                   # the header
        context = message.context or ""
        entry = _target(context, es_topics)
        if entry is None or isinstance(message.id, (tuple, list)):
            report.unknown.append(context or f"(no msgctxt) {str(message.id)[:40]!r}")
            continue
        string = message.string
        if isinstance(string, (tuple, list)):
            string = string[0] if string else ""
        if not (string or "").strip():
            report.untranslated.append(context)
            continue
        if message.fuzzy:
            report.fuzzy.append(context)
            if entry.kind == "topic":
                fuzzy_topics.add(entry.key)
            continue
        problem = _convert(entry, message.id, string)
        if problem:
            report.problems.append(problem)
            continue
        current = _current_spanish(entry, es_topics, es_texts, es_commands)
        if current is not None and current != message.id:
            stale.append(context)
        entries.append(entry)
    if stale:
        report.notes.append("the Spanish text changed since this catalog was exported, for "
                            f"{', '.join(stale[:LIST_PREVIEW])}{' ...' if len(stale) > LIST_PREVIEW else ''}: "
                            "imported anyway; export again to check those translations")

    before = {(p.path, p.message) for p in check_content(root) if p.severity == "error"} if entries else set()
    by_topic: dict[str, list[_Entry]] = {}
    for entry in entries:
        if entry.kind == "topic":
            by_topic.setdefault(entry.key, []).append(entry)
    for tid, topic_entries in by_topic.items():
        report.translated += _import_topic(report, root, folder, lang, es_topics[tid], topic_entries, status,
                                           tid in fuzzy_topics)
    system_entries = [e for e in entries if e.kind != "topic"]
    if system_entries and status == "draft":
        # system.yml has no draft status: its messages and command words (which act in every language,
        # STOP included) would go live on the next reload. Only reviewed text may go there.
        report.notes.append(f"{len(system_entries)} system message(s) and command word list(s) not imported: "
                            f"{_rel(root, folder / 'system.yml')} has no draft status; import again with "
                            "--status reviewed once a native speaker has reviewed them")
    elif system_entries:
        report.translated += _import_system(report, root, folder, lang, system_entries)

    if report.written:
        after = [p for p in check_content(root) if p.severity == "error"]
        new = [p for p in after if (p.path, p.message) not in before]
        report.problems += [f"after import: {p}" for p in new]
        if new:
            report.notes.append("the content does not load until the problems 'after import' are fixed")
    return report


def _target(context: str, es_topics: dict[str, Topic]) -> _Entry | None:
    """The field a msgctxt names, or None."""
    prefix, _, name = context.partition(":")
    if prefix == "system" and name in SYSTEM_KEYS:
        return _Entry(context, "system", name)
    if prefix == "commands" and name in COMMANDS:
        return _Entry(context, "commands", name)
    tid, _, name = context.rpartition(":")
    topic = es_topics.get(tid)
    if topic is None:
        return None
    if name in TOPIC_TEXT_FIELDS or name in TOPIC_LIST_FIELDS:
        return _Entry(context, "topic", tid, name)
    match = PAGE_FIELD.fullmatch(name)
    if match and int(match.group(1)) <= len(topic.pages):
        return _Entry(context, "topic", tid, name)
    return None


def _current_spanish(entry: _Entry, es_topics, es_texts, es_commands) -> str | None:
    if entry.kind == "topic":
        return _spanish_texts(es_topics[entry.key]).get(entry.field)
    if entry.kind == "system":
        return es_texts.get(entry.key)
    words = es_commands.get(entry.key)
    return "\n".join(words) if words else None


def _convert(entry: _Entry, msgid: str, string: str) -> str | None:
    """Check a translation and store its value in `entry`; or return why it is not imported."""
    text = string.replace("\r\n", "\n").replace("\r", "\n")
    where = entry.context
    expected, found = placeholders(msgid), placeholders(text)
    if expected != found:
        parts = [f"{{{n}}} missing in {where}" for n in sorted(expected - found)]
        parts += [f"{{{n}}} in {where} is not in the Spanish text" for n in sorted(found - expected)]
        return "; ".join(parts) + " (not imported)"
    name = entry.field if entry.kind == "topic" else entry.kind
    if name in TOPIC_LIST_FIELDS or name == "commands":
        words = tuple(w.strip() for w in text.split("\n") if w.strip())
        empty = [w for w in words if not normalize(w)]
        if empty:
            return f"{where}: '{empty[0]}' has no letters or digits (not imported)"
        entry.value = words
        return None
    if name.startswith("page"):
        text = "\n".join(text.splitlines())          # the loader reads pages line by line, any line break
    text = text.strip()
    if name in TOPIC_TEXT_FIELDS and "\n" in text:
        return f"{where}: the {name} must be one line (not imported)"
    if name == "label" and len(text) > LABEL_MAX:
        return f"{where}: the label is {len(text)} characters; the menu allows {LABEL_MAX} (not imported)"
    if name.startswith("page") and any(line.strip() == "---" for line in text.split("\n")):
        return f"{where}: a line '---' would split the page in two (not imported)"
    entry.value = text
    return None


def _import_topic(report: ImportReport, root: Path, folder: Path, lang: str, es: Topic, entries: list[_Entry],
                  status: str, has_fuzzy: bool) -> int:
    """Merge a topic's translated fields into its file; return how many entries were imported."""
    path = folder / f"{es.id}.md"
    rel = _rel(root, path)
    existing, problems = _raw_topic(root, path, lang)
    if path.exists() and existing is None:
        reason = problems[0].message if problems else "cannot read it"
        report.problems.append(f"{rel}: not updated, the file has errors ({reason}); fix it and import again "
                               f"({', '.join(e.context for e in entries)})")
        return 0
    if existing is not None:
        data = _front_matter(path.read_text(encoding="utf-8"))
        pages = list(existing.pages)
        old_status = existing.status
    else:
        data = {"menu": es.menu, "related": list(es.related), "sources": list(es.sources)}
        pages = []
        old_status = None
    old_values = _topic_values(data, pages)

    updates = {e.field: e.value for e in entries}
    for name in TOPIC_TEXT_FIELDS:
        if name in updates:
            data[name] = updates[name]
    for name in TOPIC_LIST_FIELDS:
        if name in updates:
            data[name] = list(updates[name])
    merged = {i: page for i, page in enumerate(pages, 1)}
    merged.update({int(name[4:]): value for name, value in updates.items() if name.startswith("page")})
    pages, number = [], 1
    while number in merged:
        pages.append(merged[number])
        number += 1
    imported = len(entries)
    for name in sorted((n for n in updates if n.startswith("page") and int(n[4:]) > number), key=lambda n: int(n[4:])):
        report.problems.append(f"{es.id}:{name} not imported: page {number} has no text in {lang} yet "
                               "(pages follow one another)")
        imported -= 1

    changed = _topic_values(data, pages) != old_values
    new_status = status
    if has_fuzzy and status == "reviewed" and old_status == "draft":
        new_status = "draft"
        report.notes.append(f"{rel}: kept as draft, some of its entries are still fuzzy")
    if not changed and not (old_status == "draft" and new_status == "reviewed"):
        return imported                                # same text: leave the file (and its status) alone
    data["status"] = new_status
    if old_status and old_status != new_status:
        report.notes.append(f"{rel}: status {old_status} -> {new_status}")
    text = _topic_text(data, pages)
    topic, problems = _check_candidate(path, text, lambda reader, p: _read_topic(reader, p, lang))
    if topic is None:
        report.problems.append(f"{rel}: not written: " + "; ".join(problems)
                               + f" ({', '.join(e.context for e in entries)} not imported)")
        return 0
    if _topic_values_of(topic) != _topic_values(data, pages):      # the YAML must say exactly what we meant
        report.problems.append(f"{rel}: not written: the file would not read back as translated")
        return 0
    _write(path, text)
    report.written.append(path)
    return imported


def _front_matter(text: str) -> dict:
    lines = text.splitlines()
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    data = yaml.safe_load("\n".join(lines[1:end]))
    return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else {}


def _topic_values(data: dict, pages: list[str]) -> tuple:
    def strings(value) -> tuple[str, ...]:
        if value is None:
            return ()
        values = value if isinstance(value, list) else [value]
        return tuple(str(v).strip() for v in values if str(v).strip())
    return (str(data.get("title") or ""), str(data.get("label") or ""), strings(data.get("keywords")),
            strings(data.get("phrases")), tuple(pages))


def _topic_values_of(topic: Topic) -> tuple:
    return (topic.title, topic.label, topic.keywords, topic.phrases, topic.pages)


def _import_system(report: ImportReport, root: Path, folder: Path, lang: str, entries: list[_Entry]) -> int:
    path = folder / "system.yml"
    rel = _rel(root, path)
    base = lang in BASE_LANGS
    contexts = ", ".join(e.context for e in entries)
    existing, problems = _raw_system(root, path, base=base)
    if path.exists() and existing is None:
        reason = problems[0].message if problems else "cannot read it"
        report.problems.append(f"{rel}: not updated, the file has errors ({reason}); fix it and import again "
                               f"({contexts})")
        return 0
    texts, commands = (dict(existing[0]), dict(existing[1])) if existing else ({}, {})
    messages = {e.key: e.value for e in entries if e.kind == "system" and texts.get(e.key) != e.value}
    words = {e.key: e.value for e in entries if e.kind == "commands" and commands.get(e.key) != e.value}
    if not messages and not words:
        return len(entries)
    texts.update(messages)
    commands.update(words)
    candidates = []
    if existing is not None:
        edited = _edit_system(path.read_text(encoding="utf-8"), messages, words)
        if edited is not None:
            candidates.append(edited)
        candidates.append(_system_text(_leading_comment(path.read_text(encoding="utf-8")), texts, commands))
    else:
        candidates.append(_system_text(_system_header(lang), texts, commands))
    problems = []
    for text in candidates:
        result, problems = _check_candidate(path, text, lambda reader, p: _read_system(reader, p, base=base))
        if result is not None and result[0] == texts and result[1] == commands:
            _write(path, text)
            report.written.append(path)
            return len(entries)
    report.problems.append(f"{rel}: not written: " + ("; ".join(problems) or "it would not read back as translated")
                           + f" ({contexts} not imported)")
    return 0


def _system_header(lang: str) -> str:
    return (f"# System messages in {lang}, imported from a translator's catalog (.po).\n"
            "# {placeholders} are filled from content/settings.yml; {language} by the bot.\n"
            "# Messages not listed here are sent in Spanish.")


def _leading_comment(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


# --- writing YAML in the style of the content files --------------------------------------------

class _Quoted(str):
    """A text always written in double quotes."""


class _Literal(str):
    """A text written as a literal block (|), if YAML allows it."""


class _Flow(list):
    """A list written on one line: [a, b]."""


class _Dumper(yaml.SafeDumper):
    """Block lists indented under their key; double quotes where quotes are needed."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)

    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


_Dumper.add_representer(_Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))
_Dumper.add_representer(_Literal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style="|"))
_Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", list(v), flow_style=True))


# PyYAML escapes characters outside the BMP (most emoji) in double quotes even with
# allow_unicode; YAML reads them as they are, and people editing the files should see them.
_ASTRAL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\U([0-9A-Fa-f]{8})")


def _unescape_astral(match: re.Match) -> str:
    char = chr(int(match.group(2), 16))
    return match.group(1) + (char if char.isprintable() else match.group(0)[len(match.group(1)):])


def _dump(mapping: dict) -> str:
    text = yaml.dump(mapping, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=float("inf"),
                     default_flow_style=False)
    return _ASTRAL_ESCAPE.sub(_unescape_astral, text)


def _topic_text(data: dict, pages: list[str]) -> str:
    ordered = {}
    for key in (*KEY_ORDER, *(k for k in data if k not in KEY_ORDER)):
        if key not in data or data[key] is None:
            continue
        value = data[key]
        if key == "related" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = _Flow(value)
        elif key == "sources" and isinstance(value, list):
            value = [_Quoted(v) if isinstance(v, str) else v for v in value]
        ordered[key] = value
    front = _dump(ordered) if ordered else ""
    body = PAGE_SEPARATOR.join(pages)
    return f"---\n{front}---\n{body}\n" if body else f"---\n{front}---\n"


def _message_value(text: str, style: str | None = None):
    literal_ok = all(ch == "\n" or ch.isprintable() for ch in text)   # no tabs, no other line breaks
    if literal_ok and (style == "|" or (style is None and ("\n" in text or len(text) > 100))):
        return _Literal(text + "\n")
    if style in ("", "plain"):
        return text
    return _Quoted(text)


def _flow_item(word: str, quoted: bool) -> str:
    if quoted:
        return _dump({"k": _Quoted(word)})[3:].rstrip("\n")
    return _dump({"k": _Flow([word])})[4:].rstrip("\n")[:-1]      # "k: [word]" -> word, quoted if needed


def _command_lines(command: str, words, indent: int, quoted: bool = True, keep_quoted: frozenset = frozenset()) -> str:
    """`  menu: ["MENU", "HOLA", ...]`, wrapped before column FLOW_WIDTH like the files written by hand."""
    items = [_flow_item(w, quoted or w in keep_quoted) for w in words]
    lines, current = [], " " * indent + _dump({command: ""}).split(":")[0] + ": ["
    for i, item in enumerate(items):
        piece = item + ("]" if i == len(items) - 1 else ",")
        if i and len(current) + 1 + len(piece) > FLOW_WIDTH:
            lines.append(current)
            current = " " * (indent + 2) + piece
        else:
            current += (" " if i else "") + piece
    if not items:
        current += "]"
    lines.append(current)
    return "\n".join(lines) + "\n"


def _system_text(header: str, texts: dict[str, str], commands: dict[str, tuple[str, ...]]) -> str:
    out = (header + "\n\n") if header else ""
    messages = {key: _message_value(texts[key]) for key in (*SYSTEM_KEYS, *sorted(set(texts) - set(SYSTEM_KEYS)))
                if key in texts}
    if messages:
        out += _dump(messages)
    if commands:
        order = [c for c in (*COMMANDS, *sorted(set(commands) - set(COMMANDS))) if c in commands]
        out += ("\n" if messages else "") + "commands:\n" + "".join(_command_lines(c, commands[c], 2) for c in order)
    return out


def _skippable(line: str, indent: int) -> bool:
    """A blank line, or a comment no deeper than `indent` (so not inside a block text)."""
    stripped = line.strip()
    return not stripped or (stripped.startswith("#") and len(line) - len(line.lstrip()) <= indent)


def _indent(block: str, spaces: int) -> str:
    return "".join(" " * spaces + line for line in block.splitlines(keepends=True))


def _insertions(order, present: dict[str, tuple[int, int]], missing: list[str], first: int) -> dict[int, list[str]]:
    """Where to add each missing key: after the last key that comes before it in `order`, else at `first`."""
    def rank(key: str) -> int:
        return order.index(key) if key in order else len(order)
    out: dict[int, list[str]] = {}
    for key in missing:
        earlier = [end for other, (_, end) in present.items() if rank(other) < rank(key)]
        out.setdefault(max(earlier) if earlier else first, []).append(key)
    return out


def _edit_system(text: str, messages: dict[str, str], commands: dict[str, tuple[str, ...]]) -> str | None:
    """`text` with only the given messages and command lists replaced or added; comments kept.

    None when the file's shape is not the usual one (then the caller writes it afresh).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if node is None:
        entries = []
    elif isinstance(node, yaml.MappingNode) and not node.flow_style:
        entries = [(k.value, k.start_mark.line, k.start_mark.column, v) for k, v in node.value]
    else:
        return None

    def ends(items, stop: int) -> list[int]:
        result = []
        for i, (_, start, column, *_rest) in enumerate(items):
            end = items[i + 1][1] if i + 1 < len(items) else stop
            while end > start + 1 and _skippable(lines[end - 1], column):
                end -= 1
            result.append(end)
        return result

    top_ends = ends(entries, len(lines))
    index = {key: i for i, (key, *_rest) in enumerate(entries)}
    edits: list[tuple[int, int, int, str]] = []        # start, end, replaces?, new text
    missing = []
    for key in (*SYSTEM_KEYS, *sorted(set(messages) - set(SYSTEM_KEYS))):
        if key not in messages:
            continue
        i = index.get(key)
        if i is None:
            missing.append(key)
            continue
        value = entries[i][3]
        if not isinstance(value, yaml.ScalarNode) or entries[i][2] != 0:
            return None
        style = "plain" if value.style is None else value.style
        edits.append((entries[i][1], top_ends[i], 1, _dump({key: _message_value(messages[key], style)})))
    if missing:
        placed = {key: (entries[i][1], top_ends[i]) for key, i in index.items() if key in SYSTEM_KEYS}
        if entries:
            first = min(start for start, _ in placed.values()) if placed else entries[0][1]
            while first > 0 and lines[first - 1].startswith("#"):      # a comment right above belongs to the key
                first -= 1
        else:
            first = len(lines)
        for position, keys in _insertions(SYSTEM_KEYS, placed, missing, first).items():
            block = _dump({key: _message_value(messages[key]) for key in keys})
            if not entries and lines:
                block = "\n" + block                                   # after the file's comments
            elif entries and not placed and position == first:
                block += "\n"                                          # before the commands
            edits.append((position, position, 0, block))
    if commands:
        order = [c for c in (*COMMANDS, *sorted(set(commands) - set(COMMANDS))) if c in commands]
        i = index.get("commands")
        if i is None:
            edits.append((len(lines), len(lines), 0,
                          "\ncommands:\n" + "".join(_command_lines(c, commands[c], 2) for c in order)))
        else:
            value = entries[i][3]
            if not isinstance(value, yaml.MappingNode) or value.flow_style or not value.value:
                return None
            subs = [(k.value, k.start_mark.line, k.start_mark.column) for k, _ in value.value]
            sub_ends = ends(subs, top_ends[i])
            column = subs[0][2]
            where = {key: j for j, (key, *_rest) in enumerate(subs)}
            # Quote the words as the file does: all in double quotes, or only where YAML needs it.
            items = [item for _, seq in value.value if isinstance(seq, yaml.SequenceNode)
                     for item in seq.value if isinstance(item, yaml.ScalarNode)]
            quoted = not items or all(item.style == '"' for item in items)
            keep_quoted = frozenset(item.value for item in items if item.style == '"')
            new = []
            for command in order:
                j = where.get(command)
                if j is None:
                    new.append(command)
                else:
                    edits.append((subs[j][1], sub_ends[j], 1,
                                  _command_lines(command, commands[command], column, quoted, keep_quoted)))
            present = {key: (subs[j][1], sub_ends[j]) for key, j in where.items()}
            for position, keys in _insertions(COMMANDS, present, new, subs[0][1]).items():
                edits.append((position, position, 0, "".join(
                    _command_lines(c, commands[c], column, quoted, keep_quoted) for c in keys)))
    for start, end, _, block in sorted(edits, key=lambda e: (e[0], e[2]), reverse=True):
        lines[start:end] = block.splitlines(keepends=True)
    return "".join(lines)


# --- files -------------------------------------------------------------------------------------

def _check_candidate(path: Path, text: str, read):
    """Read `text` as if it were the file at `path`; return what the loader makes of it, and its errors."""
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / path.name
        candidate.write_text(text, encoding="utf-8", newline="\n")
        reader = _Reader(Path(tmp))
        result = read(reader, candidate)
        errors = [p.message for p in reader.problems if p.severity == "error"]
    return (result if not errors else None), errors


def _write(path: Path, text: str) -> None:
    """Write atomically, so a bot reloading the content never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
