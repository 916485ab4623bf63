"""Gettext catalogs (.po) for translators: export the Spanish texts, import the translations.

What goes into a catalog, one entry per field, msgctxt naming it:

- ``<topic>:title``, ``<topic>:label``, ``<topic>:page1`` ... ``<topic>:pageN``: the words of a topic;
- ``<topic>:keywords``, ``<topic>:phrases``: the words people text about it (one a line), written
  as the speakers of the language text them rather than translated word for word;
- ``system:<key>``: every message of ``system.yml`` (menu, HELP, STOP, thanks, confirm_stop, clarify,
  section_header, section_footer, urgent_note ...);
- ``sections:<section>``: the name of each menu section (``sections:`` of ``system.yml``);
- ``commands:<command>``: the exact words of each command, one a line;
- ``<topic>:examples`` and ``examples:<command>``: example messages, the training data of the bot's
  understanding. They are not translations: each language needs its own, as its speakers write
  them. They are exported so that an English or Indigenous-language editor can write them in the
  same tool, with the Spanish ones as a model; the comments say so.

Not exported: a topic's status, urgent, as_of, review_by, related, sources, audio and reviewed_by
(facts about the topic, not its words: a new file takes them from Spanish), its voice texts (the
phone line's own work), settings.yml (one deployment's values; the comments show the value each
placeholder gets in the target language) and language.yml (written by hand with the community).

msgid is the Spanish text as written ({placeholders} kept, not filled), msgstr the text of the
target language, if any. Draft topics of the target language are exported as fuzzy.

`import_po` writes the translated entries back into the content files of the catalog's Language.
Untranslated and fuzzy entries are reported and not imported, and so is an entry whose
{placeholders} differ from its msgid's; what is not imported keeps its current text. Nothing is
written when nothing changed, and every file is read back with the catalog's own parser
(`bot.catalog.parse_topic`, `parse_system`) before it is written.

The YAML is edited with ruamel.yaml in round-trip mode: comments, key order and quotes stay as the
editors wrote them. New keys go where the Spanish file has them; a comment above a key stays
above it. ruamel.yaml writes a flow list (``[a, b]``) on one line: one the import changed is
wrapped at FLOW_WIDTH columns, and the file's own lines are kept wherever nothing changed.

Babel is used for the .po format, through its public API only:

- ``write_po(width=0)``: msgid/msgstr lines are not wrapped at word boundaries; a text is only
  split after each newline (lossless: the pieces are concatenated on reading).
- Babel flags any text with ``%`` followed by a letter as ``python-format`` (``50% de``); that is
  dropped, and ``python-brace-format`` is set only when the text has {placeholders}.
- Babel's parser silently drops or merges malformed entries (an unclosed quote, a second msgstr,
  a duplicate msgctxt); the file is checked line by line first, and every error is raised as
  ContentError with the .po file and line.
- The Language header is ours: a content slug (``mam``, ``mixteco``) is not a locale Babel knows,
  and Babel refuses some slugs (with digits) outright. The catalog is built without a locale and
  the written header is completed afterwards (Language, and Project-Id-Version without the
  "None" Babel writes for a missing version); on import the header is read here.
"""
from __future__ import annotations

import difflib
import functools
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.pofile import PoFileError, read_po, unescape, write_po
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    ScalarString,
)
from ruamel.yaml.tokens import CommentToken

from . import sms
from .catalog import (
    BASE_LANGS,
    COMMANDS,
    DEFAULT_LANG,
    EXAMPLE_INTENTS,
    FIRST_REPLY_SEGMENTS,
    LABEL_MAX,
    MIN_COMMAND_EXAMPLES,
    MIN_TOPIC_EXAMPLES,
    OPTIONAL_SYSTEM_KEYS,
    PAGE_SEGMENTS,
    SECTION_KEYS,
    SECTION_LABEL_MAX,
    STATUSES,
    SYSTEM_KEYS,
    Catalog,
    Problem,
    SystemFile,
    Topic,
    check_content,
    field_line,
    fill_placeholders,
    page_line,
    parse_system,
    parse_topic,
    placeholders,
    settings_for,
)
from .errors import ContentError
from .files import write_atomically
from .text import normalize

__all__ = ["ImportReport", "export_po", "import_po"]

PROJECT = "derechos"
MESSAGE_KEYS = SYSTEM_KEYS + SECTION_KEYS + OPTIONAL_SYSTEM_KEYS
TEXT_FIELDS = ("title", "label")
WORD_FIELDS = ("keywords", "phrases")
LIST_FIELDS = WORD_FIELDS + ("examples",)
PAGE_FIELD = re.compile(r"page([1-9][0-9]*)")
PAGE_SEPARATOR = "\n\n---\n\n"
# Where a key goes in a topic's front matter (content/README.md's order); others follow.
KEY_ORDER = ("title", "label", "status", "reviewed_by", "urgent", "as_of", "review_by", "keywords", "phrases",
             "examples", "voice", "related", "sources", "audio")
# Taken from the Spanish topic when the import creates a file: facts about the topic, not its words.
COPIED_FIELDS = ("urgent", "as_of", "review_by", "related", "sources")
FLOW_WIDTH = 100         # flow lists ([a, b]) in system.yml wrap at this column, as the files written by hand
LIST_PREVIEW = 12        # how many msgctxt a summary line names before "and N more"

