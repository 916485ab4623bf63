"""The subscriber CSV importer: pure, so every case is a tiny CSV string."""
from __future__ import annotations

import io
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.importer import CsvFormatError, ImportResult, ImportRow, Rejected, parse_number, read_subscribers_csv

LANGS = {"es", "en", "mixteco", "zapoteco", "kiche", "purepecha"}


def read(text, **kwargs):
    kwargs.setdefault("languages", LANGS)
    return read_subscribers_csv(io.StringIO(text, newline=""), **kwargs)


def by_address(result: ImportResult) -> dict[str, ImportRow]:
    return {row.address: row for row in result.rows}


def assert_no_digits_in_number_reasons(result: ImportResult) -> None:
    for rejection in result.rejected:
        if rejection.field == "number":
            assert not re.search(r"\d", rejection.reason), rejection


# --- valid rows ------------------------------------------------------------------------------------

def test_sms_and_whatsapp_rows():
    result = read("number,channel,lang,tags\n"
                  "+1 312 555 0123,sms,en,chicago\n"
                  "+52 55 1234 5678,whatsapp,es,cdmx\n"
                  "+502 5123 4567,WA,,\n"
                  "whatsapp:+1 (202) 555-0143,,,\n")
    assert result.rejected == []
    assert result.rows == [
        ImportRow("+13125550123", "sms", "en", ("chicago",), (2,)),
        ImportRow("whatsapp:+525512345678", "whatsapp", "es", ("cdmx",), (3,)),
        ImportRow("whatsapp:+50251234567", "whatsapp", "es", (), (4,)),
        ImportRow("whatsapp:+12025550143", "whatsapp", "es", (), (5,)),
    ]
    assert result.total_lines == 5
    assert result.duplicates_merged == 0
    assert result.columns == {"number": "number", "channel": "channel", "lang": "lang", "tags": "tags"}


def test_a_column_named_whatsapp_makes_whatsapp_the_default_channel():
    result = read("WhatsApp,Canal\n+13125550123,\n+12025550143,sms\n")
    assert [(r.address, r.channel) for r in result.rows] == [
        ("whatsapp:+13125550123", "whatsapp"), ("+12025550143", "sms")]


def test_channel_contradicting_the_whatsapp_prefix_is_rejected():
    result = read("phone,channel\nwhatsapp:+13125550123,sms\n+13125550124,fax\n")
    assert result.rows == []
    assert [(r.line, r.field) for r in result.rejected] == [(2, "channel"), (3, "channel")]
    assert "fax" in result.rejected[1].reason


def test_spanish_headers_semicolons_and_bom():
    text = ("\ufeffTeléfono;Idioma;Etiquetas;Nombre\n"
            "+52 55 1234 5678;Español;Chicago, IL;Ana\n"
            "+1 312 555 0123;Inglés;Texas;Bo\n")
    for result in (read(text), read_subscribers_csv(text.encode("utf-8"), LANGS),
                   read_subscribers_csv(text.encode("utf-8-sig"), LANGS),
                   read_subscribers_csv(io.BytesIO(text.encode("utf-8")), LANGS)):
        assert result.rejected == []
        assert [(r.address, r.lang, r.tags) for r in result.rows] == [
            ("+525512345678", "es", ("chicago", "il")), ("+13125550123", "en", ("texas",))]
        assert result.ignored_columns == ["Nombre"]
        assert result.columns["number"] == "Teléfono"


def test_tab_delimited_utf16_as_excel_unicode_text():
    text = "Celular\tLengua\tRegión\r\n5512345678\tMixteco\tMX\r\n"
    result = read_subscribers_csv(text.encode("utf-16"), LANGS)
    assert [(r.address, r.lang) for r in result.rows] == [("+525512345678", "mixteco")]


def test_header_aliases_ignore_case_accents_and_spacing():
    result = read("  NÚMERO ,LANGUAGE, etiquetas ,País,Notes\n3125550123,EN,x,US,hello\n")
    assert result.columns == {"number": "NÚMERO", "lang": "LANGUAGE", "tags": "etiquetas", "region": "País"}
    assert result.ignored_columns == ["Notes"]
    assert result.rows[0].address == "+13125550123"


# --- numbers ---------------------------------------------------------------------------------------

def test_numbers_without_plus_use_the_default_region():
    result = read("telefono\n(312) 555-0123\n312.555.0124\n", default_region="US")
    assert [r.address for r in result.rows] == ["+13125550123", "+13125550124"]
    result = read("telefono\n55 1234 5678\n", default_region="MX")
    assert [r.address for r in result.rows] == ["+525512345678"]


