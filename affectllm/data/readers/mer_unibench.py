"""MER-UniBench (AffectGPT): nine emotion data sets, read from the official release unchanged.

Official layout (AffectGPT ``config.py`` and its data-set classes); point ``SRC`` at ``dataset/`` to
read every data set found there, or at one data-set folder::

    dataset/
      mer2023-dataset-process/  label-6way.npz   test1_corpus: {name: {'emo': str, 'val': float}}
                                transcription-engchi-polish.csv (name,chinese,english)   video/
      mer2024-dataset-process/  label-6way.npz   test1_corpus      transcription_merge.csv  video/
      meld-process/             label.npz        test_corpus: {name: {'emo': int index}}  subvideo/
      iemocap-process/          label_4way.npz   whole_corpus (Session-5 rows are the test set)
                                transcription-engchi-polish.csv     subvideo-tgt/
      cmumosi-process/          label.npz        test_corpus: {name: {'val': float}}      subvideo/
      cmumosei-process/         label.npz        test_corpus                             subvideo_new/
      sims-process/             label.npz        test_corpus                             video/
      simsv2-process/           label.npz        test_corpus                             video_new/
      ovmerdplus-process/       ovlabel.csv (name,openset)   subtitle_eng.csv (name,sentence)  video/

`OFFICIAL` holds these facts per data set (label file, split, index -> emotion table, video folder,
subtitle file and column). The test split is selected as upstream selects it: ``test1_corpus``
(MER2023, MER2024), ``test_corpus`` (MELD and the four sentiment sets), the rows of
``whole_corpus`` whose name has ``5`` at index 4 (IEMOCAPFour: ``Ses05...``), every row of
``ovlabel.csv`` (OV-MERD+; an empty list becomes ``neutral``). Integer ``emo`` values index
``[anger, joy, sadness, neutral, disgust, fear, surprise]`` (MELD) or ``[happy, sad, neutral,
anger]`` (IEMOCAPFour). The ``.npz`` files are read with `safe_npz` (no unrestricted pickle).
Videos are ``<name>.mp4`` or ``.avi`` in the data set's video folder; subtitles come from the file
and column upstream uses (``english``; ``chinese`` for MER2024's ``transcription_merge.csv``;
``sentence`` for OV-MERD+).

The project's own CSV layout is still read (``ROOT/<Name>/label.csv`` with ``name,emotion`` /
``name,openset`` / ``name,valence``, optional ``subtitle.csv`` ``name,english``, media in
``video/``, ``image/`` ...); where a data set exists in both layouts the official one is used.

Each test row becomes one sample: id ``<Name>/<name>`` (names repeat across data sets), ``source``
the data set name in lower case, ``labels`` / ``openset`` / ``valence`` by task, ``meta`` with
``dataset``, ``name``, ``task``, ``layout``, ``gt`` (the ground truth exactly as the official
scorer reads it: the emotion word, the joined open-set list, or the valence) and the subtitle.
Media paths are relative to the data root (``SRC`` unless given).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
from affectllm.data.readers.safe_npz import load_npz, npz_value
from affectllm.errors import InputError
from rewards.label_list import split_list_string

NAME = "mer_unibench"
LABEL_FILE = "label.csv"        # the project's CSV layout
SUBTITLE_FILE = "subtitle.csv"  # the project's CSV layout
MELD_EMOTIONS = ("anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise")
IEMOCAP_EMOTIONS = ("happy", "sad", "neutral", "anger")


@dataclass(frozen=True)
class MerDataset:
    """How one MER-UniBench data set is labelled: its task and the label column of the project's
    CSV layout (`OFFICIAL` has the official files)."""

    task: str                          # "openset" | "hit" | "sentiment"
    label_column: str                  # the expected column of label.csv
    alt_columns: tuple[str, ...] = ()  # also accepted, in this order


@dataclass(frozen=True)
class OfficialFiles:
    """Where the official release keeps one data set (folder names under ``dataset/``)."""

    upstream: str                      # AffectGPT's name (config.DATA_DIR key); results-<lower>
    folder: str
    label_file: str
    split: str                         # npz key of the test split ("" for ovlabel.csv)
    videos: tuple[str, ...]
    subtitle_file: str
    subtitle_column: str
    emotions: tuple[str, ...] = ()     # integer 'emo' -> emotion word
    session5: bool = False             # IEMOCAPFour: test = Session-5 rows of the split


_HIT = MerDataset("hit", "emotion", ("label",))
_SENTIMENT = MerDataset("sentiment", "valence", ("sentiment", "label"))

#: The nine data sets, in the order of the official table (evaluation-scoreonly.py).
MER_UNIBENCH_DATASETS: dict[str, MerDataset] = {
    "MER2023": _HIT,
    "MER2024": _HIT,
    "MELD": _HIT,
    "IEMOCAPFour": _HIT,
    "CMU-MOSI": _SENTIMENT,
    "CMU-MOSEI": _SENTIMENT,
    "SIMS": _SENTIMENT,
    "SIMSv2": _SENTIMENT,
    "OV-MERD+": MerDataset("openset", "openset"),
}

_TRANSCRIPTS = "transcription-engchi-polish.csv"
OFFICIAL: dict[str, OfficialFiles] = {
    "MER2023": OfficialFiles("MER2023", "mer2023-dataset-process", "label-6way.npz", "test1_corpus",
                             ("video",), _TRANSCRIPTS, "english"),
    "MER2024": OfficialFiles("MER2024", "mer2024-dataset-process", "label-6way.npz", "test1_corpus",
                             ("video",), "transcription_merge.csv", "chinese"),
    "MELD": OfficialFiles("MELD", "meld-process", "label.npz", "test_corpus", ("subvideo",),
                          _TRANSCRIPTS, "english", MELD_EMOTIONS),
    "IEMOCAPFour": OfficialFiles("IEMOCAPFour", "iemocap-process", "label_4way.npz",
                                 "whole_corpus", ("subvideo-tgt",), _TRANSCRIPTS, "english",
                                 IEMOCAP_EMOTIONS, session5=True),
    "CMU-MOSI": OfficialFiles("CMUMOSI", "cmumosi-process", "label.npz", "test_corpus",
                              ("subvideo",), _TRANSCRIPTS, "english"),
    "CMU-MOSEI": OfficialFiles("CMUMOSEI", "cmumosei-process", "label.npz", "test_corpus",
                               ("subvideo_new",), _TRANSCRIPTS, "english"),
    "SIMS": OfficialFiles("SIMS", "sims-process", "label.npz", "test_corpus", ("video",),
                          _TRANSCRIPTS, "english"),
    "SIMSv2": OfficialFiles("SIMSv2", "simsv2-process", "label.npz", "test_corpus",
                            ("video_new",), _TRANSCRIPTS, "english"),
    "OV-MERD+": OfficialFiles("OVMERDPlus", "ovmerdplus-process", "ovlabel.csv", "", ("video",),
                              "subtitle_eng.csv", "sentence"),
}


def folder_key(name: str) -> str:
    """Normalised data set name: ``OV-MERD+`` / ``ovmerd_plus`` / ``OVMERDPlus`` -> ``ovmerdplus``."""
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("+", "plus"))


_BY_KEY = {folder_key(name): name for name in MER_UNIBENCH_DATASETS}
_BY_KEY.update({folder_key(files.upstream): name for name, files in OFFICIAL.items()})
_BY_OFFICIAL_FOLDER = {files.folder: name for name, files in OFFICIAL.items()}


def dataset_name(folder: str) -> str | None:
    """The canonical data set name of a folder name (project or official spelling), or None."""
    return _BY_OFFICIAL_FOLDER.get(folder) or _BY_KEY.get(folder_key(folder))


@dataclass(frozen=True)
class DatasetFolder:
    name: str
    folder: Path
    layout: str          # "official" | "csv"

    @property
    def label_path(self) -> Path:
        return self.folder / (OFFICIAL[self.name].label_file if self.layout == "official"
                              else LABEL_FILE)


def _layout_of(folder: Path) -> DatasetFolder | None:
    name = _BY_OFFICIAL_FOLDER.get(folder.name)
    if name and (folder / OFFICIAL[name].label_file).is_file():
        return DatasetFolder(name, folder, "official")
    name = dataset_name(folder.name)
    if name and (folder / LABEL_FILE).is_file():
        return DatasetFolder(name, folder, "csv")
    if name and (folder / OFFICIAL[name].label_file).is_file():
        return DatasetFolder(name, folder, "official")
    return None


def find_datasets(src: Path) -> list[DatasetFolder]:
    """The data sets under `src` (or `src` itself), in the official table order; a data set found
    in both layouts is taken from its official folder. InputError when there is none."""
    if not src.is_dir():
        raise InputError("expected the MER-UniBench root folder (dataset/) or one data set folder",
                         path=src)
    own = _layout_of(src)
    if own is not None:
        return [own]
    found: dict[str, DatasetFolder] = {}
    for child in sorted(p for p in src.iterdir() if p.is_dir()):
        d = _layout_of(child)
        if d is not None and (d.name not in found or d.layout == "official"):
            found[d.name] = d
    if not found:
        expected = ", ".join(f"{f.folder}/{f.label_file}" for f in OFFICIAL.values())
        raise InputError(f"no MER-UniBench data set folder here (expected the official folders: "
                         f"{expected}; or <Name>/{LABEL_FILE})", path=src)
    return [found[n] for n in MER_UNIBENCH_DATASETS if n in found]


def dataset_folders(src: Path) -> list[tuple[str, Path]]:
    """(canonical name, folder) of the data sets under `src` (see `find_datasets`)."""
    return [(d.name, d.folder) for d in find_datasets(src)]


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of the test rows of every data set under `src` (made absolute here, so a
    relative `src` finds its media under the absolute `root`)."""
    if not root.is_dir():
        raise InputError("data root (--root / --media-root) not found", path=root)
    for d in find_datasets(src.resolve()):
        try:
            if d.layout == "official":
                yield from _official_records(d, root, problems)
            else:
                yield from _csv_records(d, root, problems)
        except InputError as e:  # a whole file is unusable (missing, bad header, bad npz)
            problems.add(e)


