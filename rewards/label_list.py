"""Parsing of label-list strings such as ``"['happy', 'worried']"``, exactly as MER-UniBench does.

Rule (the official ``string_to_list`` followed by ``lower().strip()``): strip one leading ``[`` and
one trailing ``]``; split on any of ``'`` ``"`` ``,``; strip each item and drop empty ones; then
lower-case and strip each item. A list (or tuple) is used as is, each item lower-cased and stripped
(empty items are kept; they map to nothing); ``None`` items are dropped. ``None``, and any
other value that is neither a string nor a sequence (a number, NaN, a bool: an odd dataset cell),
is an empty list, so a metric or reward never raises on a cell's type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SPLIT = re.compile("['\",]")


def _parts(text: str) -> list[str]:
    if text.startswith("["):
        text = text[1:]
    if text.endswith("]"):
        text = text[:-1]
    return _SPLIT.split(text) if ("'" in text or '"' in text) else text.split(",")


def split_list_string(text: str) -> list[str]:
    """The official split without the final lower-casing: ``"[a, 'B']"`` -> ``['a', 'B']``."""
    return [s for s in map(str.strip, _parts(text)) if s]


def parse_label_list(value: str | Iterable[object] | None) -> list[str]:
    """Label list as the EW metric reads it.

    >>> parse_label_list("['Happy', \"worried\" ,, ]")
    ['happy', 'worried']
    >>> parse_label_list(["  Sad "])
    ['sad']
    """
    if isinstance(value, str):
        # Inlined `_parts` (hot path). Items are stripped and non-empty; lower() never creates
        # surrounding whitespace, so the official second strip() is a no-op and skipped.
        text = value[1:] if value.startswith("[") else value
        if text.endswith("]"):
            text = text[:-1]
        parts = _SPLIT.split(text) if ("'" in text or '"' in text) else text.split(",")
        return [s.lower() for s in map(str.strip, parts) if s]
    try:
        items = iter(value)  # type: ignore[arg-type]
    except TypeError:
        return []
    return [str(item).lower().strip() for item in items if item is not None]
