"""Early checks of a training run: everything that can be wrong with the input is found here,
before any weights are loaded, and reported as an `InputError` (the recipes exit 2 with it).

- the model family (from a local ``config.json``, the Hub config, or - offline - the model id);
- the rewards (names, parameters) and whether the training data carries what each reward needs;
- optional back-ends asked for but missing: vLLM, DeepSpeed, bitsandbytes (the message names the
  ``pip install 'affectllm[...]'`` extra), and DeepSpeed with a CPU-only torch build;
- the video options (`check_video`): mode, sampling, ``native`` only for families with video input;
- the resume target.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from affectllm.errors import InputError
from affectllm.models import FAMILIES, check_supported, model_type_of

#: Rewards are probed on at most this many training rows.
PROBE_ROWS = 256
_VISION_NAMES = ("visual", "vision_tower", "multi_modal_projector")


def check_model(model_args: Any, training_args: Any) -> str:
    """The model's family is one of `affectllm.models.FAMILIES`; returns its model_type."""
    if not model_args.model_name_or_path:
        raise InputError("model_name_or_path is required")
    kind = model_type_of(model_args.model_name_or_path, training_args.trust_remote_code,
                         guess_from_name=True)
    check_supported(kind)
    return kind


def check_quantization(model_args: Any) -> None:
    """4/8-bit loading needs bitsandbytes and LoRA on top (QLoRA)."""
    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        return
    if model_args.load_in_4bit and model_args.load_in_8bit:
        raise InputError("choose one of load_in_4bit and load_in_8bit")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise InputError("load_in_4bit/load_in_8bit need bitsandbytes: "
                         "pip install 'affectllm[quant]'")
    if not model_args.use_peft:
        raise InputError("quantised weights cannot be fine-tuned directly: set use_peft: true "
                         "(QLoRA) with load_in_4bit")


def check_vllm(training_args: Any, model_args: Any) -> None:
    """`use_vllm: true` needs vLLM and a GPU; LoRA must stay off the vision tower."""
    if not getattr(training_args, "use_vllm", False):
        return
    if training_args.vllm_mode not in ("colocate", "server"):
        raise InputError(f"vllm_mode must be 'colocate' or 'server', got "
                         f"{training_args.vllm_mode!r}")
    if importlib.util.find_spec("vllm") is None:
        raise InputError("use_vllm: true needs vLLM, which is not installed: pip install "
                         "'affectllm[vllm]' (CUDA GPUs only); or set use_vllm: false to generate "
                         "with transformers")
    import torch

    if not torch.cuda.is_available():
        raise InputError("use_vllm: true needs a CUDA GPU; set use_vllm: false on this machine")
    if model_args.load_in_8bit:
        raise InputError("vLLM cannot run 8-bit bitsandbytes weights; use load_in_4bit")
    targets = model_args.lora_target_modules or []
    if model_args.use_peft and any(t == "all-linear" or any(v in t for v in _VISION_NAMES)
                                   for t in targets):
        raise InputError("with use_vllm, LoRA must not target the vision tower (vLLM cannot load "
                         "LoRA weights there when it syncs them): leave lora_target_modules unset "
                         "to use affectllm's language-model-only default")


def deepspeed_requested(training_args: Any) -> bool:
    return bool(getattr(training_args, "deepspeed", None)) or \
        os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("true", "1")


