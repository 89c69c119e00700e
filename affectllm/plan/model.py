"""A recipe's model on the meta device: the real architecture with the recipe's own LoRA and
freezing code paths applied, and what its parameters are.

No weights are read or allocated: the modules are created on ``torch.device("meta")`` from the
model's config (a local ``config.json``, a packaged architecture config of a supported
checkpoint, or the Hub), then `affectllm.train.modeling.peft_config` + peft's ``get_peft_model``
(LoRA) or `affectllm.train.modeling.freeze_for_full_finetuning` (full fine-tuning) run on it as in
training. Byte counts come from the meta tensors' dtypes, so peft's float32 adapters count as such.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectllm.archs import packaged_config
from affectllm.errors import InputError
from affectllm.models import LORA_TARGETS, check_supported, model_part

PARTS = ("vision", "projector", "language")
#: Bytes per parameter of a bitsandbytes NF4 weight with double quantisation: 4 bits, one 8-bit
#: absmax per 64 weights, one float32 constant per 256 absmax blocks.
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
#: LLM.int8: one byte per weight (the per-row scales are negligible).
INT8_BYTES = 1.0


@dataclass(frozen=True)
class Shape:
    """The hyperparameters the memory formulas need (language model and vision tower)."""

    layers: int
    hidden: int
    intermediate: int
    kv_dim: int            # num_key_value_heads * head_dim
    vocab: int
    vision_layers: int
    vision_hidden: int
    vision_intermediate: int
    vision_merge: int      # patches merged into one image token, per side (Qwen: 2)


@dataclass
class ModelPlan:
    """Parameter counts of the model as the recipe trains it."""

    name: str
    model_type: str
    config_source: str
    shape: Shape
    total: int = 0
    base_total: int = 0                # parameters of the model itself (without LoRA's)
    trainable: int = 0
    by_part: dict[str, list[int]] = field(default_factory=dict)  # part -> [total, trainable]
    weight_bytes: float = 0.0          # all weights, as stored (dtype; 4/8-bit as quantised)
    trainable_bytes: float = 0.0       # trainable weights, as stored
    quantised: int = 0                 # parameters stored in 4 or 8 bit
    quantised_bytes: float = 0.0       # bytes per quantised parameter (NF4_BYTES, INT8_BYTES)
    largest_layer: int = 0             # parameters of the largest single module (ZeRO-3 gather)
    lora_modules: list[str] = field(default_factory=list)
    lora_targets: tuple[str, ...] = ()  # module names LoRA is meant to reach
    use_peft: bool = False
    lora_candidates: int = 0           # parameters LoRA would add at the recipe's rank (if unused)
    config: Any = None                 # the transformers config the model was built from

    @property
    def frozen(self) -> int:
        return self.total - self.trainable

    def lora_by_target(self) -> Counter:
        return Counter(name.rsplit(".", 1)[-1] for name in self.lora_modules)

    def lora_by_part(self) -> Counter:
        return Counter(model_part(self.model_type, name) for name in self.lora_modules)


def architecture_config(name_or_path: str, trust_remote_code: bool = False):
    """``(config, source)``: a local model folder's config, else the packaged config of a
    supported checkpoint (`affectllm.archs`, no network), else the Hub's (cache or download)."""
    from transformers import AutoConfig

    path = Path(name_or_path)
    if (path / "config.json").is_file():
        return (AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code),
                str(path / "config.json"))
    if path.exists():
        raise InputError("not a model folder (no config.json)", path=name_or_path)
    packaged = packaged_config(name_or_path)
    if packaged is not None:
        return AutoConfig.for_model(**packaged), "packaged architecture config (affectllm/archs)"
    try:
        return (AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code),
                "Hugging Face Hub")
    except Exception as error:  # offline, gated or unknown id
        from affectllm.archs import packaged_ids

        raise InputError(f"cannot read the config of {name_or_path!r} ({error}); give a local "
                         f"model folder or one of {', '.join(packaged_ids())}") from None


def shape_of(config: Any) -> Shape:
    text = config.get_text_config()
    vision = config.vision_config
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    vision_hidden = getattr(vision, "embed_dim", None) or vision.hidden_size  # Qwen2-VL: embed_dim
    vision_inter = getattr(vision, "intermediate_size", None) or \
        int(vision_hidden * getattr(vision, "mlp_ratio", 4))
    return Shape(
        layers=text.num_hidden_layers, hidden=text.hidden_size,
        intermediate=text.intermediate_size,
        kv_dim=(getattr(text, "num_key_value_heads", None) or heads) * head_dim,
        vocab=text.vocab_size,
        vision_layers=getattr(vision, "depth", None) or vision.num_hidden_layers,
        vision_hidden=vision_hidden, vision_intermediate=vision_inter,
        vision_merge=getattr(vision, "spatial_merge_size", 1))


def build_meta_model(config: Any, dtype: str | None, trust_remote_code: bool = False):
    """The architecture of `config` on the meta device, parameters in `dtype` (default bf16)."""
    import torch
    from transformers import AutoModelForImageTextToText

    torch_dtype = torch.bfloat16 if dtype in (None, "auto") else getattr(torch, dtype)
    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(config, dtype=torch_dtype,
                                                       trust_remote_code=trust_remote_code)


