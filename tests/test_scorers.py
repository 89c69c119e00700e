"""Data-set level metrics: EW F-score, HIT rate, sentiment, and the Facial benchmark metrics."""

from __future__ import annotations

import random

import pytest

from eval.scorers import (
    au_scores,
    emotion_accuracy,
    ew_dataset_score,
    format_rate,
    hit_rate,
    mean_rouge_l,
    official_polarity,
    rouge_l,
    sentiment_scores,
)


def mean(xs):
    return sum(xs) / len(xs)


# --------------------------------------------------------------------------------------------------
# EW data-set F-score


def test_ew_dataset_score_hand_computed():
    gts = ["['happy', 'worried']", "['sad']", "['neutral']", "surprised"]
    preds = ["happy, sad, angry", "[]", "['happy']", "['surprised']"]
    r = ew_dataset_score(gts, preds)
    # Sample 1: precision 1/3, recall 1/2 on every wheel. Sample 2: empty prediction -> 0, 0.
    # Sample 3: ground truth maps to nothing -> skipped. Sample 4: "surprised" maps on wheels 1-4
    # only (perfect there), so wheel 5 counts two samples and wheels 1-4 count three.
    p14, r14 = mean([1 / 3, 0, 1.0]), mean([1 / 2, 0, 1.0])
    p5, r5 = mean([1 / 3, 0]), mean([1 / 2, 0])
    f14, f5 = 2 * (p14 * r14) / (p14 + r14), 2 * (p5 * r5) / (p5 + r5)
    assert p14 == pytest.approx(4 / 9) and f14 == pytest.approx(8 / 17) and f5 == pytest.approx(0.2)
    assert [(w.n, w.precision, w.recall, w.fscore) for w in r.per_wheel] == \
        [(3, p14, r14, f14)] * 4 + [(2, p5, r5, f5)]
    assert (r.fscore, r.precision, r.recall) == (mean([f14] * 4 + [f5]), mean([p14] * 4 + [p5]),
                                                 mean([r14] * 4 + [r5]))
    assert r.n == 3


def test_ew_dataset_score_edge_cases():
    empty = ew_dataset_score(["neutral", ""], ["happy", "sad"])
    assert (empty.fscore, empty.precision, empty.recall, empty.n) == (0.0, 0.0, 0.0, 0)
    wrong = ew_dataset_score(["happy"], ["sad"])          # P_w = R_w = 0 -> F_w = 0 (not NaN)
    assert (wrong.fscore, wrong.precision, wrong.recall, wrong.n) == (0.0, 0.0, 0.0, 1)
    assert ew_dataset_score([["happy"]], [("joyful",)], level=2).n == 1
    with pytest.raises(ValueError, match="2 ground truths but 1 predictions"):
        ew_dataset_score(["a", "b"], ["a"])


# --------------------------------------------------------------------------------------------------
# HIT rate


def test_hit_rate_hand_computed():
    gts = ["happy", "sad", "neutral", "surprised"]
    preds = ["['joyful', 'angry']", "['happy']", "['happy']", "['surprised', 'sad']"]
    r = hit_rate(gts, preds)
    # happy vs joyful: same word on every wheel (hit); sad vs happy: miss; neutral: skipped;
    # surprised: hit on wheels 1-4, not counted on wheel 5.
    assert r.per_wheel == ((2 / 3, 3),) * 4 + ((0.5, 2),)
    assert r.hit_rate == mean([2 / 3] * 4 + [0.5])
    assert r.n == 3


# --------------------------------------------------------------------------------------------------
# Sentiment: the official reply rule, scikit-learn metrics


def test_sentiment_hand_computed():
    valences = [1.5, -0.3, 0.0, 2.0, -1.0]
    preds = ["positive", "neutral", "positive", "negative", "Negative "]
    r = sentiment_scores(valences, preds)
    # Valence 0 dropped. y = [T, F, T, F], ŷ = [T, F, F, F] (neutral counts as negative).
    # F1(False) = 2·2/(2+3) = 0.8, F1(True) = 2·1/(2+1) = 2/3, weights 2 and 2.
    assert r.n == 4
    assert r.accuracy == 3 / 4
    assert r.weighted_f1 == pytest.approx((0.8 * 2 + (2 / 3) * 2) / 4, abs=1e-15)
    with pytest.raises(ValueError, match="no sample with a non-zero valence"):
        sentiment_scores([0, 0.0], ["positive", "negative"])


