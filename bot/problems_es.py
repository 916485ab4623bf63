"""The content checker's messages in Spanish: the editors are Spanish speakers first.

Each entry pairs the English message of a check (fields written <name>) with its Spanish wording; a
field named `what` or `kind` is itself translated. A message with no entry here stays in English
(tests/test_problems_es.py fails when a message of bot/catalog.py has no Spanish). Pure.
"""
from __future__ import annotations

import re
from functools import lru_cache

MESSAGES: tuple[tuple[str, str], ...] = (
    # files and folders
    ("content folder not found", "no se encuentra la carpeta de contenido"),
    ("missing language folder '<lang>'", "falta la carpeta del idioma '<lang>'"),
    ("folder name '<lang>' must be a lowercase ASCII slug",
     "el nombre de la carpeta '<lang>' debe ir en minúsculas, sin acentos ni espacios"),
    ("missing language.yml", "falta el archivo language.yml"),
    ("missing system.yml (welcome, menu, help, stop ... messages)",
     "falta el archivo system.yml (mensajes de bienvenida, menú, ayuda, stop...)"),
    ("not read: topic files end in .md, settings in .yml",
     "no se lee: los archivos de temas terminan en .md y los de ajustes en .yml"),
    ("not UTF-8 text (byte <byte>); save the file as UTF-8",
     "el texto no está en UTF-8 (byte <byte>); guarda el archivo como UTF-8"),
    ("cannot read: <reason>", "no se puede leer: <reason>"),
    ("cannot read YAML: <detail>", "no se puede leer el YAML: <detail>"),
    ("a symbolic link is not allowed in content/: put the real file here",
     "no se permiten enlaces simbólicos en content/: pon aquí el archivo real"),
    # topic files
    ("a topic file starts with a line '---', then its fields, then '---'",
     "un archivo de tema empieza con una línea '---', luego sus campos y otra línea '---'"),
    ("the fields at the top are not closed with a line '---'",
     "los campos de arriba no se cierran con una línea '---'"),
    ("no fields between the '---' lines", "no hay campos entre las líneas '---'"),
    ("the fields at the top must be 'name: value' lines",
     "los campos de arriba deben ser líneas 'nombre: valor'"),
    ("unknown field '<key>' (known: <known>)", "campo desconocido '<key>' (los campos son: <known>)"),
    ("unknown field '<key>'", "campo desconocido '<key>'"),
    ("missing required field '<key>'", "falta el campo obligatorio '<key>'"),
    ("id '<id>' differs from the file name '<name>'", "el id '<id>' no es igual al nombre del archivo '<name>'"),
    ("status must be 'reviewed' or 'draft', not '<status>'",
     "status debe ser 'reviewed' o 'draft', no '<status>'"),
    ("menu must be a whole number from 1, not <value>", "menu debe ser un número entero desde 1, no <value>"),
    ("label must be text of at most <n> characters", "label debe ser un texto de máximo <n> caracteres"),
    ("'<key>' must be a list of texts", "'<key>' debe ser una lista de textos"),
    ("urgent must be true or false", "urgent debe ser true o false"),
    ("no '<key>' date: write when the facts were checked (as_of) and when to check them again (review_by), "
     "as YYYY-MM-DD",
     "falta la fecha '<key>': escribe cuándo se revisaron los datos (as_of) y cuándo revisarlos otra vez "
     "(review_by), como AAAA-MM-DD"),
    ("<key> must be a date written YYYY-MM-DD, not <value>", "<key> debe ser una fecha escrita AAAA-MM-DD, no <value>"),
    ("review_by is before as_of", "review_by es anterior a as_of"),
    ("review_by is more than <n> months after as_of: check facts at least yearly",
     "review_by es más de <n> meses después de as_of: revisa los datos por lo menos una vez al año"),
    ("audio must be a file name under audio/ or an https URL",
     "audio debe ser el nombre de un archivo en audio/ o una dirección https"),
    ("empty page between two '---' lines", "página vacía entre dos líneas '---'"),
    ("no text: write the first reply under the second '---'",
     "no hay texto: escribe la primera respuesta debajo del segundo '---'"),
    # language.yml
    ("language.yml must be 'name: value' lines", "language.yml debe tener líneas 'nombre: valor'"),
    ("id must be '<lang>' (the folder name)", "id debe ser '<lang>' (el nombre de la carpeta)"),
    ("name needs 'es' and 'en' entries", "name necesita las entradas 'es' y 'en'"),
    ("fallback must be '<lang>'", "fallback debe ser '<lang>'"),
    ("'<code>' is not an ISO 639-3 code (3 letters)", "'<code>' no es un código ISO 639-3 (3 letras)"),
    ("select needs at least one word", "select necesita por lo menos una palabra"),
    # system.yml
    ("system.yml must be 'name: text' lines", "system.yml debe tener líneas 'nombre: texto'"),
    ("<key> must map a command to a list of texts", "<key> debe dar a cada comando una lista de textos"),
    ("unknown command '<command>' in <key> (known: <known>)",
     "comando desconocido '<command>' en <key> (los comandos son: <known>)"),
    ("'<command>' needs a list of texts in <key>", "'<command>' necesita una lista de textos en <key>"),
    ("sections must map a section id to its label", "sections debe dar a cada sección (su id) su nombre"),
    ("section label '<label>' is <n> characters; at most <max>",
     "el nombre de sección '<label>' tiene <n> caracteres; máximo <max>"),
    ("'<key>' must be a text", "'<key>' debe ser un texto"),
    ("unknown message '<key>'", "mensaje desconocido '<key>'"),
    ("missing message '<key>' (the menu has sections)", "falta el mensaje '<key>' (el menú tiene secciones)"),
    ("missing message '<key>'", "falta el mensaje '<key>'"),
    ("missing command words for '<command>'", "faltan las palabras del comando '<command>'"),
    ("command word '<word>' has no letters", "la palabra de comando '<word>' no tiene letras"),
    # menu.yml
    ("menu.yml needs 'sections:', a list of '- id: ...' with 'topics: [...]'",
     "menu.yml necesita 'sections:', una lista de '- id: ...' con 'topics: [...]'"),
    ("each section needs an id (lowercase letters, digits, -) and a list of topics",
     "cada sección necesita un id (minúsculas, números, -) y una lista de temas"),
    ("section '<id>' is listed twice", "la sección '<id>' aparece dos veces"),
    ("section '<id>' has <n> topics; at most <max> (a phone menu read aloud must stay short)",
     "la sección '<id>' tiene <n> temas; máximo <max> (un menú leído por teléfono debe ser corto)"),
    ("topic '<tid>' is in no section: add it to one in menu.yml",
     "el tema '<tid>' no está en ninguna sección: agrégalo a una en menu.yml"),
    ("topic '<tid>' is in sections '<first>' and '<second>'",
     "el tema '<tid>' está en las secciones '<first>' y '<second>'"),
    ("section '<id>' names topic '<tid>', which has no file in es/",
     "la sección '<id>' nombra el tema '<tid>', que no tiene archivo en es/"),
    ("no label for section '<id>' under 'sections:'", "falta el nombre de la sección '<id>' en 'sections:'"),
    ("label for section '<id>', which menu.yml does not have",
     "nombre para la sección '<id>', que no está en menu.yml"),
    ("menu: is not used any more (the order comes from content/menu.yml): remove the line",
     "menu: ya no se usa (el orden sale de content/menu.yml): borra la línea"),
    ("menu number <n> is also used by '<tid>'", "el número de menú <n> también lo usa '<tid>'"),
    ("menu number <n> differs from Spanish (<es>)", "el número de menú <n> no es igual al del español (<es>)"),
    # settings.yml
    ("settings.yml must be 'name: value' lines", "settings.yml debe tener líneas 'nombre: valor'"),
    ("setting name '<key>': use lowercase letters, digits, _",
     "nombre de ajuste '<key>': usa minúsculas, números y _"),
    ("setting '<key>': give one text per language, e.g. es: ..., en: ...",
     "ajuste '<key>': da un texto por idioma, por ejemplo es: ..., en: ..."),
    ("setting '<key>' is empty: fill it in settings.yml or DERECHOS_<upper>",
     "el ajuste '<key>' está vacío: llénalo en settings.yml o con DERECHOS_<upper>"),
    # the whole tree
    ("topic '<tid>' exists in <lang> but not in <other>", "el tema '<tid>' existe en <lang> pero no en <other>"),
    ("related topic '<rel>' does not exist", "el tema relacionado '<rel>' no existe"),
    ("<kind> '<word>' has no letters or digits", "<kind> '<word>' no tiene letras ni números"),
    ("<kind> '<word>' is also claimed by topic '<tid>' in <lang>",
     "<kind> '<word>' también es del tema '<tid>' en <lang>"),
    ("unknown placeholder {<name>} (settings: <known>)", "marcador desconocido {<name>} (los ajustes son: <known>)"),
    ("audio URLs must use https", "las direcciones de audio deben usar https"),
    ("audio file '<audio>' not found in <folder>", "no se encuentra el archivo de audio '<audio>' en <folder>"),
    ("audio file '<audio>' must be a real file inside <folder>",
     "el archivo de audio '<audio>' debe ser un archivo real dentro de <folder>"),
    ("audio file '<audio>': use one of <known>", "archivo de audio '<audio>': usa uno de estos tipos: <known>"),
    ("<what> is <n> SMS segments (<enc>, <chars> characters; WhatsApp: <wa> characters); the budget is <budget>: "
     "cut about <over> characters",
     "<what> ocupa <n> SMS (<enc>, <chars> caracteres; WhatsApp: <wa> caracteres); el máximo es <budget>: "
     "quita unos <over> caracteres"),
    ("<what> is over Twilio's <n>-character limit", "<what> pasa el límite de Twilio de <n> caracteres"),
    ("the first reply does not say where to get help: give {help_line}, or the word for a person "
     "(system.yml more_hint usually does it)",
     "la primera respuesta no dice dónde pedir ayuda: pon {help_line} o la palabra para hablar con una persona "
     "(normalmente lo hace more_hint de system.yml)"),
    ("an urgent topic must give a number to call (e.g. {emergency} or {help_line}) in its first SMS "
     "(first 153 characters)",
     "un tema urgente debe dar un número al que llamar (por ejemplo {emergency} o {help_line}) en su primer SMS "
     "(los primeros 153 caracteres)"),
    ("review overdue since <date>: check its facts against the sources, then update as_of and review_by",
     "revisión atrasada desde el <date>: revisa sus datos con las fuentes y luego actualiza as_of y review_by"),
    ("<n> examples; write at least <min> messages as people text them (the bot learns the topic from them)",
     "<n> ejemplos; escribe por lo menos <min> mensajes como los escribe la gente (el bot aprende el tema de ellos)"),
    ("<n> examples for '<intent>'; write at least <min>", "<n> ejemplos para '<intent>'; escribe por lo menos <min>"),
    ("an empty example", "un ejemplo vacío"),
    ("example '<example>' is also an example of '<intent>' (<where>): one message, one intent",
     "el ejemplo '<example>' también es ejemplo de '<intent>' (<where>): un mensaje, una intención"),
    ("'<word>' selects both '<first>' and '<second>'", "'<word>' elige a la vez '<first>' y '<second>'"),
    # the phone line
    ("audio file '<audio>' cannot be played on a phone call (calls play mp3 and wav): callers hear <instead>; "
     "add an mp3 copy",
     "el archivo de audio '<audio>' no se puede reproducir en una llamada (las llamadas reproducen mp3 y wav): "
     "quien llama escucha <instead>; agrega una copia en mp3"),
    ("audio file '<audio>' <problem>", "el archivo de audio '<audio>' <problem>"),
    ("the recording of the language's name <problem>", "la grabación del nombre del idioma <problem>"),
    ("voice: is not used here: the phone line speaks Spanish and English only; this language is heard from "
     "recordings",
     "voice: no se usa aquí: la línea telefónica habla solo español e inglés; este idioma se escucha en "
     "grabaciones"),
    ("voice: has <n> texts but the topic has <pages> pages (one text per page, in order; \"\" keeps a page)",
     "voice: tiene <n> textos pero el tema tiene <pages> páginas (un texto por página, en orden; \"\" deja la "
     "página como está)"),
    ("page <n> said aloud takes about <s> s (<words> words at <rate> a minute); the budget is <budget> s: cut about "
     "<cut> words, or write a shorter text for the phone under voice:",
     "la página <n> leída en voz alta dura unos <s> s (<words> palabras a <rate> por minuto); el máximo es "
     "<budget> s: quita unas <cut> palabras o escribe un texto más corto para el teléfono en voice:"),
    ("phone line: <problem>", "línea telefónica: <problem>"),
)

