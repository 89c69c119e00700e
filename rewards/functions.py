"""Reward factories for GRPO (TRL ``GRPOTrainer`` contract).

Each factory takes the reward's YAML parameters (keyword-only) and returns a callable
``f(completions, **columns) -> list[float | None]``: completions are strings or chat-message lists;
dataset columns (``labels``, ``openset``, ``aus``, ...) arrive as keyword lists aligned with them;
other keyword arguments TRL passes (``prompts``, ``completion_ids``, ``trainer_state``, ...) are
accepted and ignored unless documented. ``None`` means "not applicable to this sample" (TRL turns it
into NaN and leaves it out of the means). The callable carries ``__name__`` (what TRL logs) and
``required_columns`` (dataset columns that must exist, for recipes to check before training).

Completions are parsed in one place: `rewards.completion`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rewards.aus import au_set, canonical_au, find_aus
from rewards.completion import answer_labels, is_well_formatted, parse_completion
from rewards.emotion_wheel import check_level, label_masks, mask_of, mask_scorer, score_masks
from rewards.label_list import parse_label_list, split_list_string
from rewards.labels import canonical_label
from rewards.lexicon import find_emotion_words

RewardFn = Callable[..., list[float | None]]

LENGTH_PENALTIES = ("none", "p1", "p2", "p3")
EW_TARGETS = ("openset", "labels")
ACCURACY_MATCH = ("first", "any")


def _finish(fn: Callable, name: str, required: tuple[str, ...], doc: str | None) -> RewardFn:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.required_columns = required  # type: ignore[attr-defined]
    return fn


def _column(columns: dict[str, Any], name: str, n: int, reward: str) -> Sequence[Any]:
    if name not in columns or columns[name] is None:
        raise ValueError(f"reward {reward!r} needs the dataset column {name!r}; "
                         f"got columns {sorted(k for k in columns if not k.startswith('_'))}")
    values = columns[name]
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) != n:
        raise ValueError(f"reward {reward!r}: column {name!r} must be a list aligned with the "
                         f"{n} completions")
    return values


def _as_items(value: object) -> list[str]:
    """A column cell as a list of strings: None -> [], a list-string ``"[a, b]"`` -> parsed, another
    string -> [it], a sequence -> its items."""
    if value is None:
        return []
    if isinstance(value, str):
        return split_list_string(value) if value.lstrip().startswith("[") else [value]
    try:
        return [str(v) for v in value if v is not None]  # type: ignore[union-attr]
    except TypeError:
        return [str(value)]


def length_penalty_factor(kind: str, n_pred: int, n_gt: int) -> float:
    """Multiplier for an answer listing n_pred distinct labels against n_gt ground-truth labels.

    1 when n_pred <= n_gt or kind == "none"; otherwise p1 = 1/(n_pred - n_gt + 1),
    p2 = n_gt/n_pred, p3 = log(1 + n_gt)/log(1 + n_pred). Range (0, 1].
    """
    if kind == "none" or n_pred <= n_gt:
        return 1.0
    if kind == "p1":
        return 1.0 / (n_pred - n_gt + 1)
    if kind == "p2":
        return n_gt / n_pred
    if kind == "p3":
        return math.log(1 + n_gt) / math.log(1 + n_pred)
    raise ValueError(f"length_penalty must be one of {LENGTH_PENALTIES}, got {kind!r}")


def ew_reward(*, level: int | str = 1, target: str = "openset",
              length_penalty: str | None = "none") -> RewardFn:
    """``ew``: r = F_EW(answer list, openset|labels) · length penalty, in [0, 1]; None when the
    ground truth maps to nothing (full formula on the returned callable)."""
    level = check_level(level)
    if target not in EW_TARGETS:
        raise ValueError(f"target must be one of {EW_TARGETS}, got {target!r}")
    penalty = "none" if length_penalty is None else str(length_penalty).lower()
    if penalty not in LENGTH_PENALTIES:
        raise ValueError(f"length_penalty must be one of {LENGTH_PENALTIES}, got {length_penalty!r}")
    gt_cache: dict[str, tuple[int, int, bool]] = {}

    def gt_info(value: object) -> tuple[int, int, bool]:
        """(mask, number of distinct labels, list is empty) of a ground-truth cell (memoised)."""
        info = gt_cache.get(value) if isinstance(value, str) else None  # type: ignore[call-overload]
        if info is None:
            labels = parse_label_list(value)  # type: ignore[arg-type]
            distinct = len({x for x in labels if x})
            info = (mask_of(labels, level), distinct, distinct == 0)
            if isinstance(value, str):
                if len(gt_cache) > 4096:
                    gt_cache.clear()
                gt_cache[value] = info
        return info

    masks, score = label_masks(level), mask_scorer(level)

    def reward(completions: list, **columns: Any) -> list[float | None]:
        n = len(completions)
        if target == "labels":
            primary, fallback = _column(columns, "labels", n, "ew"), None
        else:
            primary = _column(columns, "openset", n, "ew")
            fallback = columns.get("labels")
            if fallback is not None and (isinstance(fallback, str) or len(fallback) != n):
                fallback = None
        out: list[float | None] = []
        for i, completion in enumerate(completions):
            gt_mask, n_gt, empty = gt_info(primary[i])
            if empty and fallback is not None:
                gt_mask, n_gt, empty = gt_info(fallback[i])
            if not gt_mask:
                out.append(None)
                continue
            labels = answer_labels(completion)
            pred_mask = 0
            for label in labels:
                pred_mask |= masks.get(label, 0)
            value = score(gt_mask, pred_mask).fscore  # type: ignore[union-attr]
            if value and penalty != "none":
                value *= length_penalty_factor(penalty, len(set(labels)), n_gt)
            out.append(value)
        return out

    required = ("labels",) if target == "labels" else ("openset",)
    return _finish(reward, "ew", required, f"""Emotion-wheel reward (level {level}, target {target},
    length penalty {penalty}).

    r = F_EW(answer list, ground truth) * penalty(n_p, n_g), in [0, 1], where F_EW is the per-sample
    EW F-score (`rewards.ew_score`: mean over wheels with a non-empty mapped ground truth), the ground
    truth is `openset` (falling back to `labels` where openset is empty) or `labels`, n_p / n_g are
    the numbers of distinct answer / ground-truth labels and penalty is 1 unless n_p > n_g:
    p1 = 1/(n_p-n_g+1), p2 = n_g/n_p, p3 = log(1+n_g)/log(1+n_p). A missing answer scores 0;
    None when the ground truth maps to nothing on every wheel (e.g. only "neutral"). Range [0, 1].""")


def accuracy_reward(*, match: str = "first") -> RewardFn:
    """``accuracy``: r = 1 if canonical_label(answer) equals labels[0] (or any label), else 0."""
    if match not in ACCURACY_MATCH:
        raise ValueError(f"match must be one of {ACCURACY_MATCH}, got {match!r}")

    def reward(completions: list, **columns: Any) -> list[float | None]:
        labels_col = _column(columns, "labels", len(completions), "accuracy")
        out: list[float | None] = []
        for completion, cell in zip(completions, labels_col):
            targets = [canonical_label(x) for x in _as_items(cell)]
            targets = [t for t in targets if t]
            if not targets:
                out.append(None)
                continue
            answer = parse_completion(completion).answer
            predicted = canonical_label(answer) if answer is not None else ""
            hit = predicted != "" and (predicted == targets[0] if match == "first"
                                       else predicted in targets)
            out.append(1.0 if hit else 0.0)
        return out

    return _finish(reward, "accuracy", ("labels",), f"""Categorical accuracy (match: {match}).

    r = 1 if canonical_label(answer) == labels[0] (match "first") or is in labels (match "any"),
    else 0; exact comparison after normalisation and alias mapping, never substring matching; an
    empty or missing answer scores 0; None when the sample has no label. Range {{0, 1}}.""")


def _gt_aus(cell: object) -> set[str]:
    out = set()
    for item in _as_items(cell):
        try:
            out.add(canonical_au(item))
        except ValueError:
            out.update(find_aus(item))
    return out


def au_reward() -> RewardFn:
    """``au``: r = 2·F1(AUs in the think span, aus) - 1, in [-1, 1]; None without ground truth."""
    def reward(completions: list, **columns: Any) -> list[float | None]:
        aus_col = _column(columns, "aus", len(completions), "au")
        out: list[float | None] = []
        for completion, cell in zip(completions, aus_col):
            gt = _gt_aus(cell)
            if not gt:
                out.append(None)
                continue
            think = parse_completion(completion).think
            pred = au_set(think) if think else set()
            common = len(gt & pred)
            f1 = 2 * common / (len(gt) + len(pred)) if pred else 0.0
            out.append(2 * f1 - 1)
        return out

    return _finish(reward, "au", ("aus",), """Facial action-unit reward (Facial-R1).

    P = AU codes in the think span (``AU`` + optional space + number, any case, canonical AU<n>),
    G = the sample's `aus`; F1 = 2|P∩G| / (|P| + |G|) (= set precision/recall F1);
    r = 2·F1 - 1; no AU in the think span scores -1; None when G is empty. Range [-1, 1].""")


def format_reward() -> RewardFn:
    """``format``: r = 1 for exactly <think>X</think><answer>Y</answer>, else 0."""
    def reward(completions: list, **columns: Any) -> list[float | None]:
        return [1.0 if is_well_formatted(parse_completion(c).text) else 0.0 for c in completions]

    return _finish(reward, "format", (), """Format reward.

    r = 1 if the whole completion is <think>X</think><answer>Y</answer> with X and Y not blank, each
    tag exactly once and only whitespace around and between the blocks; else 0. Range {0, 1}.""")


def alignment_reward(*, level: int | str = 1) -> RewardFn:
    """``alignment``: r = F_EW(emotion words of the think span, answer list), in [0, 1]."""
    level = check_level(level)

    def reward(completions: list, **columns: Any) -> list[float | None]:
        out: list[float | None] = []
        for completion in completions:
            parsed = parse_completion(completion)
            if not parsed.labels:
                out.append(None)
                continue
            answer_mask = mask_of(parsed.labels, level)
            if not answer_mask:
                out.append(None)
                continue
            think_words = find_emotion_words(parsed.think) if parsed.think else []
            score = score_masks(answer_mask, mask_of(think_words, level), level)
            out.append(0.0 if score is None else score.fscore)
        return out

    return _finish(reward, "alignment", (), f"""Think/answer alignment (level {level}).

    W = emotion words found in the think span (`rewards.find_emotion_words`), A = the answer list;
    r = F_EW(W against A) = per-sample EW F-score with A as ground truth (0 when the think span
    names no emotion word); None when the answer is empty or maps to nothing on every wheel.
    Range [0, 1].""")


def soft_overlong_reward(*, max_len: int, cache: int, tokenizer: Any = None) -> RewardFn:
    """``soft_overlong``: r = 0 up to max_len - cache, then linearly down to -1 at max_len."""
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len <= 0:
        raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
    if isinstance(cache, bool) or not isinstance(cache, int) or not 0 <= cache <= max_len:
        raise ValueError(f"cache must be an integer in [0, max_len={max_len}], got {cache!r}")
    if tokenizer is not None and (isinstance(tokenizer, (str, bytes)) or not (
            callable(getattr(tokenizer, "encode", None)) or callable(tokenizer))):
        raise ValueError("tokenizer must be None, an object with .encode(text), or a callable "
                         f"text -> tokens (pass the object, not a name); got {tokenizer!r}")
    start = max_len - cache

    def length(i: int, completion: object, ids: Sequence | None) -> int:
        if ids is not None and hasattr(ids[i], "__len__") and not isinstance(ids[i], str):
            return len(ids[i])
        text = parse_completion(completion).text
        if tokenizer is not None:
            encode = getattr(tokenizer, "encode", tokenizer)
            return len(encode(text))
        return len(text)

    def reward(completions: list, **columns: Any) -> list[float | None]:
        ids = columns.get("completion_ids")
        if ids is not None and (isinstance(ids, str) or len(ids) != len(completions)):
            ids = None
        out: list[float | None] = []
        for i, completion in enumerate(completions):
            n = length(i, completion, ids)
            if n <= start:
                out.append(0.0)
            elif n <= max_len:
                out.append((start - n) / cache)
            else:
                out.append(-1.0)
        return out

    return _finish(reward, "soft_overlong", (), f"""Soft over-long penalty (max_len {max_len},
    cache {cache}).

    L = completion length in tokens (len(completion_ids) when TRL passes them, else the tokenizer's
    encoding when one is given, else characters); r = 0 if L <= max_len - cache,
    (max_len - cache - L) / cache if max_len - cache < L <= max_len, -1 beyond. Range [-1, 0].""")
