"""`variant: facial_r1` equals the released Facial-R1 reward definitions on generated cases.

The reference functions below re-state the definitions of RobitsG/Facial-R1
(``src/open-r1-multimodal/src/open_r1/grpo_jsonl.py``: ``au_reward`` with
``extract_aus_from_text``, ``default_accuracy_reward`` with the loader's ``solution``,
``format_reward``) by plain string scanning, without regular expressions, so that they are an
independent statement of the same rules. math_verify is not installed here; the generated labels
have no digit, ``$``, backslash or bracket, for which math_verify's parse extracts nothing and its
step never awards (see `rewards.facial_r1.accuracy_reward`).
"""

from __future__ import annotations

import random

import pytest

from rewards import REWARDS, VARIANTS, build_reward, build_rewards, reward_params, reward_variants
from rewards.facial_r1 import paper_ground_truth

SEED = 20250814
N_CASES = 600

# ------------------------------------------------------------------ independent re-statements

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


def ref_think_codes(text: str) -> list[str]:
    """First <think> (any case) up to the first </think> after it; AU + decimal digits."""
    low = text.lower()  # the generated texts keep their length under lower()
    start = low.find(THINK_OPEN)
    if start < 0:
        return []
    end = low.find(THINK_CLOSE, start + len(THINK_OPEN))
    if end < 0:
        return []
    span = text[start + len(THINK_OPEN):end].upper()
    codes, i = [], 0
    while i < len(span):
        if span.startswith("AU", i) and i + 2 < len(span) and span[i + 2].isdecimal():
            j = i + 2
            while j < len(span) and span[j].isdecimal():
                j += 1
            codes.append(span[i:j])
            i = j
        else:
            i += 1
    return codes


def ref_au(text: str, gt_codes: list[str]) -> float:
    gt = {g.upper() for g in gt_codes}
    if not gt:
        return 0.0
    pred = {c.upper() for c in ref_think_codes(text)}
    if not pred:
        return -1.0
    hits = len(pred & gt)
    precision, recall, beta = hits / len(pred), hits / len(gt), 1.0
    if precision + recall == 0:
        f = 0.0
    else:
        f = (1 + beta ** 2) * precision * recall / (beta ** 2 * precision + recall)
    return 2 * f - 1


def ref_ground_truth(labels: list) -> str:
    first = labels[0] if labels else ""
    inner = (first.replace(ANSWER_OPEN, "").replace(ANSWER_CLOSE, "").strip()
             if isinstance(first, str) else str(first))
    solution = ANSWER_OPEN + inner + ANSWER_CLOSE
    # first <answer> whose nearest </answer> follows without a line break in between
    pos = solution.find(ANSWER_OPEN)
    while pos >= 0:
        body_start = pos + len(ANSWER_OPEN)
        close = solution.find(ANSWER_CLOSE, body_start)
        if close >= 0 and "\n" not in solution[body_start:close]:
            return solution[body_start:close].strip()
        pos = solution.find(ANSWER_OPEN, pos + 1)
    return solution.strip()


def ref_answer(text: str) -> str:
    last, pos = None, 0
    while True:
        start = text.find(ANSWER_OPEN, pos)
        if start < 0:
            break
        close = text.find(ANSWER_CLOSE, start + len(ANSWER_OPEN))
        if close < 0:
            break
        last = text[start + len(ANSWER_OPEN):close]
        pos = close + len(ANSWER_CLOSE)
    return last.strip() if last is not None else text.strip()


def ref_accuracy(text: str, labels: list) -> float:
    gt = ref_ground_truth(labels)
    # lstrip("<answer>") then rstrip("</answer>") strip character sets; the second set contains
    # the first, so the label is "empty" iff all its characters are in "</answer>"
    if not gt or all(ch in set("</answer>") for ch in gt):
        return 0.5
    return 1.0 if ref_answer(text) == gt else 0.0


def ref_format(text: str) -> float:
    """<think> X </think> WS <answer> Y </answer> over the whole text, X and Y anything."""
    if not (text.startswith(THINK_OPEN) and text.endswith(ANSWER_CLOSE)):
        return 0.0
    last_close = len(text) - len(ANSWER_CLOSE)
    a = text.find(THINK_CLOSE, len(THINK_OPEN))
    while a >= 0:
        b = a + len(THINK_CLOSE)
        while True:
            if text.startswith(ANSWER_OPEN, b) and b + len(ANSWER_OPEN) <= last_close:
                return 1.0
            if b < len(text) and text[b].isspace():
                b += 1
            else:
                break
        a = text.find(THINK_CLOSE, a + 1)
    return 0.0


# ------------------------------------------------------------------------------ generated cases

TAGS = ["<think>", "</think>", "<answer>", "</answer>", "<THINK>", "</Think>", "<Answer>",
        "</ANSWER>", "<think", "answer>"]
