"""EMER as released, end to end: fixture folders in the two official layouts (dataset-v1 with
gt-eng.csv + gt-chi.csv, dataset-v2 with final-EMER-reason.csv; written here with tiny videos;
clips in video-process/, video/ or a separate media root; one name without a clip), a real tiny
model as the described model and as the judge under the AffectGPT protocol (our prompts; Chinese
and English references) and the project variant, judge-free metrics on known descriptions,
re-scoring from kept replies, and upstream's reply parsing."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from official_mer_tree import write_video
from PIL import Image

from affectllm.cli import main
from affectllm.data.readers import read
from affectllm.errors import InputError
from affectllm.generation import Sampling
from eval.emer import EmerConfig, description_text, run
from eval.emer_affectgpt import PROMPTS_ZH, parse_affectgpt_score
from eval.judge import PROMPTS

ENGLISH = {
    "e1": "She smiles and sounds happy and relaxed after passing the exam.",
    "e2": "He frowns and his voice trembles; he is worried and sad about his friend.",
    "e3": "The person looks around calmly.",  # no clip: skipped
}
CHINESE = {"e1": "她微笑着，听起来很高兴。", "e2": "他皱着眉，声音颤抖，很担忧。", "e3": "他很平静。"}


def _csv(path: Path, header: list[str], rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_emer(base: Path, clip: Path) -> tuple[Path, Path, Path]:
    """(dataset-v1, dataset-v2, a separate media root) in the official layout."""
    v1, v2, media = base / "EMER" / "dataset-v1", base / "EMER" / "dataset-v2", base / "mer2023"
    _csv(v1 / "gt-eng.csv", ["names", "emotions", "subtitles", "reasons"],
         [("e1", "happy", "I passed!", ENGLISH["e1"]), ("e2", "worried", "Where is he?",
                                                        ENGLISH["e2"]),
          ("e3", "neutral", "Hm.", ENGLISH["e3"])])
    _csv(v1 / "gt-chi.csv", ["names", "emotions", "subtitles", "reasons"],
         [("e1", "高兴", "我通过了！", CHINESE["e1"]), ("e2", "担忧", "他在哪？", CHINESE["e2"]),
          ("e3", "中性", "嗯。", CHINESE["e3"])])
    _csv(v2 / "final-EMER-reason.csv", ["name", "chinese", "english"],
         [(n, CHINESE[n], ENGLISH[n]) for n in ENGLISH])
    (v1 / "video-process").mkdir()
    for name in ("e1", "e2"):
        shutil.copyfile(clip, v1 / "video-process" / f"{name}.avi")
        (media / "video").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, media / "video" / f"{name}.mp4")
    return v1, v2, media


@pytest.fixture(scope="module")
def emer(tmp_path_factory):
    base = tmp_path_factory.mktemp("emer")
    write_video(base / "clip.avi")
    return write_emer(base, base / "clip.avi")


def _config(model: str, root: Path, out: Path, **kw) -> EmerConfig:
    return EmerConfig(model=model, data_root=root, out=out, backend="hf",
                      backend_options={"batch_size": 8}, sampling=Sampling(max_new_tokens=12),
                      judge_sampling=Sampling(max_new_tokens=12), **kw)


# ---------------------------------------------------------------------------------------- reader

def test_v1_and_v2_read_unchanged(emer, tmp_path, capsys):
    v1, v2, media = emer
    result = read(v1, "emer", on_error="skip")
    e1, e2 = result.samples
    assert e1["labels"] == ["happiness"] and e1["openset"] == [] and e1["answer"] == "happy"
    assert e1["reasoning"] == ENGLISH["e1"]
    meta = json.loads(e1["meta"])
    assert meta["reason_zh"] == CHINESE["e1"] and meta["emotion_zh"] == "高兴"
    assert meta["dataset"] == "EMER-v1" and meta["subtitle"] == "I passed!"
    assert e1["media"] == [{"type": "video", "path": "video-process/e1.avi"}]
    [problem] = result.problems
    assert "no media file for 'e3'" in problem.reason and problem.line == 4
    # v2 with its clips kept elsewhere (--media-root / --root)
    result = read(v2, "emer", root=media, on_error="skip")
    assert [s["id"] for s in result.samples] == ["e1", "e2"]
    assert result.samples[0]["media"] == [{"type": "video", "path": "video/e1.mp4"}]
    assert json.loads(result.samples[1]["meta"])["reason_zh"] == CHINESE["e2"]
    assert result.samples[1]["labels"] == [] and result.samples[1]["reasoning"] == ENGLISH["e2"]
    # convert through the CLI, media root given
    code = main(["data", "convert", str(v2), "--format", "emer", "--media-root", str(media),
                 "--out", str(tmp_path / "conv"), "--skip-invalid"])
    assert code == 0
    config = json.loads((tmp_path / "conv" / "convert_config.json").read_text())
    assert config["data_root"] == str(media.resolve())
    with pytest.raises(InputError, match="dataset-v1 or EMER/dataset-v2"):
        read(v1.parent, "emer")


# ------------------------------------------------------------------------------------ end to end

def test_affectgpt_protocol_with_the_tiny_model_as_judge(tiny_model, emer, tmp_path):
    v1, _, _ = emer
    model = str(tiny_model("qwen2_5_vl"))
    report = run(_config(model, v1, tmp_path / "out", judge=model))
    assert report["protocol"] == "affectgpt" and report["language"] == "zh"
    note = report["protocol_note"]
    assert "AffectGPT's EMER judge protocol" in note and "prompts in our own words" in note
    assert "not directly comparable with published numbers" in note
    metrics = report["metrics"]
    assert set(metrics) == {"clue_overlap", "label_overlap", "ew_fscore", "rouge_l"}
    for name in ("clue_overlap", "label_overlap"):
        judged = report["judge_scores"][name]
        assert judged["n_valid"] + judged["n_invalid"] == 2  # tiny-model garbage never crashes
    assert report["stages"]["judge_summary"]["generated"] == 4  # reference + description, x2
    assert report["stages"]["judge"]["generated"] == 4
    assert [s["kind"] for s in report["skipped"]] == ["missing_media"]
    out = tmp_path / "out"
    prompts = [json.loads(line) for line in (out / "judge_clue_overlap.jsonl").read_text()
               .splitlines()]
    assert len(prompts) == 2
    config = json.loads((out / "config.json").read_text())
    assert config["judge_prompts"] == PROMPTS_ZH and config["protocol"] == "affectgpt"
    assert "instead of GPT-3.5" in (out / "report.md").read_text()
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = run(_config(model, v1, copy, judge=model, rescore=True))
    assert again["metrics"] == metrics and again["models_loaded"] == []


def test_project_variant_and_english_references(tiny_model, emer, tmp_path, capsys):
    _, v2, media = emer
    model = str(tiny_model("qwen2_5_vl"))
    code = main(["eval", "emer", "--model", model, "--data-root", str(v2), "--media-root",
                 str(media), "--judge", model, "--protocol", "project", "--language", "en",
                 "--out", str(tmp_path / "p"), "--backend", "hf", "--max-new-tokens", "8",
                 "--judge-max-new-tokens", "8"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["protocol"] == "project" and "not AffectGPT's protocol" in \
        report["protocol_note"]
    assert report["config"]["judge_prompts"] == PROMPTS
    assert report["stages"]["judge"]["generated"] == 4 and "judge_summary" not in report["stages"]


def test_judge_free_metrics_on_known_descriptions(emer, tmp_path):
    """Descriptions written by hand (as another toolkit would), scored with --rescore and no judge:
    a copy of the reference scores ROUGE-L 1 and EW 1; an unrelated one scores 0."""
    v1, _, _ = emer
    out = tmp_path / "known"
    out.mkdir()
    rows = [{"id": "e1", "key": "x", "text": f"<think>{ENGLISH['e1']}</think>", "error": None},
            {"id": "e2", "key": "x", "text": "The weather report mentions rain.", "error": None}]
    (out / "descriptions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = run(_config("/not/a/model", v1, out, judge="none", rescore=True))
    scored = [json.loads(line) for line in (out / "scored.jsonl").read_text().splitlines()]
    assert scored[0]["rouge_l"] == 1.0 and scored[0]["ew_fscore"] == 1.0
    assert scored[1]["ew_fscore"] == 0.0 and scored[1]["predicted_words"] == []
    assert report["metrics"]["rouge_l"] == pytest.approx((1.0 + scored[1]["rouge_l"]) / 2)
    assert report["metrics"]["clue_overlap"] is None and report["judge_scores"] == {}
    assert "(no judge)" in (out / "report.md").read_text()


def test_affectgpt_reply_parsing():
    assert parse_affectgpt_score("分数：7；理由：情感一致") == 7.0
    assert parse_affectgpt_score("8.5/10 because ...") == 8.5
    assert parse_affectgpt_score("score: 10; reason: same") == 10.0
    assert parse_affectgpt_score("<think>1 2 3</think>分数：6") == 6.0
    assert parse_affectgpt_score("没有分数") is None and parse_affectgpt_score(None) is None
    assert parse_affectgpt_score("1..2") is None  # upstream's float() would fail on it too


def test_affectgpt_prompts_follow_the_protocol_steps():
    """Both languages: the clue and label prompts take the reference and the prediction and ask
    for a 1-10 score first (what the parser reads); the summary prompt takes one description."""
    from eval.emer_affectgpt import PROMPTS as BY_LANGUAGE

    for prompts in BY_LANGUAGE.values():
        assert list(prompts) == ["clue_overlap", "summary", "label_overlap"]
        for metric in ("clue_overlap", "label_overlap"):
            text = prompts[metric].format(reference="REF", prediction="PRED")
            assert "REF" in text and "PRED" in text and "10" in text
        assert "DESC" in prompts["summary"].format(description="DESC")


def test_description_text():
    assert description_text("<think>sad face</think><answer>sad</answer>") == "sad face sad"
    assert description_text("  plain words ") == "plain words"
    assert description_text("") == ""


def test_not_an_emer_folder(tmp_path, tiny_model):
    Image.new("RGB", (4, 4)).save(tmp_path / "x.png")
    model = str(tiny_model())
    with pytest.raises(InputError, match="gt-eng.csv"):
        run(_config(model, tmp_path, tmp_path / "out", judge="none"))
    with pytest.raises(InputError, match="--protocol"):
        run(_config(model, tmp_path, tmp_path / "out", judge="none", protocol="gpt"))


def test_relative_data_and_media_roots(emer, tmp_path, monkeypatch, capsys):
    """Issue 11: relative SRC and --media-root read the same samples as absolute ones; an EMER
    eval on a header-only gt-eng.csv names that file and the reason."""
    v1, v2, media = emer
    expected = read(v2, "emer", root=media, on_error="skip").samples
    monkeypatch.chdir(v2.parents[1])
    rel_v2, rel_media = v2.relative_to(v2.parents[1]), media.relative_to(v2.parents[1])
    assert read(rel_v2, "emer", root=rel_media, on_error="skip").samples == expected
    code = main(["data", "convert", str(rel_v2), "--format", "emer", "--media-root",
                 str(rel_media), "--out", str(tmp_path / "conv"), "--skip-invalid"])
    assert code == 0, capsys.readouterr().err
    # descriptions kept from "another toolkit", re-scored without a judge from relative roots
    out = tmp_path / "rel"
    out.mkdir()
    (out / "descriptions.jsonl").write_text("".join(json.dumps(
        {"id": s["id"], "key": "x", "text": "happy", "error": None}) + "\n" for s in expected))
    report = run(_config("/not/a/model", rel_v2, out, judge="none", rescore=True,
                         media_root=rel_media, language="en"))
    assert report["n_samples"] == len(expected) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "gt-eng.csv").write_text("names,emotions,subtitles,reasons\n")
    with pytest.raises(InputError, match="no data rows") as caught:
        run(_config("/not/a/model", empty, tmp_path / "o", judge="none", rescore=True))
    assert caught.value.path == str(empty / "gt-eng.csv")
