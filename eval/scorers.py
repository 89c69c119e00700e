"""Data-set level metrics, computed from in-memory lists (the CLI in `eval.score_cli` reads files).

MER-UniBench (reproduced exactly; a mean is ``sum(values) / count`` with the values in sample order,
as the official scorer computes it without numpy):

- `ew_dataset_score` - emotion-wheel F-score of open-vocabulary label lists.
- `hit_rate` - HIT rate of open-vocabulary predictions on one-label (basic-emotion) data sets.
- `sentiment_scores` - weighted F1 and accuracy of polarity predictions (CMU-MOSI/MOSEI, SIMS).

Facial benchmark: `emotion_accuracy`, `au_scores` (micro F1 and per-AU), `rouge_l`, `format_rate`.
Generic: `weighted_f1`, `accuracy` (as scikit-learn computes them).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

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
    F_w = 2·(P_w·R_w)/(P_w + R_w) (0 when P_w + R_w = 0). Reported: the means of F_w, P_w, R_w over
    the wheels with at least one counted sample (all five on any real data set); n = samples
    counted on at least one wheel. All values in [0, 1]; (0, 0, 0, n=0) when nothing is counted.
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
# Classification (scikit-learn semantics)


def accuracy(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Fraction of exact matches, ``sklearn.metrics.accuracy_score``: correct / n. Range [0, 1]."""
    _check_aligned(y_true, y_pred, "accuracy")
    if not y_true:
        raise ValueError("accuracy of an empty set")
    return sum(1 for t, p in zip(y_true, y_pred) if t == p) / len(y_true)


def weighted_f1(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """``sklearn.metrics.f1_score(y_true, y_pred, average="weighted")``.

    Classes = the sorted union of the labels in y_true and y_pred. Per class c:
    F1_c = 2·tp_c / (support_c + predicted_c) (0 when the denominator is 0), where support_c is
    the count of c in y_true; result = Σ_c F1_c · support_c / Σ_c support_c, summed in sorted class
    order as numpy does. Range [0, 1].
    """
    _check_aligned(y_true, y_pred, "weighted_f1")
    if not y_true:
        raise ValueError("F1 of an empty set")
    classes = sorted(set(y_true) | set(y_pred))
    tp = dict.fromkeys(classes, 0)
    support = dict.fromkeys(classes, 0)
    predicted = dict.fromkeys(classes, 0)
    for t, p in zip(y_true, y_pred):
        support[t] += 1
        predicted[p] += 1
        if t == p:
            tp[t] += 1
    weighted = 0.0
    total = 0.0
    for c in classes:
        denom = float(support[c]) + float(predicted[c])
        f1 = 2.0 * tp[c] / denom if denom else 0.0
        weighted += f1 * support[c]
        total += support[c]
    return weighted / total if total else 0.0


@dataclass(frozen=True)
class SentimentScore:
    weighted_f1: float
    accuracy: float
    n: int


SENTIMENT_POLARITY = {"positive": 1, "neutral": 0, "negative": -1}


def polarity(value: object) -> float:
    """positive -> 1, neutral -> 0, negative -> -1 (any case); a number is its own polarity.
    ValueError for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower()
    if text in SENTIMENT_POLARITY:
        return SENTIMENT_POLARITY[text]
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"sentiment must be positive, negative, neutral or a number, "
                         f"got {value!r}") from None


def sentiment_scores(valences: Sequence[float], predictions: Sequence[object]) -> SentimentScore:
    """Binary sentiment metrics of MER-UniBench (CMU-MOSI/MOSEI, SIMS, SIMSv2).

    Samples with valence 0 are dropped; y = valence > 0, ŷ = polarity(prediction) > 0 (so neutral
    counts as negative); weighted F1 and accuracy as scikit-learn computes them (`weighted_f1`,
    `accuracy`). n = samples kept. ValueError when no sample is left.
    """
    _check_aligned(valences, predictions, "sentiment")
    y_true, y_pred = [], []
    for valence, pred in zip(valences, predictions):
        v = float(valence)
        if v == 0:
            continue
        y_true.append(v > 0)
        y_pred.append(polarity(pred) > 0)
    if not y_true:
        raise ValueError("no sample with a non-zero valence")
    return SentimentScore(weighted_f1(y_true, y_pred), accuracy(y_true, y_pred), len(y_true))


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


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence (bit-parallel, O(len(a)·len(b)/word))."""
    if not a or not b:
        return 0
    masks: dict[Hashable, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(reference: str, candidate: str, beta: float = 1.0) -> float:
    """ROUGE-L F-measure of one candidate against one reference.

    Tokens: ``text.lower().split()`` (whitespace). With L = LCS(reference, candidate) length,
    P = L/|candidate|, R = L/|reference|: F = (1 + β²)·P·R / (R + β²·P); 0 when L = 0.
    β = 1 gives the harmonic mean (the ``rouge-score`` package's ``rougeL`` F-measure without
    stemming). Range [0, 1].
    """
    ref, cand = reference.lower().split(), candidate.lower().split()
    common = lcs_length(ref, cand)
    if not common:
        return 0.0
    p, r = common / len(cand), common / len(ref)
    b2 = beta * beta
    return (1 + b2) * p * r / (r + b2 * p)


def mean_rouge_l(references: Sequence[str], candidates: Sequence[str], beta: float = 1.0) -> float:
    """Mean of `rouge_l` over aligned pairs (plain sum / n); ValueError when empty."""
    _check_aligned(references, candidates, "rouge_l")
    if not references:
        raise ValueError("ROUGE-L of an empty set")
    value, _ = _mean(rouge_l(r, c, beta) for r, c in zip(references, candidates))
    return value


def format_rate(completions: Sequence[object]) -> float:
    """Fraction of completions that are exactly ``<think>X</think><answer>Y</answer>``
    (`rewards.completion.is_well_formatted`). Range [0, 1]; ValueError when empty."""
    if not completions:
        raise ValueError("format rate of an empty set")
    ok = sum(1 for c in completions if is_well_formatted(parse_completion(c).text))
    return ok / len(completions)
