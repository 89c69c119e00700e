"""The emotion-wheel data (format map, synonym map, five wheels) and the maps the EW metric uses.

Loaded once from the packaged ``data/emotion_wheel.json.gz`` (a dump of the official AffectGPT files,
see ``data/NOTICE`` and `rewards.build_wheel_data`); nothing here reads files outside the package.

Definitions (MER-UniBench / OV-MER, reproduced exactly):

- *format map*: for each row of ``format.csv``, every surface form -> the row's ``name``, and
  ``name`` -> ``name``. A form may map to several names.
- *synonym map*: for each run r in 1..8 and each row, ``word_run_r`` (lower/strip) -> itself and every
  item of ``synonym_run_r`` (lower/strip) -> ``word_run_r``; the union over runs.
- *wheel map* of wheel w, level 1: every level1, level2 and level3 word -> its level1 word. Level 2:
  a level1 word -> the alphabetically first of its level2 children, a level2 word -> itself, a level3
  word -> its level2 word. Blank cells inherit the value above; words are lower-cased and stripped;
  a word seen again later overwrites (iteration order: level1 groups in first-seen order, each with
  its level2 groups in first-seen order).
- *mapping* of a label under a wheel: dropped (None) if the label is not a key of the format map;
  otherwise every synonym-map target of every format-map target is collected, sorted, and the wheel-map
  value of the first one present in the wheel map is returned (None if none is).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rewards.label_list import split_list_string

DATA_FILE = Path(__file__).parent / "data" / "emotion_wheel.json.gz"
N_WHEELS = 5
LEVELS = (1, 2)

#: A wheel as nested dicts: level1 -> level2 -> [level3, ...], in first-seen order.
WheelTree = dict[str, dict[str, list[str]]]


@dataclass(frozen=True)
class WheelData:
    format_map: dict[str, tuple[str, ...]]
    synonym_map: dict[str, frozenset[str]]
    trees: tuple[WheelTree, ...]


def build_format_map(rows: list[list[str]]) -> dict[str, tuple[str, ...]]:
    """Surface form -> names (rows of ``[name, "form,form,..."]``)."""
    out: dict[str, list[str]] = {}
    for name, forms in rows:
        for form in split_list_string(forms):
            out.setdefault(form, []).append(name)
        out.setdefault(name, []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def build_synonym_map(runs: list[list[list[str]]]) -> dict[str, frozenset[str]]:
    """Word -> wheel words it stands for, merged over the eight runs."""
    out: dict[str, set[str]] = {}
    for run in runs:
        for word, synonyms in run:
            raw = word.strip().lower()
            out.setdefault(raw, set()).add(raw)
            for synonym in split_list_string(synonyms):
                out.setdefault(synonym.strip().lower(), set()).add(raw)
    return {k: frozenset(v) for k, v in out.items()}


def build_wheel_tree(rows: list[list[str | None]]) -> WheelTree:
    """Nested level1 -> level2 -> [level3] dicts; a blank (None) cell inherits the value above."""
    tree: WheelTree = {}
    level1 = level2 = level3 = ""
    for cell1, cell2, cell3 in rows:
        level1 = (level1 if cell1 is None else cell1).lower().strip()
        level2 = (level2 if cell2 is None else cell2).lower().strip()
        level3 = (level3 if cell3 is None else cell3).lower().strip()
        tree.setdefault(level1, {}).setdefault(level2, []).append(level3)
    return tree


def build_wheel_map(tree: WheelTree, level: int) -> dict[str, str]:
    """Word -> its cluster word on `level` (1 or 2); later entries overwrite earlier ones."""
    if level not in LEVELS:
        raise ValueError(f"level must be 1 or 2, got {level!r}")
    out: dict[str, str] = {}
    for level1, children in tree.items():
        out[level1] = level1 if level == 1 else sorted(children)[0]
        for level2, leaves in children.items():
            target = level1 if level == 1 else level2
            out[level2] = target
            for level3 in leaves:
                out[level3] = target
    return out


def map_label_with(label: str, format_map: dict[str, tuple[str, ...]],
                   synonym_map: dict[str, frozenset[str]], wheel_map: dict[str, str]) -> str | None:
    """The wheel word `label` maps to, or None when it is dropped."""
    names = format_map.get(label)
    if names is None:
        return None
    collected = [word for name in names for word in synonym_map.get(name, ())]
    for word in sorted(collected):
        if word in wheel_map:
            return wheel_map[word]
    return None


@cache
def load(path: str | None = None) -> WheelData:
    """The packaged data (parsed once and cached)."""
    with gzip.open(DATA_FILE if path is None else path, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    return WheelData(
        format_map=build_format_map(raw["format"]),
        synonym_map=build_synonym_map(raw["synonym_runs"]),
        trees=tuple(build_wheel_tree(rows) for rows in raw["wheels"]),
    )


@cache
def wheel_map(wheel: int, level: int = 1) -> dict[str, str]:
    """The wheel map of wheel `wheel` (1..5) at `level` (1 or 2)."""
    if not 1 <= wheel <= N_WHEELS:
        raise ValueError(f"wheel must be 1..{N_WHEELS}, got {wheel!r}")
    return build_wheel_map(load().trees[wheel - 1], level)


@cache
def label_table(wheel: int, level: int = 1) -> dict[str, str]:
    """Every format-map key that survives the mapping under (`wheel`, `level`) -> its wheel word."""
    data = load()
    wmap = wheel_map(wheel, level)
    out = {}
    for label in data.format_map:
        word = map_label_with(label, data.format_map, data.synonym_map, wmap)
        if word is not None:
            out[label] = word
    return out


@cache
def surface_forms() -> frozenset[str]:
    """All keys of the format map (the vocabulary the metric recognises)."""
    return frozenset(load().format_map)
