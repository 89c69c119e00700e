"""Helpers every reader shares: located problems, line-numbered JSON/JSONL/CSV iteration, media
paths that stay inside the data root, `<think>`/`<answer>` splitting and list parsing.

A reader is a generator of `Record`s (a canonical sample plus the file and line it came from).
Problems with a record (malformed JSON, a missing field, a media path that escapes the root, ...) are
handed to a `Problems` sink and the record is skipped, so one pass can report every broken record;
records a format marks as unusable (``is_valid: false``) are counted as dropped, not as problems.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectllm.data.schema import make_sample
from affectllm.errors import InputError
from affectllm.io import iter_csv_rows, jsonl_lines, parse_jsonl_line, read_text, resolve_media

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv", ".mpg", ".mpeg", ".m4v")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".m4a", ".ogg")
MEDIA_TOKENS = re.compile(r"<(?:image|video|audio)>\s*", re.IGNORECASE)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_LIST_SPLIT = re.compile(r"['\",]")


@dataclass
class Record:
    """A canonical sample and where it came from (`line` is the line of a JSONL record, the first
    line of a JSON array element, or the line a CSV row starts on)."""

    sample: dict
    path: Path
    line: int | None


class Dropped(Exception):
    """Raised by a record converter for a record the format itself marks as unusable."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Problems:
    """Collects located problems and counts of dropped records; `full` once `limit` is reached."""

    limit: int | None = None
    items: list[InputError] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)

    def add(self, error: InputError) -> None:
        if not self.full:
            self.items.append(error)

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.items) >= self.limit

    def __len__(self) -> int:
        return len(self.items)


# ------------------------------------------------------------------------------------ sources

def source_files(src: Path, suffixes: Sequence[str], recursive: bool = False) -> list[Path]:
    """`src` itself, or the files with one of `suffixes` inside the folder `src` (directly, or at
    any depth with `recursive`), sorted by path."""
    if src.is_file():
        return [src]
    if src.is_dir():
        found = src.rglob("*") if recursive else src.iterdir()
        files = sorted(p for p in found if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            where = "this folder or below it" if recursive else "this folder"
            raise InputError(f"no {'/'.join(suffixes)} files in {where}", path=src)
        return files
    raise InputError("file or folder not found", path=src)


def folder_of(src: Path) -> Path:
    """The default data root: the folder `src` is, or the folder holding the file `src`."""
    return src if src.is_dir() else src.parent


def iter_jsonl(path: Path, problems: Problems) -> Iterator[tuple[int, Any]]:
    """(line, object) per non-blank line; malformed lines (bad UTF-8 or JSON) go to `problems`
    and reading goes on."""
    for lineno, raw in jsonl_lines(path):
        if problems.full:
            return
        try:
            obj = parse_jsonl_line(raw, path, lineno)
        except InputError as e:
            problems.add(e)
            continue
        yield lineno, obj


def iter_json_array(path: Path, problems: Problems) -> Iterator[tuple[int, Any]]:
    """(first line, element) for each element of a top-level JSON array. A syntax error is reported
    with its line and ends the file (the rest cannot be located reliably)."""
    text = _read_text(path)
    decoder, ws = json.JSONDecoder(), re.compile(r"\s*")
    pos = ws.match(text, 0).end()
    if not text.startswith("[", pos):
        problems.add(InputError("expected a JSON array of records", path, _line_at(text, pos)))
        return
    pos = ws.match(text, pos + 1).end()
    line, counted = 1, 0  # `line` is the line number of position `counted`
    try:
        while not text.startswith("]", pos):
            line, counted = line + text.count("\n", counted, pos), pos
            obj, end = decoder.raw_decode(text, pos)
            yield line, obj
            pos = ws.match(text, end).end()
            if text.startswith(",", pos):
                pos = ws.match(text, pos + 1).end()
            elif not text.startswith("]", pos):
                raise json.JSONDecodeError("expected ',' or ']' after an array element", text, pos)
    except json.JSONDecodeError as e:
        problems.add(InputError(f"malformed JSON: {e.msg} (column {e.colno})", path, e.lineno))
    except RecursionError:
        problems.add(InputError("JSON nested too deeply", path, line))


def iter_json_records(path: Path, problems: Problems) -> Iterator[tuple[int, Any]]:
    """A JSON array file or a JSONL file, told apart by the first character."""
    head = _read_text(path, 4096).lstrip()
    return iter_json_array(path, problems) if head.startswith("[") else iter_jsonl(path, problems)


def iter_csv(path: Path, required: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """(line a row starts on, row) with lower-cased, trimmed column names. A header without the
    `required` columns raises InputError at line 1; bad UTF-8 or malformed CSV raises it at its
    line (`affectllm.io.iter_csv_rows`)."""
    rows = iter_csv_rows(path)
    try:
        header = [h.strip().lower() for h in next(rows)[1]]
    except StopIteration:
        raise InputError("empty CSV file (no header)", path, 1) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)} (header: {', '.join(header)})",
                         path, 1)
    for start, row in rows:
        if any(cell.strip() for cell in row):
            yield start, {h: (row[k].strip() if k < len(row) else "") for k, h in enumerate(header)}


