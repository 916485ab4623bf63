"""Organizers' commands as an organizer reads them (issue 14): tables with --json for scripts, a list
of broadcasts, the organizer's own name in the audit trail, a hand-off someone else has, the audit's
times, and what an import does with rejected rows."""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.importer import ImportRow
from tests.conftest import add_rows, run_worker


@pytest.fixture
def cli(env, redis):
    env()
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, list(args), input=input)
    return run


@pytest.fixture
def people(runtime):
    add_rows(runtime.store, [ImportRow("+13125550171", "sms", "es", ("chicago",), (2,)),
                             ImportRow("+13125550172", "sms", "en", ("chicago",), (3,))])


def create(cli, *extra):
    result = cli("broadcast", "create", "--text", "es=Clinica el sabado.", "--text", "en=Clinic on Saturday.",
                 "--tag", "chicago", *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def test_send_status_and_list_print_tables_and_json_for_scripts(cli, people, redis, phone, runtime):
    broadcast_id = create(cli)
    sent = cli("broadcast", "send", broadcast_id, "--yes", "--no-wait")
    assert sent.exit_code == 0 and "audience: " in sent.output and "total" in sent.output, sent.output
    run_worker(redis)
    # A delivery failure comes back from Twilio with its error code.
    entries = runtime.store.outbox.entries()
    phone.post("/twilio/status", {"MessageSid": entries[0].id, "MessageStatus": "delivered"})
    phone.post("/twilio/status", {"MessageSid": entries[1].id, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    table = cli("broadcast", "status", broadcast_id).output
    assert f"broadcast {broadcast_id}: sent" in table and "audience" in table
    assert "failed with Twilio error 30003" in table and "{" not in table
    report = json.loads(cli("broadcast", "status", broadcast_id, "--json").output)
    assert report["failed_by_error"] == {"30003": 1}
    assert report["figures"]["delivered"] == 1 and report["figures"]["undelivered"] == 1
    listing = cli("broadcast", "list").output
    assert listing.splitlines()[0].split()[:3] == ["id", "status", "created"]
    assert broadcast_id in listing and "Clinica el sabado." in listing
    [row] = json.loads(cli("broadcast", "list", "--json").output)
    assert row["id"] == broadcast_id and row["status"] == "sent"


def test_the_audit_trail_names_the_organizer(cli, people, runtime, monkeypatch):
    create(cli, "--as", "luis")
    monkeypatch.setenv("DERECHOS_ORGANIZER", "ana")
    create(cli)
    who = [entry["who"] for entry in runtime.store.audit.trail(what="broadcast.")]
    assert who == ["ana", "luis"] and "cli" not in who


def test_taking_a_hand_off_someone_else_has_is_refused_without_force(cli, phone, runtime):
    phone.text("PERSONA", sender="+13125550173")
    [item] = runtime.store.handoffs.list(status="open")
    first = cli("handoff", "take", item["id"], "--as", "ana")
    assert first.exit_code == 0 and "+13125550173" in first.output
    again = cli("handoff", "take", item["id"], "--as", "luis")
    assert again.exit_code == 1
    assert "already taken by ana" in again.output and "--force" in again.output and "+1312" not in again.output
    assert cli("handoff", "take", item["id"], "--as", "ana").exit_code == 0          # one's own: fine
    forced = cli("handoff", "take", item["id"], "--as", "luis", "--force")
    assert forced.exit_code == 0
    assert "taken by luis" in cli("handoff", "list", "--status", "taken").output
    takes = [e for e in runtime.store.audit.trail() if e["what"] == "handoff.take"]
    assert [(e["who"], e["forced"]) for e in takes] == [("luis", True), ("ana", False), ("ana", False)]


def test_audit_at_is_when_it_was_done_and_send_at_when_it_goes(cli, people, runtime):
    broadcast_id = create(cli)
    before = time.time()
    result = cli("broadcast", "schedule", broadcast_id, "--at", "2030-01-15 09:00", "--tz", "America/Chicago")
    assert result.exit_code == 0, result.output
    [entry] = [e for e in runtime.store.audit.trail() if e["what"] == "broadcast.schedule"]
    assert before - 5 <= entry["at"] <= time.time() + 5
    assert entry["send_at"] == "2030-01-15T15:00:00+00:00"


def test_an_import_takes_the_valid_rows_and_lists_the_rejected_ones(cli, runtime, tmp_path):
    csv = tmp_path / "lista.csv"
    csv.write_text("telefono,idioma\n+1 312 555 0181,es\nnot a number,es\n+1 312 555 0182,xx\n", encoding="utf-8")
    strict = cli("subscribers", "import", str(csv), "--strict")
    assert strict.exit_code == 1 and "nothing imported" in strict.output
    assert runtime.store.subscribers.count() == 0
    result = cli("subscribers", "import", str(csv))
    assert result.exit_code == 0
    assert "line 3" in result.output and "line 4" in result.output and "0181" not in result.output
    assert "imported 1 new" in result.output and "2 row(s) rejected and not imported" in result.output
    assert runtime.store.subscribers.count() == 1
