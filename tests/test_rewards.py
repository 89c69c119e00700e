"""GRPO reward functions: hand-computed cases for every reward, completion parsing, the registry."""

from __future__ import annotations

import math

import pytest

from rewards import (
    REWARDS,
    RewardSuite,
    build_reward,
    build_rewards,
    parse_completion,
    reward_params,
)
from rewards.completion import (
    completion_text,
    extract_answer,
    extract_think,
    is_well_formatted,
    parse_answer_list,
)


def wrap(answer: str, think: str = "reasoning") -> str:
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


TRL_KWARGS = {"prompts": ["p"], "trainer_state": None, "log_extra": None, "log_metric": None}


# --------------------------------------------------------------------------------------------------
# Completion parsing


def test_completion_text_accepts_strings_and_chat_messages():
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "assistant", "content": "abc"}]) == "abc"
    assert completion_text([{"role": "user", "content": "q"},
                            {"role": "assistant", "content": "a1"},
                            {"role": "assistant", "content": "a2"}]) == "a1\na2"
    assert completion_text([{"role": "assistant",
                             "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}]) == "xy"
    assert completion_text({"role": "assistant", "content": None}) == ""
    assert completion_text(None) == ""


def test_answer_is_the_last_complete_span():
    assert extract_answer("<answer>a</answer> then <answer>b</answer>") == "b"
    assert extract_answer("<answer>a</answer> then <answer>b") == "a"
    assert extract_answer("<answer>a<answer>b</answer>") == "b"
    assert extract_answer("no tags") is None
    assert extract_answer("</answer><answer>") is None
    assert extract_answer("<answer></answer>") == ""


def test_think_span():
    assert extract_think("<think>x</think><answer>y</answer>") == "x"
    assert extract_think("<think>a<think>b</think>c</think>") == "a<think>b"
    assert extract_think("opened in the prompt</think><answer>y</answer>") == "opened in the prompt"
    assert extract_think("<think>never closed") is None
    assert extract_think("nothing") is None


@pytest.mark.parametrize("answer, expected", [
    ("happy, sad", ["happy", "sad"]),
    ("['Happy', 'worried']", ["happy", "worried"]),
    ("Happy; Worried.\nsad", ["happy", "worried", "sad"]),
    (" [ joy ] ", ["joy"]),
    ("happy and sad", ["happy and sad"]),
    ("", []),
    (None, []),
    (", ,.", []),
])
def test_parse_answer_list(answer, expected):
    assert parse_answer_list(answer) == expected


def test_parse_completion_fields():
    p = parse_completion([{"role": "assistant", "content": wrap("Happy, sad", "AU4 seen")}])
    assert (p.think, p.answer, p.labels) == ("AU4 seen", "Happy, sad", ("happy", "sad"))


@pytest.mark.parametrize("text, ok", [
    ("<think>a</think><answer>b</answer>", True),
    ("  \n<think> a </think>\n\n<answer> b </answer>\n ", True),
    ("<think> </think><answer>b</answer>", False),
    ("<think>a</think><answer>\n</answer>", False),
    ("<think>a</think>x<answer>b</answer>", False),
    ("<think>a</think><answer>b</answer>trailing", False),
    ("leading<think>a</think><answer>b</answer>", False),
    ("<answer>b</answer><think>a</think>", False),
    ("<think>a</think><answer>b</answer><answer>c</answer>", False),
    ("<think>a<think>b</think><answer>c</answer>", False),
    ("<think>a</think>", False),
    ("", False),
])
def test_is_well_formatted(text, ok):
    assert is_well_formatted(text) is ok


# --------------------------------------------------------------------------------------------------
# ew


def test_ew_hand_computed():
    f = build_reward("ew")
    # G = {happy, worried}, P = {happy, sad, angry}: precision 1/3, recall 1/2 on every wheel.
    assert f([wrap("happy, sad, angry")], openset=[["happy", "worried"]], **TRL_KWARGS) == \
        [pytest.approx(0.4)]
    # P = {happy}: precision 1, recall 1/2, F = 2/3.
    assert f([wrap("happy")], openset=[["happy", "worried"]]) == [pytest.approx(2 / 3)]
    # Synonyms and list strings.
    assert f([wrap("['Joyful']")], openset=["['happy']"]) == [1.0]


@pytest.mark.parametrize("kind, factor", [
    ("none", 1.0), ("p1", 1 / (3 - 2 + 1)), ("p2", 2 / 3), ("p3", math.log(3) / math.log(4)),
])
def test_ew_length_penalties(kind, factor):
    f = build_reward("ew", length_penalty=kind)
    # n_p = 3 distinct answer labels > n_g = 2.
    assert f([wrap("happy, sad, angry, Happy")], openset=[["happy", "worried"]]) == \
        [pytest.approx(0.4 * factor)]
    # n_p <= n_g: no penalty.
    assert f([wrap("happy")], openset=[["happy", "worried"]]) == [pytest.approx(2 / 3)]


def test_ew_targets_and_fallback():
    f = build_reward("ew")
    comps = [wrap("sad"), wrap("sad"), wrap("sad")]
    out = f(comps, openset=[[], "[]", ["happy"]], labels=[["sadness"], ["sadness"], ["sadness"]])
    assert out == [1.0, 1.0, 0.0]                    # empty openset falls back to labels
    g = build_reward("ew", target="labels")
    assert g(comps, openset=[["happy"]] * 3, labels=[["sadness"]] * 3) == [1.0, 1.0, 1.0]
    assert g.required_columns == ("labels",)
    assert f.required_columns == ("openset",)


def test_ew_not_applicable_and_missing_answer():
    f = build_reward("ew")
    out = f([wrap("happy"), "no tags at all", wrap("")], openset=[["neutral"], ["happy"], ["happy"]])
    assert out == [None, 0.0, 0.0]


def test_ew_level():
    comps, cols = [wrap("joyful")], {"openset": [["happy"]]}
    assert build_reward("ew")(comps, **cols) == [1.0]
    assert build_reward("ew", level=2)(comps, **cols) == [pytest.approx(0.6)]


def test_ew_missing_column_is_a_clear_error():
    with pytest.raises(ValueError, match="needs the dataset column 'openset'"):
        build_reward("ew")([wrap("happy")], labels=[["happiness"]])
    with pytest.raises(ValueError, match="aligned"):
        build_reward("ew")([wrap("happy")], openset=[["a"], ["b"]])


# --------------------------------------------------------------------------------------------------
# accuracy


def test_accuracy():
    f = build_reward("accuracy")
    comps = [wrap("Happy"), wrap("happy and sad"), wrap("joy"), "no answer", wrap("  "),
             wrap("sadness"), wrap("anger")]
    labels = [["happiness"], ["happiness"], ["happiness"], ["happiness"], ["happiness"],
              ["anger", "sadness"], "anger"]
    assert f(comps, labels=labels, **TRL_KWARGS) == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    g = build_reward("accuracy", match="any")
    assert g([wrap("sadness")], labels=[["anger", "sadness"]]) == [1.0]
    assert f([wrap("happy"), wrap("happy")], labels=[[], None]) == [None, None]
    assert f.required_columns == ("labels",)


# --------------------------------------------------------------------------------------------------
# au


def test_au():
    f = build_reward("au")
    comps = [
        wrap("anger", "AU4 and au 12, again AU04"),     # P = {AU4, AU12}, G = {AU4, AU6}
        wrap("anger", "AU4 and AU6"),                   # exact
        "<think>nothing</think><answer>AU4</answer>",  # AUs only in the answer
        "<answer>anger</answer>",                       # no think span
        wrap("anger", "AU4"),                           # empty ground truth
        wrap("anger", "AU4 AU6 AU7"),                   # G = {AU4} given as 'au04'
    ]
    aus = [["AU4", "AU6"], ["AU4", "AU6"], ["AU4"], ["AU4"], [], ["au04"]]
    # F1 = 2|P∩G|/(|P|+|G|): 2/4 -> 0.0; 1 -> 1.0; ...; 2/4 -> 0.0
    assert f(comps, aus=aus, **TRL_KWARGS) == [0.0, 1.0, -1.0, -1.0, None, pytest.approx(2 * 0.5 - 1)]
    assert f.required_columns == ("aus",)


# --------------------------------------------------------------------------------------------------
# format


def test_format_reward():
    f = build_reward("format")
    comps = [wrap("x"), "<think>a</think><answer>b</answer><answer>c</answer>",
             [{"role": "assistant", "content": wrap("y")}], "plain"]
    assert f(comps, **TRL_KWARGS) == [1.0, 0.0, 1.0, 0.0]
    assert f.required_columns == ()


# --------------------------------------------------------------------------------------------------
# alignment


def test_alignment():
    f = build_reward("alignment")
    comps = [
        wrap("happy, worried", "She seems Happy, but also worried."),   # W = A -> 1
        wrap("happy, worried", "she is happy"),                         # W = {happy} -> 2/3
        wrap("happy", "the table is wooden"),                          # no emotion word -> 0
        wrap("", "happy"),                                             # empty answer -> None
        wrap("neutral", "happy"),                                      # maps to nothing -> None
        "<answer>happy</answer>",                                      # no think -> 0
    ]
    assert f(comps, **TRL_KWARGS) == [1.0, pytest.approx(2 / 3), 0.0, None, None, 0.0]


def test_find_emotion_words():
    from rewards import find_emotion_words

    text = "At a loss, SELF-CONSCIOUS and happy; happy again, then double-crossed. neutralize"
    assert find_emotion_words(text) == ["at a loss", "self-conscious", "happy", "double-crossed"]
    assert find_emotion_words("self conscious") == ["conscious"]   # the hyphen is part of the form
    assert find_emotion_words("chappy happyish unhappy-ish") == ["unhappy"]   # whole words only
    assert find_emotion_words("") == [] and find_emotion_words(None) == []  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# soft_overlong


def test_soft_overlong_tokens_chars_and_tokenizer():
    f = build_reward("soft_overlong", max_len=100, cache=20)
    ids = [[0] * 80, [0] * 81, [0] * 90, [0] * 100, [0] * 101]
    assert f(["x"] * 5, completion_ids=ids, **TRL_KWARGS) == [0.0, -1 / 20, -0.5, -1.0, -1.0]
    assert f(["a" * 80, "a" * 90, "a" * 150]) == [0.0, -0.5, -1.0]        # characters

    class Words:
        def encode(self, text):
            return text.split()

    g = build_reward("soft_overlong", max_len=4, cache=2, tokenizer=Words())
    assert g(["a b", "a b c", "a b c d", "a b c d e"]) == [0.0, -0.5, -1.0, -1.0]
    h = build_reward("soft_overlong", max_len=10, cache=0)
    assert h(["a" * 10, "a" * 11]) == [0.0, -1.0]


@pytest.mark.parametrize("params, message", [
    ({"max_len": 10, "cache": 11}, "cache must be"),
    ({"max_len": 0, "cache": 0}, "max_len must be"),
    ({"max_len": 10.5, "cache": 1}, "max_len must be"),
    ({"max_len": 10}, "missing required parameter"),
    ({"max_len": 10, "cache": 2, "tokenizer": "gpt2"}, "tokenizer must be None"),
])
def test_soft_overlong_validation(params, message):
    with pytest.raises(ValueError, match=message):
        build_reward("soft_overlong", **params)


# --------------------------------------------------------------------------------------------------
# Registry


def test_registry_names_and_callables():
    # a superset: recipes add rewards named by import path to the registry of their process
    builtin = ("ew", "accuracy", "au", "format", "alignment", "soft_overlong")
    assert set(REWARDS) >= set(builtin)
    for name in builtin:
        params = {"max_len": 10, "cache": 2} if name == "soft_overlong" else {}
        f = build_reward(name, **params)
        assert f.__name__ == name
        assert isinstance(f.required_columns, tuple)
        assert "Range" in f.__doc__ and "r = " in f.__doc__
        assert f([], openset=[], labels=[], aus=[]) == []


def test_unknown_names_and_params_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid rewards: ew, accuracy, au, format, alignment"):
        build_reward("accuracyy")
    with pytest.raises(ValueError, match="valid parameters: level, target, length_penalty"):
        build_reward("ew", levle=2)
    with pytest.raises(ValueError, match="valid parameters: none"):
        build_reward("format", x=1)
    with pytest.raises(ValueError, match="length_penalty must be one of"):
        build_reward("ew", length_penalty="p4")
    with pytest.raises(ValueError, match="target must be one of"):
        build_reward("ew", target="answer")
    with pytest.raises(ValueError, match="level must be 1 or 2"):
        build_reward("alignment", level=3)
    assert reward_params("ew") == {"level": 1, "target": "openset", "length_penalty": "none"}


def test_build_rewards_from_yaml_like_spec():
    suite = build_rewards(["format", {"name": "ew", "level": 2, "weight": 0.5},
                           {"name": "ew", "length_penalty": "p1"},
                           {"name": "soft_overlong", "max_len": 64, "cache": 16, "weight": 2}])
    assert isinstance(suite, RewardSuite)
    funcs, weights = suite
    assert [f.__name__ for f in funcs] == ["format", "ew", "ew_2", "soft_overlong"]
    assert weights == [1.0, 0.5, 1.0, 2.0]
    assert build_rewards([]) == RewardSuite([], [])


@pytest.mark.parametrize("spec, message", [
    ("ew", "must be a list"),
    ({"name": "ew"}, "must be a list"),
    ([{"level": 2}], "has no 'name'"),
    ([3], "must be a name or a mapping"),
    ([{"name": "ew", "weight": "heavy"}], "weight must be a number"),
    ([{"name": "nope"}], "unknown reward 'nope'"),
    ([{"name": "ew", "bogus": 1}], "unknown parameter"),
])
def test_build_rewards_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        build_rewards(spec)


def test_registry_accepts_added_factories(monkeypatch):
    def constant(*, value: float = 1.0, **extra):
        def reward(completions, **columns):
            return [value] * len(completions)
        reward.__name__ = "constant"
        reward.required_columns = ()
        return reward

    monkeypatch.setitem(REWARDS, "constant", constant)
    suite = build_rewards([{"name": "constant", "value": 0.5, "anything": 1}])
    assert suite.funcs[0](["a", "b"]) == [0.5, 0.5]
    assert reward_params("constant") == {"value": 1.0}
