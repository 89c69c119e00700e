"""Score MER-UniBench files as the official release keeps them: ground truths from the official
label files (`affectllm.data.readers.mer_unibench.official_test_rows`), predictions from
AffectGPT's result files, best checkpoint per data set and the official table line.

Result files (AffectGPT ``evaluation-scoreonly.py``)::

    output/results-<ds>/<model>/checkpoint_*.npz                    name2reason (descriptions)
                                checkpoint_*-openset.npz            filenames, fileitems (word lists)
                                checkpoint_*-openset-sentiment.npz  filenames, fileitems (replies)

``<ds>`` is the data set's upstream name in lower case (``mer2023`` ... ``ovmerdplus``). When
``results-<ds>/<model>`` does not exist, the folder ``results-<ds>/<model>*`` holding the most
``checkpoint_*`` files without ``-`` is used (``search_for_result_root``). Each checkpoint (a
``checkpoint_*.npz`` without ``openset``/``sentiment`` in its file name) is scored from its
``-openset.npz`` (OV-MERD+: EW F-score; MER2023, MER2024, MELD, IEMOCAPFour: HIT rate) or its
``-openset-sentiment.npz`` (the four sentiment sets: weighted F1); the best checkpoint is the first
with the highest main score (``np.argmax``). A checkpoint whose extracted file is absent cannot be
scored without an extractor LLM; it is listed and left out. The table line is the nine main
scores x100 in the official order, then their mean (``np.mean``), each as ``& %.2f``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectllm.data.readers.mer_unibench import (
    MER_UNIBENCH_DATASETS,
    OFFICIAL,
    find_datasets,
    official_test_rows,
)
from affectllm.data.readers.safe_npz import load_npz, npz_value
from affectllm.errors import InputError
from affectllm.io import atomic_open, iter_csv_rows
from eval.scorers import ew_dataset_score, hit_rate, sentiment_scores

#: data set -> the ``<ds>`` of ``results-<ds>``
RESULTS_ID: dict[str, str] = {name: files.upstream.lower() for name, files in OFFICIAL.items()}
MAIN_METRIC = {"openset": "ew_fscore", "hit": "hit_rate", "sentiment": "weighted_f1"}
SCORE_SUFFIX = {"openset": "-openset.npz", "hit": "-openset.npz",
                "sentiment": "-openset-sentiment.npz"}


def dataset_from_path(path: str | Path) -> str | None:
    """The data set an official file belongs to, from its folder names (``mer2023-dataset-process``,
    ``results-mer2023``, ...), or None."""
    parts = Path(path).resolve().parts
    for part in reversed(parts):
        for name, files in OFFICIAL.items():
            if part == files.folder or part == f"results-{RESULTS_ID[name]}":
                return name
    return None


# ---------------------------------------------------------------------------------------- reading

def read_gt(path: Path, name: str) -> dict[str, object]:
    """name -> ground truth of data set `name` from its official label file (test split)."""
    return {key: gt for key, gt, _ in official_test_rows(name, path)}


def read_predictions(path: Path, column: str) -> dict[str, str]:
    """name -> prediction from an official ``filenames``/``fileitems`` ``.npz`` or a CSV with
    columns ``name`` and `column`. InputError for anything else (a ``name2reason`` file holds
    descriptions, which need the extraction step first)."""
    if path.suffix.lower() != ".npz":
        return {k: v for k, (v, _) in read_named_column(path, column).items()}
    arrays = load_npz(path)
    if "name2reason" in arrays and "fileitems" not in arrays:
        raise InputError("this file holds descriptions (name2reason); score its extracted "
                         "-openset.npz / -openset-sentiment.npz instead", path=path)
    names = npz_value(arrays, "filenames", path)
    items = npz_value(arrays, "fileitems", path)
    if not isinstance(names, list) or not isinstance(items, list) or len(names) != len(items):
        raise InputError("filenames and fileitems must be lists of the same length", path=path)
    for column, values in (("filenames", names), ("fileitems", items)):
        odd = next((k for k, v in enumerate(values) if not isinstance(v, str)), None)
        if odd is not None:
            raise InputError(f"{column}[{odd}] is a {type(values[odd]).__name__} "
                             f"({values[odd]!r:.60}), expected a string", path=path)
    return dict(zip(names, items))


def read_named_column(path: str | Path, column: str) -> dict[str, tuple[str, int]]:
    """``name -> (value, line)`` from a CSV with columns ``name`` and `column` (others ignored), in
    file order. InputError for an unreadable file (bad UTF-8 or malformed CSV at its line), a
    missing column, an empty or duplicate name."""
    path = Path(path)
    out: dict[str, tuple[str, int]] = {}
    rows = iter_csv_rows(path)
    header = next(rows, (1, None))[1]
    if header is None:
        raise InputError("empty file: expected a header row", path=path, line=1)
    stripped = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in ("name", column) if c not in stripped]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; found: "
                         f"{', '.join(stripped) or '(none)'}", path=path, line=1)
    name_at, value_at = stripped.index("name"), stripped.index(column)
    for line, row in rows:
        if not row:
            continue
        name = row[name_at].strip() if name_at < len(row) else ""
        if not name:
            raise InputError("empty name", path=path, line=line)
        if name in out:
            raise InputError(f"duplicate name {name!r} (first on line {out[name][1]})",
                             path=path, line=line)
        out[name] = (row[value_at] if value_at < len(row) else "", line)
    return out


def aligned(gt: dict[str, object], pred: dict[str, object], gt_path: Path,
            pred_path: Path) -> list[str]:
    """The GT names in GT order; InputError listing the GT names the predictions lack (the official
    scorer fails on them too). Prediction names absent from the GT are ignored, as upstream."""
    missing = [n for n in gt if n not in pred]
    if missing:
        extra = [n for n in pred if n not in gt]
        parts = [f"{len(missing)} name(s) in {gt_path} but not in {pred_path}: {_shown(missing)}"]
        if extra:
            parts.append(f"{len(extra)} name(s) in {pred_path} but not in {gt_path}: "
                         f"{_shown(extra)}")
        raise InputError("the predictions do not cover the ground truth: " + "; ".join(parts))
    if not gt:
        raise InputError("no samples", path=gt_path)
    return list(gt)


def _shown(names: Sequence[str], limit: int = 20) -> str:
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


# ---------------------------------------------------------------------------------------- scoring

def score_task(task: str, gts: Sequence[object], preds: Sequence[str], level: int = 1) -> dict:
    """The numbers of one data set's aligned ground truths and predictions: ``score`` (the main
    metric) and the others of its task (EW: precision, recall; sentiment: accuracy), ``n``."""
    if task == "openset":
        r = ew_dataset_score(gts, preds, level)  # type: ignore[arg-type]
        return {"metric": "ew_fscore", "score": r.fscore, "fscore": r.fscore,
                "precision": r.precision, "recall": r.recall, "n": r.n,
                "per_wheel": [[w.fscore, w.precision, w.recall, w.n] for w in r.per_wheel]}
    if task == "hit":
        h = hit_rate(gts, preds, level)  # type: ignore[arg-type]
        return {"metric": "hit_rate", "score": h.hit_rate, "hit_rate": h.hit_rate, "n": h.n,
                "per_wheel": [list(w) for w in h.per_wheel]}
    s = sentiment_scores([float(v) for v in gts], preds)  # type: ignore[arg-type]
    return {"metric": "weighted_f1", "score": s.weighted_f1, "weighted_f1": s.weighted_f1,
            "accuracy": s.accuracy, "n": s.n}


def find_model_folder(results: Path, name: str, model: str) -> Path | None:
    """``results/results-<ds>/<model>``, else the ``<model>*`` folder with the most checkpoint
    files without ``-`` (the first such in sorted order), else None."""
    base = results / f"results-{RESULTS_ID[name]}"
    exact = base / model
    if exact.is_dir():
        return exact
    if not base.is_dir():
        return None
    best, most = None, 0
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and p.name.startswith(model)):
        count = sum(1 for f in folder.iterdir()
                    if f.name.startswith("checkpoint_") and "-" not in f.name)
        if count > most:
            best, most = folder, count
    return best


def checkpoints(folder: Path) -> list[Path]:
    """The description files of a result folder, sorted (``openset``/``sentiment`` files excluded;
    upstream tests the whole path, we test the file name so a model name may contain the words)."""
    return [p for p in sorted(folder.glob("*.npz"))
            if "openset" not in p.name and "sentiment" not in p.name]


@dataclass
class DatasetResult:
    name: str
    folder: Path | None
    checkpoints: dict[str, dict] = field(default_factory=dict)   # file name -> numbers
    unscored: list[str] = field(default_factory=list)            # checkpoints without extraction
    best: str | None = None

    @property
    def score(self) -> float | None:
        return None if self.best is None else self.checkpoints[self.best]["score"]

    def as_dict(self) -> dict:
        return {"dataset": self.name, "folder": None if self.folder is None else str(self.folder),
                "best_checkpoint": self.best, "score": self.score,
                "best": None if self.best is None else self.checkpoints[self.best],
                "checkpoints": self.checkpoints, "unscored_checkpoints": self.unscored}


def score_results(data_root: Path, results: Path, model: str) -> dict[str, DatasetResult]:
    """Every official data set under `data_root` with results for `model` under `results`, scored
    checkpoint by checkpoint (module docstring). InputError when nothing can be scored."""
    if not results.is_dir():
        raise InputError("results folder not found (expected output/ with results-<dataset>/)",
                         path=results)
    out: dict[str, DatasetResult] = {}
    for d in find_datasets(data_root):
        if d.layout != "official":
            continue
        folder = find_model_folder(results, d.name, model)
        result = DatasetResult(d.name, folder)
        out[d.name] = result
        if folder is None:
            continue
        task = MER_UNIBENCH_DATASETS[d.name].task
        gt = read_gt(d.label_path, d.name)
        column = "sentiment" if task == "sentiment" else "openset"
        for ckpt in checkpoints(folder):
            scored = ckpt.with_name(ckpt.name[:-4] + SCORE_SUFFIX[task])
            if not scored.is_file():
                result.unscored.append(ckpt.name)
                continue
            pred = read_predictions(scored, column)
            names = aligned(gt, pred, d.label_path, scored)
            numbers = score_task(task, [gt[n] for n in names], [pred[n] for n in names])
            result.checkpoints[ckpt.name] = {**numbers, "file": str(scored)}
        if result.checkpoints:
            mains = [r["score"] for r in result.checkpoints.values()]
            result.best = list(result.checkpoints)[int(np.argmax(mains))]
    if not any(r.checkpoints for r in out.values()):
        looked = ", ".join(f"results-{RESULTS_ID[n]}/{model}*" for n in out) or "(no data set)"
        raise InputError(f"no scoreable result of model {model!r} (looked for {looked} with "
                         "checkpoint_*-openset.npz files)", path=results)
    return out


def official_line(scores: dict[str, float | None]) -> str:
    """``& s1 & ... & s9 & mean``: the main scores x100 with two decimals in the official order,
    then ``np.mean`` of them (as ``func_return_scores_one`` prints it). A data set without a score
    is shown as ``& -`` and left out of the mean."""
    values = [scores.get(n) for n in MER_UNIBENCH_DATASETS]
    present = [v for v in values if v is not None]
    cells = ["& -" if v is None else f"& {v * 100:.2f}" for v in values]
    mean = f"& {float(np.mean(present)) * 100:.2f}" if present else "& -"
    return " ".join([*cells, mean])


def write_official_results(results: Path, name: str, model: str, descriptions: dict[str, str],
                           words: dict[str, list[str]], replies: dict[str, str] | None = None,
                           checkpoint: str = "checkpoint_000000") -> Path:
    """One data set's outputs as AffectGPT's result files (module docstring), so that
    ``affectllm score mer-unibench --results <results>`` (or upstream's scorer) reads them:
    ``checkpoint.npz`` (name2reason), ``-openset.npz`` (word lists as ``[a, b]``) and, given
    `replies`, ``-openset-sentiment.npz``. Keys are the data set's sample names. Returns the
    folder."""
    folder = results / f"results-{RESULTS_ID[name]}" / model
    names = list(descriptions)
    files: dict[str, dict] = {
        f"{checkpoint}.npz": {"name2reason": descriptions},
        f"{checkpoint}-openset.npz": {"filenames": names,
                                      "fileitems": ["[" + ", ".join(words[n]) + "]"
                                                    for n in names]}}
    if replies is not None:
        files[f"{checkpoint}-openset-sentiment.npz"] = {
            "filenames": names, "fileitems": [replies[n] for n in names]}
    for file, arrays in files.items():
        with atomic_open(folder / file, "wb") as f:
            np.savez_compressed(f, **arrays)
    return folder
