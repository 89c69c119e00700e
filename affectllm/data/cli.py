"""``affectllm data``: convert published corpora, validate them, render the toy faces, count things.

    affectllm data convert SRC --format F --out DIR [--root ROOT] [--hf] [--skip-invalid]
    affectllm data validate SRC [--format F] [--labels a,b,c] [--max-errors N]
    affectllm data toyfaces OUT [--n 4000] [--seed 0] [--size 112]
    affectllm data stats SRC [--format F]

Converting copies no media. ``DIR/data.jsonl`` keeps media paths relative to the corpus's data root
and ``DIR/convert_config.json`` records that root as ``data_root`` (with the resolved arguments and
the counts); `affectllm.data.schema.data_root` reads it back, so ``--format jsonl DIR/data.jsonl``
finds the media wherever DIR is. Files are written atomically: a failed conversion leaves nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from affectllm import __version__
from affectllm.data.readers import READERS, Problems, first_problem, iter_records, resolve_root
from affectllm.data.schema import CONVERT_CONFIG, to_hf_dataset
from affectllm.errors import InputError
from affectllm.io import atomic_open, current_umask, ensure_output_dir, write_json
from affectllm.progress import progress

DATA_FILE = "data.jsonl"
HF_DIR = "hf"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` and its actions to the top-level CLI."""
    parser = subparsers.add_parser(
        "data", help="convert, validate and generate emotion data sets",
        description="Read the emotion-reasoning corpora in their published layouts, check them, "
                    "and generate the procedural FACS faces data set.")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    formats = ", ".join(READERS)

    p = actions.add_parser(
        "convert", help="convert a corpus to the canonical schema (DIR/data.jsonl)",
        description="Read SRC in its published layout and write DIR/data.jsonl in the canonical "
                    "schema plus DIR/convert_config.json (arguments, counts and the data root the "
                    "media paths are relative to; no media are copied). Refuses a source with "
                    "problems unless --skip-invalid.")
    p.add_argument("src", metavar="SRC", help="the corpus file or folder")
    p.add_argument("--format", "-f", required=True, choices=READERS, help=f"one of: {formats}")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--root", "--media-root", dest="root", metavar="ROOT",
                   help="folder media paths are relative to, e.g. where EMER's clips are kept "
                        "(default: depends on the format; usually the folder of SRC)")
    p.add_argument("--hf", action="store_true",
                   help="also write an HF dataset with `save_to_disk` to DIR/hf")
    p.add_argument("--skip-invalid", action="store_true",
                   help="leave out records with problems (counted) instead of failing")
    p.set_defaults(func=cmd_convert)

    p = actions.add_parser(
        "validate", help="report every problem of a corpus with its file and line",
        description="Print FILE:LINE: reason for each problem (malformed JSON, missing fields, "
                    "unknown AU codes, labels outside the label set, missing or unreadable media, "
                    "media paths escaping the data root, duplicate ids), then a summary. Exit 2 "
                    "if anything is wrong (the first problem is repeated on stderr), 0 if clean.")
    p.add_argument("src", metavar="SRC", help="the corpus file or folder")
    p.add_argument("--format", "-f", default="jsonl", choices=READERS,
                   help=f"one of: {formats} (default: jsonl)")
    p.add_argument("--labels", metavar="A,B,C",
                   help="the allowed labels (default: FACIAL_LABELS for fea20k and toyfaces, "
                        "no check otherwise)")
    p.add_argument("--root", "--media-root", dest="root", metavar="ROOT",
                   help="folder media paths are relative to")
    p.add_argument("--max-errors", type=int, metavar="N", help="stop after N problems")
    p.set_defaults(func=cmd_validate)

    p = actions.add_parser(
        "toyfaces", help="render the procedural FACS faces data set",
        description="Render N stylised faces showing the EMFACS prototypes of the eight Facial-R1 "
                    "emotions and write OUT/{train,validation,test}.jsonl with OUT/images/. The "
                    "same seed gives byte-identical files.")
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument("--n", type=int, default=4000, help="number of faces (default: 4000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--size", type=int, default=112, help="image side in pixels (default: 112)")
    p.add_argument("--splits", default="0.8,0.1,0.1", metavar="TRAIN,VAL,TEST",
                   help="split fractions (default: 0.8,0.1,0.1)")
    p.add_argument("--workers", type=int, default=None,
                   help="rendering processes (default: 1; output is the same for any number)")
    p.add_argument("--variation", type=float, default=1.0,
                   help="nuisance variation (face shape, skin, position, rotation, background) "
                        "from 0 (one fixed face and scene) to 1 (default: 1)")
    p.add_argument("--reasoning", choices=("sentences", "codes"), default="sentences",
                   help="templated reasoning: one sentence per AU, or the AU codes only")
    p.add_argument("--video-frames", type=int, default=0, metavar="N",
                   help="write short MPEG-4 clips of N frames (neutral -> expression) instead of "
                        "images (default: 0, images)")
    p.set_defaults(func=cmd_toyfaces)

    p = actions.add_parser(
        "stats", help="count samples, labels, AUs and media of a corpus",
        description="Read SRC and print counts by source, label, open-set word, AU and media type.")
    p.add_argument("src", metavar="SRC", help="the corpus file or folder")
    p.add_argument("--format", "-f", default="jsonl", choices=READERS,
                   help=f"one of: {formats} (default: jsonl)")
    p.add_argument("--root", metavar="ROOT", help="folder media paths are relative to")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=cmd_stats)


