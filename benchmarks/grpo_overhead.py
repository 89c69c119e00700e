"""Per-step overhead of the GRPO recipe over a bare TRL script, on a CPU.

    python benchmarks/grpo_overhead.py [--size small] [--steps 10] [--rounds 2]

Both sides train the same tiny model (`affectllm.tiny`, built here) on the same toy faces with the
same trivial reward (completion length), the same GRPOConfig and seed, so they generate the same
completions and do the same work; the difference is the glue: our recipe (`recipes/
grpo_facial_r1.py` main: checks, canonical data -> rows, lazy cached image loading, pixel-budget
processor) against a bare script (TRL's documented dataset format with the images decoded by
`datasets`, `GRPOTrainer` with defaults). They run alternately in this process, `rounds` times each.

Step time = time between the ends of consecutive optimiser steps (data loading, generation,
rewards, forward/backward, optimiser), the first step left out as warm-up; the medians over all
rounds are compared. CPU time of the process is the primary measure (other processes sharing the
machine do not count); wall time is reported beside it. Goal: ratio <= 1.05.

`run()` returns the numbers and a ``markdown`` section for `benchmarks/run_all.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
GOAL = 1.05
PROMPT = ("What emotion does this face show? Name the action units in <think> </think>, then one "
          "emotion label in <answer> </answer>.")


def _settings(steps: int) -> dict:
    return dict(num_generations=4, max_completion_length=32, per_device_train_batch_size=8,
                gradient_accumulation_steps=1, learning_rate=1e-4, max_steps=steps, beta=0.0,
                loss_type="dapo", scale_rewards="group", temperature=1.0, use_cpu=True, bf16=False,
                activation_checkpointing=False, logging_steps=1, report_to="none",
                save_strategy="no", seed=0, dataloader_num_workers=0)


class _StepTimer:
    """Collects (cpu, wall) seconds between consecutive optimiser-step ends of every trainer
    built while `installed()` is active."""

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []

    @contextlib.contextmanager
    def installed(self):
        from transformers import TrainerCallback
        from trl import GRPOTrainer

        timer = self

        class Callback(TrainerCallback):
            last: tuple[float, float] | None = None

            def on_train_begin(self, args, state, control, **kwargs):
                self.last = None

            def on_step_end(self, args, state, control, **kwargs):
                now = (time.process_time(), time.perf_counter())
                if self.last is not None:
                    timer.cpu.append(now[0] - self.last[0])
                    timer.wall.append(now[1] - self.last[1])
                self.last = now

        original = GRPOTrainer.__init__

        def init(trainer, *args, **kwargs):
            original(trainer, *args, **kwargs)
            trainer.add_callback(Callback())

        GRPOTrainer.__init__ = init
        try:
            yield self
        finally:
            GRPOTrainer.__init__ = original


def _recipe(model: Path, faces: Path, out: Path, steps: int) -> None:
    from affectllm.launch import override_args

    spec = importlib.util.spec_from_file_location("bench_grpo_recipe",
                                                  REPO / "recipes" / "grpo_facial_r1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    options = {**_settings(steps), "model_name_or_path": model, "dataset_train": faces,
               "output_dir": out, "prompt": PROMPT, "dtype": "float32",
               "rewards": ["affectllm.train.testing.length_reward"]}
    module.main(override_args({k: str(v).lower() if isinstance(v, bool) else v
                               for k, v in options.items()}))


def _bare(model: Path, faces: Path, out: Path, steps: int) -> None:
    """What a user would write with TRL alone."""
    import json

    from datasets import Dataset, Image, List
    from trl import GRPOConfig, GRPOTrainer

    from affectllm.train.testing import length_reward

    rows = [json.loads(line) for line in faces.read_text().splitlines()]
    dataset = Dataset.from_list([
        {"prompt": [{"role": "user", "content": PROMPT}],
         "images": [str(faces.parent / m["path"]) for m in r["media"]]} for r in rows])
    dataset = dataset.cast_column("images", List(Image()))
    trainer = GRPOTrainer(model=str(model), reward_funcs=length_reward(),
                          args=GRPOConfig(output_dir=str(out), **_settings(steps)),
                          train_dataset=dataset)
    trainer.train()
    trainer.save_model(str(out))


def run(size: str = "small", steps: int = 10, rounds: int = 2, print_markdown: bool = True) -> dict:
    """Measure; return ``{"recipe_step_cpu_s", "bare_step_cpu_s", "ratio_cpu", ...,
    "markdown"}``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from affectllm.data.toyfaces import generate_toyfaces
    from affectllm.tiny import save_tiny_model

    timers = {"recipe": _StepTimer(), "bare": _StepTimer()}
    with tempfile.TemporaryDirectory(prefix="grpo_overhead_") as tmp:
        tmp = Path(tmp)
        model = tmp / "model"
        save_tiny_model(model, "qwen2_5_vl", size)
        faces = generate_toyfaces(tmp / "faces", 48, seed=0)["train"]
        for r in range(rounds):
            for name, fn in (("recipe", _recipe), ("bare", _bare)):
                with timers[name].installed():
                    fn(model, Path(faces), tmp / f"{name}{r}", steps)
    result: dict = {"size": size, "steps": steps, "rounds": rounds, "goal": GOAL,
                    "settings": {k: v for k, v in _settings(steps).items()
                                 if k in ("num_generations", "max_completion_length",
                                          "per_device_train_batch_size")}}
    for name, timer in timers.items():
        result[f"{name}_step_cpu_s"] = statistics.median(timer.cpu)
        result[f"{name}_step_wall_s"] = statistics.median(timer.wall)
        result[f"{name}_steps_timed"] = len(timer.cpu)
    result["ratio_cpu"] = result["recipe_step_cpu_s"] / result["bare_step_cpu_s"]
    result["ratio_wall"] = result["recipe_step_wall_s"] / result["bare_step_wall_s"]
    result["meets_goal"] = result["ratio_cpu"] <= GOAL
    result["markdown"] = markdown(result)
    if print_markdown:
        print(result["markdown"])
    return result


def markdown(r: dict) -> str:
    return "\n".join([
        "## GRPO recipe overhead (CPU)", "",
        f"Tiny Qwen2.5-VL ({r['size']}), {r['settings']}, {r['steps']} steps x {r['rounds']} "
        "rounds each, first step of each run left out; medians.", "",
        "| | recipe | bare TRL | ratio |", "|---|---:|---:|---:|",
        f"| step CPU time (s) | {r['recipe_step_cpu_s']:.3f} | {r['bare_step_cpu_s']:.3f} | "
        f"{r['ratio_cpu']:.3f} |",
        f"| step wall time (s) | {r['recipe_step_wall_s']:.3f} | {r['bare_step_wall_s']:.3f} | "
        f"{r['ratio_wall']:.3f} |", "",
        f"Goal: CPU-time ratio <= {r['goal']}: {'met' if r['meets_goal'] else 'NOT met'}.", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=("tiny", "small"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    run(args.size, args.steps, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
