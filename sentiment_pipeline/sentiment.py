"""Message and ticket sentiment: VADER, a support-domain layer, and a small trained classifier
on top, scored on both cores (pure, no Dagster).

The layer (``data/support_lexicon.toml``) changes VADER's lexicon for support vocabulary
and turns support phrases ("still waiting", "works now") into single scored tokens, so
VADER's own rules (negation, "but", caps, punctuation) keep working around them. The
phrase rewriting is one vectorised polars pass; VADER itself is per-text Python, so a
partition's texts are split across a process pool. Scores do not depend on the pool:
each text is scored by the same deterministic function wherever it runs.

Rules alone stop short on the blunt, sarcastic follow-ups of a conversation ("Firmware 3.2
bricked my router. Thanks a lot."), so the default model adds a multinomial logistic
regression over the layer's scores and the message's word n-grams, fitted by scikit-learn on
the labelled support messages in ``data/support_messages.csv`` and shipped as parameters
(``data/support_classifier.json``), so a run scores without scikit-learn's import or a fit.
Its ``pos``/``neu``/``neg`` are the class probabilities and ``compound`` is P(positive) -
P(negative) kept inside the most probable class's band, so the one label rule (thresholds on
``compound``) gives the classifier's decision.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import tomllib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from itertools import pairwise

import numpy as np
import polars as pl
from vaderSentiment.vaderSentiment import BOOSTER_DICT, N_SCALAR, NEGATE, SentimentIntensityAnalyzer, SentiText

from sentiment_pipeline.schemas import SCORES, SENTIMENT_LABELS

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
MIN_TEXTS_PER_WORKER = 2_000  # below this, starting processes costs more than it saves
CLASSIFIER_C = 16.0  # inverse regularisation of the trained classifier, chosen by cross-validation on its training set
CLASSIFIER_FILE = "data/support_classifier.json"  # its fitted parameters (``sentiment-pipeline classifier fit``)
TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"  # the classifier's words, and ! and ? (they carry tone)
LAYER_SCORES = ("compound", "pos", "neu", "neg")  # the layer's scores, as the classifier sees them
NEGATE_WORDS = frozenset(NEGATE)
TOKEN_PREFIX = "zzsupport"  # support phrases become one token each: this prefix and the group's name


@dataclass(frozen=True)
class Model:
    """A scorer: plain VADER (``domain=False``), VADER with the support layer
    (``trained=False``), or both with the trained classifier on top (the default)."""

    domain: bool = True
    trained: bool = True

    def __post_init__(self):
        if self.trained and not self.domain:
            raise ValueError("the classifier is trained on the support layer's scores: trained=True needs domain=True")

    @property
    def name(self) -> str:
        return "vader+support+classifier" if self.trained else "vader+support" if self.domain else "vader"

    @property
    def version(self) -> str:
        parts = [f"vaderSentiment {metadata.version('vaderSentiment')}"]
        if self.domain:
            parts.append(f"support layer {_digest(_layer_text())}")
        if self.trained:
            parts.append(f"classifier fitted by {_classifier().version}")
        return "; ".join(parts)


def label(compound: pl.Expr) -> pl.Expr:
    return (
        pl.when(compound >= POSITIVE_AT)
        .then(pl.lit("positive"))
        .when(compound <= NEGATIVE_AT)
        .then(pl.lit("negative"))
        .otherwise(pl.lit("neutral"))
    )


def ticket_text(tickets: pl.LazyFrame | pl.DataFrame) -> pl.Expr:
    """What is scored: subject and body, as one text."""
    return pl.concat_str([pl.col("subject"), pl.col("body")], separator=". ", ignore_nulls=True).fill_null("")


def scored(texts: pl.Series, model: Model = Model(), workers: int | None = None) -> pl.DataFrame:
    """``SCORES`` (compound, pos, neu, neg, label) of each text, in order."""
    return score_texts(texts, model, workers).with_columns(label=label(pl.col("compound"))).select(list(SCORES))


def score_texts(texts: pl.Series, model: Model = Model(), workers: int | None = None) -> pl.DataFrame:
    """compound, pos, neu, neg for each text, in order; ``workers`` processes (default: cores)."""
    written = texts.fill_null("")
    prepared = rewrite_phrases(written) if model.domain else written
    pairs = list(zip(prepared.to_list(), written.to_list(), strict=True))
    workers = workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(pairs) // MIN_TEXTS_PER_WORKER))
    if workers == 1:
        rows = _score_chunk((model, pairs))
    else:
        _analyzer(model.domain)  # built (and the classifier loaded) before the fork, so workers inherit them
        if model.trained:
            _classifier()
        size = -(-len(pairs) // (workers * 4))
        chunks = [(model, pairs[i : i + size]) for i in range(0, len(pairs), size)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            rows = [row for chunk in pool.map(_score_chunk, chunks) for row in chunk]
    return pl.DataFrame(rows, schema={"compound": pl.Float64, "pos": pl.Float64, "neu": pl.Float64, "neg": pl.Float64}, orient="row")


def rewrite_phrases(texts: pl.Series) -> pl.Series:
    """Each support phrase becomes one token that the domain lexicon scores (vectorised)."""
    rewritten = texts.fill_null("")
    for token, pattern, _ in _phrase_groups():
        rewritten = rewritten.str.replace_all(pattern, f" {token} ")
    return rewritten


def _score_chunk(job: tuple[Model, list[tuple[str, str]]]) -> list[tuple[float, float, float, float]]:
    """Scores of (prepared, as written) text pairs: VADER on the prepared text, then, for the
    trained model, the classifier on both."""
    model, pairs = job
    analyzer = _analyzer(model.domain)
    results = []
    for prepared, _ in pairs:
        scores = analyzer.polarity_scores(prepared)
        results.append((scores["compound"], scores["pos"], scores["neu"], scores["neg"]))
    return _classified([written for _, written in pairs], results) if model.trained and pairs else results


class _Vader(SentimentIntensityAnalyzer):
    """VADER, skipping its character-by-character emoji pass on ASCII text.

    That pass only rewrites characters that are emoji, and every emoji VADER knows is
    non-ASCII (checked when built), so for ASCII text it is the identity: the scores are
    VADER's own, to the last digit (the tests compare them on thousands of texts).
    """

    def __init__(self):
        super().__init__()
        assert not any(key.isascii() for key in self.emojis), "an ASCII emoji key would break the fast path"
        self.ironic_tokens: frozenset[str] = frozenset()  # set by the support layer (see _but_check)
        self.phrase_tokens: frozenset[str] = frozenset()

    def polarity_scores(self, text: str) -> dict[str, float]:
        if not text.isascii():
            return super().polarity_scores(text)
        text = text.strip()
        sentitext = SentiText(text)
        words = sentitext.words_and_emoticons
        sentiments: list[float] = []
        for i, item in enumerate(words):
            lowered = item.lower()
            if lowered in BOOSTER_DICT or (lowered == "kind" and i < len(words) - 1 and words[i + 1].lower() == "of"):
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
        return self.score_valence(self._but_check(words, sentiments), text)

    def _but_check(self, words: list[str], sentiments: list[float]) -> list[float]:
        """VADER's "but" rule, after the support layer's irony rule: a praise interjection
        ("Great job guys, ...", "Brilliant.") counts with the opposite sign when nothing else
        in the text is positive and a support complaint phrase is ("..., my order got
        cancelled for no reason"). A negative word alone is not enough ("Perfect, I'll send
        the crash log"). Plain VADER has no ironic tokens, so this is VADER's rule alone."""
        if self.ironic_tokens:
            lowered = [str(word).lower() for word in words]
            ironic = {i for i, word in enumerate(lowered) if word in self.ironic_tokens}
            rest = [(word, value) for i, (word, value) in enumerate(zip(lowered, sentiments, strict=True)) if i not in ironic]
            complaint = any(value < 0 and word in self.phrase_tokens for word, value in rest)
            if ironic and complaint and all(value <= 0 for _, value in rest):
                sentiments = [-abs(value) if i in ironic else value for i, value in enumerate(sentiments)]
        return SentimentIntensityAnalyzer._but_check(words, sentiments)

    @staticmethod
    def _negation_check(valence: float, words: list[str], start_i: int, i: int) -> float:
        """VADER's rule, lower-casing only the up to three words it looks at (VADER
        lower-cases the whole text for every sentiment word it scores)."""

        if start_i > 0 and str(words[i]).lower().startswith(TOKEN_PREFIX):
            # A support phrase carries its own negation ("not working", "never arrived"): only
            # the word right before it negates it; two or three words back is mostly the
            # clause before ("I don't understand, you said it was fixed").
            return valence

        def word(offset: int) -> str:  # same (wrapping) indexing as VADER's
            return str(words[i - offset]).lower()

        def negation(text: str) -> bool:
            return text in NEGATE_WORDS or "n't" in text

        if start_i == 0:
            return valence * N_SCALAR if negation(word(1)) else valence
        if start_i == 1:
            if word(2) == "never" and word(1) in ("so", "this"):
                return valence * 1.25
            if word(2) == "without" and word(1) == "doubt":
                return valence
            return valence * N_SCALAR if negation(word(2)) else valence
        if start_i == 2:
            if (word(3) == "never" and word(2) in ("so", "this")) or word(1) in ("so", "this"):
                return valence * 1.25
            if word(3) == "without" and (word(2) == "doubt" or word(1) == "doubt"):
                return valence
            return valence * N_SCALAR if negation(word(3)) else valence
        return valence


@cache
def _analyzer(domain: bool) -> SentimentIntensityAnalyzer:
    analyzer = _Vader()
    if domain:
        layer = _layer()
        for group in layer["words"].values():
            analyzer.lexicon.update({word.lower(): float(value) for word, value in group.items()})
        analyzer.lexicon.update({token: valence for token, _, valence in _phrase_groups()})
        analyzer.ironic_tokens = frozenset(_ironic_tokens())
        analyzer.phrase_tokens = frozenset(token for token, _, _ in _phrase_groups())
    return analyzer


@cache
def _layer_text() -> str:
    return resources.files("sentiment_pipeline").joinpath("data/support_lexicon.toml").read_text(encoding="utf-8")


@cache
def _layer() -> dict:
    return tomllib.loads(_layer_text())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@cache
def _training_text() -> str:
    return resources.files("sentiment_pipeline").joinpath("data/support_messages.csv").read_text(encoding="utf-8")


def _features(texts: list[str], layer_scores: list[tuple[float, float, float, float]], words):
    """What the classifier sees when fitted: the message's word n-grams and the support layer's four scores."""
    from scipy import sparse

    return sparse.hstack([words.transform(texts), sparse.csr_matrix(layer_scores)]).tocsr()


def _training_messages() -> pl.DataFrame:
    return pl.read_csv(_training_text().encode(), schema={"text": pl.String, "label": pl.String})


def _fit(training: pl.DataFrame):
    """(word vectoriser, logistic regression) fitted on ``training`` (text, label) by
    scikit-learn; deterministic (lbfgs, no sampling). Word n-grams only: character n-grams
    gained 1.7 points in cross-validation but cost 7x the scoring time."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    texts = training.get_column("text").to_list()
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=TOKEN_PATTERN).fit(texts)
    features = _features(texts, score_texts(pl.Series(texts), Model(trained=False), workers=1).rows(), words)
    with threadpool_limits(1):  # BLAS threads on a problem this small only fight each other (0.2 s alone, 5 s on a busy box)
        fitted = LogisticRegression(C=CLASSIFIER_C, max_iter=5000).fit(features, training.get_column("label").to_numpy())
    return words, fitted


def fit_classifier() -> dict:
    """The classifier fitted on the shipped training messages, as the parameters
    ``LinearClassifier`` scores with (what ``sentiment-pipeline classifier fit`` writes)."""
    words, fitted = _fit(_training_messages())
    vocabulary = len(words.vocabulary_)
    weights = fitted.coef_.T  # (terms + layer scores) x classes
    return {
        "training_messages": _digest(_training_text()),
        "support_layer": _digest(_layer_text()),
        "fitted_by": f"scikit-learn {metadata.version('scikit-learn')}",
        "token_pattern": TOKEN_PATTERN,
        "classes": [str(name) for name in fitted.classes_],
        "intercept": fitted.intercept_.tolist(),
        "layer_weights": dict(zip(LAYER_SCORES, weights[vocabulary:].tolist(), strict=True)),
        "terms": {
            term: [words.idf_[column], *weights[column].tolist()]
            for term, column in sorted(words.vocabulary_.items(), key=lambda item: item[1])
        },
    }


@dataclass(frozen=True)
class LinearClassifier:
    """The fitted classifier's scoring: TF-IDF of word 1-2-grams (sublinear counts, l2 norm),
    the layer's four scores, a linear map and a softmax, as scikit-learn computes them (a test
    holds the two equal). Scoring from shipped parameters spares every run scikit-learn's
    import and the fit (~2 s); fitting stays scikit-learn's."""

    version: str
    classes: tuple[str, ...]
    token: re.Pattern
    columns: dict[str, int]  # term -> row of idf and weights
    idf: np.ndarray
    weights: np.ndarray  # terms x classes
    layer_weights: np.ndarray  # 4 x classes
    intercept: np.ndarray

    @classmethod
    def from_parameters(cls, parameters: dict) -> LinearClassifier:
        terms = parameters["terms"]
        table = np.array(list(terms.values()), dtype=np.float64).reshape(len(terms), 1 + len(parameters["classes"]))
        return cls(
            version=f"{parameters['fitted_by']} on {parameters['training_messages']}",
            classes=tuple(parameters["classes"]),
            token=re.compile(parameters["token_pattern"]),
            columns={term: row for row, term in enumerate(terms)},
            idf=table[:, 0],
            weights=table[:, 1:],
            layer_weights=np.array([parameters["layer_weights"][name] for name in LAYER_SCORES], dtype=np.float64),
            intercept=np.array(parameters["intercept"], dtype=np.float64),
        )

    def probabilities(self, texts: list[str], layer_scores: list[tuple[float, float, float, float]]) -> np.ndarray:
        """texts x classes: each text's class probabilities."""
        rows, columns, counts = [], [], []
        for row, text in enumerate(texts):
            tokens = self.token.findall(text.lower())
            grams = Counter(tokens + [f"{a} {b}" for a, b in pairwise(tokens)])
            for gram, count in grams.items():
                if (column := self.columns.get(gram)) is not None:
                    rows.append(row)
                    columns.append(column)
                    counts.append(count)
        rows, columns = np.array(rows, dtype=np.int64), np.array(columns, dtype=np.int64)
        values = (np.log(np.array(counts, dtype=np.float64)) + 1.0) * self.idf[columns]
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(texts)))
        values /= norms[rows]
        decision = np.array(layer_scores, dtype=np.float64).reshape(len(texts), len(LAYER_SCORES)) @ self.layer_weights
        decision += self.intercept
        for k in range(len(self.classes)):
            decision[:, k] += np.bincount(rows, weights=values * self.weights[columns, k], minlength=len(texts))
        decision -= decision.max(axis=1, keepdims=True)
        exponent = np.exp(decision)
        return exponent / exponent.sum(axis=1, keepdims=True)


