"""Phrase matcher over the emotion-wheel vocabulary (the format-map keys, 7,386 surface forms).

`find_emotion_words(text)` returns the surface forms found in free text: case-insensitive, on word
boundaries, longest match first (``"at a loss"`` wins over ``"loss"`` when both are forms), scanning
left to right without overlaps. Words are runs of letters/digits; inside a phrase, words are joined
by whitespace (any amount) or a hyphen exactly as in the lexicon form (``self-conscious`` does not
match ``self conscious``). The result lists each form once, in order of first appearance.

Implementation: a token trie built once; matching is linear in the length of the text (each start
token walks at most the longest phrase, a handful of tokens).
"""

from __future__ import annotations

import re
from functools import cache

from rewards import wheel_data

_TOKEN = re.compile(r"[^\W_]+")
_TOKEN_SPLIT = re.compile(r"([^\W_]+)")
_SPACE = re.compile(r"\s+")
_END = ""  # trie key marking "a phrase ends here" (never a token or separator)


def _phrase_keys(phrase: str) -> list[str] | None:
    """``"self-conscious"`` -> ``["self", "-", "conscious"]``; None if it is not made of words joined
    by whitespace or hyphens (such a form can never be matched on word boundaries)."""
    keys: list[str] = []
    end = 0
    for m in _TOKEN.finditer(phrase):
        gap = phrase[end:m.start()]
        if keys:
            sep = _separator(gap)
            if sep is None:
                return None
            keys.append(sep)
        elif gap.strip():
            return None
        keys.append(m.group())
        end = m.end()
    if not keys or phrase[end:].strip():
        return None
    return keys


def _separator(gap: str) -> str | None:
    if gap == "-":
        return "-"
    if gap and _SPACE.fullmatch(gap):
        return " "
    return None


@cache
def _trie() -> dict:
    root: dict = {}
    for form in wheel_data.surface_forms():
        keys = _phrase_keys(form.lower())
        if keys is None:
            continue
        node = root
        for key in keys:
            node = node.setdefault(key, {})
        node[_END] = form
    return root


def find_emotion_words(text: str) -> list[str]:
    """Emotion-wheel surface forms in `text` (lexicon spelling), each once, in order of appearance.

    >>> find_emotion_words("She looked Happy, then self-conscious and happy again.")
    ['happy', 'self-conscious']
    """
    if not isinstance(text, str) or not text:
        return []
    root = _trie()
    parts = _TOKEN_SPLIT.split(text.lower())
    tokens = parts[1::2]   # words
    gaps = parts[2::2]     # gaps[i] lies between tokens[i] and tokens[i + 1]
    found: dict[str, None] = {}
    i, n = 0, len(tokens)
    while i < n:
        node = root.get(tokens[i])
        if node is None:
            i += 1
            continue
        best_form, best_end, j = None, i, i
        while True:
            form = node.get(_END)
            if form is not None:
                best_form, best_end = form, j
            if j + 1 >= n:
                break
            sep = _separator(gaps[j])
            nxt = node.get(sep) if sep is not None else None
            nxt = nxt.get(tokens[j + 1]) if nxt is not None else None
            if nxt is None:
                break
            node, j = nxt, j + 1
        if best_form is not None:
            found.setdefault(best_form, None)
        i = best_end + 1
    return list(found)
