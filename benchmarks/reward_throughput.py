"""Reward throughput on one CPU core: EW per-sample scores/s and every GRPO reward's completions/s.

    python benchmarks/reward_throughput.py [--n 100000]

`run()` returns a dict (name -> completions per second, plus the setup) and prints a Markdown
snippet; `benchmarks/run_all.py` calls it. Inputs are synthetic but realistic: label lists of 1-4
words drawn from the emotion-wheel vocabulary (with some out-of-vocabulary words), ground truths
repeating across a GRPO group of 8, every completion distinct (so no completion-level cache hits).
The process is pinned to one core where the OS allows it.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rewards import build_reward, ew_score  # noqa: E402
from rewards.wheel_data import surface_forms  # noqa: E402

GROUP = 8
BATCH = 1024
REPEATS = 3
TARGET_EW_PER_S = 100_000


def _pin_one_core() -> tuple[str, set[int] | None]:
    """Pin this process to one CPU; returns (description, previous affinity to restore)."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (unsupported)", None
    previous = set(os.sched_getaffinity(0))
    cpu = min(previous)
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}", previous


def _make_data(n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    vocab = sorted(surface_forms())
    oov = ["meh", "okay-ish", "blorft", "neutral", "calm-ish"]

    def label_list() -> list[str]:
        return [rng.choice(oov) if rng.random() < 0.1 else rng.choice(vocab)
                for _ in range(rng.randint(1, 4))]

    n_groups = n // GROUP + 1
    gts = [label_list() for _ in range(n_groups)]
    gt_strings = [str(g) for g in gts]
    sentence = ("the speaker frowns, raises the inner brows and speaks slowly; the voice trembles "
                "and the words describe a loss")
    filler = sentence.split(" ")
    completions, openset, aus, labels = [], [], [], []
    for i in range(n):
        g = i // GROUP
        pred = label_list()
        words = rng.sample(filler, 8) + rng.sample(vocab, 2)
        think = f"AU{rng.randint(1, 28)} and AU {rng.randint(1, 28)}: " + " ".join(words)
        completions.append(f"<think>{think} #{i}</think>\n<answer>{', '.join(pred)}</answer>")
        openset.append(gt_strings[g])
        labels.append([gts[g][0]])
        aus.append(["AU4", "AU15"])
    preds = [c[c.index("<answer>") + 8:c.index("</answer>")] for c in completions]
    return {"completions": completions, "openset": openset, "labels": labels, "aus": aus,
            "preds": preds}


def _rate(timed: Callable[[], float], count: int, repeats: int = REPEATS) -> float:
    """Items per CPU-second, best of `repeats` runs; `timed()` does one run and returns its CPU
    seconds (process time, not wall time, so other processes sharing the core do not count)."""
    return count / min(timed() for _ in range(repeats))


def run(n: int = 100_000, seed: int = 0, print_markdown: bool = True) -> dict:
    """Measure; return ``{"ew_score_per_s": ..., "reward_<name>_per_s": ..., ...}``."""
    pinned, previous = _pin_one_core()
    try:
        results = _measure(n, seed, pinned)
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)
    if print_markdown:
        print(markdown(results))
    return results


def _measure(n: int, seed: int, pinned: str) -> dict:
    start = time.perf_counter()
    ew_score("happy", "joy")  # builds the tables (cached for the life of the process)
    ew_score("happy", "joy", level=2)
    first_use_s = time.perf_counter() - start
    data = _make_data(n, seed)

    gts = data["openset"]
    results: dict[str, object] = {
        "n": n, "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
        "affinity": pinned, "first_use_s": first_use_s,
    }

    def ew_scores() -> float:
        # Fresh prediction strings every run (trailing space: same labels), so that the
        # label-list memo is only ever hit by the ground truths, which repeat across a group.
        data["preds"] = preds = [p + " " for p in data["preds"]]
        start = time.process_time()
        for g, p in zip(gts, preds):
            ew_score(g, p)
        return time.process_time() - start

    results["ew_score_per_s"] = _rate(ew_scores, n)

    columns = {k: data[k] for k in ("openset", "labels", "aus")}
    specs = {"ew": ("ew", {}), "ew_p2": ("ew", {"length_penalty": "p2"}),
             "accuracy": ("accuracy", {}), "au": ("au", {}), "format": ("format", {}),
             "alignment": ("alignment", {}),
             "soft_overlong": ("soft_overlong", {"max_len": 512, "cache": 128})}
    for key, (name, params) in specs.items():
        reward = build_reward(name, **params)

        def batches(reward=reward) -> float:
            # Fresh string objects every run, so that no completion-level memo is ever hit.
            data["completions"] = comps = [c + " " for c in data["completions"]]
            start = time.process_time()
            for s in range(0, n, BATCH):
                reward(comps[s:s + BATCH], **{k: v[s:s + BATCH] for k, v in columns.items()},
                       prompts=None, trainer_state=None)
            return time.process_time() - start

        results[f"reward_{key}_per_s"] = _rate(batches, n)

    results["ew_meets_target"] = min(results["ew_score_per_s"],
                                     results["reward_ew_per_s"]) >= TARGET_EW_PER_S
    return results


def markdown(results: dict) -> str:
    rows = [("EW per-sample score (`rewards.ew_score`, list strings)", results["ew_score_per_s"])]
    rows += [(f"reward `{k[len('reward_'):-len('_per_s')]}` (parse + score, batches of {BATCH})", v)
             for k, v in results.items() if k.startswith("reward_")]
    lines = [f"### Reward throughput (one core; Python {results['python']}, {results['n']:,} "
             f"completions, {results['affinity']})", "", "| what | per second |", "|---|---:|"]
    lines += [f"| {name} | {value:,.0f} |" for name, value in rows]
    lines += ["", f"First use (loading the data, building both levels' tables): "
              f"{results['first_use_s'] * 1000:.0f} ms."]
    lines += ["", f"Rates are per CPU-second of this process (best of {REPEATS} runs). "
              f"EW target >= {TARGET_EW_PER_S:,}/s (score and reward): "
              f"{'met' if results['ew_meets_target'] else 'NOT met'}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.n, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
