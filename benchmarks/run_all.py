"""Run every benchmark and write benchmarks/RESULTS.md with the machine, versions and date.

    python benchmarks/run_all.py              # all
    python benchmarks/run_all.py rewards      # a subset, by name

Each benchmark module exposes `run(print_markdown=True) -> dict` (raw numbers) and
`markdown(results) -> str` (its section of the report); the numbers also go to
benchmarks/results.json. Speed goals are ratios measured
within one run, never timed assertions in tests.
"""

from __future__ import annotations

import datetime
import importlib
import json
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

BENCHMARKS = {
    "rewards": "reward_throughput",
    "grpo_overhead": "grpo_overhead",
    "eval_throughput": "eval_throughput",
    "quickstart": "quickstart_time",
}


def machine() -> str:
    import os

    import torch

    from affectllm.commands.env import collect

    info = collect()
    versions = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)
    gpu = ", ".join(info["gpus"]) or "none"
    return (f"- date: {datetime.date.today().isoformat()}\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, GPU: {gpu}, "
            f"torch threads {torch.get_num_threads()}\n"
            f"- python {info['python']}; {versions}\n")


def main(argv: list[str] | None = None) -> int:
    from affectllm.io import write_json, write_text

    names = (argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    results, sections = {}, []
    for name in names:
        print(f"== {name}", file=sys.stderr)
        module = importlib.import_module(BENCHMARKS[name])
        result = module.run(print_markdown=False)
        sections.append(module.markdown(result))
        results[name] = result
    write_json(HERE / "results.json", results)
    write_text(HERE / "RESULTS.md", "# Benchmark results\n\nWritten by `python benchmarks/run_all.py"
               f"{' ' + ' '.join(argv or sys.argv[1:]) if (argv or sys.argv[1:]) else ''}`.\n\n"
               + machine() + "\n" + "\n\n".join(sections) + "\n")
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