# ------------------------------------------------------------------------------ official layout

def official_test_rows(name: str, label_path: Path) -> list[tuple[str, object, int | None]]:
    """``(sample name, ground truth, CSV line or None)`` of the official test split, in file order;
    the ground truth is what the official scorer compares with: the emotion word (indices mapped),
    the valence, or the joined open-set list (``neutral`` when empty). InputError for a file or
    split that cannot be read, or a row without a usable label (naming the row)."""
    files = OFFICIAL[name]
    task = MER_UNIBENCH_DATASETS[name].task
    if task == "openset":
        rows = []
        for line, row in iter_csv(label_path, ("name", "openset")):
            words = openset_words(row["openset"], label_path, line) or ["neutral"]
            rows.append((row["name"], ", ".join(words), line))
        if not rows:
            raise InputError("no test rows (only a header)", path=label_path)
        return rows
    corpus = npz_value(load_npz(label_path), files.split, label_path)
    if not isinstance(corpus, dict):
        raise InputError(f"{files.split} is a {type(corpus).__name__}, expected a dict "
                         "{name: {'emo': ..., 'val': ...}}", path=label_path)
    out = []
    for key, item in corpus.items():
        key = str(key)
        if files.session5 and key[4:5] != "5":
            continue
        out.append((key, _label_value(name, task, key, item, label_path), None))
    if not out:
        which = f"no Session-5 row in {files.split}" if files.session5 else \
            f"{files.split} is empty"
        raise InputError(f"no test sample: {which}", path=label_path)
    return out


