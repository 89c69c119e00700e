"""Every supported family: build the tiny model, reload it with the Auto classes, run the
processor on an image + text chat, a forward pass, and generate."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from affectllm.tiny import ARCHS, build_tiny_model

IMAGE_TOKEN = {"qwen2_vl": "<|image_pad|>", "qwen2_5_vl": "<|image_pad|>",
               "qwen3_vl": "<|image_pad|>", "llava": "<image>", "llava_onevision": "<image>"}


def _chat():
    return [{"role": "user", "content": [{"type": "image"},
                                         {"type": "text", "text": "What emotion is shown?"}]}]


@pytest.mark.parametrize("arch", ARCHS)
def test_build_reload_forward_generate(arch, tiny_model):
    path = tiny_model(arch)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    assert model.config.model_type == arch

    tok = processor.tokenizer
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN[arch])
    config_image_id = getattr(model.config, "image_token_id", None)
    if config_image_id is None:
        config_image_id = model.config.image_token_index
    assert image_id == config_image_id
    assert tok.eos_token_id == model.generation_config.eos_token_id

    text = processor.apply_chat_template(_chat(), add_generation_prompt=True, tokenize=False)
    assert text.count(IMAGE_TOKEN[arch]) == 1
    image = Image.new("RGB", (112, 112), (180, 120, 90))
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    n_image_tokens = int((inputs["input_ids"] == image_id).sum())
    assert n_image_tokens > 1, "the processor expands the placeholder to one token per patch"

    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape
    assert torch.isfinite(logits).all()

    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "llava"])
def test_chat_template_is_prefix_consistent(arch, tiny_model):
    """Prompt-completion training needs the generation prompt to be a prefix of the full chat."""
    processor = AutoProcessor.from_pretrained(tiny_model(arch))
    prompt = processor.apply_chat_template(_chat(), add_generation_prompt=True, tokenize=False)
    full = processor.apply_chat_template(
        _chat() + [{"role": "assistant", "content": "<think>x</think><answer>fear</answer>"}],
        tokenize=False)
    assert full.startswith(prompt)
    assert "<think>x</think><answer>fear</answer>" in full


def test_special_tokens_survive_decoding(tiny_model):
    processor = AutoProcessor.from_pretrained(tiny_model("qwen2_5_vl"))
    text = "<think>AU6 and AU12 are active.</think><answer>happiness</answer>"
    ids = processor.tokenizer(text)["input_ids"]
    assert processor.tokenizer.decode(ids, skip_special_tokens=True) == text


def test_same_seed_same_weights():
    a, _ = build_tiny_model("qwen2_vl", seed=3)
    b, _ = build_tiny_model("qwen2_vl", seed=3)
    c, _ = build_tiny_model("qwen2_vl", seed=4)
    pa, pb, pc = (next(m.parameters()) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_small_is_bigger_than_tiny():
    tiny, _ = build_tiny_model("qwen2_5_vl", "tiny")
    small, _ = build_tiny_model("qwen2_5_vl", "small")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(small) > 2 * count(tiny)


def test_cli_builds_and_saves(tmp_path, cli):
    result = cli("tiny-model", str(tmp_path / "m"), "--arch", "qwen2_5_vl")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m" / "config.json").is_file()
    assert (tmp_path / "m" / "chat_template.jinja").is_file() or \
        "chat_template" in (tmp_path / "m" / "processor_config.json").read_text()