def check_deepspeed(training_args: Any, cuda_build: bool | None = None) -> None:
    """A DeepSpeed config needs deepspeed installed and a CUDA (or ROCm) build of torch.

    ZeRO-3 must gather 16-bit weights at save time, or output_dir would hold no loadable model.
    Without a visible GPU, DeepSpeed runs on its CPU accelerator (slow; used by the tests) when
    launched with an accelerate DeepSpeed config and ``use_cpu: false, ddp_backend: gloo``; the
    ``deepspeed`` training argument is refused there (transformers then starts no gloo group)."""
    if not deepspeed_requested(training_args):
        return
    if importlib.util.find_spec("deepspeed") is None:
        raise InputError("a DeepSpeed config was given but deepspeed is not installed: "
                         "pip install 'affectllm[deepspeed]'")
    import torch

    if cuda_build is None:
        cuda_build = bool(torch.version.cuda or getattr(torch.version, "hip", None))
    if not cuda_build:
        raise InputError("a DeepSpeed config was given but this torch is a CPU-only build: "
                         "install a CUDA build of torch, or train without DeepSpeed "
                         "(recipes/accelerate_configs/cpu.yaml or ddp.yaml)")
    stage, save_16bit = _zero_settings(training_args)
    if stage >= 3 and not save_16bit:
        raise InputError("ZeRO-3 without zero3_save_16bit_model (accelerate config) or "
                         "stage3_gather_16bit_weights_on_model_save (DeepSpeed config) saves no "
                         "loadable model in output_dir: turn it on (recipes/accelerate_configs/"
                         "zero3.yaml does)")
    if torch.cuda.is_available():
        return
    if training_args.use_cpu:
        raise InputError("use_cpu: true turns DeepSpeed off; for DeepSpeed's CPU accelerator (no "
                         "GPU visible) set use_cpu: false and ddp_backend: gloo")
    if getattr(training_args, "deepspeed", None):
        raise InputError("no GPU is visible: give DeepSpeed through an accelerate config "
                         "(accelerate launch --config_file recipes/accelerate_configs/"
                         "zero2_cpu.yaml), not the deepspeed argument, which transformers starts "
                         "without a process-group backend on CPU")
    if training_args.ddp_backend != "gloo":
        raise InputError("no GPU is visible: DeepSpeed runs on its CPU accelerator here and needs "
                         "ddp_backend: gloo (with use_cpu: false)")


