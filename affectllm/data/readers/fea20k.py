"""FEA-20K (Facial-R1): JSONL records of a face image with AUs, labels and a reasoning chain.

The official layout (RobitsG/Facial-R1, README "Data Format" and ``run_scripts/*.sh``) keeps one
JSONL file per set and split, and the images of each in a separate folder named at run time
(``--image_folders`` of ``grpo_jsonl.py``)::

    emotion_dataset/RAF-DB-Train.jsonl        {"id": "raf_0001", "dataset": "RAF-DB",
    emotion_dataset/RAF-DB-Train/...           "image": "train_00001.jpg",
    emotion_dataset/DISFA-Train-3.jsonl        "question": "<image>What emotion ...?",
    emotion_dataset/DISFA-Train/...            "AUs": ["AU1", "AU4"], "labels": ["sadness"],
                                               "description": "<think>...</think>\\n<answer>sadness</answer>",
                                               "meta_info": {...}, "is_valid": true}

`SRC` is one JSONL file or the folder of them. An ``image`` path is relative to the data root
(``--root``: the image folder, as ``--image_folders`` gives it upstream) or, when no file is there,
to the image folder beside the JSONL that the file name names: the stem itself or its longest
``-``-separated prefix with a folder of that name (``FABA-Train-2000.jsonl`` -> ``FABA-Train/``,
``BP4D-gpt-c-Train.jsonl`` -> ``BP4D/``, as the official scripts pair them).

The AU-only sets (DISFA, BP4D) have ``labels: []``; only ``id`` and ``image`` are required.
``<image>`` is stripped from the question (every official reader does), and an empty question
becomes the official default, "What is the emotion of this face?". Records with ``is_valid: false``
are dropped and counted. ``reasoning`` is the text in ``<think>``, ``answer`` the text in
``<answer>`` (a description without tags is all reasoning, and the answer then falls back to the
labels). ``dataset`` and ``meta_info`` go to ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from affectllm.data.readers._common import (
    Dropped,
    Problems,
    Record,
    convert_each,
    iter_jsonl,
    media_entry,
    parse_label_list,
    require,
    sample,
    source_files,
    split_think,
    strip_media_tokens,
)
from affectllm.errors import InputError

NAME = "fea20k"
REQUIRED = ("id", "image")
#: The question Facial-R1's readers ask when a record has none.
DEFAULT_QUESTION = "What is the emotion of this face?"


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of every record in `src`."""
    for path in source_files(src, (".jsonl",)):
        folders = image_folders(path, root)
        yield from convert_each(path, iter_jsonl(path, problems), problems,
                                lambda obj, line, f=folders: to_sample(obj, root, f))


def image_folders(jsonl: Path, root: Path) -> list[str]:
    """Where the images of `jsonl` may be, relative to `root`: the root itself, then the folder
    beside the file named by its stem or the longest ``-`` prefix of it that exists."""
    parts = jsonl.stem.split("-")
    here = jsonl.parent.resolve()
    candidates = [""]
    for k in range(len(parts), 0, -1):
        folder = here / "-".join(parts[:k])
        if folder.is_dir() and folder.resolve().is_relative_to(root.resolve()):
            candidates.append(folder.resolve().relative_to(root.resolve()).as_posix())
            break
    return candidates


def _image_entries(root: Path, value: object, folders: list[str]) -> list[dict]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InputError(f"image must be a path or a list of paths, got {type(value).__name__}")
    out = []
    for raw in value:
        entries = [media_entry(root, f"{folder}/{raw}" if folder else raw, "image")
                   if isinstance(raw, str) else media_entry(root, raw) for folder in folders]
        found = next((e for e in entries if (root / e["path"]).is_file()), entries[-1])
        out.append(found)
    return out


def to_sample(obj: dict, root: Path, folders: list[str] | None = None) -> dict:
    """One FEA-20K record as a canonical sample."""
    if obj.get("is_valid") is False:
        raise Dropped("is_valid is false")
    require(obj, REQUIRED)
    labels = parse_label_list(obj.get("labels"))
    reasoning, answer = split_think(obj.get("description"), untagged="reasoning")
    info = obj.get("meta_info")
    meta = {"dataset": obj.get("dataset"), **(info if isinstance(info, dict) else {})}
    question = strip_media_tokens(obj.get("question")) or DEFAULT_QUESTION
    return sample(id=obj["id"], source=NAME,
                  media=_image_entries(root, obj["image"], folders or [""]),
                  question=question, labels=labels, aus=parse_label_list(obj.get("AUs")),
                  reasoning=reasoning,
                  answer=answer if answer is not None else (", ".join(labels) or None), meta=meta)
