"""The content catalog: topics, system messages and languages, read from `content/` and checked.

Pure: reads files, imports no Flask, Redis or Twilio. `load_catalog` returns a Catalog or raises
ContentError with every problem found (file and line each), so an editor fixes them in one pass.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import string
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import yaml

# libyaml's parser when PyYAML has it (its wheels do): ten times faster on the content tree.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

from . import sms
from .errors import ContentError
from .text import normalize
from .yaml_errors import explain as explain_yaml, slips as yaml_slips

DEFAULT_LANG = "es"
BASE_LANGS = ("es", "en")
STATUSES = ("reviewed", "draft")
TOPIC_FIELDS = {"title", "menu", "label", "status", "keywords", "phrases", "related", "sources", "audio",
                "reviewed_by", "id", "urgent", "as_of", "review_by", "examples", "voice"}
REQUIRED_TOPIC_FIELDS = ("title", "label", "status", "keywords", "sources")
SYSTEM_KEYS = ("welcome", "menu_header", "menu_footer", "more_hint", "more_end", "help", "stop", "start",
               "not_understood", "language_changed", "fallback_notice", "interpreter", "handoff", "deleted",
               "ask_region", "region_saved", "thanks", "confirm_stop", "confirm_delete", "clarify", "alert_footer")
# Needed only with a sectioned menu (content/menu.yml), or optional.
SECTION_KEYS = ("section_header", "section_footer")
OPTIONAL_SYSTEM_KEYS = ("urgent_note",)
COMMANDS = ("menu", "more", "help", "stop", "start", "delete", "human", "interpreter", "thanks")
# Intents an editor gives example messages for in system.yml: commands, language requests, and
# `unknown` (messages the bot must not answer as a topic: wrong numbers, chit-chat, spam).
EXAMPLE_INTENTS = COMMANDS + ("language", "unknown")
MIN_TOPIC_EXAMPLES = 25
MIN_COMMAND_EXAMPLES = 20
MAX_SECTION_TOPICS = 6
SECTION_LABEL_MAX = 24
MAX_REVIEW_MONTHS = 12
LANGUAGE_FIELDS = {"id", "name", "autonyms", "iso639_3", "fallback", "select", "ask_region", "regions", "notes"}
# Placeholders filled when a message is sent, not from settings.
RUNTIME_PLACEHOLDERS = {"language", "region"}
AUDIO_SUFFIXES = {".mp3", ".ogg", ".oga", ".opus", ".amr", ".m4a", ".aac", ".wav"}
LABEL_MAX = 18
FIRST_REPLY_SEGMENTS = 2
PAGE_SEGMENTS = 3
MENU_SEGMENTS = 2
FLAT_MENU_SEGMENTS = 3          # a tree without sections lists every topic at once
SECTION_SEGMENTS = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in the content, where it is, and whether it stops the content from loading.

    `message` is English; `message_es` is the Spanish one when the check wrote it, else the wording
    from bot/problems_es.py. `text("es")` is what `derechos content check --lang es` prints."""

    path: str
    line: int
    message: str
    severity: str = "error"
    message_es: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"

    def text(self, lang: str = "en") -> str:
        if lang != "es":
            return str(self)
        from .problems_es import SEVERITY, spanish
        message = self.message_es or spanish(self.message) or self.message
        return f"{self.path}:{self.line}: {SEVERITY.get(self.severity, self.severity)}: {message}"


@dataclass(frozen=True)
class Language:
    """A language the bot can answer in; Indigenous ones carry their own metadata."""

    id: str
    name: dict[str, str]
    autonyms: tuple[str, ...] = ()
    iso639_3: tuple[str, ...] = ()
    fallback: str | None = None
    select: tuple[str, ...] = ()
    ask_region: bool = False
    regions: tuple[str, ...] = ()
    notes: str = ""
    indigenous: bool = False
    folder: Path | None = None

    def display_name(self, lang: str) -> str:
        return self.name.get(lang) or self.name.get("es") or self.id


@dataclass(frozen=True)
class Topic:
    """One topic in one language, as written in its file."""

    id: str
    lang: str
    title: str
    label: str
    menu: int
    status: str
    keywords: tuple[str, ...]
    phrases: tuple[str, ...]
    related: tuple[str, ...]
    sources: tuple[str, ...]
    pages: tuple[str, ...]
    audio: str | None
    path: Path
    reviewed_by: str = ""
    urgent: bool = False
    as_of: dt.date | None = None
    review_by: dt.date | None = None
    examples: tuple[str, ...] = ()
    voice: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """A topic as served to one person: resolved for their language, with fallback marked."""

    topic: Topic
    lang: str                      # the language asked for
    fallback: bool                 # True when the text is Spanish standing in for `lang`
    audio_url: str | None


@dataclass(frozen=True)
class Section:
    """A group of topics in the menu (content/menu.yml); labels per language are in system.yml."""

    id: str
    topics: tuple[str, ...]


SECTION_PREFIX = "section:"


