"""Emo-CFG in the ms-swift layout: one conversation per record, JSON list or JSONL.

::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "<video>What is the person feeling?"},
                  {"role": "assistant", "content": "..."}],
     "videos": ["clips/a.mp4"], "images": [], "labels": ["happy"]}

`SRC` is one file or a folder of .json/.jsonl files (the attribute / caption / emotion / qa /
rationale subsets); media paths are relative to that folder (use ``--root`` when they are relative
to somewhere else, or absolute). ``question`` is the last user turn before the final assistant turn
(media tokens removed), ``answer`` the final assistant turn (the ``<answer>`` part when tagged, with
``<think>`` as ``reasoning``). ``labels`` come from a ``labels``/``label`` field when present. The
subset is the record's ``subset``/``task`` field, else the subset name found in the file name; it and
the system prompt go to ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from affectllm.data.readers._common import (
    IdMaker,
    Problems,
    Record,
    convert_each,
    iter_json_records,
    media_entries,
    parse_label_list,
    require,
    sample,
    source_files,
    split_think,
    strip_media_tokens,
)
from affectllm.errors import InputError

NAME = "emocfg"
SUBSETS = ("attribute", "caption", "emotion", "qa", "rationale")
MEDIA_KEYS = {"videos": "video", "images": "image", "audios": "audio"}


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of every conversation in `src`."""
    make_id = IdMaker()
    for path in source_files(src, (".json", ".jsonl")):
        subset = subset_of(path)
        yield from convert_each(path, iter_json_records(path, problems), problems,
                                lambda obj, line, s=subset: to_sample(obj, root, s, make_id))


def subset_of(path: Path) -> str | None:
    """The Emo-CFG subset named in a file name (``emocfg_rationale_train.json`` -> rationale)."""
    words = path.stem.lower().replace("-", "_").split("_")
    return next((s for s in SUBSETS if s in words), None)


def to_sample(obj: dict, root: Path, file_subset: str | None, make_id: IdMaker) -> dict:
    """One conversation as a canonical sample."""
    require(obj, ("messages",))
    messages = obj["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InputError("messages must be a list of {role, content} objects")
    last = max((k for k, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None:
        raise InputError("messages has no assistant turn")
    user = next((m.get("content") for m in reversed(messages[:last]) if m.get("role") == "user"), "")
    system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
    reasoning, answer = split_think(messages[last].get("content"))
    media = media_entries(root, obj, MEDIA_KEYS)
    subset = obj.get("subset") or obj.get("task") or file_subset
    meta = {k: v for k, v in {"subset": subset, "system": system,
                              "turns": len(messages) if len(messages) > 3 else None}.items() if v}
    base = f"{subset or 'emocfg'}/{Path(media[0]['path']).stem if media else 'text'}"
    return sample(id=make_id(obj.get("id"), base), source=NAME, media=media,
                  question=strip_media_tokens(user if isinstance(user, str) else ""),
                  labels=parse_label_list(obj.get("labels", obj.get("label"))),
                  reasoning=reasoning, answer=answer, meta=meta)