SYSTEM_NOTES = {
    "welcome": "First line of the menu, sent when someone writes for the first time or asks for the menu.",
    "menu_header": "Line above the numbered list of the menu.",
    "menu_footer": "Line below the numbered list of the menu: the main commands.",
    "more_hint": "Added below a page when a next page exists: how to ask for it (it names the word for a person).",
    "more_end": "Sent when someone asks for more after the last page.",
    "section_header": "Line above the numbered topics of one menu section ({section} is the section's name).",
    "section_footer": "Line below the numbered topics of a menu section.",
    "help": "Answer to the HELP command. Carriers require it to name the service, say how to reach "
            "a person and how to stop the messages.",
    "stop": "Sent after STOP: the person will get no more messages.",
    "start": "Sent after START: the person gets messages again.",
    "thanks": "Answer to 'thank you' or 'OK': short, offers the menu.",
    "confirm_stop": "Asked when a message may mean STOP but is not clear: it must name the exact word to "
                    "reply (a STOP word of this language).",
    "confirm_delete": "Asked when a message may mean 'delete my data' but is not clear: it must name the exact "
                      "words to reply (a delete command of this language).",
    "clarify": "Asked when a message fits two topics equally: {first} and {second} are their menu labels.",
    "urgent_note": "Put before an urgent topic when the message looked like an emergency: one short line.",
    "not_understood": "Sent when the bot cannot tell what the person asked.",
    "language_changed": "Sent when the person switches to this language.",
    "fallback_notice": "Put above a topic that has no text in the person's language yet and goes out in Spanish.",
    "interpreter": "Sent when the person asks for an interpreter.",
    "handoff": "Sent when the person asks to talk to a person.",
    "deleted": "Sent after the person's data is deleted.",
    "ask_region": "Added after choosing a language of many varieties: asks the person's town or region.",
    "region_saved": "Sent after the person names their town or region ({region} is their answer).",
}
COMMAND_NOTES = {
    "menu": "show the menu",
    "more": "send the next page of the topic",
    "help": "send the HELP message",
    "stop": "stop all messages (opt out)",
    "start": "receive messages again (opt in)",
    "delete": "delete the person's data",
    "human": "ask to talk to a person",
    "interpreter": "ask for an interpreter",
    "thanks": "say thank you or OK",
    "language": "ask for another language",
}
RUNTIME_NOTES = {
    "language": "the name of the person's language",
    "region": "the town or region the person wrote",
    "section": "the name of a menu section",
    "first": "the menu label of one topic",
    "second": "the menu label of the other topic",
}
WORDS_ADVICE = ("Write the words people really text in {name} (everyday spellings, short forms, words "
                "borrowed from Spanish or English), not a word-for-word translation of the Spanish list. "
                "Capitals and accents do not matter.")
EXAMPLES_ADVICE = ("These are not for translating: they are whole messages as people really send them, and the "
                   "bot learns from them what people mean. Write your own in {name}, one per line, the way its "
                   "speakers text (typos, no accents, short forms, words from Spanish or English, long stories "
                   "with the question at the end); the Spanish ones are only a model. Each must be about {what} "
                   "and nothing else. Never copy a real person's message with names or numbers in it.")


# --- reading the content files as written ------------------------------------------------------

def _folder(root: Path, lang: str) -> Path:
    return root / lang if lang in BASE_LANGS else root / "indigenous" / lang


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root.parent).as_posix()
    except ValueError:
        return str(path)


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _topic_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.glob("*.md")) if p.name.upper() != "README.MD"]


def _topic(root: Path, path: Path, lang: str) -> tuple[Topic | None, list[Problem], str]:
    """The topic as written (placeholders not filled), its errors and its text; None if there is no file."""
    if not path.is_file():
        return None, [], ""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None                                   # the parser reads it again and says what is wrong
    topic, problems = parse_topic(root, path, lang, text)
    return topic, _errors(problems), text or ""


def _system(root: Path, lang: str) -> tuple[SystemFile | None, list[Problem]]:
    path = _folder(root, lang) / "system.yml"
    if not path.is_file():
        return None, []
    system, problems = parse_system(root, path, lang)
    return system, _errors(problems)


def _topic_texts(topic: Topic) -> dict[str, str]:
    """Field -> text of one topic, lists one item a line (fields with no text are left out)."""
    texts = {"title": topic.title, "label": topic.label}
    texts.update({f"page{i}": page for i, page in enumerate(topic.pages, 1)})
    texts.update({name: "\n".join(getattr(topic, name)) for name in LIST_FIELDS})
    return {name: text for name, text in texts.items() if text}


def _system_texts(system: SystemFile | None) -> dict[str, str]:
    """msgctxt -> text of one system.yml (lists one item a line)."""
    if system is None:
        return {}
    texts = {f"system:{k}": v for k, v in system.messages.items()}
    texts.update({f"sections:{k}": v for k, v in system.sections.items()})
    texts.update({f"commands:{k}": "\n".join(v) for k, v in system.commands.items()})
    texts.update({f"examples:{k}": "\n".join(v) for k, v in system.examples.items()})
    return texts


