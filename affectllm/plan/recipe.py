"""What `affectllm plan` reads: a recipe YAML (parsed as the recipe parses it), the accelerate
config of its launch, and the token counts of one training sample.

Token counts per sample (one image per sample, as in FEA-20K, MER-UniBench and the toy faces):

- image tokens: Qwen-VL families ``max_pixels / (patch x merge)^2`` (the pixel budget's upper
  bound; 28 x 28 pixels per token for Qwen2/2.5-VL, 32 x 32 for Qwen3-VL; the processors'
  default budget when ``max_pixels`` is unset); LLaVA-1.5 ``(image_size / patch)^2`` = 576;
  LLaVA-OneVision a face image at the base resolution (square, at most 384 px): base view +
  one anyres crop + one newline token per row = 2 x 729 + 27 = 1485;
- prompt tokens: the task prompt's characters / 4 (English BPE) + `TEMPLATE_TOKENS` for the
  chat template and system prompt (a sample's own question: `SAMPLE_QUESTION_TOKENS`);
- completion tokens: GRPO ``max_completion_length``; SFT ``max_length`` minus the prompt when
  set, else `SFT_COMPLETION_TOKENS` (Facial-R1 style reasoning + answer), or ``--completion-tokens``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from affectllm.errors import InputError
from affectllm.launch import REPO_ROOT
from affectllm.plan.memory import Launch, Workload
from affectllm.plan.model import ModelPlan

TEMPLATE_TOKENS = 30
SAMPLE_QUESTION_TOKENS = 64
SFT_COMPLETION_TOKENS = 256
#: The processors' default upper pixel bound when ``max_pixels`` is unset.
DEFAULT_MAX_PIXELS = {"qwen2_vl": 12845056, "qwen2_5_vl": 12845056, "qwen3_vl": 16777216}
ONEVISION_FACE_TOKENS = 2 * 729 + 27
_HEADER = re.compile(r"^#\s*(?:accelerate launch\s+--config_file\s+(\S+)\s+)?(?:python\s+)?"
                     r"(\S*recipes/(\w+)\.py)")


def recipe_header(path: str | Path) -> tuple[str | None, str | None]:
    """``(accelerate config, recipe name)`` from the launch command on a recipe YAML's first line."""
    try:
        first = Path(path).read_text(encoding="utf-8").split("\n", 1)[0]
    except OSError as e:
        raise InputError(f"cannot read the config: {e.strerror}", path=path) from None
    match = _HEADER.match(first)
    return (match.group(1), match.group(3)) if match else (None, None)


def load_recipe_args(config: str | Path, extra: list[str] | None = None):
    """``(script_args, training_args, model_args, method)`` of a recipe YAML, parsed with the
    recipe's own parser (TRL's config classes); ``method`` is ``sft`` or ``grpo``."""
    from affectllm.io import read_yaml
    from affectllm.train.args import parse_args

    raw = read_yaml(config)
    if "stages" in raw:
        configs = [stage["config"] for stage in raw["stages"]
                   if isinstance(stage, dict) and stage.get("kind") in ("sft", "grpo")]
        raise InputError("a pipeline file: plan the recipe config of each training stage "
                         f"({', '.join(configs) or 'none found'})", path=config)
    _, recipe = recipe_header(config)
    if recipe is None:
        recipe = "grpo" if raw.get("rewards") or "num_generations" in raw else "sft"
    method = "sft" if recipe == "sft" else "grpo"
    if method == "sft":
        from trl import SFTConfig as config_cls
    else:
        from trl import GRPOConfig as config_cls
    argv = ["--config", str(config), *(extra or [])]
    if "--use_cpu" not in argv:  # a GPU config parsed on any machine; planning only
        argv += ["--use_cpu", "true"]
    script_args, training_args, model_args = parse_args(config_cls, argv)
    return script_args, training_args, model_args, method


def _resolve(path: str) -> Path:
    for candidate in (Path(path), REPO_ROOT / path):
        if candidate.is_file():
            return candidate
    raise InputError("accelerate config not found", path=path)


def launch_from_accelerate(path: str | Path | None, gpus: int | None = None,
                           gpu_memory_gib: float | None = None) -> Launch:
    """The launch an accelerate config describes (``num_processes``, DeepSpeed stage and
    offload); `gpus` / `gpu_memory_gib` override. Without a config: one process (or `gpus` DDP)."""
    memory = gpu_memory_gib or local_gpu_memory_gib() or 80.0
    if path is None:
        n = gpus or 1
        return Launch(gpus=n, gpu_memory_gib=memory, source="no accelerate config")
    from affectllm.io import read_yaml

    file = _resolve(str(path))
    cfg = read_yaml(file)
    ds = cfg.get("deepspeed_config") or {}
    if ds.get("deepspeed_config_file"):
        import json

        zero = json.loads(_resolve(ds["deepspeed_config_file"]).read_text()).get(
            "zero_optimization", {})
        ds = {"zero_stage": zero.get("stage", 0),
              "offload_optimizer_device": (zero.get("offload_optimizer") or {}).get("device"),
              "offload_param_device": (zero.get("offload_param") or {}).get("device")}
    deepspeed = str(cfg.get("distributed_type", "")).upper() == "DEEPSPEED"
    nodes = int(cfg.get("num_machines") or 1)
    n = gpus or int(cfg.get("num_processes") or 1)
    return Launch(
        gpus=n, nodes=min(nodes, n),
        zero_stage=int(ds.get("zero_stage") or 0) if deepspeed else 0,
        offload_optimizer=deepspeed and str(ds.get("offload_optimizer_device")).lower()
        not in ("none", "null", ""),
        offload_param=deepspeed and str(ds.get("offload_param_device")).lower()
        not in ("none", "null", ""),
        gpu_memory_gib=memory, source=str(path))


