"""The content catalog: topics, system messages and languages, read from `content/` and checked.

Pure: reads files, imports no Flask, Redis or Twilio. `load_catalog` returns a Catalog or raises
ContentError with every problem found (file and line each), so an editor fixes them in one pass.
"""
from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from . import sms
from .errors import ContentError
from .text import normalize

DEFAULT_LANG = "es"
BASE_LANGS = ("es", "en")
STATUSES = ("reviewed", "draft")
TOPIC_FIELDS = {"title", "menu", "label", "status", "keywords", "phrases", "related", "sources", "audio",
                "reviewed_by", "id"}
REQUIRED_TOPIC_FIELDS = ("title", "menu", "label", "status", "keywords", "sources")
SYSTEM_KEYS = ("welcome", "menu_header", "menu_footer", "more_hint", "more_end", "help", "stop", "start",
               "not_understood", "language_changed", "fallback_notice", "interpreter", "handoff", "deleted",
               "rate_limited", "ask_region", "region_saved")
COMMANDS = ("menu", "more", "help", "stop", "start", "delete", "human", "interpreter")
LANGUAGE_FIELDS = {"id", "name", "autonyms", "iso639_3", "fallback", "select", "ask_region", "regions", "notes"}
# Placeholders filled when a message is sent, not from settings.
RUNTIME_PLACEHOLDERS = {"language", "region"}
AUDIO_SUFFIXES = {".mp3", ".ogg", ".oga", ".opus", ".amr", ".m4a", ".aac", ".wav"}
LABEL_MAX = 18
FIRST_REPLY_SEGMENTS = 2
PAGE_SEGMENTS = 3
MENU_SEGMENTS = 3


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in the content, where it is, and whether it stops the content from loading."""

    path: str
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


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


@dataclass(frozen=True)
class Answer:
    """A topic as served to one person: resolved for their language, with fallback marked."""

    topic: Topic
    lang: str                      # the language asked for
    fallback: bool                 # True when the text is Spanish standing in for `lang`
    audio_url: str | None


@dataclass
class Catalog:
    """Everything the bot can say, by language."""

    root: Path
    languages: dict[str, Language]
    topics: dict[str, dict[str, Topic]]          # lang -> topic id -> topic (reviewed only)
    system: dict[str, dict[str, str]]            # lang -> key -> text
    commands: dict[str, dict[str, tuple[str, ...]]]   # lang -> command -> words
    settings: dict[str, str]
    warnings: list[Problem] = field(default_factory=list)
    version: str = ""

    @property
    def topic_ids(self) -> list[str]:
        """Topic ids in menu order."""
        base = self.topics[DEFAULT_LANG]
        return sorted(base, key=lambda tid: (base[tid].menu, tid))

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
            texts = self.system[self.languages[lang].fallback or DEFAULT_LANG]
        return _fill(texts[key], values)

    def menu(self, lang: str) -> tuple[str, list[str]]:
        """The welcome menu text in `lang` and the topic ids its numbers stand for."""
        lang = self.resolve_lang(lang)
        ids = self.topic_ids
        lines = [self.text("welcome", lang), self.text("menu_header", lang)]
        for number, tid in enumerate(ids, 1):
            lines.append(f"{number} {self.answer(tid, lang).topic.label}")
        lines.append(self.text("menu_footer", lang))
        return "\n".join(lines), ids


def _merge(own: Topic, base: Topic) -> Topic:
    """Field by field: what the language has reviewed, the rest from the fallback language."""
    return replace(base, lang=own.lang, **{name: getattr(own, name) for name in ("title", "label", "pages", "audio")
                                           if getattr(own, name)})


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


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

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def error(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(self.rel(path), line, message))

    def warn(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(self.rel(path), line, message, "warning"))

    def yaml(self, path: Path, text: str, first_line: int = 1) -> tuple[object, dict[str, int]]:
        """Parse YAML; return the data and the line of each top-level key (file lines, from 1)."""
        try:
            loader = yaml.SafeLoader(text)
            try:
                node = loader.get_single_node()
                data = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = first_line + (mark.line if mark else 0)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.error(path, line, f"cannot read YAML: {problem}")
            return None, {}
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
    if not isinstance(menu, int) or isinstance(menu, bool) or menu < (1 if base else 0):
        reader.error(path, where.get("menu", 2), f"menu must be a whole number from 1, not {menu!r}")
        menu = 0
    label = data.get("label") or ""
    if not isinstance(label, str) or len(label) > LABEL_MAX:
        reader.error(path, where.get("label", 2), f"label must be text of at most {LABEL_MAX} characters")
        label = str(label)[:LABEL_MAX]
    lists = {}
    for key in ("keywords", "phrases", "related", "sources"):
        value = _strings(data.get(key))
        if value is None:
            reader.error(path, where.get(key, 2), f"'{key}' must be a list of texts")
            value = ()
        lists[key] = tuple(v.strip() for v in value if v.strip())
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
        reviewed_by=str(data.get("reviewed_by") or ""),
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
    text = reader.read_text(path)
    if text is None:
        return None
    data, where = reader.yaml(path, text)
    if not isinstance(data, dict):
        reader.error(path, 1, "system.yml must be 'name: text' lines")
        return None
    texts, commands, ok = {}, {}, True
    for key, value in data.items():
        if key == "commands":
            if not isinstance(value, dict):
                reader.error(path, where.get("commands", 1), "commands must map a command to a list of words")
                ok = False
                continue
            for command, words in value.items():
                if command not in COMMANDS:
                    reader.error(path, where.get(f"commands.{command}", 1),
                                 f"unknown command '{command}' (known: {', '.join(COMMANDS)})")
                    ok = False
                    continue
                listed = _strings(words)
                if not listed:
                    reader.error(path, where.get(f"commands.{command}", 1), f"'{command}' needs a list of words")
                    ok = False
                    continue
                commands[command] = tuple(w.strip() for w in listed if w.strip())
        elif key in SYSTEM_KEYS:
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
            if command not in commands:
                reader.error(path, where.get("commands", 1), f"missing command words for '{command}'")
                ok = False
    return (texts, commands, where) if ok else None


def read_settings(reader: _Reader, root: Path, overrides: dict[str, str]) -> dict[str, str]:
    path = root / "settings.yml"
    settings: dict[str, str] = {}
    if path.exists():
        text = reader.read_text(path)
        data, where = reader.yaml(path, text or "")
        if data is not None and not isinstance(data, dict):
            reader.error(path, 1, "settings.yml must be 'name: value' lines")
        elif isinstance(data, dict):
            for key, value in data.items():
                if not re.fullmatch(r"[a-z][a-z0-9_]*", str(key)):
                    reader.error(path, where.get(str(key), 1), f"setting name '{key}': use lowercase letters, digits, _")
                    continue
                settings[str(key)] = "" if value is None else str(value)
    for key, value in overrides.items():
        if key in settings:
            settings[key] = value
    for key, value in settings.items():
        if not value.strip():
            reader.error(path, 1, f"setting '{key}' is empty: fill it in settings.yml or DERECHOS_{key.upper()}")
    return settings


# --- checks --------------------------------------------------------------------------------------

def _check_placeholders(reader, texts: list[tuple[str, int]], settings: dict[str, str], path: Path):
    for text, line in texts:
        for name in placeholders(text):
            if name not in settings and name not in RUNTIME_PLACEHOLDERS:
                reader.error(path, line, f"unknown placeholder {{{name}}} (settings: {', '.join(sorted(settings))})")


def _segments_note(text: str, fold: bool) -> tuple[sms.SegmentInfo, sms.SegmentInfo]:
    return sms.segment_info(sms.render(text, "sms", fold=fold)), sms.segment_info(sms.render(text, "whatsapp"))


def _check_budget(reader, path: Path, line: int, text: str, budget: int, what: str, fold: bool = True) -> None:
    as_sms, as_wa = _segments_note(text, fold)
    if as_sms.segments > budget:
        reader.error(path, line, f"{what} is {as_sms.segments} SMS segments ({as_sms.encoding}, "
                                 f"{as_sms.characters} characters; WhatsApp: {as_wa.characters} characters); "
                                 f"the budget is {budget}")
    if len(sms.render(text, "whatsapp")) > sms.TWILIO_BODY_LIMIT:
        reader.error(path, line, f"{what} is over Twilio's {sms.TWILIO_BODY_LIMIT}-character limit")


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
    system_where: dict[str, tuple[Path, dict]] = {}
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
                system[lang], commands[lang], where = result
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
                      settings=settings)
    if all(lang in topics for lang in BASE_LANGS):
        _check_tree(reader, catalog, present, system_where)
    if not reader.problems or all(p.severity != "error" for p in reader.problems):
        _fill_settings(catalog)
        catalog.version = _version(root)
    return catalog, reader.problems


def _check_tree(reader: _Reader, catalog: Catalog, present, system_where) -> None:
    settings = catalog.settings
    es, en = catalog.topics["es"], catalog.topics["en"]
    for lang, other in (("es", "en"), ("en", "es")):
        for tid, topic in catalog.topics[lang].items():
            if tid not in present.get(other, set()):
                reader.error(topic.path, 1, f"topic '{tid}' exists in {lang} but not in {other}")
    menus: dict[int, str] = {}
    for tid, topic in es.items():
        if topic.menu in menus:
            reader.error(topic.path, topic._lines["where"].get("menu", 2),
                         f"menu number {topic.menu} is also used by '{menus[topic.menu]}'")
        menus[topic.menu] = tid
        if tid in en and en[tid].menu != topic.menu:
            reader.error(en[tid].path, en[tid]._lines["where"].get("menu", 2),
                         f"menu number {en[tid].menu} differs from Spanish ({topic.menu})")
    ids = set().union(*present.values()) if present else set()
    for lang, by_id in catalog.topics.items():
        claimed: dict[str, str] = {}
        for tid, topic in sorted(by_id.items()):
            where = topic._lines["where"]
            for i, rel in enumerate(topic.related):
                if rel not in ids:
                    reader.error(topic.path, where.get(f"related[{i}]", where.get("related", 2)),
                                 f"related topic '{rel}' does not exist")
            for kind in ("keywords", "phrases"):
                for i, word in enumerate(getattr(topic, kind)):
                    key = normalize(word)
                    line = where.get(f"{kind}[{i}]", where.get(kind, 2))
                    if not key:
                        reader.error(topic.path, line, f"{kind[:-1]} '{word}' has no letters or digits")
                        continue
                    if key in claimed and claimed[key] != tid:
                        reader.error(topic.path, line, f"{kind[:-1]} '{word}' is also claimed by topic "
                                                       f"'{claimed[key]}' in {lang}")
                    claimed.setdefault(key, tid)
            texts = [(p, topic._lines["pages"][i] if i < len(topic._lines["pages"]) else 1)
                     for i, p in enumerate(topic.pages)] + [(topic.title, where.get("title", 2))]
            _check_placeholders(reader, texts, settings, topic.path)
            if topic.audio:
                _check_audio(reader, catalog.languages[lang], topic, where.get("audio", 2))
            filled = [_fill(p, settings) for p in topic.pages]
            more_hint = _fill(catalog.system.get(lang, catalog.system.get("es", {})).get("more_hint", ""), settings)
            for i, page in enumerate(filled):
                line = topic._lines["pages"][i] if i < len(topic._lines["pages"]) else 1
                footer = ("\n" + more_hint) if i < len(filled) - 1 else ""
                if i == 0:
                    _check_budget(reader, topic.path, line, page + footer, FIRST_REPLY_SEGMENTS, "the first reply")
                else:
                    _check_budget(reader, topic.path, line, page + footer, PAGE_SEGMENTS, f"page {i + 1}")
    for lang, (path, where) in system_where.items():
        for key, text in catalog.system[lang].items():
            _check_placeholders(reader, [(text, where.get(key, 1))], settings, path)
        for command, words in catalog.commands[lang].items():
            for i, word in enumerate(words):
                if not normalize(word):
                    reader.error(path, where.get(f"commands.{command}[{i}]", 1), f"command word '{word}' has no letters")
    # Words that select a language must not collide with each other.
    seen: dict[str, str] = {}
    for lang, language in catalog.languages.items():
        for word in language.select + language.autonyms:
            key = normalize(word)
            if key in seen and seen[key] != lang:
                reader.error(language.folder / "language.yml", 1,
                             f"'{word}' selects both '{seen[key]}' and '{lang}'")
            seen.setdefault(key, lang)
    if catalog.system.get("es") and es:
        for lang in BASE_LANGS:
            if lang in catalog.system:
                menu, _ = catalog.menu(lang) if _menu_ready(catalog, lang) else ("", [])
                if menu:
                    path, where = system_where[lang]
                    _check_budget(reader, path, where.get("welcome", 1), _fill(menu, settings), MENU_SEGMENTS,
                                  "the menu (welcome + header + labels + footer)")


def _menu_ready(catalog: Catalog, lang: str) -> bool:
    return all(k in catalog.system.get(lang, {}) for k in ("welcome", "menu_header", "menu_footer"))


def _check_audio(reader: _Reader, language: Language, topic: Topic, line: int) -> None:
    audio = topic.audio or ""
    if audio.startswith("https://"):
        return
    if audio.startswith("http://"):
        reader.error(topic.path, line, "audio URLs must use https")
        return
    path = (language.folder / audio) if language.folder else None
    if path is None or not path.is_file():
        reader.error(topic.path, line, f"audio file '{audio}' not found in {reader.rel(language.folder)}")
    elif path.suffix.lower() not in AUDIO_SUFFIXES:
        reader.error(topic.path, line, f"audio file '{audio}': use one of {', '.join(sorted(AUDIO_SUFFIXES))}")


def _fill_settings(catalog: Catalog) -> None:
    """Replace settings placeholders once at load, so sending does no templating but {language}."""
    s = catalog.settings
    for lang, by_id in catalog.topics.items():
        for tid, topic in list(by_id.items()):
            by_id[tid] = replace(topic, title=_fill(topic.title, s), pages=tuple(_fill(p, s) for p in topic.pages))
    for lang, texts in catalog.system.items():
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
