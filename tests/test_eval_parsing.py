"""Pure pieces of `eval`: judge-score parsing (hand-written replies, garbage included), extractor
reply parsing, the rule-based polarity, confusion matrices and reference-row loading."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affectllm.errors import InputError
from eval.confusion import NONE_COLUMN, closest_label, confusion
from eval.extract import (
    format_list,
    parse_extractor_list,
    parse_sentiment,
    rule_extract,
)
from eval.judge import judge_mean, parse_score
from eval.polarity import word_vote, words_sentiment
from eval.report import MER_COLUMNS, load_reference, mer_unibench_table
from rewards.label_list import parse_label_list

# ------------------------------------------------------------------------------ judge replies

JUDGE_REPLIES = [
    ("Summary of the reference: sad. Summary of the prediction: sad.\nOverlap score: 8", 8.0),
    ("Overlap score: 7/10", 7.0),
    ("There are 2 people. Both descriptions agree.\nOverlap score: 9", 9.0),  # label beats 1st num
    ("<think>maybe score 3?</think>The states match well. Overlap Score - **6**", 6.0),
    ("score: 7.5", 7.5),
    ("I would give it a 4.", 4.0),                      # no label: first number in range
    ("Score: 0. On reflection, 5.", 5.0),               # labelled value out of range
    ("Overlap score: 10", 10.0),
    ("Overlap score: 1", 1.0),
    ("Rating: 11 out of 12", None),                     # nothing in [1, 10]
    ("Overlap score: eleven", None),
    ("", None),
    ("\x00\x01 ���", None),
    ("The reference and the prediction are unrelated.", None),
    ("-3", None),
]


@pytest.mark.parametrize("reply,expected", JUDGE_REPLIES)
def test_parse_score_hand_written(reply, expected):
    assert parse_score(reply) == expected


def test_parse_score_never_raises_on_non_text():
    assert parse_score(None) is None
    assert parse_score(42) is None  # type: ignore[arg-type]


@given(st.text())
def test_parse_score_garbage_is_none_or_in_range(reply):
    value = parse_score(reply)
    assert value is None or 1 <= value <= 10


def test_judge_mean_counts_invalid():
    result = judge_mean([8.0, None, 6.0, None])
    assert result.mean == 7.0 and result.n_valid == 2 and result.n_invalid == 2
    assert result.as_dict()["invalid_rate"] == 0.5
    empty = judge_mean([None])
    assert empty.mean is None and empty.n_invalid == 1


# ------------------------------------------------------------------------------ extractors


@pytest.mark.parametrize("reply,expected", [
    ("['happy', 'relaxed']", ["happy", "relaxed"]),
    ("Sure! The emotions are: [Happy, \"Calm\"]. Hope this helps", ["happy", "calm"]),
    ("<think>maybe [angry]</think>['sad']", ["sad"]),
    ("[]", []),
    ("worried, anxious", ["worried", "anxious"]),
    ("", []),
])
def test_parse_extractor_list(reply, expected):
    assert parse_extractor_list(reply) == expected


@pytest.mark.parametrize("reply,expected", [
    ("positive", "positive"), ("Output: Negative.", "negative"),
    ("<think>positive?</think> neutral", "neutral"), ("The sentiment is unclear", None),
    ("nonpositive", None),
])
def test_parse_sentiment(reply, expected):
    assert parse_sentiment(reply) == expected


def test_rule_extractors():
    text = "<think>She smiles; she looks happy but a bit nervous.</think><answer>Happy; nervous</answer>"
    answer = rule_extract(text, "answer", sentiment=True)
    assert answer.words == ["happy", "nervous"] and answer.note is None
    assert answer.sentiment == "neutral"  # +1 and -1
    lexicon = rule_extract(text, "lexicon", sentiment=False)
    assert {"happy", "nervous"} <= set(lexicon.words) and lexicon.sentiment is None
    untagged = rule_extract("no tags at all", "answer", sentiment=False)
    assert untagged.words == [] and untagged.note == "no_answer"
    failed = rule_extract(None, "lexicon", sentiment=True)
    assert failed.note == "failed" and failed.sentiment == "neutral"


_WORD = st.text(alphabet=st.characters(whitelist_categories=("Ll",)), min_size=1, max_size=8)


@given(st.lists(st.lists(_WORD, min_size=1, max_size=3).map(" ".join), max_size=5))
def test_format_list_round_trips_through_the_official_split(words):
    assert parse_label_list(format_list(words)) == [w.lower().strip() for w in words]


# ------------------------------------------------------------------------------ polarity


def test_polarity_rules():
    assert word_vote("happy") == 1 and word_vote("worried") == -1
    assert word_vote("fear") == -1, "wheel 1 first: fear is not mapped through 'fearless'"
    assert word_vote("surprised") == 0 and word_vote("blorft") is None
    assert words_sentiment(["happy", "relaxed", "worried"]) == "positive"
    assert words_sentiment(["angry", "sad", "happy"]) == "negative"
    assert words_sentiment([]) == "neutral" and words_sentiment(["blorft"]) == "neutral"
    assert words_sentiment(["positive"]) == "positive" and words_sentiment(["negative"]) == "negative"


# ------------------------------------------------------------------------------ confusion


def test_closest_label_and_confusion():
    labels = ["angry", "happy", "sad", "worried"]
    assert closest_label(["joyful", "cheerful"], labels) == "happy"
    assert closest_label(["blorft"], labels) == NONE_COLUMN
    matrix = confusion(["happy", "sad", "sad"], ["happy", NONE_COLUMN, "sad"], ["happy", "sad"])
    assert matrix.cols == ["happy", "sad", NONE_COLUMN]
    assert matrix.counts == [[1, 0, 0], [0, 1, 1]]
    fixed = confusion(["happy", "sad", "sad"], ["(no answer)", "zzz", "sad"], ["happy", "sad"],
                      extra_cols=["(no answer)", "(outside label set)"])
    assert fixed.cols == ["happy", "sad", "(no answer)", "(outside label set)", "zzz"]
    assert fixed.counts == [[0, 0, 1, 0, 0], [0, 1, 0, 0, 1]]


def test_plots_with_colour_bar_before_after_and_support(tmp_path):
    from PIL import Image

    from eval.confusion import Confusion
    from eval.plots import au_plot, confusion_plot

    single = au_plot(tmp_path / "one.png", {"AU1": 0.5, "AU4": 1.0})
    both = au_plot(tmp_path / "two.png", {"AU1": 0.5, "AU4": 1.0}, support={"AU1": 3, "AU4": 7},
                   before={"AU1": 0.1})
    with Image.open(single) as a, Image.open(both) as b:
        assert a.size == b.size and a.tobytes() != b.tobytes()
    plain = confusion_plot(tmp_path / "cm.png", Confusion(["a"], ["a"], [[2]]), "cm")
    with Image.open(plain) as im:
        assert im.size[0] > 300  # matrix + colour bar


# ------------------------------------------------------------------------------ references


def test_reference_rows(tmp_path):
    path = tmp_path / "ref.yaml"
    path.write_text(
        "rows:\n"
        "  - name: Full\n    source: made-up test numbers\n    scores: {"
        + ", ".join(f"{n}: {10 * (k + 1)}" for k, n in enumerate(MER_COLUMNS)) + "}\n"
        "  - name: Partial\n    scores: {ovmerdplus: 55.5, cmu_mosi: 70, Mean: 60}\n"
        "  - name: Hidden\n    placeholder: true\n    scores: {MER2023: null}\n")
    rows, placeholders = load_reference(path)
    assert [r.name for r in rows] == ["Full", "Partial"] and placeholders == 1
    assert rows[0].mean == pytest.approx(50.0)
    assert rows[1].scores == {"OV-MERD+": 55.5, "CMU-MOSI": 70.0} and rows[1].mean == 60
    table = mer_unibench_table("mine", {"MER2023": 12.345}, 12.345, rows)
    header = table.splitlines()[0]
    assert header == "| Model | " + " | ".join(MER_COLUMNS) + " | Mean |"
    # the official table order: MER2023 first, OV-MERD+ last
    assert "| **mine** (this run) | 12.35 | - |" in table
    assert "| Partial | - | - | - | - | 70.00 | - | - | - | 55.50 | 60.00 |" in table


@pytest.mark.parametrize("body,match", [
    ("rows:\n  - name: X\n    scores: {MER2099: 1}\n", "unknown data set"),
    ("rows:\n  - name: X\n    scores: {MER2023: high}\n", "expected a number"),
    ("rows: 3\n", "rows"),
])
def test_bad_reference_is_input_error(tmp_path, body, match):
    path = tmp_path / "ref.yaml"
    path.write_text(body)
    with pytest.raises(InputError, match=match):
        load_reference(path)


def test_shipped_reference_rows_are_the_published_numbers():
    from pathlib import Path

    import eval as eval_package

    shipped = Path(eval_package.__path__[0]) / "published.yaml"
    rows, placeholders = load_reference(shipped)
    assert placeholders == 0 and all(r.source for r in rows)
    affectgpt = rows[0]
    assert affectgpt.name == "AffectGPT (A+V+T)" and affectgpt.mean == 74.77
    assert [affectgpt.scores[n] for n in MER_COLUMNS] == [78.54, 78.80, 55.65, 60.54, 81.30, 80.90,
                                                          88.49, 86.18, 62.52]
    for row in rows:  # every printed mean agrees with its nine scores
        assert abs(sum(row.scores[n] for n in MER_COLUMNS) / 9 - row.mean) < 0.006, row.name
