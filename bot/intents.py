"""The intent model: what a message asks for, learned from the example messages in content/.

Features (pure Python, the same at training and at run time): the words of the normalised text
with SMS spellings expanded, their Spanish and English stems, word pairs, character 3- to 5-grams
within words (typos, missing accents), the length of the message, and the keyword matcher's score
for each topic (the editors' keywords and phrases as evidence). A multinomial logistic regression
over them gives a probability per intent; a second one tells Spanish from English.

Training uses scikit-learn, which is large (about 100 MB and 4 s to import): it runs in its own
process (`python -m bot.intents train`) when the content's training material changes, and the
result is cached by a hash of that material. Serving needs only numpy: a weight matrix and a
vocabulary, about 10 MB.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .stems import stem
from .text import tokens

MODEL_VERSION = "2"                 # bump when features or training change: old caches are ignored
MAX_WORDS = 80
CHAR_GRAMS = (3, 4, 5)
GROUP_WEIGHTS = {"w": 1.0, "s": 0.7, "b": 0.8, "c": 0.35, "n": 0.6, "k": 1.0, "q": 0.8}
MIN_CHAR_COUNT = 2                  # a character n-gram seen once in all the training text is noise

def _length_bucket(n: int) -> str:
    return "n:1" if n <= 1 else "n:2" if n <= 3 else "n:4" if n <= 8 else "n:9" if n <= 20 else "n:21"


_SENTENCE_END = re.compile(r"[.?!¿¡\n]+")


def _last_sentence(text: str) -> str | None:
    """The last sentence of a message of several (with at least three words), or None.

    >>> _last_sentence("Trabajo en Iowa. El patron no paga. Que hago para reclamar?")
    'Que hago para reclamar'
    """
    parts = [p.strip() for p in _SENTENCE_END.split(text or "") if len(p.split()) >= 3]
    return parts[-1] if len(parts) >= 2 else None


def _word_features(word: str, feats: dict[str, float]) -> None:
    """The features one word brings (its own, its stems, its character n-grams)."""
    weights = GROUP_WEIGHTS
    feats["w:" + word] = weights["w"]
    for lang in ("es", "en"):
        feats["s:" + stem(word, lang)] = weights["s"]
    padded = f" {word} "
    for n in CHAR_GRAMS:
        for i in range(len(padded) - n + 1):
            feats["c:" + padded[i:i + n]] = weights["c"]


def _message_features(text: str, words: list[str], keyword_scores: dict[str, float] | None,
                      feats: dict[str, float]) -> None:
    """The features of the message as a whole: word pairs, length, the last sentence, keywords."""
    weights = GROUP_WEIGHTS
    for first, second in zip(words, words[1:]):
        feats[f"b:{first}_{second}"] = weights["b"]
    feats[_length_bucket(len(words))] = weights["n"]
    # In a story the question is usually at the end: the last sentence's words count again.
    last = _last_sentence(text)
    if last is not None:
        for word in tokens(last)[:MAX_WORDS]:
            feats["q:" + word] = weights["q"]
            feats["r:" + stem(word, "es")] = weights["q"] * 0.7
    for topic, score in (keyword_scores or {}).items():
        feats["k:" + topic] = weights["k"] * min(score, 12.0) / 4.0


def featurize(text: str, keyword_scores: dict[str, float] | None = None) -> dict[str, float]:
    """The features of one message, each with its weight (not yet normalised).

    >>> sorted(k for k in featurize("no me pagan") if not k.startswith("c:"))[:6]
    ['b:me_pagan', 'b:no_me', 'n:2', 's:me', 's:no', 's:pag']
    """
    words = tokens(text or "")[:MAX_WORDS]
    feats: dict[str, float] = {}
    if not words:
        raw = (text or "").strip()
        if raw:                                      # an emoji or a symbol alone: keep it as it is
            feats["w:" + raw[:8]] = GROUP_WEIGHTS["w"]
        feats["n:0"] = GROUP_WEIGHTS["n"]
        return feats
    for word in words:
        _word_features(word, feats)
    _message_features(text, words, keyword_scores, feats)
    return feats


@dataclass
class Prediction:
    """The model's view of one message: intents by probability, and the probability it is English."""

    ranked: list[tuple[str, float]]
    p_english: float

    @property
    def top(self) -> tuple[str, float]:
        return self.ranked[0]

    def probability(self, intent: str) -> float:
        return next((p for i, p in self.ranked if i == intent), 0.0)


