"""Step 1 of every benchmark: the evaluated model answers one prompt per sample (its media + text).

Prompts are given by name or as text: ``affectgpt`` is AffectGPT's description prompt ("Please infer
the person's emotional state and provide your reasoning process."), ``openset`` and ``facial`` are
`affectllm.prompts` task prompts (they ask for ``<think>``/``<answer>`` tags), ``sample`` uses each
sample's own ``question``; anything else is used verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from affectllm.errors import InputError
from affectllm.generation import Sampling
from affectllm.io import open_image_file, resolve_media
from affectllm.prompts import sample_messages, task_prompt
from eval.runs import Job, file_stamp, fingerprint, model_stamp

NAMED_PROMPTS = ("affectgpt", "openset", "facial", "sample")


def resolve_prompt(name_or_text: str) -> str | None:
    """The prompt text of a prompt name (module docstring), or the text itself; None for
    ``sample`` (each sample's own question). See `affectllm.prompts.task_prompt`."""
    return task_prompt(name_or_text)


def sample_meta(sample: dict) -> dict:
    """A canonical sample's ``meta`` as a dict (it is stored as a JSON string)."""
    meta = sample.get("meta")
    if isinstance(meta, dict):
        return meta
    try:
        value = json.loads(meta or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def missing_media(sample: dict, root: str | Path) -> list[str]:
    """Media paths of `sample` (relative, as stored) whose file does not exist under `root`."""
    return [m["path"] for m in sample["media"] if not resolve_media(root, m["path"]).is_file()]


def media_problem(sample: dict, root: str | Path) -> tuple[str, str] | None:
    """``(kind, reason)`` when a sample cannot be sent to the model: ``missing_media`` (a file is
    absent) or ``unreadable_media`` (an image PIL cannot identify); None when its media look fine.
    Checked before generation because one bad image fails the whole batch it is in."""
    absent = missing_media(sample, root)
    if absent:
        return "missing_media", f"media file not found: {', '.join(absent)}"
    for m in sample["media"]:
        if m["type"] != "image":
            continue
        try:
            with open_image_file(resolve_media(root, m["path"])) as im:
                im.verify()
        except InputError as e:
            return "unreadable_media", f"unreadable image {m['path']}: {e.reason}"
    return None


def split_by_media(samples: Sequence[dict], root: str | Path, dataset: str,
                   source: str | Path | None = None) -> tuple[list[dict], list[dict]]:
    """(samples whose media are usable, skipped rows ``{dataset, name, kind, reason, file, line}``)."""
    usable, skipped = [], []
    for s in samples:
        problem = media_problem(s, root)
        if problem is None:
            usable.append(s)
        else:
            skipped.append({"dataset": dataset, "name": sample_meta(s).get("name", s["id"]),
                            "kind": problem[0], "reason": problem[1],
                            "file": None if source is None else str(source), "line": None})
    return usable, skipped


def description_jobs(samples: Sequence[dict], root: str | Path, *, model: str, prompt: str | None,
                     system: str | None, sampling: Sampling, group: Callable[[dict], str],
                     hint: Callable[[dict], str | None] | None = None) -> list[Job]:
    """One generation job per sample (`prompt` None: the sample's question); the key covers the
    model, prompt, hint, sampling and the media files (path, size, mtime)."""
    stamp = model_stamp(model)
    jobs = []
    for s in samples:
        extra = hint(s) if hint else None
        messages = sample_messages(s, root, prompt=prompt, system=system, hint=extra)
        media = [file_stamp(resolve_media(root, m["path"])) for m in s["media"]]
        key = fingerprint({"stage": "describe", "model": stamp,
                           "prompt": prompt if prompt is not None else s["question"],
                           "system": system, "hint": extra, "sampling": asdict(sampling),
                           "media": media})
        jobs.append(Job(s["id"], group(s), messages, key))
    return jobs