def launch_from_environment() -> Launch:
    """The launch this process runs in: `accelerate launch` sets WORLD_SIZE and the DeepSpeed
    variables; without them one process."""
    env = os.environ
    deepspeed = env.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    return Launch(
        gpus=int(env.get("WORLD_SIZE", "1")),
        nodes=max(1, int(env.get("WORLD_SIZE", "1")) // max(1, int(env.get(
            "LOCAL_WORLD_SIZE", env.get("WORLD_SIZE", "1"))))),
        zero_stage=int(env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "0")) if deepspeed else 0,
        offload_optimizer=deepspeed and env.get(
            "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "none") != "none",
        offload_param=deepspeed and env.get(
            "ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", "none") != "none",
        gpu_memory_gib=local_gpu_memory_gib() or 80.0, source="this process's environment")


def local_gpu_memory_gib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory / 2 ** 30


def image_tokens(model: ModelPlan, script_args: Any,
                 image_pixels: int | None = None) -> tuple[int, str]:
    """Image tokens of one sample's image and how they were counted (module docstring); with
    `image_pixels` (the data's image area), Qwen-VL images smaller than the budget's upper bound
    count at their own size (never below ``min_pixels``)."""
    kind = model.model_type
    vision = model.config.vision_config
    if kind in DEFAULT_MAX_PIXELS:
        unit = (vision.patch_size * vision.spatial_merge_size) ** 2
        pixels, how = script_args.max_pixels, ""
        if pixels is None:
            pixels = saved_max_pixels(model.name)
            how = " (the model's processor)"
        if pixels is None:
            pixels, how = DEFAULT_MAX_PIXELS[kind], " (processor default: set max_pixels)"
        if image_pixels is not None and image_pixels < pixels:
            pixels = max(image_pixels, script_args.min_pixels or 0)
            how = f" (images of {image_pixels} pixels, inside the budget)"
            return max(1, pixels // unit), f"{pixels} pixels / {unit}{how}"
        return max(1, pixels // unit), (f"max_pixels {pixels} / {unit}{how}: the largest image "
                                        "the budget admits (--image-pixels N: your data's)")
    if kind == "llava":
        return (vision.image_size // vision.patch_size) ** 2, "CLIP grid, 336 / 14 squared"
    return ONEVISION_FACE_TOKENS, "face at base resolution: 2 x 729 + 27 newline"


def saved_max_pixels(name_or_path: str) -> int | None:
    """The upper pixel bound saved with a local model's processor, if any."""
    import json

    for name in ("processor_config.json", "preprocessor_config.json"):
        file = Path(name_or_path) / name
        if file.is_file():
            saved = json.loads(file.read_text())
            saved = saved.get("image_processor", saved)
            size = saved.get("size") or {}
            return saved.get("max_pixels") or size.get("longest_edge")
    return None


def prompt_tokens(script_args: Any) -> tuple[int, str]:
    from affectllm.prompts import task_prompt

    text = task_prompt(script_args.prompt, glossary=script_args.au_glossary)
    system = len(script_args.system_prompt or "") // 4
    if text is None:
        return SAMPLE_QUESTION_TOKENS + TEMPLATE_TOKENS + system, "sample questions, assumed"
    name = script_args.prompt if text != script_args.prompt else f"given ({len(text)} chars)"
    return len(text) // 4 + TEMPLATE_TOKENS + system, f"prompt {name}, characters / 4 + template"


def workload(model: ModelPlan, method: str, script_args: Any, training_args: Any,
             model_args: Any, completion_tokens: int | None = None,
             image_pixels: int | None = None) -> Workload:
    """The per-process workload of a parsed recipe (module docstring for the token counts)."""
    images, image_note = image_tokens(model, script_args, image_pixels)
    prompt, prompt_note = prompt_tokens(script_args)
    if method == "grpo":
        completion = completion_tokens or training_args.max_completion_length
        completion_note = "max_completion_length"
    elif training_args.max_length:
        completion = max(1, training_args.max_length - images - prompt)
        completion_note = "max_length minus the prompt"
    else:
        completion = completion_tokens or SFT_COMPLETION_TOKENS
        completion_note = ("--completion-tokens" if completion_tokens else
                           "SFT default, max_length unset (or give --completion-tokens)")
    checkpointing = getattr(training_args, "activation_checkpointing", None)
    if checkpointing is None:
        checkpointing = training_args.gradient_checkpointing
    dtype_bytes = 4 if model_args.dtype == "float32" else 2
    grpo = method == "grpo"
    return Workload(
        method=method, micro_batch=training_args.per_device_train_batch_size,
        image_tokens=images, prompt_tokens=prompt, completion_tokens=completion,
        activation_checkpointing=bool(checkpointing), activation_bytes=dtype_bytes,
        lora_dropout=bool(model_args.use_peft and model_args.lora_dropout),
        generation_rows=training_args.per_device_train_batch_size
        * (training_args.steps_per_generation or 1) if grpo else 0,
        beta=training_args.beta if grpo else 0.0,
        use_vllm=bool(grpo and training_args.use_vllm),
        vllm_mode=training_args.vllm_mode if grpo else "colocate",
        vllm_gpu_memory_utilization=training_args.vllm_gpu_memory_utilization if grpo else 0.0,
        vllm_tensor_parallel_size=training_args.vllm_tensor_parallel_size if grpo else 1,
        assumptions=(f"image tokens: {image_note}", f"prompt tokens: {prompt_note}",
                     f"completion tokens: {completion_note}", "one image per sample"))

