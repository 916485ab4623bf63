"""Why a YAML text cannot be read, said in words a content editor can act on, in English and Spanish,
at the line where the mistake starts.

PyYAML reports where its parser gave up, in parser words ("expected <block end>, but found
'<scalar>'"), often many lines after the mistake: a quote opened on line 2 is closed by the next
quote in the file, and the error shows there. `explain` looks at the text around the error for the
mistakes editors make (an unclosed quote, a tab, no space after a colon, an unclosed bracket, an
indentation slip, list items mixed with fields, a text that must be quoted) and, where it can, checks
its guess by mending the line and parsing again. Pure: no files, no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

_KEY = re.compile(r"""(?P<key>[^\s#'"\-?:,\[\]{}][^#]*?|"[^"]*"|'[^']*'):(?:\s+|$)""")
_NO_SPACE_AFTER_COLON = re.compile(r"""^\s*(?:-\s+)*[A-Za-z_][\w-]*:(?![\s/]|$)""")
_NO_SPACE_AFTER_DASH = re.compile(r"^\s*-[^\s\-]")


@dataclass(frozen=True)
class Mistake:
    """One YAML mistake: where it starts (0-based line of the text) and what to do, in both languages."""

    line: int
    en: str
    es: str


def explain(text: str, exc: yaml.YAMLError) -> Mistake:
    """The likely mistake behind a PyYAML error, at the line where it starts."""
    try:   # libyaml (CSafeLoader) words its errors differently: read them as the pure-Python reader says them
        yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as pure:
        exc = pure
    lines = text.split("\n")
    problem = str(getattr(exc, "problem", "") or "")
    context = str(getattr(exc, "context", "") or "")
    p_mark = getattr(exc, "problem_mark", None)
    c_mark = getattr(exc, "context_mark", None)
    at = p_mark.line if p_mark is not None else (c_mark.line if c_mark is not None else 0)
    at = min(max(at, 0), max(len(lines) - 1, 0))
    for finder in (_tab, _quoted_context, _unclosed_quote, _text_after_quote, _flow, _simple_key,
                   _mapping_values, _block_end, _special_start):
        found = finder(lines, text, problem, context, at, c_mark)
        if found is not None:
            return found
    return Mistake(at, "this line cannot be read: check its quotes, its colons and the spaces at the start of it "
                       "and of the line above; a text with symbols goes in quotes",
                   "no se puede leer esta línea: revisa sus comillas, los dos puntos y los espacios al principio de "
                   "esta línea y de la anterior; un texto con símbolos va entre comillas")


# --- reading one line ----------------------------------------------------------------------------

def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _value(line: str) -> tuple[str, bool]:
    """The value part of a line (after the indentation, '- ' and 'name: '), and whether it is a list item."""
    rest, item = line.strip(), False
    while rest.startswith("- ") or rest == "-":
        rest, item = rest[1:].lstrip(), True
    match = _KEY.match(rest)
    if match:
        rest = rest[match.end():]
    return rest, item


def _closing(value: str) -> int | None:
    """Where the quote that opens `value` closes, or None when it does not close on this line."""
    quote, i = value[0], 1
    while i < len(value):
        ch = value[i]
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if quote == "'" and value[i + 1:i + 2] == "'":
                i += 2
                continue
            return i
        i += 1
    return None


def _parses(text: str) -> int | None:
    """None when the text reads as YAML; else the line where the reader stops."""
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return mark.line if mark is not None else 0
    except yaml.YAMLError:
        return 0
    return None


def _meaningful(lines: list[str], before: int) -> int | None:
    """The last line before `before` that is neither blank nor a comment."""
    for i in range(min(before, len(lines)) - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            return i
    return None


# --- the mistakes, most certain first ------------------------------------------------------------

def _tab(lines, text, problem, context, at, c_mark):
    if "\\t" not in problem and "\t" not in problem:
        return None
    line = next((i for i, ln in enumerate(lines[:at + 1]) if "\t" in ln[:len(ln) - len(ln.lstrip())]), at)
    return Mistake(line, "use spaces, not a tab, at the start of the line (two spaces per level)",
                   "usa espacios, no un tabulador, al principio de la línea (dos espacios por nivel)")


_UNCLOSED = ("a quote is opened and never closed: close it at the end of the text ({q}...{q})",
             "se abre una comilla que nunca se cierra: ciérrala al final del texto ({q}...{q})")


def _quoted_context(lines, text, problem, context, at, c_mark):
    if "quoted scalar" not in context or c_mark is None:
        return None
    value, _ = _value(lines[c_mark.line])
    quote = value[:1] if value[:1] in "\"'" else '"'
    return Mistake(c_mark.line, _UNCLOSED[0].format(q=quote), _UNCLOSED[1].format(q=quote))


def _unclosed_quote(lines, text, problem, context, at, c_mark):
    """The first line, up to where the reader stopped, whose quoted value does not close on it; the
    guess counts only if closing the quote there lets the reader go further."""
    for i in range(min(at, len(lines) - 1) + 1):
        value, _ = _value(lines[i])
        if value[:1] not in ("'", '"') or _closing(value) is not None:
            continue
        mended = lines[:i] + [lines[i].rstrip() + value[0]] + lines[i + 1:]
        stops = _parses("\n".join(mended))
        if stops is None or stops > at:
            return Mistake(i, _UNCLOSED[0].format(q=value[0]), _UNCLOSED[1].format(q=value[0]))
    return None


def _text_after_quote(lines, text, problem, context, at, c_mark):
    value, _ = _value(lines[at])
    if value[:1] not in ("'", '"'):
        return None
    end = _closing(value)
    if end is None:
        return None
    after = value[end + 1:].split(" #", 1)[0].strip()
    if not after:
        return None
    if after.startswith(","):
        return _list_in_brackets(at)
    return Mistake(at, "the text goes on after its closing quote: put all of the text inside the quotes; for a "
                       "quote inside the text use the other kind (\"it's\", 'dijo \"no\"')",
                   "el texto sigue después de la comilla que lo cierra: pon todo el texto entre las comillas; para "
                   "una comilla dentro del texto usa la otra clase (\"it's\", 'dijo \"no\"')")


def _flow(lines, text, problem, context, at, c_mark):
    opener = "[" if "flow sequence" in context else "{" if "flow mapping" in context else None
    if opener is None or c_mark is None:
        return None
    closer = "]" if opener == "[" else "}"
    line = lines[c_mark.line]
    if line.count(opener) > line.count(closer):
        return Mistake(c_mark.line, f"a {opener} is opened and never closed: end the list with {closer} on the same "
                                    f"line, or put the text in quotes if it is not a list",
                       f"se abre un {opener} que nunca se cierra: termina la lista con {closer} en la misma línea, o "
                       "pon el texto entre comillas si no es una lista")
    return Mistake(c_mark.line, f"inside {opener} {closer} the items are separated by commas; an item that has a "
                                "colon or a comma must be in quotes",
                   f"dentro de {opener} {closer} los elementos van separados por comas; un elemento con dos puntos "
                   "o una coma va entre comillas")


def _simple_key(lines, text, problem, context, at, c_mark):
    if "simple key" not in context or c_mark is None:
        return None
    i, line = c_mark.line, lines[c_mark.line]
    if _NO_SPACE_AFTER_COLON.match(line):
        return Mistake(i, "put a space after the colon: 'name: value', not 'name:value'",
                       "pon un espacio después de los dos puntos: 'nombre: valor', no 'nombre:valor'")
    if _NO_SPACE_AFTER_DASH.match(line):
        return Mistake(i, "put a space after the dash of a list item: '- asilo', not '-asilo'",
                       "pon un espacio después del guion de la lista: '- asilo', no '-asilo'")
    return Mistake(i, "this line is neither 'name: value' nor a list item '- ...': if it goes on with the text of "
                      "the line above, put the whole text in quotes on one line",
                   "esta línea no es 'nombre: valor' ni un elemento de lista '- ...': si sigue el texto de la línea "
                   "de arriba, pon todo el texto entre comillas en una sola línea")


_INDENT = ("this line does not start with as many spaces as the lines of its level above it: lines of the "
           "same level start in the same column (count the spaces)",
           "esta línea no empieza con tantos espacios como las de su mismo nivel de arriba: las líneas del mismo "
           "nivel empiezan en la misma columna (cuenta los espacios)")


def _mapping_values(lines, text, problem, context, at, c_mark):
    if "mapping values are not allowed" not in problem:
        return None
    previous = _meaningful(lines, at)
    if previous is not None and _indent(lines[at]) > _indent(lines[previous]) and _value(lines[previous])[0]:
        return Mistake(at, *_INDENT)
    return Mistake(at, "a text that contains ': ' must be in quotes: welcome: \"Hola, soy {org_name}: ...\"",
                   "un texto que tiene ': ' va entre comillas: welcome: \"Hola, soy {org_name}: ...\"")


def _block_end(lines, text, problem, context, at, c_mark):
    if "expected <block end>" not in problem:
        return None
    if "block mapping start" in problem or "block sequence start" in problem:
        return Mistake(at, *_INDENT)
    if "block collection" in context and "<scalar>" in problem:
        return Mistake(at, "a line of a list without its dash: start every item of a list with '- '",
                       "una línea de una lista sin su guion: empieza cada elemento de la lista con '- '")
    if "found ','" in problem and _value(lines[at])[0][:1] in "\"'":
        return _list_in_brackets(at)
    if "found '-'" in problem:
        previous = _meaningful(lines, at)
        if previous is not None and lines[previous].strip().startswith("-") \
                and _indent(lines[previous]) != _indent(lines[at]):
            return Mistake(at, *_INDENT)
        return Mistake(at, "a list item ('- ...') among fields ('name: value'): put the items under their field "
                           "name (keywords:), each with two more spaces",
                       "un elemento de lista ('- ...') entre campos ('nombre: valor'): pon los elementos debajo del "
                       "nombre de su campo (keywords:), cada uno con dos espacios más")
    if "found '?'" in problem and "block collection" in context:
        return Mistake(at, "a field ('name: value') in the middle of a list: every line of a list starts with "
                           "'- '; a new field starts with no more spaces than the field the list belongs to",
                       "un campo ('nombre: valor') en medio de una lista: cada línea de la lista empieza con '- '; "
                       "un campo nuevo no lleva más espacios que el campo al que pertenece la lista")
    value, _ = _value(lines[at])
    if value[:1] in "[{":
        return _must_quote(at, value[0])
    return None


def _list_in_brackets(line: int) -> Mistake:
    return Mistake(line, "several texts on one line, separated by commas, go in brackets: [\"A\", \"B\"]",
                   "varios textos en una línea, separados por comas, van entre corchetes: [\"A\", \"B\"]")


def _must_quote(line: int, symbol: str) -> Mistake:
    return Mistake(line, f"a text that starts with {symbol} must be in quotes: \"{symbol}...\"",
                   f"un texto que empieza con {symbol} va entre comillas: \"{symbol}...\"")


def _special_start(lines, text, problem, context, at, c_mark):
    value, _ = _value(lines[at])
    symbol = value[:1]
    if "sequence entries are not allowed" in problem:
        return _must_quote(at, "-")
    if symbol and symbol in "@`%*&!|>[{" and (
            "cannot start any token" in problem or "alias" in context or "alias" in problem or "anchor" in context
            or "tag" in problem or "block scalar" in context or "directive" in context):
        return _must_quote(at, symbol)
    stray = re.search(r"(?:found|got) (?:character )?'(.)'", problem)
    if stray and stray.group(1) in "[]{},:?`@%&*!|>#'\"" and stray.group(1) in lines[at]:
        ch = stray.group(1)
        return Mistake(at, f"a {ch} that does not belong here (look at this line and at the end of the line above); "
                           "if it is part of the text, put the whole text in quotes",
                       f"un {ch} que no va aquí (mira esta línea y el final de la línea de arriba); si es parte del "
                       "texto, pon todo el texto entre comillas")
    return None


# --- mistakes YAML reads without complaint ------------------------------------------------------

def slips(text: str, node, first_line: int = 1) -> list[Mistake]:
    """Mistakes in a text YAML could read, where what it read is not what the editor meant: a name
    written twice in one block (only the last one would count), and list items with no space after
    the dash (they read as one long text)."""
    lines = text.split("\n")
    found: list[Mistake] = []
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in current.value:
                name = str(key.value)
                line = key.start_mark.line
                if isinstance(key, yaml.ScalarNode) and name in first:
                    other = first_line + first[name]
                    found.append(Mistake(line, f"'{name}' is written twice in the same block (also on line {other}): "
                                               "only the last one would count; keep one",
                                         f"'{name}' está escrito dos veces en el mismo bloque (también en la línea "
                                         f"{other}): solo contaría el último; deja uno"))
                first.setdefault(name, line)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.ScalarNode) and not current.style \
                and current.end_mark.line > current.start_mark.line:
            for i in range(current.start_mark.line + 1, min(current.end_mark.line + 1, len(lines))):
                if _NO_SPACE_AFTER_DASH.match(lines[i]) or lines[i].strip() == "-":
                    found.append(Mistake(current.start_mark.line,
                                         "these lines read as one text, not as a list: put a space after each dash "
                                         "('- asilo', not '-asilo')",
                                         "estas líneas se leen como un solo texto, no como una lista: pon un espacio "
                                         "después de cada guion ('- asilo', no '-asilo')"))
                    break
    return sorted(found, key=lambda m: m.line)

