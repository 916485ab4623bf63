"""`derechos content add-examples`: labelled messages become examples, at the end of their intent's
list, without touching anything else in the files; a bad row writes nothing."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.catalog import check_content, load_catalog
from bot.cli import main
from bot.examples import _insert

CONTENT = Path(__file__).resolve().parent.parent / "content"
HEADER = "text\tintent\tlang\tnote\n"


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "REDIS_URL", "DATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONTENT_DIR", str(root))
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    return root


def tsv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def run(*args):
    return CliRunner().invoke(main, ["content", "add-examples", *map(str, args)], catch_exceptions=False)


def test_rows_become_examples_of_their_intent_in_the_language_they_are_written_in(tree, tmp_path):
    before = load_catalog(tree)
    old_labor = (tree / "es" / "labor.md").read_text(encoding="utf-8")
    labelled = tsv(tmp_path / "new.tsv", [
        "mi patron me debe tres semanas de sueldo y no contesta\tlabor\tes\tstory",
        "my boss keeps all my tips, is that legal\tlabor\ten\tsentence",
        "ya no quiero que me manden nada gracias\tstop\tes\tsentence",
        'contestame en mixteco porfa\tlanguage\tmixteco\tcommand',          # written in Spanish
        '"entre comillas" y # un numeral: dos puntos\tlabor\tes\tsentence',
        f"{before.topics['es']['labor'].examples[0].upper()}\tlabor\tes\tdup",   # already there (case aside)
        f"{before.topics['es']['housing'].examples[0]}\tlabor\tes\tdup",          # there, under housing
        "hola buenas\tmenu|thanks\tes\ttwo",
        "una pregunta del conjunto de prueba\thousing\tes\tsentence",
    ])
    skip = tsv(tmp_path / "eval.tsv", ["Una pregunta del conjunto de prueba\thousing\tes\tsentence"])
    result = run(labelled, "--skip", skip)
    assert result.exit_code == 0, result.output
    assert "added 5 example(s) in 3 file(s)" in result.output
    assert "left out 2: already an example" in result.output
    assert "left out 1: a message of a --skip file" in result.output
    assert "left out 1: accepts more than one intent" in result.output
    assert "is an example of 'housing', labelled 'labor'" in result.output

    after = load_catalog(tree)
    es, en = after.topics["es"]["labor"].examples, after.topics["en"]["labor"].examples
    assert es[-2:] == ("mi patron me debe tres semanas de sueldo y no contesta",
                       '"entre comillas" y # un numeral: dos puntos')
    assert en[-1] == "my boss keeps all my tips, is that legal"
    assert after.examples["es"]["stop"][-1] == "ya no quiero que me manden nada gracias"
    assert after.examples["es"]["language"][-1] == "contestame en mixteco porfa"
    assert len(es) == len(before.topics["es"]["labor"].examples) + 2
    # Nothing else in the file moved: the old text is the new one minus the two added lines.
    new_lines = (tree / "es" / "labor.md").read_text(encoding="utf-8").splitlines(keepends=True)
    added = [i for i, line in enumerate(new_lines) if "tres semanas de sueldo y no contesta" in line or "entre comillas" in line]
    assert "".join(line for i, line in enumerate(new_lines) if i not in added) == old_labor
    assert [p for p in check_content(tree) if p.severity == "error"] == []   # (the model's check would train)


def test_an_unknown_intent_names_its_line_and_writes_nothing(tree, tmp_path):
    labelled = tsv(tmp_path / "bad.tsv", ["mi patron no me paga\tlabor\tes\tok",
                                          "donde queda la playa\tbeach\tes\tbad"])
    before = digest(tree)
    result = run(labelled)
    assert result.exit_code == 1
    assert "bad.tsv:3" in result.output and "unknown intent 'beach'" in result.output
    assert "Traceback" not in result.output
    assert digest(tree) == before


def test_a_dry_run_reports_and_writes_nothing(tree, tmp_path):
    labelled = tsv(tmp_path / "new.tsv", ["mi patron me debe tres semanas de sueldo y no contesta\tlabor\tes\tstory"])
    before = digest(tree)
    result = run(labelled, "--dry-run")
    assert result.exit_code == 0 and "added 1 to es/labor.md" in result.output
    assert digest(tree) == before


def test_a_file_without_the_header_is_refused(tree, tmp_path):
    path = tmp_path / "nohead.tsv"
    path.write_text("mi patron no me paga\tlabor\tes\n", encoding="utf-8")
    result = run(path)
    assert result.exit_code == 1 and "header" in result.output


def test_new_items_go_after_a_last_item_that_spans_lines_and_keep_its_indentation(tmp_path):
    path = tmp_path / "system.yml"
    path.write_text('examples:\n  stop:\n    - "uno"\n    - "dos muy largo que\n      sigue aqui"\n'
                    '    # un comentario\n  start:\n    - "tres"\n', encoding="utf-8")
    _insert(path, [(4, ["nuevo"]), (8, ["otro"])])
    assert path.read_text(encoding="utf-8") == (
        'examples:\n  stop:\n    - "uno"\n    - "dos muy largo que\n      sigue aqui"\n    - "nuevo"\n'
        '    # un comentario\n  start:\n    - "tres"\n    - "otro"\n')
