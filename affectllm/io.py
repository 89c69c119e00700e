"""Small file helpers every stage uses: atomic writes, JSON/JSONL/YAML, and media paths that stay in
their data root.

Atomic means: write to a temporary file in the same directory, flush, fsync, then `os.replace`, so a
reader (or a resumed run after `kill -9`) sees either the old file or the whole new one, never half.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import yaml

from affectllm.errors import InputError


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it over `path` on success only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")


def write_yaml(path: str | Path, obj: Any) -> None:
    with atomic_open(path) as f:
        yaml.safe_dump(obj, f, sort_keys=False, allow_unicode=True)


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    """Write one JSON object per line, atomically. Returns the number of rows."""
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str))
            f.write("\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; malformed JSON raises InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"malformed JSON: {e.msg} (column {e.colno})", path, lineno) from None
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", path, lineno)
            yield lineno, obj


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    try:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(f"malformed YAML: {getattr(e, 'problem', e)}", path,
                         None if mark is None else mark.line + 1) from None
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise InputError("expected a mapping at the top level", path)
    return obj


def resolve_media(root: str | Path, rel: str, *, source: str | Path | None = None,
                  line: int | None = None) -> Path:
    """Return `root / rel` resolved, refusing any path that escapes `root`.

    Absolute paths are accepted only when they lie inside `root`. The file is never opened here, so
    a refused path is never touched. `source`/`line` locate the record in the error message.
    """
    root_resolved = Path(root).resolve()
    candidate = Path(rel)
    full = (candidate if candidate.is_absolute() else root_resolved / candidate).resolve()
    if full != root_resolved and root_resolved not in full.parents:
        raise InputError(f"media path {rel!r} escapes the data root {str(root_resolved)!r}",
                         path=source, line=line)
    return full
