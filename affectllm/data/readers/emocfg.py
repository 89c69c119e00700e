"""Emo-CFG (VidEmo) in its official tree: ms-swift conversations over the videos of 19 corpora.

The layout of KlingTeam/VidEmo's README (dataset tree) and ``eval/eval_results.py``::

    Emo-CFG/
      jsons/{train,test}/{attribute,caption,emotion,qa,rationale}/{full,sampled}/*.json
      videos/<Source>/...                          (AFEW, CAER, MAFW, MER2023, ...)

    [{"messages": [{"role": "system", "content": "..."}?,
                   {"role": "user", "content": "<video>What is the person feeling?"},
                   {"role": "assistant", "content": "..."}],
      "videos": ["MAFW/clip.mp4"], "source": "QA_Age"}, ...]

`SRC` is one .json/.jsonl file (a JSON array or JSONL) or any folder of the tree: ``Emo-CFG``,
``Emo-CFG/jsons/train``, ``.../qa/full``; files are found at any depth. The data root is the
``Emo-CFG`` folder (the parent of ``jsons``) unless ``--root`` names another; a ``videos`` path is
relative to it or to its ``videos/`` folder (the first that holds the file). Both ``full`` and
``sampled`` are read when a folder holds both; ``meta.variant`` tells them apart.

``question`` is the last user turn before the final assistant turn (media tokens removed),
``answer`` the final assistant turn (the ``<answer>`` part when tagged, with ``<think>`` as
``reasoning``). ``labels`` come from a ``labels``/``label`` field when present. ``meta`` keeps the
subset (from the folder the file is in; a record's own ``subset``/``task`` field wins; the file
name only when no folder names one), the split and variant, the record's ``source``
(``QA_<Attribute>``, what the official evaluation groups QA results by) and the system prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from affectllm.data.readers._common import (
    IdMaker,
    Problems,
    Record,
    convert_each,
    folder_of,
    iter_json_records,
    media_entry,
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
SPLITS = ("train", "test")
VARIANTS = ("full", "sampled")
MEDIA_KEYS = {"videos": "video", "images": "image", "audios": "audio"}
#: The folder of the official tree that holds the media of every source corpus.
VIDEO_DIR = "videos"


def default_root(src: Path) -> Path:
    """The ``Emo-CFG`` folder `src` lies in (the parent of its ``jsons`` folder), else the folder
    `src` is or is in."""
    path = src.resolve()
    for folder in (path, *path.parents):
        if folder.name == "jsons" and folder.parent != folder:
            return folder.parent
    if (path / "jsons").is_dir():
        return path
    return folder_of(src)


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of every conversation in `src` (files at any depth)."""
    make_id = IdMaker()
    if (src / "jsons").is_dir():  # the Emo-CFG folder itself: never walk its videos/
        src = src / "jsons"
    for path in source_files(src, (".json", ".jsonl"), recursive=True):
        where = tree_position(path)
        yield from convert_each(path, iter_json_records(path, problems), problems,
                                lambda obj, line, w=where: to_sample(obj, root, w, make_id))


def tree_position(path: Path) -> dict[str, str]:
    """``{subset, split, variant}`` of a file from the folders of the official tree it lies in;
    the subset falls back on a subset name in the file name (``emocfg_rationale_train.json``)."""
    folders = [p.lower() for p in path.parent.parts]
    found = {}
    for key, names in (("subset", SUBSETS), ("split", SPLITS), ("variant", VARIANTS)):
        hit = next((f for f in reversed(folders) if f in names), None)
        if hit:
            found[key] = hit
    if "subset" not in found:
        words = path.stem.lower().replace("-", "_").split("_")
        subset = next((s for s in SUBSETS if s in words), None)
        if subset:
            found["subset"] = subset
    return found


def _media(root: Path, obj: dict) -> list[dict]:
    """Media entries of a record; a path is tried relative to the root, then to ``videos/``."""
    out = []
    for key, kind in MEDIA_KEYS.items():
        value = obj.get(key)
        for raw in ([value] if isinstance(value, str) else value or []):
            first = media_entry(root, raw, kind)
            if not (root / first["path"]).is_file() and isinstance(raw, str) and \
                    not Path(raw).is_absolute():
                under = media_entry(root, f"{VIDEO_DIR}/{raw.strip()}", kind)
                first = under if (root / under["path"]).is_file() else first
            out.append(first)
    return out


def to_sample(obj: dict, root: Path, where: dict[str, str], make_id: IdMaker) -> dict:
    """One conversation as a canonical sample; `where` is its file's `tree_position`."""
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
    media = _media(root, obj)
    subset = obj.get("subset") or obj.get("task") or where.get("subset")
    meta = {k: v for k, v in {"subset": subset, "split": where.get("split"),
                              "variant": where.get("variant"), "source": obj.get("source"),
                              "system": system,
                              "turns": len(messages) if len(messages) > 3 else None}.items() if v}
    base = f"{subset or 'emocfg'}/{Path(media[0]['path']).stem if media else 'text'}"
    return sample(id=make_id(obj.get("id"), base), source=NAME, media=media,
                  question=strip_media_tokens(user if isinstance(user, str) else ""),
                  labels=parse_label_list(obj.get("labels", obj.get("label"))),
                  reasoning=reasoning, answer=answer, meta=meta)
