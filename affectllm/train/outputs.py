"""What a recipe leaves in ``output_dir``::

    resolved_config.yaml    every argument of the run (reusable as --config), written before training
    config.json, model*.safetensors, generation_config.json
                            the final model: full fine-tuning, or LoRA merged (merge_lora: true)
    adapter/                the LoRA adapter when merge_lora is true (else adapter files at the top)
    processor / tokenizer files
    affectllm_task.json     the task prompt, system prompt, pixel budget, video sampling and answer
                            format the model was trained with (`affectllm.task`): evaluation,
                            synthesis and the pipeline use them by default
    trainer_state.json, train_results.json, eval_results.json, all_results.json
    README.md               model card: base model, data, prompt, rewards, settings, metrics
    checkpoint-*/           intermediate checkpoints (save_steps / save_total_limit)

The top level always loads with ``AutoModelForImageTextToText.from_pretrained(output_dir)`` (with
merge_lora false, through transformers' PEFT integration).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from affectllm.io import write_text, write_yaml
from affectllm.task import task_of, write_task
from affectllm.train.modeling import derived_init_kwargs

RESOLVED_CONFIG = "resolved_config.yaml"
ADAPTER_DIR = "adapter"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def resolved_config(script_args: Any, training_args: Any, model_args: Any) -> dict[str, Any]:
    """All arguments as one flat mapping (the shape ``--config`` takes)."""
    out: dict[str, Any] = {}
    out.update(dataclasses.asdict(script_args))
    out.update(dataclasses.asdict(model_args))
    train = training_args.to_dict()
    train.pop("hub_token", None)
    out.update(train)
    out.pop("dry_run", None)
    out.pop("resume_from_checkpoint", None)
    if out.get("steps_per_generation") is not None:  # derived from it (and the process count)
        out["generation_batch_size"] = None
    if "reward_weights" in out:  # derived from the `rewards` entries
        out["reward_weights"] = None
    init = dict(out.get("model_init_kwargs") or {})  # keep only what the user set, not derived
    derived = derived_init_kwargs(model_args, training_args.trust_remote_code)
    for key, value in derived.items():
        if init.get(key) == value:
            init.pop(key)
    out["model_init_kwargs"] = init or None
    return _plain(out)


def write_resolved_config(output_dir: str | Path, script_args: Any, training_args: Any,
                          model_args: Any, script: str) -> Path:
    """`output_dir`/resolved_config.yaml, headed by the command that reproduces the run."""
    path = Path(output_dir) / RESOLVED_CONFIG
    write_yaml(path, resolved_config(script_args, training_args, model_args))
    header = (f"# Resolved configuration; re-run with:\n#   python {script} --config {path}\n"
              f"# Written by: {shlex.join([sys.executable, *sys.argv])}\n")
    path.write_text(header + path.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def dry_run_report(script_args: Any, training_args: Any, model_args: Any, summary: dict) -> str:
    """What a dry run prints: the summary, the plan (`affectllm plan`: parameters and memory per
    GPU of this launch), then the resolved config as YAML."""
    import yaml

    from affectllm.plan import dry_run_lines

    lines = ["# dry run: config parsed, early checks passed; no weights were loaded"]
    lines += [f"# {k}: {v}" for k, v in summary.items()]
    lines += dry_run_lines(script_args, training_args, model_args)  # sizes on the meta device
    body = yaml.safe_dump(resolved_config(script_args, training_args, model_args), sort_keys=False)
    return "\n".join(lines) + "\n" + body


def latest_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` folder whose ``trainer_state.json`` is complete; a folder a
    killed run left half written is skipped."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if path.is_dir() and suffix.isdigit():
            found.append((int(suffix), path))
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        return str(path)
    return None


def save_final(trainer: Any, processor: Any, script_args: Any, model_args: Any,
               training_args: Any) -> dict[str, str]:
    """Save the model (or adapter, and on request the merged model) and the processor; call on
    every process (DeepSpeed gathers weights collectively). Returns what was written where."""
    from peft import PeftModel

    out = Path(training_args.output_dir)
    is_peft = isinstance(trainer.model, PeftModel)
    written: dict[str, str] = {}
    if is_peft and script_args.merge_lora:
        trainer.save_model(str(out / ADAPTER_DIR))
        written["adapter"] = str(out / ADAPTER_DIR)
    else:
        trainer.save_model(str(out))
        written["adapter" if is_peft else "model"] = str(out)
    if trainer.accelerator.is_main_process:
        if is_peft and script_args.merge_lora:
            merge_adapter(model_args, out / ADAPTER_DIR, out, training_args.trust_remote_code)
            written["model"] = str(out)
        elif not is_peft:
            trainer.model.config.use_cache = True
            trainer.model.config.save_pretrained(out)
        processor.save_pretrained(out)
        written["processor"] = str(out)
        written["task"] = str(write_task(out, task_of(script_args)))
    trainer.accelerator.wait_for_everyone()
    return written


def merge_adapter(model_args: Any, adapter_dir: Path, out: Path, trust_remote_code: bool) -> None:
    """Reload the base model unquantised, apply the adapter, merge and save a full model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    dtype = model_args.dtype
    base = AutoModelForImageTextToText.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision,
        dtype="auto" if dtype in (None, "auto") else getattr(torch, dtype),
        trust_remote_code=trust_remote_code)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True
    merged.save_pretrained(out)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def last_logged(log_history: list[dict], prefix: str = "") -> dict[str, float]:
    """The last logged value of every numeric key (starting with `prefix`) in the trainer's log."""
    out: dict[str, float] = {}
    for entry in log_history:
        for key, value in entry.items():
            if key.startswith(prefix) and isinstance(value, (int, float)) and key != "step":
                out[key] = value
    return out


