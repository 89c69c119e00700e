"""The prompt travels with the model: a recipe's output folder records its task
(affectllm_task.json), and `affectllm eval facial` uses it unless --prompt says otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from affectllm.errors import InputError
from affectllm.launch import RECIPES_DIR
from affectllm.task import TASK_FILE, prompt_for, read_task
from affectllm.train.testing import load_recipe

PROMPT = "Which emotion? Reason in <think> </think>, answer in <answer> </answer>."


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory) -> tuple[Path, Path]:
    """(SFT output folder, toy faces folder): 1 step with a custom prompt and system prompt."""
    from affectllm.data.toyfaces import generate_toyfaces

    tmp = tmp_path_factory.mktemp("task")
    faces = generate_toyfaces(tmp / "faces", 16, seed=1, size=64)["train"].parent
    out = tmp / "sft"
    load_recipe("sft").main([
        "--config", str(RECIPES_DIR / "tiny" / "sft.yaml"),
        "--model_name_or_path", str(tiny_model("qwen2_5_vl")),
        "--dataset_train", str(faces / "train.jsonl"), "--output_dir", str(out),
        "--prompt", PROMPT, "--system_prompt", "Be brief.", "--max_pixels", "3136",
        "--max_steps", "1"])
    return out, faces


def test_recipe_writes_its_task(trained):
    out, _ = trained
    task = read_task(out)
    assert task.prompt == PROMPT and task.prompt_text == PROMPT
    assert task.system_prompt == "Be brief." and task.pixels["max_pixels"] == 3136
    assert task.video["mode"] == "frames" and "<think>" in task.answer_format
    assert "affectllm_task.json" in (out / "README.md").read_text()
    assert prompt_for(out, None, "facial") == (PROMPT, "model")
    assert prompt_for(out, "facial", "facial") == ("facial", "option")
    assert prompt_for(out.parent, None, "facial") == ("facial", "default")


def test_eval_facial_uses_the_training_prompt_by_default(trained, cli, tmp_path):
    out, faces = trained
    common = ("eval", "facial", "--model", str(out), "--data", str(faces), "--limit", "2",
              "--backend", "hf", "--max-new-tokens", "4", "--plots", "false")
    result = cli(*common, "--out", str(tmp_path / "default"))
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "default" / "config.json").read_text())
    assert config["prompt"] == PROMPT and config["prompt_source"] == "model"
    assert config["system"] == "Be brief."
    assert config["backend_options"]["pixels"]["max_pixels"] == 3136
    assert "the model's training prompt" in (tmp_path / "default" / "report.md").read_text()

    result = cli(*common, "--out", str(tmp_path / "explicit"), "--prompt", "facial")
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "explicit" / "config.json").read_text())
    assert config["prompt"] == "facial" and config["prompt_source"] == "option"
    assert "from --prompt" in (tmp_path / "explicit" / "report.md").read_text()


def test_malformed_task_file_is_located(tmp_path):
    (tmp_path / TASK_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=TASK_FILE) as info:
        read_task(tmp_path)
    assert info.value.path == str(tmp_path / TASK_FILE)
