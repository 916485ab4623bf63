"""Reading an organizer's CSV of subscribers, every row checked before anything is stored.

Pure: reads text, imports no Flask, Redis or Twilio. `read_subscribers_csv` returns the valid rows
(normalised, duplicates merged) and every problem found, each with its CSV line, so an organizer
fixes the file in one pass; the caller stores the valid rows in one transaction, or nothing.

What it accepts, because that is what organizers export:

- UTF-8 with or without a BOM (Excel's "CSV UTF-8"), UTF-16 when given bytes with a BOM (Excel's
  "Unicode text"); the delimiter is sniffed from the header: comma, semicolon (Excel in Spanish
  locales) or tab. Open files with ``encoding="utf-8-sig", newline=""`` or pass the raw bytes.
- A header row whose names are matched without regard to case, accents or spacing, in Spanish or
  English (see `COLUMN_ALIASES`). Unknown columns are ignored and listed in `ignored_columns`.
- Numbers with spaces, dashes, dots, parentheses, a leading + or 00, and a ``whatsapp:`` prefix.

Privacy: a rejection reason never contains the phone number, nor any digit of the values it
quotes (digits are shown as #), because these reports are logged and shown on screens.
"""
from __future__ import annotations

import csv
import functools
import io
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, TextIO

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

from .addresses import SMS, WHATSAPP, fold_mexican_national
from .errors import DerechosError
from .text import strip_accents

PROGRESS_EVERY = 1000
MAX_TAG_LENGTH = 64
DELIMITERS = (",", ";", "\t")
TAG_SEPARATORS = re.compile(r"[;,|]")

# Header names, compared after `_key` (lowercase, no accents, punctuation as single spaces).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "number": ("number", "phone", "telefono", "numero", "celular", "whatsapp", "phone number", "mobile",
               "cell", "numero de telefono", "numero de celular", "whatsapp number", "numero de whatsapp"),
    "channel": ("channel", "canal"),
    "lang": ("lang", "language", "idioma", "lengua"),
    "tags": ("tags", "tag", "etiquetas", "etiqueta"),
    "region": ("region", "country", "pais", "country code", "codigo de pais"),
}
# A number column with one of these names makes WhatsApp the default channel of its rows.
WHATSAPP_NUMBER_COLUMNS = {"whatsapp", "whatsapp number", "numero de whatsapp"}
_ALIAS_TO_FIELD = {alias: name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}

CHANNELS = {"sms": SMS, "text": SMS, "texto": SMS, "whatsapp": WHATSAPP, "wa": WHATSAPP, "whats app": WHATSAPP}

# Language names people write in a spreadsheet, by language id (compared after `_compact`). An alias
# only counts when its id is among the caller's languages; the ids themselves always count.
LANGUAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "es": ("espanol", "spanish", "castellano"),
    "en": ("english", "ingles"),
    "mixteco": ("mixtec",),
    "zapoteco": ("zapotec",),
    "triqui": ("trique",),
    "maya": ("yucatec maya", "maya yucateco", "yucateco"),
    "kiche": ("quiche",),
    "qanjobal": ("kanjobal",),
}

# Countries people write by name in a region column (besides two-letter codes like MX).
REGION_NAMES = {
    "mexico": "MX", "guatemala": "GT", "honduras": "HN", "el salvador": "SV", "salvador": "SV",
    "nicaragua": "NI", "costa rica": "CR", "panama": "PA", "belice": "BZ", "belize": "BZ",
    "colombia": "CO", "venezuela": "VE", "ecuador": "EC", "peru": "PE", "cuba": "CU", "haiti": "HT",
    "republica dominicana": "DO", "dominican republic": "DO", "canada": "CA", "brasil": "BR", "brazil": "BR",
    "estados unidos": "US", "united states": "US", "usa": "US", "eeuu": "US", "ee uu": "US", "eua": "US",
}

_WHATSAPP_PREFIX = re.compile(r"\s*whats\s*app\s*:\s*", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"[\d\s+().\-/]+")
_EXCEL_EXPONENT = re.compile(r"\d+(?:[.,]\d+)?\s*[eE]\s*\+?\s*\d+")
_NON_DIGITS = re.compile(r"\D+")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_DIGIT = re.compile(r"\d")
_LOCALE = re.compile(r"([a-z]{2,3})[-_][a-z]{2}")


class CsvFormatError(DerechosError, ValueError):
    """The file as a whole cannot be read (no header, no number column, not text); one line."""


