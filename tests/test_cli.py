"""The `derechos` command's public contracts (design.md): match, segments, content tools."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot.cli import main


@pytest.fixture
def run(monkeypatch, tmp_path):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "REDIS_URL", "CONTENT_DIR", "DATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    runner = CliRunner()

    def invoke(*args, input=None):
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        return result
    return invoke


def test_match_prints_one_json_object(run):
    result = run("match", "como pido asilo")
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out["intent"] == "asylum" and out["lang"] == "es" and out["score"] > 0
    assert out["hits"] and out["hits"][0]["topic"] == "asylum"


def test_match_reads_stdin_one_object_per_line(run):
    result = run("match", input="STOP\nmy boss won't pay me\nk'iche'\n\n")
    lines = [json.loads(line) for line in result.output.splitlines()]
    # STOP belongs to no language: it never switches the reply language (the default is Spanish).
    assert [(o["intent"], o["lang"]) for o in lines] == [("stop", "es"), ("labor", "en"), ("language", "kiche"),
                                                          ("unknown", "es")]


def test_segments_reports_encoding_as_sent_and_after_policy(run):
    result = run("segments", "¿Cómo pido asilo?")
    assert result.exit_code == 0
    assert "as sent: UCS-2, 1 segment" in result.output
    assert "after SMS policy: GSM-7, 1 segment" in result.output


def test_segments_each_line(run):
    result = run("segments", "--each-line", input="hola\n" + "á" * 71 + "\n")
    first, second = [json.loads(line) for line in result.output.splitlines()]
    assert (first["encoding"], first["segments"]) == ("GSM-7", 1)
    assert (second["encoding"], second["segments"]) == ("UCS-2", 2)
    assert (second["policy"]["encoding"], second["policy"]["segments"]) == ("GSM-7", 1)


def test_content_check_passes_on_the_real_tree(run):
    result = run("content", "check")
    assert result.exit_code == 0 and "content OK" in result.output


def test_content_check_fails_with_file_and_line(run, tmp_path):
    import shutil
    from pathlib import Path
    root = tmp_path / "content"
    shutil.copytree(Path(__file__).resolve().parent.parent / "content", root)
    path = root / "es" / "tps.md"
    path.write_text(path.read_text(encoding="utf-8").replace("status: reviewed", "status: maybe"), encoding="utf-8")
    result = CliRunner().invoke(main, ["content", "check", "--dir", str(root)])
    assert result.exit_code == 1
    assert "content/es/tps.md:" in result.output and "status must be" in result.output
    assert "Traceback" not in result.output


def test_content_stats_reports_coverage(run):
    result = run("content", "stats")
    assert result.exit_code == 0
    assert "mam" in result.output and "100.0%" in result.output and "0.0%" in result.output


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_content_preview_shows_what_the_phone_shows(run, channel):
    result = run("content", "preview", "asylum", "--lang", "es", "--channel", channel)
    assert result.exit_code == 0
    if channel == "sms":
        assert "GSM-7" in result.output and "segment" in result.output
        assert "á" not in result.output.split("]", 1)[1]
    else:
        assert "chars]" in result.output


def test_content_preview_unknown_topic_is_a_one_line_error(run):
    result = CliRunner().invoke(main, ["content", "preview", "nope"])
    assert result.exit_code == 2 and "unknown topic" in result.output and "Traceback" not in result.output


def test_broadcast_from_the_command_line(env, redis, tmp_path):
    """Organizer flow, dry-run: import, create, preview, send, status, with the audit trail."""
    from tests.conftest import run_worker
    env(DERECHOS_ORGANIZER="luis")
    csv = tmp_path / "people.csv"
    csv.write_text("numero;idioma;etiquetas\n+1 312 555 0101;es;chicago\n+1 312 555 0102;en;chicago\n"
                   "not a number;es;chicago\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["subscribers", "import", str(csv)])
    assert result.exit_code == 0 and "imported 2 new" in result.output and "rejected and not imported" in result.output
    assert "line 4" in result.output and "0101" not in result.output
    assert runner.invoke(main, ["subscribers", "count", "--tag", "chicago"]).output.strip() == "2"
    result = runner.invoke(main, ["broadcast", "create", "--text", "es=Clinica el {date}.", "--text",
                                  "en=Clinic on {date}.", "--tag", "chicago", "--when", "2026-12-05"])
    assert result.exit_code == 0, result.output
    broadcast_id = result.stdout.strip()
    assert "audience: SMS and WhatsApp" not in result.stdout and "tags chicago" in result.output
    preview = runner.invoke(main, ["broadcast", "preview", broadcast_id]).output
    assert "total" in preview and "5 de diciembre de 2026" in preview and "December 5, 2026" in preview
    result = runner.invoke(main, ["broadcast", "send", broadcast_id, "--yes", "--no-wait"])
    assert result.exit_code == 0, result.output
    run_worker(redis)
    status = json.loads(runner.invoke(main, ["broadcast", "status", broadcast_id, "--json"]).output)
    assert status["status"] == "sent" and status["figures"]["sent"] == 2
    bad = runner.invoke(main, ["broadcast", "create", "--text", "en=only english"])
    assert bad.exit_code == 1 and "Spanish" in bad.output and "Traceback" not in bad.output
