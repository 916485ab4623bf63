"""WhatsApp lists, buttons and alert templates, pure: which template shape a reply fits, what its
Content API definition is, and the ContentVariables that fill it.

No Flask, Redis or Twilio here (the Twilio adapter sends the definitions; the store keeps their SIDs).

Inside the 24-hour window a reply with numbered choices goes as a list picker (`style="list"`: the menu
and the section menus) or as quick-reply buttons (`style="buttons"`: yes/no questions); what a person
taps comes back by its stable id. One template per language and per shape (a list of n rows, n
buttons, under a text of k lines): everything that changes from one message to the next (the text,
the rows, their ids) is a ContentVariable, so an editor's change to a label shows at once; what stays
is the language and the list's button label, from the language's `whatsapp.yml`. Each line of the text
is its own variable because Twilio refuses a variable that holds a line break (21656). Limits (Twilio's Content API and WhatsApp's
interactive messages): a list has 1 to 10 rows, a row title at most 24 characters, a description at
most 72, an id at most 200; the list's button label at most 20; quick replies in a session at most 3
buttons of at most 20 characters; a body at most 1,024 characters. A reply that does not fit goes as
the numbered text, as on SMS.

Outside the window only an approved template may open a conversation: the alert template is one per
language, a factual utility message around the alert's text (`{{1}}`), submitted for approval as
UTILITY.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from .messages import Reply

LIST, BUTTONS = "list", "buttons"
LIST_MAX_ROWS = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BODY_MAX = 1024
BODY_LINES_MAX = 8          # more lines than that is no menu: it goes as text
ID_MAX = 200
NAME_PREFIX = "derechos_"
ALERT = "alert"
ALERT_CATEGORY = "UTILITY"
# An approved template's variables: WhatsApp refuses a body that starts or ends with one, or two side
# by side; ours has exactly one, the alert's text.
ALERT_VARIABLE = "{{1}}"
_VARIABLE_RE = re.compile(r"\{\{\s*([^}]*)\s*\}\}")


@dataclass(frozen=True)
class Shape:
    """What a template is made for: a list of `rows` rows (with descriptions or not), or `rows` buttons."""

    style: str
    rows: int
    lines: int = 1
    described: bool = False

    @property
    def key(self) -> str:
        """
        >>> Shape(LIST, 8, 3).key, Shape(LIST, 3, 2, described=True).key, Shape(BUTTONS, 2).key
        ('list8_l3', 'list3d_l2', 'buttons2_l1')
        """
        return f"{self.style}{self.rows}{'d' if self.described else ''}_l{self.lines}"


def template_name(kind: str, lang: str) -> str:
    """A template's friendly name (also its WhatsApp name: lowercase letters, digits, underscores).

    >>> template_name("list8_l3", "es"), template_name(ALERT, "en")
    ('derechos_list8_l3_es', 'derechos_alert_en')
    """
    return re.sub(r"[^a-z0-9_]", "_", f"{NAME_PREFIX}{kind}_{lang}".lower())


def shape_of(reply: Reply) -> Shape | None:
    """The shape a reply's choices fit, or None when they go as the numbered text.

    >>> from .messages import Choice
    >>> yes_no = (Choice("yes", "Sí"), Choice("no", "No"))
    >>> shape_of(Reply("¿Seguro?", choices=yes_no, style="buttons"))
    Shape(style='buttons', rows=2, lines=1, described=False)
    >>> shape_of(Reply("Elige:\\n1 A", choices=(Choice("a", "A", "about a"),), style="list")).key
    'list1d_l1'
    >>> shape_of(Reply("x", choices=yes_no * 2, style="buttons")) is None      # 4 buttons: too many
    True
    >>> shape_of(Reply("x", choices=yes_no)) is None, shape_of(Reply("x" * 1025, choices=yes_no, style="list")) is None
    (True, True)
    """
    choices = reply.choices
    ids = [c.id for c in choices]
    if (not choices or len(set(ids)) != len(ids) or any(not i or len(i) > ID_MAX for i in ids)
            or any(not c.title.strip() for c in choices)):
        return None
    lines = body_lines(reply)
    if not lines or len(lines) > BODY_LINES_MAX or len("\n".join(lines)) > BODY_MAX:
        return None
    if reply.style == LIST and len(choices) <= LIST_MAX_ROWS:
        return Shape(LIST, len(choices), len(lines), described=all(c.description.strip() for c in choices))
    if reply.style == BUTTONS and len(choices) <= BUTTONS_MAX:
        titles = [shorten(c.title, BUTTON_TITLE_MAX) for c in choices]
        if len(set(titles)) == len(titles):     # WhatsApp wants every button title different
            return Shape(BUTTONS, len(choices), len(lines))
    return None


def shorten(text: str, limit: int) -> str:
    """Fit a label into a WhatsApp limit, cut at a word when one ends close enough, with an ellipsis.

    >>> shorten("Trabajo", 24), shorten("Salud, escuela y vivienda digna", 24)
    ('Trabajo', 'Salud, escuela y…')
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def list_body(reply: Reply) -> str:
    """The text above a list picker: the reply without its numbered lines (the rows show them).

    >>> from .messages import Choice
    >>> r = Reply("Hola.\\nEscribe un número:\\n1 Trabajo\\n2 Salud\\nSTOP: salir",
    ...           choices=(Choice("section:work", "Trabajo"), Choice("section:health", "Salud")), style="list")
    >>> list_body(r)
    'Hola.\\nEscribe un número:\\nSTOP: salir'
    """
    numbered = {f"{n} {c.title}" for n, c in enumerate(reply.choices, 1)}
    kept = [line for line in reply.body.split("\n") if line.strip() not in numbered]
    return "\n".join(kept).strip() or reply.body


