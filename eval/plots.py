"""PNG plots of the reports (matplotlib, Agg backend: no display needed).

- `bar_plot`: one bar per name (the MER-UniBench data sets and their mean, EMER metrics, ...);
- `confusion_plot`: a confusion matrix with counts in the cells and a colour bar;
- `au_plot`: F1 per action unit (Facial benchmark), optionally before/after side by side, each AU
  labelled with its support (gold occurrences);
- `reward_plot`: a training reward curve with its rolling mean and a ±1 std band;
- `stage_plot`: metrics per pipeline stage, chance accuracy as a dashed line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from affectllm.io import atomic_open, remove_stale_temps
from eval.confusion import Confusion


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    remove_stale_temps(Path(path).parent)  # those of a run killed while it wrote plots
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path


def bar_plot(path: str | Path, names: Sequence[str], values: Sequence[float | None], title: str,
             ylabel: str, ylim: tuple[float, float] | None = None,
             highlight: str | None = None) -> Path:
    """Bars of `values` (None drawn as an empty slot labelled n/a), each annotated with its value."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(names) + 1.5), 3.4))
    heights = [0.0 if v is None else v for v in values]
    colors = ["#d95f02" if n == highlight else "#1b9e77" for n in names]
    bars = ax.bar(range(len(names)), heights, color=colors)
    for bar, v in zip(bars, values):
        ax.annotate("n/a" if v is None else f"{v:.2f}", (bar.get_x() + bar.get_width() / 2,
                                                        bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return _save(fig, Path(path))


def confusion_plot(path: str | Path, matrix: Confusion, title: str) -> Path:
    """A heat map of `matrix.counts`, gold labels as rows, predictions as columns."""
    plt = _pyplot()
    n_rows, n_cols = len(matrix.rows), len(matrix.cols)
    fig, ax = plt.subplots(figsize=(max(3.5, 0.6 * n_cols + 2), max(3.0, 0.5 * n_rows + 1.8)))
    counts = matrix.counts if n_rows else [[0] * max(n_cols, 1)]
    image = ax.imshow(counts, cmap="Blues", aspect="auto", vmin=0)
    fig.colorbar(image, ax=ax, label="samples")
    top = max((c for row in matrix.counts for c in row), default=0)
    for i, row in enumerate(matrix.counts):
        for j, c in enumerate(row):
            ax.text(j, i, str(c), ha="center", va="center", fontsize=8,
                    color="white" if top and c > top / 2 else "black")
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels(matrix.cols, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(matrix.rows, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=10)
    return _save(fig, Path(path))


def au_plot(path: str | Path, per_au: dict[str, float], title: str = "AU F1 per action unit",
            support: dict[str, int] | None = None, before: dict[str, float] | None = None
            ) -> Path:
    """Bars of F1 per AU (in the given order); with `before`, its F1 drawn next to each bar
    (before / after); with `support`, each AU's label carries ``n=`` its gold occurrences."""
    plt = _pyplot()
    names = list(per_au) or ["(no AU)"]
    series = {"after": [per_au.get(n, 0.0) for n in names]} if before else {"F1": [
        per_au.get(n, 0.0) for n in names]}
    if before:
        series = {"before": [before.get(n, 0.0) for n in names], **series}
    fig, ax = plt.subplots(figsize=(min(12.0, max(4.0, 0.35 * len(names) * len(series) + 1.5)),
                                    3.4))
    width = 0.8 / len(series)
    for m, (label, values) in enumerate(series.items()):
        xs = [i + (m - (len(series) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, values, width, label=label)
    ticks = [f"{n}\nn={support.get(n, 0)}" if support else n for n in names]
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(ticks, rotation=30 if not support else 0, fontsize=7)
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=10)
    if len(series) > 1:
        ax.legend(fontsize=7)
    return _save(fig, Path(path))


def stage_plot(path: str | Path, stages: Sequence[str], metrics: dict[str, Sequence[float | None]],
               chance: float | None = None) -> Path:
    """Grouped bars: for each stage one bar per metric (values in [0, 1]); `chance` drawn as a
    dashed horizontal line labelled "chance accuracy"."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(stages) + 2), 3.4))
    width = 0.8 / max(1, len(metrics))
    for m, (label, values) in enumerate(metrics.items()):
        xs = [i + (m - (len(metrics) - 1) / 2) * width for i in range(len(stages))]
        bars = ax.bar(xs, [0.0 if v is None else v for v in values], width, label=label)
        for bar, v in zip(bars, values):
            ax.annotate("n/a" if v is None else f"{v:.2f}",
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1,
                   label=f"chance accuracy ({chance:.2f})")
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels(stages, fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("held-out score")
    ax.set_title("metrics after each stage", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, Path(path))


def reward_plot(path: str | Path, curve: Sequence[tuple[int, float]], title: str,
                window: int | None = None) -> Path:
    """Per-step rewards (dots), their rolling mean over `window` steps (default: a tenth of the
    steps, at least 1) and a band of ± one rolling standard deviation around it."""
    import numpy as np

    plt = _pyplot()
    steps = np.array([s for s, _ in curve], dtype=float)
    values = np.array([r for _, r in curve], dtype=float)
    w = window or max(1, len(values) // 10)
    mean = np.array([values[max(0, i - w + 1):i + 1].mean() for i in range(len(values))])
    std = np.array([values[max(0, i - w + 1):i + 1].std() for i in range(len(values))])
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(steps, values, ".", color="#999999", markersize=3, label="per step")
    ax.plot(steps, mean, color="#1b9e77", label=f"rolling mean ({w} steps)")
    ax.fill_between(steps, mean - std, mean + std, color="#1b9e77", alpha=0.25,
                    label="± 1 std")
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, Path(path))