AUS = ["AU1", "AU4", "AU04", "au4", "Au6", "AU 12", "AU12", "AU٤", "AU", "AU15,", "(AU25)"]
WORDS = ["happiness", "Happiness", "sadness", "happy", "anger", "neutral", "answer", "sense",
         "Surprise", "fear", "brows lowered", "I think", "so"]
SPACE = [" ", "\n", "\t", "  ", "\u00a0", "\r\n", ""]
LABELS = ["happiness", "Happiness", "sadness", "anger", "answer", "sense", "ease", "", " fear ",
          "<answer>disgust</answer>", "sur\nprise", "<ans<answer>wer>", "neutral.", "contempt"]
GT_AUS = ["AU1", "AU4", "AU04", "au6", "AU12", "AU٤", "AU25", "au 4"]


def _fragment(rng: random.Random) -> str:
    pool = rng.choice([TAGS, AUS, WORDS, SPACE])
    return rng.choice(pool)


def _structured(rng: random.Random) -> str:
    """Mostly well-formed completions with perturbations."""
    think = " ".join(rng.choice(AUS + WORDS) for _ in range(rng.randint(0, 5)))
    answer = rng.choice(LABELS + WORDS)
    parts = [rng.choice(["<think>", "<think>", "<THINK>", ""]), think,
             rng.choice(["</think>", "</think>", "</THINK>", ""]), rng.choice(SPACE),
             rng.choice(["<answer>", "<answer>", ""]), answer,
             rng.choice(["</answer>", "</answer>", ""])]
    if rng.random() < 0.2:  # a second answer block
        parts += [rng.choice(SPACE), "<answer>", rng.choice(LABELS), "</answer>"]
    if rng.random() < 0.15:  # whitespace around
        parts = [rng.choice(SPACE)] + parts + [rng.choice(SPACE)]
    return "".join(parts)


def generated_cases() -> list[tuple[str, list[str], list[str]]]:
    rng = random.Random(SEED)
    cases = []
    for i in range(N_CASES):
        if i % 3 == 0:
            text = "".join(_fragment(rng) for _ in range(rng.randint(0, 12)))
        else:
            text = _structured(rng)
        labels = rng.sample(LABELS, rng.randint(0, 2))
        aus = rng.sample(GT_AUS, rng.randint(0, 3))
        cases.append((text, labels, aus))
    return cases + EDGE_CASES


EDGE_CASES = [
    ("", [], []),
    ("happiness", ["happiness"], ["AU6"]),                                 # no tags at all
    ("<think>AU6 AU12</think><answer>happiness</answer>", ["happiness"], ["AU6", "AU12"]),
    ("<think>AU04</think><answer>anger</answer>", ["anger"], ["AU4"]),     # AU04 != AU4
    ("<THINK>au4</THINK> <answer>Anger</answer>", ["anger"], ["au4"]),     # case differences
    ("<think>no unit named</think><answer>fear</answer>", ["fear"], ["AU1"]),
    ("<answer>sadness</answer>", ["sadness"], ["AU1"]),                     # no think
    ("<think>AU1</think>", ["fear"], ["AU1"]),                              # no answer
    ("<think>x</think><answer>fear</answer><answer>anger</answer>", ["anger"], []),
    ("<think></think><answer></answer>", [], []),                           # empty blocks
    (" <think>a</think><answer>b</answer>", ["b"], []),                     # leading space
    ("<think>a</think><answer>b</answer>\n", ["b"], []),                    # trailing newline
    ("<think>a</think>\n\n<answer> sense </answer>", ["sense"], []),        # label "sense"
    ("<think>AU4 AU4 AU٤</think>", ["x"], ["AU٤"]),                         # Unicode digit
]


CASES = generated_cases()


