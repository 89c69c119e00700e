"""Validation of a corpus in any reader format: every problem, each with its file and line.

What is checked, per record, on top of what the reader itself refuses (malformed JSON, missing
required fields, bad AU codes, media paths that escape the data root, which are never opened):

* every label is in the declared label set (``--labels``; by default `DEFAULT_LABEL_SETS` by source,
  i.e. FACIAL_LABELS for fea20k and toyfaces, and no check for open-vocabulary corpora);
* every AU code is a known FACS action unit (`rewards.aus.is_known_au`);
* every media file exists, is readable and non-empty, and images decode (PIL ``verify()``);
* ids are unique across the whole source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from affectllm.data.readers import DEFAULT_LABEL_SETS, Problems, Record, iter_records, resolve_root
from affectllm.errors import InputError
from affectllm.io import open_image_file, resolve_media
from affectllm.progress import progress
from rewards.aus import is_known_au
from rewards.labels import canonical_label


@dataclass
class ValidationReport:
    """The outcome of `validate`: located problems (at most `max_errors`), how many records were
    read, dropped-record counts by reason, and whether it stopped early."""

    problems: list[InputError] = field(default_factory=list)
    records: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    stopped_early: bool = False
    root: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line for the end of the report."""
        dropped = sum(self.dropped.values())
        parts = [f"{self.records} record(s) read"]
        if dropped:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.dropped.items()))
            parts.append(f"{dropped} dropped ({reasons})")
        parts.append(f"{len(self.problems)} problem(s)" if self.problems else "no problems")
        if self.stopped_early:
            parts.append(f"stopped after {len(self.problems)} (--max-errors)")
        return ("OK: " if self.ok else "FAILED: ") + ", ".join(parts)


def validate(src: str | Path, format: str = "jsonl", *, labels: Iterable[str] | None = None,
             root: str | Path | None = None, max_errors: int | None = None,
             show_progress: bool | None = None) -> ValidationReport:
    """Check every record of `src` (read as `format`) and collect every problem, in file order."""
    if max_errors is not None and max_errors < 1:
        raise InputError("--max-errors must be at least 1")
    label_set = None if labels is None else frozenset(canonical_label(x) for x in labels)
    problems = Problems(limit=max_errors)
    report = ValidationReport(root=resolve_root(src, format, root))
    first_seen: dict[str, str] = {}
    records = iter_records(src, format, problems, report.root)
    bar_off = None if show_progress is None else not show_progress
    for record in progress(records, desc="validating", unit="rec", disable=bar_off):
        report.records += 1
        for reason in check_record(record, report.root, label_set, first_seen):
            problems.add(InputError(reason, record.path, record.line))
        if problems.full:
            break
    report.stopped_early = problems.full
    report.problems, report.dropped = problems.items, dict(problems.dropped)
    return report


def check_record(record: Record, root: Path, label_set: frozenset[str] | None,
                 first_seen: dict[str, str]) -> list[str]:
    """The reasons one record is wrong (empty when it is fine). `first_seen` maps ids to where they
    were first seen and is updated."""
    sample, reasons = record.sample, []
    where = f"{record.path}:{record.line}" if record.line else str(record.path)
    if sample["id"] in first_seen:
        reasons.append(f"duplicate id {sample['id']!r} (first seen at {first_seen[sample['id']]})")
    else:
        first_seen[sample["id"]] = where
    allowed = label_set if label_set is not None else DEFAULT_LABEL_SETS.get(sample["source"])
    if allowed is not None:
        reasons += [f"label {label!r} is not in the label set ({', '.join(sorted(allowed))})"
                    for label in sample["labels"] if label not in allowed]
    reasons += [f"unknown AU code {au!r}" for au in sample["aus"] if not is_known_au(au)]
    for media in sample["media"]:
        reason = check_media(root, media)
        if reason:
            reasons.append(reason)
    return reasons


def check_media(root: Path, media: dict) -> str | None:
    """Why a media entry is unusable, or None. A path escaping `root` is refused unopened."""
    rel = media["path"]
    try:
        full = resolve_media(root, rel)
    except InputError as e:
        return e.reason
    if not full.exists():
        return f"media file not found: {rel}"
    if not full.is_file():
        return f"media path is not a file: {rel}"
    try:
        if media["type"] == "image":
            with open_image_file(full) as im:
                im.verify()
        else:
            with full.open("rb") as f:
                if not f.read(1):
                    return f"media file is empty: {rel}"
    except PermissionError:
        return f"media file is unreadable (permission denied): {rel}"
    except InputError as e:
        return f"media file {rel}: {e.reason}"
    return None