def test_region_column_applies_to_numbers_without_plus():
    result = read("telefono,region\n"
                  "5512345678,MX\n"
                  "5123 4567,gt\n"
                  "5123 4568,Guatemala\n"
                  "(312) 555-0123,\n"            # blank: the default region
                  "+52 55 1234 5679,GT\n"        # a + number carries its own country
                  "5512345670,+52\n"
                  "5512345671,Narnia\n")
    assert [r.address for r in result.rows] == [
        "+525512345678", "+50251234567", "+50251234568", "+13125550123", "+525512345679", "+525512345670"]
    assert [(r.line, r.field, r.reason) for r in result.rejected] == [
        (8, "region", "unknown region 'Narnia' (use a country code such as MX, GT or US)")]


def test_leading_00_and_separators_are_accepted():
    assert parse_number("00 52 (55) 1234-5678", "US") == ("+525512345678", None, False)
    assert parse_number("0052.55.1234.5678", "GT") == ("+525512345678", None, False)
    assert parse_number("011 52 55 1234 5678", "US") == ("+525512345678", None, False)
    assert parse_number("WhatsApp: +1 312 555 0123", "MX") == ("+13125550123", None, True)
    assert parse_number("+1\u00a0312\u00a0555\u00a00123", "MX")[0] == "+13125550123"   # Excel's no-break spaces


def test_old_mexican_mobile_prefixes_are_folded_to_plus52_and_ten_digits():
    # phonenumbers 9 calls +52 1 ... invalid since Mexico's 2019 numbering plan; WhatsApp still writes it.
    for written, region in (("+5215512345678", "US"), ("whatsapp:+5215512345678", "US"),
                            ("+52 1 55 1234 5678", "US"), ("1 55 1234 5678", "MX"), ("044 55 1234 5678", "MX"),
                            ("045 55 1234 5678", "MX"), ("52 1 55 1234 5678", "MX")):
        assert parse_number(written, region)[:2] == ("+525512345678", None), written
    result = read("telefono,canal\n+52 55 1234 5678,whatsapp\nwhatsapp:+5215512345678,\n")
    assert result.rows == [ImportRow("whatsapp:+525512345678", "whatsapp", "es", (), (2, 3))]
    assert result.duplicates_merged == 1


def test_invalid_numbers_are_rejected_with_their_line_and_without_their_digits():
    result = read("telefono,idioma\n"
                  "+1 312 555 0123,es\n"
                  "555 0100,es\n"                 # too short for the US
                  "\n"
                  "+52 55 1234,es\n"              # too short for Mexico
                  "+999 1234 5678,es\n"           # no such country code
                  "312-555-O123,es\n"             # a letter O
                  "5.21551E+12,es\n"              # Excel's scientific notation
                  "31+25550123,es\n"
                  ",es\n"
                  "1234567890123456789012,es\n", default_region="US")
    assert [r.address for r in result.rows] == ["+13125550123"]
    assert [r.line for r in result.rejected] == [3, 5, 6, 7, 8, 9, 10, 11]
    assert {r.field for r in result.rejected} == {"number"}
    assert_no_digits_in_number_reasons(result)
    reasons = [r.reason for r in result.rejected]
    assert reasons[0] == "not a valid phone number for region US"
    assert reasons[1] == "not a valid phone number for region MX"
    assert reasons[2] == "unknown country code"
    assert "not part of a phone number" in reasons[3]
    assert "scientific notation" in reasons[4]
    assert reasons[6] == "no phone number"


def test_quoted_values_never_show_digits():
    result = read("telefono,idioma,region\n+13125550123,+13125550124,ZZZ9\n")
    assert [r.reason for r in result.rejected] == [
        "unknown region 'ZZZ#' (use a country code such as MX, GT or US)",
        "unknown language '+###########'"]  # a shifted phone number stays private
    for rejection in result.rejected:
        assert "3125550124" not in rejection.reason


# --- languages, tags ------------------------------------------------------------------------------

def test_languages_by_id_name_or_locale_and_unknown_rejected():
    result = read("numero,idioma\n"
                  "+13125550101,es\n+13125550102,English\n+13125550103,INGLÉS\n+13125550104,español\n"
                  "+13125550105,Mixtec\n+13125550106,K'iche'\n+13125550107,Purépecha\n+13125550108,es-MX\n"
                  "+13125550109,frances\n+13125550110,nahuatl\n+13125550111,\n", default_lang="en")
    assert [r.lang for r in result.rows] == ["es", "en", "en", "es", "mixteco", "kiche", "purepecha", "es", "en"]
    assert [(r.line, r.field, r.reason) for r in result.rejected] == [
        (10, "lang", "unknown language 'frances'"),
        (11, "lang", "unknown language 'nahuatl'"),     # a real language, but not among `languages`
    ]


