"""Property tests: no reward, parser or metric ever raises on arbitrary input, and every output stays
in its documented range. Inputs mix arbitrary Unicode with tag fragments (nested, duplicated,
unclosed), chat-message wrappers and huge repeated strings.

Volume: hypothesis draws 8 arbitrary strings per example; 700 + 700 + 300 examples feed
13,600 arbitrary strings per run (each used as completion text, label list or dataset cell), plus
15 huge ones, in a few seconds of CPU.
"""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards import build_reward, ew_score, find_emotion_words, parse_completion
from rewards.completion import is_well_formatted, parse_answer_list
from rewards.label_list import parse_label_list
from rewards.wheel_data import surface_forms

FRAGMENTS = [
    "<think>", "</think>", "<answer>", "</answer>", "<think><think>", "</answer></answer>",
    "<answer><answer>", "<ANSWER>", "happy", "Happy, sad", "neutral", "fear", "worried",
    "at a loss", "self-conscious", "AU4", "au 12", "AU04", "AU999999", "AU", "[", "]", "'", '"',
    ",", ";", ".", "\n", " ", "\t", "\u00a0", "İ", "ß", "-", "_",
]
TEMPLATES = [
    "{0}", "<think>{0}</think><answer>{1}</answer>", "  <think>{0}</think>\n<answer>{1}</answer> ",
    "<think>{0}<think>{1}</think></think><answer>{2}</answer>", "<answer>{0}</answer><answer>{1}",
    "<think>{0}</think><answer>{1}</answer><answer>{2}</answer>", "{0}</think><answer>{1}</answer>",
    "<think>{0}{f}{1}</think>{f}<answer>{2}{f}</answer>", "{f}{0}{f}{1}{f}{2}{f}",
]
#: Arbitrary Unicode strings (hypothesis draws them; each example draws a list of them cheaply).
STRINGS = st.lists(st.text(max_size=80), min_size=8, max_size=8)


def _build(strings: list[str], seed: int) -> tuple[list, dict, list]:
    """Completions and dataset cells made from the drawn strings: the strings are spliced into
    tag templates (nested, duplicated, unclosed tags) and fragments chosen by `seed`."""
    rng = random.Random(seed)
    n = len(strings)
    completions, openset, labels, aus, ids = [], [], [], [], []
    for i in range(n):
        a, b, c = strings[i], strings[(i + 1) % n], strings[(i + 2) % n]
        text = rng.choice(TEMPLATES).format(a, b, c, f=rng.choice(FRAGMENTS))
        kind = rng.randrange(3)
        completions.append(text if kind == 0 else [{"role": "assistant", "content": text}]
                           if kind == 1 else [{"role": "assistant",
                                               "content": [{"type": "text", "text": text}]}])
        cells = [None, a, [a, rng.choice(FRAGMENTS)], [b, c], "['happy', " + repr(b) + "]", []]
        openset.append(rng.choice(cells))
        labels.append(rng.choice(cells))
        aus.append(rng.choice(cells + [["AU4", a]]))
        ids.append([0] * rng.randrange(80))
    return completions, {"openset": openset, "labels": labels, "aus": aus}, ids


RANGES = {
    "ew": (0.0, 1.0), "ew_p1": (0.0, 1.0), "ew_p3": (0.0, 1.0), "ew_l2": (0.0, 1.0),
    "accuracy": (0.0, 1.0), "au": (-1.0, 1.0), "format": (0.0, 1.0), "alignment": (0.0, 1.0),
    "soft_overlong": (-1.0, 0.0), "soft_overlong_chars": (-1.0, 0.0),
}
REWARD_FUNCS = {
    "ew": build_reward("ew"),
    "ew_p1": build_reward("ew", length_penalty="p1"),
    "ew_p3": build_reward("ew", length_penalty="p3", target="labels"),
    "ew_l2": build_reward("ew", level=2),
    "accuracy": build_reward("accuracy", match="any"),
    "au": build_reward("au"),
    "format": build_reward("format"),
    "alignment": build_reward("alignment"),
    "soft_overlong": build_reward("soft_overlong", max_len=40, cache=10),
    "soft_overlong_chars": build_reward("soft_overlong", max_len=40, cache=10),
}


