"""``affectllm score``: MER-UniBench scorers on CSV files.

    affectllm score ew        --gt GT.csv --pred PRED.csv [--level 1|2] [--json]   # name,openset / name,openset
    affectllm score hit       --gt GT.csv --pred PRED.csv [--json]                 # name,label   / name,openset
    affectllm score sentiment --gt GT.csv --pred PRED.csv [--json]                 # name,valence / name,sentiment

``--json`` prints one JSON object (``ew``: fscore, precision, recall, n; ``hit``: hit_rate, n;
``sentiment``: weighted_f1, accuracy, n); otherwise a short table. ``--out FILE`` also writes that
object to FILE (atomically). Samples are taken in the order of the GT file. Exit 2 on bad input:
unreadable file, missing column, empty or duplicate name (file and line named), or names present in
one file and not the other (the names are listed).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from affectllm.errors import InputError
from affectllm.io import iter_csv_rows, write_json
from eval.scorers import ew_dataset_score, hit_rate, polarity, sentiment_scores

#: subcommand -> (GT value column, PRED value column)
COLUMNS = {
    "ew": ("openset", "openset"),
    "hit": ("label", "openset"),
    "sentiment": ("valence", "sentiment"),
}


def read_named_column(path: str | Path, column: str) -> dict[str, tuple[str, int]]:
    """``name -> (value, line)`` from a CSV with columns ``name`` and `column` (others ignored), in
    file order. InputError for an unreadable file, a missing column, an empty or duplicate name."""
    path = Path(path)
    out: dict[str, tuple[str, int]] = {}
    rows = iter_csv_rows(path)  # bad UTF-8 or malformed CSV: InputError at its line
    header = next(rows, (1, None))[1]
    if header is None:
        raise InputError("empty file: expected a header row", path=path, line=1)
    stripped = [h.strip() for h in header]
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


def _paired(args: argparse.Namespace) -> tuple[list[str], dict, dict]:
    gt_col, pred_col = COLUMNS[args.score]
    gt = read_named_column(args.gt, gt_col)
    pred = read_named_column(args.pred, pred_col)
    only_gt = [n for n in gt if n not in pred]
    only_pred = [n for n in pred if n not in gt]
    if only_gt or only_pred:
        parts = []
        for names, where, other in ((only_gt, args.gt, args.pred), (only_pred, args.pred, args.gt)):
            if names:
                shown = ", ".join(names[:20]) + (f", ... ({len(names) - 20} more)" if len(names) > 20 else "")
                parts.append(f"{len(names)} name(s) in {where} but not in {other}: {shown}")
        raise InputError("the files do not hold the same names: " + "; ".join(parts))
    if not gt:
        raise InputError("no samples", path=args.gt)
    return list(gt), gt, pred


def _score_ew(args: argparse.Namespace) -> tuple[dict, list[str]]:
    names, gt, pred = _paired(args)
    result = ew_dataset_score([gt[n][0] for n in names], [pred[n][0] for n in names], args.level)
    payload = {"fscore": result.fscore, "precision": result.precision, "recall": result.recall,
               "n": result.n}
    lines = [f"EW score, level {args.level}: {result.n} of {len(names)} samples counted",
             f"{'wheel':<8}{'F-score':>10}{'precision':>11}{'recall':>10}{'n':>7}"]
    for w, s in enumerate(result.per_wheel, start=1):
        lines.append(f"{w:<8}{s.fscore:>10.4f}{s.precision:>11.4f}{s.recall:>10.4f}{s.n:>7}")
    lines.append(f"{'mean':<8}{result.fscore:>10.4f}{result.precision:>11.4f}{result.recall:>10.4f}")
    return payload, lines


def _score_hit(args: argparse.Namespace) -> tuple[dict, list[str]]:
    names, gt, pred = _paired(args)
    result = hit_rate([gt[n][0] for n in names], [pred[n][0] for n in names])
    payload = {"hit_rate": result.hit_rate, "n": result.n}
    lines = [f"HIT rate: {result.n} of {len(names)} samples counted",
             f"{'wheel':<8}{'hit rate':>10}{'n':>7}"]
    for w, (rate, n) in enumerate(result.per_wheel, start=1):
        lines.append(f"{w:<8}{rate:>10.4f}{n:>7}")
    lines.append(f"{'mean':<8}{result.hit_rate:>10.4f}")
    return payload, lines


def _score_sentiment(args: argparse.Namespace) -> tuple[dict, list[str]]:
    names, gt, pred = _paired(args)
    valences, predictions = [], []
    for name in names:
        text, line = gt[name]
        try:
            valence = float(text)
        except ValueError:
            raise InputError(f"valence {text!r} is not a number", path=args.gt, line=line) from None
        if not math.isfinite(valence):
            raise InputError(f"valence {text!r} is not finite", path=args.gt, line=line)
        value, pline = pred[name]
        try:
            polarity(value)
        except ValueError as e:
            raise InputError(str(e), path=args.pred, line=pline) from None
        valences.append(valence)
        predictions.append(value)
    try:
        result = sentiment_scores(valences, predictions)
    except ValueError as e:
        raise InputError(str(e), path=args.gt) from None
    payload = {"weighted_f1": result.weighted_f1, "accuracy": result.accuracy, "n": result.n}
    lines = [f"Sentiment: {result.n} of {len(names)} samples with non-zero valence",
             f"{'weighted F1':<14}{result.weighted_f1:>8.4f}",
             f"{'accuracy':<14}{result.accuracy:>8.4f}"]
    return payload, lines


_SCORERS = {"ew": _score_ew, "hit": _score_hit, "sentiment": _score_sentiment}


def run(args: argparse.Namespace) -> int:
    payload, lines = _SCORERS[args.score](args)
    if args.out is not None:
        write_json(args.out, payload)
    print(json.dumps(payload) if args.json else "\n".join(lines))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``score`` with sub-subcommands ``ew``, ``hit`` and ``sentiment``."""
    parser = subparsers.add_parser(
        "score", help="score predictions with the MER-UniBench metrics (EW, HIT, sentiment)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="score", metavar="METRIC", required=True)
    helps = {
        "ew": "emotion-wheel F-score of open-vocabulary label lists (GT name,openset; PRED name,openset)",
        "hit": "HIT rate on one-label data sets (GT name,label; PRED name,openset)",
        "sentiment": "weighted F1 and accuracy of polarity (GT name,valence; PRED name,sentiment)",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--gt", required=True, type=Path, help="ground-truth CSV")
        p.add_argument("--pred", required=True, type=Path, help="prediction CSV")
        if name == "ew":
            p.add_argument("--level", type=int, choices=(1, 2), default=1,
                           help="wheel level (MER-UniBench reports level 1)")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--out", type=Path, default=None, help="also write the JSON object here")
        p.set_defaults(func=run)
