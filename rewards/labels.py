"""Canonical emotion labels: the one place where label aliases are normalised.

Every reader, reward and scorer calls `canonical_label`. The alias table only merges grammatical
variants of the same word (``happy`` -> ``happiness``, ``angry`` -> ``anger``); it never merges
different emotions (``joy`` stays ``joy``), because the emotion-wheel metric already handles
semantic closeness and merging here would change the published numbers.
"""

from __future__ import annotations

#: The eight categories of Facial-R1 / FEA-20K (basic emotions + contempt + neutral).
FACIAL_LABELS: tuple[str, ...] = (
    "anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
)

LABEL_ALIASES: dict[str, str] = {
    "happy": "happiness", "joyful": "joy", "angry": "anger", "mad": "anger", "sad": "sadness",
    "fearful": "fear", "afraid": "fear", "scared": "fear", "surprised": "surprise",
    "disgusted": "disgust", "contemptuous": "contempt", "worried": "worry", "neu": "neutral",
    "hap": "happiness", "ang": "anger", "sur": "surprise", "fea": "fear", "dis": "disgust",
}


def canonical_label(label: object) -> str:
    """Lower-case, trim, collapse inner whitespace and map an alias to its canonical label.

    >>> canonical_label("  Happy ")
    'happiness'
    >>> canonical_label("joy")
    'joy'
    """
    text = " ".join(str(label).strip().lower().split())
    text = text.strip(" .!,;:'\"")
    return LABEL_ALIASES.get(text, text)