FRAGMENTS: tuple[tuple[str, str], ...] = (
    # the keypad menus (bot/voice.py keypad_problems); before "page <n>", which would match them too
    ("page <n> of <menu> says <choices> choices; at most <max>", "la página <n> de <menu> dice <choices> opciones; "
     "el máximo es <max>"),
    ("<menu>: some choices have no key", "<menu>: algunas opciones no tienen tecla"),
    ("language '<lang>' cannot be chosen in <menu>", "el idioma '<lang>' no se puede elegir en <menu>"),
    ("topic '<tid>' cannot be reached by keypad (it is in no section of menu.yml)",
     "al tema '<tid>' no se llega con el teclado (no está en ninguna sección de menu.yml)"),
    ("the language menu", "el menú de idiomas"),
    ("the main menu", "el menú principal"),
    ("section '<id>'", "la sección '<id>'"),
    ("the first reply", "la primera respuesta"),
    ("page <n>", "la página <n>"),
    ("the menu (welcome + header + labels + footer)", "el menú (bienvenida + encabezado + nombres + pie)"),
    ("the menu of section '<id>'", "el menú de la sección '<id>'"),
    ("keyword", "la palabra clave"),
    ("phrase", "la frase"),
    # why a recording cannot be used (bot/speech.py audio_problem) and what callers hear instead
    ("is a link: put the real file in the audio/ folder", "es un enlace: pon el archivo real en la carpeta audio/"),
    ("not found", "no se encuentra"),
    ("is not an audio file (its first bytes are not mp3, wav, ogg, amr or m4a)",
     "no es un archivo de audio (sus primeros bytes no son de mp3, wav, ogg, amr ni m4a)"),
    ("is <kind> audio but its name ends in <suffix>: rename it",
     "es audio <kind> pero su nombre termina en <suffix>: cámbiale el nombre"),
    ("cannot be played on a phone call: name it language.mp3 or language.wav",
     "no se puede reproducir en una llamada: llámalo language.mp3 o language.wav"),
    ("that there is no recording yet", "que todavía no hay grabación"),
    ("the text read aloud", "el texto leído en voz alta"),
)

