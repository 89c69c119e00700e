"""EMER (Explainable Multimodal Emotion Reasoning): open-vocabulary emotions with descriptions.

Folder layout (``SRC`` is the folder, or its ``gt-eng.csv``)::

    SRC/
      gt-eng.csv               names,emotions,subtitles,reasons
      final-EMER-reason.csv    name,chinese,english    (optional: the full descriptions)
      video/                   <name>.mp4 ... (also videos/, image/, audio/, media/)

Each name becomes one sample: ``openset`` from ``emotions`` (``"['worried', 'sad']"`` or
``"worried, sad"``), ``reasoning`` the English description of final-EMER-reason.csv when present,
else ``reasons``; ``answer`` the emotions joined by ", "; the subtitle and the Chinese description go
to ``meta``. Names only in final-EMER-reason.csv are kept, with no emotions. Every name needs a
media file ``<name>.*`` (a missing one is a located problem). The data root is ``SRC``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from affectllm.data.readers._common import (
    MediaFolder,
    Problems,
    Record,
    convert_each,
    iter_csv,
    parse_label_list,
    require,
    sample,
)
from affectllm.errors import InputError

NAME = "emer"
GT_FILE = "gt-eng.csv"
REASON_FILE = "final-EMER-reason.csv"


def folder(src: Path) -> Path:
    """The EMER folder (`src`, or the folder of `src` when it is one of the CSV files)."""
    return src.parent if src.is_file() else src


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of every name in gt-eng.csv, then of names only in the reasons file."""
    base = folder(src)
    gt_path, reason_path = base / GT_FILE, base / REASON_FILE
    if not gt_path.is_file():
        raise InputError(f"missing {GT_FILE}", path=base)
    reasons: dict[str, tuple[int, dict]] = {}
    if reason_path.is_file():
        try:
            reasons = {row["name"]: (line, row)
                       for line, row in iter_csv(reason_path, ("name", "english"))}
        except InputError as e:
            problems.add(e)
    media = MediaFolder(base, root)
    done: set[str] = set()

    def convert(row: dict, line: int) -> dict:
        require(row, ("names",))
        name = row["names"]
        done.add(name)
        return to_sample(name, row, reasons.get(name, (0, {}))[1], media)

    try:
        yield from convert_each(gt_path, iter_csv(gt_path, ("names", "emotions")), problems, convert)
    except InputError as e:
        problems.add(e)
    extra = ((line, row) for name, (line, row) in reasons.items() if name not in done)
    yield from convert_each(reason_path, extra, problems,
                            lambda row, line: to_sample(row["name"], {}, row, media))


def to_sample(name: str, gt: dict, reason: dict, media: MediaFolder) -> dict:
    """One EMER name as a canonical sample, from its gt-eng row and its final-EMER-reason row."""
    openset = parse_label_list(gt.get("emotions"))
    meta = {"dataset": "EMER", "subtitle": gt.get("subtitles"), "reason_zh": reason.get("chinese")}
    return sample(id=name, source=NAME, media=[media.find(name)], openset=openset,
                  reasoning=reason.get("english") or gt.get("reasons") or "",
                  answer=", ".join(openset) or None,
                  meta={k: v for k, v in meta.items() if v})