class IntentModel:
    """Logistic regression weights over the features; numpy only."""

    def __init__(self, classes: list[str], vocabulary: dict[str, int], weights: np.ndarray, bias: np.ndarray,
                 lang_weights: np.ndarray, lang_bias: float, fingerprint: str, report: dict | None = None):
        self.classes = classes
        self.vocabulary = vocabulary
        self.weights = weights              # (features, classes) float32
        self.bias = bias                    # (classes,)
        self.lang_weights = lang_weights    # (features,) float32: positive means English
        self.lang_bias = lang_bias
        self.fingerprint = fingerprint
        self.report = report or {}
        self._word_cache: dict[str, dict[int, float]] = {}

    def _word_indices(self, word: str) -> dict[int, float]:
        """A word's features as vocabulary indices (cached: the same words come back all day)."""
        found = self._word_cache.get(word)
        if found is None:
            feats: dict[str, float] = {}
            _word_features(word, feats)
            vocabulary = self.vocabulary
            found = {vocabulary[k]: v for k, v in feats.items() if k in vocabulary}
            if len(self._word_cache) > 100_000:
                self._word_cache.clear()
            self._word_cache[word] = found
        return found

    def _indexed(self, text: str, keyword_scores: dict[str, float] | None,
                 words: list[str] | None = None) -> dict[int, float]:
        """featurize(text) as vocabulary indices, the fast way (tested to be the same)."""
        words = (tokens(text or "") if words is None else words)[:MAX_WORDS]
        if not words:
            return {i: v for i, v in ((self.vocabulary.get(k), v) for k, v in featurize(text).items())
                    if i is not None}
        merged: dict[int, float] = {}
        for word in words:
            merged.update(self._word_indices(word))
        rest: dict[str, float] = {}
        _message_features(text, words, keyword_scores, rest)
        vocabulary = self.vocabulary
        for name, value in rest.items():
            i = vocabulary.get(name)
            if i is not None:
                merged[i] = value
        return merged

    def _vector(self, feats: dict[str, float]) -> tuple[list[int], np.ndarray]:
        index, values = [], []
        for name, value in feats.items():
            i = self.vocabulary.get(name)
            if i is not None:
                index.append(i)
                values.append(value)
        return self._normalised(index, values)

    def _normalised(self, index: list[int], values: list[float]) -> tuple[list[int], np.ndarray]:
        if not values:
            return [], np.zeros(0, dtype=np.float32)
        vector = np.asarray(values, dtype=np.float32)
        return index, vector / math.sqrt(float(vector @ vector))

    def predict(self, text: str, keyword_scores: dict[str, float] | None = None,
                words: list[str] | None = None) -> Prediction:
        """`words`: tokens(text), when the caller has them already."""
        indexed = self._indexed(text, keyword_scores, words)
        index, vector = self._normalised(list(indexed), list(indexed.values()))
        if index:
            logits = vector @ self.weights[index] + self.bias
            lang_logit = float(vector @ self.lang_weights[index]) + self.lang_bias
        else:
            logits, lang_logit = self.bias.copy(), self.lang_bias
        logits = logits - logits.max()
        probs = np.exp(logits)
        probs /= probs.sum()
        order = np.argsort(-probs)
        return Prediction([(self.classes[i], float(probs[i])) for i in order[:5]],
                          1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, lang_logit)))))

    # --- files ----------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        names = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        meta = {"classes": self.classes, "fingerprint": self.fingerprint, "lang_bias": self.lang_bias,
                "version": MODEL_VERSION, "report": self.report}
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, weights=self.weights, bias=self.bias, lang_weights=self.lang_weights,
                            vocabulary=np.asarray(names, dtype=object), meta=np.asarray(json.dumps(meta)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "IntentModel":
        with np.load(path, allow_pickle=True) as data:
            meta = json.loads(str(data["meta"]))
            names = list(data["vocabulary"])
            return cls(meta["classes"], {name: i for i, name in enumerate(names)},
                       data["weights"].astype(np.float32), data["bias"].astype(np.float32),
                       data["lang_weights"].astype(np.float32), float(meta["lang_bias"]), meta["fingerprint"],
                       meta.get("report"))


# --- the training material -----------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    text: str
    intent: str
    lang: str             # the language of the file it came from
    weight: float         # examples count more than single keywords


def samples(catalog) -> list[Sample]:
    """Everything the content says about intents: examples first, then keywords, phrases, titles,
    labels and command words (weaker evidence: they are not messages as people write them)."""
    out: list[Sample] = []
    for lang in ("es", "en"):
        for tid, topic in catalog.topics.get(lang, {}).items():
            out += [Sample(e, tid, lang, 1.0) for e in topic.examples]
            out += [Sample(k, tid, lang, 0.4) for k in topic.keywords]
            out += [Sample(p, tid, lang, 0.6) for p in topic.phrases]
            out += [Sample(t, tid, lang, 0.4) for t in (topic.title, topic.label) if t]
        for intent, items in catalog.examples.get(lang, {}).items():
            out += [Sample(e, intent, lang, 1.0) for e in items]
        for command, words in catalog.commands.get(lang, {}).items():
            out += [Sample(w, command, lang, 0.5) for w in words]
    return out


def fingerprint(catalog) -> str:
    """A hash of the training material (not of the pages: editing an answer retrains nothing)."""
    digest = hashlib.sha256(MODEL_VERSION.encode())
    for s in samples(catalog):
        digest.update(f"{s.intent}\x1f{s.lang}\x1f{s.weight}\x1f{s.text}\x1e".encode())
    return digest.hexdigest()[:20]


def has_examples(catalog) -> bool:
    return any(t.examples for by_id in catalog.topics.values() for t in by_id.values())


# --- training (scikit-learn, in its own process) ---------------------------------------------------

def _matrix(rows: list[dict[str, float]], vocabulary: dict[str, int]):
    from scipy.sparse import csr_matrix
    data, indices, indptr = [], [], [0]
    for feats in rows:
        pairs = [(vocabulary[k], v) for k, v in feats.items() if k in vocabulary]
        norm = math.sqrt(sum(v * v for _, v in pairs)) or 1.0
        for i, v in sorted(pairs):
            indices.append(i)
            data.append(v / norm)
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(rows), len(vocabulary)), dtype=np.float64)


