"""``variant: facial_r1``: the au, accuracy and format rewards as the released Facial-R1 code
defines them (RobitsG/Facial-R1, ``src/open-r1-multimodal/src/open_r1/grpo_jsonl.py``, built on
VLM-R1), value for value, including their edge cases. Pure Python; written from the published
definitions, no upstream code.

Select them in a recipe with ``rewards: [{name: au, variant: facial_r1}, ...]`` or
``rewards.build_reward("au", variant="facial_r1")``. The project's default definitions
(`rewards.functions`) stay the default: they return None ("not applicable") where the paper
returns a number, canonicalise AU codes and map label aliases. The paper's variants never return
None, so TRL averages every sample into the reward.

The variants score the dataset columns as they are. Canonical samples hold labels and AU codes
normalised once, when `affectllm data convert` builds them (canonical lower-case labels, ``AU<n>``
codes); upstream read its raw JSONL. On a raw label such as "Sadness" or a raw code "AU04" the
ground truth differs before any reward runs; the reward functions themselves are upstream's.

The completion text is the one `rewards.completion.completion_text` returns (for TRL's
``[{"role": "assistant", "content": text}]`` that is ``text``, what upstream reads as
``completion[0]["content"]``); it is used as is, never stripped or lower-cased.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rewards.completion import completion_text

RewardFn = Callable[..., list[float]]

# The spans the paper's functions look for (Python `re` semantics: `\d` is any Unicode decimal
# digit; `<think>` is matched case-insensitively by the AU reward only).
_THINK_SPAN = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_AU_CODE = re.compile(r"AU\d+")
_ANSWER_SPAN = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_SOLUTION_SPAN = re.compile(r"<answer>(.*?)</answer>")  # no DOTALL, as upstream
_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)

#: The reward upstream gives when the ground-truth label is empty.
EMPTY_LABEL_REWARD = 0.5


def _finish(fn: Callable, name: str, required: tuple[str, ...], doc: str) -> RewardFn:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.required_columns = required  # type: ignore[attr-defined]
    return fn


def _cells(columns: dict[str, Any], name: str, n: int, reward: str) -> Sequence[Any]:
    values = columns.get(name)
    if values is None:
        raise ValueError(f"reward {reward!r} (variant facial_r1) needs the dataset column "
                         f"{name!r}; got columns "
                         f"{sorted(k for k in columns if not k.startswith('_'))}")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) != n:
        raise ValueError(f"reward {reward!r}: column {name!r} must be a list aligned with the "
                         f"{n} completions")
    return values


# ---------------------------------------------------------------------------------------- AU


def paper_think_aus(text: str) -> list[str]:
    """AU codes of the paper's AU reward: the first ``<think>...</think>`` span (tags in any
    case, lazily up to the first closing tag), upper-cased, every ``AU`` directly followed by
    digits, as written (``AU04`` and ``AU4`` stay two codes). No span -> []."""
    span = _THINK_SPAN.search(text)
    return _AU_CODE.findall(span.group(1).upper()) if span else []


def _gt_codes(cell: object) -> set[str]:
    if cell is None:
        return set()
    items = [cell] if isinstance(cell, str) else list(cell)  # type: ignore[call-overload]
    return {str(item).upper() for item in items}


def paper_au_value(text: str, gt: set[str]) -> float:
    """The paper's AU reward of one completion text against the upper-cased ground-truth set."""
    if not gt:
        return 0.0
    pred = {code.upper() for code in paper_think_aus(text)}
    if not pred:
        return -1.0
    hits = len(pred & gt)
    precision, recall = hits / len(pred), hits / len(gt)
    f1 = 2.0 * precision * recall / (precision + recall) if precision + recall else 0.0
    return 2 * f1 - 1


def au_reward() -> RewardFn:
    """``au`` (variant facial_r1): r = 2·F1 - 1 on the paper's raw AU strings (see the callable)."""
    def reward(completions: list, **columns: Any) -> list[float]:
        cells = _cells(columns, "aus", len(completions), "au")
        return [paper_au_value(completion_text(c), _gt_codes(cell))
                for c, cell in zip(completions, cells)]

    return _finish(reward, "au", ("aus",), """Facial action-unit reward, Facial-R1 paper variant.

    P = set of the codes matching ``AU\\d+`` in the upper-cased text of the first
    ``<think>...</think>`` span (tags matched in any case), G = set of the sample's `aus`
    upper-cased; precision = |P∩G|/|P|, recall = |P∩G|/|G|, F1 = 2PR/(P+R) (0 when P+R = 0);
    r = 0.0 when G is empty, -1.0 when P is empty (also without a think span), else 2·F1 - 1.
    Range [-1, 1], never None.

    Differs from the default `au`: codes are compared as written, not canonicalised (``AU04`` !=
    ``AU4``, ``AU 4`` is not found), the tags match in any case and only ``<think>...</think>``
    counts (no fallback to text before a lone ``</think>``), and a sample without ground-truth AUs
    scores 0.0 instead of None. Upstream's trainer also restricts the policy-gradient loss of this
    reward to the think tokens; TRL has no per-reward loss mask, so that part is not reproduced.
    A string cell is taken as one code (upstream only ever sees lists); None as no AU.""")


