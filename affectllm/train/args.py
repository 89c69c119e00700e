"""Arguments of the training recipes and their parsing.

Every recipe parses ``(ScriptArguments, SFTConfig | GRPOConfig, ModelConfig)`` with TRL's
`TrlParser`: ``--config recipe.yaml`` sets the values, ``--key value`` on the command line overrides
them (the pipeline and the synthesis loop pass ``--model_name_or_path``, ``--output_dir``,
``--dataset_train`` this way). Model, LoRA and quantisation options are TRL's `ModelConfig`
(``model_name_or_path``, ``dtype``, ``use_peft``, ``lora_r``, ``load_in_4bit``, ...); trainer options
are TRL's configs unchanged. `ScriptArguments` holds what affectllm adds.

Rewards (GRPO) are a YAML list of names or mappings; on the command line each entry is a name or a
JSON object::

    rewards: [au, accuracy, {name: format, weight: 0.5}]
    --rewards au accuracy '{"name": "format", "weight": 0.5}'
"""

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from affectllm.errors import InputError

_TRUE = ("true", "1", "yes", "on", "latest")
_FALSE = ("false", "0", "no", "off", "none", "null", "")


@dataclass
class ScriptArguments:
    """Data, prompt, rewards, image and video budget and freezing options of the affectllm
    recipes."""

    dataset_train: str | None = field(
        default=None, metadata={"help": "Canonical JSONL file of training samples (required)."})
    dataset_eval: str | None = field(
        default=None, metadata={"help": "Optional canonical JSONL file evaluated at the end of "
                                        "training (and during it when eval_strategy is set)."})
    data_root: str | None = field(
        default=None, metadata={"help": "Folder the media paths of dataset_train are relative to. "
                                        "Default: the file's data root (its folder, or the "
                                        "data_root recorded in a convert_config.json beside it)."})
    eval_data_root: str | None = field(
        default=None, metadata={"help": "Data root of dataset_eval (default: that file's own)."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N training samples."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N evaluation samples."})
    prompt: str = field(
        default="facial",
        metadata={"help": "Task prompt: 'facial' (Facial-R1: AU-first reasoning, label set and AU "
                          "glossary), 'openset' (AffectGPT open-vocabulary), 'sample' (each "
                          "sample's own question) or any other text, used as is."})
    system_prompt: str | None = field(
        default=None, metadata={"help": "Optional system message."})
    au_glossary: bool = field(
        default=True, metadata={"help": "Include the AU glossary in the 'facial' prompt."})
    rewards: list[str] | None = field(
        default=None,
        metadata={"help": "GRPO rewards from the `rewards` registry: names or JSON objects "
                          "{name, weight?, **params}; weights become GRPOConfig.reward_weights."})
    min_pixels: int | None = field(
        default=None,
        metadata={"help": "Image pixel budget, lower bound (Qwen-VL families). Images are resized "
                          "into [min_pixels, max_pixels] before any processor sees them, so "
                          "training, HF generation and vLLM rollouts build the same number of "
                          "image tokens; use the same values in vLLM's mm_processor_kwargs."})
    max_pixels: int | None = field(
        default=None, metadata={"help": "Image pixel budget, upper bound (see min_pixels)."})
    video: str = field(
        default="frames",
        metadata={"help": "How video media reach the model: 'frames' (the sampled frames as "
                          "images; every family) or 'native' (the family's own video input: "
                          "Qwen2/2.5/3-VL pixel_values_videos + video_grid_thw, LLaVA-OneVision "
                          "video). Generation and synthesis sample videos the same way."})
    video_fps: float = field(
        default=2.0, metadata={"help": "Frames sampled per second of a video."})
    video_max_frames: int = field(
        default=8, metadata={"help": "At most this many frames per video (evenly spread)."})
    video_min_pixels: int | None = field(
        default=None, metadata={"help": "Video pixel budget per frame, lower bound (native mode, "
                                        "Qwen-VL families; default: min_pixels)."})
    video_max_pixels: int | None = field(
        default=None, metadata={"help": "Video pixel budget per frame, upper bound (native mode; "
                                        "default: max_pixels)."})
    freeze_vision_tower: bool = field(
        default=True, metadata={"help": "Freeze the vision tower in full fine-tuning (LoRA never "
                                        "touches it)."})
    freeze_projector: bool = field(
        default=False, metadata={"help": "Freeze the vision-language projector in full "
                                         "fine-tuning."})
    merge_lora: bool = field(
        default=True,
        metadata={"help": "With use_peft: merge the adapter into a full model saved in output_dir "
                          "(the adapter itself goes to output_dir/adapter), so the next stage can "
                          "load output_dir with AutoModelForImageTextToText. False: only the "
                          "adapter, in output_dir."})
    dry_run: bool = field(
        default=False,
        metadata={"help": "Parse the config, run the early checks, build the trainer arguments, "
                          "print the resolved config and stop before any weights are loaded."})


def parse_args(config_cls: type, argv: Sequence[str] | None = None) -> tuple[Any, Any, Any]:
    """``(script_args, training_args, model_args)`` from ``--config YAML`` and ``--key value``
    arguments. Malformed configs raise InputError; unknown command-line flags exit 2 (argparse).

    A dry run on a machine without a GPU adds ``--use_cpu true`` so that configs written for GPUs
    (``bf16: true``) can be checked here."""
    from trl import ModelConfig, TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    if _flag_set(argv, "--dry_run") and "--use_cpu" not in argv:
        import torch

        if not torch.cuda.is_available():
            print("dry run without a GPU: checking the config with use_cpu: true",
                  file=sys.stderr)
            argv += ["--use_cpu", "true"]
    parser = TrlParser((ScriptArguments, config_cls, ModelConfig))
    try:
        script_args, training_args, model_args = parser.parse_args_and_config(argv)
    except FileNotFoundError as e:
        raise InputError(f"config file not found: {e.filename}") from None
    except ValueError as e:
        hint = " (on a CPU: --use_cpu true --bf16 false)" if "bf16" in str(e) else ""
        raise InputError(f"invalid configuration: {e}{hint}") from None
    script_args.rewards = reward_spec(script_args.rewards)
    return script_args, training_args, model_args


def _flag_set(argv: list[str], flag: str) -> bool:
    if flag not in argv:
        return False
    i = argv.index(flag)
    if i + 1 == len(argv) or argv[i + 1].startswith("--"):
        return True
    return argv[i + 1].lower() not in _FALSE


def reward_spec(entries: Sequence[Any] | None) -> list[str | dict] | None:
    """Rewards as `rewards.build_rewards` takes them: YAML mappings kept, command-line strings
    that hold a JSON object decoded."""
    if entries is None:
        return None
    if isinstance(entries, (str, dict)):
        entries = [entries]
    out: list[str | dict] = []
    for entry in entries:
        if isinstance(entry, str) and entry.lstrip().startswith("{"):
            try:
                entry = json.loads(entry)
            except json.JSONDecodeError as e:
                raise InputError(f"reward entry {entry!r} is not valid JSON: {e.msg}") from None
        out.append(entry)
    return out


def resume_target(value: str | bool | None) -> str | bool | None:
    """`resume_from_checkpoint` normalised: True (the latest complete checkpoint in output_dir),
    None (start afresh) or a checkpoint path."""
    if value is None or isinstance(value, bool):
        return value or None
    text = str(value).strip()
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return None
    return text
