"""affectllm's own canonical JSONL (see `affectllm.data.schema`): one sample per line.

``SRC`` is a JSONL file or a folder of them (e.g. a toyfaces folder: train/validation/test.jsonl).
Media paths are relative to the data root: the ``data_root`` recorded in a ``convert_config.json``
next to the file (written by ``affectllm data convert``), else the file's folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from affectllm.data.readers._common import (
    Problems,
    Record,
    convert_each,
    iter_jsonl,
    media_entry,
    source_files,
)
from affectllm.data.schema import check_sample, data_root

NAME = "jsonl"


def default_root(src: Path) -> Path:
    """The data root of a canonical file or folder (`schema.data_root`)."""
    return data_root(src)


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Every canonical sample in `src`, checked; media paths re-checked against `root`."""
    for path in source_files(src, (".jsonl",)):
        yield from convert_each(path, iter_jsonl(path, problems), problems,
                                lambda obj, line, p=path: to_sample(obj, root, p, line))


def to_sample(obj: dict, root: Path, path: Path, line: int) -> dict:
    """A canonical record, normalised, with media paths that stay inside `root`."""
    sample = check_sample(obj, path, line)
    sample["media"] = [media_entry(root, m["path"], m["type"]) for m in sample["media"]]
    return sample
