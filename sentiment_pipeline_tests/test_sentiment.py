"""The sentiment scorer: VADER reproduced exactly, the support layer's effect, parallel = serial,
and the accuracy report on the labeled development set."""

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

import sentiment_pipeline
from sentiment_pipeline import sentiment
from sentiment_pipeline.conversations import messages, score_messages, ticket_sentiment
from sentiment_pipeline.sample import _text, product_catalog
from sentiment_pipeline.schemas import COMMENTS
from sentiment_pipeline.sentiment import Model, accuracy_table, classifier_cross_validation, score_texts, scored

DATA = Path(__file__).parent / "data"
PLAIN, LAYER, OURS = Model(domain=False, trained=False), Model(trained=False), Model()


def compound(text: str, model: Model) -> float:
    return score_texts(pl.Series([text]), model).get_column("compound").item()


def varied_texts(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    catalog = product_catalog()
    words = [
        "good",
        "bad",
        "never",
        "so",
        "this",
        "without",
        "doubt",
        "not",
        "isn't",
        "don't",
        "great",
        "terrible",
        "no",
        "least",
        "at",
        "very",
        "kind",
        "of",
        "the",
        "but",
        "😀",
        "🙏",
        "!!",
    ]
    texts = [". ".join(_text(rng, rng.choice(["negative", "positive", "neutral"]), catalog)) for _ in range(count // 2)]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 10))) for _ in range(count - len(texts))]
    return texts


def test_plain_model_is_vader_to_the_last_digit():
    assert compound("VADER is smart, handsome, and funny.", PLAIN) == 0.8316  # VADER's own README example
    texts = varied_texts(3000)
    reference = SentimentIntensityAnalyzer()
    expected = [reference.polarity_scores(t) for t in texts]
    got = score_texts(pl.Series(texts), PLAIN).to_dicts()
    assert got == [{k: e[k] for k in ("compound", "pos", "neu", "neg")} for e in expected]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Still waiting for my refund.", "negative"),
        ("I was charged twice for the same order.", "negative"),
        ("No response to my emails since Monday.", "negative"),
        ("The app crashes on start since the update.", "negative"),
        ("The refund never came.", "negative"),
        ("It doesnt work after the update", "negative"),
        ("Great, another update that breaks everything", "negative"),
        ("Resolved, thank you.", "positive"),
        ("It works now after the reinstall.", "positive"),
        ("Please send the invoice for order ORD-123456. Best regards", "neutral"),
        ("How do I change the billing email on my account?", "neutral"),
    ],
)
def test_support_language_is_labelled_right_by_the_layer_and_the_classifier(text, label):
    for model in (LAYER, OURS):
        got = scored(pl.Series([text]), model).row(0, named=True)
        assert got["label"] == label, f"{model.name}, {text!r}: {got}"


def test_classifier_scores_are_probabilities_and_blank_text_is_neutral():
    got = scored(pl.Series(["Still broken.", "Thanks, that fixed it!", "", "   ", None]), OURS)
    sums = got.select(pl.col("pos") + pl.col("neu") + pl.col("neg")).to_series().to_list()
    assert sums == pytest.approx([1.0] * 5)
    most_probable = [
        max(("neutral", row["neu"]), ("negative", row["neg"]), ("positive", row["pos"]), key=lambda c: c[1])[0]
        for row in got.rows(named=True)
    ]
    assert got.get_column("label").to_list() == most_probable  # thresholds on compound give the classifier's decision
    assert got.head(2).select(pl.col("compound") == pl.col("pos") - pl.col("neg")).to_series().all()  # clear cases: the plain lean
    assert got.get_column("label").to_list() == ["negative", "positive", "neutral", "neutral", "neutral"]
    assert got.row(2, named=True) == {"compound": 0.0, "pos": 0.0, "neu": 1.0, "neg": 0.0, "label": "neutral"}


def test_classifier_generalises_beyond_what_it_was_fitted_on():
    """Five-fold cross-validation over the shipped training messages: each fold is scored by a
    classifier fitted without it, and must beat the support layer's rules on the same messages
    by a wide margin (the held-out figures live in benchmarks/accuracy.py)."""
    training = pl.read_csv(Path(sentiment_pipeline.__file__).parent / "data" / "support_messages.csv")
    rules = accuracy_table(training, (LAYER,)).get_column("accuracy").item()
    learned = classifier_cross_validation(folds=5)
    assert learned >= 0.88 and learned >= rules + 0.05, (learned, rules)


def test_shipped_classifier_is_the_fit_of_the_shipped_training_messages():
    """data/support_classifier.json is what fitting the shipped messages gives now: a changed
    training file or layer without `sentiment-pipeline classifier fit` fails here (and, at run
    time, ``StaleClassifier``)."""
    shipped = json.loads((Path(sentiment_pipeline.__file__).parent / sentiment.CLASSIFIER_FILE).read_text())
    fitted = sentiment.fit_classifier()
    assert {k: v for k, v in shipped.items() if k not in ("terms", "intercept", "layer_weights")} == {
        k: v for k, v in fitted.items() if k not in ("terms", "intercept", "layer_weights")
    }
    assert list(shipped["terms"]) == list(fitted["terms"])
    for key in ("terms", "layer_weights"):
        assert np.array(list(shipped[key].values())) == pytest.approx(np.array(list(fitted[key].values())), abs=1e-6)
    assert shipped["intercept"] == pytest.approx(fitted["intercept"], abs=1e-6)


def test_classifier_scores_as_scikit_learn_does():
    """The shipped scoring (no scikit-learn at run time) gives scikit-learn's own
    probabilities: held-out messages, blank and punctuation-only text, non-ASCII, unseen words."""
    texts = [
        *pl.read_csv(Path(__file__).parents[1] / "benchmarks" / "data" / "messages_holdout.csv").get_column("text").to_list(),
        *varied_texts(300),
        "",
        "   ",
        "!!!",
        "??",
        "Ça ne marche toujours pas 😡, Grüße aus Köln",
        "zxqv plorble",
        "ok",
    ]
    layer = score_texts(pl.Series(texts), LAYER, workers=1).rows()
    words, fitted = sentiment._fit(sentiment._training_messages())
    expected = fitted.predict_proba(sentiment._features(texts, layer, words))
    assert sentiment._classifier().classes == tuple(fitted.classes_)
    assert np.abs(sentiment._classifier().probabilities(texts, layer) - expected).max() < 1e-12


def test_a_classifier_fitted_on_other_training_messages_is_refused(monkeypatch):
    monkeypatch.setattr(sentiment, "_training_text", lambda: "text,label\nchanged,neutral\n")
    sentiment._classifier.cache_clear()
    try:
        with pytest.raises(sentiment.StaleClassifier, match="classifier fit"):
            score_texts(pl.Series(["Still broken."]), OURS)
    finally:
        sentiment._classifier.cache_clear()


@pytest.mark.parametrize(
    ("text", "plain", "ours"),
    [
        ("Still waiting for the replacement.", 0.0, -0.5106),
        ("The app crashes on start.", 0.0, -0.5106),
        ("The refund never came.", 0.0, -0.5106),
        ("It works now.", 0.0, 0.5106),
    ],
)
def test_support_layer_fixes_what_plain_vader_calls_neutral(text, plain, ours):
    assert (compound(text, PLAIN), compound(text, LAYER)) == (plain, ours)


def test_support_layer_takes_the_praise_out_of_boilerplate():
    assert compound("Please help me change my address. Best regards", PLAIN) >= 0.05
    assert compound("Please help me change my address. Best regards", LAYER) == 0.0
    assert scored(pl.Series(["Please help me change my address. Best regards"]), OURS).get_column("label").item() == "neutral"


def test_two_processes_score_exactly_like_one():
    texts = pl.Series(varied_texts(6000, seed=9))
    assert score_texts(texts, OURS, workers=2).equals(score_texts(texts, OURS, workers=1))


def test_ticket_sentiment_rows_labels_and_model_version():
    tickets = pl.DataFrame(
        {"ticket_id": ["a", "b", "c"], "subject": ["Broken", None, "Thanks"], "body": ["still waiting!", None, "works now"]}
    ).with_columns(
        created_at=pl.lit(datetime(2025, 1, 2, tzinfo=UTC)),
        customer_id=pl.lit("C1"),
        agent_id=pl.lit("A1"),
        comments=pl.lit([], dtype=COMMENTS),
    )
    scored = ticket_sentiment(score_messages(messages(tickets)))
    assert scored.get_column("label").to_list() == ["negative", "neutral", "positive"]
    assert scored.get_column("trajectory").to_list() == ["single"] * 3
    assert scored.get_column("model").unique().to_list() == ["vader+support+classifier"]
    assert scored.get_column("model_version").item(0).startswith("vaderSentiment 3.3.2; support layer ")


def test_accuracy_on_the_development_set():
    labeled = pl.read_csv(DATA / "sentiment_dev.csv")
    assert labeled.height >= 300 and set(labeled.get_column("label")) == {"negative", "neutral", "positive"}
    table = accuracy_table(labeled)
    print("\n" + str(table))
    plain = table.row(0, named=True)
    for ours in table.rows(named=True)[1:]:  # the support layer alone, and with the classifier
        assert ours["accuracy"] >= 0.85, table
        for name in ("negative", "neutral", "positive"):
            assert ours[f"recall_{name}"] >= plain[f"recall_{name}"] - 0.02, (name, table)
