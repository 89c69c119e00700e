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