def _zero_settings(training_args: Any) -> tuple[int, bool]:
    """(ZeRO stage, 16-bit weights gathered at save?) from the trainer's DeepSpeed config or
    accelerate's environment."""
    config = getattr(training_args, "deepspeed", None)
    if isinstance(config, str) and Path(config).is_file():
        config = json.loads(Path(config).read_text())
    if isinstance(config, dict):
        zero = config.get("zero_optimization", {})
        save = zero.get("stage3_gather_16bit_weights_on_model_save",
                        zero.get("stage3_gather_fp16_weights_on_model_save", False))
        return int(zero.get("stage", 0)), save in (True, "true", "auto")
    env = os.environ
    return (int(env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2")),
            env.get("ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL", "false").lower() == "true")


def _register_dotted(name: Any, roots: Sequence[str | Path], packages: Sequence[str]) -> None:
    """A reward named by import path (``package.module.factory``) is added to the registry, if it
    is the user's own code (`affectllm.train.reward_imports`)."""
    from affectllm.train.reward_imports import checked_reward, import_reward_factory
    from rewards import REWARDS

    if not isinstance(name, str) or name in REWARDS or "." not in name:
        return
    factory = import_reward_factory(name, roots=roots, packages=packages)
    REWARDS[name] = checked_reward(name, factory)


def build_reward_suite(spec: list | None, reward_weights: list[float] | None = None, *,
                       config_file: str | None = None, reward_packages: Sequence[str] = ()):
    """Rewards from the YAML spec (`rewards.build_rewards`); InputError on an unknown name or bad
    parameters. Weights come from the entries: GRPOConfig.reward_weights must not also be set.
    Rewards named by import path must be code under the working directory or `config_file`'s
    folder, or in one of `reward_packages`."""
    from rewards import build_rewards

    if not spec:
        raise InputError("no rewards: set `rewards` (e.g. [au, accuracy, format])")
    roots = [Path.cwd()] + ([Path(config_file).resolve().parent] if config_file else [])
    for entry in spec:
        _register_dotted(entry.get("name") if isinstance(entry, dict) else entry, roots,
                         reward_packages or ())
    try:
        suite = build_rewards(spec)
    except ValueError as e:
        raise InputError(str(e)) from None
    if reward_weights is not None and list(reward_weights) != suite.weights:
        raise InputError("set reward weights in the `rewards` entries ({name: ..., weight: ...}), "
                         "not in reward_weights")
    return suite


def check_reward_data(suite: Any, rows: list[dict], source: str | None = None) -> None:
    """Every reward can score the training data: its `required_columns` exist, and on a probe of
    up to `PROBE_ROWS` rows (with a placeholder completion) it returns a value for at least one.

    The probe calls each reward once with ``trainer_state=None``."""
    if not rows:
        raise InputError("no training samples", path=source)
    step = max(1, len(rows) // PROBE_ROWS)
    probe = rows[::step][:PROBE_ROWS]
    skip = {"prompt", "images", "videos", "completion"}
    columns = {k: [r[k] for r in probe] for k in probe[0] if k not in skip}
    completions = [[{"role": "assistant", "content": "<think></think><answer>x</answer>"}]] * len(probe)
    for func in suite.funcs:
        name = getattr(func, "__name__", repr(func))
        needed = tuple(getattr(func, "required_columns", ()))
        missing = [c for c in needed if c not in probe[0]]
        if missing:
            raise InputError(f"reward {name!r} needs the dataset column(s) {', '.join(missing)}, "
                             f"which the data lacks", path=source)
        try:
            values = func(prompts=[r["prompt"] for r in probe], completions=completions,
                          completion_ids=[[0]] * len(probe), trainer_state=None, **columns)
        except ValueError as e:
            raise InputError(f"reward {name!r} cannot score the data: {e}", path=source) from None
        if needed and all(v is None for v in values):
            raise InputError(f"reward {name!r} needs {', '.join(needed)} but none of the "
                             f"{len(probe)} probed samples has a usable value there", path=source)


#: Families with a video input of their own (``video: native``).
NATIVE_VIDEO_FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava_onevision")


def check_video(script_args: Any, kind: str, training_args: Any = None,
                rows: list[dict] | None = None) -> None:
    """The video options: a known mode, sane sampling, ``native`` only for a family with video
    input; for GRPO (`rows` given) native video rows hold no images and use transformers
    rollouts (TRL's vLLM path takes images only)."""
    from affectllm.video import VideoSampling

    VideoSampling(script_args.video, script_args.video_fps, script_args.video_max_frames)
    if script_args.video != "native":
        return
    if kind not in NATIVE_VIDEO_FAMILIES:
        raise InputError(f"video: native needs a family with video input "
                         f"({', '.join(NATIVE_VIDEO_FAMILIES)}); {kind} takes video as frames: "
                         "set video: frames")
    videos = [r for r in rows or [] if r.get("videos")]
    if not videos:
        return
    if getattr(training_args, "use_vllm", False):
        raise InputError("video: native with use_vllm is not supported (TRL's vLLM rollouts take "
                         "images only): set use_vllm: false or video: frames")
    mixed = next((r for r in videos if r["images"]), None)
    if mixed is not None:
        raise InputError(f"sample {mixed['id']!r} has images and a video; GRPO with video: native "
                         "takes video-only samples: set video: frames")


def family_of(kind: str) -> str:
    return FAMILIES[kind][0]


def check_eval_batch(training_args: Any, has_eval: bool) -> None:
    """GRPO evaluation generates `num_generations_eval` completions per prompt: the global eval
    batch must hold whole groups."""
    if not has_eval or not hasattr(training_args, "num_generations"):
        return
    group = training_args.num_generations_eval or training_args.num_generations
    batch = training_args.per_device_eval_batch_size * training_args.world_size
    if batch % group:
        raise InputError(f"per_device_eval_batch_size x processes ({batch}) must be a multiple of "
                         f"num_generations_eval or num_generations ({group})")


def resume_checkpoint(training_args: Any) -> str | None:
    """The checkpoint to resume from: `resume_from_checkpoint` true/latest -> the newest complete
    checkpoint in output_dir (None, with a notice, when there is none); a path must exist."""
    import sys

    from affectllm.train.args import resume_target
    from affectllm.train.outputs import latest_checkpoint

    target = resume_target(training_args.resume_from_checkpoint)
    if target is True:
        found = latest_checkpoint(training_args.output_dir)
        if found is None:
            print(f"resume_from_checkpoint: no complete checkpoint in {training_args.output_dir}; "
                  "starting from the beginning", file=sys.stderr)
        return found
    if target and not Path(target).is_dir():
        raise InputError("resume_from_checkpoint: no such checkpoint folder", path=target)
    return target


def check_report_to(training_args: Any) -> list[str]:
    """Keep the `report_to` integrations that are installed (tensorboard, wandb, ...); the others
    are dropped with a notice, so one config serves machines with and without them. Returns the
    dropped names."""
    import sys

    from transformers.integrations import get_available_reporting_integrations

    requested = training_args.report_to
    if not requested or requested in ("none", "all", ["none"], ["all"]):
        return []
    requested = [requested] if isinstance(requested, str) else list(requested)
    available = set(get_available_reporting_integrations())
    kept = [r for r in requested if r in available]
    dropped = [r for r in requested if r not in available]
    if dropped:
        print(f"report_to: {', '.join(dropped)} not installed (pip install {' '.join(dropped)}); "
              f"logging to {', '.join(kept) or 'the console only'}", file=sys.stderr)
    training_args.report_to = kept
    return dropped
