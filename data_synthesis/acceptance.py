"""Acceptance rules: thresholds on reward scores, and the choice of the best passing candidate.

Rules are written in YAML as a mapping ``{reward: "OP VALUE"}`` or a list ``["reward OP VALUE"]``
with OP one of ``>= > <= < == !=``; a bare number ``{ew: 0.8}`` means ``>= 0.8``::

    accept: {au: "== 1.0", accuracy: "== 1", format: "== 1"}     # Facial-R1
    accept: ["ew >= 0.8", "format == 1"]                           # open-set corpora

A candidate passes when every rule holds. A reward that returns None for an item ("not applicable",
e.g. `au` on an item with no ground-truth AU) does not block it: that rule is skipped for that item.
Among the passing candidates of an item the one with the highest total score wins (None counts 0;
ties go to the earlier candidate), so the choice is deterministic.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
    "==": lambda a, b: math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9),
    "!=": lambda a, b: not math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9),
}
_RULE_RE = re.compile(r"^\s*(?:(?P<reward>[A-Za-z_][\w]*)\s*)?(?P<op>>=|<=|==|!=|>|<)\s*"
                      r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")

Scores = dict[str, float | None]


@dataclass(frozen=True)
class Rule:
    """``reward OP threshold``, e.g. ``au == 1.0``."""

    reward: str
    op: str
    threshold: float

    def holds(self, score: float | None) -> bool:
        """True when the score meets the threshold, or when the reward does not apply (None)."""
        return score is None or OPERATORS[self.op](float(score), self.threshold)

    def __str__(self) -> str:
        return f"{self.reward} {self.op} {self.threshold:g}"


def parse_rule(text: str, reward: str | None = None) -> Rule:
    """``"au >= 1.0"``, or ``">= 1.0"`` with `reward` given. ValueError when malformed."""
    m = _RULE_RE.match(str(text))
    if not m or (reward is None) == (m.group("reward") is None):
        expected = "'OP VALUE'" if reward is not None else "'REWARD OP VALUE'"
        raise ValueError(f"bad rule {text!r}: expected {expected} with OP one of "
                         f"{' '.join(OPERATORS)}")
    return Rule(reward or m.group("reward"), m.group("op"), float(m.group("value")))


def parse_rules(spec: object) -> list[Rule]:
    """Rules from the YAML `accept` value (mapping or list; see the module docstring)."""
    rules: list[Rule] = []
    if isinstance(spec, Mapping):
        for reward, condition in spec.items():
            if isinstance(condition, bool) or not isinstance(condition, (int, float, str)):
                raise ValueError(f"rule for {reward!r} must be 'OP VALUE' or a number, "
                                 f"got {condition!r}")
            if isinstance(condition, (int, float)):
                condition = f">= {condition}"
            rules.append(parse_rule(condition, reward=str(reward)))
    elif isinstance(spec, Sequence) and not isinstance(spec, str):
        rules = [parse_rule(item) for item in spec]
    else:
        raise ValueError("expected a mapping {reward: 'OP VALUE'} or a list ['reward OP VALUE']")
    if not rules:
        raise ValueError("no acceptance rule given")
    return rules


def failed_rules(rules: Sequence[Rule], scores: Scores) -> list[Rule]:
    """The rules a candidate's scores break (empty: the candidate passes)."""
    return [r for r in rules if not r.holds(scores.get(r.reward))]


def total_score(scores: Scores, weights: Mapping[str, float] | None = None) -> float:
    """Weighted sum of the scores, None counting 0."""
    return sum((weights or {}).get(k, 1.0) * v for k, v in scores.items() if v is not None)


def best_candidate(candidate_scores: Sequence[Scores], rules: Sequence[Rule],
                   weights: Mapping[str, float] | None = None,
                   passing_only: bool = True) -> int | None:
    """Index of the best candidate (highest total score, earliest on ties) among those that pass
    every rule, or among all of them when `passing_only` is False; None when there is none."""
    best, best_total = None, -math.inf
    for i, scores in enumerate(candidate_scores):
        if passing_only and failed_rules(rules, scores):
            continue
        total = total_score(scores, weights)
        if total > best_total:
            best, best_total = i, total
    return best
