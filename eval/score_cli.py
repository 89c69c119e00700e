"""``affectllm score``: the MER-UniBench scorers on the official files or on CSV files.

    affectllm score ew        --gt GT --pred PRED [--dataset NAME] [--level 1|2] [--json]
    affectllm score hit       --gt GT --pred PRED [--dataset NAME] [--json]
    affectllm score sentiment --gt GT --pred PRED [--dataset NAME] [--json]
    affectllm score mer-unibench --data-root dataset/ --results output/ --model NAME [--json]

GT is an official label file as released (``label-6way.npz``, ``label.npz``, ``label_4way.npz``,
``ovlabel.csv``: its test split is selected as upstream selects it) or a CSV with ``name`` and
``openset`` (ew) / ``label`` (hit) / ``valence`` (sentiment). PRED is an official extracted file
(``checkpoint_*-openset.npz`` / ``checkpoint_*-openset-sentiment.npz``: ``filenames`` +
``fileitems``) or a CSV with ``name`` and ``openset`` / ``sentiment``. The data set of an official
file is recognised from its folder names (``mer2023-dataset-process``, ``results-mer2023``);
``--dataset`` overrides. Samples are taken in GT order; every GT name needs a prediction
(prediction names not in the GT are ignored, as upstream). Sentiment replies are read by the
official rule (exactly ``positive`` / ``negative``, anything else 0); an unusual reply is never an
error.

``mer-unibench`` scores every data set of ``--data-root`` that has results for ``--model`` (best
checkpoint per data set, see `eval.mer_results`) and prints a readable table and the official table
line (``& 50.94 & ... & 58.89``: nine scores x100 in the official order, then their mean).

``--json`` prints one JSON object (``ew``: fscore, precision, recall, n; ``hit``: hit_rate, n;
``sentiment``: weighted_f1, accuracy, n; ``mer-unibench``: per data set numbers, ``line``,
``mean``); ``--out FILE`` also writes it (atomically). Exit 2 on bad input, naming the file (and
line).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from affectllm.data.readers.mer_unibench import MER_UNIBENCH_DATASETS, OFFICIAL, dataset_name
from affectllm.errors import InputError
from affectllm.io import write_json
from eval.mer_results import (
    aligned,
    dataset_from_path,
    official_line,
    read_gt,
    read_named_column,
    read_predictions,
    score_results,
    score_task,
)

#: subcommand -> (GT value column, PRED value column) of the CSV files
COLUMNS = {
    "ew": ("openset", "openset"),
    "hit": ("label", "openset"),
    "sentiment": ("valence", "sentiment"),
}
TASK_OF = {"ew": "openset", "hit": "hit", "sentiment": "sentiment"}


def _is_official_gt(path: Path) -> bool:
    return path.suffix.lower() == ".npz" or path.name in {f.label_file for f in OFFICIAL.values()}


def _dataset(args: argparse.Namespace) -> str | None:
    if args.dataset:
        name = dataset_name(args.dataset)
        if name is None:
            raise InputError(f"unknown --dataset {args.dataset!r}; MER-UniBench has "
                             f"{', '.join(MER_UNIBENCH_DATASETS)}")
        return name
    return dataset_from_path(args.gt) or dataset_from_path(args.pred)


def _csv_gt(args: argparse.Namespace) -> dict[str, object]:
    rows = read_named_column(args.gt, COLUMNS[args.score][0])
    if args.score != "sentiment":
        return {n: v for n, (v, _) in rows.items()}
    out: dict[str, object] = {}
    for name, (text, line) in rows.items():
        try:
            valence = float(text)
        except ValueError:
            raise InputError(f"valence {text!r} is not a number", path=args.gt, line=line) from None
        if not math.isfinite(valence):
            raise InputError(f"valence {text!r} is not finite", path=args.gt, line=line)
        out[name] = valence
    return out


def score_files(args: argparse.Namespace) -> dict:
    """The numbers of ``score ew|hit|sentiment`` (see the module docstring)."""
    name = _dataset(args)
    if _is_official_gt(args.gt):
        if name is None:
            raise InputError("cannot tell which data set this official label file belongs to "
                             "(its folder is not an official one); pass --dataset", path=args.gt)
        gt = read_gt(args.gt, name)
    else:
        gt = _csv_gt(args)
    pred = read_predictions(args.pred, COLUMNS[args.score][1])
    names = aligned(gt, pred, args.gt, args.pred)
    try:
        numbers = score_task(TASK_OF[args.score], [gt[n] for n in names], [pred[n] for n in names],
                             getattr(args, "level", 1))
    except ValueError as e:
        raise InputError(str(e), path=args.gt) from None
    return {**numbers, "dataset": name, "n_samples": len(names),
            "n_ignored": sum(1 for n in pred if n not in gt)}


_PAYLOAD_KEYS = {"ew": ("fscore", "precision", "recall", "n"), "hit": ("hit_rate", "n"),
                 "sentiment": ("weighted_f1", "accuracy", "n")}


def _table(args: argparse.Namespace, r: dict) -> list[str]:
    of = f"{r['n']} of {r['n_samples']}"
    if args.score == "ew":
        lines = [f"EW score, level {args.level}: {of} samples counted",
                 f"{'wheel':<8}{'F-score':>10}{'precision':>11}{'recall':>10}{'n':>7}"]
        lines += [f"{w:<8}{f:>10.4f}{p:>11.4f}{rc:>10.4f}{n:>7}"
                  for w, (f, p, rc, n) in enumerate(r["per_wheel"], start=1)]
        lines.append(f"{'mean':<8}{r['fscore']:>10.4f}{r['precision']:>11.4f}{r['recall']:>10.4f}")
    elif args.score == "hit":
        lines = [f"HIT rate: {of} samples counted", f"{'wheel':<8}{'hit rate':>10}{'n':>7}"]
        lines += [f"{w:<8}{rate:>10.4f}{n:>7}" for w, (rate, n) in enumerate(r["per_wheel"], 1)]
        lines.append(f"{'mean':<8}{r['hit_rate']:>10.4f}")
    else:
        lines = [f"Sentiment: {of} samples with non-zero valence",
                 f"{'weighted F1':<14}{r['weighted_f1']:>8.4f}",
                 f"{'accuracy':<14}{r['accuracy']:>8.4f}"]
    if r["dataset"]:
        lines.insert(0, f"data set: {r['dataset']}")
    if r["n_ignored"]:
        lines.append(f"{r['n_ignored']} prediction(s) without a ground truth ignored")
    return lines


def run_files(args: argparse.Namespace) -> int:
    result = score_files(args)
    payload = {k: result[k] for k in _PAYLOAD_KEYS[args.score]}
    if args.out is not None:
        write_json(args.out, payload)
    print(json.dumps(payload) if args.json else "\n".join(_table(args, result)))
    return 0


def run_benchmark(args: argparse.Namespace) -> int:
    results = score_results(args.data_root, args.results, args.model)
    scores = {n: r.score for n, r in results.items()}
    line = official_line(scores)
    present = [s for s in scores.values() if s is not None]
    payload = {"model": args.model, "line": line,
               "mean": float(np.mean(present)) if present else None,
               "complete": len(present) == len(MER_UNIBENCH_DATASETS),
               "datasets": {n: r.as_dict() for n, r in results.items()}}
    if args.out is not None:
        write_json(args.out, payload)
    if args.json:
        print(json.dumps(payload))
        return 0
    header = f"{'data set':<13}{'metric':<13}{'score x100':>11}  best checkpoint"
    rows = [header]
    for n in MER_UNIBENCH_DATASETS:
        r = results.get(n)
        if r is None or r.best is None:
            why = "no data set" if r is None else ("no result folder" if r.folder is None
                                                   else "no extracted checkpoint")
            rows.append(f"{n:<13}{'-':<13}{'-':>11}  ({why})")
            continue
        best = r.checkpoints[r.best]
        rows.append(f"{n:<13}{best['metric']:<13}{100 * best['score']:>11.2f}  {r.best}")
    rows.append(f"{'mean':<13}{'':<13}{100 * payload['mean']:>11.2f}" if present else "mean -")
    print("\n".join(rows))
    print(f"{args.model} {line}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``score`` with ``ew``, ``hit``, ``sentiment`` and ``mer-unibench``."""
    parser = subparsers.add_parser(
        "score", help="score predictions with the MER-UniBench metrics (official files or CSV)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="score", metavar="METRIC", required=True)
    helps = {
        "ew": "emotion-wheel F-score of open-vocabulary label lists (OV-MERD+)",
        "hit": "HIT rate on one-label data sets (MER2023, MER2024, MELD, IEMOCAPFour)",
        "sentiment": "weighted F1 and accuracy of sentiment replies (CMU-MOSI/MOSEI, SIMS, SIMSv2)",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--gt", required=True, type=Path,
                       help=f"official label file, or CSV name,{COLUMNS[name][0]}")
        p.add_argument("--pred", required=True, type=Path,
                       help=f"official extracted .npz, or CSV name,{COLUMNS[name][1]}")
        p.add_argument("--dataset", default=None,
                       help="data set of official files (default: from their folder names)")
        if name == "ew":
            p.add_argument("--level", type=int, choices=(1, 2), default=1,
                           help="wheel level (MER-UniBench reports level 1)")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--out", type=Path, default=None, help="also write the JSON object here")
        p.set_defaults(func=run_files)
    p = sub.add_parser("mer-unibench", help="score every data set of a model's official result "
                       "files and print the official table line")
    p.add_argument("--data-root", "--data_root", dest="data_root", required=True, type=Path,
                   help="the official dataset/ folder")
    p.add_argument("--results", required=True, type=Path,
                   help="the folder holding results-<dataset>/<model>/ (AffectGPT's output/)")
    p.add_argument("--model", required=True, help="the model folder name (or its prefix)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON object here")
    p.set_defaults(func=run_benchmark)