def csv_header(path: Path) -> list[str]:
    """The lower-cased, trimmed column names of a CSV file."""
    return [h.strip().lower() for h in next(iter_csv_rows(path), (1, []))[1]]


def _read_text(path: Path, limit: int = -1) -> str:
    """The whole text (`affectllm.io.read_text`), or a sniff of its first `limit` bytes."""
    if limit < 0 or not path.is_file():
        return read_text(path)
    with path.open("rb") as f:
        return f.read(limit).decode("utf-8-sig", errors="ignore")


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def convert_each(path: Path, rows: Iterable[tuple[int, Any]], problems: Problems,
                 convert: Callable[[Any, int], dict]) -> Iterator[Record]:
    """Apply `convert(obj, line)` to each row: a sample becomes a `Record`, `InputError` /
    `ValueError` become located problems, `Dropped` is counted."""
    for line, obj in rows:
        if problems.full:
            return
        try:
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}")
            yield Record(convert(obj, line), path, line)
        except Dropped as d:
            problems.drop(d.reason)
        except (InputError, ValueError) as e:
            problems.add(locate(e, path, line))


def locate(error: Exception, path: Path, line: int | None) -> InputError:
    """`error` as an InputError at `path:line` (keeps a location it already has)."""
    if isinstance(error, InputError):
        return error if error.path else InputError(error.reason, path, line)
    return InputError(str(error), path, line)


# ----------------------------------------------------------------------------------- fields

def require(obj: dict, fields: Sequence[str]) -> None:
    """Raise InputError naming every field of `fields` that is absent or empty in `obj`."""
    missing = [k for k in fields if obj.get(k) in (None, "", [], {})]
    if missing:
        raise InputError(f"missing required field(s): {', '.join(missing)}")


def parse_label_list(value: Any) -> list[str]:
    """A list of words from a list or a string like ``"['happy', 'relaxed']"`` or ``"happy, sad"``:
    strip one ``[`` and one ``]``, split on quotes and commas (as the emotion-wheel metric does)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if not isinstance(value, str):
        raise InputError(f"expected a string or a list of strings, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("["):
        text = text[1:]
    if text.endswith("]"):
        text = text[:-1]
    return [w.strip() for w in _LIST_SPLIT.split(text) if w.strip()]


def split_think(text: str | None, untagged: str = "answer") -> tuple[str, str | None]:
    """``(reasoning, answer)`` from ``<think>...</think><answer>...</answer>``. Text without tags
    counts as the answer or as the reasoning (`untagged`)."""
    text = (text or "").strip()
    think, answer = _THINK.search(text), _ANSWER.search(text)
    if think or answer:
        return (think.group(1).strip() if think else "",
                answer.group(1).strip() if answer else None)
    if untagged == "reasoning":
        return text, None
    return "", text or None


def strip_media_tokens(text: str | None) -> str:
    """A prompt without its ``<image>``/``<video>``/``<audio>`` placeholders."""
    return MEDIA_TOKENS.sub("", text or "").strip()


def media_type(path: str) -> str:
    """image, video or audio from the extension (unknown extensions count as video)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return "video"


