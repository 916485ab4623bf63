"""Gettext catalogs for translators: export, import, and a round trip that loses nothing.

Two trees: a copy of the project's content/, and a tiny hand-made one in the same format (with ñ,
á, emoji and ꞌ; sections, examples, a setting per language) that loads without errors. Texts written "for" Mam are marked TEST-MAM: test data,
not Mam.
"""
from __future__ import annotations

import io
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po, write_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.catalog import (BASE_LANGS, COMMANDS, OPTIONAL_SYSTEM_KEYS, SECTION_KEYS, SYSTEM_KEYS, check_content,
                         load_catalog)
from bot.errors import ContentError
from bot.po import ImportReport, export_po, import_po

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"

# --- the tiny tree --------------------------------------------------------------------------------

TINY = {
    "settings.yml": """\
        org_name: "Derechos"
        help_line: "1-800-555-0100"
        # One value per language: the export shows the target language's.
        help_hours:
          es: "9 a 17 h"
          en: "9am-5pm"
        legal_directory: "example.org/legal"
        emergency: "911"
        """,
    "menu.yml": """\
        sections:
          - id: border
            topics: [asylum]
          - id: services
            topics: [health]
        """,
    "es/language.yml": """\
        id: es
        name: {es: Español, en: Spanish}
        autonyms: [Español]
        iso639_3: [spa]
        fallback: null
        select: [español, espanol]
        """,
    "en/language.yml": """\
        id: en
        name: {es: Inglés, en: English}
        autonyms: [English]
        iso639_3: [eng]
        fallback: null
        select: [english, ingles]
        """,
    "indigenous/mam/language.yml": """\
        id: mam
        name: {es: Mam, en: Mam}
        autonyms: ["Qyool Mam"]
        iso639_3: [mam]
        fallback: es
        select: [mam, qyool mam]
        """,
    "es/system.yml": """\
        # Mensajes del sistema (prueba).

        welcome: "Hola, soy {org_name}."
        menu_header: "Responde con un número:"
        menu_footer: "AYUDA: ayuda. STOP: salir."
        more_hint: "MÁS: sigue. PERSONA: hablar con alguien."
        more_end: "MENU: temas."

        # Nombres de las secciones del menú.
        sections:
          border: "Asilo y frontera"
          services: "Salud"
        section_header: "{section}. Responde con un número:"
        section_footer: "MENU: inicio."

        help: |
          {org_name}: información general, no es consejo legal. Llama al {help_line} ({help_hours}). Responde STOP para salir.
        stop: "Listo, ya no recibirás mensajes."
        start: "Listo, recibirás mensajes."
        alert_footer: "{org_name}. STOP para salir"
        thanks: "¡De nada! MENU: temas."
        confirm_stop: "¿Quieres dejar de recibir mensajes? Responde BAJA."
        confirm_delete: "¿Quieres que borremos todos tus datos? Responde BORRAR."
        clarify: "¿Es sobre 1) {first} o 2) {second}? Responde 1 o 2."
        urgent_note: "Si corres peligro, llama al {emergency}."
        not_understood: "Perdón, no entendí. Escribe MENU."
        language_changed: "Listo, en español."
        fallback_notice: "Este tema aún no está en {language}; va en español."
        interpreter: "Pediremos un intérprete de {language}. Llama al {help_line}."
        handoff: "Una persona te responderá. Horario: {help_hours}."
        deleted: "Borramos tus datos."
        ask_region: "¿De qué pueblo eres?"
        region_saved: "Anotamos: {region}."

        # Palabras de cada comando.
        commands:
          menu: [MENU, MENÚ, HOLA]
          more: [MAS, MÁS, SIGUE]
          help: [AYUDA]
          stop: [STOP, BAJA]
          start: [ALTA, START]
          delete: [BORRAR MIS DATOS]
          human: [PERSONA, HABLAR CON ALGUIEN]
          interpreter: [INTERPRETE, INTÉRPRETE]
          thanks: [GRACIAS]

        # Mensajes como los escribe la gente.
        examples:
          menu:
            - "q temas tienen"
          stop:
            - "ya no quiero que me escriban"
          language:
            - "escribeme en ingles"
        """,
    "en/system.yml": """\
        # System messages (test). Comments must survive an import.

        welcome: "Hi 🙂, this is {org_name}."
        menu_header: "Reply with a number:"
        menu_footer: "HELP: help. STOP: quit."
        more_hint: "MORE: next. PERSON: talk to someone."
        more_end: "MENU: topics."

        # Names of the menu sections.
        sections:
          border: "Asylum and border"
          services: "Health"
        section_header: "{section}. Reply with a number:"
        section_footer: "MENU: start."

        help: |
          {org_name}: general information, not legal advice. Call {help_line} ({help_hours}). Reply STOP to quit.
        stop: "Done, no more messages."
        start: "Done, you will get messages."
        alert_footer: "{org_name}. Reply STOP to end"
        thanks: "You're welcome! MENU: topics."
        confirm_stop: "Do you want to stop getting messages? Reply STOP."
        confirm_delete: "Do you want us to delete all your data? Reply DELETE MY DATA."
        clarify: "Is it about 1) {first} or 2) {second}? Reply 1 or 2."
        urgent_note: "If you are in danger, call {emergency}."
        not_understood: "Sorry, I did not understand. Write MENU."
        language_changed: "OK, in English: ñ á ꞌ."
        fallback_notice: "This topic is not in {language} yet; here it is in Spanish."
        interpreter: "We will ask for a {language} interpreter. Call {help_line}."
        handoff: "A person will answer. Hours: {help_hours}."
        deleted: "We deleted your data."
        ask_region: "What town are you from?"
        region_saved: "Noted: {region}."

        # Words for each command.
        commands:
          menu: [MENU, HI, "YES", TALK TO ME]
          more: [MORE, NEXT]
          help: [HELP]
          stop: [STOP, QUIT]
          start: [START, UNSTOP]
          delete: [DELETE MY DATA]
          human: [PERSON, TALK TO SOMEONE]
          interpreter: [INTERPRETER, TRANSLATOR]
          thanks: [THANKS, THANK YOU]

        # Messages as people write them.
        examples:
          menu:
            - "what topics do u have"
          stop:
            - "pls stop texting me"
          language:
            - "hablame en español"
        """,
    "es/asylum.md": """\
        ---
        title: Pedir asilo
        label: Asilo
        status: reviewed
        urgent: false
        as_of: 2026-12-01
        review_by: 2027-03-01
        keywords:
          - asilo
          - refugio
        phrases:
          - pedir asilo
          - miedo de volver
        examples:
          - como pido asilo
          - "tengo miedo de regresar: q hago"
        related: [health]
        sources:
          - "Ley de Inmigración, sección 208"
        ---
        Pedir asilo es un derecho. Busca ayuda legal.

        ---

        Ayuda legal: {legal_directory}. Para hablar con alguien: {help_line}.
        """,
    "es/health.md": """\
        ---
        title: "Salud: tu derecho"
        label: Salud
        status: reviewed
        urgent: true
        as_of: 2026-12-01
        review_by: 2027-03-01
        keywords:
          - salud
          - clínica
        phrases:
          - estoy enfermo
        examples:
          - me duele mucho el pecho
        related: [asylum]
        sources:
          - "EMTALA"
        ---
        En una emergencia, el hospital te atiende. Llama al {emergency}. PERSONA: hablar con alguien.
        """,
    "en/asylum.md": """\
        ---
        title: Asking for asylum — ñ á ꞌ
        label: Asylum
        status: reviewed
        urgent: false
        as_of: 2026-12-01
        review_by: 2027-03-01
        keywords:
          - asylum
          - refugee
          - señor
        phrases:
          - ask for asylum
          - afraid to go back
        examples:
          - how do i ask for asylum
          - "im scared to go back 🙏 what do i do"
        related: [health]
        sources:
          - "Immigration and Nationality Act, section 208"
        ---
        Asking for asylum is a right 🙂. Get legal help (ñ, á, ꞌ).

        ---

        Legal help: {legal_directory}. To talk to someone: {help_line}.
        """,
    "en/health.md": """\
        ---
        title: "Health: your right"
        label: Health
        status: reviewed
        urgent: true
        as_of: 2026-12-01
        review_by: 2027-03-01
        keywords:
          - health
          - clinic
        phrases:
          - i am sick
        examples:
          - my chest hurts a lot
        related: [asylum]
        sources:
          - "EMTALA"
        ---
        In an emergency, the hospital must see you. Call {emergency}. PERSON: talk to someone.
        """,
}


