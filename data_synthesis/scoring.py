"""Score candidates with the configured rewards, and summarise the scores of a round.

Synthesis calls the rewards exactly as GRPO does, with the dataset columns `labels`, `openset` and
`aus` aligned with the completions. No token ids are passed, so `soft_overlong` measures a
completion in characters here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from affectllm.progress import progress
from data_synthesis.acceptance import Scores
from rewards import build_rewards

COLUMNS = ("labels", "openset", "aus")


class Scorer:
    """The rewards of a config (`rewards` YAML list), called in one batch per reward."""

    def __init__(self, spec: Sequence[Any]):
        suite = build_rewards(spec)
        self.funcs = suite.funcs
        self.names = [f.__name__ for f in suite.funcs]
        self.weights = dict(zip(self.names, suite.weights))

    def score(self, completions: Sequence[str], items: Sequence[dict],
              desc: str = "scoring") -> list[Scores]:
        """One ``{reward: score or None}`` per completion; `items[i]` is completion i's item."""
        columns = {c: [list(item.get(c) or []) for item in items] for c in COLUMNS}
        results: list[Scores] = [{} for _ in completions]
        if not completions:
            return results
        for name, func in progress(list(zip(self.names, self.funcs)), desc=desc, unit="reward"):
            for row, value in zip(results, func(list(completions), **columns)):
                row[name] = None if value is None else float(value)
        return results


def empty_distribution() -> dict[str, float | int | None]:
    return {"count": 0, "none": 0, "sum": 0.0, "min": None, "max": None}


def add_scores(dists: dict[str, dict], scores: Iterable[Scores]) -> dict[str, dict]:
    """Accumulate scores into per-reward running distributions (count, none, sum, min, max)."""
    for row in scores:
        for name, value in row.items():
            d = dists.setdefault(name, empty_distribution())
            if value is None:
                d["none"] += 1
                continue
            d["count"] += 1
            d["sum"] += value
            d["min"] = value if d["min"] is None else min(d["min"], value)
            d["max"] = value if d["max"] is None else max(d["max"], value)
    return dists


def merge_distributions(parts: Iterable[dict[str, dict]]) -> dict[str, dict]:
    """Combine running distributions (of chunks) into one."""
    out: dict[str, dict] = {}
    for part in parts:
        for name, d in part.items():
            o = out.setdefault(name, empty_distribution())
            o["count"] += d["count"]
            o["none"] += d["none"]
            o["sum"] += d["sum"]
            for key, pick in (("min", min), ("max", max)):
                if d[key] is not None:
                    o[key] = d[key] if o[key] is None else pick(o[key], d[key])
    return out


def describe_distributions(dists: dict[str, dict]) -> dict[str, dict]:
    """``{reward: {mean, min, max, count, not_applicable}}`` for the stats file."""
    return {name: {"mean": d["sum"] / d["count"] if d["count"] else None, "min": d["min"],
                   "max": d["max"], "count": d["count"], "not_applicable": d["none"]}
            for name, d in dists.items()}