def _check(name: str, values: list, n: int) -> None:
    assert isinstance(values, list) and len(values) == n, name
    lo, hi = RANGES[name]
    for v in values:
        if v is None:
            assert name not in ("format", "soft_overlong", "soft_overlong_chars"), name
            continue
        assert isinstance(v, float) and math.isfinite(v), (name, v)
        assert lo <= v <= hi, (name, v)
    if name in ("accuracy", "format"):
        assert all(v in (None, 0.0, 1.0) for v in values)


@settings(max_examples=700, deadline=None, database=None)
@given(STRINGS, st.integers(0, 2**32 - 1))
def test_rewards_never_raise_and_stay_in_range(strings, seed):
    completions, columns, ids = _build(strings, seed)
    n = len(completions)
    extra = {"prompts": ["p"] * n, "trainer_state": None, "unknown_column": [1] * n}
    for name, func in REWARD_FUNCS.items():
        more = {"completion_ids": ids} if name == "soft_overlong" else {}
        _check(name, func(completions, **columns, **extra, **more), n)


VOCAB = sorted(surface_forms())


@settings(max_examples=700, deadline=None, database=None)
@given(STRINGS, st.integers(0, 2**32 - 1))
def test_ew_score_is_a_bounded_score(strings, seed):
    rng = random.Random(seed)
    for i in range(0, len(strings), 2):
        # Arbitrary strings, alone or mixed with real vocabulary, as list strings or lists.
        gt_items = [strings[i], rng.choice(VOCAB)]
        pred_items = [strings[i + 1], rng.choice(VOCAB), rng.choice(gt_items)]
        for gt, pred in ((strings[i], strings[i + 1]), (str(gt_items), ", ".join(pred_items)),
                         (gt_items, pred_items)):
            level = rng.choice([1, 2])
            s = ew_score(gt, pred, level)
            if s is None:
                continue
            assert all(0.0 <= x <= 1.0 for x in s)
            assert s.fscore <= max(s.precision, s.recall) + 1e-12
            same = ew_score(gt, gt, level)  # None when gt maps to nothing: an empty prediction
            assert same is None or tuple(same) == (1.0, 1.0, 1.0)   # still scores 0 against it
            assert ew_score(gt, "", level) == (0.0, 0.0, 0.0)


@settings(max_examples=300, deadline=None, database=None)
@given(STRINGS, st.integers(0, 2**32 - 1))
def test_parsers_and_lexicon_never_raise(strings, seed):
    completions, _, _ = _build(strings, seed)
    for text in strings + [c if isinstance(c, str) else "" for c in completions]:
        _check_parsers(text)


def _check_parsers(text: str) -> None:
    parsed = parse_completion(text)
    assert parsed.text == text
    assert all(label and label == label.strip() for label in parsed.labels)
    assert isinstance(is_well_formatted(text), bool)
    assert all(item for item in parse_label_list(text))
    assert parse_answer_list(text) == parse_answer_list(text)
    words = find_emotion_words(text)
    assert len(words) == len(set(words))
    assert set(words) <= surface_forms()


HUGE = st.tuples(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6),
                 st.integers(2_000, 60_000)).map(lambda t: "".join(t[0]) * t[1])


@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(HUGE, st.sampled_from([
    "<think>{}</think><answer>happy</answer>", "<answer>{}</answer>", "{}",
    "<think>AU4 {}", "<think><think>{}</think></think><answer>{}</answer>",
]))
def test_huge_inputs_with_nested_and_duplicated_tags(blob, template):
    completion = template.replace("{}", blob)
    columns = {"openset": [["happy", "fear"]], "labels": [["happiness"]], "aus": [["AU4"]]}
    for name, func in REWARD_FUNCS.items():
        _check(name, func([completion], **columns), 1)
    assert ew_score(blob, blob) in (None, (1.0, 1.0, 1.0))
