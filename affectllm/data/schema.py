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
openset    open-vocabulary emotion words (OV-MERD+, EMER, AffectGPT)
aus        canonical AU codes, sorted numerically (``["AU1", "AU4", "AU15"]``)
valence    float sentiment/valence or None
reasoning  free-text reasoning (the ``<think>`` part, an EMER description) or ""
answer     target answer text or None
meta       JSON object serialised as a string (whatever else the source carried)
=========  ==========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from affectllm.errors import InputError
from affectllm.io import read_jsonl, write_jsonl
from rewards.aus import sort_aus
from rewards.labels import canonical_label

MEDIA_TYPES = ("image", "video", "audio")
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
    """Build a canonical sample, normalising labels and AU codes once, here."""
    return {
        "id": str(id),
        "source": source,
        "media": [{"type": m["type"], "path": str(m["path"])} for m in (media or [])],
        "question": question or "",
        "labels": _unique(canonical_label(x) for x in labels if str(x).strip()),
        "openset": _unique(canonical_label(x) for x in openset if str(x).strip()),
        "aus": sort_aus(aus),
        "valence": None if valence is None else float(valence),
        "reasoning": reasoning or "",
        "answer": answer,
        "meta": meta if isinstance(meta, str) else json.dumps(meta or {}, ensure_ascii=False),
    }


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check_sample(obj: Any, path: str | Path | None = None, line: int | None = None) -> dict:
    """Validate the shape of one canonical record; return it normalised or raise InputError."""
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object", path, line)
    missing = [k for k in ("id", "source") if not obj.get(k)]
    if missing:
        raise InputError(f"missing required field(s): {', '.join(missing)}", path, line)
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise InputError(f"unknown field(s): {', '.join(unknown)}", path, line)
    for m in obj.get("media") or []:
        if not isinstance(m, dict) or m.get("type") not in MEDIA_TYPES or not m.get("path"):
            raise InputError(f"bad media entry {m!r}: needs type in {MEDIA_TYPES} and a path",
                             path, line)
    try:
        return make_sample(**{k: obj[k] for k in FIELDS if k in obj})
    except ValueError as e:
        raise InputError(str(e), path, line) from None


def load_samples(path: str | Path) -> list[dict]:
    """Read a canonical JSONL file (see `check_sample`)."""
    return [check_sample(obj, path, lineno) for lineno, obj in read_jsonl(path)]


def iter_samples(path: str | Path) -> Iterator[dict]:
    for lineno, obj in read_jsonl(path):
        yield check_sample(obj, path, lineno)


def save_samples(path: str | Path, samples: Iterable[dict]) -> int:
    """Write canonical samples as JSONL atomically; returns the count."""
    return write_jsonl(path, samples)


def image_paths(sample: dict, root: str | Path) -> list[Path]:
    """Absolute paths of a sample's images, refused if they escape `root`."""
    from affectllm.io import resolve_media

    return [resolve_media(root, m["path"]) for m in sample["media"] if m["type"] == "image"]
