"""Emotion rewards and the emotion-wheel metric (pure Python: no torch, no transformers).

Registry: `REWARDS` maps a reward name to its factory; a factory takes the reward's YAML parameters
and returns a TRL-compatible callable ``f(completions, **columns) -> list[float | None]`` with
``__name__`` and ``required_columns`` set. `build_reward` / `build_rewards` build them from YAML::

    rewards:
      - ew                                   # defaults
      - {name: ew, level: 2, length_penalty: p2, weight: 0.5}
      - {name: soft_overlong, max_len: 1024, cache: 256}

=============  ==========================================  ==========================
name           parameters (default)                        dataset columns
=============  ==========================================  ==========================
ew             level (1), target (openset|labels),         openset (or labels)
               length_penalty (none|p1|p2|p3)
accuracy       match (first|any)                           labels
au             -                                           aus
format         -                                           -
alignment      level (1)                                   -
soft_overlong  max_len, cache (required), tokenizer        - (uses completion_ids)
=============  ==========================================  ==========================

Variants: ``variant: facial_r1`` on ``au``, ``accuracy`` and ``format`` selects the released
Facial-R1 definitions (`rewards.facial_r1`; no other parameters); ``variant: default`` or no
variant is the project's own definition above::

    rewards: [{name: accuracy, variant: facial_r1}, {name: format, variant: facial_r1}]
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from numbers import Real
from typing import Any, NamedTuple

from rewards.completion import ParsedCompletion, parse_completion
from rewards.emotion_wheel import EWScore, ew_score
from rewards.facial_r1 import FACIAL_R1_VARIANTS
from rewards.functions import (
    RewardFn,
    accuracy_reward,
    alignment_reward,
    au_reward,
    ew_reward,
    format_reward,
    soft_overlong_reward,
)
from rewards.lexicon import find_emotion_words

REWARDS: dict[str, Callable[..., RewardFn]] = {
    "ew": ew_reward,
    "accuracy": accuracy_reward,
    "au": au_reward,
    "format": format_reward,
    "alignment": alignment_reward,
    "soft_overlong": soft_overlong_reward,
}

#: reward name -> {variant name -> factory}; "default" is always the `REWARDS` entry.
VARIANTS: dict[str, dict[str, Callable[..., RewardFn]]] = {
    name: {"facial_r1": factory} for name, factory in FACIAL_R1_VARIANTS.items()
}

__all__ = [
    "REWARDS", "VARIANTS", "RewardFn", "RewardSuite", "build_reward", "build_rewards",
    "reward_params", "reward_variants",
    "ew_score", "EWScore", "find_emotion_words", "parse_completion", "ParsedCompletion",
]


class RewardSuite(NamedTuple):
    """Built rewards: ``funcs`` for ``GRPOTrainer(reward_funcs=...)`` and ``weights`` for
    ``GRPOConfig(reward_weights=...)``, in the order of the spec."""

    funcs: list[RewardFn]
    weights: list[float]


def reward_variants(name: str) -> list[str]:
    """The variants of reward `name`: ``["default", ...]``."""
    _factory(name)
    return ["default", *VARIANTS.get(name, {})]


def reward_params(name: str, variant: str | None = None) -> dict[str, Any]:
    """Parameters of reward `name` (of its `variant`) -> default value
    (``inspect.Parameter.empty`` when required)."""
    factory = _factory(name, variant)
    return {p.name: p.default for p in inspect.signature(factory).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _factory(name: object, variant: object = None) -> Callable[..., RewardFn]:
    if not isinstance(name, str) or name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; valid rewards: {', '.join(REWARDS)}")
    if variant is None or variant == "default":
        return REWARDS[name]
    variants = VARIANTS.get(name, {})
    if not isinstance(variant, str) or variant not in variants:
        raise ValueError(f"reward {name!r}: unknown variant {variant!r}; valid variants: "
                         f"{', '.join(['default', *variants])}")
    return variants[variant]


def build_reward(name: str, variant: str | None = None, **params: Any) -> RewardFn:
    """Build reward `name` (its `variant`, e.g. ``"facial_r1"``; None = default) from its
    parameters; ValueError on an unknown name or variant, an unknown or missing parameter, or a
    bad value (the message lists the valid ones)."""
    factory = _factory(name, variant)
    valid = reward_params(name, variant)
    open_ended = any(p.kind == p.VAR_KEYWORD
                     for p in inspect.signature(factory).parameters.values())
    unknown = sorted(set(params) - set(valid))
    if unknown and not open_ended:
        listed = ", ".join(valid) if valid else "none"
        of = f" (variant {variant})" if variant not in (None, "default") else ""
        raise ValueError(f"reward {name!r}{of}: unknown parameter(s) {', '.join(unknown)}; "
                         f"valid parameters: {listed}")
    missing = [p for p, default in valid.items()
               if default is inspect.Parameter.empty and p not in params]
    if missing:
        raise ValueError(f"reward {name!r}: missing required parameter(s) {', '.join(missing)}")
    try:
        return factory(**params)
    except ValueError as e:
        raise ValueError(f"reward {name!r}: {e}") from None


def build_rewards(spec: Iterable[str | dict[str, Any]]) -> RewardSuite:
    """Build the rewards of a YAML list: each entry is a name or ``{name, weight?, **params}``.

    Weights default to 1.0. When the same reward appears twice, later copies get ``__name__``
    suffixes ``_2``, ``_3``, ... so that TRL logs them apart.
    """
    if isinstance(spec, (str, dict)) or not isinstance(spec, Iterable):
        raise ValueError("rewards must be a list of names or {name: ..., weight: ..., ...} entries")
    funcs: list[RewardFn] = []
    weights: list[float] = []
    seen: dict[str, int] = {}
    for entry in spec:
        if isinstance(entry, str):
            name, weight, params = entry, 1.0, {}
        elif isinstance(entry, dict):
            params = dict(entry)
            if "name" not in params:
                raise ValueError(f"reward entry {entry!r} has no 'name'; valid rewards: "
                                 f"{', '.join(REWARDS)}")
            name = params.pop("name")
            weight = params.pop("weight", 1.0)
        else:
            raise ValueError(f"reward entry must be a name or a mapping, got {entry!r}")
        if isinstance(weight, bool) or not isinstance(weight, Real):
            raise ValueError(f"reward {name!r}: weight must be a number, got {weight!r}")
        func = build_reward(name, **params)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            func.__name__ = func.__qualname__ = f"{name}_{seen[name]}"
        funcs.append(func)
        weights.append(float(weight))
    return RewardSuite(funcs, weights)
