"""What was wrong with a rejected candidate, in words the model can act on in its next attempt.

For each acceptance rule the candidate broke, `problems` names the concrete mistakes: missing and
extra Action Units (``missing AU4 (brow lowerer)``), a wrong label, a bad format, an answer list far
from the expected emotions; rules on other rewards are reported with their score and threshold.
`feedback_block` turns them into the text appended to the retry prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from data_synthesis.acceptance import Rule, Scores, failed_rules
from rewards import parse_completion
from rewards.aus import FACS_AU_NAMES, find_aus, sort_aus
from rewards.labels import canonical_label

FEEDBACK_HEADER = "Your previous answer was rejected:"
FEEDBACK_FOOTER = "Write a new answer that fixes these problems."
FORMAT_HINT = ("bad format: reply exactly as <think>your reasoning</think><answer>your answer"
               "</answer>, each tag once and nothing outside them")


def au_phrase(code: str) -> str:
    """``AU4`` -> ``AU4 (brow lowerer)``."""
    return f"{code} ({FACS_AU_NAMES.get(code, 'unknown action unit')})"


def _base(reward: str) -> str:
    return re.sub(r"_\d+$", "", reward)


def au_problems(completion: str, item: dict) -> list[str]:
    """Missing and extra AUs of the think span against the item's ground-truth AUs."""
    think = parse_completion(completion).think
    if think is None:
        return ["no <think> block: name the Action Units inside <think> </think>"]
    truth = set(sort_aus(item.get("aus") or []))
    found = set(find_aus(think))
    lines = [f"missing {au_phrase(c)}" for c in sort_aus(truth - found)]
    lines += [f"extra {au_phrase(c)}: not active in this face" for c in sort_aus(found - truth)]
    return lines


def label_problems(completion: str, item: dict) -> list[str]:
    """A missing answer or a label that is not the item's (first) label."""
    answer = parse_completion(completion).answer
    labels = [canonical_label(x) for x in item.get("labels") or []]
    if answer is None or not answer.strip():
        return ["no <answer> block: give the emotion label inside <answer> </answer>"]
    if labels and canonical_label(answer) != labels[0]:
        return [f"wrong label: answered {answer.strip()!r}, expected {labels[0]!r}"]
    return []


def openset_problems(completion: str, item: dict, rule: Rule, score: float | None) -> list[str]:
    """An answer list too far from the expected emotion words (the `ew` reward)."""
    parsed = parse_completion(completion)
    expected = ", ".join(item.get("openset") or item.get("labels") or [])
    if not parsed.labels:
        return [f"no emotion words in <answer> </answer>; expected words like: {expected}"]
    return [f"the emotion words ({', '.join(parsed.labels)}) are too far from the expected ones "
            f"(ew {_fmt(score)}, needs {rule.op} {rule.threshold:g}); expected: {expected}"]


def problems(completion: str, item: dict, scores: Scores, rules: Sequence[Rule]) -> list[str]:
    """Everything wrong with `completion` under `rules`, one line each, without repeats."""
    lines: list[str] = []
    for rule in failed_rules(rules, scores):
        kind, score = _base(rule.reward), scores.get(rule.reward)
        if kind == "au":
            found = au_problems(completion, item)
        elif kind == "accuracy":
            found = label_problems(completion, item)
        elif kind == "format":
            found = [FORMAT_HINT]
        elif kind == "ew":
            found = openset_problems(completion, item, rule, score)
        elif kind == "alignment":
            found = [f"the reasoning does not name the emotions given in the answer (alignment "
                     f"{_fmt(score)}, needs {rule.op} {rule.threshold:g})"]
        elif kind == "soft_overlong":
            found = [f"too long (soft_overlong {_fmt(score)}, needs {rule.op} "
                     f"{rule.threshold:g}): answer more briefly"]
        else:
            found = []
        lines += found or [f"{rule.reward} scored {_fmt(score)}, needs {rule.op} "
                           f"{rule.threshold:g}"]
    return list(dict.fromkeys(lines))


def feedback_block(lines: Sequence[str]) -> str:
    """The retry prompt's feedback: a header, one ``- problem`` line each, a closing request."""
    body = "\n".join(f"- {line}" for line in lines)
    return f"{FEEDBACK_HEADER}\n{body}\n{FEEDBACK_FOOTER}"


def _fmt(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.2f}"
