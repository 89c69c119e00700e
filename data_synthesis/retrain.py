"""The optional retrain step between rounds: the SFT recipe on the corpus so far.

Before round k+1 (k >= 1) the SFT recipe is run in a child process (`affectllm.launch.run_recipe`)
with ``--model_name_or_path`` the base model (``from: base``, the default: each retrain starts from
the same weights, so errors do not compound) or round k's model (``from: previous``),
``--dataset_train OUT/corpus.jsonl`` and ``--data_root OUT``, plus the config's `overrides`. Its log
goes to ``OUT/round_k/retrain.log``.

The recipe writes into a staging folder ``OUT/round_k/model.partial-PID`` that is renamed to
``OUT/round_k/model`` only once it exits 0, so ``round_k/model`` exists only when complete. A
training child orphaned by a ``kill -9`` of this process keeps its own staging folder and can never
overwrite the model a resumed run trains (its leftovers are removed by the next retrain).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from affectllm.launch import run_recipe
from data_synthesis.config import RetrainConfig

MODEL_DIR = "model"
STAGING_PREFIX = f"{MODEL_DIR}.partial-"


def retrain(cfg: RetrainConfig, base_model: Path | str, out: Path, round_dir: Path,
            corpus: Path, cpu_threads: int | None = None) -> dict[str, Any]:
    """Train the model for the next round into ``round_dir/model`` unless a finished one is
    there; returns the manifest entry. `cpu_threads` sets OMP_NUM_THREADS for the recipe."""
    model_dir = round_dir / MODEL_DIR
    for stale in round_dir.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    if (model_dir / "config.json").is_file():  # renamed into place: a finished training
        return {"status": "done", "seconds": 0.0, "reused": True}
    staging = round_dir / f"{STAGING_PREFIX}{os.getpid()}"
    start = time.perf_counter()
    overrides = {"model_name_or_path": str(base_model), "output_dir": str(staging),
                 "dataset_train": str(corpus), "data_root": str(out), **cfg.overrides}
    run_recipe(cfg.recipe, cfg.config, overrides, accelerate_config=cfg.accelerate_config,
               num_processes=cfg.num_processes, log_file=round_dir / "retrain.log",
               env={"OMP_NUM_THREADS": str(cpu_threads)} if cpu_threads else None)
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(staging, model_dir)
    return {"status": "done", "seconds": time.perf_counter() - start}