class StaleClassifier(Exception):
    """The shipped classifier was fitted on other training messages or another support layer."""


@cache
def _classifier() -> LinearClassifier:
    parameters = json.loads(resources.files("sentiment_pipeline").joinpath(CLASSIFIER_FILE).read_text(encoding="utf-8"))
    for key, text in (("training_messages", _training_text()), ("support_layer", _layer_text())):
        if parameters[key] != _digest(text):
            raise StaleClassifier(
                f"{CLASSIFIER_FILE} was fitted on another {key.replace('_', ' ')} file than the one shipped: "
                "run `sentiment-pipeline classifier fit` to fit it again"
            )
    return LinearClassifier.from_parameters(parameters)


def write_classifier(path: str | os.PathLike) -> dict:
    """Fits the classifier and writes its parameters to ``path`` as JSON, a term a line (so a
    refit shows as a readable diff); returns them."""
    parameters = fit_classifier()
    head = json.dumps({k: v for k, v in parameters.items() if k != "terms"}, ensure_ascii=False, indent=1)
    terms = ",\n".join(f"  {json.dumps(t, ensure_ascii=False)}: {json.dumps(v)}" for t, v in parameters["terms"].items())
    with open(path, "w", encoding="utf-8") as out:
        out.write(f'{head[:-2]},\n "terms": {{\n{terms}\n }}\n}}\n')
    return parameters


