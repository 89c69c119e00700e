"""Helpers for testing and benchmarking the recipes on tiny models: toy data with a unique question
per sample, a reward that records what it receives, and a recipe script loaded as a module.

The recording reward is referenced from a recipe config by import path, so it also works in child
processes (``accelerate launch``, ``torchrun``)::

    rewards:
      - {name: affectllm.train.testing.recording_reward, path: /tmp/calls.jsonl}
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from affectllm.data.schema import load_samples, save_samples


def load_recipe(name: str) -> ModuleType:
    """The recipe script ``recipes/<name>.py`` imported as a module (to call its ``main(argv)``
    in-process)."""
    from affectllm.launch import RECIPES_DIR

    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toy_data(out: str | Path, n: int = 24, seed: int = 0, unique_questions: bool = True) -> Path:
    """Render `n` toy faces into `out` and return the training JSONL. With `unique_questions`,
    every training sample's question names its id (``"[toyfaces-00003] What emotion ..."``), so a
    reward can tell from the prompt which sample it is scoring (use ``prompt: sample``)."""
    from affectllm.data.toyfaces import generate_toyfaces

    train = generate_toyfaces(out, n, seed=seed)["train"]
    if unique_questions:
        samples = load_samples(train)
        for s in samples:
            s["question"] = f"[{s['id']}] {s['question']}"
        save_samples(train, samples)
    return Path(train)


def image_digest(image: Any) -> str:
    """A short digest of a PIL image's pixels."""
    return hashlib.sha1(image.convert("RGB").tobytes()).hexdigest()[:16]


def prompt_text(prompt: Any) -> str:
    """The text parts of a conversational prompt (as TRL passes it to rewards)."""
    if isinstance(prompt, str):
        return prompt
    parts = []
    for message in prompt:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [p.get("text") or "" for p in content or [] if p.get("type") == "text"]
    return "\n".join(parts)


def recording_reward(*, path: str, value: float = 0.0):
    """A reward factory: each call appends one JSON line per completion to ``path.<RANK>`` with
    the global step, the prompt text, the columns ``id``, ``labels``, ``aus``, ``openset`` and the
    digest of the first image it received, then scores every completion `value`. The recipes'
    early-check probe (``trainer_state=None``) is not recorded."""

    def reward(completions: list, prompts: list | None = None, trainer_state: Any = None,
               **columns: Any) -> list[float]:
        if trainer_state is None:
            return [value] * len(completions)
        rank = os.environ.get("RANK", "0")
        with open(f"{path}.{rank}", "a", encoding="utf-8") as f:
            for i in range(len(completions)):
                images = (columns.get("images") or [None] * len(completions))[i] or []
                f.write(json.dumps({
                    "step": trainer_state.global_step, "rank": int(rank),
                    "prompt": prompt_text(prompts[i]) if prompts is not None else None,
                    "id": columns["id"][i], "labels": list(columns["labels"][i]),
                    "aus": list(columns["aus"][i]), "openset": list(columns["openset"][i]),
                    "image": image_digest(images[0]) if images else None,
                }) + "\n")
        return [value] * len(completions)

    reward.__name__ = reward.__qualname__ = "recording"
    reward.required_columns = ("id", "labels", "aus")  # type: ignore[attr-defined]
    return reward


def length_reward(*, scale: int = 64):
    """A trivial reward (benchmarks): the completion's length in characters / `scale`, capped
    at 1. Needs no dataset column."""
    from rewards.completion import completion_text

    def reward(completions: list, **_: Any) -> list[float]:
        return [min(1.0, len(completion_text(c)) / scale) for c in completions]

    reward.__name__ = reward.__qualname__ = "length"
    reward.required_columns = ()  # type: ignore[attr-defined]
    return reward


def read_records(path: str | Path) -> list[dict]:
    """All records the recording reward wrote for `path`, over every rank."""
    path = Path(path)
    rows = []
    for file in sorted(path.parent.glob(path.name + ".*")):
        rows += [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    return rows


def trained_weights(output_dir: str | Path) -> dict[str, Any]:
    """The final weights a recipe saved in `output_dir`: the adapter of a LoRA run (merge_lora
    false), else the whole model (single-file safetensors)."""
    from safetensors.torch import load_file

    output_dir = Path(output_dir)
    adapter = output_dir / "adapter_model.safetensors"
    return load_file(adapter if adapter.is_file() else output_dir / "model.safetensors")


def logged_values(output_dir: str | Path, key: str) -> dict[int, float]:
    """``{step: value}`` of one logged training value (``trainer_state.json``'s log history)."""
    state = json.loads((Path(output_dir) / "trainer_state.json").read_text())
    return {e["step"]: e[key] for e in state["log_history"] if key in e}