@dataclass
class Catalog:
    """Everything the bot can say, by language."""

    root: Path
    languages: dict[str, Language]
    topics: dict[str, dict[str, Topic]]          # lang -> topic id -> topic (reviewed only)
    system: dict[str, dict[str, str]]            # lang -> key -> text
    commands: dict[str, dict[str, tuple[str, ...]]]   # lang -> command -> words
    settings: dict[str, str | dict[str, str]]    # a value, or one per language
    warnings: list[Problem] = field(default_factory=list)
    version: str = ""
    sections: tuple[Section, ...] = ()           # empty: one flat menu of every topic
    examples: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # lang -> intent -> messages
    section_labels: dict[str, dict[str, str]] = field(default_factory=dict)       # lang -> section -> label

    @property
    def topic_ids(self) -> list[str]:
        """Topic ids in menu order."""
        base = self.topics[DEFAULT_LANG]
        if self.sections:
            ordered = [tid for section in self.sections for tid in section.topics if tid in base]
            return ordered + sorted(tid for tid in base if tid not in ordered)
        return sorted(base, key=lambda tid: (base[tid].menu, tid))

    @cached_property
    def urgent(self) -> frozenset[str]:
        """Topics marked `urgent: true` in any language."""
        return frozenset(tid for by_id in self.topics.values() for tid, t in by_id.items() if t.urgent)

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)

    def section_label(self, section_id: str, lang: str) -> str:
        lang = self.resolve_lang(lang)
        for candidate in (lang, self.languages[lang].fallback or DEFAULT_LANG, DEFAULT_LANG):
            label = self.section_labels.get(candidate, {}).get(section_id)
            if label:
                return label
        return section_id

    def setting(self, name: str, lang: str) -> str:
        value = self.settings.get(name, "")
        return _setting_for(value, self.resolve_lang(lang), self.languages) if isinstance(value, dict) else value

    def top_menu(self) -> list[str]:
        """What the numbers of the top menu stand for: sections, or topics when there are none."""
        return [SECTION_PREFIX + s.id for s in self.sections] if self.sections else self.topic_ids

    def resolve_lang(self, lang: str | None) -> str:
        return lang if lang in self.languages else DEFAULT_LANG

    def answer(self, topic_id: str, lang: str) -> Answer:
        """The topic in `lang`; fields with no reviewed text there come from the fallback (Spanish)."""
        lang = self.resolve_lang(lang)
        base_lang = self.languages[lang].fallback or DEFAULT_LANG
        base = self.topics.get(lang, {}).get(topic_id) if lang in BASE_LANGS else None
        if base is not None:
            return Answer(topic=base, lang=lang, fallback=False, audio_url=base.audio)
        own = self.topics.get(lang, {}).get(topic_id)
        topic = self.topics[base_lang][topic_id]
        if own is None:
            return Answer(topic=topic, lang=lang, fallback=True, audio_url=None)
        return Answer(topic=_merge(own, topic), lang=lang, fallback=not own.pages, audio_url=own.audio)

    def text(self, key: str, lang: str, **values: str) -> str:
        """A system message in `lang` (falling back to Spanish), runtime placeholders filled."""
        lang = self.resolve_lang(lang)
        texts = self.system.get(lang) or {}
        if key not in texts:
            texts = self.system.get(self.languages[lang].fallback or DEFAULT_LANG, {})
        # Only a tree loaded with strict=False (a preview while a file is broken) can miss a message.
        return _fill(texts.get(key, f"[{key}]"), values)

    def menu(self, lang: str) -> tuple[str, list[str]]:
        """The welcome menu text in `lang` and what its numbers stand for (sections or topic ids)."""
        lang = self.resolve_lang(lang)
        ids = self.top_menu()
        lines = [self.text("welcome", lang), self.text("menu_header", lang)]
        for number, item in enumerate(ids, 1):
            lines.append(f"{number} {self.label(item, lang)}")
        lines.append(self.text("menu_footer", lang))
        return "\n".join(lines), ids

    def section_menu(self, section_id: str, lang: str) -> tuple[str, list[str]]:
        """A section's numbered topics in `lang`, and the topic ids its numbers stand for."""
        lang = self.resolve_lang(lang)
        section = self.section(section_id)
        ids = [tid for tid in (section.topics if section else ()) if tid in self.topics[DEFAULT_LANG]]
        lines = [self.text("section_header", lang, section=self.section_label(section_id, lang))]
        lines += [f"{number} {self.label(tid, lang)}" for number, tid in enumerate(ids, 1)]
        lines.append(self.text("section_footer", lang))
        return "\n".join(lines), ids

    def label(self, item: str, lang: str) -> str:
        """The menu label of a topic id or a `section:` item."""
        if item.startswith(SECTION_PREFIX):
            return self.section_label(item[len(SECTION_PREFIX):], lang)
        return self.answer(item, lang).topic.label

    def due_for_review(self, today: dt.date | None = None) -> list[Topic]:
        """Topics whose review_by date has passed, in every language."""
        today = today or dt.date.today()
        return sorted((t for by_id in self.topics.values() for t in by_id.values()
                       if t.review_by and t.review_by < today), key=lambda t: (t.review_by, t.lang, t.id))


def _merge(own: Topic, base: Topic) -> Topic:
    """Field by field: what the language has reviewed, the rest from the fallback language."""
    return replace(base, lang=own.lang, **{name: getattr(own, name) for name in ("title", "label", "pages", "audio")
                                           if getattr(own, name)})


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _setting_for(value: dict[str, str], lang: str, languages: dict[str, Language]) -> str:
    """A per-language setting for `lang`: its own value, else its fallback's, else Spanish."""
    fallback = languages[lang].fallback if lang in languages else None
    for candidate in (lang, fallback, DEFAULT_LANG, "en"):
        if candidate and value.get(candidate):
            return value[candidate]
    return next(iter(value.values()), "")


def settings_for(settings: dict, lang: str, languages: dict[str, Language]) -> dict[str, str]:
    """Every setting as plain text for one language."""
    return {k: (_setting_for(v, lang, languages) if isinstance(v, dict) else v) for k, v in settings.items()}


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """`text` with each {name} of `values` replaced by its value; other braces are kept."""
    return _fill(text, values)