# ---------------------------------------------------------------------------------- accuracy


def paper_ground_truth(cell: object) -> str:
    """The string the paper's accuracy compares with: ``labels[0]`` ('' without labels; str() of
    a non-string), with ``<answer>`` / ``</answer>`` removed and stripped, wrapped as
    ``<answer>...</answer>`` (the loader's `solution`), then the first single-line
    ``<answer>(.*?)</answer>`` span stripped, or the whole solution stripped when none matches
    (a label with a line break)."""
    if cell is None:
        first: object = ""
    elif isinstance(cell, str):
        first = cell
    else:
        items = list(cell)  # type: ignore[call-overload]
        first = items[0] if items else ""
    inner = (first.replace("<answer>", "").replace("</answer>", "").strip()
             if isinstance(first, str) else str(first))
    solution = f"<answer>{inner}</answer>"
    span = _SOLUTION_SPAN.search(solution)
    return span.group(1).strip() if span else solution.strip()


def paper_answer(text: str) -> str:
    """The paper's student answer: the last ``<answer>...</answer>`` span (non-overlapping,
    left to right, lazy) stripped, or the whole text stripped when there is none."""
    spans = _ANSWER_SPAN.findall(text)
    return spans[-1].strip() if spans else text.strip()


def label_counts_as_empty(gt: str) -> bool:
    """Upstream's empty-label test ``not gt or not gt.lstrip("<answer>").rstrip("</answer>")``:
    `str.lstrip`/`rstrip` remove character *sets*, so a label made only of the characters
    ``< / a n s w e r >`` ("answer", "sense", "ease") also counts as empty."""
    return not gt or not gt.lstrip("<answer>").rstrip("</answer>")


def paper_accuracy_value(text: str, gt: str) -> float:
    """The paper's accuracy of one completion text against `paper_ground_truth`'s string."""
    if label_counts_as_empty(gt):
        return EMPTY_LABEL_REWARD
    return 1.0 if paper_answer(text) == gt else 0.0


def accuracy_reward() -> RewardFn:
    """``accuracy`` (variant facial_r1): r = 1 if the last answer equals labels[0] exactly."""
    def reward(completions: list, **columns: Any) -> list[float]:
        cells = _cells(columns, "labels", len(completions), "accuracy")
        return [paper_accuracy_value(completion_text(c), paper_ground_truth(cell))
                for c, cell in zip(completions, cells)]

    return _finish(reward, "accuracy", ("labels",), """Categorical accuracy, Facial-R1 paper variant
    (upstream's default accuracy method).

    g = labels[0] as `paper_ground_truth` builds it; a = the last ``<answer>...</answer>`` span
    stripped, or the whole completion stripped when it has no answer span; r = 0.5 when g is empty
    (see `label_counts_as_empty`: a label made only of the characters ``</answer>`` counts as
    empty too), else 1.0 if a == g (exact and case-sensitive), else 0.0. Range {0, 0.5, 1}, never
    None.

    Differs from the default `accuracy`: no lower-casing, whitespace or alias normalisation
    ("Happiness" != "happiness", "happy" != "happiness"), a completion without answer tags is
    compared as a whole, and an empty label scores 0.5 instead of None.

    math_verify: upstream first tries ``math_verify.verify(parse(a), parse(g))`` and only then
    the string comparison. math_verify's default parse extracts only numbers, arithmetic
    expressions and LaTeX (``$..$``, ``\\[..\\]``, ``\\boxed``, ``\\frac``); from a label without
    a digit, ``$``, backslash or bracket it extracts nothing, and verify of an empty parse is
    False, so for emotion labels the string comparison alone decides and this variant equals
    upstream. It does not call math_verify (rewards stay dependency-free); labels holding numbers
    or LaTeX may score where upstream's math_verify would have matched them (e.g. "0.5" vs
    "1/2").""")


# ------------------------------------------------------------------------------------ format


def paper_is_formatted(text: str) -> bool:
    """``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``."""
    return _FORMAT.fullmatch(text) is not None


def format_reward() -> RewardFn:
    """``format`` (variant facial_r1): r = 1 if the whole text is <think>..</think> <answer>..</answer>."""
    def reward(completions: list, **columns: Any) -> list[float]:
        return [1.0 if paper_is_formatted(completion_text(c)) else 0.0 for c in completions]

    return _finish(reward, "format", (), """Format reward, Facial-R1 paper variant (as R1-Omni
    and VLM-R1).

    r = 1.0 if the whole completion matches ``<think>.*?</think>\\s*<answer>.*?</answer>`` with
    ``.`` matching line breaks, else 0.0. Range {0, 1}.

    Differs from the default `format`: empty or blank think / answer blocks pass, tags may repeat
    inside the blocks (``<think>a</think><answer>b</answer><answer>c</answer>`` passes), and no
    whitespace is allowed before ``<think>`` or after the last ``</answer>``.""")


#: reward name -> factory of its facial_r1 variant.
FACIAL_R1_VARIANTS: dict[str, Callable[..., RewardFn]] = {
    "au": au_reward,
    "accuracy": accuracy_reward,
    "format": format_reward,
}
