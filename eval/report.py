"""Report files: ``report.json`` (every number and the config), ``report.md`` (tables) and the
reference rows of published numbers.

Reference YAML (``--reference FILE.yaml``; `eval/published.yaml` is a template)::

    benchmark: mer-unibench
    rows:
      - name: Some model (Author et al., 2025)
        source: paper, table and page the numbers come from
        scores: {OV-MERD+: 55.1, MER2023: 60.2, ...}   # x100, as in the paper; Mean optional
      - name: ...
        placeholder: true      # rows marked placeholder are never shown

Data set keys are matched like folder names (case, '-', '_' ignored; ``+`` = ``plus``); a missing
key is shown as ``-``. When ``Mean`` is absent it is computed as the unweighted mean of the nine
scores, only if all nine are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path

from affectllm.data.readers.mer_unibench import MER_UNIBENCH_DATASETS, folder_key
from affectllm.errors import InputError
from affectllm.io import read_yaml, write_json, write_text

MER_COLUMNS: tuple[str, ...] = tuple(MER_UNIBENCH_DATASETS)
MEAN = "Mean"


@dataclass
class ReferenceRow:
    name: str
    source: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    mean: float | None = None


def _number(value: object, where: str, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{where}: expected a number or null, got {value!r}", path=path)
    return float(value)


def load_reference(path: str | Path) -> tuple[list[ReferenceRow], int]:
    """(rows to show, number of placeholder rows skipped) from a reference YAML (module docstring).
    InputError for an unknown data set key, a non-number, or a malformed file."""
    path = Path(path)
    doc = read_yaml(path)
    rows = doc.get("rows")
    if not isinstance(rows, list):
        raise InputError("expected a top-level 'rows' list", path=path)
    by_key = {folder_key(n): n for n in MER_COLUMNS}
    shown, placeholders = [], 0
    for k, entry in enumerate(rows, start=1):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise InputError(f"row {k}: expected a mapping with a 'name'", path=path)
        if entry.get("placeholder"):
            placeholders += 1
            continue
        raw = entry.get("scores") or {}
        if not isinstance(raw, dict):
            raise InputError(f"row {k} ({entry['name']}): 'scores' must be a mapping", path=path)
        row = ReferenceRow(str(entry["name"]), str(entry.get("source") or ""))
        for key, value in raw.items():
            if folder_key(str(key)) == folder_key(MEAN):
                row.mean = _number(value, f"row {k} {key}", path)
                continue
            name = by_key.get(folder_key(str(key)))
            if name is None:
                raise InputError(f"row {k} ({entry['name']}): unknown data set {key!r}; expected "
                                 f"{', '.join(MER_COLUMNS)} or {MEAN}", path=path)
            row.scores[name] = _number(value, f"row {k} {key}", path)
        if row.mean is None and all(row.scores.get(n) is not None for n in MER_COLUMNS):
            row.mean = sum(row.scores[n] for n in MER_COLUMNS) / len(MER_COLUMNS)  # type: ignore[misc]
        shown.append(row)
    return shown, placeholders


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                   align_right_from: int = 1) -> str:
    """A GitHub Markdown table; columns from `align_right_from` on are right-aligned."""
    sep = ["---" if i < align_right_from else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mer_unibench_table(ours_name: str, ours: dict[str, float | None], ours_mean: float | None,
                       references: Sequence[ReferenceRow] = ()) -> str:
    """The published MER-UniBench layout: one row per model, the nine data sets then Mean (x100)."""
    headers = ["Model", *MER_COLUMNS, MEAN]
    rows = [[f"**{ours_name}** (this run)", *(fmt(ours.get(n)) for n in MER_COLUMNS),
             fmt(ours_mean)]]
    for ref in references:
        rows.append([ref.name, *(fmt(ref.scores.get(n)) for n in MER_COLUMNS), fmt(ref.mean)])
    return markdown_table(headers, rows)


def write_report(out: Path, report: dict, markdown: str) -> None:
    """``out/report.json`` and ``out/report.md`` (atomically)."""
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown.rstrip() + "\n")


def skipped_section(skipped: Sequence[dict], limit: int = 50) -> str:
    """A Markdown list of skipped samples (the first `limit`), or an empty string."""
    if not skipped:
        return ""
    lines = [f"## Skipped samples ({len(skipped)})", ""]
    for s in skipped[:limit]:
        where = s.get("file") or ""
        if s.get("line"):
            where += f":{s['line']}"
        lines.append(f"- {s.get('dataset', '')} {s.get('name') or s.get('id') or ''}: "
                     f"{s['reason']}" + (f" ({where})" if where else ""))
    if len(skipped) > limit:
        lines.append(f"- ... and {len(skipped) - limit} more (see report.json)")
    return "\n".join(lines) + "\n"