_NOT_A_WORD_LIST = re.compile(r"[\[\]{}]")


def openset_words(cell: str, path: Path, line: int) -> list[str]:
    """The words of an ``ovlabel.csv`` ``openset`` cell (``['happy', 'relaxed']``; upstream's
    split). InputError at `line` for a cell that is no word list: a dict, nested or unbalanced
    brackets, or an item without a letter (``5``)."""
    text = cell.strip()
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    words = split_list_string(text)
    if _NOT_A_WORD_LIST.search(inner) or any(not any(c.isalpha() for c in w) for w in words):
        raise InputError(f"openset {cell!r} is not a list of emotion words "
                         "(expected e.g. ['happy', 'relaxed'])", path, line)
    return words


def _label_value(name: str, task: str, key: str, item: object, path: Path) -> object:
    field = "val" if task == "sentiment" else "emo"
    if not isinstance(item, dict) or field not in item:
        raise InputError(f"sample {key!r}: expected a dict with {field!r}, got {item!r}", path)
    value = item[field]
    if task == "sentiment":
        try:
            valence = float(value)
        except (TypeError, ValueError):
            raise InputError(f"sample {key!r}: val {value!r} is not a number", path) from None
        if not math.isfinite(valence):
            raise InputError(f"sample {key!r}: val {value!r} is not a finite number", path)
        return valence
    if isinstance(value, str):
        return value
    emotions = OFFICIAL[name].emotions
    try:
        index = int(value)
        if index != value or isinstance(value, bool) or not 0 <= index < len(emotions):
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"sample {key!r}: emo {value!r} is not an emotion or an index into "
                         f"{list(emotions)}", path) from None
    return emotions[index]