def body_lines(reply: Reply) -> list[str]:
    """The lines of the text above the list or the buttons, each one template variable: no line
    breaks, tabs or long runs of spaces inside one (Twilio's rule), no empty one.

    >>> body_lines(Reply("¿Quieres  salir?\\n\\n\\tResponde BAJA.", style="buttons"))
    ['¿Quieres salir?', 'Responde BAJA.']
    """
    text = list_body(reply) if reply.style == LIST else reply.body
    return [" ".join(line.split()) for line in text.split("\n") if line.strip()]


def _slots(shape: Shape) -> list[tuple[str, str, str | None]]:
    """The variable names of each row: (title, id, description or None); the text's lines come first.

    >>> _slots(Shape(LIST, 2, 1)), _slots(Shape(LIST, 1, 2, described=True))
    ([('2', '3', None), ('4', '5', None)], [('3', '4', '5')])
    """
    width, first = (3 if shape.described else 2), shape.lines + 1
    return [(str(first + width * i), str(first + 1 + width * i),
             str(first + 2 + width * i) if shape.described else None) for i in range(shape.rows)]


def _body(shape: Shape) -> str:
    """
    >>> _body(Shape(LIST, 8, 3))
    '{{1}}\\n{{2}}\\n{{3}}'
    """
    return "\n".join("{{%d}}" % n for n in range(1, shape.lines + 1))


def interactive_definition(shape: Shape, lang: str, iso_lang: str, list_button: str) -> dict:
    """The Content API create request for a shape in one language (`iso_lang`: what Twilio is told).

    >>> d = interactive_definition(Shape(LIST, 2, 2), "es", "es", "Ver opciones")
    >>> d["friendly_name"], d["types"]["twilio/list-picker"]["body"], d["types"]["twilio/list-picker"]["items"][1]
    ('derechos_list2_l2_es', '{{1}}\\n{{2}}', {'item': '{{5}}', 'id': '{{6}}'})
    >>> interactive_definition(Shape(BUTTONS, 2), "es", "es", "")["types"]["twilio/quick-reply"]["actions"][0]
    {'title': '{{2}}', 'id': '{{3}}'}
    """
    samples = {str(n): f"Línea {n} del mensaje" for n in range(1, shape.lines + 1)}
    if shape.style == LIST:
        items = []
        for n, (title, item_id, description) in enumerate(_slots(shape), 1):
            row = {"item": "{{%s}}" % title, "id": "{{%s}}" % item_id}
            samples[title], samples[item_id] = f"Opción {n}", f"option-{n}"
            if description:
                row["description"] = "{{%s}}" % description
                samples[description] = f"Descripción {n}"
            items.append(row)
        types = {"twilio/list-picker": {"body": _body(shape), "button": shorten(list_button, LIST_BUTTON_MAX),
                                        "items": items}}
    else:
        actions = []
        for n, (title, item_id, _) in enumerate(_slots(shape), 1):
            actions.append({"title": "{{%s}}" % title, "id": "{{%s}}" % item_id})
            samples[title], samples[item_id] = f"Opción {n}", f"option-{n}"
        types = {"twilio/quick-reply": {"body": _body(shape), "actions": actions}}
    return {"friendly_name": template_name(shape.key, lang), "language": iso_lang, "variables": samples,
            "types": types}


