"""Facial Action Unit (AU) codes: parsing, canonical form and the FACS glossary.

Canonical form is ``AU<n>`` with no leading zeros (``au04`` -> ``AU4``); lists are sorted
numerically. Names follow Ekman & Friesen's Facial Action Coding System.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: FACS action units with their standard names.
AU_NAMES: dict[str, str] = {
    "AU1": "inner brow raiser", "AU2": "outer brow raiser", "AU4": "brow lowerer",
    "AU5": "upper lid raiser", "AU6": "cheek raiser", "AU7": "lid tightener",
    "AU9": "nose wrinkler", "AU10": "upper lip raiser", "AU11": "nasolabial deepener",
    "AU12": "lip corner puller", "AU13": "sharp lip puller", "AU14": "dimpler",
    "AU15": "lip corner depressor", "AU16": "lower lip depressor", "AU17": "chin raiser",
    "AU18": "lip pucker", "AU20": "lip stretcher", "AU22": "lip funneler",
    "AU23": "lip tightener", "AU24": "lip pressor", "AU25": "lips part", "AU26": "jaw drop",
    "AU27": "mouth stretch", "AU28": "lip suck", "AU43": "eyes closed", "AU45": "blink",
    "AU46": "wink",
}

_AU_RE = re.compile(r"\bAU\s?0*(\d{1,3})\b", re.IGNORECASE)
_CODE_RE = re.compile(r"^\s*(?:AU)?\s?0*(\d{1,3})\s*$", re.IGNORECASE)


def au_number(code: str) -> int:
    """The integer of an AU code; raises ValueError for anything that is not one."""
    m = _CODE_RE.match(str(code))
    if not m:
        raise ValueError(f"not an AU code: {code!r}")
    return int(m.group(1))


def canonical_au(code: str | int) -> str:
    """``'au04'``, ``'AU 4'``, ``4`` -> ``'AU4'``. Raises ValueError on anything else."""
    return f"AU{code}" if isinstance(code, int) else f"AU{au_number(code)}"


def sort_aus(codes: Iterable[str]) -> list[str]:
    """Canonical, de-duplicated and numerically sorted AU codes."""
    return sorted({canonical_au(c) for c in codes}, key=au_number)


def is_known_au(code: str) -> bool:
    try:
        return canonical_au(code) in AU_NAMES
    except ValueError:
        return False


def find_aus(text: str) -> list[str]:
    """AU codes mentioned in free text (``AU`` + optional space + number, any case), canonical and
    sorted. ``"AU 4 and au12, AU04"`` -> ``['AU4', 'AU12']``."""
    return sorted({f"AU{int(n)}" for n in _AU_RE.findall(text)}, key=au_number)


def au_set(text: str) -> set[str]:
    """The codes `find_aus` finds, as an unsorted set (the AU reward's hot path)."""
    return {f"AU{int(n)}" for n in _AU_RE.findall(text)}


def au_glossary(codes: Iterable[str] | None = None) -> str:
    """One line per AU, ``AU4 (brow lowerer)``, for prompts."""
    codes = AU_NAMES if codes is None else sort_aus(codes)
    return "\n".join(f"{c} ({AU_NAMES.get(c, 'unknown')})" for c in codes)
