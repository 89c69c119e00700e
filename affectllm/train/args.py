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
    recipes. `parse_args` also sets ``config_file`` on the instance (the ``--config`` path, or
    None)."""

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
    reward_packages: list[str] | None = field(
        default=None,
        metadata={"help": "Installed packages whose functions `rewards` may name by import path "
                          "(explicit opt-in). Without it, a reward given as package.module.factory "
                          "must be code under the working directory or the config's folder; the "
                          "standard library is never allowed."})
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
    arguments. A malformed or misspelt config, or a value out of range, raises InputError naming
    the file (and line); unknown command-line flags exit 2 (argparse).

    A dry run on a machine without a GPU adds ``--use_cpu true`` so that configs written for GPUs
    (``bf16: true``) can be checked here."""
    from trl import ModelConfig, TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    classes = (ScriptArguments, config_cls, ModelConfig)
    config_file = _option(argv, "--config")
    if config_file is not None:
        check_config_keys(config_file, classes)
    if _flag_set(argv, "--dry_run") and "--use_cpu" not in argv:
        import torch

        if not torch.cuda.is_available():
            print("dry run without a GPU: checking the config with use_cpu: true",
                  file=sys.stderr)
            argv += ["--use_cpu", "true"]
    parser = TrlParser(classes)
    try:
        script_args, training_args, model_args = parser.parse_args_and_config(argv)
    except FileNotFoundError as e:
        raise InputError(f"config file not found: {e.filename}") from None
    except ValueError as e:
        hint = " (on a CPU: --use_cpu true --bf16 false)" if "bf16" in str(e) else ""
        raise InputError(f"invalid configuration: {e}{hint}", path=config_file) from None
    script_args.rewards = reward_spec(script_args.rewards)
    script_args.config_file = config_file
    check_values(script_args, training_args, config_file, argv)
    return script_args, training_args, model_args


def _option(argv: list[str], flag: str) -> str | None:
    """The value of ``flag value`` / ``flag=value`` in argv (the last one), or None."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def check_config_keys(path: str, classes: Sequence[type]) -> None:
    """The config file parses as a YAML mapping and every key is an argument of one of `classes`;
    an unknown key is reported with its line and the closest valid key."""
    import dataclasses
    import difflib
    import re
    from pathlib import Path

    from affectllm.io import read_yaml

    config = read_yaml(path)
    valid = {f.name for cls in classes for f in dataclasses.fields(cls)}
    text = Path(path).read_text(encoding="utf-8")
    for key in config:
        if key in valid:
            continue
        match = re.search(rf"^{re.escape(str(key))}\s*:", text, re.MULTILINE)
        line = text.count("\n", 0, match.start()) + 1 if match else None
        close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown key {key!r}{hint}", path=path, line=line)


def check_values(script_args: Any, training_args: Any, config_file: str | None = None,
                 argv: Sequence[str] = ()) -> None:
    """Counts that must be positive, a learning rate that must be finite and >= 0, sample limits
    that must be >= 1: InputError naming the key, and where it was set (the command line or the
    config file), otherwise."""
    import math

    def fail(key: str, value: Any, rule: str) -> None:
        on_command_line = any(a == f"--{key}" or a.startswith(f"--{key}=") for a in argv)
        raise InputError(f"{key} must be {rule}, got {value!r}"
                         + (" (set on the command line)" if on_command_line else ""),
                         path=None if on_command_line else config_file)

    for key in ("per_device_train_batch_size", "per_device_eval_batch_size",
                "gradient_accumulation_steps", "num_generations", "max_completion_length"):
        value = getattr(training_args, key, None)
        if value is not None and (isinstance(value, bool) or value < 1):
            fail(key, value, "a positive integer")
    rate = training_args.learning_rate
    if not math.isfinite(rate) or rate < 0:
        fail("learning_rate", rate, "a finite number >= 0")
    if training_args.max_steps == 0 or training_args.max_steps < -1:
        fail("max_steps", training_args.max_steps, "-1 (use num_train_epochs) or positive")
    if not math.isfinite(training_args.num_train_epochs) or training_args.num_train_epochs <= 0:
        fail("num_train_epochs", training_args.num_train_epochs, "a positive number")
    for key in ("max_train_samples", "max_eval_samples"):
        value = getattr(script_args, key)
        if value is not None and value < 1:
            fail(key, value, "at least 1 (or null for all samples)")


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
