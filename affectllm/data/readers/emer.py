"""EMER (Explainable Multimodal Emotion Reasoning) as released in the AffectGPT repository's
``EMER/`` folder: two annotation sets of MER2023 clips, each in its own folder.

``SRC`` is one of these folders (or one of its CSV files)::

    EMER/dataset-v1/            100 clips
      gt-eng.csv                names,emotions,subtitles,reasons   (English)
      gt-chi.csv                names,emotions,subtitles,reasons   (Chinese; optional)
    EMER/dataset-v2/            332 clips
      final-EMER-reason.csv     name,chinese,english

Clips are ``<name>.avi`` / ``.mp4`` in ``video-process/`` or ``video/`` of the folder, or, with a
data root given (``--media-root`` / ``--root``: for instance the MER2023 ``mer2023-dataset-process``
folder), in that root's ``video-process/``, ``video/`` or the root itself. A name without a clip is
a located problem. The data root is ``SRC`` unless given.

One sample per name:

- v1: ``labels`` = ``emotions`` (the discrete MER2023 label; a list string is split), ``reasoning``
  = the English description (``reasons`` of gt-eng.csv), ``answer`` = the labels joined by ", ";
  ``meta``: ``reason_zh`` (gt-chi.csv ``reasons``), ``emotion_zh``, ``subtitle``, ``subtitle_zh``.
- v2: ``reasoning`` = ``english``, ``meta["reason_zh"]`` = ``chinese``; no labels.

A folder holding both sets gives the v1 rows (their ``reasoning`` / ``reason_zh`` taken from the v2
file where it has the name) and then the v2 names v1 lacks. ``meta["dataset"]`` is ``EMER-v1`` or
``EMER-v2``, ``meta["name"]`` the clip name; ``openset`` stays empty (EMER's labels are not
open-vocabulary).
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
GT_ZH_FILE = "gt-chi.csv"
REASON_FILE = "final-EMER-reason.csv"
CLIP_FOLDERS = ("video-process", "video")


def folder(src: Path) -> Path:
    """The EMER folder (`src`, or the folder of `src` when it is one of the CSV files)."""
    return src.parent if src.is_file() else src


def layout_hint(base: Path) -> str:
    return (f"expected {base / GT_FILE} (names,emotions,subtitles,reasons; EMER dataset-v1) or "
            f"{base / REASON_FILE} (name,chinese,english; EMER dataset-v2)")


class ClipFinder:
    """The clips of EMER names: the folder's own clip folders, then the data root's."""

    def __init__(self, base: Path, root: Path):
        base, root = base.resolve(), root.resolve()
        if not root.is_dir():
            raise InputError("media root (--media-root / --root) not found", path=root)
        self.folders = []
        if base == root or root in base.parents:
            self.folders.append(MediaFolder(base, root, CLIP_FOLDERS))
        if base != root:
            self.folders.append(MediaFolder(root, root, (*CLIP_FOLDERS, ".")))

    def find(self, name: str) -> dict:
        errors = []
        for media in self.folders:
            try:
                return media.find(name)
            except InputError as e:
                errors.append(e.reason)
        raise InputError("; ".join(errors) or f"no media file for {name!r}")


def _data_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """`iter_csv`, and InputError naming `path` when it has a header but no data row."""
    empty = True
    for line, row in iter_csv(path, required):
        empty = False
        yield line, row
    if empty:
        raise InputError("no data rows (only a header)", path=path)


def _rows(path: Path, key: str, columns: tuple[str, ...],
          problems: Problems) -> dict[str, tuple[int, dict]]:
    if not path.is_file():
        return {}
    try:
        return {row[key]: (line, row) for line, row in _data_rows(path, (key, *columns))}
    except InputError as e:
        problems.add(e)
        return {}


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of every v1 name (gt-eng.csv), then of the v2 names v1 lacks."""
    base = folder(src.resolve())  # absolute, like `root`
    if not base.is_dir():
        raise InputError("EMER folder not found", path=base)
    gt_path, reason_path = base / GT_FILE, base / REASON_FILE
    if not gt_path.is_file() and not reason_path.is_file():
        if (base / "dataset-v1").is_dir() or (base / "dataset-v2").is_dir():
            raise InputError("this is the EMER folder; point at EMER/dataset-v1 or "
                             "EMER/dataset-v2", path=base)
        raise InputError(f"not an EMER folder: {layout_hint(base)}", path=base)
    chinese = _rows(base / GT_ZH_FILE, "names", ("reasons",), problems)
    reasons = _rows(reason_path, "name", ("english",), problems)
    clips = ClipFinder(base, root)
    done: set[str] = set()

    def v1(row: dict, line: int) -> dict:
        require(row, ("names",))
        name = row["names"]
        done.add(name)
        zh = chinese.get(name, (0, {}))[1]
        v2 = reasons.get(name, (0, {}))[1]
        labels = parse_label_list(row.get("emotions"))
        meta = {"dataset": "EMER-v1", "name": name, "subtitle": row.get("subtitles"),
                "subtitle_zh": zh.get("subtitles"), "emotion_zh": zh.get("emotions"),
                "reason_zh": v2.get("chinese") or zh.get("reasons")}
        return sample(id=name, source=NAME, media=[clips.find(name)], labels=labels,
                      reasoning=v2.get("english") or row.get("reasons") or "",
                      answer=", ".join(labels) or None,
                      meta={k: v for k, v in meta.items() if v})

    def v2(row: dict, line: int) -> dict:
        name = row["name"]
        meta = {"dataset": "EMER-v2", "name": name, "reason_zh": row.get("chinese")}
        return sample(id=name, source=NAME, media=[clips.find(name)],
                      reasoning=row.get("english") or "",
                      meta={k: v for k, v in meta.items() if v})

    if gt_path.is_file():
        try:
            yield from convert_each(gt_path, _data_rows(gt_path, ("names", "emotions")),
                                    problems, v1)
        except InputError as e:
            problems.add(e)
    rest = ((line, row) for name, (line, row) in reasons.items() if name not in done)
    yield from convert_each(reason_path, rest, problems, v2)
