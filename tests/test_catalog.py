"""The content tree: the real one passes its checks; broken edits are reported with file and line,
and a broken edit during live reload keeps the last good content."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import yaml

from bot.catalog import BASE_LANGS, check_content, coverage, load_catalog
from bot.errors import ContentError
from bot.runtime import LiveContent

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
# The topics of the design notes (editors may add more; none of these may go missing).
TOPICS = ["asylum", "minors", "family", "temporary-work", "labor", "health", "education", "housing", "consulate",
          "indigenous", "daca", "tps", "citizenship", "economy", "about", "ice-encounter", "detained", "court",
          "violence", "injury", "fraud", "trafficking"]
INDIGENOUS = ["mixteco", "zapoteco", "triqui", "nahuatl", "purepecha", "maya", "mam", "kiche", "qanjobal"]


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    return root


def errors(root: Path) -> list[str]:
    return [str(p) for p in check_content(root) if p.severity == "error"]


def test_the_real_content_passes_its_checks():
    assert errors(CONTENT) == []


@pytest.mark.parametrize("lang", BASE_LANGS)
def test_every_topic_exists_in_spanish_and_english(lang):
    catalog = load_catalog(CONTENT)
    assert set(TOPICS) <= set(catalog.topics[lang]) and set(catalog.topics["es"]) == set(catalog.topics["en"])
    for topic in catalog.topics[lang].values():
        assert topic.sources and topic.keywords and topic.pages
        assert "{" not in "".join(topic.pages), "an unfilled placeholder reached the catalog"


@pytest.mark.parametrize("slug", INDIGENOUS)
def test_each_language_file_parses(slug):
    data = yaml.safe_load((CONTENT / "indigenous" / slug / "language.yml").read_text(encoding="utf-8"))
    assert data["id"] == slug and data["fallback"] == "es"
    assert data["name"]["es"] and data["name"]["en"] and data["select"] and data["iso639_3"]
    assert slug in load_catalog(CONTENT).languages


def test_coverage_reports_fallback_for_languages_without_reviewed_text():
    catalog = load_catalog(CONTENT)
    rows = {row["lang"]: row for row in coverage(catalog)}
    assert rows["es"]["reviewed"] == rows["en"]["reviewed"] == len(catalog.topic_ids)
    for slug in INDIGENOUS:
        assert rows[slug]["reviewed"] + rows[slug]["fallback"] == len(catalog.topic_ids)


def test_a_language_with_no_text_falls_back_to_spanish_with_a_notice():
    catalog = load_catalog(CONTENT)
    answer = catalog.answer("asylum", "mam")
    assert answer.fallback and answer.topic.pages == catalog.topics["es"]["asylum"].pages
    notice = catalog.text("fallback_notice", "mam", language=catalog.languages["mam"].display_name("es"))
    assert "Mam" in notice and "INTERPRETE" in notice.upper()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_every_problem_is_reported_at_once_with_file_and_line(tree):
    asylum, health = tree / "es" / "asylum.md", tree / "en" / "health.md"
    edit(asylum, "status: reviewed", "status: reviewed\ncolour: blue")
    edit(health, "title:", "title: Health {no_such_setting}\nold_title:")
    (tree / "en" / "tps.md").unlink()
    found = errors(tree)
    assert any(f"content/es/asylum.md:{line_of(asylum, 'colour')}:" in e and "unknown field 'colour'" in e
               for e in found), found
    assert any("content/en/health.md" in e and "{no_such_setting}" in e for e in found), found
    assert any("content/es/tps.md" in e and "not in en" in e for e in found), found


def test_unparsable_front_matter_gives_the_line(tree):
    path = tree / "es" / "housing.md"
    edit(path, "keywords:", "keywords: [unclosed\nkeywords2:")
    found = errors(tree)
    line = line_of(path, "keywords: [unclosed")
    assert any(e.startswith(f"content/es/housing.md:{line}:") and "a [ is opened and never closed" in e
               for e in found), found


def test_keyword_claimed_by_two_topics(tree):
    path = tree / "es" / "health.md"
    edit(path, "keywords:\n", "keywords:\n  - asilo\n")
    found = errors(tree)
    assert any(f"content/es/health.md:{line_of(path, '- asilo')}:" in e and "asylum" in e for e in found), found


def test_missing_required_field_and_missing_audio(tree):
    edit(tree / "en" / "daca.md", "sources:", "audio: audio/nothing.mp3\nsources_old:")
    found = errors(tree)
    assert any("content/en/daca.md" in e and "missing required field 'sources'" in e for e in found), found
    assert any("content/en/daca.md" in e and "nothing.mp3" in e for e in found), found


def test_page_over_the_segment_budget(tree):
    path = tree / "es" / "labor.md"
    text = path.read_text(encoding="utf-8")
    fields_end = text.index("\n---\n", 4) + len("\n---\n")
    path.write_text(text[:fields_end] + "palabra " * 50 + text[fields_end:], encoding="utf-8")
    found = errors(tree)
    assert any("content/es/labor.md" in e and "SMS segments" in e and "budget" in e for e in found), found


def test_load_catalog_raises_with_every_error(tree):
    edit(tree / "es" / "asylum.md", "urgent: false", "urgent: maybe")
    with pytest.raises(ContentError) as caught:
        load_catalog(tree)
    assert any("asylum.md" in str(p) for p in caught.value.problems)


def test_draft_topics_are_not_served(tree):
    edit(tree / "es" / "asylum.md", "status: reviewed", "status: draft")
    edit(tree / "en" / "asylum.md", "status: reviewed", "status: draft")
    catalog = load_catalog(tree)
    assert "asylum" not in catalog.topic_ids


def test_live_reload_picks_up_an_edit_and_refuses_a_broken_one(tree, caplog):
    live = LiveContent(tree, interval=0)
    before = live.get().catalog.topics["es"]["asylum"].pages[0]
    edit(tree / "es" / "asylum.md", before[:20], "EDITADO " + before[8:20])
    assert live.get().catalog.topics["es"]["asylum"].pages[0].startswith("EDITADO")
    good = live.get()
    edit(tree / "es" / "asylum.md", "status: reviewed", "status: [broken")
    with caplog.at_level(logging.ERROR):
        assert live.get() is good               # the last good content stays live
    assert "content/es/asylum.md:" in caplog.text   # the refusal names the file and line
    assert live.last_error is not None


FROZEN_RELOAD = r"""
import gc, sys, weakref
from pathlib import Path
from bot import heap, runtime
tree = Path(sys.argv[1])
live = runtime.LiveContent(tree, interval=0, train=False)
first = weakref.ref(live.get())
heap.freeze_heap()
tracked = lambda obj: any(o is obj for o in gc.get_objects())
assert not tracked(live.get().matcher)               # frozen: out of the collector's sight
page = tree / "es" / "asylum.md"
page.write_text(page.read_text(encoding="utf-8").replace("status: reviewed", "status: reviewed\n", 1), encoding="utf-8")
assert live.reload_if_changed()
assert not tracked(live.get().matcher)               # the new content is frozen too
assert first() is None                               # and the old one was freed, not kept frozen
print("ok")
"""


def test_a_reload_in_a_frozen_process_freezes_the_new_content_and_frees_the_old(tree):
    """gunicorn's workers freeze their heap once loaded (full collections over the content stalled
    requests); a content edit must not bring those stalls back, nor keep the old content forever."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", FROZEN_RELOAD, str(tree)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
