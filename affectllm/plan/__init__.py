"""`affectllm plan`: real sizes of a recipe without downloading anything.

Builds the recipe's model on the meta device (`affectllm.plan.model`: the real architecture, the
recipe's own LoRA / QLoRA / freezing code paths), counts total, per-part (vision tower, projector,
language model) and trainable parameters and the LoRA modules matched, and estimates the peak
memory per GPU of the launch (`affectllm.plan.memory`: DeepSpeed's ZeRO estimators for model
states, documented formulas for activations, logits, GRPO's reference model, the HF generation KV
cache and the vLLM colocate share). It says whether the run fits and which single change helps
most. The recipes' ``--dry_run`` prints the same table for the launch they run in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affectllm.plan.memory import Estimate, Knob, Launch, Workload, estimate, knobs
from affectllm.plan.model import ModelPlan, lora_problems, plan_model


@dataclass
class Plan:
    model: ModelPlan
    workload: Workload
    launch: Launch
    estimate: Estimate
    knobs: list[Knob]

    @property
    def fits(self) -> bool:
        return self.estimate.peak_gib <= self.launch.gpu_memory_gib

    @property
    def problems(self) -> list[str]:
        return lora_problems(self.model) + list(self.estimate.warnings)


def plan_for(script_args: Any, training_args: Any, model_args: Any, method: str,
             launch: Launch, completion_tokens: int | None = None,
             image_pixels: int | None = None) -> Plan:
    """The plan of parsed recipe arguments under `launch`; `image_pixels` is the area of the
    data's images (default: as large as the pixel budget allows)."""
    from affectllm.plan.recipe import workload

    model = plan_model(model_args, script_args, training_args, launch.zero_stage)
    work = workload(model, method, script_args, training_args, model_args, completion_tokens,
                    image_pixels)
    return Plan(model, work, launch, estimate(model, work, launch), knobs(model, work, launch))


def plan_recipe(config: str | Path, *, accelerate_config: str | None = None,
                gpus: int | None = None, gpu_memory_gib: float | None = None,
                completion_tokens: int | None = None, image_pixels: int | None = None,
                extra: list[str] | None = None) -> Plan:
    """The plan of a recipe YAML; the accelerate config defaults to the one in its launch line
    (``"none"``: no accelerate config, one process or `gpus` DDP processes)."""
    from affectllm.plan.recipe import launch_from_accelerate, load_recipe_args, recipe_header

    script_args, training_args, model_args, method = load_recipe_args(config, extra)
    if accelerate_config is None:
        accelerate_config = recipe_header(config)[0]
    launch = launch_from_accelerate(None if accelerate_config == "none" else accelerate_config,
                                    gpus, gpu_memory_gib)
    return plan_for(script_args, training_args, model_args, method, launch, completion_tokens,
                    image_pixels)


def dry_run_lines(script_args: Any, training_args: Any, model_args: Any) -> list[str]:
    """The plan table as ``#`` comment lines for a recipe's dry run, for the launch this process
    runs in; a plan that cannot be made says why in one line instead."""
    from affectllm.errors import InputError
    from affectllm.plan.recipe import launch_from_environment
    from affectllm.plan.report import render

    method = "grpo" if hasattr(training_args, "num_generations") else "sft"
    try:
        plan = plan_for(script_args, training_args, model_args, method,
                        launch_from_environment())
    except InputError as e:
        return [f"# plan: not available: {e}"]
    lines = ["# " + line if line else "#" for line in render(plan).splitlines()]
    if "WORLD_SIZE" not in os.environ:
        lines.append("# (not under `accelerate launch`: `affectllm plan --config YAML` plans the "
                     "launch in the YAML's first line)")
    return lines


__all__ = ["Plan", "dry_run_lines", "plan_for", "plan_recipe"]