def content_variables(reply: Reply, shape: Shape) -> dict[str, str]:
    """What fills a shape's template for this reply.

    >>> from .messages import Choice
    >>> r = Reply("¿Quieres dejar de recibir mensajes?", choices=(Choice("yes", "Sí"), Choice("no", "No")),
    ...           style="buttons")
    >>> content_variables(r, shape_of(r))
    {'1': '¿Quieres dejar de recibir mensajes?', '2': 'Sí', '3': 'yes', '4': 'No', '5': 'no'}
    """
    limit = ROW_TITLE_MAX if shape.style == LIST else BUTTON_TITLE_MAX
    values = {str(n): line for n, line in enumerate(body_lines(reply), 1)}
    for choice, (title, item_id, description) in zip(reply.choices, _slots(shape)):
        values[title] = shorten(choice.title, limit)
        values[item_id] = choice.id
        if description:
            values[description] = shorten(choice.description, ROW_DESCRIPTION_MAX)
    return values


def alert_definition(lang: str, iso_lang: str, body: str) -> dict:
    """The Content API create request for the alert template of one language.

    >>> alert_definition("es", "es", "Aviso: {{1}} Responde STOP.")["types"]
    {'twilio/text': {'body': 'Aviso: {{1}} Responde STOP.'}}
    """
    return {"friendly_name": template_name(ALERT, lang), "language": iso_lang,
            "variables": {"1": "Mañana hay una feria de información legal gratuita."},
            "types": {"twilio/text": {"body": body}}}


def alert_problems(body: str) -> list[str]:
    """Why WhatsApp would refuse an alert template's text (every reason, for the editor).

    >>> alert_problems("Aviso de Derechos: {{1}} Responde STOP para no recibir avisos.")
    []
    >>> alert_problems("{{1}}")
    ['the text must hold {{1}} (the alert) between words: WhatsApp refuses a template that starts or ends with a variable']
    >>> alert_problems("Aviso {{2}} y más")
    ['the text must use {{1}} once, where the alert goes, and no other {{...}}']
    """
    problems = []
    names = _VARIABLE_RE.findall(body)
    if [n.strip() for n in names] != ["1"]:
        problems.append("the text must use {{1}} once, where the alert goes, and no other {{...}}")
    elif body.strip().startswith(ALERT_VARIABLE) or body.strip().endswith(ALERT_VARIABLE):
        problems.append("the text must hold {{1}} (the alert) between words: WhatsApp refuses a template "
                        "that starts or ends with a variable")
    if len(body) > BODY_MAX // 2:
        problems.append(f"the text is {len(body)} characters: keep it under {BODY_MAX // 2}, so the alert "
                        f"itself has room (WhatsApp's limit is {BODY_MAX} in all)")
    return problems


def alert_room(body: str) -> int:
    """How many characters of alert text fit into the template.

    >>> alert_room("Aviso: {{1}} Fin.")
    1012
    """
    return BODY_MAX - len(body.replace(ALERT_VARIABLE, ""))


def fingerprint(definition: dict) -> str:
    """What a template was made from: another definition means another (or an updated) template.

    >>> fingerprint({"a": 1, "b": [2]}) == fingerprint({"b": [2], "a": 1})
    True
    """
    text = json.dumps({k: definition.get(k) for k in ("language", "types")}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
