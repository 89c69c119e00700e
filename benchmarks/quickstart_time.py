"""Quickstart wall time and learning: runs `affectllm quickstart` in a fresh directory and reports
the before/after metrics, accuracy over chance and the GRPO reward curve (first vs last quarter).

    python benchmarks/quickstart_time.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(print_markdown: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quickstart"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "affectllm.cli", "quickstart", "--out",
                               str(out)], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"quickstart failed:\n{proc.stderr[-3000:]}")
        summary = json.loads((out / "quickstart.json").read_text())
        table = (out / "report.md").read_text().split("\n", 2)[2]
    curve = summary["grpo_reward_curve"]
    result = {"wall_seconds": seconds, "accuracy_over_chance": summary["accuracy_over_chance"],
              "before": summary["before"], "after": summary["after"],
              "grpo_reward_first_quarter": summary.get("grpo_reward_first"),
              "grpo_reward_last_quarter": summary.get("grpo_reward_last"),
              "grpo_steps": len(curve)}
    result["table"] = table.split("\n![")[0].strip()
    if print_markdown:
        print(markdown(result))
    return result


def markdown(result: dict) -> str:
    return ("## Quickstart (`affectllm quickstart`, fresh directory)\n\n"
            f"Wall time {result['wall_seconds']:.0f} s (goal <= 300 s on 2 CPU cores). Held-out "
            f"emotion accuracy after the pipeline: {result['accuracy_over_chance']:.1f}x chance "
            f"(goal >= 3x).\n\n" + result["table"])


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
