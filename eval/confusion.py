"""Confusion matrices for the categorical data sets (plots and report detail only; no published
number depends on them).

Open-vocabulary predictions on a one-label data set (MER2023, MER2024, MELD, IEMOCAPFour) are put in
a column by `closest_label`: the data set label whose emotion-wheel mapping shares the most words
with the prediction's, summed over the five wheels at level 1; ties go to the label first in sorted
order; a prediction sharing nothing with any label goes to ``(none)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rewards.emotion_wheel import label_mask

NONE_COLUMN = "(none)"


@dataclass(frozen=True)
class Confusion:
    """counts[i][j] = samples with gold label rows[i] predicted as cols[j]."""

    rows: list[str]
    cols: list[str]
    counts: list[list[int]]

    def as_dict(self) -> dict:
        return {"rows": self.rows, "cols": self.cols, "counts": self.counts}


def closest_label(pred: Sequence[str], labels: Sequence[str]) -> str:
    """The label of `labels` nearest to the word list `pred` (module docstring)."""
    pred_mask = label_mask(list(pred))
    best, best_overlap = NONE_COLUMN, 0
    for label in sorted(labels):
        overlap = (label_mask([label]) & pred_mask).bit_count()
        if overlap > best_overlap:
            best, best_overlap = label, overlap
    return best


def confusion(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None,
              extra_cols: Sequence[str] = ()) -> Confusion:
    """Count (gold, predicted) pairs. Rows: `labels` (default: sorted gold labels); columns: the
    rows, then `extra_cols` (always shown, e.g. "no answer" and "outside the label set"), then any
    other predicted value (e.g. ``(none)``) in sorted order."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    rows = list(labels) if labels is not None else sorted(set(gold))
    fixed = [c for c in extra_cols if c not in rows]
    extra = sorted(set(pred) - set(rows) - set(fixed))
    cols = rows + fixed + extra
    index_r = {r: i for i, r in enumerate(rows)}
    index_c = {c: j for j, c in enumerate(cols)}
    counts = [[0] * len(cols) for _ in rows]
    for g, p in zip(gold, pred):
        if g in index_r:
            counts[index_r[g]][index_c[p]] += 1
    return Confusion(rows, cols, counts)