def test_bad_default_arguments_are_value_errors():
    with pytest.raises(ValueError, match="default language"):
        read("numero\n", default_lang="fr")
    with pytest.raises(ValueError, match="region"):
        read("numero\n", default_region="XX")
    with pytest.raises(ValueError, match="tag"):
        read("numero\n", extra_tags=["¡!"])


def test_tags_are_normalised_split_and_sorted():
    result = read('telefono,etiquetas\n+13125550123,"Chicago, IL | Mixteco (Guerrero);; São Paulo;IL"\n')
    assert result.rows[0].tags == ("chicago", "il", "mixteco-guerrero", "sao-paulo")


def test_extra_tags_are_added_to_every_row():
    result = read("telefono,etiquetas\n+13125550123,chicago\n+13125550124,\n",
                  extra_tags=["Marcha 2024", "IL"])
    assert [r.tags for r in result.rows] == [("chicago", "il", "marcha-2024"), ("il", "marcha-2024")]


# --- duplicates ------------------------------------------------------------------------------------

def test_duplicates_are_merged():
    result = read("telefono,idioma,etiquetas\n"
                  "+1 312 555 0123,es,chicago\n"
                  "+13125550124,,\n"
                  "(312) 555-0123,mixteco,il\n"
                  "312.555.0123,zapoteco,chicago;oaxaca\n"
                  "whatsapp:+13125550123,en,\n")         # another channel: another address
    assert result.rows == [
        ImportRow("+13125550123", "sms", "mixteco", ("chicago", "il", "oaxaca"), (2, 4, 5)),
        ImportRow("+13125550124", "sms", "es", (), (3,)),
        ImportRow("whatsapp:+13125550123", "whatsapp", "en", (), (6,)),
    ]
    assert result.duplicates_merged == 2
    assert result.summary() == "3 subscribers ready (2 duplicates merged), 0 rows rejected"


# --- the file as a whole ---------------------------------------------------------------------------

def test_missing_number_column_is_a_format_error_naming_the_columns():
    with pytest.raises(CsvFormatError) as caught:
        read("Nombre;Idioma;Correo\nAna;es;a@example.org\n")
    message = str(caught.value)
    assert "\n" not in message
    assert "no phone number column" in message
    assert "'Nombre', 'Idioma', 'Correo'" in message
    assert isinstance(caught.value, ValueError)


def test_a_file_without_a_header_is_a_format_error_that_shows_no_number():
    with pytest.raises(CsvFormatError, match="looks like data") as caught:
        read("+13125550123,es,chicago\n")
    assert "3125550123" not in str(caught.value)


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff", " \r\n"])
def test_an_empty_file_is_a_format_error(text):
    with pytest.raises(CsvFormatError, match="empty"):
        read(text)


def test_two_number_columns_are_a_format_error():
    with pytest.raises(CsvFormatError, match="'Teléfono' and 'WhatsApp'"):
        read("Teléfono,WhatsApp\n+13125550123,+13125550124\n")


