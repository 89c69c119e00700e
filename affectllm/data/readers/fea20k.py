"""FEA-20K (Facial-R1): JSONL records of a face image with AUs, labels and a reasoning chain.

One record per line::

    {"id": "raf_0001", "dataset": "RAF-DB", "image": "images/raf_0001.jpg",
     "question": "What emotion ...?", "AUs": ["AU1", "AU4"], "labels": ["sadness"],
     "description": "<think>The inner brows ...</think><answer>sadness</answer>",
     "meta_info": {...}, "is_valid": true}

`SRC` is the JSONL file (or a folder of them); image paths are relative to its folder, the default
data root. Records with ``is_valid: false`` are dropped and counted. ``reasoning`` is the text in
``<think>``, ``answer`` the text in ``<answer>`` (a description without tags is all reasoning, and
the answer then falls back to the labels).
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
    media_entries,
    parse_label_list,
    require,
    sample,
    source_files,
    split_think,
)

NAME = "fea20k"
REQUIRED = ("id", "image", "labels")


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of every record in `src`."""
    for path in source_files(src, (".jsonl",)):
        yield from convert_each(path, iter_jsonl(path, problems), problems,
                                lambda obj, line: to_sample(obj, root))


def to_sample(obj: dict, root: Path) -> dict:
    """One FEA-20K record as a canonical sample."""
    if obj.get("is_valid") is False:
        raise Dropped("is_valid is false")
    require(obj, REQUIRED)
    labels = parse_label_list(obj["labels"])
    reasoning, answer = split_think(obj.get("description"), untagged="reasoning")
    info = obj.get("meta_info")
    meta = {"dataset": obj.get("dataset"), **(info if isinstance(info, dict) else {})}
    return sample(id=obj["id"], source=NAME, media=media_entries(root, obj, {"image": "image"}),
                  question=obj.get("question") or "", labels=labels,
                  aus=parse_label_list(obj.get("AUs")), reasoning=reasoning,
                  answer=answer if answer is not None else (", ".join(labels) or None), meta=meta)
