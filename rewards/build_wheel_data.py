"""Rebuild ``rewards/data/emotion_wheel.json.gz`` from the official emotion-wheel files.

The official files (AffectGPT repository, folder ``emotion_wheel``, Apache-2.0) are ``wheel1.xlsx`` ..
``wheel5.xlsx``, ``synonym.xlsx`` and ``format.csv``. This converter only *dumps* their cells into one
small gzip JSON file; every rule of the metric (blank cells inheriting the value above, lower-casing,
list parsing, the maps) is applied at run time by `rewards.wheel_data`, so the semantics live in one
place and the data file stays a faithful copy of the sources.

Usage (needs ``openpyxl``, i.e. ``pip install affectllm[convert]``)::

    python -m rewards.build_wheel_data /path/to/emotion_wheel [--out rewards/data/emotion_wheel.json.gz]

The output is byte-for-byte reproducible (sorted keys, gzip mtime 0).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from pathlib import Path

DEFAULT_OUT = Path(__file__).parent / "data" / "emotion_wheel.json.gz"
N_WHEELS = 5
N_RUNS = 8
FORMAT_VERSION = 1


def _cell(value: object) -> str | None:
    """A cell as text, or None when blank (so the reader can apply the inherit-from-above rule)."""
    if value is None:
        return None
    text = str(value)
    return None if text == "" else text


def _read_xlsx(path: Path, columns: list[str]) -> list[list[str | None]]:
    """Rows of the first sheet of `path` restricted to `columns` (found by header name).

    Fully blank rows are dropped: in the official reader such a row only repeats the previous one,
    which changes none of the maps.
    """
    import openpyxl  # only the converter needs it

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows)]
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{path}: missing columns {missing} (found {header})")
        index = [header.index(c) for c in columns]
        out = []
        for row in rows:
            cells = [_cell(row[i]) if i < len(row) else None for i in index]
            if any(c is not None for c in cells):
                out.append(cells)
        return out
    finally:
        workbook.close()


def _read_format_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"name", "format"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected columns name, format (found {reader.fieldnames})")
        return [[row["name"] or "", row["format"] or ""] for row in reader]


def build(source: Path) -> dict:
    """Read the official files under `source` and return the JSON-ready dump."""
    wheels = [
        _read_xlsx(source / f"wheel{w}.xlsx", ["level1", "level2", "level3"])
        for w in range(1, N_WHEELS + 1)
    ]
    columns = [c for r in range(1, N_RUNS + 1) for c in (f"word_run{r}", f"synonym_run{r}")]
    synonym_rows = _read_xlsx(source / "synonym.xlsx", columns)
    synonym_runs = [
        [[row[2 * r] or "", row[2 * r + 1] or ""] for row in synonym_rows if row[2 * r] is not None]
        for r in range(N_RUNS)
    ]
    return {
        "version": FORMAT_VERSION,
        "source": "AffectGPT repository (github.com/zeroQiaoba/AffectGPT), folder emotion_wheel",
        "license": "Apache-2.0",
        "wheels": wheels,
        "synonym_runs": synonym_runs,
        "format": _read_format_csv(source / "format.csv"),
    }


def write(data: dict, out: Path) -> None:
    """Write `data` as deterministic gzip JSON (atomic rename)."""
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                               filename="", compresslevel=9) as gz:
        gz.write(payload.encode("utf-8"))
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder holding wheel1..5.xlsx, synonym.xlsx, format.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    data = build(args.source)
    write(data, args.out)
    n_forms = sum(len(f.split(",")) for _, f in data["format"])
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): "
          f"{len(data['format'])} format rows, {n_forms} surface forms, "
          f"{sum(len(r) for r in data['synonym_runs'])} synonym entries, "
          f"{sum(len(w) for w in data['wheels'])} wheel rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
