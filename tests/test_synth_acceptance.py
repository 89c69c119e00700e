"""Synthesis acceptance on hand-made candidates: rules, best-candidate choice, retry feedback,
corpus dedup, and config errors that name the file and the key (CLI exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from affectllm.cli import main
from affectllm.errors import InputError
from data_synthesis.acceptance import Rule, best_candidate, failed_rules, parse_rules
from data_synthesis.config import DedupConfig, load_config
from data_synthesis.corpus import merge_rounds, normalised_text, split_completion
from data_synthesis.feedback import FEEDBACK_HEADER, feedback_block, problems
from data_synthesis.prompting import hint_text, item_messages
from data_synthesis.scoring import Scorer

ANGER = {"id": "a1", "labels": ["anger"], "openset": [], "aus": ["AU4", "AU5", "AU7", "AU23"],
         "media": [], "question": "What emotion?"}
NEUTRAL = {"id": "n1", "labels": ["neutral"], "openset": [], "aus": [], "media": [],
           "question": "What emotion?"}

ALL_AUS = ("<think>The brows are lowered (AU4), the upper lids raised (AU5), the lids tightened "
           "(AU7) and the lips tightened (AU23).</think><answer>anger</answer>")
MISSING_AUS = ("<think>The brows are lowered (AU4) and the lids are tightened (AU7).</think>"
               "<answer>anger</answer>")
WRONG_LABEL = ("<think>AU4, AU5, AU7 and AU23 are active, and AU9 too.</think>"
               "<answer>sadness</answer>")
BAD_FORMAT = "The face looks angry: AU4 and AU5. anger"

REPO = Path(__file__).resolve().parents[1]
FACIAL_R1 = parse_rules({"au": "== 1.0", "accuracy": "== 1", "format": "== 1"})


def _scores(completions, item=ANGER):
    scorer = Scorer(["au", "accuracy", "format"])
    return scorer, scorer.score(completions, [item] * len(completions))


# ---------------------------------------------------------------------------------------- rules


def test_rules_mapping_list_and_bare_number():
    assert parse_rules({"au": "== 1.0", "ew": 0.8}) == [Rule("au", "==", 1.0), Rule("ew", ">=", 0.8)]
    assert parse_rules(["ew >= 0.8", "format==1"]) == [Rule("ew", ">=", 0.8),
                                                       Rule("format", "==", 1.0)]
    assert str(Rule("au", ">=", 0.5)) == "au >= 0.5"
    for bad in ({"au": "about 1"}, ["au"], ["== 1"], {"au": "au == 1"}, "au == 1", {}):
        with pytest.raises(ValueError):
            parse_rules(bad)


def test_right_label_missing_aus_rejected_strict_accepted_lenient():
    scorer, scores = _scores([MISSING_AUS])
    (s,) = scores
    assert s["accuracy"] == 1.0 and s["format"] == 1.0
    assert s["au"] == pytest.approx(2 * (2 * 2 / (4 + 2)) - 1)  # F1 = 2/3 -> 2F1 - 1 = 1/3
    assert [str(r) for r in failed_rules(FACIAL_R1, s)] == ["au == 1"]
    assert best_candidate(scores, FACIAL_R1, scorer.weights) is None
    lenient = parse_rules({"au": ">= 0.3", "accuracy": "== 1", "format": "== 1"})
    assert best_candidate(scores, lenient, scorer.weights) == 0


def test_best_passing_candidate_wins_and_ties_go_first():
    scorer, scores = _scores([BAD_FORMAT, MISSING_AUS, ALL_AUS, ALL_AUS])
    assert best_candidate(scores, FACIAL_R1, scorer.weights) == 2
    lenient = parse_rules({"format": "== 1"})
    assert best_candidate(scores, lenient, scorer.weights) == 2  # highest total among passing
    assert best_candidate(scores[:2], FACIAL_R1, scorer.weights) is None
    assert best_candidate(scores[:2], FACIAL_R1, scorer.weights, passing_only=False) == 1


def test_not_applicable_reward_does_not_block():
    """`au` is None for an item without ground-truth AUs: that rule is skipped for it."""
    text = "<think>Everything is relaxed.</think><answer>neutral</answer>"
    scorer, scores = _scores([text], NEUTRAL)
    assert scores[0]["au"] is None
    assert best_candidate(scores, FACIAL_R1, scorer.weights) == 0


# ------------------------------------------------------------------------------------- feedback


def test_feedback_names_missing_aus():
    _, (s,) = _scores([MISSING_AUS])
    lines = problems(MISSING_AUS, ANGER, s, FACIAL_R1)
    assert lines == ["missing AU5 (upper lid raiser)", "missing AU23 (lip tightener)"]
    block = feedback_block(lines)
    assert block.startswith(FEEDBACK_HEADER)
    assert "- missing AU5 (upper lid raiser)\n- missing AU23 (lip tightener)" in block


def test_feedback_extra_aus_wrong_label_bad_format():
    _, (s,) = _scores([WRONG_LABEL])
    lines = problems(WRONG_LABEL, ANGER, s, FACIAL_R1)
    assert "extra AU9 (nose wrinkler): not active in this face" in lines
    assert "wrong label: answered 'sadness', expected 'anger'" in lines
    _, (s,) = _scores([BAD_FORMAT])
    lines = problems(BAD_FORMAT, ANGER, s, FACIAL_R1)
    assert lines[0].startswith("no <think> block")
    assert any(line.startswith("no <answer> block") for line in lines)
    assert any(line.startswith("bad format") for line in lines)


def test_feedback_for_other_rewards_gives_score_and_threshold():
    scorer = Scorer([{"name": "soft_overlong", "max_len": 20, "cache": 10}, "ew"])
    text = "<think>" + "x" * 40 + "</think><answer>happy</answer>"
    item = {**ANGER, "openset": ["angry", "annoyed"]}
    (s,) = scorer.score([text], [item])
    rules = parse_rules(["soft_overlong >= 0", "ew >= 0.8"])
    lines = problems(text, item, s, rules)
    assert lines[0] == "too long (soft_overlong -1.00, needs >= 0): answer more briefly"
    assert "expected: angry, annoyed" in lines[1]


# -------------------------------------------------------------------------------------- prompts


def test_hint_and_feedback_reach_the_user_turn(tmp_path):
    template = "Your analysis must identify these Action Units: {aus}. The final answer must be: {answer}."
    assert hint_text(template, ANGER) == (
        "Your analysis must identify these Action Units: AU4 (brow lowerer), AU5 (upper lid "
        "raiser), AU7 (lid tightener), AU23 (lip tightener). The final answer must be: anger.")
    assert "Action Units: none." in hint_text(template, NEUTRAL)
    messages = item_messages(ANGER, tmp_path, None, None, template,
                             feedback_block(["missing AU5 (upper lid raiser)"]))
    text = messages[-1]["content"][-1]["text"]
    assert text.startswith("What emotion?\nYour analysis must identify")
    assert text.endswith("missing AU5 (upper lid raiser)\n"
                         "Write a new answer that fixes these problems.")


def test_split_completion():
    assert split_completion(ALL_AUS)[1] == "anger"
    assert split_completion(ALL_AUS)[0].startswith("The brows are lowered (AU4)")
    assert split_completion("no tags at all <answer>x</answer>") == ("no tags at all", "x")


# --------------------------------------------------------------------------------------- corpus


def _sample(sid, reasoning, answer="anger"):
    return {"id": sid, "reasoning": reasoning, "answer": answer}


def test_merge_dedups_by_id_and_by_normalised_text():
    round1 = [_sample("a", "Brows lowered (AU4)."), _sample("b", "brows  LOWERED (au4)")]
    round2 = [_sample("a", "A new text."), _sample("c", "Lips pressed.")]
    corpus, reports = merge_rounds([round1, round2], DedupConfig(by_id="first", by_text=True))
    assert [s["id"] for s in corpus] == ["a", "c"]
    assert reports[0].duplicate_text == 1 and reports[0].added == 1
    assert reports[1].duplicate_id == 1 and reports[1].added == 1 and reports[1].size == 2
    assert normalised_text(round1[0]) == normalised_text(round1[1])

    corpus, reports = merge_rounds([round1, round2], DedupConfig(by_id="latest", by_text=True))
    assert {s["id"]: s["reasoning"] for s in corpus} == {"a": "A new text.", "c": "Lips pressed."}
    assert reports[1].replaced == 1
    corpus, _ = merge_rounds([round1], DedupConfig(by_id="first", by_text=False))
    assert [s["id"] for s in corpus] == ["a", "b"]


# -------------------------------------------------------------------------------- config errors


@pytest.fixture
def items_file(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "x", "source": "t", "labels": ["anger"]}) + "\n")
    return path


def _config(tmp_path, text):
    path = tmp_path / "synth.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("body, key", [
    ("accept: {au: '== 1', empathy: '>= 1'}", "accept.empathy"),
    ("accept: ['format == 1', 'au >= 1']\nrewards: [format]", "accept.au"),
    ("accept: {au: 'about one'}", "accept"),
    ("rewards: [au]", "accept"),
    ("accept: {au: '== 1'}\nsampling: {temprature: 1.0}", "sampling.temprature"),
    ("accept: {au: '== 1'}\nn: two", "n"),
    ("accept: {au: '== 1'}\nhint: 'AUs: {action_units}'", "hint"),
    ("accept: {au: '== 1'}\nretrain: {overrides: {max_steps: 1}}", "retrain.config"),
])
def test_bad_config_names_file_and_key(tmp_path, items_file, body, key):
    path = _config(tmp_path, f"data: {items_file}\n{body}\n")
    with pytest.raises(InputError) as exc:
        load_config(path)
    assert exc.value.path == str(path)
    assert f"key {key!r}" in str(exc.value)


def test_missing_input_file_and_missing_data_key(tmp_path):
    path = _config(tmp_path, "data: nowhere/items.jsonl\naccept: {format: '== 1'}\n")
    with pytest.raises(InputError, match=r"key 'data': input file not found: nowhere/items.jsonl"):
        load_config(path)
    path = _config(tmp_path, "accept: {format: '== 1'}\n")
    with pytest.raises(InputError, match="key 'data': missing required key"):
        load_config(path)


def test_cli_exits_2_on_bad_config(tmp_path, items_file, capsys):
    path = _config(tmp_path, f"data: {items_file}\naccept: {{empathy: '>= 1'}}\n")
    assert main(["synth", "--config", str(path), "--model", "x", "--out",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "key 'accept.empathy': unknown reward 'empathy'" in err
    assert main(["synth", "--config", str(tmp_path / "absent.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_cli_exits_2_without_a_model(tmp_path, items_file, capsys):
    path = _config(tmp_path, f"data: {items_file}\naccept: {{format: '== 1'}}\n")
    assert main(["synth", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "key 'model': no model given" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["tiny", "facial_r1", "affectgpt"])
def test_shipped_synth_configs_load(name, items_file):
    overrides = {} if name == "tiny" else {"data": str(items_file)}
    cfg = load_config(REPO / "recipes" / "synth" / f"{name}.yaml", overrides)
    assert cfg.accept and cfg.rewards
    if name == "tiny":
        assert cfg.data == "toyfaces:20" and cfg.model == "tiny:qwen2_5_vl"
        assert cfg.retrain is not None and cfg.retrain.config.endswith("recipes/tiny/sft.yaml")