def make_tiny(root: Path) -> Path:
    for name, text in TINY.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture
def tiny(tmp_path) -> Path:
    return make_tiny(tmp_path / "tiny" / "content")


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project" / "content"
    shutil.copytree(CONTENT, root)
    return root


@pytest.fixture(params=["tiny", "project"])
def tree(request, tmp_path) -> Path:
    """Each round trip runs on both trees."""
    if request.param == "tiny":
        return make_tiny(tmp_path / "tiny" / "content")
    root = tmp_path / "project" / "content"
    shutil.copytree(CONTENT, root)
    return root


# --- helpers --------------------------------------------------------------------------------------

def catalog_of(root: Path):
    """The catalog even while the project's content has errors (other edits in progress)."""
    return load_catalog(root, strict=False)


def errors(root: Path) -> set[tuple[str, str]]:
    return {(p.path, p.message) for p in check_content(root) if p.severity == "error"}


def copy_tree(root: Path, name: str) -> Path:
    target = root.parent.parent / name / "content"
    shutil.copytree(root, target)
    return target


def export(root: Path, lang: str) -> bytes:
    return export_po(catalog_of(root), lang, root)


def parse(data: bytes):
    return read_po(io.BytesIO(data))


def write(po, path: Path) -> Path:
    out = io.BytesIO()
    write_po(out, po, width=0)
    path.write_bytes(out.getvalue())
    return path


