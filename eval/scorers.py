"""Data-set level metrics, computed from in-memory lists (the CLI in `eval.score_cli` reads files).

MER-UniBench (as AffectGPT's scorer computes them; a mean is ``sum(values) / count`` in sample
order, which equals upstream's ``np.mean`` to float rounding, far below 1e-9):

- `ew_dataset_score` - emotion-wheel F-score of open-vocabulary label lists.
- `hit_rate` - HIT rate of open-vocabulary predictions on one-label (basic-emotion) data sets.
- `sentiment_scores` - weighted F1 and accuracy (scikit-learn) of sentiment replies read by the
  official rule (`official_polarity`) on CMU-MOSI/MOSEI, SIMS, SIMSv2.

Facial benchmark: `emotion_accuracy`, `au_scores` (micro F1 and per-AU), `rouge_l` (the
``rouge-score`` package), `format_rate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from rewards.aus import canonical_au, find_aus, sort_aus
from rewards.completion import is_well_formatted, parse_completion
from rewards.emotion_wheel import N_WHEELS, LabelsLike, check_level, wheel_overlaps
from rewards.labels import canonical_label


def _check_aligned(a: Sequence, b: Sequence, what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{what}: {len(a)} ground truths but {len(b)} predictions")


def _mean(values: Iterable[float]) -> tuple[float, int]:
    """(sum(values) / count, count), summed in the given order; (0.0, 0) when empty."""
    values = list(values)
    return (sum(values) / len(values) if values else 0.0), len(values)


# --------------------------------------------------------------------------------------------------
# Emotion wheel


@dataclass(frozen=True)
class WheelScore:
    """One wheel: mean precision / recall over the n samples counted on it, F from those means."""

    fscore: float
    precision: float
    recall: float
    n: int


@dataclass(frozen=True)
class EWDatasetScore:
    fscore: float
    precision: float
    recall: float
    n: int
    per_wheel: tuple[WheelScore, ...] = field(default=())


def ew_dataset_score(gts: Sequence[LabelsLike], preds: Sequence[LabelsLike],
                     level: int = 1) -> EWDatasetScore:
    """Emotion-wheel F-score of a data set (MER-UniBench uses level 1).

    For wheel w and each sample: G = mapped ground truth, P = mapped prediction (sets); the sample
    is skipped if G is empty; precision = |G∩P|/|P| and recall = |G∩P|/|G|, both 0 if P is empty.
    P_w, R_w = means over the counted samples (``sum(values) / count`` in sample order);
    F_w = 2·(P_w·R_w)/(P_w + R_w) (0 when P_w + R_w = 0, where upstream's division gives NaN).
    Reported: the means of F_w, P_w, R_w over the wheels with at least one counted sample (all
    five on any real data set; upstream's mean over an empty wheel is NaN); n = samples counted on
    at least one wheel. All values in [0, 1]; (0, 0, 0, n=0) when nothing is counted.
    """
    _check_aligned(gts, preds, "ew")
    level = check_level(level)
    precisions: list[list[float]] = [[] for _ in range(N_WHEELS)]
    recalls: list[list[float]] = [[] for _ in range(N_WHEELS)]
    n = 0
    for gt, pred in zip(gts, preds):
        counted = False
        for w, (n_g, n_p, common) in enumerate(wheel_overlaps(gt, pred, level)):
            if not n_g:
                continue
            counted = True
            precisions[w].append(common / n_p if n_p else 0.0)
            recalls[w].append(common / n_g if n_p else 0.0)
        n += counted
    per_wheel = []
    for w in range(N_WHEELS):
        p, count = _mean(precisions[w])
        r, _ = _mean(recalls[w])
        f = 2 * (p * r) / (p + r) if p + r else 0.0
        per_wheel.append(WheelScore(f, p, r, count))
    used = [s for s in per_wheel if s.n]
    f_mean, _ = _mean(s.fscore for s in used)
    p_mean, _ = _mean(s.precision for s in used)
    r_mean, _ = _mean(s.recall for s in used)
    return EWDatasetScore(f_mean, p_mean, r_mean, n, tuple(per_wheel))


@dataclass(frozen=True)
class HitRate:
    hit_rate: float
    n: int
    per_wheel: tuple[tuple[float, int], ...] = field(default=())


def hit_rate(gts: Sequence[LabelsLike], preds: Sequence[LabelsLike], level: int = 1) -> HitRate:
    """HIT rate of open-vocabulary predictions against one ground-truth label per sample.

    Per wheel: over the samples whose mapped ground truth G is non-empty, the mean of |P ∩ G|
    (0 or 1 for one label); then the mean over the wheels with at least one counted sample.
    n = samples counted on at least one wheel. Range [0, 1] for one-label ground truths.
    """
    _check_aligned(gts, preds, "hit")
    level = check_level(level)
    hits = [0] * N_WHEELS
    counts = [0] * N_WHEELS
    n = 0
    for gt, pred in zip(gts, preds):
        counted = False
        for w, (n_g, _n_p, common) in enumerate(wheel_overlaps(gt, pred, level)):
            if n_g:
                counted = True
                counts[w] += 1
                hits[w] += common
        n += counted
    per_wheel = tuple((hits[w] / counts[w] if counts[w] else 0.0, counts[w]) for w in range(N_WHEELS))
    rate, _ = _mean(r for r, c in per_wheel if c)
    return HitRate(rate, n, per_wheel)


# --------------------------------------------------------------------------------------------------
# Sentiment (the official rule; metrics from scikit-learn, as upstream computes them)


@dataclass(frozen=True)
class SentimentScore:
    weighted_f1: float
    accuracy: float
    n: int


def official_polarity(reply: object) -> int:
    """The official reading of a sentiment reply: exactly ``positive`` -> 1, exactly ``negative``
    -> -1, anything else 0 (``neutral``, ``Positive``, ``mixed``, ``''``, ``positive.``, a number).
    Lenient parsing of free-form replies belongs to the extraction step, not here."""
    if reply == "positive":
        return 1
    if reply == "negative":
        return -1
    return 0


def sentiment_scores(valences: Sequence[float], replies: Sequence[object]) -> SentimentScore:
    """Binary sentiment metrics of MER-UniBench (CMU-MOSI/MOSEI, SIMS, SIMSv2), as upstream.

    pred = `official_polarity(reply)`; samples with valence 0 are dropped; with y = valence > 0 and
    ŷ = pred > 0 (so neutral and unknown replies count as not positive):
    weighted F1 = ``sklearn.metrics.f1_score(y, ŷ, average="weighted")`` (per-class F1 weighted by
    the class's support in y) and accuracy = ``sklearn.metrics.accuracy_score(y, ŷ)``. Range
    [0, 1]; n = samples kept. ValueError when no sample is left (the official code fails there).
    """
    from sklearn.metrics import accuracy_score, f1_score

    _check_aligned(valences, replies, "sentiment")
    y_true, y_pred = [], []
    for valence, reply in zip(valences, replies):
        v = float(valence)
        if v == 0:
            continue
        y_true.append(v > 0)
        y_pred.append(official_polarity(reply) > 0)
    if not y_true:
        raise ValueError("no sample with a non-zero valence")
    return SentimentScore(float(f1_score(y_true, y_pred, average="weighted")),
                          float(accuracy_score(y_true, y_pred)), len(y_true))


# --------------------------------------------------------------------------------------------------
# Facial benchmark


def emotion_accuracy(gold: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Fraction of samples whose predicted label equals the gold one after
    `rewards.labels.canonical_label` (None or blank predictions are wrong). Range [0, 1]."""
    _check_aligned(gold, predicted, "emotion_accuracy")
    if not gold:
        raise ValueError("accuracy of an empty set")
    correct = 0
    for g, p in zip(gold, predicted):
        pc = canonical_label(p) if p is not None else ""
        correct += pc != "" and pc == canonical_label(g)
    return correct / len(gold)


@dataclass(frozen=True)
class AUCounts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """2·tp / (2·tp + fp + fn); 0 when the denominator is 0."""
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else 0.0


@dataclass(frozen=True)
class AUScores:
    micro_f1: float
    micro_precision: float
    micro_recall: float
    macro_f1: float
    per_au: dict[str, AUCounts]


def _au_set(value: object) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return set(find_aus(value))
    out = set()
    for item in value:  # type: ignore[union-attr]
        try:
            out.add(canonical_au(item))
        except ValueError:
            out.update(find_aus(str(item)))
    return out


def au_scores(gold: Sequence[object], predicted: Sequence[object]) -> AUScores:
    """AU detection scores; each entry is a list of AU codes or a text to search for codes.

    Per AU a: tp/fp/fn counted over samples. Micro: P = Σtp/(Σtp+Σfp), R = Σtp/(Σtp+Σfn),
    F1 = 2Σtp/(2Σtp+Σfp+Σfn). Per AU: F1_a = 2tp_a/(2tp_a+fp_a+fn_a), for every AU in gold or
    predictions. Macro F1 = mean of F1_a over the AUs present in gold. Ranges [0, 1]; 0 when undefined.
    """
    _check_aligned(gold, predicted, "au_scores")
    counts: dict[str, list[int]] = {}
    for g_raw, p_raw in zip(gold, predicted):
        g, p = _au_set(g_raw), _au_set(p_raw)
        for au in g | p:
            c = counts.setdefault(au, [0, 0, 0])
            if au in g and au in p:
                c[0] += 1
            elif au in p:
                c[1] += 1
            else:
                c[2] += 1
    per_au = {au: AUCounts(*counts[au]) for au in sort_aus(counts)}
    total = AUCounts(sum(c.tp for c in per_au.values()), sum(c.fp for c in per_au.values()),
                     sum(c.fn for c in per_au.values()))
    macro, _ = _mean(c.f1 for c in per_au.values() if c.tp + c.fn)
    return AUScores(total.f1, total.precision, total.recall, macro, per_au)


@cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F-measure of one candidate against one reference, from the ``rouge-score`` package
    (``RougeScorer(["rougeL"]).score(reference, candidate)["rougeL"].fmeasure``: its tokenizer
    lower-cases and keeps runs of [a-z0-9]; with L = LCS length, P = L/|candidate|,
    R = L/|reference|, F = 2PR/(P+R), 0 when L = 0). Range [0, 1]. Text without any [a-z0-9]
    token (e.g. Chinese) scores 0."""
    return float(_rouge_scorer().score(reference or "", candidate or "")["rougeL"].fmeasure)


def mean_rouge_l(references: Sequence[str], candidates: Sequence[str]) -> float:
    """Mean of `rouge_l` over aligned pairs (plain sum / n); ValueError when empty."""
    _check_aligned(references, candidates, "rouge_l")
    if not references:
        raise ValueError("ROUGE-L of an empty set")
    value, _ = _mean(rouge_l(r, c) for r, c in zip(references, candidates))
    return value


def format_rate(completions: Sequence[object]) -> float:
    """Fraction of completions that are exactly ``<think>X</think><answer>Y</answer>``
    (`rewards.completion.is_well_formatted`). Range [0, 1]; ValueError when empty."""
    if not completions:
        raise ValueError("format rate of an empty set")
    ok = sum(1 for c in completions if is_well_formatted(parse_completion(c).text))
    return ok / len(completions)
