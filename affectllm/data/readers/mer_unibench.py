"""MER-UniBench (AffectGPT): nine emotion data sets, each a label CSV plus a media folder.

Folder layout (point ``SRC`` at ``ROOT`` to read every data set found there, or at one
``ROOT/<dataset>`` folder to read only that one)::

    ROOT/
      MER2023/                 data set folder; name matched case-insensitively, ignoring '-', '_'
        label.csv              name,emotion   (or name,label)
        subtitle.csv           name,english   (optional; goes to meta["subtitle"])
        video/                 <name>.mp4 / .avi / .mkv ... (also image/, images/, audio/, media/)
      OV-MERD+/                (or ov-merd+, OVMERDPlus, ovmerd_plus)
        label.csv              name,openset   e.g. "['happy', 'relaxed']"
        video/
      CMU-MOSI/                (or cmumosi)
        label.csv              name,valence   a number; sentiment tasks
        video/

The data root is ``SRC``; media paths are relative to it (``MER2023/video/x.mp4``). Each label row
needs a media file ``<name>.*`` (video before image before audio); a row without one is a located
problem. Sample ids are ``<dataset>/<name>`` (names repeat across data sets), ``source`` is the data
set name in lower case, ``meta`` holds ``dataset``, ``name``, ``task`` and the subtitle.

`MER_UNIBENCH_DATASETS` is the table of the nine data sets (task kind and label column) that the
evaluation module shares.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from affectllm.data.readers._common import (
    MediaFolder,
    Problems,
    Record,
    convert_each,
    csv_header,
    iter_csv,
    locate,
    parse_label_list,
    sample,
)
from affectllm.errors import InputError

NAME = "mer_unibench"
LABEL_FILE = "label.csv"
SUBTITLE_FILE = "subtitle.csv"


class MerDataset(NamedTuple):
    """How one MER-UniBench data set is labelled."""

    task: str                        # "openset" | "hit" | "sentiment"
    label_column: str                # the expected column of label.csv
    alt_columns: tuple[str, ...] = ()  # also accepted, in this order


_HIT = MerDataset("hit", "emotion", ("label",))
_SENTIMENT = MerDataset("sentiment", "valence", ("sentiment", "label"))

#: The nine data sets: name -> (task kind, label column, accepted alternatives).
MER_UNIBENCH_DATASETS: dict[str, MerDataset] = {
    "OV-MERD+": MerDataset("openset", "openset"),
    "MER2023": _HIT,
    "MER2024": _HIT,
    "MELD": _HIT,
    "IEMOCAPFour": _HIT,
    "CMU-MOSI": _SENTIMENT,
    "CMU-MOSEI": _SENTIMENT,
    "SIMS": _SENTIMENT,
    "SIMSv2": _SENTIMENT,
}


def folder_key(name: str) -> str:
    """Normalised data set name: ``OV-MERD+`` / ``ovmerd_plus`` / ``OVMERDPlus`` -> ``ovmerdplus``."""
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("+", "plus"))


_BY_KEY = {folder_key(name): name for name in MER_UNIBENCH_DATASETS}


def dataset_name(folder: str) -> str | None:
    """The canonical data set name of a folder name, or None."""
    return _BY_KEY.get(folder_key(folder))


def dataset_folders(src: Path) -> list[tuple[str, Path]]:
    """(canonical name, folder) of the data sets under `src` (or `src` itself)."""
    if not src.is_dir():
        raise InputError("expected the MER-UniBench root folder or one data set folder", path=src)
    own = dataset_name(src.name)
    if own is not None and (src / LABEL_FILE).is_file():
        return [(own, src)]
    found = sorted((dataset_name(p.name), p) for p in src.iterdir()
                   if p.is_dir() and dataset_name(p.name))
    if not found:
        raise InputError("no MER-UniBench data set folder here (expected one of "
                         f"{', '.join(MER_UNIBENCH_DATASETS)}, each with {LABEL_FILE})", path=src)
    return found


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of every labelled row of every data set under `src`."""
    for name, folder in dataset_folders(src):
        try:
            yield from _dataset_records(name, folder, root, problems)
        except InputError as e:  # a whole file is unusable (missing, bad header)
            problems.add(e)


def _dataset_records(name: str, folder: Path, root: Path, problems: Problems) -> Iterator[Record]:
    spec = MER_UNIBENCH_DATASETS[name]
    label_path = folder / LABEL_FILE
    if not label_path.is_file():
        raise InputError(f"missing {LABEL_FILE} for {name}", path=folder)
    column = label_column(label_path, spec)
    subtitles = read_subtitles(folder / SUBTITLE_FILE, problems)
    media = MediaFolder(folder, root)

    def convert(row: dict, line: int) -> dict:
        key = row.get("name", "")
        if not key:
            raise InputError("missing required field(s): name")
        value = row.get(column, "")
        meta = {"dataset": name, "name": key, "task": spec.task, "subtitle": subtitles.get(key)}
        fields = label_fields(spec.task, column, value)
        return sample(id=f"{name}/{key}", source=name.lower(), media=[media.find(key)],
                      meta={k: v for k, v in meta.items() if v is not None}, **fields)

    yield from convert_each(label_path, iter_csv(label_path, ("name",)), problems, convert)


def label_column(path: Path, spec: MerDataset) -> str:
    """The label column `path` actually has (the expected one, else an accepted alternative)."""
    header = csv_header(path)
    columns = (spec.label_column, *spec.alt_columns)
    present = next((c for c in columns if c in header), None)
    if present:
        return present
    raise InputError(f"missing column {' or '.join(columns)}", path, 1)


def label_fields(task: str, column: str, value: str) -> dict:
    """The sample fields of one label cell for a task kind."""
    if not value:
        raise InputError(f"empty {column}")
    if task == "openset":
        words = parse_label_list(value)
        if not words:
            raise InputError(f"empty {column} {value!r}")
        return {"openset": words}
    if task == "sentiment":
        try:
            return {"valence": float(value)}
        except ValueError:
            raise InputError(f"{column} {value!r} is not a number") from None
    return {"labels": [value]}


def read_subtitles(path: Path, problems: Problems) -> dict[str, str]:
    """name -> English subtitle from an optional ``name,english`` CSV."""
    if not path.is_file():
        return {}
    try:
        return {row["name"]: row["english"] for _, row in iter_csv(path, ("name", "english"))}
    except InputError as e:
        problems.add(locate(e, path, None))
        return {}
