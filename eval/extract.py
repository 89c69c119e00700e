"""Label extractors: from a model's free-text answer to an open-vocabulary emotion-word list (and,
for sentiment data sets, a polarity).

======================  ================================================================================
extractor               words                                  sentiment (sentiment data sets)
======================  ================================================================================
``answer``              the ``<answer>`` list                  `eval.polarity.words_sentiment` of the words
                        (`rewards.completion.parse_answer_list`;
                        no answer span -> [] and noted)
``lexicon``             emotion-wheel surface forms found in   same rule as ``answer``
                        the whole text
                        (`rewards.find_emotion_words`)
a model path            an LLM reads the description and       a second prompt maps the word list to
                        lists the clearly identifiable          positive / negative / neutral
                        emotion words (`LIST_PROMPT`)           (`SENTIMENT_PROMPT`)
======================  ================================================================================

The LLM path follows the official MER-UniBench protocol (description -> word list -> sentiment),
with prompts in our own words. Its answers are read leniently: a ``<think>`` block is dropped, the
first ``[...]`` span is taken when there is one (else the whole reply), and it is split like the
official scorer splits list strings (`rewards.label_list.parse_label_list`). A sentiment reply is the
first of ``positive`` / ``negative`` / ``neutral`` it contains as a word; a reply with none of them
counts as neutral, as the official code counts unknown replies as 0, and is noted ``unparsed``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from affectllm.generation import Sampling
from eval.polarity import words_sentiment
from eval.runs import (
    BackendPool,
    Job,
    KeptCalls,
    StageResult,
    fingerprint,
    model_stamp,
    run_jobs,
    text_request,
)
from rewards.completion import parse_completion
from rewards.label_list import parse_label_list
from rewards.lexicon import find_emotion_words

RULE_EXTRACTORS = ("answer", "lexicon")

LIST_PROMPT = (
    "You are an expert in human emotions. The text below describes a person and may contain clues "
    "about how they feel.\n\nText: {text}\n\n"
    "Which emotions does the text clearly identify for the main person? Write only the emotion "
    "words you are confident about, as a list in square brackets separated by commas, for example "
    "['happy', 'relaxed']. Write [] if no emotion can be identified. Give the list and nothing "
    "else.")

SENTIMENT_PROMPT = (
    "You are an expert in human emotions. These words describe how a person feels: {words}\n"
    "Taken together, is the person's sentiment positive, negative or neutral? Examples: "
    "['joyful'] -> positive; ['angry', 'tired'] -> negative; [] -> neutral. "
    "Answer with one word: positive, negative or neutral.")

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_SENTIMENT_WORD = re.compile(r"\b(positive|negative|neutral)\b", re.IGNORECASE)


@dataclass
class Extraction:
    """What an extractor found for one sample. `note`: ``no_answer`` (answer extractor, no answer
    span), ``failed`` (the description or an extractor call failed), ``unparsed`` (sentiment reply
    without a polarity word) or None."""

    words: list[str]
    sentiment: str | None = None
    raw: str | None = None
    sentiment_raw: str | None = None
    note: str | None = None

    def as_row(self) -> dict:
        return asdict(self)


def is_rule_extractor(extractor: str) -> bool:
    return extractor in RULE_EXTRACTORS


def format_list(words: Sequence[str]) -> str:
    """``['a', 'b']``: the list-string format of the MER-UniBench CSVs (``[]`` when empty)."""
    return "[" + ", ".join(f"'{w}'" for w in words) + "]"


def answer_words(text: str) -> list[str] | None:
    """The parsed ``<answer>`` list, or None when the text has no complete answer span."""
    parsed = parse_completion(text or "")
    return list(parsed.labels) if parsed.answer is not None else None


def lexicon_words(text: str) -> list[str]:
    """Emotion-wheel surface forms in the whole text, in order of first appearance."""
    return find_emotion_words(text or "")


def strip_think(text: str) -> str:
    """A reply without its ``<think>...</think>`` blocks (or the text after a lone ``</think>``)."""
    text = _THINK_BLOCK.sub("", text or "")
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text


def parse_extractor_list(reply: str) -> list[str]:
    """An extractor LLM's word list (module docstring): ``"Sure: ['Happy', 'calm']"`` ->
    ``['happy', 'calm']``."""
    text = strip_think(reply).strip()
    span = _BRACKETS.search(text)
    return [w for w in parse_label_list(span.group(0) if span else text) if w]


def parse_sentiment(reply: str) -> str | None:
    """The first of positive / negative / neutral in the reply (as a word), lower-cased; None."""
    m = _SENTIMENT_WORD.search(strip_think(reply))
    return m.group(1).lower() if m else None


def rule_extract(text: str | None, extractor: str, sentiment: bool) -> Extraction:
    """`answer` or `lexicon` extraction of one description (None = the generation failed)."""
    if text is None:
        return Extraction([], "neutral" if sentiment else None, note="failed")
    note = None
    if extractor == "answer":
        words = answer_words(text)
        if words is None:
            words, note = [], "no_answer"
    elif extractor == "lexicon":
        words = lexicon_words(text)
    else:
        raise ValueError(f"not a rule extractor: {extractor!r}")
    return Extraction(words, words_sentiment(words) if sentiment else None, note=note)


@dataclass
class LLMExtractor:
    """The extractor LLM: its model path, sampling and the kept-call files of its two prompts."""

    model: str
    sampling: Sampling

    def list_jobs(self, descriptions: dict[str, tuple[str, str]]) -> list[Job]:
        """One list prompt per (id -> (group, description))."""
        stamp = model_stamp(self.model)
        base = {"stage": "extract-list", "model": stamp, "prompt": LIST_PROMPT,
                "sampling": asdict(self.sampling)}
        return [Job(i, group, text_request(LIST_PROMPT.format(text=text)),
                    fingerprint({**base, "text": text}))
                for i, (group, text) in descriptions.items()]

    def sentiment_jobs(self, word_lists: dict[str, tuple[str, list[str]]]) -> list[Job]:
        """One sentiment prompt per (id -> (group, words))."""
        stamp = model_stamp(self.model)
        base = {"stage": "extract-sentiment", "model": stamp, "prompt": SENTIMENT_PROMPT,
                "sampling": asdict(self.sampling)}
        jobs = []
        for i, (group, words) in word_lists.items():
            listed = format_list(words)
            jobs.append(Job(i, group, text_request(SENTIMENT_PROMPT.format(words=listed)),
                            fingerprint({**base, "words": listed})))
        return jobs

    def run(self, descriptions: dict[str, tuple[str, str | None]], sentiment_ids: set[str],
            lists_kept: KeptCalls, sentiment_kept: KeptCalls, pool: BackendPool | None,
            reuse_only: bool
            ) -> tuple[dict[str, Extraction], dict[str, StageResult]]:
        """Extract every description (id -> (group, text or None when its generation failed)).

        Failed descriptions are not sent; they get an empty list (and neutral). Returns the
        extractions by id and the stage results of the two prompts."""
        usable = {i: (g, t) for i, (g, t) in descriptions.items() if t is not None}
        lists = run_jobs(self.list_jobs(usable), lists_kept, pool=pool, model=self.model,
                         sampling=self.sampling, desc="extracting emotion words",
                         role="extractor", reuse_only=reuse_only)
        out: dict[str, Extraction] = {}
        for i, (_group, text) in descriptions.items():
            if text is None:
                out[i] = Extraction([], "neutral" if i in sentiment_ids else None, note="failed")
                continue
            row = lists.rows[i]
            if row.get("error"):
                out[i] = Extraction([], None, raw=None, note="failed")
            else:
                out[i] = Extraction(parse_extractor_list(row["text"]), raw=row["text"])
        stages = {"extractor_lists": lists}
        wanted = {i: (descriptions[i][0], out[i].words) for i in descriptions
                  if i in sentiment_ids and out[i].note != "failed"}
        if sentiment_ids:
            polar = run_jobs(self.sentiment_jobs(wanted), sentiment_kept, pool=pool,
                             model=self.model, sampling=self.sampling,
                             desc="mapping words to sentiment", role="extractor",
                             reuse_only=reuse_only)
            stages["extractor_sentiment"] = polar
            for i in sentiment_ids:
                if i not in wanted:
                    out[i].sentiment = "neutral"
                    continue
                row = polar.rows[i]
                if row.get("error"):
                    out[i].sentiment, out[i].note = "neutral", "failed"
                    continue
                value = parse_sentiment(row["text"])
                out[i].sentiment_raw = row["text"]
                out[i].sentiment = value or "neutral"
                if value is None:
                    out[i].note = "unparsed"
        return out, stages