def media_entry(root: Path, raw: Any, kind: str | None = None) -> dict:
    """``{"type", "path"}`` with `raw` made relative to `root`. A path that escapes the root is
    refused with InputError before anything touches it."""
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(f"bad media path {raw!r}")
    full = resolve_media(root, raw.strip())
    return {"type": kind or media_type(raw), "path": full.relative_to(root.resolve()).as_posix()}


def media_entries(root: Path, obj: dict, keys: dict[str, str]) -> list[dict]:
    """Media entries from the fields `keys` (field -> media type) of `obj`; each field holds one
    path or a list of paths."""
    out = []
    for key, kind in keys.items():
        value = obj.get(key)
        if not isinstance(value, (str, list, type(None))):
            raise InputError(f"{key}: expected a path or a list of paths, got "
                             f"{type(value).__name__}")
        for raw in ([value] if isinstance(value, str) else value or []):
            out.append(media_entry(root, raw, kind))
    return out


def sample(**kwargs: Any) -> dict:
    """`make_sample`, with a bad AU code or valence reported as InputError."""
    try:
        return make_sample(**kwargs)
    except (ValueError, TypeError) as e:
        raise InputError(str(e)) from None


class IdMaker:
    """Ids for records that carry none: a readable base, made unique with ``-2``, ``-3``...; ids a
    record does carry are returned untouched (duplicates are validation's business)."""

    def __init__(self) -> None:
        self.seen: Counter = Counter()

    def __call__(self, given: Any, base: str) -> str:
        if given not in (None, ""):
            return str(given)
        self.seen[base] += 1
        return base if self.seen[base] == 1 else f"{base}-{self.seen[base]}"


class MediaFolder:
    """Index of the media files of a corpus folder, by file stem: one directory listing, then
    `find(name)` is a dictionary lookup (fast for 100k-file folders)."""

    SUBFOLDERS = ("video", "videos", "image", "images", "audio", "audios", "media")
    PRIORITY = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS + AUDIO_EXTENSIONS

    def __init__(self, folder: Path, root: Path, subfolders: Sequence[str] | None = None):
        self.folder, self.root = folder, root
        names = self.SUBFOLDERS if subfolders is None else tuple(subfolders)
        self.subfolders = names
        self.searched = [folder / s for s in names if (folder / s).is_dir()]
        self.by_stem: dict[str, list[Path]] = {}
        for sub in self.searched:
            for p in sub.iterdir():
                if p.suffix.lower() in self.PRIORITY:
                    self.by_stem.setdefault(p.stem, []).append(p)

    def find(self, name: str) -> dict:
        """The media entry for `name` (video before image before audio); InputError if none, or
        if `name` is not a plain file name (a path could lead outside the folder)."""
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise InputError(f"sample name {name!r} is not a plain file name (no path separators "
                             f"allowed: media are looked up as <name>.* in {self.folder})")
        found = self.by_stem.get(name)
        names = self.subfolders
        if not found:
            where = ", ".join(f"{p.name or p}/" for p in self.searched) or (
                f"no {'/, '.join(names)}/ folder in {self.folder}")
            raise InputError(f"no media file for {name!r} (looked for {name}.* in {where})")
        best = min(found, key=lambda p: self.PRIORITY.index(p.suffix.lower()))
        try:
            # the folder made absolute (the file name kept: a link is checked, not followed,
            # here; `media_entry` refuses one that leads out of the root)
            rel = (best.parent.resolve() / best.name).relative_to(self.root.resolve()).as_posix()
        except ValueError:
            raise InputError(f"media file {str(best)!r} for {name!r} is outside the data root "
                             f"{str(self.root)!r}") from None
        return media_entry(self.root, rel)