def classifier_cross_validation(folds: int) -> float:
    """Accuracy of the classifier on the shipped training messages when every message is
    predicted by a classifier fitted on the other folds (row number modulo ``folds``)."""
    training = _training_messages().with_row_index("row")
    correct = 0
    for fold in range(folds):
        held = training.filter(pl.col("row") % folds == fold)
        words, fitted = _fit(training.filter(pl.col("row") % folds != fold))
        texts = held.get_column("text")
        layer = score_texts(texts, Model(trained=False), workers=1).rows()
        predicted = fitted.predict(_features(texts.to_list(), layer, words))
        correct += int((predicted == held.get_column("label").to_numpy()).sum())
    return correct / training.height


def _classified(texts: list[str], layer_scores: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """(compound, pos, neu, neg) from the classifier's class probabilities (see ``_compound``);
    a blank text says nothing, so it is neutral rather than a guess."""
    classifier = _classifier()
    probabilities = classifier.probabilities(texts, layer_scores)
    column = {name: i for i, name in enumerate(classifier.classes)}
    pos, neu, neg = (probabilities[:, column[name]].tolist() for name in ("positive", "neutral", "negative"))
    return [
        (0.0, 0.0, 1.0, 0.0) if not text.strip() else (_compound(p, u, n), p, u, n)
        for text, p, u, n in zip(texts, pos, neu, neg, strict=True)
    ]


def _compound(pos: float, neu: float, neg: float) -> float:
    """P(positive) - P(negative), kept inside the band of the most probable class, so the
    label thresholds on ``compound`` (the contract every model shares) give the classifier's
    decision: a neutral message's lean is scaled into the neutral band, a positive or negative
    one is at least the threshold. Ties go to neutral, then negative."""
    lean = pos - neg
    if neu >= pos and neu >= neg:
        return lean * POSITIVE_AT  # |lean| <= 0.5 when neutral is most probable
    return min(lean, NEGATIVE_AT) if neg >= pos else max(lean, POSITIVE_AT)


@cache
def _phrase_groups() -> tuple[tuple[str, str, float], ...]:
    """(token, one case-insensitive regex for the group, valence), in file order.

    Tokens are plain lower-case letters so VADER's tokenizer keeps them whole. A match
    starts and ends on a word boundary, or, for patterns that start or end with punctuation
    ('"fix"', "anyone there??"), at the start or end of the text or next to whitespace
    (which the match then takes in; the token is written with spaces around it anyway).
    """
    groups = []
    for name, group in _layer()["phrases"].items():
        pattern = r"(?i)(?:(?-u:\b)|^|\s)(?:" + "|".join(f"(?:{p})" for p in group["patterns"]) + r")(?:(?-u:\b)|$|\s)"
        groups.append((_token(name), pattern, float(group["valence"])))
    return tuple(groups)


def _token(name: str) -> str:
    return TOKEN_PREFIX + "".join(c for c in name.lower() if c.isalpha())


@cache
def _ironic_tokens() -> tuple[str, ...]:
    """Tokens of the phrase groups marked ``ironic`` (praise that reads as sarcasm next to
    nothing but complaints; see ``_Vader._but_check``)."""
    return tuple(_token(name) for name, group in _layer()["phrases"].items() if group.get("ironic", False))


MODELS = (Model(domain=False, trained=False), Model(trained=False), Model())


def accuracy_table(labeled: pl.DataFrame, models: tuple[Model, ...] = MODELS) -> pl.DataFrame:
    """Accuracy and per-class recall of each model on ``labeled`` (columns text, label)."""
    rows = []
    for model in models:
        predicted = scored(labeled.get_column("text"), model).get_column("label")
        judged = labeled.with_columns(correct=pl.lit(predicted) == pl.col("label"))
        recall = {f"recall_{name}": judged.filter(pl.col("label") == name).get_column("correct").mean() for name in SENTIMENT_LABELS}
        rows.append({"model": model.name, "texts": labeled.height, "accuracy": judged.get_column("correct").mean(), **recall})
    return pl.DataFrame(rows)
