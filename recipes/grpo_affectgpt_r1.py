"""AffectGPT-R1: GRPO towards open-vocabulary emotion answers.

    python recipes/grpo_affectgpt_r1.py --config recipes/tiny/grpo_affectgpt.yaml       # CPU
    accelerate launch --config_file recipes/accelerate_configs/zero2.yaml \\
        recipes/grpo_affectgpt_r1.py --config recipes/affectgpt_r1/grpo.yaml

The training loop is `recipes/grpo_facial_r1.py` unchanged: what makes it AffectGPT-R1 is the
config, i.e. ``prompt: openset`` (the answer is a comma-separated list of emotion words) and the
rewards ``[{name: ew, length_penalty: p2, ...}, format]`` (emotion-wheel F-score against
``openset``, falling back to ``labels``). This file exists so that the recipe has its own name;
``python recipes/grpo_facial_r1.py --config recipes/affectgpt_r1/grpo.yaml`` is the same run.
Arguments, outputs and exit status: see grpo_facial_r1.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _facial_r1_recipe():
    spec = importlib.util.spec_from_file_location(
        "affectllm_recipe_grpo_facial_r1", Path(__file__).with_name("grpo_facial_r1.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    """Run the GRPO recipe (see grpo_facial_r1.main) with `argv`."""
    _facial_r1_recipe().main(argv)


if __name__ == "__main__":
    main()