def _messages(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


@pytest.fixture(scope="module")
def variants():
    return {name: build_reward(name, variant="facial_r1") for name in ("au", "accuracy", "format")}


def test_enough_varied_cases():
    assert len(CASES) >= 600
    values = {name: {ref(*args) for args in CASES}
              for name, ref, args in [("au", lambda t, lab, a: ref_au(t, a), None),
                                      ("acc", lambda t, lab, a: ref_accuracy(t, lab), None),
                                      ("fmt", lambda t, lab, a: ref_format(t), None)]}
    assert {0.0, -1.0, 1.0} <= values["au"] and len(values["au"]) > 4   # partial F1 values too
    assert values["acc"] == {0.0, 0.5, 1.0}
    assert values["fmt"] == {0.0, 1.0}
    assert sum(ref_format(t) for t, _, _ in CASES) > 50                  # many well-formed


@pytest.mark.parametrize("name", ["au", "accuracy", "format"])
def test_variant_equals_upstream_formula(variants, name):
    """Every generated case, as TRL passes it (chat messages; plain strings for format)."""
    if name == "au":
        got = variants["au"]([_messages(t) for t, _, _ in CASES], aus=[a for _, _, a in CASES])
        want = [ref_au(t, a) for t, _, a in CASES]
    elif name == "accuracy":
        got = variants["accuracy"]([_messages(t) for t, _, _ in CASES],
                                   labels=[lab for _, lab, _ in CASES])
        want = [ref_accuracy(t, lab) for t, lab, _ in CASES]
    else:
        got = variants["format"]([t for t, _, _ in CASES])
        want = [ref_format(t) for t, _, _ in CASES]
    mismatches = [(c, g, w) for c, g, w in zip(CASES, got, want) if g != w]
    assert not mismatches, mismatches[:5]


def test_edge_cases_by_hand(variants):
    au, acc, fmt = variants["au"], variants["accuracy"], variants["format"]
    one = lambda f, text, **col: f([_messages(text)], **col)[0]  # noqa: E731
    assert one(au, "<think>AU04</think>", aus=[["AU4"]]) == -1.0        # no predicted AU of G
    assert one(au, "<think>AU6, AU12</think>", aus=[["AU6"]]) == pytest.approx(1 / 3)
    assert one(au, "<answer>AU6</answer>", aus=[["AU6"]]) == -1.0       # no think span
    assert one(au, "<think>AU6</think>", aus=[[]]) == 0.0               # no ground truth
    assert one(au, "<think>AU6</think>", aus=[None]) == 0.0
    assert one(acc, "<answer>Happiness</answer>", labels=[["happiness"]]) == 0.0
    assert one(acc, "happiness", labels=[["happiness"]]) == 1.0          # whole text compared
    assert one(acc, "<answer>x</answer> <answer> fear </answer>", labels=[["fear"]]) == 1.0
    assert one(acc, "<answer>x</answer>", labels=[[]]) == 0.5
    assert one(acc, "<answer>x</answer>", labels=[["answer"]]) == 0.5    # strip() of a char set
    assert one(acc, "<answer>happy</answer>", labels=[["happiness"]]) == 0.0  # no aliases
    assert one(fmt, "<think></think><answer></answer>") == 1.0
    assert one(fmt, "<think>a</think><answer>b</answer> ") == 0.0
    assert paper_ground_truth(["<answer>disgust</answer>", "x"]) == "disgust"
    assert paper_ground_truth(None) == ""


def test_default_definitions_stay_the_default():
    """The project's own definitions return None where the paper returns a number."""
    text = [_messages("<think>AU6</think><answer>happiness</answer>")]
    assert build_reward("au")(text, aus=[[]]) == [None]
    assert build_reward("au", variant="facial_r1")(text, aus=[[]]) == [0.0]
    assert build_reward("accuracy", variant="default")(text, labels=[[]]) == [None]
    assert build_reward("accuracy", variant="facial_r1")(text, labels=[[]]) == [0.5]
    assert build_reward("format")(
        [_messages("<think> </think><answer>x</answer>")]) == [0.0]  # blank think fails
    assert build_reward("format", variant="facial_r1")(
        [_messages("<think> </think><answer>x</answer>")]) == [1.0]


def test_variant_registry_and_yaml_spec():
    assert set(VARIANTS) == {"au", "accuracy", "format"} <= set(REWARDS)
    assert reward_variants("au") == ["default", "facial_r1"]
    assert reward_variants("ew") == ["default"]
    assert reward_params("accuracy", "facial_r1") == {}
    suite = build_rewards([{"name": "au", "variant": "facial_r1"},
                           {"name": "accuracy", "variant": "facial_r1", "weight": 2},
                           {"name": "format", "variant": "facial_r1"}, "format"])
    assert [f.__name__ for f in suite.funcs] == ["au", "accuracy", "format", "format_2"]
    assert suite.weights == [1.0, 2.0, 1.0, 1.0]
    assert all("paper variant" in f.__doc__ for f in suite.funcs[:3])
    assert [f.required_columns for f in suite.funcs] == [("aus",), ("labels",), (), ()]
    with pytest.raises(ValueError, match="unknown variant 'facial_r2'; valid variants: default, "
                                         "facial_r1"):
        build_reward("au", variant="facial_r2")
    with pytest.raises(ValueError, match="unknown variant 'facial_r1'; valid variants: default$"):
        build_reward("ew", variant="facial_r1")
    with pytest.raises(ValueError, match=r"\(variant facial_r1\): unknown parameter\(s\) match"):
        build_reward("accuracy", variant="facial_r1", match="any")
    with pytest.raises(ValueError, match="needs the dataset column 'aus'"):
        build_reward("au", variant="facial_r1")(["x"], labels=[["a"]])
