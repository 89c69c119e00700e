"""Readers of the published corpora: each turns one layout into canonical samples.

=================  ===========================================================================
format             reads
=================  ===========================================================================
``fea20k``         Facial-R1 FEA-20K JSONL (image, AUs, labels, ``<think>``/``<answer>``)
``emocfg``         Emo-CFG in ms-swift ``messages`` + ``videos``/``images`` (JSON or JSONL)
``mer_unibench``   the nine MER-UniBench data sets as released (official ``dataset/`` tree)
``emer``           EMER dataset-v1 (``gt-eng.csv``/``gt-chi.csv``) or dataset-v2 (reasons CSV)
``r1omni``         R1-Omni / HumanOmni JSON list of ``video`` + ``conversations``
``jsonl``          affectllm's canonical JSONL (file or folder of files)
``toyfaces``       the procedural faces (canonical JSONL; FACIAL_LABELS label set)
=================  ===========================================================================

Every reader yields samples whose media paths are relative to the data root (`Reader.default_root`
of the source unless given) and refuses, without opening them, media paths that escape it. Use
`read` for a whole corpus in memory, `iter_records` to stream located records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from affectllm.data.readers import emer, emocfg, fea20k, jsonl, mer_unibench, r1omni
from affectllm.data.readers._common import (
    Problems,
    Record,
    folder_of,
    parse_label_list,
    split_think,
)
from affectllm.data.readers.mer_unibench import MER_UNIBENCH_DATASETS, MerDataset
from affectllm.errors import InputError
from rewards.labels import FACIAL_LABELS


@dataclass(frozen=True)
class Reader:
    """One source format: how to find its data root and how to read its records."""

    name: str
    records: Callable[[Path, Path, Problems], Iterator[Record]]  # (src, root, problems)
    default_root: Callable[[Path], Path] = folder_of
    description: str = ""


READERS: dict[str, Reader] = {
    "fea20k": Reader("fea20k", fea20k.records, description="Facial-R1 FEA-20K JSONL"),
    "emocfg": Reader("emocfg", emocfg.records, emocfg.default_root,
                     "Emo-CFG official tree, ms-swift messages"),
    "mer_unibench": Reader("mer_unibench", mer_unibench.records,
                           description="MER-UniBench official dataset/ tree (or label.csv)"),
    "emer": Reader("emer", emer.records, emer.folder, "EMER dataset-v1 / dataset-v2"),
    "r1omni": Reader("r1omni", r1omni.records, description="R1-Omni video conversations"),
    "jsonl": Reader("jsonl", jsonl.records, jsonl.default_root, "affectllm canonical JSONL"),
    "toyfaces": Reader("toyfaces", jsonl.records, jsonl.default_root,
                       "procedural FACS faces (canonical JSONL)"),
}

#: The label set validation checks a sample's labels against, by the sample's ``source``, when the
#: user declares none.
DEFAULT_LABEL_SETS: dict[str, tuple[str, ...]] = {"fea20k": FACIAL_LABELS,
                                                  "toyfaces": FACIAL_LABELS}


@dataclass
class ReadResult:
    """What `read` found: the samples, their data root, the dropped-record counts by reason, the
    problems of records that were skipped, and where each sample came from."""

    samples: list[dict]
    root: Path
    dropped: dict[str, int] = field(default_factory=dict)
    problems: list[InputError] = field(default_factory=list)
    locations: list[tuple[Path, int | None]] = field(default_factory=list)


def get_reader(format: str) -> Reader:
    """The reader of `format`; InputError naming the known formats otherwise."""
    try:
        return READERS[format]
    except KeyError:
        raise InputError(f"unknown format {format!r}; expected one of {', '.join(READERS)}") from None


def resolve_root(src: str | Path, format: str, root: str | Path | None = None) -> Path:
    """The data root: `root` when given, else the format's default for `src`; absolute."""
    return Path(root).resolve() if root is not None else get_reader(format).default_root(
        Path(src)).resolve()


def iter_records(src: str | Path, format: str, problems: Problems,
                 root: str | Path | None = None) -> Iterator[Record]:
    """Stream the located records of `src`; every problem (a bad record, or a whole file that cannot
    be read) goes to `problems` and reading goes on where it can. A source without a single record
    or problem is a problem itself ("no records")."""
    reader = get_reader(format)
    src = Path(src)
    found, before = 0, len(problems)
    try:
        for record in reader.records(src, resolve_root(src, format, root), problems):
            found += 1
            yield record
    except InputError as e:
        problems.add(e if e.path else InputError(e.reason, src))
    if not found and len(problems) == before:
        dropped = sum(problems.dropped.values())
        problems.add(InputError("no records" + (f" (all {dropped} dropped)" if dropped else
                                                " (the source is empty)"), src))


def read(src: str | Path, format: str = "jsonl", *, root: str | Path | None = None,
         on_error: str = "raise") -> ReadResult:
    """Read a whole corpus. ``on_error="raise"`` raises the first problem (with a count of the
    others); ``"skip"`` leaves bad records out and lists them in `ReadResult.problems`."""
    if on_error not in ("raise", "skip"):
        raise ValueError("on_error must be 'raise' or 'skip'")
    problems = Problems()
    result = ReadResult([], resolve_root(src, format, root))
    for record in iter_records(src, format, problems, result.root):
        result.samples.append(record.sample)
        result.locations.append((record.path, record.line))
    result.dropped, result.problems = dict(problems.dropped), problems.items
    if problems.items and on_error == "raise":
        raise first_problem(problems.items, "run `affectllm data validate`")
    return result


def first_problem(problems: list[InputError], hint: str = "") -> InputError:
    """The first of `problems`, its reason noting how many more there are (and `hint`)."""
    first, more = problems[0], len(problems) - 1
    note = f" (and {more} more problem(s){': ' + hint if hint else ''})" if more else ""
    return InputError(first.reason + note, first.path, first.line)


__all__ = ["DEFAULT_LABEL_SETS", "MER_UNIBENCH_DATASETS", "READERS", "MerDataset", "Problems",
           "ReadResult", "Reader", "Record", "first_problem", "get_reader", "iter_records", "parse_label_list",
           "read", "resolve_root", "split_think"]
