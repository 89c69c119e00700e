"""EMER end to end on a fixture folder in the official layout (gt-eng.csv, final-EMER-reason.csv,
tiny images as media, one name without media), with a real tiny model as the described model and as
the judge; the judge-free metrics on hand-written descriptions; re-scoring from kept replies."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from affectllm.errors import InputError
from affectllm.generation import Sampling
from eval.emer import EmerConfig, description_text, run
from eval.judge import PROMPTS

REFERENCES = {
    "e1": "She smiles and sounds happy and relaxed after passing the exam.",
    "e2": "He frowns and his voice trembles; he is worried and sad about his friend.",
    "e3": "The person looks around calmly.",  # no media: skipped
}


def write_emer(root: Path) -> Path:
    (root / "video").mkdir(parents=True)
    rows = [("e1", "['happy', 'relaxed']", "I passed!", "smiles"),
            ("e2", "['worried', 'sad']", "Where is he?", "frowns"),
            ("e3", "['neutral']", "Hm.", "looks around")]
    with open(root / "gt-eng.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["names", "emotions", "subtitles", "reasons"])
        w.writerows(rows)
    with open(root / "final-EMER-reason.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "chinese", "english"])
        w.writerows([n, "描述", text] for n, text in REFERENCES.items())
    for i, name in enumerate(["e1", "e2"]):
        Image.new("RGB", (32, 32), (200, 60 * i, 40)).save(root / "video" / f"{name}.png")
    return root


@pytest.fixture(scope="module")
def emer_root(tmp_path_factory):
    return write_emer(tmp_path_factory.mktemp("emer"))


def _config(model: str, root: Path, out: Path, **kw) -> EmerConfig:
    return EmerConfig(model=model, data_root=root, out=out, backend="hf",
                      backend_options={"batch_size": 8}, sampling=Sampling(max_new_tokens=16),
                      judge_sampling=Sampling(max_new_tokens=16), **kw)


def test_emer_with_the_tiny_model_as_judge(tiny_model, emer_root, tmp_path):
    model = str(tiny_model("qwen2_5_vl"))
    report = run(_config(model, emer_root, tmp_path / "out", judge=model))
    metrics = report["metrics"]
    assert set(metrics) == {"clue_overlap", "label_overlap", "ew_fscore", "rouge_l"}
    for name in PROMPTS:
        judged = report["judge_scores"][name]
        assert judged["n_valid"] + judged["n_invalid"] == 2  # tiny-model garbage never crashes
        assert metrics[name] is None or 1 <= metrics[name] <= 10
    assert 0 <= metrics["ew_fscore"] <= 1 and 0 <= metrics["rouge_l"] <= 1
    assert report["models_loaded"] == [model], "the judge reuses the described model's backend"
    assert set(report["throughput"]) == {"generation", "judge"}
    assert report["stages"]["judge"]["generated"] == 4
    assert [s["kind"] for s in report["skipped"]] == ["missing_media"]
    out = tmp_path / "out"
    for file in ("config.json", "report.json", "report.md", "descriptions.jsonl", "scored.jsonl",
                 "judge_clue_overlap.jsonl", "judge_label_overlap.jsonl", "plots/scores.png"):
        assert (out / file).is_file(), file
    with Image.open(out / "plots" / "scores.png") as im:
        assert im.format == "PNG" and im.size[0] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["judge"] == model and config["judge_sampling"]["temperature"] == 0.0
    assert config["judge_prompts"]["clue_overlap"] == PROMPTS["clue_overlap"]

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = run(_config(model, emer_root, copy, judge=model, rescore=True))
    assert again["metrics"] == metrics and again["judge_scores"] == report["judge_scores"]
    assert again["models_loaded"] == []


def test_judge_free_metrics_on_known_descriptions(emer_root, tmp_path):
    """Descriptions written by hand (as another toolkit would), scored with --rescore and no judge:
    a copy of the reference scores ROUGE-L 1 and EW 1; an unrelated one scores 0."""
    out = tmp_path / "known"
    out.mkdir()
    rows = [{"id": "e1", "key": "x", "text": f"<think>{REFERENCES['e1']}</think>", "error": None},
            {"id": "e2", "key": "x", "text": "The weather report mentions rain.", "error": None}]
    (out / "descriptions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = run(_config("/not/a/model", emer_root, out, judge="none", rescore=True))
    scored = [json.loads(line) for line in (out / "scored.jsonl").read_text().splitlines()]
    assert scored[0]["rouge_l"] == pytest.approx(1.0) and scored[0]["ew_fscore"] == 1.0
    assert scored[1]["ew_fscore"] == 0.0 and scored[1]["predicted_words"] == []
    assert report["metrics"]["rouge_l"] == pytest.approx((1.0 + scored[1]["rouge_l"]) / 2)
    assert report["metrics"]["clue_overlap"] is None and report["judge_scores"] == {}
    assert "(no judge)" in (out / "report.md").read_text()


def test_description_text():
    assert description_text("<think>sad face</think><answer>sad</answer>") == "sad face sad"
    assert description_text("  plain words ") == "plain words"
    assert description_text("") == ""


def test_not_an_emer_folder(tmp_path):
    with pytest.raises(InputError, match="gt-eng.csv"):
        run(_config("org/model", tmp_path, tmp_path / "out", judge="none"))
