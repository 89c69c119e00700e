"""SFT recipe on tiny models: the real script in a subprocess (Qwen2.5-VL), full fine-tuning of
LLaVA in-process (vision tower frozen), 4-bit QLoRA, completion-only labels, and max_length never
cutting image tokens."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from affectllm.launch import RECIPES_DIR, recipe_command
from affectllm.train.testing import load_recipe, toy_data

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "CI": "1",
       "TOKENIZERS_PARALLELISM": "false"}
TINY_SFT = RECIPES_DIR / "tiny" / "sft.yaml"


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return toy_data(tmp_path_factory.mktemp("faces"), n=24, unique_questions=False)


def test_sft_script_qwen_subprocess(tiny_model, faces, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model, out = tiny_model("qwen2_5_vl"), tmp_path / "sft"
    overrides = {"model_name_or_path": model, "dataset_train": faces, "output_dir": out,
                 "dataset_eval": faces.with_name("validation.jsonl"), "max_length": 160,
                 "max_steps": 3}
    argv = recipe_command("sft", TINY_SFT, overrides)
    result = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]

    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 3
    assert "eval_loss" in json.loads((out / "eval_results.json").read_text())
    AutoModelForImageTextToText.from_pretrained(out)
    AutoProcessor.from_pretrained(out)
    card = (out / "README.md").read_text()
    for text in (f"base_model: {model}", str(faces), "eval_loss", "train_loss"):
        assert text in card
    resolved = (out / "resolved_config.yaml").read_text()
    assert resolved.startswith("# Resolved configuration") and "max_length: 160" in resolved


def test_sft_llava_full_finetune_freezes_vision_tower(tiny_model, faces, tmp_path):
    from safetensors.torch import load_file

    base, out = tiny_model("llava"), tmp_path / "sft"
    load_recipe("sft").main(["--config", str(TINY_SFT), "--model_name_or_path", str(base),
                             "--dataset_train", str(faces), "--output_dir", str(out),
                             "--max_steps", "2"])
    before, after = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    vision = [k for k in before if "vision_tower" in k]
    language = [k for k in before if "language_model" in k and "layers" in k]
    assert vision and language
    assert all((before[k] == after[k]).all() for k in vision)
    assert any(not (before[k] == after[k]).all() for k in language)


def _bnb_4bit_works() -> str | None:
    """None when bitsandbytes can run a 4-bit layer here, else the reason it cannot."""
    try:
        import bitsandbytes as bnb
        import torch

        layer = bnb.nn.Linear4bit(8, 8, compute_dtype=torch.float32, quant_type="nf4")
        layer = layer.to("cuda" if torch.cuda.is_available() else "cpu")
        layer(torch.randn(2, 8, device=layer.weight.device)).sum().backward()
    except Exception as e:  # noqa: BLE001 - any failure means "cannot run here"
        return f"bitsandbytes 4-bit does not run on this machine: {type(e).__name__}: {e}"
    return None


def test_sft_qlora_4bit_then_merge(tiny_model, faces, tmp_path):
    reason = _bnb_4bit_works()
    if reason:
        pytest.skip(reason)
    from transformers import AutoModelForImageTextToText

    out = tmp_path / "qlora"
    load_recipe("sft").main(["--config", str(TINY_SFT), "--model_name_or_path",
                             str(tiny_model("qwen2_5_vl")), "--dataset_train", str(faces),
                             "--output_dir", str(out), "--max_steps", "2", "--use_peft", "true",
                             "--load_in_4bit", "true", "--lora_r", "4", "--lora_alpha", "8"])
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and state["log_history"][0]["loss"] > 0
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert "visual" in adapter["target_modules"]  # the exclusion regex
    merged = AutoModelForImageTextToText.from_pretrained(out)
    assert not getattr(merged, "is_loaded_in_4bit", False)
    assert "adapter" in (out / "README.md").read_text()


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "llava"])
def test_completion_only_labels(tiny_model, faces, arch):
    """Our rows through TRL's vision collator: only the completion is labelled, never an image
    or prompt token, and the whole completion is."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from affectllm.data.schema import data_root, load_samples
    from affectllm.models import load_processor
    from affectllm.prompts import target_text
    from affectllm.train.data import ImageLoader, resolve_prompt, sft_rows, to_dataset

    processor = load_processor(str(tiny_model(arch)))
    samples = load_samples(faces)[:3]
    rows = sft_rows(samples, data_root(faces), resolve_prompt("facial"))
    dataset = to_dataset(rows, ImageLoader())
    collator = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    batch = collator([dataset[i] for i in range(len(rows))])
    image_id = processor.tokenizer.convert_tokens_to_ids(
        "<|image_pad|>" if arch == "qwen2_5_vl" else "<image>")
    tokenizer = processor.tokenizer
    for i, sample in enumerate(samples):
        labelled = batch["labels"][i][batch["labels"][i] != -100]
        assert image_id not in labelled.tolist()
        text = tokenizer.decode(labelled)
        assert text.strip().startswith(target_text(sample)), text
        assert "What emotion" not in text


def test_max_length_that_would_cut_image_tokens_exits_2(tiny_model, faces, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        load_recipe("sft").main(["--config", str(TINY_SFT), "--model_name_or_path",
                                 str(tiny_model("llava")), "--dataset_train", str(faces),
                                 "--output_dir", str(tmp_path / "x"), "--max_length", "32"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "max_length=32" in err and "image tokens" in err
    assert not (tmp_path / "x").exists()  # refused before the trainer existed
