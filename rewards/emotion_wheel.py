"""The emotion-wheel (EW) metric of MER-UniBench / OV-MER, per sample.

A label list (see `rewards.label_list.parse_label_list`) is mapped, under each of the five wheels,
to a set of wheel words (`rewards.wheel_data` holds the exact mapping rules; ``neutral`` maps to
nothing, ``fear`` goes through ``fearless``). For one sample and wheel w, with G_w the mapped
ground truth and P_w the mapped prediction (both sets)::

    precision_w = |G_w ∩ P_w| / |P_w|,  recall_w = |G_w ∩ P_w| / |G_w|   (both 0 when P_w is empty)
    F_w = 2 · (precision_w · recall_w) / (precision_w + recall_w)            (0 when both are 0)

The per-sample score averages (F_w, precision_w, recall_w) over the wheels where G_w is non-empty
(``sum(values) / count`` in wheel order); it is ``None`` when G_w is empty under every wheel,
except that an empty prediction list scores (0, 0, 0) against any non-empty ground-truth list.
Every value lies in [0, 1].

Speed: every surface form is compiled once into an integer bit mask of its mapped words under all
five wheels (wheel w owns a byte-aligned bit range). A label list is the OR of its labels' masks.
``mask.to_bytes(...).translate(POPCOUNT)`` yields all per-byte set sizes in two C calls, and since
the score depends only on the per-wheel sizes (|G_w|, |P_w|, |G_w ∩ P_w|), it is memoised on them:
a handful of small-integer combinations covers almost every sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import NamedTuple

from rewards import wheel_data
from rewards.label_list import parse_label_list

N_WHEELS = wheel_data.N_WHEELS
LabelsLike = str | Iterable[object] | None

_POPCOUNT = bytes(bin(i).count("1") for i in range(256))
_CACHE_MAX = 1 << 16


class EWScore(NamedTuple):
    """Per-sample (or data-set) EW F-score, precision and recall, each in [0, 1]."""

    fscore: float
    precision: float
    recall: float


class _Compiled(NamedTuple):
    masks: dict[str, int]                     # surface form -> bits of its mapped words
    segments: tuple[tuple[int, int], ...]     # per wheel: (shift, mask of the wheel's bit range)
    words: tuple[tuple[str, ...], ...]        # per wheel: bit index -> wheel word
    wheel_bytes: int                          # bytes per wheel range
    n_bytes: int                              # bytes of a whole mask


def check_level(level: object) -> int:
    """`level` as 1 or 2 (accepts 1, 2, "1", "2", "level1", "level2"); ValueError otherwise."""
    text = str(level).strip().lower().removeprefix("level")
    if isinstance(level, bool) or text not in ("1", "2"):
        raise ValueError(f"level must be 1 or 2, got {level!r}")
    return int(text)


@cache
def _compiled(level: int) -> _Compiled:
    tables = [wheel_data.label_table(wheel, level) for wheel in range(1, N_WHEELS + 1)]
    vocabs = [tuple(sorted(set(t.values()))) for t in tables]
    wheel_bytes = max(1, -(-max(len(v) for v in vocabs) // 8))
    masks: dict[str, int] = {}
    segments = []
    for w, (table, vocab) in enumerate(zip(tables, vocabs)):
        shift = 8 * wheel_bytes * w
        bit_of = {word: 1 << (shift + i) for i, word in enumerate(vocab)}
        for label, word in table.items():
            masks[label] = masks.get(label, 0) | bit_of[word]
        segments.append((shift, (1 << len(vocab)) - 1))
    return _Compiled(masks, tuple(segments), tuple(vocabs), wheel_bytes, wheel_bytes * N_WHEELS)


_STRING_MASKS: dict[tuple[int, str], int] = {}


def mask_of(labels: Iterable[str], level: int = 1) -> int:
    """Mask of labels that are already parsed (lower-cased, stripped) - see `label_mask`."""
    masks = _compiled(level).masks
    mask = 0
    for label in labels:
        mask |= masks.get(label, 0)
    return mask


def label_mask(labels: LabelsLike, level: int = 1, memo: bool = True) -> int:
    """Bit mask of the mapped words of a label list under all five wheels (0 = maps to nothing).

    With `memo`, label-list strings are memoised (bounded cache): ground truths repeat across a
    GRPO group and a data set; predictions rarely repeat, so `ew_score` does not memoise them.
    """
    if memo and isinstance(labels, str):
        key = (level, labels)
        mask = _STRING_MASKS.get(key)
        if mask is None:
            mask = mask_of(parse_label_list(labels), level)
            if len(_STRING_MASKS) >= _CACHE_MAX:
                _STRING_MASKS.clear()
            _STRING_MASKS[key] = mask
        return mask
    return mask_of(parse_label_list(labels), level)


def _per_wheel(counts: bytes, wheel_bytes: int) -> tuple[int, ...]:
    """Per-byte set sizes -> per-wheel set sizes."""
    if wheel_bytes == 1:
        return tuple(counts)
    return tuple(sum(counts[i:i + wheel_bytes]) for i in range(0, len(counts), wheel_bytes))


def _score_counts(g_counts: bytes, p_counts: bytes, c_counts: bytes,
                  wheel_bytes: int) -> EWScore | None:
    """The per-sample score from per-byte sizes of G, P and G ∩ P (module docstring formula)."""
    if wheel_bytes != 1:
        g_counts, p_counts, c_counts = (_per_wheel(x, wheel_bytes)  # type: ignore[assignment]
                                        for x in (g_counts, p_counts, c_counts))
    fscores: list[float] = []
    precisions: list[float] = []
    recalls: list[float] = []
    n = 0
    for n_g, n_p, common in zip(g_counts, p_counts, c_counts):
        if n_g:
            n += 1
            if common:  # a wheel without common words adds 0.0, which changes no sum
                precision, recall = common / n_p, common / n_g
                fscores.append(2 * (precision * recall) / (precision + recall))
                precisions.append(precision)
                recalls.append(recall)
    if not n:
        return None
    return EWScore(sum(fscores) / n, sum(precisions) / n, sum(recalls) / n)


_SCORES: dict[bytes, EWScore | None] = {}


def score_masks(gt_mask: int, pred_mask: int, level: int = 1) -> EWScore | None:
    """The per-sample score from two masks of `label_mask` (see the module docstring)."""
    return mask_scorer(level)(gt_mask, pred_mask)


@cache
def mask_scorer(level: int = 1) -> Callable[[int, int], EWScore | None]:
    """`score_masks` with the tables of `level` bound once (the rewards' hot path)."""
    compiled = _compiled(level)
    size, wheel_bytes, scores = compiled.n_bytes, compiled.wheel_bytes, _SCORES

    def score(gt_mask: int, pred_mask: int) -> EWScore | None:
        g = gt_mask.to_bytes(size, "little").translate(_POPCOUNT)
        p = pred_mask.to_bytes(size, "little").translate(_POPCOUNT)
        c = (gt_mask & pred_mask).to_bytes(size, "little").translate(_POPCOUNT)
        key = g + p + c
        try:
            return scores[key]
        except KeyError:
            result = _score_counts(g, p, c, wheel_bytes)
            if len(scores) >= _CACHE_MAX:
                scores.clear()
            scores[key] = result
            return result

    return score


def label_masks(level: int = 1) -> dict[str, int]:
    """Surface form -> mask under `level` (for callers that OR parsed labels themselves)."""
    return _compiled(level).masks


def ew_score(gt: LabelsLike, pred: LabelsLike, level: int = 1) -> EWScore | None:
    """Per-sample EW score of `pred` against `gt` (label lists or list strings); range [0, 1].

    As the official per-sample routine: an empty prediction list (no non-blank label) scores
    (0, 0, 0) whenever the ground-truth list is not empty, even if the ground truth maps to nothing
    (``['neutral']`` vs ``[]``); otherwise the formula of the module docstring, and None when the
    ground truth is empty or maps to nothing under every wheel (the official routine raises there).

    >>> ew_score("['happy']", "['joyful', 'sad']").fscore > 0
    True
    """
    if type(level) is not int or (level != 1 and level != 2):
        level = check_level(level)
    result = score_masks(label_mask(gt, level), label_mask(pred, level, memo=False), level)
    if result is None and _has_label(gt) and not _has_label(pred):
        return _ZERO  # the official routine scores an empty prediction 0 before mapping anything
    return result


_ZERO = EWScore(0.0, 0.0, 0.0)


def _has_label(labels: LabelsLike) -> bool:
    """Whether a label list holds a non-blank label (the official emptiness test)."""
    return any(str(label).strip() for label in parse_label_list(labels))


def wheel_overlaps(gt: LabelsLike, pred: LabelsLike,
                   level: int = 1) -> tuple[tuple[int, int, int], ...]:
    """Per wheel ``(|G_w|, |P_w|, |G_w ∩ P_w|)`` - what data-set level metrics are built from."""
    level = check_level(level)
    compiled = _compiled(level)
    g_mask, p_mask = label_mask(gt, level), label_mask(pred, level, memo=False)
    size, k = compiled.n_bytes, compiled.wheel_bytes
    g = _per_wheel(g_mask.to_bytes(size, "little").translate(_POPCOUNT), k)
    p = _per_wheel(p_mask.to_bytes(size, "little").translate(_POPCOUNT), k)
    c = _per_wheel((g_mask & p_mask).to_bytes(size, "little").translate(_POPCOUNT), k)
    return tuple(zip(g, p, c))


def map_labels(labels: LabelsLike, wheel: int, level: int = 1) -> set[str]:
    """The set of wheel words `labels` maps to under wheel `wheel` (1..5)."""
    level = check_level(level)
    if not 1 <= wheel <= N_WHEELS:
        raise ValueError(f"wheel must be 1..{N_WHEELS}, got {wheel!r}")
    compiled = _compiled(level)
    shift, full = compiled.segments[wheel - 1]
    bits = (label_mask(labels, level) >> shift) & full
    return {word for i, word in enumerate(compiled.words[wheel - 1]) if bits >> i & 1}


def map_label(label: str, wheel: int, level: int = 1) -> str | None:
    """The wheel word one label (already lower-cased and stripped) maps to, or None if dropped."""
    return wheel_data.label_table(wheel, check_level(level)).get(label)
