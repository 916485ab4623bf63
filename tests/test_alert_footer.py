"""Alerts identify the program and say how to stop (CTIA, issue 14): every alert ends with the
organisation's name and the STOP words, in the recipient's language, counted in the preview's
segments and cost; the wording is each language's system.yml `alert_footer`."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot import sms
from bot.broadcast import Broadcast, footers, plan, text_for, validate
from bot.catalog import load_catalog
from bot.cli import main
from tests.conftest import CONTENT, add_rows


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CONTENT)


def test_the_footer_is_in_the_language_of_the_text(catalog):
    alert = Broadcast(texts={"es": "Taller gratis el sabado.", "en": "Free workshop on Saturday."})
    texts = footers(catalog)
    assert text_for(alert, "es", texts)[0] == "Taller gratis el sabado.\nDerechos. STOP para salir"
    assert text_for(alert, "en", texts)[0] == "Free workshop on Saturday.\nDerechos. Reply STOP to end"
    # An Indigenous language without its own text reads the Spanish text: the Spanish footer with it.
    assert text_for(alert, "mam", texts) == ("Taller gratis el sabado.\nDerechos. STOP para salir", "es")
    # Written once only, and not at all when switched off (ALERT_FOOTER=off).
    already = Broadcast(texts={"es": "Taller.\nDerechos. STOP para salir"})
    assert text_for(already, "es", texts)[0].count("STOP") == 1
    assert text_for(alert, "es", footers(catalog, enabled=False))[0] == "Taller gratis el sabado."


def test_the_footer_takes_the_org_name_from_settings(tmp_path):
    catalog = load_catalog(CONTENT, {"org_name": "Red Migrante"})
    alert = Broadcast(texts={"es": "Hola."})
    assert text_for(alert, "es", footers(catalog))[0] == "Hola.\nRed Migrante. STOP para salir"


def test_the_footer_counts_in_segments_and_cost(catalog):
    text = "a" * 150                                     # one segment alone
    alert = Broadcast(texts={"es": text})
    without = plan(alert, {("es", "sms"): 10})
    with_footer = plan(alert, {("es", "sms"): 10}, footer_texts=footers(catalog))
    assert without.rows[0].segments == 1 and without.segments == 10
    assert with_footer.rows[0].segments == sms.segment_info(text + "\nDerechos. STOP para salir").segments == 2
    assert with_footer.segments == 20


def test_the_length_limit_counts_the_footer(catalog):
    alert = Broadcast(texts={"es": "a" * (sms.TWILIO_BODY_LIMIT - 5)})
    assert validate(alert, set(catalog.languages)) == []
    [problem] = validate(alert, set(catalog.languages), footers(catalog))
    assert "with its footer" in problem


def test_preview_and_send_carry_the_footer(env, redis, runtime):
    from tests.conftest import run_worker
    from bot.importer import ImportRow
    env()
    add_rows(runtime.store, [ImportRow("+13125550161", "sms", "es", ("taller",), (2,)),
                             ImportRow("+13125550162", "sms", "en", ("taller",), (3,))])
    runner = CliRunner()
    created = runner.invoke(main, ["broadcast", "create", "--text", "es=Taller el sabado.", "--text",
                                   "en=Workshop on Saturday.", "--tag", "taller"])
    assert created.exit_code == 0, created.output
    broadcast_id = created.stdout.strip()
    preview = runner.invoke(main, ["broadcast", "preview", broadcast_id]).output
    assert "Taller el sabado.\nDerechos. STOP para salir" in preview
    assert "Workshop on Saturday.\nDerechos. Reply STOP to end" in preview
    assert runner.invoke(main, ["broadcast", "send", broadcast_id, "--yes", "--no-wait"]).exit_code == 0
    run_worker(redis)
    bodies = sorted(e.body for e in runtime.store.outbox.entries())
    assert bodies == ["Taller el sabado.\nDerechos. STOP para salir", "Workshop on Saturday.\nDerechos. Reply STOP to end"]
