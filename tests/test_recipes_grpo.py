"""GRPO recipes on tiny models: the real script in a subprocess (Qwen2.5-VL), the AffectGPT-R1
script in-process (LLaVA + LoRA), rewards receiving the dataset columns aligned with their
completions, and the pixel budget giving HF and vLLM-style processors the same image tokens."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from affectllm.data.schema import load_samples
from affectllm.launch import RECIPES_DIR, recipe_command
from affectllm.train.testing import image_digest, load_recipe, read_records, toy_data

RECORDING = "affectllm.train.testing.recording_reward"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "CI": "1",
       "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return toy_data(tmp_path_factory.mktemp("faces"), n=24)


def expected_digests(samples: list[dict], root: Path, model: Path, pixels) -> dict[str, str]:
    """Digest of each sample's image as the recipe's loader delivers it (resized to budget)."""
    from affectllm.models import load_processor
    from affectllm.train.data import image_loader

    loader = image_loader(load_processor(str(model), pixels), pixels)
    return {s["id"]: image_digest(loader.load(str(root / s["media"][0]["path"]))) for s in samples}


def check_alignment(records: list[dict], samples: dict[str, dict], digests: dict[str, str],
                    group: int) -> None:
    """Every record's columns belong to the sample its prompt names; each run of `group`
    consecutive records (one prompt's completions) is one sample."""
    assert records
    for r in records:
        sample = samples[r["id"]]
        assert f"[{r['id']}]" in r["prompt"], r
        assert r["labels"] == sample["labels"] and r["aus"] == sample["aus"], r
        assert r["image"] == digests[r["id"]], r
    by_call: dict[tuple, list[dict]] = {}
    for r in records:
        by_call.setdefault((r["rank"], r["step"]), []).append(r)
    for rows in by_call.values():
        for i in range(0, len(rows), group):
            assert len({r["id"] for r in rows[i:i + group]}) == 1, rows


def test_grpo_script_qwen_subprocess(tiny_model, faces, tmp_path):
    """The real script: per-device batch 6 > num_generations 2, pixel budget, recording reward."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from affectllm.models import PixelBudget

    model, out, calls = tiny_model("qwen2_5_vl"), tmp_path / "grpo", tmp_path / "calls.jsonl"
    overrides = {"model_name_or_path": model, "dataset_train": faces, "output_dir": out,
                 "prompt": "sample", "per_device_train_batch_size": 6, "num_generations": 2,
                 "max_steps": 2, "min_pixels": 784, "max_pixels": 3136,
                 "log_completions": "true", "num_completions_to_print": 1,
                 "rewards": ["format", json.dumps({"name": RECORDING, "path": str(calls)})]}
    argv = recipe_command("grpo_facial_r1", RECIPES_DIR / "tiny" / "grpo.yaml", overrides)
    result = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]

    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    logged = {k for entry in state["log_history"] for k in entry}
    assert {"rewards/format/mean", "rewards/recording/mean", "reward"} <= logged
    AutoModelForImageTextToText.from_pretrained(out)
    AutoProcessor.from_pretrained(out)
    card = (out / "README.md").read_text()
    for text in (str(model), str(faces), "| format |", "| recording |", "train_runtime"):
        assert text in card
    assert (out / "resolved_config.yaml").is_file()

    samples = load_samples(faces)
    digests = expected_digests(samples, faces.parent, model, PixelBudget(784, 3136))
    records = read_records(calls)
    assert len(records) == 2 * 6
    check_alignment(records, {s["id"]: s for s in samples}, digests, group=2)


def test_grpo_affectgpt_llava_lora_inprocess(tiny_model, faces, tmp_path):
    """AffectGPT-R1 (ew with length penalty + format) on LLaVA with LoRA, merged at the end."""
    from transformers import AutoModelForImageTextToText

    out = tmp_path / "affectgpt"
    load_recipe("grpo_affectgpt_r1").main([
        "--config", str(RECIPES_DIR / "tiny" / "grpo_affectgpt.yaml"),
        "--model_name_or_path", str(tiny_model("llava")), "--dataset_train", str(faces),
        "--output_dir", str(out), "--use_peft", "true", "--lora_r", "4", "--lora_alpha", "8",
        "--learning_rate", "1e-2"])
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert any("rewards/ew/mean" in entry for entry in state["log_history"])
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert "vision_tower" in adapter["target_modules"] and "(?!" in adapter["target_modules"]
    merged = AutoModelForImageTextToText.from_pretrained(out)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert "| ew |" in (out / "README.md").read_text()


@pytest.mark.parametrize("arch, factor", [("qwen2_5_vl", 28), ("qwen3_vl", 32)])
def test_pixel_budget_gives_vllm_style_processor_the_same_image_tokens(tiny_model, faces, arch,
                                                                       factor):
    """Images pre-resized by the recipe's loader become the same number of image tokens in the
    budgeted HF processor and in a processor with the model's defaults (what vLLM loads)."""
    from PIL import Image

    from affectllm.models import PixelBudget, load_processor
    from affectllm.train.data import image_loader

    model = str(tiny_model(arch))
    pixels = PixelBudget(factor * factor, 4 * factor * factor)
    budgeted, default = load_processor(model, pixels), load_processor(model)
    loader = image_loader(budgeted, pixels)
    path = str(faces.parent / load_samples(faces)[0]["media"][0]["path"])
    raw = Image.open(path).convert("RGB")
    image = loader.load(path)
    assert image.width * image.height <= pixels.max_pixels < raw.width * raw.height
    assert image.width % factor == 0 and image.height % factor == 0

    def grid(processor, im):
        return processor.image_processor(images=[im], return_tensors="pt")["image_grid_thw"].tolist()

    assert grid(budgeted, image) == grid(default, image) == grid(budgeted, raw)
    assert grid(default, raw) != grid(budgeted, raw)  # without the loader, they would differ
    assert loader.load(path) is image  # small images are cached


def tiny_config(name: str) -> dict:
    import yaml

    return yaml.safe_load((RECIPES_DIR / "tiny" / name).read_text())


@pytest.fixture(scope="module")
def warm_start(tiny_model, tmp_path_factory):
    """``warm_start(prompt) -> (model, train.jsonl)``: the tiny Qwen2.5-VL after the warm-start
    SFT the tiny GRPO configs' headers give (50 steps on toy faces whose reasoning lists the AU
    codes), with the GRPO config's prompt."""
    from affectllm.data.toyfaces import generate_toyfaces
    from affectllm.launch import override_args

    root = tmp_path_factory.mktemp("warm")
    train = Path(generate_toyfaces(root / "faces", 160, seed=3, size=56, variation=0,
                                   reasoning="codes")["train"])
    cache: dict[str, Path] = {}

    def get(prompt: str) -> tuple[Path, Path]:
        if prompt not in cache:
            out = root / f"sft{len(cache)}"
            load_recipe("sft").main(["--config", str(RECIPES_DIR / "tiny" / "sft.yaml"),
                                     *override_args({
                "model_name_or_path": tiny_model("qwen2_5_vl"), "dataset_train": train,
                "prompt": prompt, "max_train_samples": 96, "max_steps": 50,
                "per_device_train_batch_size": 8, "learning_rate": 2e-3, "min_pixels": 784,
                "max_pixels": 3136, "output_dir": out})])
            cache[prompt] = out
        return cache[prompt], train

    return get


@pytest.mark.slow
@pytest.mark.parametrize(("recipe", "config"), [("grpo_facial_r1", "grpo.yaml"),
                                                ("grpo_affectgpt_r1", "grpo_affectgpt.yaml")])
def test_tiny_grpo_configs_have_nonzero_advantages_and_move_the_weights(recipe, config,
                                                                        warm_start, tmp_path):
    """The shipped tiny GRPO configs, from their documented warm start: rewards vary within a
    group (reward_std > 0), so gradients are non-zero and the weights change."""
    import torch
    from safetensors.torch import load_file

    from affectllm.launch import override_args
    from affectllm.train.testing import logged_values

    model, train = warm_start(tiny_config(config)["prompt"])
    out = tmp_path / "grpo"
    load_recipe(recipe).main(["--config", str(RECIPES_DIR / "tiny" / config), *override_args({
        "model_name_or_path": model, "dataset_train": train, "max_steps": 4,
        "output_dir": out})])
    assert any(v > 0 for v in logged_values(out, "reward_std").values())
    assert any(v > 0 for v in logged_values(out, "grad_norm").values())
    before, after = load_file(model / "model.safetensors"), load_file(out / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in after)
