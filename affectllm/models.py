"""Load any supported vision-language model and its processor the same way everywhere.

One function, `load_model_and_processor`, serves SFT, GRPO, synthesis and evaluation, so the
details that must agree between them are decided once: dtype, attention kernel, the image pixel
budget (which fixes how many image tokens an image becomes), what is frozen, LoRA targets and 4-bit
quantisation. `trust_remote_code` is off unless the caller asks for it.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affectllm.errors import InputError

#: model_type -> (family, vision tower module names, projector module names). Names are the
#: attribute paths under `model.model` in transformers 5.
FAMILIES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "qwen2_vl": ("qwen", ("visual",), ("visual.merger",)),
    "qwen2_5_vl": ("qwen", ("visual",), ("visual.merger",)),
    "qwen3_vl": ("qwen", ("visual",), ("visual.merger", "visual.deepstack_merger_list")),
    "llava": ("llava", ("vision_tower",), ("multi_modal_projector",)),
    "llava_onevision": ("llava", ("vision_tower",), ("multi_modal_projector",)),
}

#: Linear layers of the language model that LoRA adapts. The vision tower and projector are
#: excluded by name: vLLM cannot load LoRA weights on the ViT when it syncs weights for rollouts.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LORA_TARGET_REGEX = (r"^(?!.*(?:visual|vision_tower|multi_modal_projector)).*\.(?:"
                     + "|".join(LORA_TARGETS) + r")$")


@dataclass(frozen=True)
class PixelBudget:
    """Image size limits, in pixels, applied identically in training, HF generation and vLLM.

    Qwen-VL processors resize each image so that its area lies in [min_pixels, max_pixels]; every
    28x28 (Qwen2/2.5) or 32x32 (Qwen3) block becomes one image token. LLaVA processors resize to
    a fixed square and ignore the budget.
    """

    min_pixels: int | None = None
    max_pixels: int | None = None
    #: Per-frame budget of native video input (Qwen-VL video processors); default: the image's.
    video_min_pixels: int | None = None
    video_max_pixels: int | None = None

    def processor_kwargs(self) -> dict[str, int]:
        return {k: v for k, v in (("min_pixels", self.min_pixels),
                                  ("max_pixels", self.max_pixels)) if v is not None}

    def video_bounds(self) -> tuple[int | None, int | None]:
        """(min, max) pixels per video frame."""
        return (self.video_min_pixels if self.video_min_pixels is not None else self.min_pixels,
                self.video_max_pixels if self.video_max_pixels is not None else self.max_pixels)


def model_type_of(name_or_path: str, trust_remote_code: bool = False) -> str:
    """The `model_type` of a local path or hub id, read from its config without loading weights."""
    config_file = Path(name_or_path) / "config.json"
    if config_file.is_file():
        return json.loads(config_file.read_text())["model_type"]
    if Path(name_or_path).exists():
        raise InputError("not a model directory (no config.json)", path=name_or_path)
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code).model_type


def check_supported(model_type: str) -> str:
    if model_type not in FAMILIES:
        raise InputError(f"unsupported model family {model_type!r}; supported: "
                         f"{', '.join(FAMILIES)}")
    return FAMILIES[model_type][0]


def default_attn_implementation() -> str:
    """flash_attention_2 when flash-attn imports and a GPU is present, else PyTorch SDPA."""
    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def resolve_dtype(dtype: str | None):
    """'auto' -> bfloat16 on a GPU that supports it, float32 on CPU; or a torch dtype name."""
    import torch

    if dtype in (None, "auto"):
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise InputError(f"unknown dtype {dtype!r}") from None


def load_processor(name_or_path: str, pixels: PixelBudget = PixelBudget(),
                   trust_remote_code: bool = False, padding_side: str = "left"):
    """AutoProcessor with the pixel budget applied and a pad token set."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    apply_pixel_budget(processor, pixels)
    tok = processor.tokenizer
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return processor


def apply_pixel_budget(processor: Any, pixels: PixelBudget) -> None:
    """Set min/max pixels on a Qwen-style image processor and (with the video bounds) video
    processor; no-op for others."""
    for attr in ("image_processor", "video_processor"):
        proc = getattr(processor, attr, None)
        size = getattr(proc, "size", None)
        if proc is None or size is None or "longest_edge" not in size:
            continue
        low, high = (pixels.min_pixels, pixels.max_pixels) if attr == "image_processor" \
            else pixels.video_bounds()
        new = dict(size)
        if low is not None:
            new["shortest_edge"] = low
        if high is not None:
            new["longest_edge"] = high
        proc.size = type(size)(**new) if not isinstance(size, dict) else new


def quantization_config(load_in_4bit: bool, load_in_8bit: bool, compute_dtype):
    if not (load_in_4bit or load_in_8bit):
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise InputError("4/8-bit loading needs bitsandbytes: pip install 'affectllm[quant]'")
    from transformers import BitsAndBytesConfig

    if load_in_4bit:
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=compute_dtype,
                                  llm_int8_skip_modules=["visual", "vision_tower",
                                                         "multi_modal_projector", "lm_head"])
    return BitsAndBytesConfig(load_in_8bit=True)


def freeze(model: Any, vision_tower: bool = True, projector: bool = False) -> int:
    """Freeze the vision tower and/or the projector in place; returns the number of frozen params.

    Qwen's projector (`visual.merger`) sits inside the vision module; it counts as projector here.
    """
    _, vision_names, projector_names = FAMILIES[model.config.model_type]
    frozen = 0
    for name, param in model.named_parameters():
        inner = name.removeprefix("model.")
        is_projector = any(inner.startswith(p + ".") for p in projector_names)
        is_vision = not is_projector and any(inner.startswith(v + ".") for v in vision_names)
        if (vision_tower and is_vision) or (projector and is_projector):
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def load_model_and_processor(
    name_or_path: str,
    *,
    dtype: str | None = "auto",
    attn_implementation: str | None = None,
    pixels: PixelBudget = PixelBudget(),
    load_in_4bit: bool = False,
    load_in_8bit: bool = False,
    freeze_vision_tower: bool = False,
    freeze_projector: bool = False,
    trust_remote_code: bool = False,
    device_map: str | dict | None = None,
):
    """Load (model, processor) for any supported family from a local path or hub id."""
    from transformers import AutoModelForImageTextToText

    model_type = model_type_of(name_or_path, trust_remote_code)
    check_supported(model_type)
    torch_dtype = resolve_dtype(dtype)
    model = AutoModelForImageTextToText.from_pretrained(
        name_or_path, dtype=torch_dtype,
        attn_implementation=attn_implementation or default_attn_implementation(),
        quantization_config=quantization_config(load_in_4bit, load_in_8bit, torch_dtype),
        trust_remote_code=trust_remote_code, device_map=device_map)
    if freeze_vision_tower or freeze_projector:
        freeze(model, vision_tower=freeze_vision_tower, projector=freeze_projector)
    processor = load_processor(name_or_path, pixels, trust_remote_code)
    return model, processor
