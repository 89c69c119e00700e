"""The canonical sample every stage reads: SFT, GRPO, synthesis and evaluation.

A sample is a plain dict with exactly the keys of `FEATURES`. Media are kept as paths relative to
the data root (the directory of the JSONL file unless told otherwise) and opened lazily, so a corpus
of millions of samples costs a few hundred bytes each in memory.

=========  ==========================================================================
key        meaning
=========  ==========================================================================
id         unique id within the corpus
source     data set name (``fea20k``, ``mer2023``, ``toyfaces``, ...)
media      list of ``{"type": "image"|"video"|"audio", "path": relative path}``
question   the user's question / instruction ("" when the recipe supplies the prompt)
labels     categorical emotion labels, canonical (see `rewards.labels.canonical_label`)
openset    open-vocabulary emotion words, lower-cased as written (OV-MERD+, EMER, AffectGPT)
aus        canonical AU codes, sorted numerically (``["AU1", "AU4", "AU15"]``)
valence    float sentiment/valence or None
reasoning  free-text reasoning (the ``<think>`` part, an EMER description) or ""
answer     target answer text or None
meta       JSON object serialised as a string (whatever else the source carried)
=========  ==========================================================================

Data root: media paths are relative to the data root of the JSONL file, which is the file's own
folder, unless a ``convert_config.json`` next to the file records another one as ``data_root``
(``affectllm data convert`` writes it: converting copies no media, so converted paths stay relative
to the corpus's original folder). `data_root(path)` answers it; every consumer should use it.

For training and evaluation, `to_hf_dataset` gives a `datasets.Dataset` with `features()` built
lazily from the JSONL (Arrow on disk, memory-mapped), media kept as path strings; `open_image` opens
one image when it is needed, and `with_images` does that on row access.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affectllm.errors import InputError
from affectllm.io import load_rgb, read_jsonl, resolve_media, write_jsonl
from rewards.aus import sort_aus
from rewards.labels import canonical_label

if TYPE_CHECKING:
    from datasets import Dataset
    from PIL import Image

MEDIA_TYPES = ("image", "video", "audio")
#: Written next to a converted JSONL by `affectllm data convert`; its ``data_root`` is the data root.
CONVERT_CONFIG = "convert_config.json"
FIELDS = ("id", "source", "media", "question", "labels", "openset", "aus", "valence", "reasoning",
          "answer", "meta")


def features():
    """The schema as `datasets.Features` (imported lazily: `datasets` is heavy)."""
    from datasets import Features, List, Value

    return Features({
        "id": Value("string"),
        "source": Value("string"),
        "media": List({"type": Value("string"), "path": Value("string")}),
        "question": Value("string"),
        "labels": List(Value("string")),
        "openset": List(Value("string")),
        "aus": List(Value("string")),
        "valence": Value("float32"),
        "reasoning": Value("string"),
        "answer": Value("string"),
        "meta": Value("string"),
    })


def make_sample(id: str, source: str, *, media: Iterable[dict] | None = None, question: str = "",
                labels: Iterable[str] = (), openset: Iterable[str] = (), aus: Iterable[str] = (),
                valence: float | None = None, reasoning: str = "", answer: str | None = None,
                meta: dict | str | None = None) -> dict:
    """Build a canonical sample, normalising labels and AU codes once, here. A value of the wrong
    type (a scalar for a list, a number for a text, a bool, a non-finite valence, text that is not
    valid Unicode) raises ValueError naming the field."""
    sample = {
        "id": _id(id),
        "source": _text("source", source),
        "media": [_media(m) for m in _items("media", media, dict)],
        "question": _text("question", question, optional=True),
        "labels": _unique(canonical_label(x) for x in _items("labels", labels) if x.strip()),
        # Open-set words are only lower-cased and trimmed: the emotion-wheel metric maps surface
        # forms itself, and aliasing them here (scared -> fear) would change the official numbers.
        "openset": _unique(" ".join(x.lower().split()) for x in _items("openset", openset)
                           if x.strip()),
        "aus": sort_aus(_items("aus", aus)),
        "valence": _valence(valence),
        "reasoning": _text("reasoning", reasoning, optional=True),
        "answer": None if answer is None else _text("answer", answer),
        "meta": _meta(meta),
    }
    _check_unicode(sample)
    return sample


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"id: expected a string, got {_kind(value)}")
    return str(value)


def _text(field: str, value: Any, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a string, got {_kind(value)}")
    return value


def _items(field: str, value: Any, kind: type = str) -> list:
    """`value` as a list of `kind` (None is empty); a scalar, a string or a mapping is refused."""
    if value is None:
        return []
    what = "objects" if kind is dict else "strings"
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise ValueError(f"{field}: expected a list of {what}, got {_kind(value)}")
    items = list(value)
    for item in items:
        if not isinstance(item, kind):
            raise ValueError(f"{field}: expected a list of {what}, got an item of type "
                             f"{_kind(item)}")
    return items


def _media(entry: dict) -> dict:
    extra = sorted(set(entry) - {"type", "path"})
    if (extra or entry.get("type") not in MEDIA_TYPES or not isinstance(entry.get("path"), str)
            or not entry["path"].strip()):
        raise ValueError(f"media: bad entry {entry!r}: expected exactly a type (one of "
                         f"{', '.join(MEDIA_TYPES)}) and a non-empty path string")
    return {"type": entry["type"], "path": entry["path"]}


def _valence(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"valence: expected a number or null, got {_kind(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"valence: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"valence: expected a finite number, got {value!r}")
    return number


def _meta(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"meta: expected an object or a string, got {_kind(value)}")
    try:
        return json.dumps(value or {}, ensure_ascii=False, allow_nan=False)
    except ValueError as e:  # NaN / Infinity
        raise ValueError(f"meta: {e}") from None
    except RecursionError:
        raise ValueError("meta: nested too deeply") from None


def _check_unicode(sample: dict) -> None:
    """Refuse text that cannot be written as UTF-8 (a lone surrogate such as ``"\\ud800"``)."""
    for field, value in sample.items():
        for text in value if isinstance(value, list) else [value]:
            for part in text.values() if isinstance(text, dict) else [text]:
                if isinstance(part, str):
                    try:
                        part.encode("utf-8")
                    except UnicodeEncodeError as e:
                        raise ValueError(f"{field}: not valid Unicode text ({e.reason} "
                                         f"{part[e.start]!r} at character {e.start + 1})") from None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check_sample(obj: Any, path: str | Path | None = None, line: int | None = None) -> dict:
    """Validate the shape and types of one canonical record; return it normalised or raise
    InputError."""
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object", path, line)
    missing = [k for k in ("id", "source") if obj.get(k) in (None, "", [], {})]
    if missing:
        raise InputError(f"missing required field(s): {', '.join(missing)}", path, line)
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise InputError(f"unknown field(s): {', '.join(unknown)}", path, line)
    try:
        return make_sample(**{k: obj[k] for k in FIELDS if k in obj})
    except ValueError as e:
        raise InputError(str(e), path, line) from None


def load_samples(path: str | Path) -> list[dict]:
    """Read a canonical JSONL file (see `check_sample`); a file without records is refused."""
    return list(iter_samples(path))


def iter_samples(path: str | Path) -> Iterator[dict]:
    """The samples of a canonical JSONL file, checked one by one; InputError at the end when
    there were none (an empty training, evaluation or seed file is bad input)."""
    n = 0
    for lineno, obj in read_jsonl(path):
        n += 1
        yield check_sample(obj, path, lineno)
    if n == 0:
        raise InputError("no records (the file is empty)", path=path)


def save_samples(path: str | Path, samples: Iterable[dict]) -> int:
    """Write canonical samples as JSONL atomically; returns the count."""
    return write_jsonl(path, samples)


def data_root(path: str | Path) -> Path:
    """The folder the media paths of the canonical JSONL file (or folder of them) at `path` are
    relative to: ``data_root`` from a ``convert_config.json`` beside it, else its own folder."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    config = folder / CONVERT_CONFIG
    if config.is_file():
        try:
            recorded = json.loads(config.read_text(encoding="utf-8")).get("data_root")
        except (json.JSONDecodeError, AttributeError):
            raise InputError("malformed convert config (expected a JSON object)", config) from None
        if recorded:
            return (folder / recorded).resolve()  # an absolute `recorded` wins over `folder`
    return folder.resolve()