def raw_topic(path: Path) -> dict:
    """A topic file read independently of bot/: front matter and pages as written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    data = yaml.safe_load("\n".join(lines[1:end]))
    pages, current = [], []
    for line in lines[end + 1:]:
        if line.strip() == "---":
            pages.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    pages.append("\n".join(current).strip())
    data["pages"] = [p for p in pages if p]
    return data


def topic_fields(root: Path, lang: str) -> dict:
    """Per topic: title, label, pages, keywords, phrases, examples, from the loader and from the raw files."""
    folder = root / lang if lang in BASE_LANGS else root / "indigenous" / lang
    loaded = catalog_of(root).topics.get(lang, {})
    out = {}
    for path in sorted(folder.glob("*.md")):
        raw = raw_topic(path)
        out[path.stem] = {
            "raw": (raw.get("title"), raw.get("label"), raw["pages"], raw.get("keywords"), raw.get("phrases"),
                    raw.get("examples")),
            "loaded": None if path.stem not in loaded else tuple(
                getattr(loaded[path.stem], f) for f in ("title", "label", "pages", "keywords", "phrases", "examples")),
        }
    return out


def system_fields(root: Path, lang: str) -> tuple:
    catalog = catalog_of(root)
    raw = yaml.safe_load((root / lang / "system.yml").read_text(encoding="utf-8"))
    return catalog.system[lang], catalog.commands[lang], catalog.examples[lang], catalog.section_labels[lang], raw


def unwrapped(text: str) -> str:
    """A system.yml with each flow list on one line (an import wraps the lists it writes by a rule)."""
    return re.sub(r",\n +", ", ", text)


def fill(po, values: dict[str, str], fuzzy: tuple[str, ...] = ()) -> None:
    by_context = {m.context: m for m in po if m.id}
    for context, text in values.items():
        by_context[context].string = text
    for context in fuzzy:
        by_context[context].flags.add("fuzzy")


def scramble_topics(root: Path, lang: str) -> None:
    """Replace the translatable fields of every topic file in `lang` with other text, in place."""
    for path in sorted((root / lang).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        front, pages = "".join(lines[1:end]), raw_topic(path)["pages"]
        front = re.sub(r"^title: .*$", f"title: OLD {path.stem}", front, flags=re.M)
        front = re.sub(r"^label: .*$", "label: OLD", front, flags=re.M)
        front = re.sub(r"^keywords:\n(  .*\n)+", f"keywords:\n  - oldword{path.stem}\n", front, flags=re.M)
        front = re.sub(r"^phrases:\n(  .*\n)+", "", front, flags=re.M)
        front = re.sub(r"^examples:\n(  .*\n)+", f"examples:\n  - old example {path.stem}\n", front, flags=re.M)
        body = "\n\n---\n\n".join(["OLD page"] * len(pages))
        path.write_text("---\n" + front + "---\n" + body + "\n", encoding="utf-8")


def scramble_system(root: Path, lang: str) -> None:
    """Change every message, section name, command list and example list in place (comments stay)."""
    path = root / lang / "system.yml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'^([a-z_]+): ".*"$', lambda m: f'{m.group(1)}: "OLD {m.group(1)}"', text, flags=re.M)
    text = re.sub(r'^  ([a-z_-]+): ".*"$', lambda m: f'  {m.group(1)}: "OLD {m.group(1)}"', text, flags=re.M)
    text = re.sub(r"^  ([a-z_]+): \[(\"?).*\n(    .*\n)*",
                  lambda m: f"  {m.group(1)}: [{m.group(2)}OLD{m.group(1).upper()}{m.group(2)}]\n", text, flags=re.M)
    text = re.sub(r"^  ([a-z_]+):\n(    - .*\n)+", lambda m: f'  {m.group(1)}:\n    - "old example {m.group(1)}"\n',
                  text, flags=re.M)
    text = re.sub(r"^([a-z_]+): \|\n(  .*\n)+", lambda m: f"{m.group(1)}: |\n  OLD {m.group(1)}\n", text, flags=re.M)
    path.write_text(text, encoding="utf-8")


# --- export ---------------------------------------------------------------------------------------

def test_export_has_one_entry_per_field_with_raw_spanish_text(tiny):
    data = export(tiny, "en")
    po = parse(data)
    assert po.locale_identifier == "en"
    header = data.decode().split("\n\n")[0]
    assert '"Project-Id-Version: derechos\\n"' in header
    assert '"Language: en\\n"' in header
    assert '"Content-Type: text/plain; charset=UTF-8\\n"' in header
    entries = {m.context: m for m in po if m.id}
    expected = {"asylum:title", "asylum:label", "asylum:page1", "asylum:page2", "asylum:keywords", "asylum:phrases",
                "asylum:examples", "health:title", "health:label", "health:page1", "health:keywords",
                "health:phrases", "health:examples", "sections:border", "sections:services", "examples:menu",
                "examples:stop", "examples:language"}
    expected |= {f"system:{k}" for k in SYSTEM_KEYS + SECTION_KEYS + OPTIONAL_SYSTEM_KEYS}
    expected |= {f"commands:{c}" for c in COMMANDS}
    assert set(entries) == expected
    page2 = entries["asylum:page2"]
    assert page2.id == "Ayuda legal: {legal_directory}. Para hablar con alguien: {help_line}."   # not filled
    assert page2.string == "Legal help: {legal_directory}. To talk to someone: {help_line}."
    assert "python-brace-format" in page2.flags and not page2.fuzzy
    assert entries["asylum:keywords"].id == "asilo\nrefugio"
    assert entries["asylum:keywords"].string == "asylum\nrefugee\nseñor"
    assert entries["health:title"].id == "Salud: tu derecho"
    assert entries["commands:human"].id == "PERSONA\nHABLAR CON ALGUIEN"
    assert entries["system:help"].id.startswith("{org_name}: información general")
    assert (entries["sections:border"].id, entries["sections:border"].string) == ("Asilo y frontera", "Asylum and border")
    assert entries["asylum:examples"].id == "como pido asilo\ntengo miedo de regresar: q hago"
    assert entries["examples:stop"].string == "pls stop texting me"
    # Entries follow the Spanish file: the section names come between more_end and section_header.
    order = [m.context for m in po if (m.context or "").startswith(("system:", "sections:"))]
    assert order[order.index("system:more_end") + 1:][:3] == ["sections:border", "sections:services",
                                                             "system:section_header"]


def test_export_comments_give_file_field_budget_and_location(tiny):
    data = export(tiny, "en")
    po = parse(data)
    entries = {m.context: m for m in po if m.id}
    page1 = " ".join(entries["asylum:page1"].auto_comments)
    assert "Page 1 of 2" in page1 and "Budget: 2 SMS segments" in page1 and "content/en/asylum.md" in page1
    assert "Budget: 3 SMS segments" in " ".join(entries["asylum:page2"].auto_comments)
    keywords = " ".join(entries["asylum:keywords"].auto_comments)
    assert "really text" in keywords and "not a word-for-word translation" in keywords
    assert "not a word-for-word translation" in " ".join(entries["commands:stop"].auto_comments)
    assert "1-800-555-0100" in " ".join(entries["asylum:page2"].auto_comments)    # what {help_line} becomes
    # Every location points at the Spanish line that holds the text.
    for message in entries.values():
        (path, line), = message.locations
        file_lines = (tiny.parent / path).read_text(encoding="utf-8").splitlines()
        field = message.context.split(":")[1]
        first = message.id.split("\n")[0]
        if field in ("keywords", "phrases", "examples") or message.context.startswith(("commands:", "examples:")):
            assert file_lines[line - 1].strip().startswith(f"{field}:"), message.context
        elif message.context.startswith("system:") and file_lines[line - 1].endswith("|"):
            assert file_lines[line].strip() == first
        else:
            assert first in file_lines[line - 1], message.context
    examples = " ".join(entries["asylum:examples"].auto_comments)
    assert "not for translating" in examples and "Write your own in English" in examples
    assert "not for translating" in " ".join(entries["examples:stop"].auto_comments)
    assert "at most 24 characters" in " ".join(entries["sections:border"].auto_comments)
    # Long texts are not wrapped: each msgid line is whole.
    assert 'msgid "Ayuda legal: {legal_directory}. Para hablar con alguien: {help_line}."' in data.decode()


def test_export_for_an_indigenous_language_is_all_untranslated(tree):
    data = export(tree, "mam")
    po = parse(data)
    assert po.locale_identifier == "mam"
    assert "ISO 639-3: mam" in data.decode().split('msgid ""')[0]
    entries = [m for m in po if m.id]
    assert entries and all(m.string == "" and not m.fuzzy for m in entries)
    assert {m.context for m in entries} >= {"asylum:title", "asylum:page1", "system:welcome", "commands:stop"}
    assert all(" ".join(m.auto_comments).count("content/indigenous/mam/") for m in entries)


def test_export_marks_draft_topics_fuzzy(tiny):
    draft = tiny / "indigenous" / "mam" / "asylum.md"
    draft.write_text("---\ntitle: TEST-MAM title\nstatus: draft\n---\nTEST-MAM page one\n", encoding="utf-8")
    entries = {m.context: m for m in parse(export(tiny, "mam")) if m.id}
    assert entries["asylum:title"].string == "TEST-MAM title" and entries["asylum:title"].fuzzy
    assert entries["asylum:page1"].string == "TEST-MAM page one" and entries["asylum:page1"].fuzzy
    assert entries["asylum:page2"].string == "" and not entries["asylum:page2"].fuzzy
    assert not entries["health:title"].fuzzy
    # Importing the export unchanged keeps the draft as it is.
    report = import_po(tiny, write(parse(export(tiny, "mam")), tiny.parent / "mam.po"))
    assert report.written == [] and set(report.fuzzy) == {"asylum:title", "asylum:page1"}
    assert draft.read_text(encoding="utf-8") == "---\ntitle: TEST-MAM title\nstatus: draft\n---\nTEST-MAM page one\n"


def test_export_refuses_spanish_and_unknown_languages(tiny):
    with pytest.raises(ValueError):
        export(tiny, "es")
    with pytest.raises(ValueError):
        export(tiny, "xx")


# --- round trips ----------------------------------------------------------------------------------

def test_en_round_trip_into_an_unchanged_copy_writes_nothing(tree):
    po_path = tree.parent / "en.po"
    po_path.write_bytes(export(tree, "en"))
    copy = copy_tree(tree, "copy")
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    report = import_po(copy, po_path)
    assert report.written == [] and report.problems == [] and report.fuzzy == [] and report.unknown == []
    assert report.translated == len([m for m in parse(po_path.read_bytes()) if m.id and m.string])
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_en_round_trip_restores_every_field(tree):
    po_path = tree.parent / "en.po"
    po_path.write_bytes(export(tree, "en"))
    want_files = {p.name: p.read_bytes() for p in (tree / "en").glob("*.md")}
    want_topics, want_system = topic_fields(tree, "en"), system_fields(tree, "en")
    want_system_file = (tree / "en" / "system.yml").read_text(encoding="utf-8")
    want_errors = errors(tree)
    copy = copy_tree(tree, "copy")
    scramble_topics(copy, "en")
    scramble_system(copy, "en")
    assert topic_fields(copy, "en") != want_topics and system_fields(copy, "en") != want_system

    report = import_po(copy, po_path)
    assert report.problems == [] and report.fuzzy == [] and report.untranslated == [] and report.unknown == []
    assert topic_fields(copy, "en") == want_topics
    assert system_fields(copy, "en") == want_system
    # system.yml is edited in place: comments, order and quotes are kept, byte for byte but for the
    # wrapping of the flow lists the import rewrote (in the tiny tree, short enough for one line).
    got_system_file = (copy / "en" / "system.yml").read_text(encoding="utf-8")
    assert unwrapped(got_system_file) == unwrapped(want_system_file)
    if tree.parent.name == "tiny":
        assert got_system_file == want_system_file
    assert errors(copy) == want_errors
    assert sorted(report.written) == sorted([*(copy / "en").glob("*.md"), copy / "en" / "system.yml"])
    # Topic files keep their human-friendly layout.
    text = (copy / "en" / "asylum.md").read_text(encoding="utf-8")
    assert text.startswith("---\ntitle: ") and "\nkeywords:\n  - " in text and "\n\n---\n\n" in text
    assert re.search(r"^related: \[", text, re.M) and re.search(r'^  - "', text, re.M)    # as written by hand
    if tree.parent.name == "tiny":        # files in the house style come back byte for byte
        assert {p.name: p.read_bytes() for p in (copy / "en").glob("*.md")} == want_files


def test_en_round_trip_recreates_missing_topic_files(tree):
    po_path = tree.parent / "en.po"
    po_path.write_bytes(export(tree, "en"))
    want = topic_fields(tree, "en")
    copy = copy_tree(tree, "copy")
    for path in (copy / "en").glob("*.md"):
        path.unlink()
    report = import_po(copy, po_path)
    assert report.problems == []
    assert topic_fields(copy, "en") == want
    for tid in want:
        data = raw_topic(copy / "en" / f"{tid}.md")
        spanish = raw_topic(copy / "es" / f"{tid}.md")
        assert data["status"] == "reviewed" and "menu" not in data
        for name in ("urgent", "as_of", "review_by", "related", "sources"):     # facts, not words: from Spanish
            assert data[name] == spanish[name], (tid, name)


def test_tiny_tree_loads_strictly_after_the_round_trip(tiny):
    po_path = tiny.parent / "en.po"
    po_path.write_bytes(export(tiny, "en"))
    scramble_topics(tiny, "en")
    import_po(tiny, po_path)
    catalog = load_catalog(tiny)
    assert catalog.topics["en"]["asylum"].title == "Asking for asylum — ñ á ꞌ"
    assert catalog.topics["en"]["asylum"].pages[0] == "Asking for asylum is a right 🙂. Get legal help (ñ, á, ꞌ)."
    assert catalog.topics["en"]["asylum"].keywords == ("asylum", "refugee", "señor")


# --- importing an Indigenous language -------------------------------------------------------------

MAM = {
    "asylum:title": "TEST-MAM asylum title ꞌ",
    "asylum:label": "TEST-MAM asylum",
    "asylum:page1": "TEST-MAM asylum page1 — ꞌ ñ á 🙂",
    "asylum:page2": "TEST-MAM asylum page2 {legal_directory} {help_line}",
    "asylum:keywords": "testmamasylum\ntestmamrefuge\n\n  testmamꞌword  ",
}


def test_mam_import_writes_a_draft_and_skips_fuzzy(tree):
    po = parse(export(tree, "mam"))
    fill(po, MAM, fuzzy=("asylum:page2",))
    want_errors = errors(tree)
    report = import_po(tree, write(po, tree.parent / "mam.po"))

    path = tree / "indigenous" / "mam" / "asylum.md"
    assert report.written == [path]
    assert report.fuzzy == ["asylum:page2"]
    assert report.translated == 4
    assert "asylum:phrases" in report.untranslated and "health:title" in report.untranslated
    assert report.problems == []
    data = raw_topic(path)
    spanish = raw_topic(tree / "es" / "asylum.md")
    assert data["status"] == "draft"
    assert data["title"] == MAM["asylum:title"] and data["label"] == MAM["asylum:label"]
    assert data["pages"] == [MAM["asylum:page1"]]                   # page 2 was fuzzy: not imported
    assert data["keywords"] == ["testmamasylum", "testmamrefuge", "testmamꞌword"]
    assert (data["related"], data["sources"], data["as_of"]) == (spanish["related"], spanish["sources"],
                                                                 spanish["as_of"])
    assert list(data)[:4] == ["title", "label", "status", "urgent"]
    assert not (tree / "indigenous" / "mam" / "system.yml").exists()
    assert errors(tree) == want_errors
    catalog = catalog_of(tree)
    assert "asylum" not in catalog.topics["mam"]                  # a draft is not served
    assert catalog.answer("asylum", "mam").fallback
    lines = "\n".join(report.lines())
    assert "wrote" in lines and "asylum:page2" in lines and "draft" in lines


def test_mam_import_keeps_the_tiny_tree_loading(tiny):
    po = parse(export(tiny, "mam"))
    fill(po, {**MAM, "system:welcome": "TEST-MAM welcome {org_name}", "commands:stop": "TESTMAMSTOP\nSTOP"})
    report = import_po(tiny, write(po, tiny.parent / "mam.po"))
    assert report.problems == []
    load_catalog(tiny)                                            # strict: no error anywhere
    # A draft import leaves system.yml alone: it has no draft status, and its command words
    # (STOP among them) would act for every language as soon as the content reloads.
    assert not (tiny / "indigenous" / "mam" / "system.yml").exists()
    assert any("system.yml" in note and "not imported" in note for note in report.notes)
    assert raw_topic(tiny / "indigenous" / "mam" / "asylum.md")["pages"] == [MAM["asylum:page1"],
                                                                             MAM["asylum:page2"]]
    # Reviewed on request: the catalog then serves it, Spanish filling the untranslated fields.
    report = import_po(tiny, tiny.parent / "mam.po", status="reviewed")
    assert tiny / "indigenous" / "mam" / "asylum.md" in report.written
    system = yaml.safe_load((tiny / "indigenous" / "mam" / "system.yml").read_text(encoding="utf-8"))
    assert system == {"welcome": "TEST-MAM welcome {org_name}", "commands": {"stop": ["TESTMAMSTOP", "STOP"]}}
    catalog = load_catalog(tiny)
    answer = catalog.answer("asylum", "mam")
    assert not answer.fallback and answer.topic.pages[0] == MAM["asylum:page1"]
    assert answer.topic.pages[1] == "TEST-MAM asylum page2 example.org/legal 1-800-555-0100"


def test_a_dropped_placeholder_is_reported_and_not_imported(tree):
    po = parse(export(tree, "mam"))
    page = next(m for m in po if (m.context or "").startswith("asylum:page") and "{help_line}" in m.id)
    dropped = page.id.replace("{help_line}", "")
    fill(po, {"asylum:page1": "TEST-MAM asylum page1", page.context: "TEST-MAM " + dropped,
              "asylum:title": "TEST-MAM {help_line}"})
    report = import_po(tree, write(po, tree.parent / "mam.po"))
    assert any(f"{{help_line}} missing in {page.context}" in p for p in report.problems)
    assert any("{help_line} in asylum:title" in p for p in report.problems)
    assert report.translated == 1
    assert raw_topic(tree / "indigenous" / "mam" / "asylum.md")["pages"] == ["TEST-MAM asylum page1"]
    assert "title" not in raw_topic(tree / "indigenous" / "mam" / "asylum.md")


def test_entries_that_would_break_the_content_are_not_imported(tiny):
    po = parse(export(tiny, "mam"))
    fill(po, {"asylum:label": "TEST-MAM a label far too long for the menu",
              "asylum:page1": "TEST-MAM one\n---\ntwo",
              "asylum:title": "TEST-MAM\ntwo lines",
              "asylum:keywords": "ok\n!!!",
              "health:page1": "TEST-MAM health page1 {emergency}"})
    report = import_po(tiny, write(po, tiny.parent / "mam.po"))
    assert len(report.problems) == 4, report.problems
    assert report.written == [tiny / "indigenous" / "mam" / "health.md"]
    load_catalog(tiny)


def test_unknown_contexts_are_reported(tiny):
    po = parse(export(tiny, "mam"))
    po.add("x", "TEST-MAM", context="nosuchtopic:title")
    po.add("x", "TEST-MAM", context="asylum:page9")
    po.add("x", "TEST-MAM", context="system:nosuchmessage")
    po.add("no context", "TEST-MAM")
    report = import_po(tiny, write(po, tiny.parent / "mam.po"))
    assert report.unknown[:3] == ["nosuchtopic:title", "asylum:page9", "system:nosuchmessage"]
    assert report.unknown[3].startswith("(no msgctxt)")
    assert report.written == []


def test_pages_must_follow_one_another(tiny):
    po = parse(export(tiny, "mam"))
    fill(po, {"asylum:page2": "TEST-MAM page two {legal_directory} {help_line}", "asylum:title": "TEST-MAM title"})
    report = import_po(tiny, write(po, tiny.parent / "mam.po"))
    assert any("asylum:page2 not imported" in p for p in report.problems)
    data = raw_topic(tiny / "indigenous" / "mam" / "asylum.md")
    assert data["title"] == "TEST-MAM title" and data["pages"] == []
    assert report.translated == 1


def test_an_import_with_errors_left_elsewhere_reports_them(tiny):
    """A reviewed English page over its SMS budget is imported, and the check after import says so."""
    po = parse(export(tiny, "en"))
    fill(po, {"health:page1": "Call {emergency}. " + "Too long for one reply. " * 20})
    report = import_po(tiny, write(po, tiny.parent / "en.po"))
    assert report.written == [tiny / "en" / "health.md"]
    assert any(p.startswith("after import: ") and "health.md" in p for p in report.problems)


def test_a_status_upgrade_keeps_fuzzy_topics_in_draft(tiny):
    draft = tiny / "indigenous" / "mam" / "asylum.md"
    draft.write_text("---\ntitle: TEST-MAM old\nstatus: draft\n---\nTEST-MAM page one\n", encoding="utf-8")
    po = parse(export(tiny, "mam"))
    entries = {m.context: m for m in po if m.id}
    entries["asylum:title"].flags.discard("fuzzy")                  # reviewed; page1 still fuzzy
    entries["asylum:title"].string = "TEST-MAM new"
    report = import_po(tiny, write(po, tiny.parent / "mam.po"), status="reviewed")
    data = raw_topic(draft)
    assert data["status"] == "draft" and data["title"] == "TEST-MAM new" and data["pages"] == ["TEST-MAM page one"]
    assert any("kept as draft" in n for n in report.notes)


# --- non-ASCII and odd characters survive ---------------------------------------------------------

def test_non_ascii_survives_export_and_import(tiny):
    po = parse(export(tiny, "en"))
    values = {
        "asylum:title": "Asilo: ñandú «ꞌ» 🙂 \"quoted\" # not a comment",
        "asylum:label": "Ñ á ꞌ 🙂",
        "asylum:page1": "Línea uno ñ á 🙂\n\nLínea dos: ꞌ, ’, «», — and a tab\there.",
        "asylum:keywords": "señor\nꞌaj\nok🙂\nyes\nnull\n123",
        "system:welcome": "Hola 🙂 ñ á ꞌ {org_name}",
        "system:help": "Línea uno {org_name} {help_line} {help_hours}\nLínea dos ꞌ 🙂",
        "commands:menu": "MENÚ\nÑAÑA\nYES\n#HASH\nA, B",
    }
    fill(po, values)
    report = import_po(tiny, write(po, tiny.parent / "en.po"))
    assert report.problems == [], report.problems
    catalog = catalog_of(tiny)
    topic = catalog.topics["en"]["asylum"]
    assert topic.title == values["asylum:title"] and topic.label == values["asylum:label"]
    assert topic.pages[0] == values["asylum:page1"]
    assert topic.keywords == tuple(values["asylum:keywords"].split("\n"))
    raw = yaml.safe_load((tiny / "en" / "system.yml").read_text(encoding="utf-8"))
    assert raw["welcome"] == values["system:welcome"]
    assert raw["help"].strip() == values["system:help"]
    assert catalog.commands["en"]["menu"] == tuple(values["commands:menu"].split("\n"))
    assert "# System messages (test). Comments must survive an import." in (tiny / "en" / "system.yml").read_text(
        encoding="utf-8")
    # And a second export shows exactly those texts as the current translation.
    again = {m.context: m.string for m in parse(export(tiny, "en")) if m.id}
    assert all(again[k] == v for k, v in values.items())


TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}"), min_size=1,
               max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=TEXT.filter(lambda s: s.strip() and len(s.splitlines()) == 1 and "\x85" not in s),
       page=TEXT.filter(lambda s: s.strip() and all(line.strip() != "---" for line in s.splitlines())),
       word=TEXT.filter(lambda s: any(c.isalnum() for c in s) and len(s.splitlines()) == 1))
def test_any_text_round_trips(tmp_path_factory, title, page, word):
    root = make_tiny(tmp_path_factory.mktemp("any") / "content")
    po = parse(export(root, "mam"))
    fill(po, {"health:title": title, "health:page1": page + " {emergency}", "health:keywords": word,
              "system:stop": page})
    report = import_po(root, write(po, root.parent / "mam.po"), status="reviewed")
    assert report.problems == [], report.problems
    data = raw_topic(root / "indigenous" / "mam" / "health.md")
    assert data["title"] == title.strip()
    assert data["pages"] == ["\n".join((page + " {emergency}").splitlines()).strip()]
    assert data["keywords"] == [word.strip()]
    system = yaml.safe_load((root / "indigenous" / "mam" / "system.yml").read_text(encoding="utf-8"))
    assert system["stop"].strip() == page.strip()
    check = [p for p in check_content(root) if p.severity == "error"]
    assert check == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=TEXT.filter(lambda s: s.strip() and len(s.splitlines()) == 1 and "\x85" not in s),
       message=TEXT.filter(lambda s: s.strip()),
       word=TEXT.filter(lambda s: any(c.isalnum() for c in s) and len(s.splitlines()) == 1),
       example=TEXT.filter(lambda s: s.strip() and len(s.splitlines()) == 1))
def test_any_text_edits_an_existing_file_in_place(tmp_path_factory, title, message, word, example):
    """The English files exist, with comments: every kind of field is replaced in place."""
    root = make_tiny(tmp_path_factory.mktemp("edit") / "content")
    po = parse(export(root, "en"))
    values = {"asylum:title": title, "system:stop": message, "commands:menu": word, "examples:menu": example,
              "asylum:examples": "a first example\n" + example + " (asylum)"}
    if len(title.strip()) <= 24:
        values["sections:border"] = title
    fill(po, values)
    report = import_po(root, write(po, root.parent / "en.po"))
    assert not [p for p in report.problems if not p.startswith("after import")], report.problems
    catalog = load_catalog(root, strict=False)
    assert catalog.topics["en"]["asylum"].title == title.strip()
    assert catalog.topics["en"]["asylum"].examples == ("a first example", (example + " (asylum)").strip())
    assert catalog.system["en"]["stop"] == message.strip()
    assert catalog.commands["en"]["menu"] == (word.strip(),)
    assert catalog.examples["en"]["menu"] == (example.strip(),)
    if "sections:border" in values:
        assert catalog.section_labels["en"]["border"] == title.strip()
    text = (root / "en" / "system.yml").read_text(encoding="utf-8")
    for comment in ("# System messages (test).", "# Names of the menu sections.", "# Words for each command.",
                    "# Messages as people write them."):
        assert comment in text


# --- broken catalogs ------------------------------------------------------------------------------

GOOD_HEADER = 'msgid ""\nmsgstr ""\n"Language: mam\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'


@pytest.mark.parametrize("body, line, words", [
    (GOOD_HEADER + 'msgctxt "asylum:title"\nmsgid "Pedir asilo"\nmsgstr "TEST-MAM\n', 8, "double quotes"),
    (GOOD_HEADER + "this is not a po file\n", 6, "not a .po line"),
    (GOOD_HEADER + 'msgctxt "asylum:title"\nmsgid "a"\nmsgstr "b"\nmsgstr "c"\n', 9, "second msgstr"),
    (GOOD_HEADER + 'msgctxt "asylum:title"\nmsgid "a"\nmsgstr "b"\n\nmsgctxt "asylum:title"\nmsgid "a"\nmsgstr "c"\n',
     11, "second entry"),
    (GOOD_HEADER + 'msgctxt "asylum:title"\nmsgid "a"\n', 7, "without msgstr"),
    (GOOD_HEADER + 'msgstr "b"\n', 6, "second msgstr"),
    (GOOD_HEADER + 'msgid "a"\nmsgctxt "asylum:title"\nmsgstr "b"\n', 7, "out of order"),
    (GOOD_HEADER + 'msgctxt "asylum:title"\nmsgid "a"\nmsgstr "b\\q"\n', 8, "unknown escape"),
    ('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n', 1, "no Language"),
    ('msgid ""\nmsgstr ""\n"Language: xx\\n"\n', 1, "not a language of the content"),
    ('msgid ""\nmsgstr ""\n"Language: es\\n"\n', 1, "source language"),
])
def test_a_broken_po_raises_content_error_with_file_and_line(tiny, body, line, words):
    po_path = tiny.parent / "broken.po"
    po_path.write_text(body, encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        import_po(tiny, po_path)
    problem = caught.value.problems[0]
    assert problem.path == str(po_path) and problem.line == line, str(problem)
    assert words in problem.message
    assert str(po_path) in str(caught.value)


def test_a_po_that_is_not_utf8_is_reported_with_its_line(tiny):
    po_path = tiny.parent / "latin1.po"
    po_path.write_bytes(GOOD_HEADER.encode() + b'msgctxt "asylum:title"\nmsgid "a"\nmsgstr "\xf1"\n')
    with pytest.raises(ContentError) as caught:
        import_po(tiny, po_path)
    assert caught.value.problems[0].line == 8 and "UTF-8" in caught.value.problems[0].message


def test_a_language_with_a_region_is_accepted(tiny):
    po = parse(export(tiny, "en"))
    po.locale = "en_US"
    report = import_po(tiny, write(po, tiny.parent / "en.po"))
    assert report.lang == "en" and report.problems == []


def test_report_lines_summarise(tiny):
    report = ImportReport(written=[tiny / "en" / "asylum.md"], translated=3, fuzzy=["a:title"],
                          untranslated=[f"t{i}:title" for i in range(20)], unknown=["x:y"],
                          problems=["{help_line} missing in asylum:page1 (not imported)"], lang="en",
                          status="reviewed", root=tiny)
    lines = report.lines()
    assert lines[0] == "en: imported 3 translated entries (topic files written as reviewed)"
    assert "wrote content/en/asylum.md" in lines
    assert any(line.startswith("untranslated, not imported (20): t0:title") and "and 8 more" in line for line in lines)
    assert "problem: {help_line} missing in asylum:page1 (not imported)" in lines


def test_an_existing_system_file_is_edited_in_place(tiny):
    path = tiny / "indigenous" / "mam" / "system.yml"
    path.write_text(textwrap.dedent("""\
        # TEST-MAM system messages, written by hand.

        # The greeting.
        welcome: "TEST-MAM welcome {org_name}"
        stop: |
          TEST-MAM stop
        # Command words.
        commands:
          stop: [TESTMAMSTOP]
        """), encoding="utf-8")
    po = parse(export(tiny, "mam"))
    fill(po, {"system:menu_header": "TEST-MAM header", "system:deleted": "TEST-MAM deleted",
              "system:stop": "TEST-MAM stop, reviewed", "commands:menu": "TESTMAMMENU",
              "commands:delete": "TESTMAM DELETE"})
    report = import_po(tiny, write(po, tiny.parent / "mam.po"), status="reviewed")
    assert report.written == [path] and report.problems == []
    assert path.read_text(encoding="utf-8") == textwrap.dedent("""\
        # TEST-MAM system messages, written by hand.

        # The greeting.
        welcome: "TEST-MAM welcome {org_name}"
        menu_header: "TEST-MAM header"
        stop: |
          TEST-MAM stop, reviewed
        deleted: "TEST-MAM deleted"
        # Command words.
        commands:
          menu: [TESTMAMMENU]
          stop: [TESTMAMSTOP]
          delete: [TESTMAM DELETE]
        """)
    load_catalog(tiny)


# --- the format of today: settings per language, sections, examples, comments --------------------

def test_export_comments_give_the_target_languages_value_of_a_setting(tiny):
    """help_hours has one value per language: each catalog shows the one its language gets."""
    english = {m.context: " ".join(m.auto_comments) for m in parse(export(tiny, "en")) if m.id}
    assert "{help_hours} = 9am-5pm (in en; settings.yml has a value per language)" in english["system:help"]
    assert "{help_line} = 1-800-555-0100;" in english["system:help"]
    assert "{first} = the menu label of one topic" in english["system:clarify"]
    mam = {m.context: " ".join(m.auto_comments) for m in parse(export(tiny, "mam")) if m.id}
    assert "{help_hours} = 9 a 17 h (in mam" in mam["system:handoff"]            # Mam falls back to Spanish


def test_the_project_exports_for_english_and_indigenous_languages(project):
    """The real content: every language exports, settings per language included."""
    catalog = catalog_of(project)
    for lang in ("en", "mam", "mixteco"):
        entries = {m.context: m for m in parse(export_po(catalog, lang, project)) if m.id}
        assert {"system:help", "sections:enforcement", "examples:stop", "asylum:examples"} <= set(entries)
        assert "{help_hours} = " in " ".join(entries["system:help"].auto_comments)


def test_sections_and_examples_round_trip(tiny):
    po = parse(export(tiny, "mam"))
    values = {"sections:border": "TEST-MAM frontera ꞌ", "examples:stop": "TEST-MAM ya no\nTEST-MAM 👍 no más",
              "asylum:examples": "TEST-MAM asilo ꞌ\nTEST-MAM: miedo 🙏", "asylum:page1": "TEST-MAM asylum page1"}
    fill(po, values)
    report = import_po(tiny, write(po, tiny.parent / "mam.po"), status="reviewed")
    assert report.problems == [], report.problems
    catalog = load_catalog(tiny)
    assert catalog.section_labels["mam"] == {"border": "TEST-MAM frontera ꞌ"}
    assert catalog.section_label("services", "mam") == "Salud"                  # from Spanish
    assert catalog.examples["mam"]["stop"] == ("TEST-MAM ya no", "TEST-MAM 👍 no más")
    assert catalog.topics["mam"]["asylum"].examples == ("TEST-MAM asilo ꞌ", "TEST-MAM: miedo 🙏")
    again = {m.context: m.string for m in parse(export(tiny, "mam")) if m.id}
    assert all(again[k] == v for k, v in values.items())
    # Unchanged, the same catalog writes nothing.
    assert import_po(tiny, tiny.parent / "mam.po", status="reviewed").written == []


def test_a_comment_in_system_yml_survives_an_import(tiny):
    path = tiny / "en" / "system.yml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('stop: "Done, no more messages."', 'stop: "Done, no more messages."  # carriers require it')
    text = text.replace('urgent_note: "If you are in danger, call {emergency}."\n', "")
    text = text.replace('  language:\n    - "hablame en español"\n', "")
    path.write_text(text, encoding="utf-8")
    po = parse(export(tiny, "en"))
    fill(po, {"sections:border": "Asylum, border", "system:stop": "Done: no more messages.",
              "system:urgent_note": "In danger? Call {emergency}.", "commands:thanks": "THANKS\nTHX",
              "examples:menu": "what topics do u have\nmenu pls", "examples:language": "in english pls"})
    report = import_po(tiny, write(po, tiny.parent / "en.po"))
    assert report.written == [path] and report.problems == [], report.problems
    got = path.read_text(encoding="utf-8")
    for comment in ("# System messages (test). Comments must survive an import.\n\n",
                    "\n\n# Names of the menu sections.\nsections:\n  border: \"Asylum, border\"\n",
                    'stop: "Done: no more messages."  # carriers require it\n',
                    'clarify: "Is it about 1) {first} or 2) {second}? Reply 1 or 2."\n'
                    'urgent_note: "In danger? Call {emergency}."\nnot_understood:',
                    "\n\n# Words for each command.\ncommands:\n", "  thanks: [THANKS, THX]\n\n# Messages as people",
                    '    - "menu pls"\n  stop:\n', '  language:\n    - "in english pls"\n'):
        assert comment in got, comment
    assert got.endswith('  language:\n    - "in english pls"\n')
    load_catalog(tiny)


def test_an_import_rewrites_only_the_lines_it_changes(project):
    """Lists wrapped by hand stay as they are; only the changed message's line differs."""
    path = project / "en" / "system.yml"
    before = path.read_text(encoding="utf-8")
    po = parse(export(project, "en"))
    fill(po, {"system:thanks": "You're welcome! MENU: topics. PERSON: talk to someone. 🙂"})
    report = import_po(project, write(po, project.parent / "en.po"))
    assert report.written == [path], report.problems
    changed = [(a, b) for a, b in zip(before.splitlines(), path.read_text(encoding="utf-8").splitlines()) if a != b]
    assert changed == [(next(line for line in before.splitlines() if line.startswith("thanks:")),
                        'thanks: "You\'re welcome! MENU: topics. PERSON: talk to someone. 🙂"')]


