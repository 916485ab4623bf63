"""Every message of the content checker has a Spanish wording (the editors are Spanish speakers first)."""
from __future__ import annotations

import ast
from pathlib import Path

from bot.catalog import Problem
from bot.problems_es import spanish

CATALOG = Path(__file__).resolve().parent.parent / "bot" / "catalog.py"


def _sample(node) -> str | None:
    """The message an f-string makes, with every {field} filled with 'x'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sample(node.left), _sample(node.right)
        return None if left is None or right is None else left + right
    return None          # a message passed through (a variable): checked where it is written


def catalog_messages() -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(CATALOG.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and len(node.args) >= 3:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("error", "warn", "problem", "Problem"):
                sample = _sample(node.args[2])
                if sample is not None:
                    found.append((node.lineno, sample))
    return found


def test_every_checker_message_has_spanish():
    messages = catalog_messages()
    assert len(messages) > 60          # the walk finds the checks
    missing = [f"bot/catalog.py:{line}: {text}" for line, text in messages if spanish(text) is None]
    assert not missing, "add these to bot/problems_es.py:\n" + "\n".join(missing)


def test_spanish_keeps_the_values_and_translates_the_parts():
    assert spanish("unknown field 'colour' (known: a, b)") == "campo desconocido 'colour' (los campos son: a, b)"
    message = ("page 2 is 4 SMS segments (GSM-7, 600 characters; WhatsApp: 610 characters); the budget is 3: "
               "cut about 141 characters")
    assert spanish(message) == ("la página 2 ocupa 4 SMS (GSM-7, 600 caracteres; WhatsApp: 610 caracteres); el máximo "
                                "es 3: quita unos 141 caracteres")
    assert spanish("keyword 'asilo' is also claimed by topic 'asylum' in es") == \
        "la palabra clave 'asilo' también es del tema 'asylum' en es"
    assert spanish("something nobody wrote") is None


def test_a_problem_reads_in_either_language():
    problem = Problem("content/es/tps.md", 4, "status must be 'reviewed' or 'draft', not 'maybe'")
    assert problem.text("en") == str(problem) == "content/es/tps.md:4: error: status must be 'reviewed' or 'draft', not 'maybe'"
    assert problem.text("es") == "content/es/tps.md:4: error: status debe ser 'reviewed' o 'draft', no 'maybe'"
    warning = Problem("content/es/tps.md", 5, "review_by is before as_of", "warning")
    assert warning.text("es") == "content/es/tps.md:5: aviso: review_by es anterior a as_of"
    own = Problem("content/es/tps.md", 2, "a quote is opened and never closed", message_es="se abre una comilla")
    assert own.text("es").endswith("error: se abre una comilla")


def _phrases_of(path: Path, function: str) -> list[str]:
    """The phrases a helper of the checker returns or appends (its f-string fields filled with 'x')."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    found = []
    for node in ast.walk(body):
        value = node.value if isinstance(node, ast.Return) else (
            node.args[0] if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "append" else None)
        sample = _sample(value) if value is not None else None
        if sample:
            found.append(sample)
    return found


def test_the_phone_lines_problems_read_in_spanish_whole():
    """The voice checks pass phrases of bot/speech.py and bot/voice.py through: those have Spanish too."""
    bot = CATALOG.parent
    audio = _phrases_of(bot / "speech.py", "audio_problem")
    keypad = _phrases_of(bot / "voice.py", "keypad_problems")
    assert len(audio) >= 4 and len(keypad) >= 4
    for phrase in audio:
        said = spanish(f"audio file 'x.ogg' {phrase}")
        assert said and phrase not in said, phrase
    for phrase in keypad:
        for menu in ("the main menu", "section 'x'"):
            said = spanish("phone line: " + phrase.replace("x choices", "7 choices").replace(" of x ", f" of {menu} "))
            assert said and " choices" not in said and " cannot " not in said and "have no key" not in said, said
