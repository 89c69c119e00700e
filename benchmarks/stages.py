"""What each stage of the embedded default adds, over seeds: runs `affectllm quickstart` for 3
seeds (fresh directories) and writes the per-stage mean and spread of the held-out emotion
accuracy to its own section of benchmarks/RESULTS.md (the rest of the file is kept).

    python benchmarks/stages.py [--seeds 0 1 2] [--split test]

Goal: accuracy after GRPO >= after SFT + 0.05 in every seed; after synthesis + SFT >= after GRPO
(mean); final mean >= 0.75 (6x chance for 8 labels). Spread = sample standard deviation.
CPU-heavy: about 3 quickstarts' time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

HEADING = "## Stages over seeds (`python benchmarks/stages.py`)"
STAGES = ("base", "sft", "grpo", "synth_sft")


def summarise(runs: list[dict]) -> dict:
    """Per stage: accuracies per seed, mean, spread; and whether each goal holds."""
    acc = {s: [next(r["accuracy"] for r in run["stages"] if r["stage"] == s) for run in runs]
           for s in STAGES}
    stats = {s: {"per_seed": v, "mean": statistics.fmean(v),
                 "spread": statistics.stdev(v) if len(v) > 1 else 0.0} for s, v in acc.items()}
    goals = {
        "grpo >= sft + 0.05 in every seed": all(g >= s + 0.05
                                                for g, s in zip(acc["grpo"], acc["sft"])),
        "synth_sft mean >= grpo mean": stats["synth_sft"]["mean"] >= stats["grpo"]["mean"],
        "final mean >= 0.75": stats["synth_sft"]["mean"] >= 0.75,
    }
    return {"seeds": [r["seed"] for r in runs], "split": runs[0]["split"],
            "wall_seconds": [r["wall_seconds"] for r in runs], "stages": stats, "goals": goals}


def markdown(result: dict) -> str:
    lines = [HEADING, "", f"Held-out split `{result['split']}`, seeds {result['seeds']}, wall "
             f"time per run {', '.join(f'{s:.0f}' for s in result['wall_seconds'])} s.", "",
             "| stage | accuracy per seed | mean | spread |", "|---|---|---:|---:|"]
    for name, s in result["stages"].items():
        lines.append(f"| {name} | {', '.join(f'{v:.3f}' for v in s['per_seed'])} | "
                     f"{s['mean']:.3f} | {s['spread']:.3f} |")
    lines += ["", "Goals:"] + [f"- {goal}: {'met' if ok else 'NOT met'}"
                               for goal, ok in result["goals"].items()]
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    """`text` with its `HEADING` section (up to the next ``## ``) replaced by `section`, or with
    `section` appended when it has none."""
    start = text.find(HEADING)
    if start < 0:
        return text.rstrip("\n") + "\n\n" + section + "\n"
    end = text.find("\n## ", start + len(HEADING))
    rest = "" if end < 0 else text[end:]
    return text[:start] + section + "\n" + rest


def main(argv: list[str] | None = None) -> int:
    from quickstart_time import run_quickstart

    from affectllm.io import write_text

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--split", default="test", choices=("test", "validation"))
    args = p.parse_args(argv)
    runs = []
    for seed in args.seeds:
        print(f"== seed {seed}", file=sys.stderr)
        runs.append(run_quickstart(seed, args.split))
    result = summarise(runs)
    results = HERE / "RESULTS.md"
    write_text(results, replace_section(results.read_text() if results.is_file() else "",
                                        markdown(result)))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