def _first_text_line(text: str, line: int) -> int:
    """`line`, or the first line after it that is not blank (where a page's text starts)."""
    lines = text.splitlines()
    while line - 1 < len(lines) and not lines[line - 1].strip():
        line += 1
    return line


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
    po = PoCatalog(project=PROJECT, charset="UTF-8", fuzzy=False, language_team=name,
                   header_comment=_header_comment(root, language, lang, folder))
    settings = settings_for(catalog.settings, lang, catalog.languages)
    es_system, _ = _system(root, DEFAULT_LANG)
    own_system, own_system_errors = _system(root, lang)
    es_hint = (es_system.messages if es_system else {}).get("more_hint", "")
    hints = {"es": fill_placeholders(es_hint, settings_for(catalog.settings, DEFAULT_LANG, catalog.languages))}
    own_hint = (own_system.messages if own_system else {}).get("more_hint", "")
    hints[lang] = fill_placeholders(own_hint, settings) or hints["es"]
    notes = _Notes(catalog, lang, name, settings, hints, es_system)

    for tid in catalog.topic_ids:
        es, _, es_text = _topic(root, root / DEFAULT_LANG / f"{tid}.md", DEFAULT_LANG)
        if es is None:
            continue
        target_path = folder / f"{tid}.md"
        target, target_errors, _ = _topic(root, target_path, lang)
        draft = target is not None and target.status != "reviewed"
        goes_to = f"Goes to {_rel(root, target_path)}"
        if draft:
            goes_to += " (a draft there: its text is marked fuzzy until someone reviews it)"
        elif target_errors:
            goes_to += f" (that file has errors, fix them before importing: {target_errors[0].message})"
        texts, own = _topic_texts(es), ({} if target is None else _topic_texts(target))
        for field_ in ("title", "label", *[f"page{n}" for n in range(1, len(es.pages) + 1)], *LIST_FIELDS):
            if field_ not in texts:
                continue
            if field_.startswith("page"):
                line = _first_text_line(es_text, page_line(es, int(field_[4:]) - 1))
            else:
                line = field_line(es, field_)
            comments = [f"{tid}: {notes.topic(es, field_, own.get(field_))}", goes_to]
            if field_ != "examples":
                comments += notes.placeholders(texts[field_])
            _add(po, f"{tid}:{field_}", texts[field_], own.get(field_, ""), comments, (_rel(root, es.path), line),
                 fuzzy=draft)

    if es_system is not None:
        es_rel = _rel(root, es_system.path)
        own = _system_texts(own_system)
        goes_to = f"Goes to {_rel(root, folder / 'system.yml')}"
        if own_system_errors:
            goes_to += f" (that file has errors, fix them before importing: {own_system_errors[0].message})"
        entries = []
        for context, text in _system_texts(es_system).items():
            kind, _, key = context.partition(":")
            line = es_system.lines.get(key if kind == "system" else f"{kind}.{key}", 1)
            comments = [notes.system(kind, key), goes_to]
            if kind != "examples":
                comments += notes.placeholders(text)
            entries.append((line, context, text, comments))
        for line, context, text, comments in sorted(entries, key=lambda e: e[0]):     # in the order of the file
            _add(po, context, text, own.get(context, ""), comments, (es_rel, line))

    out = io.BytesIO()
    write_po(out, po, width=0, include_previous=False)
    return _complete_header(out.getvalue(), lang)


@dataclass
class _Notes:
    """The comment that tells a translator what an entry is, where it goes and how long it may be."""

    catalog: Catalog
    lang: str
    name: str                         # the target language's name in English
    settings: dict[str, str]          # plain settings for the target language
    hints: dict[str, str]             # "es" and lang -> the more_hint line, filled
    es_system: SystemFile | None

    def topic(self, es: Topic, field_: str, own: str | None) -> str:
        if field_.startswith("page"):
            return self.page(int(field_[4:]), es, own)
        if field_ == "title":
            return ("Title of the topic: a short heading for editors; its words also help the bot recognise "
                    "questions about the topic. Not sent by SMS.")
        if field_ == "label":
            section = next((s for s in self.catalog.sections if es.id in s.topics), None)
            where = "the menu"
            if section is not None:
                label = (self.es_system.sections if self.es_system else {}).get(section.id, section.id)
                where = f"the numbered list of the menu section '{label}'"
            return (f"Menu label, shown in {where}: at most {LABEL_MAX} characters, and the whole list must fit "
                    "in a few SMS.")
        if field_ == "keywords":
            return ("Words people text to ask about this topic, one per line. " + WORDS_ADVICE.format(name=self.name)
                    + " Each word should point to this topic only.")
        if field_ == "phrases":
            return ("Phrases (several words) people text to ask about this topic, one per line. "
                    + WORDS_ADVICE.format(name=self.name))
        return (f"Examples of messages about this topic ('{es.title}'). "
                + EXAMPLES_ADVICE.format(name=self.name, what="this topic") + self.examples_goal(MIN_TOPIC_EXAMPLES))

    def system(self, kind: str, key: str) -> str:
        if kind == "system":
            return f"System message '{key}': {SYSTEM_NOTES.get(key, '')}"
        if kind == "sections":
            section = self.catalog.section(key)
            topics = ", ".join(section.topics) if section else "none"
            return (f"Name of the menu section '{key}' (topics: {topics}), shown in the first menu as "
                    f"\"1 <name>\": at most {SECTION_LABEL_MAX} characters, and the whole first menu must fit in 2 SMS.")
        if kind == "commands":
            return (f"Command '{key}' ({COMMAND_NOTES.get(key, '')}): words that run it when a message is only "
                    "that word or phrase, one per line. The words of every language work for everyone, so avoid "
                    "ordinary words people use in questions. " + WORDS_ADVICE.format(name=self.name))
        what = f"'{key}' ({COMMAND_NOTES.get(key, '')})"
        advice = EXAMPLES_ADVICE.format(name=self.name, what=what)
        if key == "stop":
            advice += " For STOP, only clear requests to get no more messages."
        return f"Examples of messages that mean {what}. " + advice + self.examples_goal(MIN_COMMAND_EXAMPLES)

    def examples_goal(self, minimum: int) -> str:
        if self.lang in BASE_LANGS:
            return f" Write at least {minimum}."
        return f" Even a few help the bot understand people who write in {self.name}."

    def page(self, number: int, es: Topic, own: str | None) -> str:
        count = len(es.pages)
        budget = FIRST_REPLY_SEGMENTS if number == 1 else PAGE_SEGMENTS
        what = "the first reply, sent when someone picks this topic" if number == 1 else "sent when someone asks for more"
        last = number == count
        note = f"Page {number} of {count}: {what}. Budget: {budget} SMS segments"
        note += "." if last else f" with the line \"{self.hints[self.lang]}\" the bot adds below it."

        def size(text: str, hint: str) -> str:
            filled = fill_placeholders(text, self.settings) + ("" if last else "\n" + hint)
            info = sms.segment_info(sms.render(filled, "sms", fold=True))
            return f"{info.segments} segment{'s' if info.segments != 1 else ''} ({info.characters} characters)"

        note += f" The Spanish is {size(es.pages[number - 1], self.hints['es'])}"
        if own:
            note += f"; the current {self.lang} text is {size(own, self.hints[self.lang])}"
        return note + "."

    def placeholders(self, text: str) -> list[str]:
        names = sorted(placeholders(text))
        if not names:
            return []
        parts = []
        for name in names:
            if name in RUNTIME_NOTES:
                parts.append(f"{{{name}}} = {RUNTIME_NOTES[name]}")
            elif isinstance(self.catalog.settings.get(name), dict):
                parts.append(f"{{{name}}} = {self.settings[name]} (in {self.lang}; settings.yml has a value per language)")
            elif name in self.settings:
                parts.append(f"{{{name}}} = {self.settings[name]}")
            else:
                parts.append(f"{{{name}}}")
        return ["Keep these placeholders as they are; the bot writes in their values: " + "; ".join(parts) + "."]


