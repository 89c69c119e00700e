"""Model-side settings of the recipes, built with TRL's helpers from its `ModelConfig`.

The trainers load the model themselves from ``model_name_or_path`` (``model_init_kwargs``); this
module decides what affectllm adds:

- ``attn_implementation`` unset -> flash_attention_2 where flash-attn and a GPU are present, else
  SDPA (`affectllm.models.default_attn_implementation`);
- LoRA (`get_peft_config`) targets the language model only (`affectllm.models.LORA_TARGET_REGEX`)
  unless ``lora_target_modules`` is given: vLLM cannot load LoRA weights on the vision tower;
- 4-bit (`get_quantization_config`) leaves the vision tower, projector and lm_head unquantised, as
  `affectllm.models` does for evaluation;
- the processor gets the pixel budget (`affectllm.models.load_processor`);
- full fine-tuning freezes the vision tower (and optionally the projector) after the trainer has
  built the model and before the optimiser exists.
"""

from __future__ import annotations

from typing import Any

from affectllm.models import (
    LORA_TARGET_REGEX,
    PixelBudget,
    default_attn_implementation,
    freeze,
    load_processor,
)

#: Modules 4-bit loading keeps in full precision.
UNQUANTISED = ["visual", "vision_tower", "multi_modal_projector", "lm_head"]


def pixel_budget(script_args: Any) -> PixelBudget:
    return PixelBudget(script_args.min_pixels, script_args.max_pixels,
                       getattr(script_args, "video_min_pixels", None),
                       getattr(script_args, "video_max_pixels", None))


def video_sampling(script_args: Any, processor: Any):
    """The `affectllm.video.VideoSampling` of the recipe's video options for `processor`."""
    from affectllm.video import sampling_for

    return sampling_for(processor, script_args.video, script_args.video_fps,
                        script_args.video_max_frames)


def derived_init_kwargs(model_args: Any, trust_remote_code: bool) -> dict[str, Any]:
    """What `model_init_kwargs` adds from `ModelConfig` (and the attention default)."""
    kwargs: dict[str, Any] = {
        "revision": model_args.model_revision,
        "dtype": model_args.dtype,
        "attn_implementation": model_args.attn_implementation or default_attn_implementation(),
        "trust_remote_code": trust_remote_code,
    }
    if model_args.load_in_4bit or model_args.load_in_8bit:
        import torch

        if torch.cuda.is_available():
            from accelerate import PartialState

            kwargs["device_map"] = {"": PartialState().local_process_index}
    return kwargs


def model_init_kwargs(model_args: Any, training_args: Any) -> dict[str, Any]:
    """`from_pretrained` keyword arguments for the trainer (TRL's `model_init_kwargs`), with the
    config's own `model_init_kwargs` taking precedence."""
    return {**derived_init_kwargs(model_args, training_args.trust_remote_code),
            **(training_args.model_init_kwargs or {})}


def peft_config(model_args: Any):
    """TRL's LoRA config, targeting the language model's linear layers by default."""
    from trl import get_peft_config

    config = get_peft_config(model_args)
    if config is not None and model_args.lora_target_modules is None:
        config.target_modules = LORA_TARGET_REGEX
    return config


def quantization_config(model_args: Any):
    """TRL's bitsandbytes config; 4-bit keeps `UNQUANTISED` modules in full precision."""
    from trl import get_quantization_config

    config = get_quantization_config(model_args)
    if config is not None and model_args.load_in_4bit:
        config.llm_int8_skip_modules = list(UNQUANTISED)
    return config


def processor_for(model_args: Any, script_args: Any, training_args: Any):
    """The model's processor with the pixel budget applied (left padding, pad token set)."""
    return load_processor(model_args.model_name_or_path, pixel_budget(script_args),
                          trust_remote_code=training_args.trust_remote_code)


def freeze_for_full_finetuning(model: Any, script_args: Any) -> int:
    """Freeze the vision tower / projector of a full (non-LoRA) model; returns the frozen count.
    LoRA models are left alone: their base weights are frozen already."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        return 0
    if not (script_args.freeze_vision_tower or script_args.freeze_projector):
        return 0
    return freeze(model, vision_tower=script_args.freeze_vision_tower,
                  projector=script_args.freeze_projector)
