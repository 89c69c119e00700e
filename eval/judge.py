"""EMER judge, the project's variant (``affectllm eval emer --protocol project``; AffectGPT's
protocol is `eval.emer_affectgpt`): two prompts for a local judge LLM and a robust reader of its
scores.

In the spirit of the EMER paper's protocol (in our own words, in English), the judge compares a
reference description with a predicted one twice:

- clue overlap (`CLUE_PROMPT`): summarise the emotional state each description attributes to the
  person, then rate how much the two states overlap;
- label overlap (`LABEL_PROMPT`): list the emotion words of each description, then rate how much the
  two sets overlap (synonyms count as the same emotion).

Both ratings are on a 1-10 scale (higher = more overlap) and end with ``Overlap score: N``.
`parse_score` reads a reply: a ``<think>`` block is ignored; the last number that follows the word
"score" and lies in [1, 10] wins; failing that, the first number in [1, 10] anywhere in the reply;
failing that the reply is invalid (None). Invalid replies are counted, never fatal; the reported
score is the mean over the valid ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from eval.extract import strip_think

SCORE_RANGE = (1.0, 10.0)

CLUE_PROMPT = (
    "You are an expert in human emotions. Two descriptions of the same person in the same clip "
    "follow: a reference written by annotators and a prediction written by a model.\n\n"
    "Reference: {reference}\n\nPrediction: {prediction}\n\n"
    "First summarise, in one sentence each, the emotional state that the reference and the "
    "prediction attribute to the person. Then rate how much the two emotional states overlap, "
    "from 1 (nothing in common) to 10 (the same state). Finish with a line of the form "
    "'Overlap score: N'.")

LABEL_PROMPT = (
    "You are an expert in human emotions. Two descriptions of the same person in the same clip "
    "follow: a reference written by annotators and a prediction written by a model.\n\n"
    "Reference: {reference}\n\nPrediction: {prediction}\n\n"
    "First list the emotion words each description uses for the person (one list for the "
    "reference, one for the prediction). Then rate how much the two sets of emotions overlap, "
    "counting synonyms as the same emotion, from 1 (no shared emotion) to 10 (the same emotions). "
    "Finish with a line of the form 'Overlap score: N'.")

PROMPTS = {"clue_overlap": CLUE_PROMPT, "label_overlap": LABEL_PROMPT}

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_LABELLED = re.compile(r"score\W{0,6}(?:is|of|=|:)?\W{0,6}(" + _NUMBER + r")", re.IGNORECASE)
_ANY_NUMBER = re.compile(_NUMBER)


def _in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def parse_score(reply: str | None, bounds: tuple[float, float] = SCORE_RANGE) -> float | None:
    """The judge's score (module docstring), or None for an invalid reply.

    >>> parse_score("Summary: both sad. Overlap score: 7/10")
    7.0
    >>> parse_score("no idea") is None
    True
    """
    if not isinstance(reply, str) or not reply.strip():
        return None
    text = strip_think(reply)
    labelled = [float(m.group(1)) for m in _LABELLED.finditer(text)]
    for value in reversed(labelled):
        if _in_range(value, bounds):
            return value
    for m in _ANY_NUMBER.finditer(text):
        value = float(m.group(0))
        if _in_range(value, bounds):
            return value
    return None


@dataclass(frozen=True)
class JudgeScore:
    """Mean of the valid scores (None when none is valid), with the counts."""

    mean: float | None
    n_valid: int
    n_invalid: int

    def as_dict(self) -> dict:
        total = self.n_valid + self.n_invalid
        return {"mean": self.mean, "n_valid": self.n_valid, "n_invalid": self.n_invalid,
                "invalid_rate": self.n_invalid / total if total else 0.0}


def judge_mean(scores: Sequence[float | None]) -> JudgeScore:
    """mean = Σ valid scores / number of valid scores; invalid (None) scores are only counted."""
    valid = [s for s in scores if s is not None]
    return JudgeScore(sum(valid) / len(valid) if valid else None, len(valid),
                      len(scores) - len(valid))
