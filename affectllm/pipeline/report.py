"""The stage table of a pipeline run: one row per evaluated stage, so each stage's gain shows.

A row comes from an eval stage (RUN/<stage>/report.json) or from a training stage with `eval:`
(RUN/<stage>/eval/report.json). Columns: emotion accuracy, AU F1 (micro), format rate, mean reward
(the benchmark's definitions, `eval.facial`), and for a GRPO stage its training reward over the
first and the last quarter of the logged steps:

    first = (1/k) Σ_{i<k} r_i,  last = (1/k) Σ_{i>=n-k} r_i,  k = max(1, n // 4)

with r_i the mean group reward TRL logs at step i (``reward`` in trainer_state.json). Chance
accuracy = 1 / |label set| of the benchmark's confusion matrix. Written to RUN/report.json,
RUN/report.md, RUN/stages.png and (two rows or more with AU scores) RUN/au_f1.png: AU F1 of the
first and the last evaluated stage side by side, with each AU's support.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from affectllm.io import write_json, write_text

METRICS = (("accuracy", "emotion accuracy"), ("au_f1", "AU F1"), ("format_rate", "format rate"),
           ("mean_reward", "mean reward"))


def reward_curve(trainer_state: Path) -> list[tuple[int, float]]:
    """(step, mean reward) pairs logged by GRPO (TRL's `reward` key)."""
    if not trainer_state.is_file():
        return []
    history = json.loads(trainer_state.read_text()).get("log_history", [])
    return [(h["step"], h["reward"]) for h in history if "reward" in h]


def first_last_quarter(curve: list[tuple[int, float]]) -> tuple[float, float] | None:
    """Mean reward over the first and the last quarter of `curve` (module docstring)."""
    if not curve:
        return None
    k = max(1, len(curve) // 4)
    return (sum(r for _, r in curve[:k]) / k, sum(r for _, r in curve[-k:]) / k)


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def stage_rows(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the stage table, in pipeline order (stages not evaluated yet are left out)."""
    rows = []
    for plan in plans:
        stage, stage_dir = plan["stage"], Path(plan["dir"])
        if stage.kind == "eval":
            report_path = stage_dir / "report.json"
        elif stage.trains and stage.eval is not None:
            report_path = stage_dir / "eval" / "report.json"
        else:
            continue
        report = _read(report_path)
        if not report:
            continue
        row = {"stage": stage.name, "kind": stage.kind, "model": report.get("model"),
               "report": str(report_path), "n_samples": report.get("n_samples"),
               **{key: report.get("metrics", {}).get(key) for key, _ in METRICS}}
        labels = report.get("confusion", {}).get("rows") or []
        row["chance"] = 1 / len(labels) if labels else None
        if stage.kind == "grpo":
            quarters = first_last_quarter(reward_curve(stage_dir / "trainer_state.json"))
            if quarters:
                row["grpo_reward_first"], row["grpo_reward_last"] = quarters
        rows.append(row)
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def stage_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown stage table."""
    lines = ["| stage | " + " | ".join(label for _, label in METRICS) +
             " | GRPO reward first → last quarter |",
             "|---|" + "---:|" * (len(METRICS) + 1)]
    for row in rows:
        grpo = (f"{_fmt(row['grpo_reward_first'])} → {_fmt(row['grpo_reward_last'])}"
                if "grpo_reward_first" in row else "-")
        lines.append(f"| {row['stage']} | " + " | ".join(_fmt(row[k]) for k, _ in METRICS) +
                     f" | {grpo} |")
    chance = next((r["chance"] for r in rows if r.get("chance")), None)
    if chance:
        lines.append(f"\nchance accuracy = {chance:.3f}")
    return "\n".join(lines)


def write_stage_report(run_dir: Path, name: str, plans: list[dict[str, Any]]) -> dict:
    """Write RUN/report.json, RUN/report.md and (with rows) RUN/stages.png; returns the report."""
    from eval.plots import au_plot, stage_plot

    rows = stage_rows(plans)
    report = {"pipeline": name, "stages": rows}
    text = f"# Pipeline {name}: stage table\n\n"
    if rows:
        chance = next((r["chance"] for r in rows if r.get("chance")), None)
        stage_plot(run_dir / "stages.png", [r["stage"] for r in rows],
                   {label: [r[key] for r in rows] for key, label in METRICS[:3]}, chance)
        report["plot"] = str(run_dir / "stages.png")
        text += stage_table(rows) + "\n\n![stages](stages.png)\n"
        first, last = (_read(Path(rows[i]["report"])).get("au", {}).get("per_au")
                       for i in (0, -1))
        if len(rows) > 1 and first and last:
            au_plot(run_dir / "au_f1.png", {a: v["f1"] for a, v in last.items()},
                    f"AU F1: {rows[0]['stage']} (before) vs {rows[-1]['stage']} (after)",
                    support={a: v["tp"] + v["fn"] for a, v in last.items()},
                    before={a: v["f1"] for a, v in first.items()})
            text += "\n![AU F1 before and after](au_f1.png)\n"
    else:
        text += "No stage evaluated yet (add `eval:` to a training stage or an eval stage).\n"
    write_json(run_dir / "report.json", report)
    write_text(run_dir / "report.md", text)
    return report