def cmd_convert(args: argparse.Namespace) -> int:
    """``affectllm data convert``."""
    src, out = Path(args.src), Path(args.out)
    root = resolve_root(src, args.format, args.root)
    ensure_output_dir(out)
    problems, ids, n = Problems(), set(), 0
    data_path = out / DATA_FILE
    # The config is written first (a data.jsonl never stands without its data root) and put back
    # as it was when data.jsonl then cannot be written.
    with _restored_on_error(out / CONVERT_CONFIG), atomic_open(data_path) as f:
        for record in progress(iter_records(src, args.format, problems, root),
                               desc=f"converting {args.format}", unit="rec"):
            if record.sample["id"] in ids:
                problems.add(InputError(f"duplicate id {record.sample['id']!r}", record.path,
                                        record.line))
                continue
            ids.add(record.sample["id"])
            f.write(json.dumps(record.sample, ensure_ascii=False) + "\n")
            n += 1
        if problems.items and not args.skip_invalid:
            for problem in problems.items:
                print(problem, file=sys.stderr)
            raise InputError(f"{len(problems.items)} problem(s) in {src}; nothing written (fix "
                             "them, or pass --skip-invalid to leave those records out)")
        if n == 0:
            raise InputError(f"no valid records in {src}; nothing written")
        config = {"format": args.format, "src": str(src.resolve()), "out": str(out.resolve()),
                  "data_root": str(root), "hf": args.hf, "skip_invalid": args.skip_invalid,
                  "counts": {"samples": n, "dropped": dict(problems.dropped),
                             "skipped_invalid": len(problems.items)},
                  "affectllm_version": __version__}
        write_json(out / CONVERT_CONFIG, config)
    dropped = sum(problems.dropped.values()) + len(problems.items)
    print(f"wrote {n} samples to {data_path} (media relative to {root}"
          + (f"; {dropped} record(s) left out" if dropped else "") + ")")
    if args.hf:
        save_hf(data_path, root, out / HF_DIR)
        print(f"wrote HF dataset to {out / HF_DIR}")
    return 0


@contextlib.contextmanager
def _restored_on_error(path: Path) -> Iterator[None]:
    """Put the file at `path` back as it was before the block (or remove it) if the block fails."""
    before = path.read_bytes() if path.is_file() else None
    try:
        yield
    except BaseException:
        if before is None:
            path.unlink(missing_ok=True)
        elif path.is_file() and path.read_bytes() != before:
            with atomic_open(path, "wb") as f:
                f.write(before)
        raise


def save_hf(data_path: Path, root: Path, target: Path) -> None:
    """`save_to_disk` the canonical file as an HF dataset, replacing `target` only when complete."""
    dataset = to_hf_dataset(data_path, root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it 0700
        dataset.save_to_disk(str(tmp))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cmd_validate(args: argparse.Namespace) -> int:
    """``affectllm data validate``."""
    from affectllm.data.validate import validate

    labels = None if args.labels is None else [x for x in args.labels.split(",") if x.strip()]
    report = validate(args.src, args.format, labels=labels, root=args.root,
                      max_errors=args.max_errors)
    for problem in report.problems:
        print(problem)
    print(report.summary())
    if not report.ok:  # the report is on stdout; the first problem also ends the run on stderr
        raise first_problem(report.problems)
    return 0


def cmd_toyfaces(args: argparse.Namespace) -> int:
    """``affectllm data toyfaces``."""
    from affectllm.data.toyfaces import generate_toyfaces

    try:
        splits = tuple(float(x) for x in args.splits.split(","))
    except ValueError:
        raise InputError(f"--splits must be three numbers like 0.8,0.1,0.1, got {args.splits!r}") \
            from None
    start = time.perf_counter()
    try:
        paths = generate_toyfaces(args.out, n=args.n, seed=args.seed, size=args.size,
                                  splits=splits, workers=args.workers,
                                  variation=args.variation, reasoning=args.reasoning,
                                  video_frames=args.video_frames)
    except ValueError as e:
        raise InputError(str(e)) from None
    counts = {split: sum(1 for _ in path.open(encoding="utf-8")) for split, path in paths.items()}
    print(f"rendered {args.n} faces in {time.perf_counter() - start:.1f}s to {args.out}: "
          + ", ".join(f"{split} {k}" for split, k in counts.items()))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``affectllm data stats``."""
    problems = Problems()
    counts: dict[str, Counter] = {k: Counter() for k in ("source", "labels", "openset", "aus",
                                                         "media")}
    n = valence = 0
    for record in iter_records(args.src, args.format, problems, args.root):
        s = record.sample
        n += 1
        valence += s["valence"] is not None
        counts["source"][s["source"]] += 1
        for key in ("labels", "openset", "aus"):
            counts[key].update(s[key])
        counts["media"].update(m["type"] for m in s["media"])
    result = {"samples": n, "with_valence": valence, "problems": len(problems.items),
              "dropped": dict(problems.dropped),
              **{k: dict(c.most_common()) for k, c in counts.items()}}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(f"samples: {n}  with valence: {valence}  problems: {len(problems.items)}  "
              f"dropped: {sum(problems.dropped.values())}")
        for key, counter in counts.items():
            top = ", ".join(f"{k} {v}" for k, v in counter.most_common(20))
            print(f"{key}: {top or '-'}")
    if problems.items:
        print("run `affectllm data validate` to see the problems", file=sys.stderr)
    return 0
