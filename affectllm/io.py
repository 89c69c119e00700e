"""Small file helpers every stage uses: atomic writes, JSON/JSONL/CSV/YAML, images, output folders,
and media paths that stay in their data root.

Atomic means: write to a temporary file in the same directory, flush, fsync, then `os.replace`, so a
reader (or a resumed run after `kill -9`) sees either the old file or the whole new one, never half.
The file ends with the mode a plain ``open(path, "w")`` would give (``0o666 & ~umask``, or the mode
of the file it replaces); a run killed mid-write leaves a ``.NAME.XXXXXXXX.tmp`` sibling, which
`remove_stale_temps` (called by `ensure_output_dir`) clears.

Reading: every problem of a user's file is an `InputError` naming the file (and line): bad UTF-8,
malformed or too deeply nested JSON, malformed CSV (a field over `csv.field_size_limit`, 128 KiB,
included: no annotation cell is that long, and the limit bounds what one row can cost), images that
are missing, undecodable or decompression bombs (`open_image_file`). Writing: `output_error` turns
the `OSError` of an unusable output path (exists as a file, read-only, disk full) into one.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import yaml

from affectllm.errors import InputError

#: errno values that mean "this output path cannot be written" (the user's to fix, exit 2).
OUTPUT_ERRNOS = {errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
                 errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device",
                 errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file too large",
                 errno.EEXIST: "file exists", errno.ENOTDIR: "not a folder",
                 errno.EISDIR: "is a folder", errno.ENAMETOOLONG: "name too long"}
#: errno values that can only come from writing, wherever they are raised.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: The temporary siblings `atomic_open` (``tempfile.mkstemp``) creates: ``.NAME.XXXXXXXX.tmp``.
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def output_error(error: OSError, path: str | Path | None = None) -> InputError | None:
    """`error` as an InputError naming the output path (`path`, else the path the error names) when
    it means the path cannot be written (`OUTPUT_ERRNOS`); None for any other error."""
    reason = OUTPUT_ERRNOS.get(error.errno)
    if reason is None:
        return None
    where = path if path is not None else error.filename
    return InputError(f"cannot write here: {reason}", path=where)


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no /proc: read it the portable way (and put it back)
    os.umask(mask)
    return mask


def _plain_mode(path: Path) -> int:
    """The mode ``open(path, "w")`` leaves: the existing file's, else ``0o666 & ~umask``."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


@contextlib.contextmanager
def output_errors(path: str | Path, errnos: Iterable[int] | None = None) -> Iterator[None]:
    """Inside the block, an `OSError` meaning `path` cannot be written (`output_error`; only those
    of `errnos` when given) becomes an InputError naming `path`; other errors pass unchanged."""
    try:
        yield
    except OSError as e:
        error = output_error(e, path) if errnos is None or e.errno in errnos else None
        if error is None:
            raise
        raise error from None


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it over `path` on success only. An
    output path that cannot be written (see `output_error`) raises InputError naming it."""
    path = Path(path)
    with output_errors(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _plain_mode(path))
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            with output_errors(path, _FULL):  # the body's own errors pass, unless only a write
                yield f                       # can cause them
            with output_errors(path):
                f.flush()
                os.fsync(f.fileno())
        with output_errors(path):
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temps(folder: str | Path, older_than: float = 60.0) -> list[Path]:
    """Delete the temporary siblings `atomic_open` leaves in `folder` (not below it) when a run is
    killed mid-write, those untouched for `older_than` seconds (a younger one may belong to a
    writer that is still running). Returns what was removed."""
    removed, now = [], time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not _TEMP_NAME.match(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime >= older_than:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def ensure_output_dir(path: str | Path) -> Path:
    """Create the output folder `path` (and its parents) and check that files can be made in it;
    InputError naming it when it is a file, or cannot be created or written. Clears the stale
    temporary files of killed runs in it (`remove_stale_temps`)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("the output path exists and is not a folder", path=path)
    with output_errors(path):
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".affectllm-probe.", suffix=".tmp", dir=path)
        os.close(fd)
        os.unlink(probe)
    remove_stale_temps(path)
    return path


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


def decode_utf8(data: bytes, path: str | Path, line: int | None = None) -> str:
    """`data` (a whole file, or its line `line`) as text, without a leading BOM; InputError naming
    the file, the line and the byte when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        at = line if line is not None else data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(f"not UTF-8 text: byte 0x{data[e.start]:02x} at byte column {column} "
                         f"({e.reason})", path, at) from None


def read_text(path: str | Path) -> str:
    """A whole UTF-8 text file (BOM dropped); InputError for a missing, unreadable or non-UTF-8 one."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=path) from None
    return decode_utf8(data, path)


def parse_json(text: str, path: str | Path, line: int | None = None) -> Any:
    """`json.loads(text)`; InputError at `path:line` for malformed JSON (with the column) or JSON
    nested too deeply to parse."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        where = line if line is not None else e.lineno
        raise InputError(f"malformed JSON: {e.msg} (column {e.colno})", path, where) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path, line) from None


def jsonl_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line without its newline) for each non-blank line of a JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            raw = raw.rstrip(b"\r\n")
            if raw.strip():
                yield lineno, raw


def parse_jsonl_line(raw: bytes, path: str | Path, line: int) -> Any:
    """One JSONL line (from `jsonl_lines`) decoded and parsed; InputError located at `path:line`."""
    return parse_json(decode_utf8(raw, path, line), path, line)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; bad UTF-8, malformed JSON or a line
    that is not an object raises InputError."""
    for lineno, raw in jsonl_lines(path):
        obj = parse_jsonl_line(raw, path, lineno)
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}", path, lineno)
        yield lineno, obj


def iter_csv_rows(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """(line the row starts on, cells) for every row of a UTF-8 CSV file, the header included;
    InputError naming the file and line for bad UTF-8 or malformed CSV (e.g. a field over
    `csv.field_size_limit`)."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as e:
        raise InputError(f"malformed CSV: {e}", path, start) from None


@contextlib.contextmanager
def open_image_file(path: str | Path) -> Iterator[Any]:
    """`PIL.Image.open(path)` as a context manager; a missing file, an image PIL cannot decode
    (when opened or in the ``with`` block) or one of more than `PIL.Image.MAX_IMAGE_PIXELS` pixels
    (a decompression bomb: PIL's warning counts as the error) raises InputError naming `path`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError:
        raise InputError("media file not found", path=path) from None
    except PermissionError:
        raise InputError("media file is unreadable (permission denied)", path=path) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"image too large, refused as a possible decompression bomb ({e})",
                         path=path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"not a readable image ({type(e).__name__}: {e})", path=path) from None
    with image:
        try:
            yield image
        except (OSError, SyntaxError, ValueError) as e:  # decoding: truncated or corrupt data
            raise InputError(f"not a readable image ({type(e).__name__}: {e})",
                             path=path) from None


def load_rgb(path: str | Path) -> Any:
    """The image at `path` decoded as an RGB PIL image (errors as in `open_image_file`)."""
    with open_image_file(path) as image:
        return image.convert("RGB")


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
