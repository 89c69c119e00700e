"""`affectllm quickstart`: the whole method on a CPU in minutes.

Builds a small random-weight Qwen2.5-VL, renders the procedural FACS faces, then runs
`recipes/quickstart/pipeline.yaml`: evaluate the untrained model, SFT, GRPO with the au + accuracy
+ format rewards, one synthesis round, evaluate again. Prints a before/after table and writes
OUT/report.md with a learning-curve plot. Everything lives in OUT; a second run reuses what exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from affectllm.launch import RECIPES_DIR

PIPELINE = RECIPES_DIR / "quickstart" / "pipeline.yaml"
METRICS = (("accuracy", "emotion accuracy"), ("au_f1", "AU F1 (micro)"),
           ("format_rate", "format rate"), ("mean_reward", "mean reward (au+accuracy+format)"))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart", help="build a tiny model and toy faces, run SFT -> GRPO -> synth -> eval",
        description="Run the embedded default end to end on a CPU: tiny model, procedural faces, "
                    "the quickstart pipeline, and a before/after table.")
    p.add_argument("--out", default="runs/quickstart", help="run directory (reused if present)")
    p.add_argument("--arch", default="qwen2_5_vl", help="tiny model architecture")
    p.add_argument("--size", default="tiny", choices=("tiny", "small"))
    p.add_argument("--n", type=int, default=2400, help="number of toy faces to render")
    p.add_argument("--variation", type=float, default=0.0,
                   help="toy-face nuisance variation, 0 (one face and scene) to 1 (see "
                        "`affectllm data toyfaces --help`); more variation needs more steps")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def prepare(out: Path, arch: str, size: str, n: int, seed: int,
            variation: float = 0.0) -> tuple[Path, Path]:
    """Build the base model and the toy faces into `out` unless they are there already."""
    from affectllm.data.toyfaces import generate_toyfaces
    from affectllm.tiny import save_tiny_model

    model_dir, faces_dir = out / "base_model", out / "toyfaces"
    if not (model_dir / "config.json").is_file():
        print(f"building a {size} {arch} model in {model_dir}", file=sys.stderr)
        save_tiny_model(model_dir, arch, size, seed)
    if not (faces_dir / "test.jsonl").is_file():
        print(f"rendering {n} toy faces in {faces_dir}", file=sys.stderr)
        generate_toyfaces(faces_dir, n, seed=seed, variation=variation, reasoning="codes")
    return model_dir, faces_dir


def reward_curve(trainer_state: Path) -> list[tuple[int, float]]:
    """(step, mean reward) pairs logged by GRPO (TRL's `reward` key)."""
    if not trainer_state.is_file():
        return []
    history = json.loads(trainer_state.read_text()).get("log_history", [])
    return [(h["step"], h["reward"]) for h in history if "reward" in h]


def summarise(run_dir: Path, n_classes: int) -> tuple[str, dict]:
    """The before/after Markdown table and the numbers behind it."""
    from affectllm.pipeline.runner import stage_report

    before = stage_report(run_dir, "eval_before").get("metrics", {})
    after = stage_report(run_dir, "eval_after").get("metrics", {})
    curve = reward_curve(run_dir / "grpo" / "trainer_state.json")
    lines = ["| metric | before | after |", "|---|---:|---:|"]
    for key, label in METRICS:
        b, a = before.get(key), after.get(key)
        lines.append(f"| {label} | {_fmt(b)} | {_fmt(a)} |")
    chance = 1 / n_classes
    summary = {"before": before, "after": after, "chance": chance,
               "accuracy_over_chance": (after.get("accuracy") or 0) / chance,
               "grpo_reward_curve": curve}
    if curve:
        k = max(1, len(curve) // 4)
        first = sum(r for _, r in curve[:k]) / k
        last = sum(r for _, r in curve[-k:]) / k
        summary.update(grpo_reward_first=first, grpo_reward_last=last)
        lines.append(f"| GRPO mean reward, first {k} vs last {k} logged steps | {_fmt(first)} | "
                     f"{_fmt(last)} |")
    lines.append(f"\nchance accuracy = 1/{n_classes} = {chance:.3f}; after training: "
                 f"{summary['accuracy_over_chance']:.1f}x chance")
    return "\n".join(lines), summary


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def plot_curve(curve: list[tuple[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([s for s, _ in curve], [r for _, r in curve], marker="o")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean reward")
    ax.set_title("GRPO reward (au + accuracy + format)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from affectllm.io import write_json, write_text
    from affectllm.pipeline.config import load_pipeline
    from affectllm.pipeline.runner import PipelineRunner
    from rewards.labels import FACIAL_LABELS

    out = Path(args.out).resolve()
    model_dir, faces_dir = prepare(out, args.arch, args.size, args.n, args.seed, args.variation)
    pipeline = load_pipeline(PIPELINE, {"model": str(model_dir),
                                        "data": str(faces_dir / "train.jsonl")})
    runner = PipelineRunner(pipeline, out, log=lambda m: print(m, file=sys.stderr))
    try:
        runner.run()
    except RuntimeError as e:
        print(f"affectllm quickstart: {e}", file=sys.stderr)
        return 1
    table, summary = summarise(out, len(FACIAL_LABELS))
    if summary["grpo_reward_curve"]:
        plot_curve(summary["grpo_reward_curve"], out / "grpo_reward.png")
    write_json(out / "quickstart.json", summary)
    write_text(out / "report.md", "# affectllm quickstart\n\n" + table +
               "\n\n![GRPO reward](grpo_reward.png)\n\nPer-stage reports: "
               "eval_before/report.md, eval_after/report.md.\n")
    print(table)
    print(f"\nreport: {out / 'report.md'}")
    return 0