def write_model_card(output_dir: str | Path, *, method: str, script: str, model_args: Any,
                     script_args: Any, training_args: Any, data: dict[str, Any],
                     rewards: list[dict] | None, metrics: dict[str, dict],
                     written: dict[str, str], log_history: list[dict]) -> Path:
    """README.md: what was trained from what, how, and how well."""
    out = Path(output_dir)
    settings = {"learning_rate": training_args.learning_rate,
                "num_train_epochs": training_args.num_train_epochs,
                "max_steps": training_args.max_steps,
                "per_device_train_batch_size": training_args.per_device_train_batch_size,
                "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
                "use_peft": model_args.use_peft, "load_in_4bit": model_args.load_in_4bit,
                "seed": training_args.seed}
    for key in ("num_generations", "max_completion_length", "beta", "loss_type", "scale_rewards",
                "temperature", "use_vllm", "max_length"):
        if hasattr(training_args, key):
            settings[key] = getattr(training_args, key)
    lines = [
        "---", f"base_model: {model_args.model_name_or_path}", "library_name: transformers",
        f"tags: [affectllm, {method.lower()}, trl, emotion]", "---", "",
        f"# {out.name}", "",
        f"{method} fine-tune of `{model_args.model_name_or_path}` with affectllm "
        f"(`{script}`, TRL).", "",
        "## Data", "",
    ]
    lines += [f"- {k}: {v}" for k, v in data.items()]
    lines += ["", "## Prompt", "", f"- prompt: `{script_args.prompt}`",
              f"- system prompt: {script_args.system_prompt!r}",
              f"- pixel budget: min_pixels={script_args.min_pixels}, "
              f"max_pixels={script_args.max_pixels}",
              f"- video: {script_args.video} (fps {script_args.video_fps}, at most "
              f"{script_args.video_max_frames} frames)",
              "- recorded in `affectllm_task.json` (used by `affectllm eval` / `synth` by "
              "default)", ""]
    if rewards is not None:
        lines += ["## Rewards", "", "| reward | weight | parameters |", "|---|---:|---|"]
        lines += [f"| {r['name']} | {_fmt(r['weight'])} | {r['params'] or '-'} |" for r in rewards]
        lines.append("")
    lines += ["## Training settings", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in settings.items()]
    lines += ["", "## Metrics", ""]
    for split, values in metrics.items():
        if values:
            lines.append(f"**{split}**")
            lines.append("")
            lines += [f"- {k}: {_fmt(v)}" for k, v in sorted(values.items())]
            lines.append("")
    reward_logs = last_logged(log_history, "rewards/") | {
        k: v for k, v in last_logged(log_history).items() if k in ("reward", "loss")}
    if reward_logs:
        lines += ["**last logged training values**", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in sorted(reward_logs.items())]
        lines.append("")
    lines += ["## Files", ""]
    lines += [f"- {k}: `{v}`" for k, v in written.items()]
    lines += ["", "## Reproduce", "", "```bash",
              f"python {script} --config {out / RESOLVED_CONFIG}", "```", ""]
    path = out / "README.md"
    write_text(path, "\n".join(lines))
    return path


def reward_rows(spec: list, suite: Any) -> list[dict]:
    """``[{name, weight, params}]`` of the built rewards, for the model card and the dry run."""
    rows = []
    for entry, func, weight in zip(spec, suite.funcs, suite.weights):
        params = {k: v for k, v in entry.items() if k not in ("name", "weight")} \
            if isinstance(entry, dict) else {}
        rows.append({"name": func.__name__, "weight": weight, "params": params})
    return rows


def train_and_write_outputs(trainer: Any, processor: Any, *, resume: str | None, method: str,
                            script: str, script_args: Any, training_args: Any, model_args: Any,
                            train_rows: list, eval_rows: list | None, data_root: str | Path,
                            rewards: list[dict] | None) -> None:
    """What every recipe does once its trainer is built; call on every process.

    Writes resolved_config.yaml, trains (resuming from `resume` continues with the same data order
    and step count), saves the model (or adapter + merged model) and `processor`, evaluates on the
    trainer's eval dataset when there is one (`eval_rows` not None), and writes the model card."""
    output_dir = training_args.output_dir
    if trainer.accelerator.is_main_process:
        write_resolved_config(output_dir, script_args, training_args, model_args, script)

    # a. Train.
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()

    # b. Save the model (or adapter + merged model) and the processor.
    written = save_final(trainer, processor, script_args, model_args, training_args)

    # c. Evaluate (optional).
    eval_metrics: dict = {}
    if eval_rows is not None:
        eval_metrics = trainer.evaluate()
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)

    # d. Model card.
    if trainer.accelerator.is_main_process:
        write_model_card(
            output_dir, method=method, script=script, model_args=model_args,
            script_args=script_args, training_args=training_args,
            data={"train": f"{script_args.dataset_train} ({len(train_rows)} samples)",
                  "eval": f"{script_args.dataset_eval} ({len(eval_rows)} samples)"
                  if eval_rows is not None else "none", "data_root": str(data_root)},
            rewards=rewards, metrics={"train": result.metrics, "eval": eval_metrics},
            written=written, log_history=trainer.state.log_history)
    if hasattr(trainer, "end"):
        trainer.end()