@dataclass(frozen=True)
class ImportRow:
    """One subscriber, ready to store."""

    address: str            # E.164 ("+525512345678"), or "whatsapp:+E.164" for WhatsApp
    channel: str            # "sms" | "whatsapp"
    lang: str               # a language id from the caller's `languages`
    tags: tuple[str, ...]   # normalised (lowercase ASCII letters, digits and -), sorted, no repeats
    lines: tuple[int, ...]  # CSV lines (header = 1) that made this row; several when duplicates merged


@dataclass(frozen=True)
class Rejected:
    """One problem in one row; a row with several problems has several entries."""

    line: int       # the CSV line where the row starts (header = 1)
    reason: str     # never contains the phone number
    field: str      # "number", "channel", "lang", "tags", "region", or "row" for the row as a whole


@dataclass
class ImportResult:
    rows: list[ImportRow]
    rejected: list[Rejected]
    duplicates_merged: int
    total_lines: int                    # lines read, header and blank lines included
    ignored_columns: list[str] = field(default_factory=list)   # header names not used, as written
    columns: dict[str, str] = field(default_factory=dict)      # field -> header name used for it
    fictional: int = 0                  # +1 NPA 555-01xx numbers accepted (development only)

    @property
    def rejected_lines(self) -> list[int]:
        """The lines of rejected rows, each once."""
        return sorted({r.line for r in self.rejected})

    def summary(self) -> str:
        """One line for a screen or a log.

        >>> ImportResult([], [Rejected(3, "x", "lang"), Rejected(3, "y", "tags")], 56, 5).summary()
        '0 subscribers ready (56 duplicates merged), 1 row rejected'
        """
        n = len(self.rows)
        text = f"{n:,} subscriber{'' if n == 1 else 's'} ready"
        if self.duplicates_merged:
            d = self.duplicates_merged
            text += f" ({d:,} duplicate{'' if d == 1 else 's'} merged)"
        r = len(self.rejected_lines)
        return text + f", {r:,} row{'' if r == 1 else 's'} rejected"