def test_official_reply_rule():
    # only the exact words count: "Positive", "positive.", "mixed", "" and numbers are 0
    replies = ["positive", "negative", "neutral", "Positive", "positive.", "mixed", "", " negative",
               None, 1]
    assert [official_polarity(x) for x in replies] == [1, -1, 0, 0, 0, 0, 0, 0, 0, 0]
    # so a valence-positive sample answered "Positive" is a miss
    r = sentiment_scores([1.0, -1.0], ["Positive", "negative"])
    assert r.accuracy == 0.5


def test_sentiment_matches_scikit_learn_on_random_sets():
    from sklearn.metrics import accuracy_score, f1_score

    rng = random.Random(0)
    for _ in range(100):
        n = rng.randint(1, 40)
        valences = [rng.choice([-2.0, -0.5, 0.0, 0.4, 3.0]) for _ in range(n)]
        replies = [rng.choice(["positive", "negative", "neutral", "Positive", ""])
                   for _ in range(n)]
        kept = [(v > 0, r == "positive") for v, r in zip(valences, replies) if v != 0]
        if not kept:
            continue
        y, p = zip(*kept)
        r = sentiment_scores(valences, replies)
        assert r.weighted_f1 == f1_score(y, p, average="weighted")
        assert r.accuracy == accuracy_score(y, p) and r.n == len(kept)


# --------------------------------------------------------------------------------------------------
# Facial benchmark


def test_emotion_accuracy_uses_canonical_labels():
    assert emotion_accuracy(["happiness", "anger", "fear", "sadness"],
                            ["Happy", "angry.", None, "sadness and anger"]) == 2 / 4


def test_au_scores_hand_computed():
    gold = [["AU1", "AU4"], ["AU4"], []]
    pred = [["au04"], "AU 4 and AU12", ["AU1"]]
    r = au_scores(gold, pred)
    # AU1: fp 1 (sample 3), fn 1 (sample 1); AU4: tp 2; AU12: fp 1.
    assert {a: (c.tp, c.fp, c.fn) for a, c in r.per_au.items()} == \
        {"AU1": (0, 1, 1), "AU4": (2, 0, 0), "AU12": (0, 1, 0)}
    assert list(r.per_au) == ["AU1", "AU4", "AU12"]
    assert (r.micro_precision, r.micro_recall, r.micro_f1) == (2 / 4, 2 / 3, 4 / 7)
    assert r.macro_f1 == (0.0 + 1.0) / 2            # over the AUs present in gold
    assert r.per_au["AU4"].f1 == 1.0 and r.per_au["AU12"].f1 == 0.0


def test_rouge_l_is_the_rouge_score_package():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    # LCS("the cat sat on the mat", "the cat on the mat") = 5: P = 5/5, R = 5/6, F = 10/11.
    assert rouge_l("The cat sat on the mat", "the CAT on the mat") == pytest.approx(10 / 11)
    # punctuation is not a token (the hand-written version gave 0.667 here)
    assert rouge_l("the cat sat.", "the cat sat") == 1.0
    assert rouge_l("a b c", "a b c") == 1.0
    assert rouge_l("a b", "c d") == 0.0 and rouge_l("", "a") == 0.0 and rouge_l("a", "") == 0.0
    rng = random.Random(3)
    for _ in range(50):
        ref = " ".join(rng.choice(["happy", "sad,", "The", "eyes.", "x1"]) for _ in range(9))
        cand = " ".join(rng.choice(["happy", "sad", "the", "eyes", "y"]) for _ in range(7))
        assert rouge_l(ref, cand) == scorer.score(ref, cand)["rougeL"].fmeasure
    assert mean_rouge_l(["a b", "a b"], ["a b", "c"]) == 0.5


def test_format_rate():
    comps = ["<think>a</think><answer>b</answer>", "<answer>b</answer>",
             [{"role": "assistant", "content": "<think>a</think> <answer>b</answer>"}], ""]
    assert format_rate(comps) == 2 / 4
    with pytest.raises(ValueError):
        format_rate([])
