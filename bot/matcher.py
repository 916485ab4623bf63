"""Understanding a message: which command or topic it asks for, and in which language.

Declarations are data (keywords, phrases and command words all come from the content catalog),
scorers are pure, and one ranker decides. The index is built once per catalog load.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein

from .catalog import Catalog
from .stems import LANGS as STEMMED, stem
from .text import tokens

# Words that may surround a command without changing it ("stop please", "baja por favor",
# "necesito ayuda", "can you help me"). A command is still only the whole message.
POLITE = frozenset("""por favor porfavor please pls plz gracias thanks thank you ok okay ya pues quiero quisiera
    necesito puedo pueden me mi mis i want would like need to can a un una el la los las de del al my the now
    ahora oye hey yo just""".split())
# Words that may surround a language name ("en español", "I speak Mam", "idioma mixteco").
LANGUAGE_FRAME = frozenset(
    "en in hablo hablas hablan speak speaks i idioma language lengua quiero want habla mi my is es el la de del a to "
    "change cambiar switch prefiero prefer puedes can you".split()) | POLITE
NUMBER_FRAME = frozenset("el la opcion option numero number num no nr tema topic la del de".split()) | POLITE
# Words that may surround a topic's name ("lo de vivienda porfa", "info sobre asilo", "the housing one").
TITLE_FRAME = frozenset("""lo de del sobre acerca info informacion information about on tema topic saber know
    mas more el la los las the one ese esa eso that""".split()) | POLITE
# Function words: they tell the language, and weigh nothing as keywords.
STOPWORDS = {
    "es": frozenset("""que de la el en y a los las un una por para con no se me mi mis si como cuando donde
        quien porque pero lo le les su sus es esta estoy son soy hay tengo tiene tienen puedo puede pueden
        quiero hacer ser al del yo tu usted ellos nos nosotros muy mas ya o u este esta eso esto algo
        tambien sin sobre hasta desde entre qué cómo dónde necesito saber ayudar hola buenas dias tardes""".split()),
    "en": frozenset("""the a an and or of to in on for with is are am was be been do does did can could
        will would should my your our their his her i you we they he she it me us them what how when where
        who why which if not no yes this that there here have has had get got need want know about from
        at by as so just any some please thanks hello hi""".split()),
}
MIN_SCORE = 2.0          # below this, `unknown`: better to offer the menu than a wrong topic
# The intent model's decisions (tuned by cross-validation and on eval, holdout and blind-a; see
# bench/README.md): below MIN_PROBABILITY the answer is `unknown`; an opt-out is carried out at
# STOP_SURE, asked about ("Do you want to stop? Reply STOP") from STOP_ASK; a delete request needs
# DELETE_SURE, and is asked about from DELETE_ASK; two topics within CLARIFY_MARGIN of each other (and both above CLARIFY_MIN) get a question.
MIN_PROBABILITY = 0.15
STOP_SURE, STOP_ASK = 0.80, 0.40
STOP_HINT = 0.10         # below the top, with a word about our messages: asked about
STOP_CERTAIN = 0.95      # at this, any wording (not a question, nobody else's "won't stop") is carried out
DELETE_SURE = 0.70
DELETE_ASK = 0.40        # from this up to DELETE_SURE, a delete request is asked about
START_SURE = 0.60        # the model never subscribes anyone on a guess
CLARIFY_MARGIN, CLARIFY_MIN = 0.25, 0.15
LANG_SURE = 0.62         # the model's probability of English above which (or below 1 - it) it decides
# Words that make a message an emergency (with a topic that has one): the answer starts with the line to call.
URGENT_WORDS = frozenset("""ahora ahorita urgente urgencia emergencia auxilio socorro rapido apurate ayudenme
    tocando golpeando afuera llevaron llevan sangre sangrando desmayo desmayado respira now urgent emergency
    asap hurry outside knocking banging bleeding unconscious breathing taking took""".split())
# An opt-out is carried out without asking only when it is about our messages (or is short), and not
# a question or about someone else who will not stop ("my ex won't stop texting me").
OUR_MESSAGES = frozenset("""mensajes mensaje msj mjs textos texto txt alertas alerta lista escriban escribir
    escribirme escriben manden mandar mandarme mandan envien enviar enviarme suscripcion numero servicio
    messages message msgs msg texts text texting alerts alert list subscription number service contact
    contacting writing sending""".split())
NOT_OURS = frozenset("como how why porque cuando when donde where keeps keep sigue siguen".split())
NEGATIONS = frozenset("not no nunca never".split())
PHRASE_NEGATIONS = NEGATIONS | frozenset("wont dont cant doesnt didnt isnt cannot ni tampoco".split())
SENTENCE_BREAK = re.compile(r"[.!?¡¿,;\n]+")
THANKS = frozenset("gracias grasias thanks thank thx".split())
# Words of the menu commands that ask for the menu itself, not a greeting.
MENU_ASKS = frozenset("""menu menus lista list opciones options temas topics inicio principal main start restart
    empezar comenzar volver regresar atras back ver see over""".split())
THANKS_EMOJI = ("🙏", "❤", "🫶", "🤝", "🥰", "😊", "☺")
# What may stand beside a STOP of its own sentence and leave it an opt-out ("gracias por todo. STOP").
FAREWELL = THANKS | POLITE | frozenset("""todo everything all bye adios adiós chao bendiciones bendiga dios
    muchas mucho much so very muy amable pero but bueno god bless for""".split())
STOP_VERBS = frozenset("stop stops stopping para paran parar deja dejan detiene quit".split())
# Command words of every language (carriers' keywords, "ok", "menu"): they never switch the reply language.
UNIVERSAL_WORDS = frozenset("stop stopall start unstop help info menu ok okay".split())
# What a message of function words alone may mean, when the model is this sure ("y que mas" is MORE,
# "who are you" is about this service).
FILLER_COMMANDS = frozenset({"more", "menu", "help", "thanks", "about"})
FILLER_CONFIDENCE = 0.6
NON_TOPICS = frozenset({"menu", "more", "help", "stop", "start", "delete", "human", "interpreter", "language",
                        "thanks", "unknown"})
PHRASE_BONUS = 1.5       # a phrase outranks its words taken one by one
STEM_FACTOR, FUZZY1_FACTOR, FUZZY2_FACTOR = 0.9, 0.75, 0.55
MAX_TOKENS = 120         # a 1,600-character message is read, but only so far
MAX_TYPO_WORD = 32       # no word people write is longer; past it, typo look-up would cost O(n^3)


def edit_budget(word: str) -> int:
    """Typos allowed for a word of this length: none for short words (so 'tos' is never 'tps'), and
    none for a "word" longer than any real one (a 3,200-letter run took minutes and gigabytes).

    >>> [edit_budget(w) for w in ("tos", "visa", "trabajo", "discriminacion", "dz" * 20)]
    [0, 1, 1, 2, 0]
    """
    n = len(word)
    if n < 4 or n > MAX_TYPO_WORD or word.isdigit():
        return 0
    return 1 if n <= 7 else 2


def _deletes(word: str, distance: int) -> set[str]:
    out, frontier = {word}, {word}
    for _ in range(distance):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


@dataclass(slots=True)   # not frozen: frozen dataclasses are slow to build, and these are built per message
class Hit:
    """One piece of evidence: a word or phrase of the message that points at a topic."""

    topic: str
    lang: str
    term: str          # the keyword or phrase as indexed
    found: str         # what the message said
    how: str           # exact | stem | typo | phrase
    weight: float

    def to_dict(self) -> dict:
        return {"topic": self.topic, "lang": self.lang, "keyword": self.term, "text": self.found,
                "how": self.how, "weight": round(self.weight, 2)}


@dataclass(slots=True)
class Match:
    """What a message asks for. `lang` is the language it is written in, when that can be told."""

    intent: str
    lang: str | None
    score: float = 0.0
    hits: tuple[Hit, ...] = ()
    number: int | None = None
    language: str | None = None        # target of a `language` intent
    tag: str | None = None             # e.g. "chicago" in "ALERTAS CHICAGO"
    matched: str = ""                  # the command word or menu number that matched
    runner_up: tuple[str, float] | None = None
    model: tuple[tuple[str, float], ...] = ()     # the intent model's top intents, with probabilities
    clarify: tuple[str, str] | None = None         # two topics equally likely: ask which
    urgent: bool = False                           # the message reads as an emergency

    def explain(self) -> dict:
        out = {"intent": self.intent, "detected_lang": self.lang, "score": round(self.score, 2)}
        if self.model:
            out["model"] = [{"intent": i, "p": round(p, 3)} for i, p in self.model[:3]]
        if self.clarify:
            out["clarify"] = list(self.clarify)
        if self.urgent:
            out["urgent"] = True
        if self.matched:
            out["matched"] = self.matched
        if self.number is not None:
            out["number"] = self.number
        if self.language:
            out["language"] = self.language
        if self.tag:
            out["tag"] = self.tag
        if self.hits:
            out["hits"] = [h.to_dict() for h in self.hits]
        if self.runner_up:
            out["runner_up"] = {"intent": self.runner_up[0], "score": round(self.runner_up[1], 2)}
        return out


@dataclass
class _Entry:
    topic: str
    lang: str
    term: str
    idf: float


@dataclass(frozen=True)
class _Word:
    target: str                       # the word, or the keyword it is a typo of
    entries: tuple                    # keyword entries it points at
    how: str
    factor: float
    stop: bool
    stems: dict[str, str]


@dataclass
class _Phrase:
    topic: str
    lang: str
    term: str
    stems: tuple[str, ...]
    weight: float
    full: bool = False      # matched on every word, not only content words


@dataclass
class Index:
    """Everything matching needs, precomputed from one catalog."""

    commands: dict[str, tuple[str, str]] = field(default_factory=dict)      # normalized text -> (command, lang)
    command_words: set[str] = field(default_factory=set)                   # every word of a command phrase
    greetings: set[str] = field(default_factory=set)                        # words of the menu commands
    start_words: dict[str, str] = field(default_factory=dict)               # one-word start commands -> lang
    languages: dict[str, str] = field(default_factory=dict)                 # normalized name -> language id
    words: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    stems: dict[tuple[str, str], list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    vocabulary: set[str] = field(default_factory=set)
    deletes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    phrases: dict[tuple[str, bool, str], list[_Phrase]] = field(default_factory=lambda: defaultdict(list))
    phrase_starts: dict[tuple[str, bool], set[str]] = field(default_factory=lambda: defaultdict(set))
    lang_words: dict[str, str] = field(default_factory=dict)                # keyword -> the only language it is in
    known: set[str] = field(default_factory=set)                            # every word the content uses
    titles: dict[str, str] = field(default_factory=dict)                    # normalized title or label -> topic
    topic_count: int = 0


class Matcher:
    """Matches messages against one catalog; build a new one when the catalog changes."""

    def __init__(self, catalog: Catalog, model=None):
        self.catalog = catalog
        self.model = model          # an intents.IntentModel, or None: keywords and rules alone
        self._fuzzy_cache: dict[str, tuple[str, int] | None] = {}
        self.index = self._build(catalog)
        self._command_cache: dict[str, str] = {}
        self._word_cache: dict[str, _Word] = {}
        self._language_cache: dict[str, tuple[int, int]] = {}
        self._long_command_words = sorted(w for w in self.index.command_words | POLITE if len(w) >= 7)

    # --- building ------------------------------------------------------------------------------

    def _build(self, catalog: Catalog) -> Index:
        index = Index()
        claimed_by: dict[str, set[str]] = {}
        for lang, commands in catalog.commands.items():
            for command, words in commands.items():
                for word in words:
                    parts = tokens(word)
                    index.command_words.update(parts)
                    if command == "menu":
                        index.greetings.update(p for p in parts if p not in POLITE
                                               and p not in STOPWORDS["es"] and p not in STOPWORDS["en"])
                    stripped = [p for p in parts if p not in POLITE] or parts
                    for key in {" ".join(parts), " ".join(stripped)}:
                        # The first language to claim a word keeps it; STOP wins over anything.
                        if key not in index.commands or command == "stop":
                            index.commands[key] = (command, lang)
                        claimed_by.setdefault(key, set()).add(lang)
                    if command == "start" and " " not in key:
                        index.start_words.setdefault(key, lang)
        # A word both languages use for a command (STOP, MENU, OK) tells nothing about the language.
        for key, langs in claimed_by.items():
            if len(langs) > 1 and key in index.commands:
                index.commands[key] = (index.commands[key][0], None)
        for lang_id, language in catalog.languages.items():
            for word in language.select + language.autonyms + (language.name.get("es", ""), language.name.get("en", "")):
                key = " ".join(tokens(word))
                if key:
                    index.languages.setdefault(key, lang_id)
        # Document frequency over each topic's keywords, phrases, title and text in every language
        # (one document per topic): a word found in many topics weighs less, whichever file lists it.
        documents: dict[str, set[str]] = defaultdict(set)
        for lang, by_id in catalog.topics.items():
            stem_lang = lang if lang in STEMMED else "es"
            for tid, topic in by_id.items():
                for text in (topic.title, *topic.keywords, *topic.phrases, *topic.pages):
                    words = tokens(text)
                    index.known.update(words)
                    documents[tid].update(stem(w, stem_lang) for w in words)
                for text in (topic.title, topic.label):
                    key = " ".join(tokens(text))
                    if key:
                        index.titles.setdefault(key, tid)
        n = max(len(documents), 1)
        index.topic_count = n
        df: dict[str, int] = defaultdict(int)
        for words in documents.values():
            for w in words:
                df[w] += 1
        idf = lambda s: 1.0 + math.log(n / max(df.get(s, 1), 1))  # noqa: E731
        for lang, by_id in catalog.topics.items():
            stem_lang = lang if lang in STEMMED else "es"
            for tid, topic in by_id.items():
                for keyword in topic.keywords:
                    parts = tokens(keyword)
                    if len(parts) > 1:
                        self._add_phrase(index, tid, lang, stem_lang, keyword, parts, idf)
                        continue
                    if not parts:
                        continue
                    word = parts[0]
                    word_stem = stem(word, stem_lang)
                    entry = _Entry(tid, lang, word, idf(word_stem))
                    index.words[word].append(entry)
                    index.stems[(stem_lang, word_stem)].append(entry)
                    self._add_vocabulary(index, word)
                for phrase in topic.phrases:
                    parts = tokens(phrase)
                    if parts:
                        self._add_phrase(index, tid, lang, stem_lang, phrase, parts, idf)
        # Which keywords belong to one language only: evidence of the language a message is written in.
        langs_of: dict[str, set[str]] = defaultdict(set)
        for word, entries in index.words.items():
            for e in entries:
                langs_of[word].add(e.lang)
        index.lang_words = {w: next(iter(ls)) for w, ls in langs_of.items() if len(ls) == 1}
        return index

    def _add_vocabulary(self, index: Index, word: str) -> None:
        if word in index.vocabulary:
            return
        index.vocabulary.add(word)
        budget = edit_budget(word)
        if budget:
            for variant in _deletes(word, budget):
                index.deletes[variant].add(word)

    def _add_phrase(self, index, tid, lang, stem_lang, text, parts, idf) -> None:
        stops = STOPWORDS["es"] | STOPWORDS["en"]
        content = [p for p in parts if p not in stops]
        # A phrase of two or more content words matches on them in order ("miedo de regresar" meets
        # "da miedo regresar"); a shorter one ("no me pagan"), or one that says "not" ("wont wake up"
        # must not meet "they wake me up"), needs all its words.
        full = len(content) < 2 or any(p in PHRASE_NEGATIONS for p in parts)
        stems = tuple(stem(p, stem_lang) for p in (parts if full else content))
        weight = PHRASE_BONUS + sum(idf(s) for s in stems if s not in stops) * 0.8 + 0.3 * len(parts)
        index.phrases[(stem_lang, full, stems[0])].append(_Phrase(tid, lang, text, stems, weight, full))
        index.phrase_starts[(stem_lang, full)].add(stems[0])
        for p in parts:
            self._add_vocabulary(index, p)

    # --- matching ------------------------------------------------------------------------------

    def correct(self, word: str) -> tuple[str, int] | None:
        """The vocabulary word within this word's typo budget, with its distance, or None."""
        if word in self.index.vocabulary:
            return word, 0
        if word in self._fuzzy_cache:
            return self._fuzzy_cache[word]
        # A word the content itself uses ("mira", "vida") is a real word, not a typo of a keyword.
        budget = 0 if word in self.index.known else edit_budget(word)
        best = None
        if budget:
            candidates = set()
            for variant in _deletes(word, budget):
                candidates |= self.index.deletes.get(variant, set())
            scored = []
            for candidate in candidates:
                limit = min(budget, edit_budget(candidate))
                if not limit:
                    continue
                d = Levenshtein.distance(word, candidate, score_cutoff=limit)
                if d <= limit:
                    scored.append((d, -len(candidate), candidate))
            if scored:
                d, _, candidate = min(scored)
                best = (candidate, d)
        if len(self._fuzzy_cache) > 100_000:
            self._fuzzy_cache.clear()
        self._fuzzy_cache[word] = best
        return best

    def detect_language(self, words: list[str]) -> str | None:
        """es, en, or None when the words do not tell (numbers, names). Spanglish counts as Spanish."""
        es = en = 0
        for w in words:
            evidence = self._language_cache.get(w)
            if evidence is None:
                in_es, in_en = w in STOPWORDS["es"], w in STOPWORDS["en"]
                e_es = e_en = 0
                if in_es != in_en:          # "a", "no", "me" are both: they tell nothing
                    e_es, e_en = int(in_es), int(in_en)
                only = self.index.lang_words.get(w)
                e_es += only == "es"
                e_en += only == "en"
                evidence = (e_es, e_en)
                if len(self._language_cache) > 200_000:
                    self._language_cache.clear()
                self._language_cache[w] = evidence
            es += evidence[0]
            en += evidence[1]
        if es and (es >= en or es >= 2):
            return "es"
        if en:
            return "en"
        return None

    CHOICE_COMMANDS = ("menu", "more", "help", "stop", "start", "delete", "human", "thanks", "yes", "no")

    def choice(self, choice_id: str, text: str = "") -> Match | None:
        """A tapped WhatsApp button or list row, read by its stable id (never by its label)."""
        catalog = self.catalog
        known = (choice_id in catalog.topic_ids or choice_id in self.CHOICE_COMMANDS
                 or (choice_id.startswith("section:") and catalog.section(choice_id[len("section:"):]) is not None))
        if not known:
            return None
        return Match(choice_id, self.detect_language(tokens(text or "")[:MAX_TOKENS]), 1.0, matched="choice")

    def command_of(self, text: str) -> str | None:
        """The command a whole message is, word for word as content lists it ("STOP", "baja por
        favor", "ayuda"), else None; no further reading. Cheap: the webhook asks it of every message."""
        if len(text) > 80:          # longer than any command, however spaced or punctuated
            return None
        words = tokens(text)
        if not words or len(words) > 5:
            return None
        said = [w for w in words if w not in POLITE] or words
        found = self.index.commands.get(" ".join(words)) or self.index.commands.get(" ".join(said))
        return found[0] if found else None

    def match(self, text: str, menu: list[str] | None = None) -> Match:
        """The intent of one message. `menu` is the list of topic ids the person last saw numbered."""
        words = tokens(text or "")[:MAX_TOKENS]
        lang = self.detect_language(words)
        if not words:
            if any(e in (text or "") for e in THANKS_EMOJI):     # "🙏", "❤️" alone say thank you
                return Match("thanks", lang, 1.0, matched="emoji")
            return Match("unknown", lang)
        command = self._command(words, lang)
        if command is not None:
            return command
        short = len(words) <= 8
        if short:
            polite_stripped = [w for w in words if w not in POLITE] or words
            # START with a tag: "ALERTAS CHICAGO", "alta houston tx".
            if polite_stripped[0] in self.index.start_words and 1 < len(polite_stripped) <= 4:
                return Match("start", lang, 1.0, matched=polite_stripped[0], tag=" ".join(polite_stripped[1:]))
            framed = [w for w in words if w not in LANGUAGE_FRAME]
            target = self.index.languages.get(" ".join(framed)) if framed and len(framed) <= 3 else None
            if target:
                return Match("language", lang, 1.0, language=target, matched=" ".join(framed))
        if len(words) <= 10:
            # "hablo mixteco de guerrero", "I speak Mam from Todos Santos": the language and where from.
            for cut, word in enumerate(words):
                if word in ("de", "del", "from") and 0 < cut < len(words) - 1:
                    framed = [w for w in words[:cut] if w not in LANGUAGE_FRAME]
                    target = self.index.languages.get(" ".join(framed)) if framed else None
                    if target:
                        return Match("language", lang, 1.0, language=target, matched=" ".join(framed),
                                     tag=" ".join(words[cut + 1:]))
                    break
        numbered = [w for w in words if w not in NUMBER_FRAME] if len(words) <= 4 else ()
        if len(numbered) == 1 and numbered[0].isdigit():
            number = int(numbered[0])
            options = menu if menu is not None else self.catalog.top_menu()
            if 1 <= number <= len(options):
                return Match(options[number - 1], lang, 1.0, number=number, matched=numbered[0])
            return Match("unknown", lang, 0.0, number=number, matched=numbered[0])
        titled = self.index.titles.get(" ".join(words))
        if not titled and len(words) <= 6:
            framed = [w for w in words if w not in TITLE_FRAME]
            titled = self.index.titles.get(" ".join(framed)) if framed and len(framed) < len(words) else None
        if titled:
            if lang is None and self.model is not None:   # "asylum": a topic's name tells the language
                lang = self._model_lang(words, lang, self.model.predict(text, words=words).p_english)
            return Match(titled, lang, 10.0, matched=" ".join(words))
        if len(words) <= 3 and all(w in STOPWORDS["es"] or w in STOPWORDS["en"] for w in words):
            # "si", "no", "yes": no question in it. But "y que mas?", "what else" ask to go on: the
            # model may say so when it is sure, and only for a harmless command (never an opt-out).
            if self.model is not None:
                found = self._model_match(text, words, lang)
                if found.intent in FILLER_COMMANDS and found.score >= FILLER_CONFIDENCE:
                    return found
            return Match("unknown", lang, 0.0)
        if self.model is not None:
            return self._model_match(text, words, lang)
        return self._match_topic(words, lang)

    # --- the intent model ----------------------------------------------------------------------

    def _model_match(self, text: str, words: list[str], lang: str | None) -> Match:
        scores, best_hit = self._topic_scores(words)
        prediction = self.model.predict(text, dict(scores), words if len(words) < MAX_TOKENS else None)
        lang = self._model_lang(words, lang, prediction.p_english)
        ranked = prediction.ranked
        top, p = ranked[0]
        shown = tuple(ranked[:3])
        urgent = any(w in URGENT_WORDS for w in words)

        def as_match(intent: str, probability: float, **extra) -> Match:
            if intent == "interpreter":
                return Match("human", lang, probability, model=shown, tag="interpreter", **extra)
            if intent == "language":
                target = self._language_named(words)
                if target is None:
                    return Match("unknown", lang, probability, model=shown, **extra)
                return Match("language", lang, probability, model=shown, language=target, **extra)
            hits = tuple(sorted((h for h in best_hit.values() if h.topic == intent), key=lambda h: -h.weight))
            return Match(intent, lang, probability, hits, model=shown, urgent=urgent and intent not in NON_TOPICS,
                         **extra)

        # "dejen de escribirme, ya no quiero vivir": a phrase of an urgent topic beside an opt-out.
        # Such an opt-out is never carried out on the model's word: the person gets that topic's
        # answer first, then the question (conversation.py), and BAJA still does it.
        danger = tuple(h for h in best_hit.values() if h.how == "phrase" and h.topic in self.catalog.urgent)
        edge = self._edge_stop(text)
        if edge is not None:
            # "gracias por todo. STOP": an opt-out as a sentence of its own, first or last. An opt-out
            # phrase ("ya no me escriban, mi esposo dice que es peligroso") or a lone keyword beside
            # thanks and goodbyes is carried out; a lone keyword beside anything but a topic the model
            # is sure of ("STOP. I need help with my rent" is housing) is asked about.
            said, rest = edge
            if not danger and (len(said) > 1 or all(w in FAREWELL for w in rest)):
                return Match("stop", lang, 1.0, model=shown, matched=" ".join(said))
            if top != "stop" and (top in NON_TOPICS or top == "unknown" or p < 0.6):
                return Match("confirm_stop", lang, prediction.probability("stop"), danger, model=shown)
        if top == "stop":
            short, ours = len(words) <= 6, any(w in OUR_MESSAGES for w in words)
            hedged = (any(w in NOT_OURS for w in words[1:]) or "?" in text or bool(danger)
                      or any(a in NEGATIONS and b in STOP_VERBS for a, b in zip(words, words[1:])))
            if not hedged and (p >= STOP_CERTAIN or (p >= STOP_SURE and (short or ours))):
                return as_match("stop", p)
            if p >= STOP_ASK or danger:
                return Match("confirm_stop", lang, p, danger, model=shown)
            ranked = ranked[1:]
        elif top == "delete" and p < DELETE_SURE and p >= DELETE_ASK:
            # "Elimina mi informacion, mi esposo no sabe que escribi aqui" (0.67): never "not understood",
            # never carried out on a guess: asked, naming the words that do it.
            return Match("confirm_delete", lang, p, model=shown)
        elif (top == "delete" and p < DELETE_SURE) or (top == "start" and p < START_SURE):
            ranked = ranked[1:]
            if ranked[0][0] == "stop" and ranked[0][1] >= STOP_ASK / 2:
                return Match("confirm_stop", lang, ranked[0][1], model=shown)
        top, p = ranked[0]
        # An opt-out the model ranks lower, in a message about our messages ("no me escriban mas",
        # "enough with the messages"): never ignored, asked about (unless a topic is plainly meant).
        p_stop = prediction.probability("stop")
        # A question about us is the likeliest reading of many opt-outs ("quien les dio mi numero? no
        # me escriban mas"): it must be surer than a topic to pass over the question.
        # "quiero que me escriban en maya" asks for a language, not for silence ("no me escriban en
        # ingles" stays a question: it may be either).
        language_asked = (top == "language" and p >= 0.5 and not any(w in NEGATIONS for w in words)
                          and self._language_named(words) is not None)
        if (top != "stop" and p_stop >= STOP_HINT and any(w in OUR_MESSAGES for w in words) and not language_asked
                and not (top not in NON_TOPICS and p >= (0.8 if top == "about" else 0.6))):
            return Match("confirm_stop", lang, p_stop, model=shown)
        if (len(words) == 1 and "w:" + words[0] not in self.model.vocabulary and self.correct(words[0]) is None
                and p < 0.5):
            return Match("unknown", lang, p, model=shown, runner_up=(top, p))    # a word nobody writes here
        if top == "unknown" or p < MIN_PROBABILITY:
            return Match("unknown", lang, p, model=shown, runner_up=(top, p))
        if len(ranked) > 1:
            second, q = ranked[1]
            if (top not in NON_TOPICS and second not in NON_TOPICS and q >= CLARIFY_MIN and p - q < CLARIFY_MARGIN):
                return as_match(top, p, clarify=(top, second))
        return as_match(top, p)

    def _edge_stop(self, text: str) -> tuple[list[str], list[str]] | None:
        """When the first or last sentence of the message is an opt-out command ("STOP", "baja por
        favor", "please stop sending me messages"): its words without the polite ones, and the words
        of the rest. Else None."""
        parts = SENTENCE_BREAK.split(text)
        if len(parts) < 2:       # one sentence (most messages): nothing to tokenise again
            return None
        clauses = [c for c in map(tokens, parts) if c]
        if len(clauses) < 2:
            return None
        for edge, rest in ((clauses[0], clauses[1:]), (clauses[-1], clauses[:-1])):
            said = [w for w in edge if w not in POLITE] or edge
            found = self.index.commands.get(" ".join(edge)) or self.index.commands.get(" ".join(said))
            if found and found[0] == "stop":
                return said, [w for clause in rest for w in clause]
        return None

    def _model_lang(self, words: list[str], rule_lang: str | None, p_english: float) -> str | None:
        """The language the message is written in: the model's when it is sure, else the rules'."""
        if p_english >= LANG_SURE:
            return "en"
        if p_english <= 1 - LANG_SURE:
            return "es"
        return rule_lang

    def _language_named(self, words: list[str]) -> str | None:
        """A language a message names anywhere ("puedes escribirme en ingles?", "no entiendo, hablo mam")."""
        languages = self.index.languages
        for size in (3, 2, 1):
            for i in range(len(words) - size + 1):
                found = languages.get(" ".join(words[i:i + size]))
                if found:
                    return found
        return None

    def _phrases(self, sequence, full: bool, stem_lang: str, words, scores, best_hit) -> None:
        """Add the phrases found in `sequence` (positions and words) to the scores."""
        stems = [a.stems[stem_lang] for _, a in sequence]
        firsts = self.index.phrase_starts[(stem_lang, full)]
        starts = [i for i, s in enumerate(stems) if s in firsts]
        if not starts:
            return
        seen = set()
        phrases = self.index.phrases
        for i in starts:
            for phrase in phrases[(stem_lang, full, stems[i])]:
                if (phrase.topic, phrase.term) in seen:
                    continue
                if _in_order(stems, i, phrase.stems):
                    seen.add((phrase.topic, phrase.term))
                    scores[phrase.topic] += phrase.weight
                    start = sequence[i][0]
                    best_hit[(phrase.topic, "phrase:" + phrase.term)] = Hit(
                        phrase.topic, phrase.lang, phrase.term, " ".join(words[start:start + len(phrase.stems) + 2]),
                        "phrase", phrase.weight)

    def _command(self, words: list[str], lang: str | None) -> Match | None:
        """A command is the whole message, give or take polite words and a typo in a long word."""
        if len(words) > 8:
            return None
        index = self.index
        candidates = [words]
        if any(len(w) >= 7 for w in words):
            fixed = [self._command_word(w) for w in words]
            if fixed != words:
                candidates.append(fixed)
        if len(words) == 1 and 4 <= len(words[0]) <= 6 and words[0] not in index.commands:
            swapped = self._transposed_command(words[0])
            if swapped:
                candidates.append([swapped])
        for option in candidates:
            stripped = [w for w in option if w not in POLITE] or option
            # "gracias por la informacion" thanks us for the information: it asks for no help
            thanked = any(a in THANKS and b in ("por", "for", "x") for a, b in zip(option, option[1:]))
            # "gracias asere", "gracias, saludos": a thank-you that signs off, not a greeting ("menu
            # gracias" still asks for the menu)
            signed_off = any(w in THANKS for w in option) and not any(w in MENU_ASKS for w in option)
            for key in (" ".join(option), " ".join(stripped)):
                found = index.commands.get(key)
                if found and thanked and found[0] not in ("stop", "delete", "start"):
                    continue
                if found:
                    command, command_lang = found
                    intent = "human" if command == "interpreter" else command
                    if intent == "menu" and signed_off:
                        intent = "thanks"
                    lang = lang or (command_lang if command_lang in ("es", "en") else None)
                    if lang is None and self.model is not None and key not in UNIVERSAL_WORDS:
                        # "unsubscribe" is English, though both files list it; STOP belongs to no language
                        lang = self._model_lang(words, None, self.model.predict(" ".join(words), words=words).p_english)
                    return Match(intent, lang, 1.0, matched=key, tag="interpreter" if command == "interpreter" else None)
            if len(stripped) <= 4 and all(w in index.greetings for w in stripped):
                if signed_off:
                    return Match("thanks", lang, 1.0, matched=" ".join(option))
                return Match("menu", lang, 1.0, matched=" ".join(stripped))
        return None

    def _transposed_command(self, word: str) -> str | None:
        """A one-word command with two neighbouring letters swapped ("stpo", "mneu"), or None."""
        for i in range(len(word) - 1):
            candidate = word[:i] + word[i + 1] + word[i] + word[i + 2:]
            if candidate != word and candidate in self.index.commands and " " not in candidate:
                return candidate
        return None

    def _command_word(self, word: str) -> str:
        """A long word one or two typos away from a command word ("unsuscribe"); short words never."""
        if len(word) < 7 or word in self.index.command_words or word in POLITE:
            return word
        cached = self._command_cache.get(word)
        if cached is not None:
            return cached
        budget = 1 if len(word) < 10 else 2
        best = None
        for candidate in self._long_command_words:
            if abs(len(candidate) - len(word)) > budget:
                continue
            d = Levenshtein.distance(word, candidate, score_cutoff=budget)
            if d <= budget and (best is None or d < best[0]):
                best = (d, candidate)
        result = best[1] if best else word
        if len(self._command_cache) > 100_000:
            self._command_cache.clear()
        self._command_cache[word] = result
        return result

    def _analyse(self, word: str) -> _Word:
        """What one message word is: its keyword entries (exact, stem or typo), and its stems. Cached."""
        info = self._word_cache.get(word)
        if info is not None:
            return info
        index = self.index
        stop = word in STOPWORDS["es"] or word in STOPWORDS["en"]
        entries, how, factor, target = (), "exact", 1.0, word
        if not stop:
            entries = index.words.get(word) or ()
            if not entries:
                for stem_lang in ("es", "en"):
                    entries = index.stems.get((stem_lang, stem(word, stem_lang))) or ()
                    if entries:
                        how, factor = "stem", STEM_FACTOR
                        break
            if not entries:
                fixed = self.correct(word)
                if fixed and fixed[1]:
                    target = fixed[0]
                    how, factor = "typo", (FUZZY1_FACTOR if fixed[1] == 1 else FUZZY2_FACTOR)
                    entries = index.words.get(target) or ()
                    if not entries:
                        for stem_lang in ("es", "en"):
                            entries = index.stems.get((stem_lang, stem(target, stem_lang))) or ()
                            if entries:
                                break
        info = _Word(target, tuple(entries), how, factor, stop,
                     {"es": stem(target, "es"), "en": stem(target, "en")})
        if len(self._word_cache) > 200_000:
            self._word_cache.clear()
        self._word_cache[word] = info
        return info

    def keyword_scores(self, text: str) -> dict[str, float]:
        """The keyword and phrase evidence for each topic (a feature of the intent model)."""
        words = tokens(text or "")[:MAX_TOKENS]
        return dict(self._topic_scores(words)[0]) if words else {}

    def _match_topic(self, words: list[str], lang: str | None) -> Match:
        scores, best_hit = self._topic_scores(words)
        if not scores:
            return Match("unknown", lang)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        top, score = ranked[0]
        runner = ranked[1] if len(ranked) > 1 else None
        hits = tuple(sorted((h for h in best_hit.values() if h.topic == top), key=lambda h: -h.weight))
        if score < MIN_SCORE:
            return Match("unknown", lang, score, hits, runner_up=(top, score))
        return Match(top, lang, score, hits, runner_up=runner)

    def _topic_scores(self, words: list[str]):
        scores: dict[str, float] = defaultdict(float)
        # One contribution per message word and topic: a list of keyword variants must not multiply.
        best_hit: dict[tuple[str, object], Hit] = {}
        analysed = [self._analyse(w) for w in words]
        for position, (word, info) in enumerate(zip(words, analysed)):
            for e in info.entries:
                weight = e.idf * info.factor
                previous = best_hit.get((e.topic, position))
                if previous is None or previous.weight < weight:
                    best_hit[(e.topic, position)] = Hit(e.topic, e.lang, e.term, word, info.how, weight)
        for hit in best_hit.values():
            scores[hit.topic] += hit.weight
        # Phrases: their content words in order, allowing one extra word in between ("pedir el asilo").
        every = list(enumerate(analysed))
        content = [(i, a) for i, a in every if not a.stop]
        for stem_lang in ("es", "en"):
            self._phrases(every, True, stem_lang, words, scores, best_hit)
            self._phrases(content, False, stem_lang, words, scores, best_hit)
        return scores, best_hit


def _in_order(stems: list[str], start: int, phrase: tuple[str, ...]) -> bool:
    """Does `phrase` occur at `start`, allowing one extra word somewhere inside it?"""
    i, skipped = start + 1, 0
    for want in phrase[1:]:
        while i < len(stems) and stems[i] != want:
            if skipped:
                return False
            skipped, i = 1, i + 1
        if i >= len(stems):
            return False
        i += 1
    return True

