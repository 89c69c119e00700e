"""Parsing of model completions: the one place that reads ``<think>`` / ``<answer>`` spans.

A completion is a string or a chat-message list such as ``[{"role": "assistant", "content": "..."}]``
(content may also be a list of parts ``{"type": "text", "text": "..."}``); `completion_text`
flattens it (assistant messages joined by newlines; all messages if none is marked assistant).

- answer: the text of the **last complete** ``<answer>...</answer>`` span (the last ``</answer>``
  and the nearest ``<answer>`` before it); None when there is none.
- think: the text between the first ``<think>`` and the first ``</think>`` after it; when the
  completion has no ``<think>`` but has a ``</think>`` (chat templates that open the think block in
  the prompt), the text before the first ``</think>``; None otherwise.
- answer list: `parse_answer_list` - the MER-UniBench list parsing (strip one ``[`` / ``]``, split on
  ``'`` ``"`` ``,``) extended with ``;`` and newlines as separators, each item lower-cased, stripped of
  whitespace and trailing ``.``, empty items dropped.

Tags are matched case-sensitively, as the prompts ask for them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

_ANSWER_SPLIT = re.compile("['\",;\n]")


class ParsedCompletion(NamedTuple):
    """A completion split into its parts; `labels` is the parsed answer list (empty if no answer)."""

    text: str
    think: str | None
    answer: str | None
    labels: tuple[str, ...]


def _content_text(content: object) -> str:
    """Concatenated text of a message content: a string, a part ``{"text": ...}`` /
    ``{"content": ...}``, or a (nested) list of them; other values as ``str``. Walked with an
    explicit stack, so arbitrarily deep nesting cannot exhaust the recursion limit."""
    pieces: list[str] = []
    stack: list[object] = [content]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, str):
            pieces.append(item)
        elif isinstance(item, dict):
            stack.append(item.get("text", item.get("content")))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        else:
            pieces.append(str(item))
    return "".join(pieces)


def completion_text(completion: object) -> str:
    """The text of a completion given as a string, a message dict or a list of message dicts."""
    if isinstance(completion, str):
        return completion
    if completion is None:
        return ""
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        if not messages:
            return _content_text(completion)
        assistant = [m for m in messages if m.get("role") == "assistant"] or messages
        return "\n".join(_content_text(m.get("content")) for m in assistant)
    return str(completion)


def extract_answer(text: str) -> str | None:
    """Inner text of the last complete ``<answer>...</answer>`` span, or None."""
    close = text.rfind(ANSWER_CLOSE)
    if close < 0:
        return None
    start = text.rfind(ANSWER_OPEN, 0, close)
    if start < 0:
        return None
    return text[start + len(ANSWER_OPEN):close]


def extract_think(text: str) -> str | None:
    """Inner text of the ``<think>...</think>`` span (see the module docstring), or None."""
    start = text.find(THINK_OPEN)
    if start < 0:
        close = text.find(THINK_CLOSE)
        return None if close < 0 else text[:close]
    start += len(THINK_OPEN)
    close = text.find(THINK_CLOSE, start)
    return None if close < 0 else text[start:close]


def parse_answer_list(answer: str | None) -> list[str]:
    """``"[Happy; worried.]"`` -> ``['happy', 'worried']``; None or blank -> ``[]``."""
    if not answer:
        return []
    text = answer.strip().lower()
    if text.startswith("["):
        text = text[1:]
    if text.endswith("]"):
        text = text[:-1]
    if "'" in text or '"' in text or ";" in text or "\n" in text:
        parts = _ANSWER_SPLIT.split(text)
    else:
        parts = text.split(",")
    out = []
    for part in parts:
        label = part.strip()
        if label.endswith("."):
            label = label.rstrip(".").rstrip()
        if label:
            out.append(label)
    return out


def is_well_formatted(text: str) -> bool:
    """True iff the whole text is ``<think>X</think><answer>Y</answer>`` with X and Y not blank,
    each tag exactly once and only whitespace around and between the two blocks."""
    if any(text.count(tag) != 1 for tag in TAGS):
        return False
    body = text.strip()
    if not (body.startswith(THINK_OPEN) and body.endswith(ANSWER_CLOSE)):
        return False
    think_close = body.find(THINK_CLOSE)
    answer_open = body.find(ANSWER_OPEN)
    if answer_open < think_close or body[think_close + len(THINK_CLOSE):answer_open].strip():
        return False
    think = body[len(THINK_OPEN):think_close]
    answer = body[answer_open + len(ANSWER_OPEN):-len(ANSWER_CLOSE)]
    return bool(think.strip()) and bool(answer.strip())


_CACHE_MAX_CHARS = 1 << 16


def _labels_of_text(text: str) -> tuple[str, ...]:
    return tuple(parse_answer_list(extract_answer(text)))


_labels_cached = lru_cache(maxsize=1024)(_labels_of_text)


def _parse_text(text: str) -> ParsedCompletion:
    labels = _labels_cached(text) if len(text) <= _CACHE_MAX_CHARS else _labels_of_text(text)
    return ParsedCompletion(text, extract_think(text), extract_answer(text), labels)


_parse_cached = lru_cache(maxsize=1024)(_parse_text)


def parse_completion(completion: object) -> ParsedCompletion:
    """Parse a completion (string or chat messages). Memoised for texts up to 64k characters, since
    every reward of a batch parses the same completions."""
    text = completion_text(completion)
    return _parse_cached(text) if len(text) <= _CACHE_MAX_CHARS else _parse_text(text)


def answer_labels(completion: object) -> tuple[str, ...]:
    """``parse_completion(completion).labels`` without parsing the rest (the EW reward's hot path)."""
    text = completion if isinstance(completion, str) else completion_text(completion)
    return _labels_cached(text) if len(text) <= _CACHE_MAX_CHARS else _labels_of_text(text)
