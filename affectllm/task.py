"""The task a model was trained for, recorded in its folder so that it travels with the model.

A recipe writes ``OUTPUT_DIR/affectllm_task.json``::

    {"prompt": "facial", "prompt_text": "What emotion does this face show? ...",
     "system_prompt": null, "au_glossary": true,
     "pixels": {"min_pixels": null, "max_pixels": 3136},
     "video": {"mode": "frames", "fps": 2.0, "max_frames": 8,
               "min_pixels": null, "max_pixels": null},
     "answer_format": "<think>reasoning</think><answer>answer</answer>"}

and evaluation, synthesis and the pipeline read it (`read_task`) to ask the model what it was
trained on by default: the same prompt text (``sample`` = each sample's own question), system
prompt, image pixel budget and video sampling. An explicit option still wins.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from affectllm.errors import InputError
from affectllm.io import write_text
from affectllm.models import PixelBudget
from affectllm.prompts import PROMPT_FROM_SAMPLE, task_prompt
from affectllm.video import VideoSampling

TASK_FILE = "affectllm_task.json"
ANSWER_FORMAT = "<think>reasoning</think><answer>answer</answer>"


@dataclass
class ModelTask:
    """What `TASK_FILE` holds (see the module docstring)."""

    prompt: str | None
    prompt_text: str | None
    system_prompt: str | None = None
    au_glossary: bool = True
    pixels: dict[str, int | None] = field(default_factory=dict)
    video: dict[str, Any] = field(default_factory=dict)
    answer_format: str = ANSWER_FORMAT

    @property
    def eval_prompt(self) -> str:
        """The prompt as evaluation and synthesis take it: ``sample`` or the exact text."""
        return PROMPT_FROM_SAMPLE if self.prompt_text is None else self.prompt_text

    def pixel_budget(self) -> PixelBudget:
        v = self.video
        return PixelBudget(self.pixels.get("min_pixels"), self.pixels.get("max_pixels"),
                           v.get("min_pixels"), v.get("max_pixels"))

    def video_sampling(self) -> VideoSampling:
        v = self.video
        return VideoSampling(v.get("mode", "frames"), float(v.get("fps", 2.0)),
                             int(v.get("max_frames", 8)))


def task_of(script_args: Any) -> ModelTask:
    """The task of a recipe run from its `ScriptArguments`."""
    text = task_prompt(script_args.prompt, glossary=script_args.au_glossary)
    return ModelTask(
        prompt=script_args.prompt, prompt_text=text, system_prompt=script_args.system_prompt,
        au_glossary=script_args.au_glossary,
        pixels={"min_pixels": script_args.min_pixels, "max_pixels": script_args.max_pixels},
        video={"mode": script_args.video, "fps": script_args.video_fps,
               "max_frames": script_args.video_max_frames,
               "min_pixels": script_args.video_min_pixels,
               "max_pixels": script_args.video_max_pixels})


def write_task(output_dir: str | Path, task: ModelTask) -> Path:
    """Write `TASK_FILE` into `output_dir` (atomically)."""
    path = Path(output_dir) / TASK_FILE
    write_text(path, json.dumps(asdict(task), indent=2, ensure_ascii=False) + "\n")
    return path


def read_task(model: str | Path | None) -> ModelTask | None:
    """The task recorded in a local model folder; None for a Hub id or a folder without one.
    A malformed file is an InputError naming it."""
    if not model:
        return None
    path = Path(model) / TASK_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {k: raw[k] for k in ModelTask.__dataclass_fields__ if k in raw}
        return ModelTask(**known)
    except (json.JSONDecodeError, TypeError) as e:
        raise InputError(f"not a valid {TASK_FILE} ({e})", path=path) from None


def prompt_for(model: str | Path | None, explicit: str | None,
               fallback: str) -> tuple[str, str]:
    """``(prompt, where it came from)``: `explicit` when given (``option``), else the model's
    recorded training prompt (``model``), else `fallback` (``default``)."""
    if explicit is not None:
        return explicit, "option"
    task = read_task(model)
    if task is not None:
        return task.eval_prompt, "model"
    return fallback, "default"