def read_official_subtitles(name: str, folder: Path, problems: Problems) -> dict[str, str]:
    """name -> subtitle from the file and column upstream uses (empty when the file is absent)."""
    files = OFFICIAL[name]
    return read_subtitles(folder / files.subtitle_file, problems, files.subtitle_column)


def _official_records(d: DatasetFolder, root: Path, problems: Problems) -> Iterator[Record]:
    spec, files = MER_UNIBENCH_DATASETS[d.name], OFFICIAL[d.name]
    label_path = d.label_path
    rows = official_test_rows(d.name, label_path)
    subtitles = read_official_subtitles(d.name, d.folder, problems)
    media = MediaFolder(d.folder, root, files.videos)

    def convert(row: dict, line: int | None) -> dict:
        key, gt = row["name"], row["gt"]
        if spec.task == "openset":
            fields = {"openset": parse_label_list(gt)}
        elif spec.task == "sentiment":
            fields = {"valence": gt}
        else:
            fields = {"labels": [gt]}
        try:
            found = media.find(key)
        except InputError as e:
            raise InputError(e.reason if line else f"{e.reason} (sample {key!r} of "
                             f"{files.split})") from None
        meta = {"dataset": d.name, "name": key, "task": spec.task, "layout": "official",
                "gt": gt, "subtitle": subtitles.get(key)}
        return sample(id=f"{d.name}/{key}", source=d.name.lower(), media=[found],
                      meta={k: v for k, v in meta.items() if v is not None}, **fields)

    yield from convert_each(label_path, ((line, {"name": key, "gt": gt})
                                         for key, gt, line in rows), problems, convert)


# ---------------------------------------------------------------------------- project CSV layout

def _csv_records(d: DatasetFolder, root: Path, problems: Problems) -> Iterator[Record]:
    spec = MER_UNIBENCH_DATASETS[d.name]
    label_path = d.label_path
    column = label_column(label_path, spec)
    subtitles = read_subtitles(d.folder / SUBTITLE_FILE, problems)
    media = MediaFolder(d.folder, root)

    def convert(row: dict, line: int) -> dict:
        key = row.get("name", "")
        if not key:
            raise InputError("missing required field(s): name")
        value = row.get(column, "")
        fields = label_fields(spec.task, column, value)
        gt = fields["valence"] if spec.task == "sentiment" else value
        meta = {"dataset": d.name, "name": key, "task": spec.task, "layout": "csv", "gt": gt,
                "subtitle": subtitles.get(key)}
        return sample(id=f"{d.name}/{key}", source=d.name.lower(), media=[media.find(key)],
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


def read_subtitles(path: Path, problems: Problems, column: str = "english") -> dict[str, str]:
    """name -> subtitle from an optional ``name,<column>`` CSV."""
    if not path.is_file():
        return {}
    try:
        return {row["name"]: row[column] for _, row in iter_csv(path, ("name", column))}
    except InputError as e:
        problems.add(locate(e, path, None))
        return {}
