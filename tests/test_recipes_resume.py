"""Resume really resumes: a run continued from a checkpoint ends with the same weights and the same
losses after the resume point as an uninterrupted run, for SFT and GRPO, Qwen2.5-VL and LLaVA,
full fine-tuning and LoRA, and no "missing keys" / "unexpected keys" warning is ever logged.

The GRPO runs score with `affectllm.train.testing.length_reward` (completion length), which
varies within every group of a random model's completions, so advantages are non-zero and the
weights move after the resume point (a tie in every group would make the comparison vacuous)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from affectllm.launch import RECIPES_DIR, override_args, recipe_command
from affectllm.train.outputs import latest_checkpoint
from affectllm.train.testing import (
    load_recipe,
    logged_values,
    read_records,
    toy_data,
    trained_weights,
)

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "CI": "1",
       "TOKENIZERS_PARALLELISM": "false"}
STEPS, SAVE_AT = 4, 2
LENGTH = json.dumps({"name": "affectllm.train.testing.length_reward", "scale": 10_000})
LORA = {"use_peft": "true", "lora_r": 8, "lora_alpha": 16}


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return toy_data(tmp_path_factory.mktemp("faces"), n=24)


class KeyWarnings(logging.Handler):
    """Collects every transformers log record that reports mismatching checkpoint keys."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "missing keys" in message or "unexpected keys" in message:
            self.found.append(message[:300])


@pytest.fixture
def key_warnings():
    """Transformers' warnings switched on (conftest silences them) and watched for key reports."""
    from transformers.utils import logging as hf_logging

    handler, level = KeyWarnings(), hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    logging.getLogger("transformers").addHandler(handler)
    yield handler
    logging.getLogger("transformers").removeHandler(handler)
    hf_logging.set_verbosity(level)


def run(recipe: str, config: str, options: dict) -> None:
    load_recipe(recipe).main(["--config", str(RECIPES_DIR / "tiny" / config),
                              *override_args(options)])


def assert_same_run(resumed: Path, reference: Path, start: int, base: Path) -> None:
    """Weights allclose to the uninterrupted run's, equal losses after `start`, and weights that
    moved away from the base model (so the comparison is not between two untrained copies)."""
    got, want = trained_weights(resumed), trained_weights(reference)
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)
    after = {s: v for s, v in logged_values(reference, "loss").items() if s > start}
    assert after and {s: v for s, v in logged_values(resumed, "loss").items() if s > start} == \
        pytest.approx(after, rel=1e-5, abs=1e-7)
    if not (reference / "adapter_model.safetensors").is_file():
        base_weights = load_file(base / "model.safetensors")
        assert any(not torch.equal(want[k], base_weights[k]) for k in want if k in base_weights)
    else:
        assert any(bool(v.abs().sum() > 0) for k, v in want.items() if "lora_B" in k)


def resume_from_copy(reference: Path, resumed: Path) -> int:
    """A fresh output_dir holding only the reference run's checkpoint-SAVE_AT (what a run killed
    right after that checkpoint leaves); returns its step."""
    resumed.mkdir()
    shutil.copytree(reference / f"checkpoint-{SAVE_AT}", resumed / f"checkpoint-{SAVE_AT}")
    return SAVE_AT


#: recipe -> (tiny config, its extra options): GRPO scores completion length (non-zero advantages)
METHODS = {"sft": ("sft.yaml", {"per_device_train_batch_size": 2}),
           "grpo_facial_r1": ("grpo.yaml", {"rewards": [LENGTH]})}
CASES = [(method, arch, lora) for method in METHODS for arch in ("qwen2_5_vl", "llava")
         for lora in (False, True)]


@pytest.mark.slow
@pytest.mark.parametrize(("recipe", "arch", "lora"), CASES,
                         ids=[f"{m}-{a}-{'lora' if lo else 'full'}" for m, a, lo in CASES])
def test_resume_matches_uninterrupted_run(recipe, arch, lora, tiny_model, faces, tmp_path,
                                          key_warnings):
    model = tiny_model(arch)
    config, extra = METHODS[recipe]
    options = {"model_name_or_path": model, "dataset_train": faces, "max_steps": STEPS,
               "save_strategy": "steps", "save_steps": SAVE_AT, **extra,
               **(LORA if lora else {})}
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    run(recipe, config, {**options, "output_dir": reference})
    start = resume_from_copy(reference, resumed)
    run(recipe, config, {**options, "output_dir": resumed, "resume_from_checkpoint": "true"})
    assert any(v > 0 for s, v in logged_values(reference, "grad_norm").items() if s > start), \
        "no gradient after the resume point: the comparison would be vacuous"
    assert_same_run(resumed, reference, start, model)
    assert key_warnings.found == []


def ids_by_step(path: Path) -> dict[int, list[str]]:
    steps: dict[int, list[str]] = {}
    for r in read_records(path):
        steps.setdefault(r["step"], []).append(r["id"])
    return steps


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tiny_model, faces, tmp_path):
    """A real subprocess killed with SIGKILL once its first checkpoint is complete, resumed in the
    same output_dir: same prompts at every step (data order), same losses and weights."""
    model = tiny_model("qwen2_5_vl")

    def options(out: Path, calls: Path) -> dict:
        return {"model_name_or_path": model, "dataset_train": faces, "output_dir": out,
                "prompt": "sample", "max_steps": 6, "save_strategy": "steps", "save_steps": 1,
                "rewards": [LENGTH, json.dumps({"name": "affectllm.train.testing.recording_reward",
                                                "path": str(calls)})]}

    killed = tmp_path / "killed"
    argv = recipe_command("grpo_facial_r1", RECIPES_DIR / "tiny" / "grpo.yaml",
                          options(killed, tmp_path / "killed.jsonl"))
    proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 600
    while not (killed / "checkpoint-1" / "trainer_state.json").is_file():
        assert proc.poll() is None, proc.stderr.read()[-4000:]
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "trainer_state.json").exists(), "the run finished before the kill"
    resumed_from = latest_checkpoint(killed)
    assert resumed_from is not None
    start = json.loads((Path(resumed_from) / "trainer_state.json").read_text())["global_step"]
    assert 1 <= start < 6

    run("grpo_facial_r1", "grpo.yaml",
        {**options(killed, tmp_path / "resumed.jsonl"), "resume_from_checkpoint": "true"})
    reference = tmp_path / "reference"
    run("grpo_facial_r1", "grpo.yaml", options(reference, tmp_path / "reference.jsonl"))

    resumed, uninterrupted = ids_by_step(tmp_path / "resumed.jsonl"), \
        ids_by_step(tmp_path / "reference.jsonl")
    assert min(resumed) == start and sorted(resumed) == list(range(start, 6))
    for step, ids in resumed.items():
        assert ids == uninterrupted[step], step
    before_kill = ids_by_step(tmp_path / "killed.jsonl")
    for step in range(start):
        assert before_kill[step] == uninterrupted[step]
    assert_same_run(killed, reference, start, model)
