"""GRPO on two processes with DeepSpeed ZeRO-2 on its CPU accelerator, launched the way the
pipeline launches recipes (`affectllm.launch.recipe_command`: ``accelerate launch`` with
recipes/accelerate_configs/zero2_cpu.yaml, torch.distributed.run with gloo underneath).

accelerate cannot run several processes from a plain CPU config (``--cpu`` silently runs one);
with a DeepSpeed config it starts them through torch.distributed.run, and the recipe gets
``--use_cpu false --ddp_backend gloo``. The first run builds DeepSpeed's shared-memory op (~40 s).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from affectllm.data.schema import load_samples
from affectllm.launch import RECIPES_DIR, recipe_command
from affectllm.train.testing import image_digest, read_records, toy_data

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "CI": "1",
       "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_grpo_zero2_two_processes(tiny_model, tmp_path):
    import yaml
    from transformers import AutoModelForImageTextToText

    from affectllm.models import PixelBudget, load_processor
    from affectllm.train.data import image_loader

    faces = toy_data(tmp_path / "faces", n=24)
    model, out, calls = tiny_model("qwen2_5_vl"), tmp_path / "grpo", tmp_path / "calls.jsonl"
    overrides = {"model_name_or_path": model, "dataset_train": faces, "output_dir": out,
                 "use_cpu": "false", "ddp_backend": "gloo", "prompt": "sample",
                 "per_device_train_batch_size": 4, "num_generations": 2, "max_steps": 2,
                 "save_strategy": "steps", "save_steps": 1,
                 "rewards": ["format", json.dumps({"name": "affectllm.train.testing."
                                                           "recording_reward", "path": str(calls)})]}
    argv = recipe_command("grpo_facial_r1", RECIPES_DIR / "tiny" / "grpo.yaml", overrides,
                          accelerate_config=RECIPES_DIR / "accelerate_configs" / "zero2_cpu.yaml",
                          num_processes=2)
    result = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=900)
    assert result.returncode == 0, result.stderr[-6000:]

    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    shards = sorted(p.name for p in (out / "checkpoint-1").rglob("*zero_pp_rank_*optim_states.pt"))
    assert len(shards) == 2 and "rank_0" in shards[0] and "rank_1" in shards[1], shards
    AutoModelForImageTextToText.from_pretrained(out)

    samples = {s["id"]: s for s in load_samples(faces)}
    config = yaml.safe_load((RECIPES_DIR / "tiny" / "grpo.yaml").read_text())
    pixels = PixelBudget(config["min_pixels"], config["max_pixels"])  # what the recipe applies
    loader = image_loader(load_processor(str(model), pixels), pixels)
    records = read_records(calls)
    assert {r["rank"] for r in records} == {0, 1}
    assert len(records) == 2 * 2 * 4  # steps x processes x per-device batch
    for r in records:
        sample = samples[r["id"]]
        assert f"[{r['id']}]" in r["prompt"]
        assert (r["labels"], r["aus"]) == (sample["labels"], sample["aus"])
        assert r["image"] == image_digest(loader.load(str(faces.parent / sample["media"][0]["path"])))