def _header_comment(root: Path, language, lang: str, folder: Path) -> str:
    name = language.display_name("en")
    lines = [
        f"# Derechos: the bot's texts, to translate from Spanish into {name} ({lang}).",
        "# Each entry is one field of one content file; msgctxt says which: <topic>:title, <topic>:label,",
        "# <topic>:page1 ..., <topic>:keywords, <topic>:phrases, system:<message>, sections:<section>,",
        "# commands:<command>, and <topic>:examples, examples:<command>.",
        "# Keep {placeholders} such as {help_line} exactly as they are: the bot fills them in.",
        "# Leave an entry empty when you have no translation, and mark it fuzzy (needs work) when you",
        "# are not sure of it: empty and fuzzy entries are not imported, the current text stays.",
        "# Entries ending in :examples are not for translating: write your own messages, as people who",
        f"# speak {name} really text them; the bot learns from them what people mean.",
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


def _add(po: PoCatalog, context: str, msgid: str, msgstr: str, comments: list[str], location: tuple[str, int],
         fuzzy: bool = False) -> None:
    flags = set()
    if fuzzy and msgstr:
        flags.add("fuzzy")
    if placeholders(msgid):
        flags.add("python-brace-format")
    message = po.add(msgid, msgstr, locations=[location], auto_comments=[c for c in comments if c],
                     context=context)
    message.flags = flags          # Babel guesses python-format from any "%"; say what is true


def _complete_header(data: bytes, lang: str) -> bytes:
    """The header as Babel wrote it, with our Language and a Project-Id-Version without a version."""
    text = data.decode("utf-8")
    head, blank, rest = text.partition("\n\n")
    lines = [line for line in head.split("\n") if not line.startswith(('"Project-Id-Version:', '"Language:'))]
    lines.insert(lines.index('msgstr ""') + 1, f'"Project-Id-Version: {PROJECT}\\n"')
    team = next((i for i, line in enumerate(lines) if line.startswith('"Language-Team:')), len(lines))
    lines.insert(team, f'"Language: {lang}\\n"')
    return ("\n".join(lines) + blank + rest).encode("utf-8")


# --- reading a .po file ------------------------------------------------------------------------

_KEYWORD = re.compile(r"(msgctxt|msgid|msgid_plural|msgstr|msgstr\[[0-9]+\])[ \t]+(.*)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = set('\\"ntr')
_CHARSET = re.compile(rb"charset=([A-Za-z0-9_.:-]+)")
_LANGUAGE_LINE = re.compile(r'^[ \t]*"Language:[^"\n]*"[ \t]*$', re.M)


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


def _lint(po_path: Path, text: str) -> tuple[list[Problem], str]:
    """Errors Babel would let through silently (malformed strings, entries out of order, duplicates),
    and the header (the msgstr of the entry with an empty msgid)."""
    problems: list[Problem] = []
    seen: dict[tuple[str | None, str], int] = {}
    entry: dict | None = None     # keyword -> pieces; plus bookkeeping keys starting with "_"
    header = ""

    def error(line: int, message: str) -> None:
        problems.append(Problem(str(po_path), line, message))

    def finish() -> None:
        nonlocal entry, header
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
            if key == (None, ""):
                header = "".join(entry.get("msgstr", ()))
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
    return problems, header


def _read_po_file(po_path: Path) -> tuple[PoCatalog, str]:
    """The catalog, and the value of its Language header."""
    try:
        data = po_path.read_bytes()
    except OSError as exc:
        raise ContentError([Problem(str(po_path), 1, f"cannot read: {exc.strerror}")]) from None
    text = _decode(po_path, data)
    problems, header = _lint(po_path, text)
    if problems:
        raise ContentError(problems)
    found = re.search(r"^Language:[ \t]*(.*?)[ \t]*$", header, re.M | re.I)
    # Babel would check the Language against its locales (and refuse a slug with digits): it is
    # ours to read, so Babel gets the header without it (a blank line keeps the line numbers).
    start = text.find('msgid ""')
    end = text.find("\n\n", start) if start >= 0 else 0
    end = len(text) if end < 0 else end
    try:
        po = read_po(io.StringIO(_LANGUAGE_LINE.sub("", text[:end]) + text[end:]), ignore_obsolete=True,
                     abort_invalid=True)
    except PoFileError as exc:
        raise ContentError([Problem(str(po_path), (exc.lineno or 0) + 1, f"invalid .po: {exc}")]) from None
    except (ValueError, TypeError) as exc:
        raise ContentError([Problem(str(po_path), 1, f"invalid .po header: {exc}")]) from None
    return po, (found.group(1) if found else "")


def _po_language(value: str, root: Path, po_path: Path) -> str:
    if not value:
        raise ContentError([Problem(str(po_path), 1, "no Language header: it names the language of the "
                                                     "translations, e.g. \"Language: en\\n\" or \"Language: mam\\n\"")])
    known = [*BASE_LANGS, *(p.parent.name for p in sorted((root / "indigenous").glob("*/language.yml")))]
    value = value.replace("-", "_")
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
    kind: str                  # "topic", or the part of system.yml: "messages", "sections", "commands", "examples"
    key: str                   # topic id, message key, section id, command or intent
    field: str = ""            # what the text is: title, label, pageN, keywords, phrases, examples, message,
    value: object = None       # section, commands (the text, or a tuple of lines)


def import_po(content_root: Path, po_path: Path, status: str | None = None) -> ImportReport:
    """Write the translations of a .po file into the content files of its Language."""
    root = Path(content_root)
    po_path = Path(po_path)
    po, language = _read_po_file(po_path)
    lang = _po_language(language, root, po_path)
    indigenous = lang not in BASE_LANGS
    status = status or ("draft" if indigenous else "reviewed")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    folder = _folder(root, lang)
    report = ImportReport(lang=lang, status=status, root=root)

    es_topics = {}
    for path in _topic_files(root / DEFAULT_LANG):
        topic, _, _ = _topic(root, path, DEFAULT_LANG)
        if topic is not None:
            es_topics[topic.id] = topic
    es_system, _ = _system(root, DEFAULT_LANG)
    es_texts = _system_texts(es_system)

    entries: list[_Entry] = []
    fuzzy_topics: set[str] = set()
    stale: list[str] = []
    for message in po:
        if message.id == "" and message.context is None:
            continue                                   # the header
        context = message.context or ""
        entry = _target(context, es_topics, es_system)
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
        current = _topic_texts(es_topics[entry.key]).get(entry.field) if entry.kind == "topic" else es_texts.get(context)
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
        report.notes.append(f"{len(system_entries)} system message(s), section name(s), command word and example "
                            f"list(s) not imported: {_rel(root, folder / 'system.yml')} has no draft status; import "
                            "again with --status reviewed once a native speaker has reviewed them")
    elif system_entries:
        report.translated += _import_system(report, root, folder, lang, es_system, system_entries)

    if report.written:
        after = [p for p in check_content(root) if p.severity == "error"]
        new = [p for p in after if (p.path, p.message) not in before]
        report.problems += [f"after import: {p}" for p in new]
        if new:
            report.notes.append("the content does not load until the problems 'after import' are fixed")
    return report


def _target(context: str, es_topics: dict[str, Topic], es_system: SystemFile | None) -> _Entry | None:
    """The field a msgctxt names, or None."""
    prefix, _, name = context.partition(":")
    if prefix == "system" and name in MESSAGE_KEYS:
        return _Entry(context, "messages", name, "message")
    if prefix == "sections" and es_system is not None and name in es_system.sections:
        return _Entry(context, "sections", name, "section")
    if prefix == "commands" and name in COMMANDS:
        return _Entry(context, "commands", name, "commands")
    if prefix == "examples" and name in EXAMPLE_INTENTS:
        return _Entry(context, "examples", name, "examples")
    tid, _, name = context.rpartition(":")
    topic = es_topics.get(tid)
    if topic is None:
        return None
    if name in TEXT_FIELDS or name in LIST_FIELDS:
        return _Entry(context, "topic", tid, name)
    match = PAGE_FIELD.fullmatch(name)
    if match and int(match.group(1)) <= len(topic.pages):
        return _Entry(context, "topic", tid, name)
    return None


def _convert(entry: _Entry, msgid: str, string: str) -> str | None:
    """Check a translation and store its value in `entry`; or return why it is not imported."""
    text = string.replace("\r\n", "\n").replace("\r", "\n")
    where, name = entry.context, entry.field
    expected, found = placeholders(msgid), placeholders(text)
    if name != "examples" and expected != found:           # examples are written anew, not translated
        parts = [f"{{{n}}} missing in {where}" for n in sorted(expected - found)]
        parts += [f"{{{n}}} in {where} is not in the Spanish text" for n in sorted(found - expected)]
        return "; ".join(parts) + " (not imported)"
    if name in LIST_FIELDS or name == "commands":
        words = tuple(w.strip() for w in text.split("\n") if w.strip())
        empty = [w for w in words if not normalize(w)]
        if empty and name != "examples":                   # an emoji alone is a message, not a keyword
            return f"{where}: '{empty[0]}' has no letters or digits (not imported)"
        entry.value = words
        return None
    if name.startswith("page"):
        text = "\n".join(text.splitlines())          # the loader reads pages line by line, any line break
    text = text.strip()
    if name in (*TEXT_FIELDS, "section") and "\n" in text:
        return f"{where}: the {name} must be one line (not imported)"
    if name == "label" and len(text) > LABEL_MAX:
        return f"{where}: the label is {len(text)} characters; the menu allows {LABEL_MAX} (not imported)"
    if name == "section" and len(text) > SECTION_LABEL_MAX:
        return f"{where}: the section name is {len(text)} characters; at most {SECTION_LABEL_MAX} (not imported)"
    if name.startswith("page") and any(line.strip() == "---" for line in text.split("\n")):
        return f"{where}: a line '---' would split the page in two (not imported)"
    entry.value = text
    return None


def _topic_values(topic: Topic | None) -> dict[str, object]:
    if topic is None:
        return {"title": "", "label": "", "keywords": (), "phrases": (), "examples": (), "pages": ()}
    return {"title": topic.title, "label": topic.label, "keywords": topic.keywords, "phrases": topic.phrases,
            "examples": topic.examples, "pages": topic.pages}


def _import_topic(report: ImportReport, root: Path, folder: Path, lang: str, es: Topic, entries: list[_Entry],
                  status: str, has_fuzzy: bool) -> int:
    """Merge a topic's translated fields into its file; return how many entries were imported."""
    path = folder / f"{es.id}.md"
    rel = _rel(root, path)
    existing, problems, text = _topic(root, path, lang)
    if path.exists() and existing is None:
        reason = problems[0].message if problems else "cannot read it"
        report.problems.append(f"{rel}: not updated, the file has errors ({reason}); fix it and import again "
                               f"({', '.join(e.context for e in entries)})")
        return 0
    old = _topic_values(existing)
    updates = {e.field: e.value for e in entries}
    merged = dict(enumerate(old["pages"], 1))
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
    new = {**old, **{k: v for k, v in updates.items() if not k.startswith("page")}, "pages": tuple(pages)}

    old_status = existing.status if existing else None
    new_status = status
    if has_fuzzy and status == "reviewed" and old_status == "draft":
        new_status = "draft"
        report.notes.append(f"{rel}: kept as draft, some of its entries are still fuzzy")
    if new == old and not (old_status == "draft" and new_status == "reviewed"):
        return imported                                # same text: leave the file (and its status) alone
    if old_status and old_status != new_status:
        report.notes.append(f"{rel}: status {old_status} -> {new_status}")

    def change(data: CommentedMap) -> None:
        for name in TEXT_FIELDS:
            if new[name] != old[name]:
                _put(data, name, _scalar(new[name], data.get(name)), KEY_ORDER)
        for name in LIST_FIELDS:
            if new[name] != old[name]:
                peers = [data.get(other) for other in LIST_FIELDS if other != name]
                _put(data, name, _seq(new[name], data.get(name), peers), KEY_ORDER)
        if existing is None:
            for name, value in _copied_fields(es).items():
                _put(data, name, value, KEY_ORDER)
        if data.get("status") != new_status:
            _put(data, "status", new_status, KEY_ORDER)

    if existing is not None:
        lines = text.splitlines(keepends=True)
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        opening, front, closing, body = lines[0], "".join(lines[1:end]), lines[end], "".join(lines[end + 1:])
    else:
        opening, front, closing, body = "---\n", "", "---\n", ""
    if tuple(pages) != old["pages"]:
        body = PAGE_SEPARATOR.join(pages) + "\n" if pages else ""
    try:
        candidate = opening + _edit(front, change) + closing + body
    except _CannotEdit as exc:
        report.problems.append(f"{rel}: not written: {exc} ({', '.join(e.context for e in entries)} not imported)")
        return 0
    topic, problems = parse_topic(root, path, lang, candidate)
    errors = _errors(problems)
    if errors or topic is None:
        report.problems.append(f"{rel}: not written: " + "; ".join(p.message for p in errors)
                               + f" ({', '.join(e.context for e in entries)} not imported)")
        return 0
    if _topic_values(topic) != new:                  # the YAML must say exactly what we meant
        report.problems.append(f"{rel}: not written: the file would not read back as translated")
        return 0
    write_atomically(path, candidate)
    report.written.append(path)
    return imported


def _copied_fields(es: Topic) -> dict[str, object]:
    """The fields a new file takes from the Spanish topic, in the house style."""
    related = CommentedSeq(es.related)
    related.fa.set_flow_style()
    values = {"urgent": es.urgent, "as_of": es.as_of, "review_by": es.review_by, "related": related,
              "sources": CommentedSeq(DoubleQuotedScalarString(s) for s in es.sources)}
    return {name: values[name] for name in COPIED_FIELDS if values[name] not in (None, ())}


def _import_system(report: ImportReport, root: Path, folder: Path, lang: str, es_system: SystemFile | None,
                   entries: list[_Entry]) -> int:
    path = folder / "system.yml"
    rel = _rel(root, path)
    contexts = ", ".join(e.context for e in entries)
    existing, problems = _system(root, lang)
    if path.exists() and existing is None:
        reason = problems[0].message if problems else "cannot read it"
        report.problems.append(f"{rel}: not updated, the file has errors ({reason}); fix it and import again "
                               f"({contexts})")
        return 0
    parts = ("messages", "sections", "commands", "examples")
    old = {part: dict(getattr(existing, part)) if existing else {} for part in parts}
    changes: dict[str, dict] = {part: {} for part in parts}
    for entry in entries:
        if old[entry.kind].get(entry.key) != entry.value:
            changes[entry.kind][entry.key] = entry.value
    if not any(changes.values()):
        return len(entries)
    new = {part: {**old[part], **changes[part]} for part in parts}
    order = _system_order(es_system)

    def change(data: CommentedMap) -> None:
        for key, value in changes["messages"].items():
            _put(data, key, _scalar(value, data.get(key), quote=True), order[""])
        for part in parts[1:]:
            if not changes[part]:
                continue
            if not isinstance(data.get(part), CommentedMap):
                _put(data, part, CommentedMap(), order[""])
            mapping = data[part]
            for key, value in changes[part].items():
                if part == "sections":
                    item = _scalar(value, mapping.get(key), quote=True)
                else:
                    item = _seq(value, mapping.get(key), list(mapping.values()), flow=part == "commands")
                _put(mapping, key, item, order[part])

    text = path.read_text(encoding="utf-8") if existing is not None else ""
    try:
        candidate = _edit(text, change)
    except _CannotEdit as exc:
        report.problems.append(f"{rel}: not written: {exc} ({contexts} not imported)")
        return 0
    if existing is None:
        candidate = _system_header(lang) + "\n\n" + candidate
    result, problems = parse_system(root, path, lang, candidate)
    errors = _errors(problems)
    if errors or result is None or any(getattr(result, part) != new[part] for part in parts):
        report.problems.append(f"{rel}: not written: " + ("; ".join(p.message for p in errors)
                                                          or "it would not read back as translated")
                               + f" ({contexts} not imported)")
        return 0
    write_atomically(path, candidate)
    report.written.append(path)
    return len(entries)


def _system_order(es_system: SystemFile | None) -> dict[str, list[str]]:
    """Key order of system.yml, as in the Spanish file: "" for the top level, and per part."""
    if es_system is None:
        return {"": [*MESSAGE_KEYS, "sections", "commands", "examples"], "sections": [], "commands": list(COMMANDS),
                "examples": list(EXAMPLE_INTENTS)}
    order: dict[str, list[str]] = {"": [], "sections": [], "commands": [], "examples": []}
    for key, _ in sorted(es_system.lines.items(), key=lambda item: item[1]):
        part, dot, sub = key.partition(".")
        if "[" in key:
            continue
        if not dot:
            order[""].append(key)
        elif part in order:
            order[part].append(sub)
    return order


def _system_header(lang: str) -> str:
    return (f"# System messages in {lang}, imported from a translator's catalog (.po).\n"
            "# {placeholders} are filled from content/settings.yml; {language} by the bot.\n"
            "# Messages not listed here are sent in Spanish.")


# --- editing YAML: ruamel.yaml in round-trip mode ----------------------------------------------

class _CannotEdit(Exception):
    """The YAML cannot be edited safely (ruamel.yaml reads it otherwise than the content loader)."""


def _yaml() -> YAML:
    """Round-trip YAML in the layout of the content files: lists indented under their key, never folded."""
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 1_000_000
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _dump(data: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return _wrap_flow(out.getvalue())


def _edit(original: str, change) -> str:
    """`original` YAML (a mapping) after change(data); comments, order, quotes and layout kept."""
    try:
        data = _yaml().load(original) if original.strip() else None
    except YAMLError as exc:
        raise _CannotEdit(f"cannot edit its YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        data, original = CommentedMap(), (original.rstrip("\n") + "\n\n" if original.strip() else "")
        reference = None                              # only comments: they go first, as they are
    elif not isinstance(data, CommentedMap):
        raise _CannotEdit("the fields are not 'name: value' lines")
    else:
        reference = _dump(data)
    change(data)
    new = _dump(data)
    if reference is None:
        return original + new
    kept = _keep_layout(original, reference, new)
    try:
        return kept if yaml.safe_load(kept) == yaml.safe_load(new) else new
    except yaml.YAMLError:
        return new


_FLOW_LINE = re.compile(r"( *)([^ #][^:]*: \[)(.*)\]")
_FLOW_ITEM = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|[^\s,"\'\[\]{}](?:[^,\[\]{}]*[^\s,\[\]{}])?')


def _wrap_flow(text: str) -> str:
    """Flow lists longer than FLOW_WIDTH wrapped before the item that would pass it (ruamel.yaml
    writes each on one line, or breaks inside a quoted item)."""
    out = []
    for line in text.split("\n"):
        match = _FLOW_LINE.fullmatch(line) if len(line) > FLOW_WIDTH else None
        items = _FLOW_ITEM.findall(match.group(3)) if match else []
        if not items or ", ".join(items) != match.group(3):
            out.append(line)
            continue
        current = match.group(1) + match.group(2)
        for i, item in enumerate(items):
            piece = item + ("]" if i == len(items) - 1 else ",")
            if i and len(current) + 1 + len(piece) > FLOW_WIDTH:
                out.append(current)
                current = match.group(1) + "  " + piece
            else:
                current += (" " if i else "") + piece
        out.append(current)
    return "\n".join(out)


def _keep_layout(original: str, reference: str, new: str) -> str:
    """`new`, with the file's own lines wherever ruamel.yaml rewrote a part the edit did not touch.

    `reference` is what ruamel.yaml writes for the file unedited: where it differs from the file
    (a list wrapped by hand), the file's lines are put back wherever `new` still has those lines.
    """
    o, r, n = (text.splitlines(keepends=True) for text in (original, reference, new))
    hand = {i1: (i2, o[j1:j2]) for tag, i1, i2, j1, j2 in
            difflib.SequenceMatcher(None, r, o, autojunk=False).get_opcodes() if tag != "equal"}
    if not hand:
        return new
    out: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, r, n, autojunk=False).get_opcodes():
        if tag != "equal":
            out += n[j1:j2]
            continue
        i = i1
        while i < i2:
            end, lines = hand.get(i, (None, []))
            if end is not None and i < end <= i2:          # ruamel's lines for a whole hand-written part
                out += lines
                i = end
                continue
            if end == i:                                   # lines of the file ruamel.yaml leaves out
                out += lines
            out.append(r[i])
            i += 1
        if i2 == len(r) and hand.get(i2, (None,))[0] == i2:
            out += hand[i2][1]
    return "".join(out)


@functools.lru_cache(maxsize=8192)
def _plain_ok(text: str, flow: bool) -> bool:
    """Whether ruamel.yaml writes `text` without quotes and the content loader (PyYAML, YAML 1.1,
    where YES is true) reads it back as the same text. Emoji are quoted, as content/README.md asks."""
    if not text or text != text.strip() or "\n" in text or any(unicodedata.category(ch) == "So" for ch in text):
        return False
    value = CommentedSeq([text]) if flow else text
    if flow:
        value.fa.set_flow_style()
    out = io.StringIO()
    _yaml().dump({"k": value}, out)
    written = out.getvalue()
    try:
        return written == (f"k: [{text}]\n" if flow else f"k: {text}\n") and \
            yaml.safe_load(written) == {"k": [text] if flow else text}
    except yaml.YAMLError:                 # ruamel.yaml writes some texts plain that PyYAML cannot read
        return False


def _scalar(text: str, old=None, quote: bool = False, flow: bool = False):
    """`text` for YAML in the style of the value it replaces: a literal block (|) for several lines
    or where the old one was; quoted as before; else plain where that reads back the same (or
    `quote` is False), in double quotes otherwise."""
    if not flow and all(ch == "\n" or ch.isprintable() for ch in text) and (
            "\n" in text or isinstance(old, (LiteralScalarString, FoldedScalarString))):
        return LiteralScalarString(text + "\n")         # "|" keeps the final line break, as written by hand
    if isinstance(old, ScalarString) and not isinstance(old, (LiteralScalarString, FoldedScalarString)):
        return type(old)(text)
    if (quote and old is None) or not _plain_ok(text, flow):
        return DoubleQuotedScalarString(text)
    return text


def _seq(values, old=None, peers=(), flow: bool = False) -> CommentedSeq:
    """A list in the style of the one it replaces, or of its peers: flow ([a, b]) or block, and
    every item in double quotes if all of theirs are, else quoted only where needed."""
    models = [old] if isinstance(old, CommentedSeq) else [p for p in peers if isinstance(p, CommentedSeq)]
    if models:
        flow = bool(models[0].fa.flow_style())
    items = [item for model in models for item in model]
    quoted = bool(items) and all(isinstance(item, DoubleQuotedScalarString) for item in items)
    kept = {str(item): item for item in (old or ()) if isinstance(item, str)}
    seq = CommentedSeq(DoubleQuotedScalarString(v) if quoted else kept.get(v) or _scalar(v, flow=flow) for v in values)
    if flow:
        seq.fa.set_flow_style()
    else:
        seq.fa.set_block_style()
    return seq


def _put(mapping: CommentedMap, key: str, value, order) -> None:
    """mapping[key] = value; a new key goes after the last key that comes before it in `order`.

    The comment lines below a value belong to what follows it: they stay below the new value, or
    move below a key inserted after it.
    """
    if key in mapping:
        tail = _take_tail(mapping, key)
        mapping[key] = value
    else:
        rank = {k: i for i, k in enumerate(order)}
        keys = list(mapping)
        at = max((i + 1 for i, k in enumerate(keys) if rank.get(k, len(order)) < rank.get(key, len(order))), default=0)
        tail = _take_tail(mapping, keys[at - 1]) if at else ""
        mapping.insert(at, key, value)
    _give_tail(mapping, key, tail)


def _tail_slot(container, key):
    """Where ruamel.yaml keeps the comment after container[key]: (comments, key, slot, value)."""
    value = container[key]
    if isinstance(value, CommentedMap) and value:
        return _tail_slot(value, list(value)[-1])
    if isinstance(value, CommentedSeq) and value and not value.fa.flow_style():
        return _tail_slot(value, len(value) - 1)
    return container.ca.items, key, (0 if isinstance(container, CommentedSeq) else 2), value


def _take_tail(mapping: CommentedMap, key: str) -> str:
    """Detach the comment lines below mapping[key]'s value (an end-of-line comment stays)."""
    items, where, slot, _ = _tail_slot(mapping, key)
    entry = items.get(where)
    token = entry[slot] if entry and len(entry) > slot else None
    if token is None:
        return ""
    text = token.value
    if text.startswith("#") and token.column:
        eol, _, rest = text.partition("\n")
        token.value = eol + "\n"
        return rest
    entry[slot] = None
    return text[1:] if text.startswith("\n") else text


def _give_tail(mapping: CommentedMap, key: str, tail: str) -> None:
    """Put comment lines (from _take_tail) below mapping[key]'s value."""
    if not tail:
        return
    items, where, slot, value = _tail_slot(mapping, key)
    entry = items.setdefault(where, [None, None, None, None])
    if entry[slot] is not None:
        entry[slot].value += tail
        return
    block = isinstance(value, (LiteralScalarString, FoldedScalarString))     # a block ends with its line break
    entry[slot] = CommentToken(("" if block else "\n") + tail, CommentMark(0), None)