_root_of = data_root  # `to_hf_dataset` has a parameter of the same name


def _media_checked(sample: dict, root: Path | None) -> dict:
    if root is not None:
        for m in sample["media"]:
            resolve_media(root, m["path"])
    return sample


def _generate(path: str, root: str | None, stamp: tuple) -> Iterator[dict]:
    """Rows for `Dataset.from_generator`; `stamp` (size, mtime) only keys the cache."""
    for sample in iter_samples(path):
        yield _media_checked(sample, None if root is None else Path(root))


def to_hf_dataset(samples_or_path: Iterable[dict] | str | Path,
                  data_root: str | Path | None = None, *,
                  cache_dir: str | Path | None = None) -> Dataset:
    """A `datasets.Dataset` with `features()`: from a canonical JSONL path, streamed into Arrow on
    disk (cached, keyed by the file's size and mtime) without holding the corpus in memory, or from
    samples in memory. Media stay relative path strings; every one is checked to stay inside
    `data_root` (default for a path: `data_root(path)`; for samples: no check) without being
    opened. `cache_dir` is where the Arrow files go (default: the `datasets` cache). Use
    `open_image` / `with_images` to get pixels."""
    from datasets import Dataset

    if isinstance(samples_or_path, (str, os.PathLike)):
        path = Path(samples_or_path)
        if not path.is_file():
            raise InputError("file not found", path=path)
        root = Path(data_root) if data_root is not None else _root_of(path)
        st = path.stat()
        return Dataset.from_generator(
            _generate, features=features(), cache_dir=None if cache_dir is None else str(cache_dir),
            gen_kwargs={"path": str(path.resolve()), "root": str(root.resolve()),
                        "stamp": (st.st_size, st.st_mtime_ns)})
    root = None if data_root is None else Path(data_root)
    rows = [_media_checked(check_sample(s), root) for s in samples_or_path]
    return Dataset.from_list(rows, features=features())


def open_image(sample: dict, root: str | Path, index: int = 0) -> Image.Image:
    """The `index`-th image of `sample` as an RGB PIL image. The path is refused (never opened) if
    it escapes `root`; a missing or undecodable file, or a decompression bomb, raises InputError."""
    images = [m for m in sample["media"] if m["type"] == "image"]
    if index >= len(images):
        raise InputError(f"sample {sample.get('id')!r} has no image #{index}")
    return load_rgb(resolve_media(root, images[index]["path"]))


def with_images(dataset: Dataset, root: str | Path) -> Dataset:
    """`dataset` with an extra ``images`` column (a list of RGB PIL images per row) decoded only
    when rows are accessed (`Dataset.with_transform`)."""
    def decode(batch: dict) -> dict:
        batch = dict(batch)
        batch["images"] = [[open_image({"media": media, "id": None}, root, k)
                            for k in range(sum(m["type"] == "image" for m in media))]
                           for media in batch["media"]]
        return batch

    return dataset.with_transform(decode)
