"""The hostile-input table: every bad input, given to the real command line, ends with exit status
2, a message naming the file (and line) and the reason, no traceback, and nothing half-written
(`hostile.check_case`). Cases are grouped by the part of the toolkit they attack."""

from __future__ import annotations

import json

import pytest
from hostile import Case, check_case


def jsonl(*rows: dict | str) -> str:
    """A JSONL text; dict rows are dumped, str rows are written as they are."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def sample(**fields) -> dict:
    """A valid canonical sample (toy image path), with `fields` replaced."""
    row = {"id": "s1", "source": "toy", "media": [{"type": "image", "path": "a.png"}],
           "question": "What emotion?", "labels": ["happiness"], "aus": ["AU6", "AU12"],
           "reasoning": "AU6 AU12", "answer": "happiness"}
    row.update(fields)
    return row


DATA = [
    Case("jsonl-empty", ("data", "validate", "d.jsonl", "--format", "jsonl"),
         r"d\.jsonl: .*no (records|samples)", files={"d.jsonl": ""}),
    Case("jsonl-labels-scalar", ("data", "validate", "d.jsonl", "--format", "jsonl"),
         r"d\.jsonl:1: .*labels", files={"d.jsonl": jsonl(sample(labels=5))}),
]

CASES = DATA


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_a_located_message(case, tmp_path):
    check_case(case, tmp_path)


def test_the_table_covers_every_part():
    assert len({c.id for c in CASES}) == len(CASES)


# Rewards: odd cell values and odd completions are scored or give None; never an exception.
def _nested(depth: int) -> list:
    completion: list | dict = {"role": "assistant",
                               "content": "<think>AU6 AU12 happy</think><answer>happy</answer>"}
    for _ in range(depth):
        completion = [completion]
    return completion


ODD_CELLS = [5, 2.5, float("nan"), True, None, [5], [None], [float("nan"), True], {"a": 1}, "",
             "[", "]", "['", "\ud800", [["happy"]]]
ODD_COMPLETIONS = [None, 5, "", [], [{}], [{"role": "assistant", "content": None}],
                   [{"role": "assistant", "content": [{"type": "image"}, 7]}], _nested(1000),
                   "<answer>" * 1000, "</think>" * 3 + "<answer></answer>", "\ud800"]


@pytest.mark.parametrize("name", ["ew", "accuracy", "au", "format", "alignment", "soft_overlong"])
def test_rewards_never_raise_on_odd_cells_or_completions(name):
    from rewards import build_reward

    params = {"max_len": 8, "cache": 4} if name == "soft_overlong" else {}
    reward = build_reward(name, **params)
    n = len(ODD_CELLS)
    good = "<think>AU6 AU12 a happy face</think><answer>happiness</answer>"
    columns = {c: list(ODD_CELLS) for c in ("labels", "openset", "aus")}
    odd_ids = [5, None, "abc", [1, 2], 2.5, [], True, [[1]], {}, "", 0, [0], None, [1], 3]
    values = reward([good] * n, completion_ids=odd_ids, **columns)
    assert len(values) == n and all(v is None or isinstance(v, float) for v in values)
    m = len(ODD_COMPLETIONS)
    values = reward(ODD_COMPLETIONS, completion_ids=[None] * m,
                    labels=[["happiness"]] * m, openset=[["happy"]] * m, aus=[["AU6"]] * m)
    assert len(values) == m and all(v is None or isinstance(v, float) for v in values)
    nested = reward([_nested(1000)], labels=[["happiness"]], openset=[["happy"]], aus=[["AU6"]])
    flat = reward([_nested(0)], labels=[["happiness"]], openset=[["happy"]], aus=[["AU6"]])
    assert nested == flat, "deep nesting changes nothing but the nesting"


def test_a_misaligned_column_is_a_clear_value_error():
    from rewards import build_reward

    with pytest.raises(ValueError, match="'labels' must be a list aligned"):
        build_reward("accuracy")(["a", "b"], labels=[["x"]])