def _vocabulary(rows: list[dict[str, float]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for feats in rows:
        for name in feats:
            counts[name] = counts.get(name, 0) + 1
    keep = sorted(k for k, n in counts.items() if not k.startswith("c:") or n >= MIN_CHAR_COUNT)
    return {k: i for i, k in enumerate(keep)}


C_INTENTS = 30.0
C_LANG = 4.0


def _fit(rows, labels, weights, classes, c):
    from sklearn.linear_model import LogisticRegression
    vocabulary = _vocabulary(rows)
    matrix = _matrix(rows, vocabulary)
    model = LogisticRegression(C=c, solver="saga", max_iter=300, tol=1e-3)
    model.fit(matrix, labels, sample_weight=weights)
    return vocabulary, model


def train(catalog, keyword_scores) -> IntentModel:
    """Fit the intent and language models on the content; `keyword_scores(text)` is the keyword
    matcher's score per topic (the same function serving uses)."""
    data = samples(catalog)
    rows = [featurize(s.text, keyword_scores(s.text)) for s in data]
    labels = [s.intent for s in data]
    weights = [s.weight for s in data]
    classes = sorted(set(labels))
    vocabulary, model = _fit(rows, labels, weights, classes, C_INTENTS)
    weight_matrix = np.zeros((len(vocabulary), len(model.classes_)), dtype=np.float32)
    coef = model.coef_.T if len(model.classes_) > 2 else np.hstack([-model.coef_.T, model.coef_.T])
    weight_matrix[:, :] = coef
    bias = model.intercept_ if len(model.classes_) > 2 else np.array([-model.intercept_[0], model.intercept_[0]])
    # Language: Spanish or English, from the file each sample came from (Spanglish is in the es files).
    lang_rows = [featurize(s.text) for s in data]
    lang_labels = [1 if s.lang == "en" else 0 for s in data]
    from sklearn.linear_model import LogisticRegression
    lang_matrix = _matrix(lang_rows, vocabulary)
    lang_model = LogisticRegression(C=C_LANG, solver="saga", max_iter=300, tol=1e-3)
    lang_model.fit(lang_matrix, lang_labels, sample_weight=weights)
    return IntentModel(list(model.classes_), vocabulary, weight_matrix, bias.astype(np.float32),
                       lang_model.coef_[0].astype(np.float32), float(lang_model.intercept_[0]), fingerprint(catalog),
                       {"samples": len(data), "features": len(vocabulary), "classes": len(model.classes_)})


def cross_validate(catalog, keyword_scores, folds: int = 5, seed: int = 7) -> dict:
    """k-fold cross-validation on the examples (keywords and command words always train): accuracy,
    per intent, and the examples each fold's model put under another intent."""
    import random
    data = samples(catalog)
    examples = [i for i, s in enumerate(data) if s.weight == 1.0]
    rng = random.Random(seed)
    rng.shuffle(examples)
    rows = [featurize(s.text, keyword_scores(s.text)) for s in data]
    misses, correct = [], 0
    for fold in range(folds):
        held = set(examples[fold::folds])
        train_idx = [i for i in range(len(data)) if i not in held]
        vocabulary, model = _fit([rows[i] for i in train_idx], [data[i].intent for i in train_idx],
                                 [data[i].weight for i in train_idx], None, C_INTENTS)
        held_sorted = sorted(held)
        predicted = model.predict(_matrix([rows[i] for i in held_sorted], vocabulary))
        for i, guess in zip(held_sorted, predicted):
            if guess == data[i].intent:
                correct += 1
            else:
                misses.append({"text": data[i].text, "intent": data[i].intent, "predicted": str(guess),
                               "lang": data[i].lang})
    return {"folds": folds, "examples": len(examples), "accuracy": correct / max(len(examples), 1),
            "misses": misses}


def misplaced_examples(catalog, model: "IntentModel", keyword_scores) -> list[tuple[Path, int, str, str, str]]:
    """Examples the trained model puts under another intent: (file, line, example, its intent, the
    model's). An editor moves or rewrites them, or adds examples that tell the two apart."""
    out = []
    for lang in ("es", "en"):
        for tid, topic in sorted(catalog.topics.get(lang, {}).items()):
            for example in topic.examples:
                guess = model.predict(example, keyword_scores(example)).top[0]
                if guess != tid:
                    out.append((topic.path, _line_of(topic.path, example), example, tid, guess))
        system = catalog.root / lang / "system.yml"
        for intent, items in sorted(catalog.examples.get(lang, {}).items()):
            for example in items:
                guess = model.predict(example, keyword_scores(example)).top[0]
                if guess != intent:
                    out.append((system, _line_of(system, example), example, intent, guess))
    return out


def _line_of(path: Path, text: str) -> int:
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if text in line:
                return number
    except OSError:
        pass
    return 1


# --- the cache, and training out of process ----------------------------------------------------------

def cache_dir() -> Path:
    """Where trained models are kept, by fingerprint (MODEL_CACHE_DIR, else the user's cache)."""
    configured = os.environ.get("MODEL_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "derechos" / "models"


CACHE_KEEP = 6     # trained models kept (about 9 MB each): the ones in use and a few to go back to


def cached_path(fingerprint_: str) -> Path:
    return cache_dir() / f"intents-{fingerprint_}.npz"


def prune_cache(keep: int = CACHE_KEEP) -> list[Path]:
    """Delete all but the `keep` most recently used models (a load marks one used); return what went.
    A model deleted under a process that uses it is already in that process's memory."""
    models = []
    for path in cache_dir().glob("intents-*.npz"):
        try:
            models.append((path.stat().st_mtime, path))
        except OSError:       # another process pruned it first
            continue
    models.sort(reverse=True)
    gone = []
    for _, path in models[keep:]:
        path.unlink(missing_ok=True)
        gone.append(path)
    return gone


def load_or_train(content_dir: Path, catalog, settings: dict | None = None, timeout: float = 600.0) -> IntentModel | None:
    """The model for this content: from the cache, else trained in a separate process (which needs
    scikit-learn, not this one). None when the content has no examples."""
    if not has_examples(catalog):
        return None
    path = cached_path(fingerprint(catalog))
    if path.exists():
        try:
            model = IntentModel.load(path)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
        else:
            with contextlib.suppress(OSError):
                os.utime(path)        # used now: pruning keeps the models in use
            return model
    path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **{f"DERECHOS_{k.upper()}": v for k, v in (settings or {}).items() if isinstance(v, str)})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.npz"
        result = subprocess.run([sys.executable, "-m", "bot.intents", "train", str(content_dir), str(out)],
                                env=env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError("training the intent model failed: " + (result.stderr.strip().splitlines() or ["?"])[-1])
        model = IntentModel.load(out)
        if not path.exists():
            os.replace(out, path)
    prune_cache()
    return model


def _main(argv: list[str]) -> int:
    """`python -m bot.intents train CONTENT_DIR OUT.npz`: train on a content tree, write the model."""
    if len(argv) != 3 or argv[0] != "train":
        sys.stderr.write("usage: python -m bot.intents train CONTENT_DIR OUT.npz\n")
        return 2
    from .catalog import load_catalog
    from .matcher import Matcher
    settings = {k[len("DERECHOS_"):].lower(): v for k, v in os.environ.items() if k.startswith("DERECHOS_")}
    catalog = load_catalog(Path(argv[1]), settings)
    matcher = Matcher(catalog)
    model = train(catalog, matcher.keyword_scores)
    model.save(Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
