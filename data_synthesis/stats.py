"""Round statistics (``round_k/stats.json``) and the per-round summary table.

    {"round": 1, "model": "base_model", "items": 16, "candidates": 80, "accepted": 9,
     "acceptance_rate": 0.5625,
     "attempts": [{"attempt": 0, "items": 16, "candidates": 32, "accepted": 6, "rate": 0.375,
                   "generation_failed": 0}, ...],
     "rewards": {"au": {"mean": -0.8, "min": -1.0, "max": 0.2, "count": 70,
                        "not_applicable": 10}, ...},
     "generation_failed": {"count": 0, "ids": [], "errors": {}},
     "generated_tokens": 1920, "generation_seconds": 12.0, "wall_seconds": 14.1,
     "corpus": {"accepted": 9, "added": 9, "replaced": 0, "duplicate_id": 0,
                "duplicate_text": 0, "size": 9}}

`rate` of an attempt is accepted / items tried at that attempt; `acceptance_rate` is accepted /
items of the round. Times add up the chunks, so a resumed round reports the time actually spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from data_synthesis.scoring import describe_distributions, merge_distributions


def round_stats(round_index: int, model: str, chunks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine the chunk results of a round (the corpus entry is added after merging)."""
    items = sum(len(c["items"]) for c in chunks)
    accepted = sum(len(c["accepted"]) for c in chunks)
    per_attempt: dict[int, dict[str, int]] = {}
    for c in chunks:
        for a in c["attempts"]:
            row = per_attempt.setdefault(a["attempt"], {"attempt": a["attempt"], "items": 0,
                                                         "candidates": 0, "accepted": 0,
                                                         "generation_failed": 0})
            for key in ("items", "candidates", "accepted", "generation_failed"):
                row[key] += a[key]
    attempts = [{**row, "rate": row["accepted"] / row["items"] if row["items"] else 0.0}
                for _, row in sorted(per_attempt.items())]
    errors = {k: v for c in chunks for k, v in c["errors"].items()}
    return {
        "round": round_index,
        "model": model,
        "items": items,
        "candidates": sum(a["candidates"] for a in attempts),
        "accepted": accepted,
        "acceptance_rate": accepted / items if items else 0.0,
        "attempts": attempts,
        "rewards": describe_distributions(merge_distributions(c["distributions"] for c in chunks)),
        "generation_failed": {"count": len(errors), "ids": sorted(errors), "errors": errors},
        "generated_tokens": sum(c["tokens"] for c in chunks),
        "generation_seconds": sum(c["generation_seconds"] for c in chunks),
        "wall_seconds": sum(c["seconds"] for c in chunks),
    }


def round_line(stats: dict[str, Any]) -> str:
    """One line per finished round, printed as it ends."""
    rates = ", ".join(f"attempt {a['attempt']}: {a['accepted']}/{a['items']}"
                      for a in stats["attempts"]) or "no attempts"
    corpus = stats.get("corpus", {})
    dups = corpus.get("duplicate_id", 0) + corpus.get("duplicate_text", 0)
    return (f"round {stats['round']}: accepted {stats['accepted']}/{stats['items']} items "
            f"({100 * stats['acceptance_rate']:.1f}%; {rates}); corpus {corpus.get('size', 0)} "
            f"(+{corpus.get('added', 0)}, {dups} duplicates dropped); "
            f"{stats['generated_tokens']} tokens; {stats['wall_seconds']:.1f}s")


def summary_table(all_stats: Sequence[dict[str, Any]]) -> str:
    """The per-round table printed at the end of a run."""
    header = ("round", "model", "items", "cands", "accepted", "rate", "per attempt", "corpus",
              "tokens", "time")
    rows = [header]
    for s in all_stats:
        rows.append((
            str(s["round"]), s["model"], str(s["items"]), str(s["candidates"]),
            str(s["accepted"]), f"{100 * s['acceptance_rate']:.1f}%",
            " / ".join(f"{100 * a['rate']:.0f}%" for a in s["attempts"]) or "-",
            str(s.get("corpus", {}).get("size", 0)), str(s["generated_tokens"]),
            f"{s['wall_seconds']:.1f}s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
