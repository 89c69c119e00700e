"""Deterministic sentiment of an emotion-word list (the `answer` and `lexicon` extractors).

The official MER-UniBench pipeline asks an LLM to map the extracted emotion words to positive,
negative or neutral. Without an extractor LLM we do it by rule, from the emotion wheels the EW metric
already uses:

1. each word votes: ``v(word)`` is taken from the first of
   a. `OVERRIDES` (a handful of words the wheels place badly for sentiment: ``positive``,
      ``negative``, ``neutral``, ``excited``, ``indifferent``...),
   b. wheel 1 at level 1: ``happy`` -> +1; ``sad``, ``mad``, ``scared``, ``disgusted`` -> -1;
      ``surprised`` -> 0,
   c. wheel 3 at level 1: ``joyful``, ``peaceful``, ``powerful`` -> +1; ``mad``, ``sad``,
      ``scared`` -> -1,
   and a word none of them knows does not vote;
2. S = sum of the votes; positive if S > 0, negative if S < 0, otherwise (ties, only neutral
   words, no known word, empty list) neutral.

Wheel 1 goes first because wheels 2-5 carry the official mapping of ``fear`` through ``fearless``
(so ``fear`` lands on ``happy``/``joyful`` there); wheel 1 maps it to ``scared``. The sentiment
scorer counts neutral as not positive, as the official code does.
"""

from __future__ import annotations

from collections.abc import Iterable

from rewards.emotion_wheel import map_label

SENTIMENTS = ("positive", "negative", "neutral")

OVERRIDES: dict[str, int] = {
    "positive": 1, "negative": -1, "neutral": 0, "indifferent": 0, "calm": 0,
    "excited": 1, "excitement": 1, "surprise": 0, "surprised": 0,
}
WHEEL1_VOTES = {"happy": 1, "sad": -1, "mad": -1, "scared": -1, "disgusted": -1, "surprised": 0}
WHEEL3_VOTES = {"joyful": 1, "peaceful": 1, "powerful": 1, "mad": -1, "sad": -1, "scared": -1}


def word_vote(word: str) -> int | None:
    """+1, -1 or 0 for a word the rules know (step 1 of the module docstring), else None."""
    w = " ".join(str(word).lower().split())
    if w in OVERRIDES:
        return OVERRIDES[w]
    for wheel, votes in ((1, WHEEL1_VOTES), (3, WHEEL3_VOTES)):
        mapped = map_label(w, wheel, 1)
        if mapped is not None and mapped in votes:
            return votes[mapped]
    return None


def words_sentiment(words: Iterable[str]) -> str:
    """``positive`` / ``negative`` / ``neutral`` from the sign of the summed votes S (module
    docstring): S > 0 positive, S < 0 negative, S = 0 neutral.

    >>> words_sentiment(["happy", "relaxed", "worried"])
    'positive'
    """
    total = 0
    for word in words:
        vote = word_vote(word)
        if vote is not None:
            total += vote
    return "positive" if total > 0 else "negative" if total < 0 else "neutral"