def test_text_that_is_not_utf8_is_a_format_error_with_its_line():
    data = "telefono,idioma\n+13125550123,español\n".encode("cp1252")
    with pytest.raises(CsvFormatError, match="line 2 is not UTF-8"):
        read_subscribers_csv(data, LANGS)
    with pytest.raises(CsvFormatError, match="not UTF-8 text"):
        read_subscribers_csv(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"), LANGS)


def test_blank_lines_and_lines_of_empty_fields_are_skipped_and_counted():
    result = read("\n\ntelefono;idioma\n\n+13125550123;es\n;\n  ;  \n+13125550124;en\n")
    assert [r.lines for r in result.rows] == [(5,), (8,)]
    assert result.rejected == []
    assert result.total_lines == 8


def test_ragged_rows_are_rejected_not_fatal():
    result = read("telefono,idioma,etiquetas\n"
                  "+13125550123,es\n"                        # too few
                  "+13125550124,es,chicago,il\n"            # an unquoted comma in the tags
                  "+13125550125,es,chicago,,\n"             # extra empty fields: harmless
                  "+13125550126,es,\"chicago\n"             # an unmatched quote swallows the rest
                  "+13125550127,es,il\n")
    assert [r.address for r in result.rows] == ["+13125550125"]
    assert [(r.line, r.field) for r in result.rejected] == [(2, "row"), (3, "row"), (5, "tags")]
    assert result.rejected[0].reason == "has 2 fields but the header has 3 columns"
    assert result.rejected[2].reason == 'the tags field runs over lines 5 to 6: look for an unmatched quote (")'
    assert result.total_lines == 6


def test_line_breaks_in_ignored_columns_are_fine_and_lines_stay_right():
    result = read('telefono,notas\n+13125550123,"llamar\nen la tarde"\n+13125550124,\n')
    assert [r.lines for r in result.rows] == [(2,), (4,)]


def test_iterable_of_lines_and_whole_string():
    lines = ["telefono,idioma", "+13125550123,es", "+13125550124,en"]
    assert read_subscribers_csv(lines, LANGS).summary() == "2 subscribers ready, 0 rows rejected"
    assert read_subscribers_csv("\n".join(lines), LANGS).summary() == "2 subscribers ready, 0 rows rejected"
    assert read_subscribers_csv("\r".join(lines), LANGS).summary() == "2 subscribers ready, 0 rows rejected"


def test_progress_every_thousand_lines_and_at_the_end():
    text = "telefono\n" + "".join(f"+1312555{i:04d}\n" for i in range(2500))
    calls = []
    result = read(text, progress=calls.append)
    assert calls == [1000, 2000, 2501]
    assert result.total_lines == 2501


def test_summary():
    rows = [ImportRow(f"+1312555{i:04d}", "sms", "es", (), (i + 2,)) for i in range(1234)]
    rejected = [Rejected(2, "a", "number"), Rejected(2, "b", "lang"), Rejected(9, "c", "lang"),
                Rejected(11, "d", "row")]
    assert ImportResult(rows, rejected, 56, 1300).summary() == \
        "1,234 subscribers ready (56 duplicates merged), 3 rows rejected"
    assert ImportResult(rows[:1], rejected[:1], 1, 3).summary() == \
        "1 subscriber ready (1 duplicate merged), 1 row rejected"
    assert ImportResult([], [], 0, 1).summary() == "0 subscribers ready, 0 rows rejected"


# --- properties ------------------------------------------------------------------------------------

def _never_raises_but_format_errors(source) -> ImportResult | None:
    try:
        result = read_subscribers_csv(source, LANGS)
    except CsvFormatError as exc:
        assert "\n" not in str(exc)
        return None
    for row in result.rows:
        assert re.fullmatch(r"(whatsapp:)?\+[1-9]\d{6,15}", row.address)
        assert row.lang in LANGS and row.channel in ("sms", "whatsapp")
        assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", t) for t in row.tags)
    assert_no_digits_in_number_reasons(result)
    return result


CSV_ALPHABET = st.one_of(st.sampled_from(list(",;\t|\"\n\r +0123456789whatsapp:esMX\ufeff")), st.characters())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_raises_nothing_but_format_errors(text):
    _never_raises_but_format_errors(text)
    _never_raises_but_format_errors(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["telefono,idioma,etiquetas,region,canal\n", "whatsapp;lengua\n", "phone\tlang\n"]),
       st.text(CSV_ALPHABET))
def test_arbitrary_rows_after_a_good_header_raise_nothing(header, body):
    result = _never_raises_but_format_errors(header + body)
    assert result is not None
    assert result.total_lines >= 1


@settings(max_examples=200)
@given(st.lists(st.text(CSV_ALPHABET)), st.binary(max_size=40))
def test_arbitrary_lines_and_bytes_raise_nothing_but_format_errors(lines, data):
    _never_raises_but_format_errors(["telefono,idioma"] + lines)
    _never_raises_but_format_errors(b"telefono,idioma\n" + data)


@given(st.text(st.sampled_from("0123456789 +-.()whatsapp:"), max_size=30), st.sampled_from(["US", "MX", "GT"]))
def test_number_reasons_never_contain_digits(text, region):
    number, reason, _ = parse_number(text, region)
    assert (number is None) == (reason is not None)
    if reason:
        assert not re.search(r"\d", reason)


# --- scale -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_hundred_thousand_rows():
    lines = ["Teléfono;Canal;Idioma;Etiquetas;Región\n"]
    for i in range(100_000):
        if i % 2:
            lines.append(f"+1 (312) {200 + i // 10000:03d}-{i % 10000:04d};sms;en;chicago,il;\n")
        else:
            lines.append(f"55 {i // 10000:04d} {i % 10000:04d};whatsapp;mixteco;oaxaca|mixteco-guerrero;MX\n")
    text = "".join(lines)
    ticks = []
    started = time.perf_counter()
    result = read_subscribers_csv(io.StringIO(text, newline=""), LANGS, progress=ticks.append)
    elapsed = time.perf_counter() - started
    print(f"\n100,000 rows read in {elapsed:.2f} s ({elapsed * 10:.1f} µs a row): {result.summary()}")
    assert result.summary() == "100,000 subscribers ready, 0 rows rejected"
    assert len(ticks) == 101 and ticks[-1] == 100_001