def plan_model(model_args: Any, script_args: Any, training_args: Any,
               zero_stage: int = 0) -> ModelPlan:
    """Build the recipe's model on the meta device and count what the recipe trains.

    LoRA adapters are stored as TRL's trainers leave them: float32 (peft's default upcast), but
    in the base model's dtype under ZeRO-3 (``autocast_adapter_dtype=False``) and bfloat16 with
    4/8-bit loading (cast after ``get_peft_model``)."""
    from affectllm.train import modeling

    config, source = architecture_config(model_args.model_name_or_path,
                                         training_args.trust_remote_code)
    check_supported(config.model_type)
    model = build_meta_model(config, model_args.dtype, training_args.trust_remote_code)
    quantised = _quantised_linear_params(model, model_args)
    per_quantised = NF4_BYTES if model_args.load_in_4bit else INT8_BYTES
    element = next(model.parameters()).element_size()
    largest = max(sum(p.numel() for p in m.parameters(recurse=False))
                  for m in model.modules())
    base_total = sum(p.numel() for p in model.parameters())
    lora = modeling.peft_config(model_args)
    candidates = 0
    if lora is None:
        candidates = _lora_params(model, model_args.lora_r)
        modeling.freeze_for_full_finetuning(model, script_args)
    else:
        from peft import get_peft_model

        model = get_peft_model(model, lora, low_cpu_mem_usage=True,  # adapters on meta, too
                               autocast_adapter_dtype=zero_stage != 3)
        if model_args.load_in_4bit or model_args.load_in_8bit:  # TRL: bf16 adapters then
            import torch

            for param in model.parameters():
                if param.requires_grad:
                    param.data = param.data.to(torch.bfloat16)
    plan = ModelPlan(name=model_args.model_name_or_path, model_type=config.model_type,
                     config_source=source, shape=shape_of(config), quantised=quantised,
                     quantised_bytes=per_quantised if quantised else 0.0,
                     largest_layer=largest, use_peft=lora is not None,
                     lora_candidates=candidates, lora_targets=_lora_targets(model_args),
                     config=config, base_total=base_total,
                     by_part={part: [0, 0] for part in PARTS})
    for name, param in model.named_parameters():
        n = param.numel()
        part = plan.by_part[model_part(config.model_type, name)]
        part[0] += n
        plan.total += n
        if param.requires_grad:
            part[1] += n
            plan.trainable += n
            plan.trainable_bytes += n * param.element_size()
        plan.weight_bytes += n * param.element_size()
    plan.weight_bytes -= quantised * (element - per_quantised)
    plan.lora_modules = [name for name, module in model.named_modules()
                         if hasattr(module, "lora_A") and len(module.lora_A)]
    return plan


def _lora_targets(model_args: Any) -> tuple[str, ...]:
    if not model_args.use_peft:
        return ()
    given = model_args.lora_target_modules
    if given is None:
        return LORA_TARGETS
    return () if isinstance(given, str) else tuple(given)  # a regex: checked for any match


def _quantised_linear_params(model: Any, model_args: Any) -> int:
    """Weights of the ``nn.Linear`` layers bitsandbytes replaces: 4-bit all but the recipe's
    unquantised modules (`affectllm.train.modeling.UNQUANTISED`), 8-bit all but ``lm_head``
    (transformers' default); 0 without quantisation."""
    import torch

    from affectllm.train.modeling import UNQUANTISED

    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        return 0
    skip = UNQUANTISED if model_args.load_in_4bit else ["lm_head"]
    return sum(module.weight.numel() for name, module in model.named_modules()
               if isinstance(module, torch.nn.Linear) and not any(s in name for s in skip))


def _lora_params(model: Any, rank: int) -> int:
    """Parameters a LoRA of `rank` on the default targets would add (for the advice)."""
    import torch

    from affectllm.models import LORA_TARGET_REGEX

    pattern = re.compile(LORA_TARGET_REGEX)
    return sum(rank * (m.in_features + m.out_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and pattern.fullmatch(name))


def lora_problems(plan: ModelPlan) -> list[str]:
    """What is wrong with the LoRA targets that the recipe's config matched: a target name of
    `LORA_TARGETS` with no module in the language model, or any module in the vision tower or
    projector (vLLM cannot load LoRA weights there when it syncs weights)."""
    if not plan.use_peft:
        return []
    if not plan.lora_modules:
        return ["the LoRA target modules match no module of the model"]
    problems = []
    by_part = plan.lora_by_part()
    for part in ("vision", "projector"):
        if by_part.get(part):
            problems.append(f"LoRA adapts {by_part[part]} module(s) of the {part} part")
    found = Counter(name.rsplit(".", 1)[-1] for name in plan.lora_modules
                    if model_part(plan.model_type, name) == "language")
    missing = [t for t in plan.lora_targets if not found.get(t)]
    if missing:
        problems.append(f"LoRA targets with no module in the language model: {missing}")
    return problems

