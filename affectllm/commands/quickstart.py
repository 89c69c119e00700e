"""`affectllm quickstart`: the whole method on a CPU in minutes, each stage with its own job.

Builds a small random-weight Qwen2.5-VL, renders the procedural FACS faces and splits their
training split into a reasoning-annotated subset (`N_ANNOTATED` of the 1,920 faces,
annotated.jsonl) and label/AU-only items (labels_only.jsonl, reasoning removed), then runs
`recipes/quickstart/pipeline.yaml`: base model, SFT on the annotated subset, GRPO on the label-only
items, synthesis of verified reasoning for them with the GRPO model, a second SFT on the grown
corpus (the annotated subset + the verified synthesized samples).
Every stage is evaluated on the same held-out split (``--split``, default test; design choices were
made on validation). Prints the stage table and writes OUT/report.md with the stage plot and the
GRPO reward curve. Everything lives in OUT; a second run reuses what exists.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectllm.launch import RECIPES_DIR
from affectllm.pipeline.report import reward_curve

PIPELINE = RECIPES_DIR / "quickstart" / "pipeline.yaml"
N_ANNOTATED = 1280
SPLITS = ("test", "validation")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart", help="build a tiny model and toy faces, run SFT -> GRPO -> synth -> SFT",
        description="Run the embedded default end to end on a CPU: tiny model, procedural faces, "
                    "the quickstart pipeline, and a table of the held-out metrics after each "
                    "stage.")
    p.add_argument("--out", default="runs/quickstart", help="run directory (reused if present)")
    p.add_argument("--arch", default="qwen2_5_vl", help="tiny model architecture")
    p.add_argument("--size", default="tiny", choices=("tiny", "small"))
    p.add_argument("--n", type=int, default=2400, help="number of toy faces to render")
    p.add_argument("--annotated", type=int, default=N_ANNOTATED,
                   help="training faces that keep their reasoning (the SFT subset); the rest "
                        "carry only labels and AUs")
    p.add_argument("--variation", type=float, default=0.0,
                   help="toy-face nuisance variation, 0 (one face and scene) to 1 (see "
                        "`affectllm data toyfaces --help`); more variation needs more steps")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="held-out split every stage is evaluated on (validation: for design "
                        "choices, so the test split is never tuned on)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def prepare(out: Path, arch: str, size: str, n: int, seed: int, variation: float = 0.0,
            annotated: int = N_ANNOTATED) -> tuple[Path, Path]:
    """Build the base model, the toy faces and their annotated / label-only training files into
    `out` unless they are there already."""
    from affectllm.data.toyfaces import generate_toyfaces
    from affectllm.io import read_jsonl, write_jsonl
    from affectllm.tiny import save_tiny_model

    model_dir, faces_dir = out / "base_model", out / "toyfaces"
    if not (model_dir / "config.json").is_file():
        print(f"building a {size} {arch} model in {model_dir}", file=sys.stderr)
        save_tiny_model(model_dir, arch, size, seed)
    if not (faces_dir / "test.jsonl").is_file():
        print(f"rendering {n} toy faces in {faces_dir}", file=sys.stderr)
        generate_toyfaces(faces_dir, n, seed=seed, variation=variation, reasoning="codes")
    if not (faces_dir / "labels_only.jsonl").is_file():
        train = [row for _, row in read_jsonl(faces_dir / "train.jsonl")]
        write_jsonl(faces_dir / "annotated.jsonl", train[:annotated])
        write_jsonl(faces_dir / "labels_only.jsonl",
                    ({**row, "reasoning": ""} for row in train[annotated:]))
        print(f"{min(annotated, len(train))} training faces keep their reasoning "
              f"(annotated.jsonl), {max(0, len(train) - annotated)} carry only labels and AUs "
              "(labels_only.jsonl)", file=sys.stderr)
    return model_dir, faces_dir


def summarise(run_dir: Path, rows: list[dict]) -> tuple[str, dict]:
    """The stage table (Markdown) and the numbers behind it: the rows of
    `affectllm.pipeline.report.stage_rows`, the GRPO reward curve, the final accuracy over chance."""
    from affectllm.pipeline.report import stage_table

    curve = reward_curve(run_dir / "grpo" / "trainer_state.json")
    summary: dict = {"stages": rows, "grpo_reward_curve": curve}
    table = stage_table(rows)
    chance = next((r["chance"] for r in rows if r.get("chance")), None)
    final = rows[-1].get("accuracy") if rows else None
    if chance and final is not None:
        summary.update(chance=chance, accuracy_over_chance=final / chance)
        table += f"; after the last stage ({rows[-1]['stage']}): {final / chance:.1f}x chance"
    return table, summary


def _interrupted_message(runner, out: Path) -> str:
    """What happens to the interrupted stage when the quickstart runs again (runner docstring)."""
    running = [(name, entry) for name, entry in runner.state["stages"].items()
               if entry.get("status") == "running" or
               entry.get("eval", {}).get("status") == "running"]
    again = f"run `affectllm quickstart --out {out}` again"
    if not running:
        return f"interrupted before a stage started; {again} to start"
    name, entry = running[0]
    if entry.get("status") == "done":
        what = (f"the evaluation of stage {name!r} was interrupted; it resumes and reuses the "
                "answers it kept")
    elif entry.get("kind") in ("sft", "grpo"):
        stage_dir = out / name
        what = (f"stage {name!r} was interrupted; it resumes from its newest checkpoint"
                if any(stage_dir.glob("checkpoint-*")) else
                f"stage {name!r} was interrupted; it saves no checkpoints, so it restarts from "
                "its first step")
    elif entry.get("kind") == "synth":
        what = (f"stage {name!r} was interrupted; it resumes from its manifest (finished chunks "
                "are kept)")
    else:
        what = f"stage {name!r} was interrupted; it resumes and reuses the answers it kept"
    return f"{what}. Finished stages are kept; {again}."


def run(args: argparse.Namespace) -> int:
    from affectllm.io import write_json, write_text
    from affectllm.pipeline.config import load_pipeline
    from affectllm.pipeline.report import stage_rows
    from affectllm.pipeline.runner import PipelineRunner
    from eval.plots import reward_plot

    out = Path(args.out).resolve()
    model_dir, faces_dir = prepare(out, args.arch, args.size, args.n, args.seed, args.variation,
                                   args.annotated)
    pipeline = load_pipeline(PIPELINE, {"model": str(model_dir),
                                        "data": str(faces_dir / "annotated.jsonl")})
    for stage in pipeline.stages:  # every row on the same held-out split
        if stage.eval is not None:
            stage.eval = {**stage.eval, "data": f"{{data_dir}}/{args.split}.jsonl"}
        if stage.kind == "eval":
            stage.data = f"{{data_dir}}/{args.split}.jsonl"
    runner = PipelineRunner(pipeline, out, log=lambda m: print(m, file=sys.stderr))
    try:
        plans = runner.run()
    except RuntimeError as e:
        print(f"affectllm quickstart: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\naffectllm quickstart: {_interrupted_message(runner, out)}", file=sys.stderr)
        return 130
    table, summary = summarise(out, stage_rows(plans))
    plots = "![metrics after each stage](stages.png)"
    if (out / "au_f1.png").is_file():
        plots += "\n\n![AU F1 per action unit, before and after](au_f1.png)"
    if summary["grpo_reward_curve"]:
        reward_plot(out / "grpo_reward.png", summary["grpo_reward_curve"],
                    "GRPO reward (accuracy + format)")
        plots += "\n\n![GRPO reward](grpo_reward.png)"
    summary["split"] = args.split
    write_json(out / "quickstart.json", summary)
    write_text(out / "report.md", f"# affectllm quickstart\n\nHeld-out split: {args.split} "
               f"(the same faces for every row).\n\n{table}\n\n{plots}\n\nPer-stage "
               "reports: base/report.md, sft/eval/report.md, grpo/eval/report.md, "
               "synth_sft/eval/report.md.\n")
    print(table)
    print(f"\nreport: {out / 'report.md'}")
    return 0
