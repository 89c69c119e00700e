"""Load any supported vision-language model and its processor the same way everywhere.

One function, `load_model_and_processor`, serves SFT, GRPO, synthesis and evaluation, so the
details that must agree between them are decided once: dtype, attention kernel, the image pixel
budget (which fixes how many image tokens an image becomes), what is frozen, LoRA targets and 4-bit
quantisation. `trust_remote_code` is off unless the caller asks for it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
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


#: Offline fallback for dry runs: Hub ids whose family can be told from the name alone.
_NAME_PATTERNS = (
    (re.compile(r"qwen3[-_.]?vl", re.I), "qwen3_vl"),
    (re.compile(r"qwen2(?:\.|_)5[-_.]?vl", re.I), "qwen2_5_vl"),
    (re.compile(r"qwen2[-_.]?vl", re.I), "qwen2_vl"),
    (re.compile(r"llava[-_.]?onevision", re.I), "llava_onevision"),
    (re.compile(r"llava[-_.]?(?:v?1\.5|hf/llava-1\.5)", re.I), "llava"),
)


def _local_model_type(path: Path) -> str:
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"malformed config.json: {e.msg} (column {e.colno})", config_file,
                         e.lineno) from None
    except (UnicodeDecodeError, OSError) as e:
        raise InputError(f"cannot read config.json: {e}", config_file) from None
    kind = config.get("model_type") if isinstance(config, dict) else None
    if not isinstance(kind, str) or not kind:
        raise InputError("config.json names no model_type: not a transformers model folder",
                         config_file)
    return kind


def _hub_model_type(model_id: str, trust_remote_code: bool) -> str:
    """The model_type of a Hub id: from the local cache, else from the Hub after a quick check
    that it answers (a machine without network fails in seconds, not after minutes of
    retries)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model_id, local_files_only=True,
                                          trust_remote_code=trust_remote_code).model_type
    except Exception:  # not cached: ask the Hub below
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise OSError("not in the local cache, and HF_HUB_OFFLINE is set")
    from huggingface_hub import model_info

    model_info(model_id, timeout=10)
    return AutoConfig.from_pretrained(model_id, trust_remote_code=trust_remote_code).model_type


def model_type_of(name_or_path: str, trust_remote_code: bool = False, *,
                  guess_from_name: bool = False) -> str:
    """The `model_type` of a local model folder or Hub id, read from its config without loading
    weights. InputError, naming the path, for a folder that is not a model (malformed config.json,
    no model_type, a LoRA adapter) and for a name that is neither a local folder nor a reachable
    Hub id. With `guess_from_name` (dry runs), an unreachable Hub id of a known family
    (``Qwen/Qwen2.5-VL-7B-Instruct``) is recognised by its name."""
    path = Path(name_or_path)
    if (path / "config.json").is_file():
        return _local_model_type(path)
    if (path / "adapter_config.json").is_file():
        raise InputError("a LoRA adapter folder, not a model: train on a merged model (a recipe "
                         "run with merge_lora: true leaves one in its output_dir)",
                         path=name_or_path)
    if path.exists():
        raise InputError("not a model folder (no config.json)", path=name_or_path)
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1:
        raise InputError("model folder not found", path=name_or_path)
    try:
        return _hub_model_type(name_or_path, trust_remote_code)
    except Exception as error:  # offline, gated, unknown id
        if guess_from_name:
            for pattern, family in _NAME_PATTERNS:
                if pattern.search(name_or_path):
                    return family
        raise InputError(f"no local folder {name_or_path!r}, and the Hub cannot give its config "
                         f"({str(error)[:300]}); give a local model folder or a reachable Hub "
                         "id") from None


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
    frozen = 0
    for name, param in model.named_parameters():
        part = model_part(model.config.model_type, name)
        if (vision_tower and part == "vision") or (projector and part == "projector"):
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def model_part(model_type: str, name: str) -> str:
    """'vision', 'projector' or 'language': the part of the model a parameter or module name
    (of the model, or of a PEFT model wrapping it) belongs to."""
    _, vision_names, projector_names = FAMILIES[model_type]
    inner = name.removeprefix("base_model.model.").removeprefix("model.") + "."
    if any(inner.startswith(p + ".") for p in projector_names):
        return "projector"
    if any(inner.startswith(v + ".") for v in vision_names):
        return "vision"
    return "language"


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