# Fields whose value is itself a phrase of the checker, translated with FRAGMENTS.
TRANSLATED_FIELDS = frozenset({"what", "kind", "problem", "instead", "menu"})

SEVERITY = {"error": "error", "warning": "aviso"}


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"<([a-z_]+)>", template)
    regex, seen = "", set()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        elif part in seen:
            regex += f"(?P={part})"
        else:
            seen.add(part)
            regex += f"(?P<{part}>.*?)"
    return re.compile(regex + r"\Z", re.DOTALL)


@lru_cache(maxsize=None)
def _compiled(table: tuple[tuple[str, str], ...]) -> tuple[tuple[re.Pattern, str], ...]:
    return tuple((_pattern(en), es) for en, es in table)


def _apply(table, text: str) -> str | None:
    for pattern, spanish in _compiled(table):
        match = pattern.match(text)
        if match:
            values = {k: (_apply(FRAGMENTS, v) or v) if k in TRANSLATED_FIELDS else v
                      for k, v in match.groupdict().items()}
            return re.sub(r"<([a-z_]+)>", lambda m: values.get(m.group(1), m.group(0)), spanish)
    return None


def spanish(message: str) -> str | None:
    """The Spanish wording of a checker message, or None when there is none."""
    return _apply(MESSAGES, message)
