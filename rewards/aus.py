"""Facial Action Unit (AU) codes: parsing, canonical form and the FACS glossary.

Canonical form is ``AU<n>`` with no leading zeros (``au04`` -> ``AU4``); lists are sorted
numerically. Names follow Ekman & Friesen's Facial Action Coding System (FACS 2002): `AU_NAMES` are
the facial action units the prompts' glossary lists, `FACS_AU_NAMES` every FACS code a corpus may
annotate (the main codes 1-46, head positions 51-58 and eye positions 61-64; FEA-20K's BP4D and
RAF-AU sets use AU19, AU29-AU39 among them).
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

#: The FACS codes beyond `AU_NAMES`: further main codes, head and eye position codes.
_MORE_FACS: dict[str, str] = {
    "AU8": "lips toward each other", "AU19": "tongue show", "AU21": "neck tightener",
    "AU29": "jaw thrust", "AU30": "jaw sideways", "AU31": "jaw clencher", "AU32": "lip bite",
    "AU33": "cheek blow", "AU34": "cheek puff", "AU35": "cheek suck", "AU36": "tongue bulge",
    "AU37": "lip wipe", "AU38": "nostril dilator", "AU39": "nostril compressor",
    "AU41": "lid droop", "AU42": "slit", "AU44": "squint",
    "AU51": "head turn left", "AU52": "head turn right", "AU53": "head up", "AU54": "head down",
    "AU55": "head tilt left", "AU56": "head tilt right", "AU57": "head forward",
    "AU58": "head back", "AU61": "eyes turn left", "AU62": "eyes turn right", "AU63": "eyes up",
    "AU64": "eyes down",
}

#: Every FACS action-unit code with its name, numerically sorted.
FACS_AU_NAMES: dict[str, str] = dict(sorted({**AU_NAMES, **_MORE_FACS}.items(),
                                            key=lambda kv: int(kv[0][2:])))

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
    """True for any FACS action-unit code (`FACS_AU_NAMES`), in any accepted spelling."""
    try:
        return canonical_au(code) in FACS_AU_NAMES
    except ValueError:
        return False


def find_aus(text: str) -> list[str]:
    """AU codes mentioned in free text (``AU`` + optional space + number, any case), canonical and
    sorted. ``"AU 4 and au12, AU04"`` -> ``['AU4', 'AU12']``."""
    return sorted({f"AU{int(n)}" for n in _AU_RE.findall(text)}, key=au_number)


def au_set(text: str) -> set[str]:
    """The codes `find_aus` finds, as an unsorted set (the AU reward's hot path)."""
    return {f"AU{int(n)}" for n in _AU_RE.findall(text)}


def au_name(code: str) -> str:
    """The FACS name of an AU code (``AU19`` -> ``tongue show``); ``unknown`` for other codes."""
    return FACS_AU_NAMES.get(code, "unknown")


def au_glossary(codes: Iterable[str] | None = None) -> str:
    """One line per AU, ``AU4 (brow lowerer)``, for prompts (default: the codes of `AU_NAMES`)."""
    codes = AU_NAMES if codes is None else sort_aus(codes)
    return "\n".join(f"{c} ({au_name(c)})" for c in codes)
