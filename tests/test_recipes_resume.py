"""Resume after ``kill -9``: a GRPO run killed right after its first checkpoint, rerun with
``--resume_from_checkpoint true``, ends at the same optimiser step as an uninterrupted run and sees
the same prompts at every step after the checkpoint (same data order)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from affectllm.launch import RECIPES_DIR, recipe_command
from affectllm.train.outputs import latest_checkpoint
from affectllm.train.testing import load_recipe, read_records, toy_data

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "CI": "1",
       "TOKENIZERS_PARALLELISM": "false"}
STEPS = 6


def overrides(model: Path, faces: Path, out: Path, calls: Path) -> dict:
    return {"model_name_or_path": model, "dataset_train": faces, "output_dir": out,
            "prompt": "sample", "max_steps": STEPS, "save_strategy": "steps", "save_steps": 1,
            "rewards": ["format", json.dumps({"name": "affectllm.train.testing.recording_reward",
                                              "path": str(calls)})]}


def argv_of(options: dict) -> list[str]:
    from affectllm.launch import override_args

    return ["--config", str(RECIPES_DIR / "tiny" / "grpo.yaml"), *override_args(options)]


def ids_by_step(path: Path) -> dict[int, list[str]]:
    steps: dict[int, list[str]] = {}
    for r in read_records(path):
        steps.setdefault(r["step"], []).append(r["id"])
    return steps


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tiny_model, tmp_path):
    faces = toy_data(tmp_path / "faces", n=24)
    model = tiny_model("qwen2_5_vl")
    grpo = load_recipe("grpo_facial_r1")

    # Killed run: a real subprocess, SIGKILL once its first checkpoint is complete.
    killed = tmp_path / "killed"
    argv = recipe_command("grpo_facial_r1", RECIPES_DIR / "tiny" / "grpo.yaml",
                          overrides(model, faces, killed, tmp_path / "killed.jsonl"))
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
    assert 1 <= start < STEPS

    # Resume in the same output_dir.
    grpo.main(argv_of({**overrides(model, faces, killed, tmp_path / "resumed.jsonl"),
                       "resume_from_checkpoint": "true"}))
    # Uninterrupted reference run.
    reference = tmp_path / "reference"
    grpo.main(argv_of(overrides(model, faces, reference, tmp_path / "reference.jsonl")))

    final = json.loads((killed / "trainer_state.json").read_text())
    expected = json.loads((reference / "trainer_state.json").read_text())
    assert final["global_step"] == expected["global_step"] == STEPS
    resumed, uninterrupted = ids_by_step(tmp_path / "resumed.jsonl"), \
        ids_by_step(tmp_path / "reference.jsonl")
    assert min(resumed) == start and sorted(resumed) == list(range(start, STEPS))
    for step, ids in resumed.items():
        assert ids == uninterrupted[step], step
    before_kill = ids_by_step(tmp_path / "killed.jsonl")
    for step in range(start):
        assert before_kill[step] == uninterrupted[step]