def test_a_language_slug_babel_does_not_know(tiny):
    """Babel refuses a locale with digits; the catalog's Language header is ours to write and read."""
    folder = tiny / "indigenous" / "mam2"
    folder.mkdir()
    (folder / "language.yml").write_text(
        (tiny / "indigenous" / "mam" / "language.yml").read_text(encoding="utf-8").replace("id: mam", "id: mam2")
        .replace("select: [mam, qyool mam]", "select: [mam2]").replace('["Qyool Mam"]', '["Qyool Mam 2"]'),
        encoding="utf-8")
    data = export(tiny, "mam2")
    language = b'"Language: mam2\\n"\n'
    assert language in data
    po = parse(data.replace(language, b""))                  # a tool that reads it with Babel must drop it too
    fill(po, {"asylum:title": "TEST-MAM2 title"})
    po_path = write(po, tiny.parent / "mam2.po")
    po_path.write_bytes(po_path.read_bytes().replace(b'msgstr ""\n', b'msgstr ""\n' + language, 1))
    report = import_po(tiny, po_path)
    assert report.lang == "mam2" and report.written == [folder / "asylum.md"], report.problems


def test_the_translation_commands_of_content_readme_work_as_written(project, tmp_path, monkeypatch):
    """Each `derechos content export-po/import-po` line of content/README.md, run as written."""
    from click.testing import CliRunner

    from bot.cli import main
    readme = (CONTENT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(derechos content (?:export|import)-po\b.*?)(?:\s+#.*)?$", readme, re.M)
    assert len(commands) >= 3 and len(set(commands)) == len(commands) / 2      # the same in English and Spanish
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "REDIS_URL", "DATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONTENT_DIR", str(project))
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.chdir(tmp_path)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    for command in dict.fromkeys(commands):
        result = CliRunner().invoke(main, command.split()[1:], catch_exceptions=False)
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "en.po").is_file() and (tmp_path / "mam.po").is_file()
    assert "no file changed" in result.output                                  # the last one: import-po en.po
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
