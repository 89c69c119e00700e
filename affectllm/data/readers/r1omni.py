"""R1-Omni / HumanOmni: a JSON list of video conversations.

::

    [{"video": "videos/0001.mp4",
      "conversations": [{"from": "human", "value": "<video>\\nAs an emotional recognition expert..."},
                        {"from": "gpt", "value": "<think>...</think>\\n<answer>sad</answer>"}]}]

`SRC` is the JSON file (a JSONL file or a folder of .json/.jsonl files also works); media paths are
relative to its folder. ``question`` is the first human turn without its ``<video>`` token; the gpt
turn gives ``reasoning`` (``<think>``) and ``answer`` (``<answer>``, or the whole turn when untagged),
and the answer is also the categorical label. Records without an ``id`` get the video's file name.
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
    require,
    sample,
    source_files,
    split_think,
    strip_media_tokens,
)
from affectllm.errors import InputError

NAME = "r1omni"
MEDIA_KEYS = {"video": "video", "videos": "video", "image": "image", "images": "image",
              "audio": "audio"}


def records(src: Path, root: Path, problems: Problems) -> Iterator[Record]:
    """Canonical samples of every conversation in `src`."""
    make_id = IdMaker()
    for path in source_files(src, (".json", ".jsonl")):
        yield from convert_each(path, iter_json_records(path, problems), problems,
                                lambda obj, line: to_sample(obj, root, make_id))


def to_sample(obj: dict, root: Path, make_id: IdMaker) -> dict:
    """One conversation as a canonical sample."""
    require(obj, ("conversations",))
    media = media_entries(root, obj, MEDIA_KEYS)
    if not media:
        raise InputError("missing required field(s): video")
    turns = obj["conversations"]
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise InputError("conversations must be a list of {from, value} objects")
    human = next((t.get("value") for t in turns if t.get("from") in ("human", "user")), None)
    gpt = next((t.get("value") for t in reversed(turns) if t.get("from") in ("gpt", "assistant")),
               None)
    if gpt is None:
        raise InputError("conversations has no gpt turn")
    if not isinstance(gpt, str) or not isinstance(human, (str, type(None))):
        raise InputError("conversations: a turn's value must be a string")
    reasoning, answer = split_think(gpt)
    extra = {k: v for k, v in obj.items() if k not in MEDIA_KEYS and k not in ("id", "conversations")}
    return sample(id=make_id(obj.get("id"), Path(media[0]["path"]).stem), source=NAME, media=media,
                  question=strip_media_tokens(human), labels=[answer] if answer else [],
                  reasoning=reasoning, answer=answer, meta=extra)