def placeholders(text: str) -> set[str]:
    """Names in braces, e.g. {help_line}."""
    names = set()
    try:
        for _, name, _, _ in string.Formatter().parse(text):
            if name:
                names.add(name)
    except ValueError:
        names.update(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    return names


# --- reading files -------------------------------------------------------------------------------

class _Reader:
    """Collects problems while reading, so every file is read even after the first error."""

    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []
        self.unreadable: dict[str, Problem] = {}    # file -> why YAML cannot read it

    def readable_problems(self, problems: list[Problem]) -> list[Problem]:
        """A file YAML cannot read gets that one problem, not the ones that follow from it."""
        return [p for p in problems if p.path not in self.unreadable or p is self.unreadable[p.path]]

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def error(self, path: Path, line: int, message: str, message_es: str = "") -> None:
        self.problems.append(Problem(self.rel(path), line, message, message_es=message_es))

    def warn(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(self.rel(path), line, message, "warning"))

    def yaml(self, path: Path, text: str, first_line: int = 1) -> tuple[object, dict[str, int]]:
        """Parse YAML; return the data and the line of each top-level key (file lines, from 1)."""
        try:
            loader = _Loader(text)
            try:
                node = loader.get_single_node()
                data = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            # Where the mistake starts, in an editor's words (the parser's words point past it).
            mistake = explain_yaml(text, exc)
            self.error(path, first_line + mistake.line, mistake.en, mistake.es)
            self.unreadable.setdefault(self.rel(path), self.problems[-1])
            return None, {}
        for mistake in yaml_slips(text, node, first_line):
            self.error(path, first_line + mistake.line, mistake.en, mistake.es)
        lines: dict[str, int] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                lines[str(key_node.value)] = first_line + key_node.start_mark.line
                if isinstance(value_node, yaml.SequenceNode):
                    for i, item in enumerate(value_node.value):
                        lines[f"{key_node.value}[{i}]"] = first_line + item.start_mark.line
                elif isinstance(value_node, yaml.MappingNode):
                    for sub_key, sub_value in value_node.value:
                        lines[f"{key_node.value}.{sub_key.value}"] = first_line + sub_key.start_mark.line
                        if isinstance(sub_value, yaml.SequenceNode):
                            for i, item in enumerate(sub_value.value):
                                lines[f"{key_node.value}.{sub_key.value}[{i}]"] = first_line + item.start_mark.line
        return data, lines

    def read_text(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            self.error(path, 1, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")
        except OSError as exc:
            self.error(path, 1, f"cannot read: {exc.strerror}")
        return None


def _strings(value) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    # YAML reads an unquoted yes/no/on/off as true/false: refuse rather than store "True".
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    return None


def _read_topic(reader: _Reader, path: Path, lang: str) -> Topic | None:
    text = reader.read_text(path)
    if text is None:
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        reader.error(path, 1, "a topic file starts with a line '---', then its fields, then '---'")
        return None
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        reader.error(path, 1, "the fields at the top are not closed with a line '---'")
        return None
    data, where = reader.yaml(path, "\n".join(lines[1:end]), first_line=2)
    if data is None:
        if not reader.problems or reader.problems[-1].path != reader.rel(path):
            reader.error(path, 2, "no fields between the '---' lines")
        return None
    if not isinstance(data, dict):
        reader.error(path, 2, "the fields at the top must be 'name: value' lines")
        return None
    # Field problems are reported and reading goes on, so every problem shows in one pass;
    # any error still stops the catalog from loading.
    for key in data:
        if key not in TOPIC_FIELDS:
            reader.error(path, where.get(str(key), 2), f"unknown field '{key}' (known: {', '.join(sorted(TOPIC_FIELDS))})")
    base = lang in BASE_LANGS
    for key in REQUIRED_TOPIC_FIELDS if base else ("status",):
        if data.get(key) in (None, "", []):
            if key == "keywords" and "phrases" in data:
                continue
            reader.error(path, 2, f"missing required field '{key}'")
    topic_id = path.stem
    if data.get("id") not in (None, topic_id):
        reader.error(path, where.get("id", 2), f"id '{data['id']}' differs from the file name '{topic_id}'")
    status = data.get("status", "reviewed")
    if status not in STATUSES:
        reader.error(path, where.get("status", 2), f"status must be 'reviewed' or 'draft', not '{status}'")
    menu = data.get("menu", 0)
    if not isinstance(menu, int) or isinstance(menu, bool) or menu < 0:
        reader.error(path, where.get("menu", 2), f"menu must be a whole number from 1, not {menu!r}")
        menu = 0
    label = data.get("label") or ""
    if not isinstance(label, str) or len(label) > LABEL_MAX:
        reader.error(path, where.get("label", 2), f"label must be text of at most {LABEL_MAX} characters")
        label = str(label)[:LABEL_MAX]
    lists = {}
    for key in ("keywords", "phrases", "related", "sources", "examples", "voice"):
        value = _strings(data.get(key))
        if value is None:
            reader.error(path, where.get(key, 2), f"'{key}' must be a list of texts")
            value = ()
        # voice: holds one text per page, in page order: "" keeps that page's written text.
        lists[key] = tuple(v.strip() for v in value) if key == "voice" else tuple(v.strip() for v in value if v.strip())
    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        reader.error(path, where.get("urgent", 2), "urgent must be true or false")
        urgent = False
    dates = {}
    for key in ("as_of", "review_by"):
        value = data.get(key)
        if value is None:
            dates[key] = None
            if base:
                reader.warn(path, where.get(key, 2), f"no '{key}' date: write when the facts were checked "
                                                     "(as_of) and when to check them again (review_by), as YYYY-MM-DD")
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            dates[key] = value
        else:
            reader.error(path, where.get(key, 2), f"{key} must be a date written YYYY-MM-DD, not {value!r}")
            dates[key] = None
    if dates["as_of"] and dates["review_by"]:
        if dates["review_by"] < dates["as_of"]:
            reader.error(path, where.get("review_by", 2), "review_by is before as_of")
        elif (dates["review_by"] - dates["as_of"]).days > MAX_REVIEW_MONTHS * 31:
            reader.error(path, where.get("review_by", 2),
                         f"review_by is more than {MAX_REVIEW_MONTHS} months after as_of: check facts at least yearly")
    audio = data.get("audio")
    if audio is not None and not isinstance(audio, str):
        reader.error(path, where.get("audio", 2), "audio must be a file name under audio/ or an https URL")
        audio = None
    body_lines = lines[end + 1:]
    pages, page_lines, current, start = [], [], [], end + 2
    for number, line in enumerate(body_lines, start=end + 2):
        if line.strip() == "---":
            pages.append("\n".join(current).strip())
            page_lines.append(start)
            current, start = [], number + 1
        else:
            current.append(line)
    pages.append("\n".join(current).strip())
    page_lines.append(start)
    for text_, line_no in zip(pages, page_lines):
        if not text_ and len(pages) > 1:
            reader.error(path, line_no, "empty page between two '---' lines")
    pages = [p for p in pages if p]
    if base and not pages:
        reader.error(path, end + 2, "no text: write the first reply under the second '---'")
    topic = Topic(
        id=topic_id, lang=lang, title=str(data.get("title") or ""), label=label, menu=menu, status=status,
        keywords=lists["keywords"], phrases=lists["phrases"], related=lists["related"],
        sources=lists["sources"], pages=tuple(pages), audio=audio, path=path,
        reviewed_by=str(data.get("reviewed_by") or ""), urgent=urgent, as_of=dates["as_of"],
        review_by=dates["review_by"], examples=lists["examples"], voice=lists["voice"],
    )
    object.__setattr__(topic, "_lines", {"where": where, "pages": page_lines})
    return topic


def _read_language(reader: _Reader, path: Path, lang: str, indigenous: bool) -> Language | None:
    text = reader.read_text(path)
    if text is None:
        return None
    data, where = reader.yaml(path, text)
    if not isinstance(data, dict):
        if data is not None:
            reader.error(path, 1, "language.yml must be 'name: value' lines")
        return None
    ok = True
    for key in data:
        if key not in LANGUAGE_FIELDS:
            reader.error(path, where.get(str(key), 1), f"unknown field '{key}'")
            ok = False
    if data.get("id") != lang:
        reader.error(path, where.get("id", 1), f"id must be '{lang}' (the folder name)")
        ok = False
    name = data.get("name")
    if not (isinstance(name, dict) and isinstance(name.get("es"), str) and isinstance(name.get("en"), str)):
        reader.error(path, where.get("name", 1), "name needs 'es' and 'en' entries")
        ok = False
    fallback = data.get("fallback")
    if indigenous and fallback != DEFAULT_LANG:
        reader.error(path, where.get("fallback", 1), f"fallback must be '{DEFAULT_LANG}'")
        ok = False
    lists = {}
    for key in ("autonyms", "iso639_3", "select", "regions"):
        value = _strings(data.get(key))
        if value is None:
            reader.error(path, where.get(key, 1), f"'{key}' must be a list of texts")
            ok = False
            value = ()
        lists[key] = value
    for i, code in enumerate(lists["iso639_3"]):
        if not re.fullmatch(r"[a-z]{3}", code):
            reader.error(path, where.get(f"iso639_3[{i}]", 1), f"'{code}' is not an ISO 639-3 code (3 letters)")
            ok = False
    if not lists["select"]:
        reader.error(path, where.get("select", 1), "select needs at least one word")
        ok = False
    if not ok:
        return None
    return Language(
        id=lang, name=dict(name), autonyms=lists["autonyms"], iso639_3=lists["iso639_3"],
        fallback=fallback, select=lists["select"], ask_region=bool(data.get("ask_region")),
        regions=lists["regions"], notes=str(data.get("notes") or ""), indigenous=indigenous,
        folder=path.parent,
    )


def _read_system(reader: _Reader, path: Path, base: bool):
    """(texts, commands, examples, section labels, line numbers) of a system.yml, or None."""
    text = reader.read_text(path)
    if text is None:
        return None
    data, where = reader.yaml(path, text)
    if not isinstance(data, dict):
        reader.error(path, 1, "system.yml must be 'name: text' lines")
        return None
    texts, commands, examples, labels, ok = {}, {}, {}, {}, True
    for key, value in data.items():
        if key in ("commands", "examples"):
            known = COMMANDS if key == "commands" else EXAMPLE_INTENTS
            if not isinstance(value, dict):
                reader.error(path, where.get(key, 1), f"{key} must map a command to a list of texts")
                ok = False
                continue
            for command, words in value.items():
                line = where.get(f"{key}.{command}", 1)
                if command not in known:
                    reader.error(path, line, f"unknown command '{command}' in {key} (known: {', '.join(known)})")
                    ok = False
                    continue
                listed = _strings(words)
                if not listed:
                    reader.error(path, line, f"'{command}' needs a list of texts in {key}")
                    ok = False
                    continue
                (commands if key == "commands" else examples)[command] = tuple(w.strip() for w in listed if w.strip())
        elif key == "sections":
            if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
                reader.error(path, where.get(key, 1), "sections must map a section id to its label")
                ok = False
                continue
            for section_id, label in value.items():
                if len(label.strip()) > SECTION_LABEL_MAX:
                    reader.error(path, where.get(f"sections.{section_id}", 1),
                                 f"section label '{label}' is {len(label.strip())} characters; at most {SECTION_LABEL_MAX}")
                labels[str(section_id)] = label.strip()
        elif key in SYSTEM_KEYS or key in SECTION_KEYS or key in OPTIONAL_SYSTEM_KEYS:
            if not isinstance(value, str) or not value.strip():
                reader.error(path, where.get(key, 1), f"'{key}' must be a text")
                ok = False
                continue
            texts[key] = value.strip()
        else:
            reader.error(path, where.get(str(key), 1), f"unknown message '{key}'")
            ok = False
    if base:
        for key in SYSTEM_KEYS:
            if key not in texts and not any(p.message.startswith(f"'{key}'") for p in reader.problems):
                reader.error(path, 1, f"missing message '{key}'")
                ok = False
        for command in COMMANDS:
            if command not in commands and command != "thanks":
                reader.error(path, where.get("commands", 1), f"missing command words for '{command}'")
                ok = False
    return texts, commands, examples, labels, where   # what was read; errors are in reader.problems


# --- parsing one file, for tools that edit the content (bot/po.py) ------------------------------

@dataclass(frozen=True)
class SystemFile:
    """One system.yml as written (placeholders not filled), and the file line of each key."""

    path: Path
    messages: dict[str, str]
    commands: dict[str, tuple[str, ...]]
    examples: dict[str, tuple[str, ...]]
    sections: dict[str, str]                 # section id -> label
    lines: dict[str, int]                    # "welcome", "commands.stop", "examples.menu[2]" -> line


class _GivenText(_Reader):
    """A reader that takes the text of one file from the caller instead of the disk."""

    def __init__(self, root: Path, path: Path, text: str | None):
        super().__init__(Path(root))
        self.given = {Path(path): text} if text is not None else {}

    def read_text(self, path: Path) -> str | None:
        return self.given[path] if path in self.given else super().read_text(path)


def parse_topic(root: Path, path: Path, lang: str, text: str | None = None) -> tuple[Topic | None, list[Problem]]:
    """One topic file of `lang` as written, or `text` read as if it were that file.

    Placeholders are not filled. Returns the topic (None when it cannot be read at all) and every
    problem found in the file, errors and warnings; checks across files are left to check_content.
    """
    reader = _GivenText(root, path, text)
    return _read_topic(reader, Path(path), lang), reader.problems


def parse_system(root: Path, path: Path, lang: str, text: str | None = None) -> tuple[SystemFile | None, list[Problem]]:
    """One system.yml of `lang` as written, or `text` read as if it were that file; like parse_topic."""
    reader = _GivenText(root, path, text)
    result = _read_system(reader, Path(path), base=lang in BASE_LANGS)
    if result is None:
        return None, reader.problems
    texts, commands, examples, labels, where = result
    return SystemFile(Path(path), texts, commands, examples, labels, where), reader.problems


def field_line(topic: Topic, name: str, i: int | None = None) -> int:
    """The file line of a front-matter field of a topic read from its file (of item `i` of a list)."""
    return _line(topic, name, i)


def page_line(topic: Topic, i: int) -> int:
    """The file line where page `i` (from 0) of a topic read from its file starts."""
    return _page_line(topic, i)


def read_menu(reader: _Reader, root: Path) -> tuple[Section, ...]:
    """content/menu.yml: the sections in order, each with its topics in order."""
    path = root / "menu.yml"
    if not path.exists():
        return ()
    data, where = reader.yaml(path, reader.read_text(path) or "")
    items = data.get("sections") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        reader.error(path, 1, "menu.yml needs 'sections:', a list of '- id: ...' with 'topics: [...]'")
        return ()
    sections, seen = [], set()
    for i, item in enumerate(items):
        line = where.get(f"sections[{i}]", 1)
        topics = _strings(item.get("topics")) if isinstance(item, dict) else None
        section_id = str(item.get("id") or "") if isinstance(item, dict) else ""
        if not re.fullmatch(r"[a-z][a-z0-9-]*", section_id) or not topics:
            reader.error(path, line, "each section needs an id (lowercase letters, digits, -) and a list of topics")
            continue
        if section_id in seen:
            reader.error(path, line, f"section '{section_id}' is listed twice")
        seen.add(section_id)
        if len(topics) > MAX_SECTION_TOPICS:
            reader.error(path, line, f"section '{section_id}' has {len(topics)} topics; at most {MAX_SECTION_TOPICS} "
                                     "(a phone menu read aloud must stay short)")
        sections.append(Section(section_id, tuple(topics)))
    return tuple(sections)


def read_settings(reader: _Reader, root: Path, overrides: dict[str, str]) -> dict[str, str | dict[str, str]]:
    """settings.yml: a value per name, or one per language (`name: {es: ..., en: ...}`).

    `overrides` come from DERECHOS_<NAME> (every language) and DERECHOS_<NAME>_<LANG> (one).
    """
    path = root / "settings.yml"
    settings: dict[str, str | dict[str, str]] = {}
    if path.exists():
        text = reader.read_text(path)
        data, where = reader.yaml(path, text or "")
        if data is not None and not isinstance(data, dict):
            reader.error(path, 1, "settings.yml must be 'name: value' lines")
        elif isinstance(data, dict):
            for key, value in data.items():
                line = where.get(str(key), 1)
                if not re.fullmatch(r"[a-z][a-z0-9_]*", str(key)):
                    reader.error(path, line, f"setting name '{key}': use lowercase letters, digits, _")
                    continue
                if isinstance(value, dict):
                    if not value or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                            for v in value.values()):
                        reader.error(path, line, f"setting '{key}': give one text per language, e.g. es: ..., en: ...")
                        continue
                    settings[str(key)] = {str(k): str(v) for k, v in value.items()}
                else:
                    settings[str(key)] = "" if value is None else str(value)
    for key, value in overrides.items():
        if key in settings:
            settings[key] = value
            continue
        base, _, lang = key.rpartition("_")
        if base in settings and lang:
            current = settings[base]
            per_lang = dict(current) if isinstance(current, dict) else {DEFAULT_LANG: current}
            per_lang[lang] = value
            settings[base] = per_lang
    for key, value in settings.items():
        values = value.values() if isinstance(value, dict) else [value]
        if any(not v.strip() for v in values):
            reader.error(path, 1, f"setting '{key}' is empty: fill it in settings.yml or DERECHOS_{key.upper()}")
    return settings


# --- checks --------------------------------------------------------------------------------------

def _segments_note(text: str, fold: bool) -> tuple[sms.SegmentInfo, sms.SegmentInfo]:
    return sms.segment_info(sms.render(text, "sms", fold=fold)), sms.segment_info(sms.render(text, "whatsapp"))


def _budget_problems(ctx, path: Path, line: int, text: str, budget: int, what: str, fold: bool = True):
    as_sms, as_wa = _segments_note(text, fold)
    if as_sms.segments > budget:
        over = sms.chars_over_budget(sms.render(text, "sms", fold=fold), budget)
        yield ctx.problem(path, line, f"{what} is {as_sms.segments} SMS segments ({as_sms.encoding}, "
                                      f"{as_sms.characters} characters; WhatsApp: {as_wa.characters} characters); "
                                      f"the budget is {budget}: cut about {over} characters")
    if len(sms.render(text, "whatsapp")) > sms.TWILIO_BODY_LIMIT:
        yield ctx.problem(path, line, f"{what} is over Twilio's {sms.TWILIO_BODY_LIMIT}-character limit")


def load_catalog(root: Path, settings: dict[str, str] | None = None, strict: bool = True) -> Catalog:
    """Read and check the whole tree; raise ContentError listing every error (warnings are kept)."""
    catalog, problems = _load(Path(root), settings or {})
    errors = [p for p in problems if p.severity == "error"]
    if errors and strict:
        raise ContentError(sorted(errors))
    catalog.warnings = sorted(p for p in problems if p.severity == "warning")
    return catalog


def check_content(root: Path, settings: dict[str, str] | None = None) -> list[Problem]:
    """Every problem in the tree, errors and warnings, sorted by file and line."""
    _, problems = _load(Path(root), settings or {})
    return sorted(problems)


def _load(root: Path, overrides: dict[str, str]) -> tuple[Catalog, list[Problem]]:
    reader = _Reader(root)
    if not root.is_dir():
        reader.error(root, 1, "content folder not found")
        return Catalog(root, {}, {}, {}, {}, {}), reader.problems
    settings = read_settings(reader, root, overrides)
    languages: dict[str, Language] = {}
    topics: dict[str, dict[str, Topic]] = {}
    drafts: dict[str, dict[str, Topic]] = {}
    system: dict[str, dict[str, str]] = {}
    commands: dict[str, dict[str, tuple[str, ...]]] = {}
    examples: dict[str, dict[str, tuple[str, ...]]] = {}
    labels: dict[str, dict[str, str]] = {}
    system_where: dict[str, tuple[Path, dict]] = {}
    sections = read_menu(reader, root)
    present: dict[str, set[str]] = {}     # topic files on disk, readable or not
    folders = [(lang, root / lang, False) for lang in BASE_LANGS]
    indigenous_root = root / "indigenous"
    if indigenous_root.is_dir():
        folders += [(p.name, p, True) for p in sorted(indigenous_root.iterdir()) if p.is_dir()]
    for lang, folder, indigenous in folders:
        if not folder.is_dir():
            reader.error(folder, 1, f"missing language folder '{lang}'")
            continue
        if indigenous and not re.fullmatch(r"[a-z][a-z0-9]*", lang):
            reader.error(folder, 1, f"folder name '{lang}' must be a lowercase ASCII slug")
            continue
        language_file = folder / "language.yml"
        if not language_file.exists():
            reader.error(language_file, 1, "missing language.yml")
            continue
        language = _read_language(reader, language_file, lang, indigenous)
        if language is None:
            continue
        languages[lang] = language
        system_file = folder / "system.yml"
        if system_file.exists():
            result = _read_system(reader, system_file, base=not indigenous)
            if result is not None:
                system[lang], commands[lang], examples[lang], labels[lang], where = result
                system_where[lang] = (system_file, where)
        elif not indigenous:
            reader.error(system_file, 1, "missing system.yml (welcome, menu, help, stop ... messages)")
        topics[lang], drafts[lang] = {}, {}
        for path in sorted(folder.glob("*.md")):
            if path.name.upper() == "README.MD":
                continue
            present.setdefault(lang, set()).add(path.stem)
            topic = _read_topic(reader, path, lang)
            if topic is None:
                continue
            (topics if topic.status == "reviewed" else drafts)[lang][topic.id] = topic
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix not in (".md", ".yml") and not path.name.startswith("."):
                reader.warn(path, 1, "not read: topic files end in .md, settings in .yml")

    catalog = Catalog(root=root, languages=languages, topics=topics, system=system, commands=commands,
                      settings=settings, sections=sections, examples=examples, section_labels=labels)
    # A settings, menu, system or language file YAML cannot read would make every check of the tree
    # report what follows from it (a placeholder "unknown" everywhere): that file's problem alone.
    shared_unreadable = any(not name.endswith(".md") for name in reader.unreadable)
    if all(lang in topics for lang in BASE_LANGS) and not shared_unreadable:
        context = _TreeContext(catalog, present, system_where, reader.rel)
        for check in TREE_CHECKS:
            reader.problems.extend(check(context))
    if not reader.problems or all(p.severity != "error" for p in reader.problems):
        _fill_settings(catalog)
        catalog.version = _version(root)
    return catalog, reader.readable_problems(reader.problems)


# --- checks of the whole tree: small functions, each yielding every problem it finds -------------

@dataclass
class _TreeContext:
    catalog: Catalog
    present: dict[str, set[str]]                   # topic files on disk per language, readable or not
    system_where: dict[str, tuple[Path, dict]]     # system.yml per language and its line numbers
    rel: object                                    # path -> the path shown to editors

    def problem(self, path: Path, line: int, message: str, severity: str = "error") -> Problem:
        return Problem(self.rel(path), line, message, severity)

    def settings(self, lang: str) -> dict[str, str]:
        return settings_for(self.catalog.settings, lang, self.catalog.languages)


def _line(topic: Topic, field_name: str, i: int | None = None) -> int:
    where = topic._lines["where"]
    if i is not None and f"{field_name}[{i}]" in where:
        return where[f"{field_name}[{i}]"]
    return where.get(field_name, 2)


def _page_line(topic: Topic, i: int) -> int:
    pages = topic._lines["pages"]
    return pages[i] if i < len(pages) else 1


def check_pairs(ctx: _TreeContext):
    """Every topic exists in Spanish and English."""
    for lang, other in (("es", "en"), ("en", "es")):
        for tid, topic in ctx.catalog.topics[lang].items():
            if tid not in ctx.present.get(other, set()):
                yield ctx.problem(topic.path, 1, f"topic '{tid}' exists in {lang} but not in {other}")


def check_menu(ctx: _TreeContext):
    """Sections (menu.yml) name real topics, each topic once; without sections, menu numbers are unique."""
    catalog = ctx.catalog
    es, en = catalog.topics["es"], catalog.topics["en"]
    menu_file = catalog.root / "menu.yml"
    if not catalog.sections:
        menus: dict[int, str] = {}
        for tid, topic in sorted(es.items()):
            if topic.menu in menus:
                yield ctx.problem(topic.path, _line(topic, "menu"),
                                  f"menu number {topic.menu} is also used by '{menus[topic.menu]}'")
            menus[topic.menu] = tid
            if tid in en and en[tid].menu != topic.menu:
                yield ctx.problem(en[tid].path, _line(en[tid], "menu"),
                                  f"menu number {en[tid].menu} differs from Spanish ({topic.menu})")
        return
    placed: dict[str, str] = {}
    for section in catalog.sections:
        for tid in section.topics:
            if tid not in ctx.present.get("es", set()):
                yield ctx.problem(menu_file, 1, f"section '{section.id}' names topic '{tid}', which has no file in es/")
            elif tid in placed:
                yield ctx.problem(menu_file, 1, f"topic '{tid}' is in sections '{placed[tid]}' and '{section.id}'")
            placed.setdefault(tid, section.id)
    for tid, topic in sorted(es.items()):
        if tid not in placed:
            yield ctx.problem(menu_file, 1, f"topic '{tid}' is in no section: add it to one in menu.yml")
    for lang in BASE_LANGS:
        texts = catalog.system.get(lang, {})
        path = ctx.system_where.get(lang, (catalog.root / lang / "system.yml", {}))[0]
        for key in SECTION_KEYS:
            if key not in texts:
                yield ctx.problem(path, 1, f"missing message '{key}' (the menu has sections)")
        for section in catalog.sections:
            if section.id not in catalog.section_labels.get(lang, {}):
                yield ctx.problem(path, 1, f"no label for section '{section.id}' under 'sections:'")
    for lang, labels in catalog.section_labels.items():
        path = ctx.system_where[lang][0]
        for section_id in labels:
            if catalog.section(section_id) is None:
                yield ctx.problem(path, ctx.system_where[lang][1].get(f"sections.{section_id}", 1),
                                  f"label for section '{section_id}', which menu.yml does not have")
    for tid, topic in sorted(es.items()):
        if topic.menu and catalog.sections:
            yield ctx.problem(topic.path, _line(topic, "menu"), "menu: is not used any more (the order comes "
                              "from content/menu.yml): remove the line", "warning")


def check_related(ctx: _TreeContext):
    ids = set().union(*ctx.present.values()) if ctx.present else set()
    for by_id in ctx.catalog.topics.values():
        for topic in by_id.values():
            for i, rel in enumerate(topic.related):
                if rel not in ids:
                    yield ctx.problem(topic.path, _line(topic, "related", i), f"related topic '{rel}' does not exist")


def check_claims(ctx: _TreeContext):
    """A keyword or phrase belongs to one topic per language."""
    for lang, by_id in ctx.catalog.topics.items():
        claimed: dict[str, str] = {}
        for tid, topic in sorted(by_id.items()):
            for kind in ("keywords", "phrases"):
                for i, word in enumerate(getattr(topic, kind)):
                    key = normalize(word)
                    line = _line(topic, kind, i)
                    if not key:
                        yield ctx.problem(topic.path, line, f"{kind[:-1]} '{word}' has no letters or digits")
                        continue
                    if key in claimed and claimed[key] != tid:
                        yield ctx.problem(topic.path, line, f"{kind[:-1]} '{word}' is also claimed by topic "
                                                            f"'{claimed[key]}' in {lang}")
                    claimed.setdefault(key, tid)


def check_placeholders(ctx: _TreeContext):
    names = set(ctx.catalog.settings) | RUNTIME_PLACEHOLDERS | {"section", "first", "second"}
    for by_id in ctx.catalog.topics.values():
        for topic in by_id.values():
            texts = [(p, _page_line(topic, i)) for i, p in enumerate(topic.pages)] + [(topic.title, _line(topic, "title"))]
            texts += [(v, _line(topic, "voice", i)) for i, v in enumerate(topic.voice)]
            yield from _unknown_placeholders(ctx, topic.path, texts, names)
    for lang, (path, where) in ctx.system_where.items():
        texts = [(text, where.get(key, 1)) for key, text in ctx.catalog.system[lang].items()]
        yield from _unknown_placeholders(ctx, path, texts, names)


def _unknown_placeholders(ctx, path, texts, names):
    for text, line in texts:
        for name in sorted(placeholders(text)):
            if name not in names:
                yield ctx.problem(path, line, f"unknown placeholder {{{name}}} "
                                              f"(settings: {', '.join(sorted(ctx.catalog.settings))})")


def check_audio(ctx: _TreeContext):
    for lang, by_id in ctx.catalog.topics.items():
        for topic in by_id.values():
            if topic.audio:
                yield from _audio_problems(ctx, ctx.catalog.languages[lang], topic, _line(topic, "audio"))


def _more_hint(ctx: _TreeContext, lang: str) -> str:
    system = ctx.catalog.system.get(lang) or ctx.catalog.system.get(DEFAULT_LANG, {})
    return _fill(system.get("more_hint", ""), ctx.settings(lang))


def check_pages(ctx: _TreeContext):
    """Each page within its SMS budget, with the line the bot adds when more pages follow."""
    for lang, by_id in ctx.catalog.topics.items():
        settings, hint = ctx.settings(lang), _more_hint(ctx, lang)
        for topic in by_id.values():
            filled = [_fill(p, settings) for p in topic.pages]
            for i, page in enumerate(filled):
                footer = ("\n" + hint) if i < len(filled) - 1 else ""
                budget, what = (FIRST_REPLY_SEGMENTS, "the first reply") if i == 0 else (PAGE_SEGMENTS, f"page {i + 1}")
                yield from _budget_problems(ctx, topic.path, _page_line(topic, i), page + footer, budget, what)


def _help_words(catalog: Catalog, lang: str) -> set[str]:
    commands = catalog.commands.get(lang) or catalog.commands.get(DEFAULT_LANG, {})
    return {normalize(w) for command in ("help", "human") for w in commands.get(command, ()) if normalize(w)}


def check_help_pointer(ctx: _TreeContext):
    """Every first reply points to help: the help line, or the word for help or for a person."""
    for lang in BASE_LANGS:
        words, settings, hint = _help_words(ctx.catalog, lang), ctx.settings(lang), _more_hint(ctx, lang)
        line_value = settings.get("help_line", "")
        for topic in ctx.catalog.topics[lang].values():
            first = _fill(topic.pages[0], settings) + ("\n" + hint if len(topic.pages) > 1 else "")
            plain = f" {normalize(first)} "
            if (line_value and line_value in first) or any(f" {w} " in plain for w in words):
                continue
            yield ctx.problem(topic.path, _page_line(topic, 0), "the first reply does not say where to get help: "
                              "give {help_line}, or the word for a person (system.yml more_hint usually does it)")


_DIGITS3 = re.compile(r"\d{3}")


def check_urgent(ctx: _TreeContext):
    """An urgent topic gives a line to call in its first SMS."""
    for lang, by_id in ctx.catalog.topics.items():
        settings = ctx.settings(lang)
        help_line = sms.render(settings.get("help_line", ""), "sms")
        for topic in by_id.values():
            if not topic.urgent or not topic.pages:
                continue
            first_sms = sms.render(_fill(topic.pages[0], settings), "sms")[:153]
            if not _DIGITS3.search(first_sms) and not (help_line and help_line in first_sms):
                yield ctx.problem(topic.path, _page_line(topic, 0), "an urgent topic must give a number to call "
                                  "(e.g. {emergency} or {help_line}) in its first SMS (first 153 characters)")


def check_review_dates(ctx: _TreeContext):
    today = dt.date.today()
    for by_id in ctx.catalog.topics.values():
        for topic in by_id.values():
            if topic.review_by and topic.review_by < today:
                yield ctx.problem(topic.path, _line(topic, "review_by"),
                                  f"review overdue since {topic.review_by.isoformat()}: check its facts against the "
                                  "sources, then update as_of and review_by", "warning")


def example_key(text: str) -> str:
    """What makes two examples the same message: case, accents and spacing aside (an emoji alone,
    "👍", is a message too)."""
    return normalize(text) or text.strip()


def check_examples(ctx: _TreeContext):
    """Enough example messages per intent, and no example under two intents."""
    catalog = ctx.catalog
    owner: dict[str, tuple[str, Path, int]] = {}
    found: list[tuple[str, str, Path, int]] = []     # (intent, example, path, line)
    for lang, by_id in catalog.topics.items():
        for tid, topic in sorted(by_id.items()):
            found += [(tid, e, topic.path, _line(topic, "examples", i)) for i, e in enumerate(topic.examples)]
            if lang in BASE_LANGS and len(topic.examples) < MIN_TOPIC_EXAMPLES:
                yield ctx.problem(topic.path, _line(topic, "examples"),
                                  f"{len(topic.examples)} examples; write at least {MIN_TOPIC_EXAMPLES} messages as "
                                  "people text them (the bot learns the topic from them)", "warning")
    for lang, intents in catalog.examples.items():
        path, where = ctx.system_where[lang]
        for intent, items in intents.items():
            found += [(intent, e, path, where.get(f"examples.{intent}[{i}]", 1)) for i, e in enumerate(items)]
        if lang in BASE_LANGS:
            for intent in EXAMPLE_INTENTS:
                if len(intents.get(intent, ())) < MIN_COMMAND_EXAMPLES:
                    yield ctx.problem(path, where.get(f"examples.{intent}", where.get("examples", 1)),
                                      f"{len(intents.get(intent, ()))} examples for '{intent}'; write at least "
                                      f"{MIN_COMMAND_EXAMPLES}", "warning")
    for intent, example, path, line in found:
        key = example_key(example)
        if not key:
            yield ctx.problem(path, line, "an empty example")
            continue
        if key in owner and owner[key][0] != intent:
            first, first_path, first_line = owner[key]
            yield ctx.problem(path, line, f"example '{example}' is also an example of '{first}' "
                                          f"({ctx.rel(first_path)}:{first_line}): one message, one intent")
        owner.setdefault(key, (intent, path, line))


def check_system(ctx: _TreeContext):
    for lang, (path, where) in ctx.system_where.items():
        for command, words in ctx.catalog.commands[lang].items():
            for i, word in enumerate(words):
                if not normalize(word):
                    yield ctx.problem(path, where.get(f"commands.{command}[{i}]", 1),
                                      f"command word '{word}' has no letters")


def check_language_words(ctx: _TreeContext):
    """Words that select a language must not collide with each other."""
    seen: dict[str, str] = {}
    for lang, language in ctx.catalog.languages.items():
        for word in language.select + language.autonyms:
            key = normalize(word)
            if key in seen and seen[key] != lang:
                yield ctx.problem(language.folder / "language.yml", 1, f"'{word}' selects both '{seen[key]}' and '{lang}'")
            seen.setdefault(key, lang)


def check_menu_budget(ctx: _TreeContext):
    """The top menu fits its budget; so does each section's."""
    catalog = ctx.catalog
    if not (catalog.system.get("es") and catalog.topics["es"]):
        return
    for lang in BASE_LANGS:
        if lang not in catalog.system or not _menu_ready(catalog, lang):
            continue
        path, where = ctx.system_where[lang]
        settings = ctx.settings(lang)
        menu, _ = catalog.menu(lang)
        budget = MENU_SEGMENTS if catalog.sections else FLAT_MENU_SEGMENTS
        yield from _budget_problems(ctx, path, where.get("welcome", 1), _fill(menu, settings), budget,
                                    "the menu (welcome + header + labels + footer)")
        if catalog.sections and all(k in catalog.system[lang] for k in SECTION_KEYS):
            for section in catalog.sections:
                text, _ = catalog.section_menu(section.id, lang)
                yield from _budget_problems(ctx, path, where.get(f"sections.{section.id}", 1), _fill(text, settings),
                                            SECTION_SEGMENTS, f"the menu of section '{section.id}'")


def check_links(ctx: _TreeContext):
    """No symbolic links: a link could make the bot serve a file from outside the content folder."""
    root = ctx.catalog.root
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            yield ctx.problem(path, 1, "a symbolic link is not allowed in content/: put the real file here")


TREE_CHECKS = (check_pairs, check_menu, check_related, check_claims, check_placeholders, check_audio, check_pages,
               check_help_pointer, check_urgent, check_review_dates, check_examples, check_system,
               check_language_words, check_menu_budget, check_links)


def _menu_ready(catalog: Catalog, lang: str) -> bool:
    return all(k in catalog.system.get(lang, {}) for k in ("welcome", "menu_header", "menu_footer"))


def _audio_problems(ctx, language: Language, topic: Topic, line: int):
    audio = topic.audio or ""
    if audio.startswith("https://"):
        return
    if audio.startswith("http://"):
        yield ctx.problem(topic.path, line, "audio URLs must use https")
        return
    path = (language.folder / audio) if language.folder else None
    if path is None or not path.is_file():
        yield ctx.problem(topic.path, line, f"audio file '{audio}' not found in {ctx.rel(language.folder)}")
    elif path.is_symlink() or not path.resolve().is_relative_to(language.folder.resolve()):
        yield ctx.problem(topic.path, line, f"audio file '{audio}' must be a real file inside {ctx.rel(language.folder)}")
    elif path.suffix.lower() not in AUDIO_SUFFIXES:
        yield ctx.problem(topic.path, line, f"audio file '{audio}': use one of {', '.join(sorted(AUDIO_SUFFIXES))}")


def _fill_settings(catalog: Catalog) -> None:
    """Replace settings placeholders once at load, so sending does no templating but {language}."""
    for lang, by_id in catalog.topics.items():
        s = settings_for(catalog.settings, lang, catalog.languages)
        for tid, topic in list(by_id.items()):
            by_id[tid] = replace(topic, title=_fill(topic.title, s), pages=tuple(_fill(p, s) for p in topic.pages),
                                 voice=tuple(_fill(v, s) for v in topic.voice))
    for lang, texts in catalog.system.items():
        s = settings_for(catalog.settings, lang, catalog.languages)
        for key in texts:
            texts[key] = _fill(texts[key], s)


def _version(root: Path) -> str:
    """A fingerprint of the tree: changes when any file's size or time changes."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def tree_fingerprint(root: Path) -> str:
    """Cheap check for live reload: the same fingerprint means nothing changed."""
    return _version(Path(root))


def coverage(catalog: Catalog) -> list[dict]:
    """Per language: topics with reviewed text, with audio, and falling back to Spanish."""
    ids = catalog.topic_ids
    rows = []
    for lang, language in catalog.languages.items():
        own = catalog.topics.get(lang, {})
        reviewed = [t for t in ids if t in own and own[t].pages]
        audio = [t for t in ids if t in own and own[t].audio]
        rows.append({
            "lang": lang, "name": language.display_name("en"), "topics": len(ids),
            "reviewed": len(reviewed), "audio": len(audio), "fallback": len(ids) - len(reviewed),
            "system_messages": len(catalog.system.get(lang, {})),
        })
    return rows


# --- the voice line (issue 13): what a call plays and says ---------------------------------------

def check_voice_recordings(ctx: _TreeContext):
    """Recordings a call plays are real audio files; a call plays only mp3 and wav."""
    from . import speech
    for lang, by_id in ctx.catalog.topics.items():
        language = ctx.catalog.languages[lang]
        for topic in by_id.values():
            audio = topic.audio or ""
            if not audio or audio.startswith(("https://", "http://")) or language.folder is None:
                continue
            path = language.folder / audio
            problem = speech.audio_problem(path) if path.exists() or path.is_symlink() else None
            if problem:
                yield ctx.problem(topic.path, _line(topic, "audio"), f"audio file '{audio}' {problem}")
            elif path.exists() and not speech.playable(audio):
                instead = "that there is no recording yet" if language.indigenous else "the text read aloud"
                yield ctx.problem(topic.path, _line(topic, "audio"), f"audio file '{audio}' cannot be played on a "
                                  f"phone call (calls play mp3 and wav): callers hear {instead}; add an mp3 copy",
                                  "warning")
    for lang, language in ctx.catalog.languages.items():
        folder = (language.folder / "audio") if language.indigenous and language.folder else None
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.glob("language.*")):
            problem = speech.audio_problem(path)
            if problem is None and path.suffix.lower() not in speech.PLAYABLE_SUFFIXES:
                problem = "cannot be played on a phone call: name it language.mp3 or language.wav"
            if problem:
                yield ctx.problem(path, 1, f"the recording of the language's name {problem}")


def check_voice_speech(ctx: _TreeContext):
    """Each page said aloud within PAGE_SECONDS; `voice:` holds at most one text per page."""
    from . import speech, voice
    catalog = ctx.catalog
    for lang, by_id in catalog.topics.items():
        settings = ctx.settings(lang)
        hints = voice.hints(catalog, lang) if lang in BASE_LANGS else None
        for topic in by_id.values():
            if topic.voice and lang not in BASE_LANGS:
                yield ctx.problem(topic.path, _line(topic, "voice"), "voice: is not used here: the phone line "
                                  "speaks Spanish and English only; this language is heard from recordings", "warning")
                continue
            if len(topic.voice) > len(topic.pages):
                yield ctx.problem(topic.path, _line(topic, "voice"), f"voice: has {len(topic.voice)} texts but the "
                                  f"topic has {len(topic.pages)} pages (one text per page, in order; \"\" keeps a page)")
            if lang not in BASE_LANGS:
                continue
            filled = replace(topic, pages=tuple(_fill(p, settings) for p in topic.pages),
                             voice=tuple(_fill(v, settings) for v in topic.voice))
            for i in range(len(filled.pages)):
                said = voice.page_speech(catalog, filled, i, lang, hints)
                seconds = speech.spoken_seconds(said)
                if seconds > speech.PAGE_SECONDS:
                    words = speech.word_count(said)
                    where = _line(topic, "voice", i) if i < len(topic.voice) and topic.voice[i] else _page_line(topic, i)
                    yield ctx.problem(topic.path, where, f"page {i + 1} said aloud takes about {seconds:.0f} s ({words} "
                                      f"words at {speech.WORDS_PER_MINUTE} a minute); the budget is "
                                      f"{speech.PAGE_SECONDS} s: cut about {words - speech.words_for(speech.PAGE_SECONDS)}"
                                      " words, or write a shorter text for the phone under voice:")


def check_voice_keypad(ctx: _TreeContext):
    """Every language, section and topic can be reached by keypad, six choices at most at once."""
    from . import voice
    if not ctx.catalog.topics.get(DEFAULT_LANG):
        return
    for message in voice.keypad_problems(ctx.catalog):
        yield ctx.problem(ctx.catalog.root / "menu.yml", 1, f"phone line: {message}")


TREE_CHECKS += (check_voice_recordings, check_voice_speech, check_voice_keypad)