def read_subscribers_csv(stream: TextIO | Iterable[str] | str | bytes, languages: set[str],
                         default_lang: str = "es", default_region: str = "US", extra_tags: Iterable[str] = (),
                         progress: Callable[[int], None] | None = None,
                         allow_fictional: bool = False) -> ImportResult:
    """Read and check a whole subscriber CSV.

    `stream` is an open text file, any iterable of lines, or the whole file as str or bytes.
    Raises CsvFormatError when the file as a whole cannot be used; problems in rows are returned in
    `rejected` instead. Raises ValueError for a bad argument (unknown default language or region).
    `progress(n)` is called each time another 1,000 lines are read, and once at the end.
    `allow_fictional` accepts the North American numbers reserved for fiction (NPA 555-0100 to
    555-0199), which tests and the local chat use; only the dry-run (development) passes it.
    """
    languages = set(languages)
    if default_lang not in languages:
        raise ValueError(f"default language {default_lang!r} is not among the languages")
    default_region = default_region.upper()
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default region {default_region!r}")
    extra: set[str] = set()
    for tag in extra_tags:
        normal = normalize_tag(tag)
        if not normal:
            raise ValueError(f"tag {tag!r} has no letters or digits")
        extra.add(normal)
    lang_names = _language_lookup(languages)

    lines = _text_lines(stream)
    skipped = 0
    header_line = None
    for line in lines:
        if line.startswith("\ufeff"):
            line = line[1:]
        if line.strip():
            header_line = line
            break
        skipped += 1
    if header_line is None:
        raise CsvFormatError("the file is empty: the first line must name the columns, e.g. telefono,idioma,etiquetas")
    delimiter = _sniff(header_line)
    reader = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise CsvFormatError(f"line {skipped + 1}: cannot read the header row ({exc})") from None
    columns, ignored, wa_column = _map_columns(header, skipped + 1)
    index = {name: position for name, (position, _) in columns.items()}
    width = len(header)

    builders: dict[str, _Builder] = {}
    rejected: list[Rejected] = []
    duplicates = fictional = 0
    previous = reader.line_num            # physical lines are offset by `skipped` blank lines
    next_mark = PROGRESS_EVERY
    while True:
        try:
            fields = next(reader)
            error = None
        except StopIteration:
            break
        except csv.Error as exc:
            fields, error = None, str(exc)
        start, end = skipped + previous + 1, skipped + reader.line_num
        previous = reader.line_num
        if progress is not None and end >= next_mark:
            progress(end)
            next_mark = (end // PROGRESS_EVERY + 1) * PROGRESS_EVERY
        if error is not None:
            rejected.append(Rejected(start, f"cannot read this row: {error}", "row"))
            continue
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != width:
            if len(fields) > width and not any(f.strip() for f in fields[width:]):
                fields = fields[:width]
            else:
                where = f" (it runs to line {end}: look for an unmatched quote)" if end > start else ""
                rejected.append(Rejected(start, f"has {len(fields)} fields but the header has {width} columns"
                                                f"{where}", "row"))
                continue
        # A line break inside a field we use is an unmatched quote that swallowed the next rows, not
        # data (a line break in an ignored column, such as notes, is fine).
        spilled = next((name for name, position in index.items()
                        if "\n" in fields[position] or "\r" in fields[position]), None)
        if spilled:
            span = f"lines {start} to {end}" if end > start else "several lines"
            rejected.append(Rejected(start, f"the {spilled} field runs over {span}: look for an unmatched "
                                            f"quote (\")", spilled))
            continue
        problems: list[Rejected] = []

        def reject(field_name: str, reason: str) -> None:
            problems.append(Rejected(start, reason, field_name))

        region = default_region
        if "region" in index:
            raw = fields[index["region"]].strip()
            if raw:
                region = _region(raw)
                if region is None:
                    reject("region", f"unknown region {_show(raw)} (use a country code such as MX, GT or US)")
        raw_number = fields[index["number"]]
        number, reason, prefixed = parse_number(raw_number, region or default_region, allow_fictional)
        fictional += bool(number and allow_fictional and is_fictional(number))
        if reason:
            reject("number", reason)
        channel = WHATSAPP if (prefixed or wa_column) else SMS
        if "channel" in index:
            raw = fields[index["channel"]].strip()
            if raw:
                given = CHANNELS.get(_key(raw))
                if given is None:
                    reject("channel", f"unknown channel {_show(raw)} (use sms or whatsapp)")
                elif given == SMS and prefixed:
                    reject("channel", "the channel says sms but the number starts with whatsapp:")
                else:
                    channel = given
        lang = default_lang
        if "lang" in index:
            raw = fields[index["lang"]].strip()
            if raw:
                found = _language(raw, lang_names)
                if found is None:
                    reject("lang", f"unknown language {_show(raw)}")
                else:
                    lang = found
        tags = set(extra)
        if "tags" in index:
            tags.update(t for t in map(normalize_tag, TAG_SEPARATORS.split(fields[index["tags"]])) if t)
        if problems or number is None:
            rejected.extend(problems)
            continue
        address = ("whatsapp:" + number) if channel == WHATSAPP else number
        builder = builders.get(address)
        if builder is None:
            builders[address] = _Builder(address, channel, lang, tags, [start])
        else:
            duplicates += 1
            builder.tags |= tags
            builder.lines.append(start)
            if builder.lang == default_lang:
                builder.lang = lang

    total = skipped + reader.line_num
    if progress is not None:
        progress(total)
    rows = [ImportRow(b.address, b.channel, b.lang, tuple(sorted(b.tags)), tuple(b.lines))
            for b in builders.values()]
    return ImportResult(rows=rows, rejected=rejected, duplicates_merged=duplicates, total_lines=total,
                        ignored_columns=ignored, columns={name: h for name, (_, h) in columns.items()},
                        fictional=fictional)


@dataclass
class _Builder:
    address: str
    channel: str
    lang: str
    tags: set[str]
    lines: list[int]


# --- phone numbers -------------------------------------------------------------------------------

_FICTIONAL = re.compile(r"^\+1[2-9][0-9]{2}55501[0-9]{2}$")


def is_fictional(number: str) -> bool:
    """A North American number reserved for fiction and tests (NPA 555-0100 to 555-0199).

    >>> is_fictional("+13125550123"), is_fictional("+13125550200")
    (True, False)
    """
    return bool(_FICTIONAL.match(number))


def parse_number(text: str, region: str, allow_fictional: bool = False) -> tuple[str | None, str | None, bool]:
    """(E.164 number or None, reason it was refused or None, whether it had a whatsapp: prefix).

    `region` (e.g. "MX") applies to numbers written without + or 00. The reason never contains a
    digit of the number.

    >>> parse_number("whatsapp:+52 1 (55) 1234-5678", "US")
    ('+525512345678', None, True)
    >>> parse_number("00 502 5123 4567", "US")
    ('+50251234567', None, False)
    >>> parse_number("555 0100", "MX")
    (None, 'not a valid phone number for region MX', False)
    """
    prefixed = False
    match = _WHATSAPP_PREFIX.match(text)
    if match:
        prefixed, text = True, text[match.end():]
    text = text.strip()
    if not text:
        return None, "no phone number", prefixed
    if _EXCEL_EXPONENT.fullmatch(text):
        return None, ("the number was turned into scientific notation (E+) by a spreadsheet: format the "
                      "column as text and export again"), prefixed
    if not _PHONE_CHARS.fullmatch(text):
        return None, "has characters that are not part of a phone number", prefixed
    plus = text.find("+")
    if plus >= 0 and (text.count("+") > 1 or _DIGIT.search(text, 0, plus)):
        return None, "has a + that is not at the start", prefixed
    digits = _NON_DIGITS.sub("", text)
    if not digits.isascii():
        digits = "".join(str(unicodedata.decimal(c)) for c in digits)
    international = plus >= 0
    if not international and digits.startswith("00"):
        international, digits = True, digits[2:]
    if len(digits) < 5:
        return None, "too short to be a phone number", prefixed
    if len(digits) > 17:
        return None, "too long to be a phone number", prefixed
    try:
        number = phonenumbers.parse("+" + digits if international else digits, None if international else region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            return None, ("unknown country code" if international
                          else f"not a valid phone number for region {region}"), prefixed
        if exc.error_type == NumberParseException.TOO_LONG:
            return None, "too long to be a phone number", prefixed
        return None, "too short to be a phone number", prefixed
    if allow_fictional:
        formatted = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        if is_fictional(formatted):
            return formatted, None, prefixed
    if not phonenumbers.is_valid_number(number):
        fixed = _mexican_legacy(number)
        if fixed is None:
            where = phonenumbers.region_code_for_country_code(number.country_code)
            if where in ("ZZ", "001"):
                return None, "not a valid phone number", prefixed
            return None, f"not a valid phone number for region {where}", prefixed
        number = fixed
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), None, prefixed


def _mexican_legacy(number: PhoneNumber) -> PhoneNumber | None:
    """A Mexican number written with a prefix Mexico dropped in 2019-2020, without it, if then valid.

    Mexican mobiles used to be dialled as +52 1 + 10 digits from abroad (044/045 + 10 digits at home),
    and WhatsApp (so Twilio's inbound WhatsApp From) still writes them +521XXXXXXXXXX. Since Mexico's
    2019 plan every number is +52 + 10 digits, and phonenumbers 9 calls the +521 form invalid. We
    store what phonenumbers gives for the number without the prefix: +52 and 10 digits, which is
    also the form Twilio takes for sending. (An inbound WhatsApp from the same phone may arrive as
    whatsapp:+521..., so whatever matches inbound senders to imported subscribers must fold it too.)
    """
    if number.country_code != 52:
        return None
    folded = fold_mexican_national(phonenumbers.national_significant_number(number))
    if folded:
        candidate = PhoneNumber(country_code=52, national_number=int(folded))
        if phonenumbers.is_valid_number(candidate):
            return candidate
    return None


# --- columns, languages, tags --------------------------------------------------------------------

def _make_key(text: str) -> str:
    return _NON_ALNUM.sub(" ", strip_accents(unicodedata.normalize("NFKC", text.replace("\ufeff", ""))).lower()).strip()


# The same few languages, channels and tags come row after row; only short values are cached.
_cached_key = functools.lru_cache(maxsize=4096)(_make_key)


def _key(text: str) -> str:
    """A header name or a short value as compared: 'Teléfono ' -> 'telefono', 'E-mail' -> 'e mail'."""
    return _cached_key(text) if len(text) <= 80 else _make_key(text)


def _compact(text: str) -> str:
    return _key(text).replace(" ", "")


def normalize_tag(text: str) -> str:
    """A tag as stored: lowercase ASCII letters, digits and single dashes.

    >>> normalize_tag(" Mixteco (Guerrero) "), normalize_tag("São Paulo"), normalize_tag("IL")
    ('mixteco-guerrero', 'sao-paulo', 'il')
    """
    return _key(text).replace(" ", "-")[:MAX_TAG_LENGTH].strip("-")


def _show(value: str, limit: int = 30) -> str:
    """A value quoted in a message: digits masked (it may be a misplaced phone number), kept short."""
    value = "".join(c if c.isprintable() else "?" for c in _DIGIT.sub("#", value.strip()))
    if len(value) > limit:
        value = value[:limit - 1] + "…"
    return f"'{value}'"


def _sniff(line: str) -> str:
    """The delimiter that splits the header into the most known column names (then the most columns)."""
    best, best_score = ",", (-1, -1)
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        score = (sum(1 for c in cells if _key(c) in _ALIAS_TO_FIELD), len(cells))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _map_columns(header: list[str], line: int) -> tuple[dict[str, tuple[int, str]], list[str], bool]:
    columns: dict[str, tuple[int, str]] = {}
    ignored: list[str] = []
    for position, name in enumerate(header):
        name = name.replace("\ufeff", "").strip()
        key = _key(name)
        field_name = _ALIAS_TO_FIELD.get(key)
        if field_name is None:
            if name:
                ignored.append(name)
            continue
        if field_name in columns:
            raise CsvFormatError(f"line {line}: columns {_show(columns[field_name][1])} and {_show(name)} both "
                                 f"name the {field_name}; keep one")
        columns[field_name] = (position, name)
    if "number" not in columns:
        if any(len(_NON_DIGITS.sub("", cell)) >= 7 for cell in header):
            raise CsvFormatError(f"line {line} looks like data, not column names: add a first line such as "
                                 f"telefono,idioma,etiquetas")
        found = ", ".join(_show(c) for c in header if c.strip()) or "none"
        raise CsvFormatError(f"line {line}: no phone number column (name it telefono, numero, phone or "
                             f"whatsapp); columns found: {found}")
    wa_column = _key(columns["number"][1]) in WHATSAPP_NUMBER_COLUMNS
    return columns, ignored, wa_column


def _language_lookup(languages: set[str]) -> dict[str, str]:
    names = {}
    for lang in languages:
        for alias in LANGUAGE_ALIASES.get(lang, ()):
            names[_compact(alias)] = lang
    for lang in languages:           # ids win over aliases
        names[_compact(lang)] = lang
    return names


def _language(value: str, names: dict[str, str]) -> str | None:
    """A language id from an id, a name (español, English, Mixtec, K'iche') or a locale (es-MX)."""
    found = names.get(_compact(value))
    if found is None:
        locale = _LOCALE.fullmatch(strip_accents(value.strip()).lower())
        if locale:
            found = names.get(locale.group(1))
    return found


def _region(value: str) -> str | None:
    """A region code from 'MX', 'mx', 'México', '+52' or '52'."""
    key = _key(value)
    code = key.upper()
    if len(code) == 2 and code in phonenumbers.SUPPORTED_REGIONS:
        return code
    if key in REGION_NAMES:
        return REGION_NAMES[key]
    digits = value.strip().removeprefix("+")
    if digits.isascii() and digits.isdigit() and len(digits) <= 3:
        region = phonenumbers.region_code_for_country_code(int(digits))
        if region not in ("ZZ", "001"):
            return region
    return None


# --- reading text --------------------------------------------------------------------------------

def _text_lines(stream) -> Iterator[str]:
    """Lines of text from a text file, an iterable of str or bytes lines, or a whole str or bytes."""
    if isinstance(stream, (bytes, bytearray, memoryview)):
        return iter(io.StringIO(_decode(bytes(stream)), newline=""))
    if isinstance(stream, str):
        return iter(io.StringIO(stream, newline=""))
    return _checked_lines(iter(stream))


def _checked_lines(lines: Iterator) -> Iterator[str]:
    number = 0
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError:
            # A text file decodes in chunks, so the bad byte may be some lines further on.
            where = f" (somewhere after line {number})" if number else ""
            raise CsvFormatError(f"the file is not UTF-8 text{where}: save it as CSV UTF-8") from None
        number += 1
        if isinstance(line, (bytes, bytearray)):
            if number == 1 and line[:2] in (b"\xff\xfe", b"\xfe\xff"):
                yield from io.StringIO(_decode(bytes(line) + b"".join(lines)), newline="")
                return
            try:
                line = bytes(line).decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise CsvFormatError(f"line {number} is not UTF-8 text: save the file as CSV UTF-8") from None
        yield line


def _decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CsvFormatError("the file starts like UTF-16 text but is not: save it as CSV UTF-8") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvFormatError(f"line {line} is not UTF-8 text: save the file as CSV UTF-8") from None
