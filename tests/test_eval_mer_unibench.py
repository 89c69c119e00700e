"""MER-UniBench end to end on fixture data sets in the official layout (written here: label CSVs,
tiny PNG/JPG images as media, a subtitle CSV, one row whose media is missing), with a real tiny
model: the `answer`, `lexicon` and tiny-LLM extractors, re-scoring from kept intermediates,
agreement with `affectllm score`, known answers giving known scores, and the CLI's exit codes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from affectllm.cli import main
from affectllm.errors import InputError
from affectllm.generation import Sampling
from eval.extract import lexicon_words
from eval.mer_unibench import MerConfig, run
from eval.polarity import words_sentiment
from eval.report import MER_COLUMNS
from eval.scorers import ew_dataset_score, hit_rate, sentiment_scores

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: data set -> (label column, rows); every name gets an image except "ghost".
FIXTURE = {
    "OV-MERD+": ("openset", [("s1", "['happy', 'relaxed']"), ("s2", "['worried', 'fearful']")]),
    "MER2023": ("emotion", [("a1", "happy"), ("a2", "worried"), ("ghost", "sad")]),
    "MER2024": ("emotion", [("a1", "angry"), ("a2", "sad")]),
    "MELD": ("emotion", [("m1", "joy"), ("m2", "surprise")]),
    "IEMOCAPFour": ("emotion", [("i1", "neutral"), ("i2", "sad")]),
    "CMU-MOSI": ("valence", [("c1", "1.8"), ("c2", "-2.0")]),
    "CMU-MOSEI": ("valence", [("c1", "0.6"), ("c2", "-0.3"), ("c3", "0")]),
    "SIMS": ("valence", [("x1", "0.8"), ("x2", "-0.6")]),
    "SIMSv2": ("valence", [("x1", "0.4"), ("x2", "-1.0")]),
}

#: A perfect answer per ground truth, for the known-scores test.
PERFECT = {"['happy', 'relaxed']": "happy, relaxed", "['worried', 'fearful']": "worried, fearful",
           "happy": "happy", "worried": "worried", "angry": "angry", "sad": "sad", "joy": "joy",
           "surprise": "surprise", "neutral": "neutral"}


def write_mer_unibench(root: Path, datasets=FIXTURE) -> Path:
    """The official layout: ROOT/<data set>/label.csv + video/<name>.{png,jpg} (+ subtitle.csv)."""
    for k, (name, (column, rows)) in enumerate(datasets.items()):
        folder = root / name
        (folder / "video").mkdir(parents=True, exist_ok=True)
        with open(folder / "label.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["name", column])
            writer.writerows(rows)
        for j, (sample, _) in enumerate(rows):
            if sample == "ghost":
                continue
            ext = ".png" if j % 2 == 0 else ".jpg"
            Image.new("RGB", (32, 32), ((37 * k) % 256, 90 * j % 256, 120)).save(
                folder / "video" / f"{sample}{ext}")
    (root / "MER2023" / "subtitle.csv").write_text("name,english\na1,I passed the exam!\n",
                                                   encoding="utf-8")
    return root


def _valid_png(path: str | Path) -> bool:
    data = Path(path).read_bytes()
    with Image.open(path) as im:
        return data.startswith(PNG_SIGNATURE) and im.size[0] > 0 and im.size[1] > 0


def _scores(report: dict) -> dict:
    return {n: (r["score"], r.get("accuracy"), r.get("precision"), r.get("n_counted"))
            for n, r in report["datasets"].items()}


@pytest.fixture(scope="module")
def mer_root(tmp_path_factory):
    return write_mer_unibench(tmp_path_factory.mktemp("mer_unibench"))


@pytest.fixture(scope="module")
def model(tiny_model):
    return str(tiny_model("qwen2_5_vl"))


def _config(model: str, root: Path, out: Path, **kw) -> MerConfig:
    return MerConfig(model=model, data_root=root, out=out, backend="hf",
                     backend_options={"batch_size": 32}, sampling=Sampling(max_new_tokens=16),
                     extractor_sampling=Sampling(max_new_tokens=8), **kw)


@pytest.fixture(scope="module")
def answer_run(model, mer_root, tmp_path_factory):
    cfg = _config(model, mer_root, tmp_path_factory.mktemp("mer_out"), subtitles=True)
    return cfg, run(cfg)


def test_all_nine_with_the_answer_extractor(answer_run):
    cfg, report = answer_run
    assert list(report["datasets"]) == list(MER_COLUMNS)
    assert report["complete"] and report["mean_over"] == list(MER_COLUMNS)
    scores = [report["metrics"][n] for n in MER_COLUMNS]
    assert all(s is not None and 0 <= s <= 100 for s in scores)
    assert report["mean"] == pytest.approx(sum(scores) / 9)
    assert report["metrics"]["mean"] == report["mean"]
    sims = report["datasets"]["SIMS"]
    assert sims["metric"] == "weighted_f1" and 0 <= sims["accuracy"] <= 1
    assert report["datasets"]["OV-MERD+"]["metric"] == "ew_fscore"
    assert report["datasets"]["MELD"]["metric"] == "hit_rate"
    assert report["datasets"]["CMU-MOSEI"]["n_counted"] == 2, "valence 0 is dropped"
    # missing media: skipped, listed with its name and counted, never silently
    assert report["datasets"]["MER2023"]["n_samples"] == 2
    assert report["datasets"]["MER2023"]["skipped"]["missing_media"] == 1
    assert [s["name"] for s in report["skipped"]] == ["ghost"] and report["skipped_count"] == 1
    assert "ghost" in (cfg.out / "report.md").read_text()
    # every intermediate is kept
    for name in MER_COLUMNS:
        folder = cfg.out / name
        for file in ("descriptions.jsonl", "extracted.jsonl", "gt.csv", "pred.csv", "scores.json"):
            assert (folder / file).is_file(), f"{name}/{file}"
    assert report["stages"]["descriptions"]["generated"] == 19
    # the run's config is recorded
    config = json.loads((cfg.out / "config.json").read_text())
    assert config["sampling"]["temperature"] == 0.0 and config["sampling"]["seed"] == 0
    assert config["extractor"] == "answer" and config["extractor_sampling"] is None
    assert config["prompt_text"].startswith("Please infer the person's emotional state")
    assert report["config"]["model"] == cfg.model
    assert report["throughput"]["generation"]["requests"] == 19
    assert report["models_loaded"] == [cfg.model]
    assert any("no `<answer>` span" in w for w in report["warnings"]), "random weights: no tags"


def test_report_files_and_plots(answer_run):
    cfg, report = answer_run
    md = (cfg.out / "report.md").read_text()
    assert "| Model | MER2023 | MER2024 | MELD | IEMOCAPFour | CMU-MOSI | CMU-MOSEI " \
           "| SIMS | SIMSv2 | OV-MERD+ | Mean |" in md
    assert report["official_line"] in md and report["official_line"].count("&") == 10
    plots = report["files"]["plots"]
    assert Path(plots[0]).name == "scores.png"
    assert {Path(p).name for p in plots} >= {"confusion-MER2023.png", "confusion-CMU-MOSI.png"}
    assert all(_valid_png(p) for p in plots)


def test_rescore_from_kept_intermediates_is_identical(answer_run, model, tmp_path):
    cfg, report = answer_run
    copy = tmp_path / "copy"
    shutil.copytree(cfg.out, copy)
    again = run(_config(model, cfg.data_root, copy, subtitles=True, rescore=True))
    assert _scores(again) == _scores(report) and again["mean"] == report["mean"]
    assert again["stages"]["descriptions"] == {"generated": 0, "reused": 19, "stale_reused": 0,
                                               "failed": 0}
    assert again["throughput"] == {} and again["models_loaded"] == []
    # without --rescore, matching kept rows are reused automatically
    auto = run(_config(model, cfg.data_root, copy, subtitles=True))
    assert _scores(auto) == _scores(report) and auto["stages"]["descriptions"]["generated"] == 0
    assert auto["models_loaded"] == [], "no model is loaded when nothing must be generated"
    # a changed prompt invalidates the kept descriptions of the data sets it runs
    changed = run(_config(model, cfg.data_root, copy, prompt="affectgpt", datasets=["SIMS"]))
    assert changed["stages"]["descriptions"]["generated"] == 2


def test_a_partial_run_resumes(model, mer_root, tmp_path):
    out = tmp_path / "resume"
    first = run(_config(model, mer_root, out, datasets=["SIMS"], limit=1))
    assert first["stages"]["descriptions"]["generated"] == 1
    second = run(_config(model, mer_root, out, datasets=["SIMS"]))
    assert second["stages"]["descriptions"] == {"generated": 1, "reused": 1, "stale_reused": 0,
                                                "failed": 0}


def test_csvs_give_the_same_numbers_through_affectllm_score(answer_run, capsys):
    _, report = answer_run
    for result in report["datasets"].values():
        command = result["score_command"].split()[2:]  # drop "affectllm score"
        capsys.readouterr()
        assert main(["score", *command, "--json"]) == 0
        scored = json.loads(capsys.readouterr().out)
        if result["task"] == "openset":
            assert scored["fscore"] == result["score"]
        elif result["task"] == "hit":
            assert scored["hit_rate"] == result["score"]
        else:
            assert scored["weighted_f1"] == result["score"]
            assert scored["accuracy"] == result["accuracy"]


def test_lexicon_extractor_reuses_descriptions(answer_run, model, tmp_path):
    cfg, _ = answer_run
    copy = tmp_path / "copy"
    shutil.copytree(cfg.out, copy)
    report = run(_config(model, cfg.data_root, copy, subtitles=True, extractor="lexicon",
                         rescore=True))
    assert report["stages"]["descriptions"]["generated"] == 0
    for name, (column, rows) in FIXTURE.items():
        texts = {json.loads(line)["id"]: json.loads(line)["text"]
                 for line in (copy / name / "descriptions.jsonl").read_text().splitlines()}
        names = [n for n, _ in rows if n != "ghost"]
        words = [lexicon_words(texts[f"{name}/{n}"]) for n in names]
        extracted = [json.loads(line)["words"]
                     for line in (copy / name / "extracted.jsonl").read_text().splitlines()]
        assert extracted == words
        gts = [v for n, v in rows if n != "ghost"]
        result = report["datasets"][name]
        if column == "openset":
            assert result["score"] == ew_dataset_score(gts, words).fscore
        elif column == "emotion":
            assert result["score"] == hit_rate(gts, words).hit_rate
        else:
            expected = sentiment_scores([float(v) for v in gts], [words_sentiment(w) for w in words])
            assert result["score"] == expected.weighted_f1


def test_known_answers_give_known_scores(mer_root, tmp_path):
    """Descriptions written as another toolkit would (perfect <answer> lists), scored with
    --rescore: every main score is 100, and the raw ground truth is used (``fearful`` is not
    rewritten to ``fear``, which the emotion wheels map differently)."""
    out = tmp_path / "known"
    for name, (column, rows) in FIXTURE.items():
        lines = []
        for n, value in rows:
            if n == "ghost":
                continue
            if column == "valence":
                answer = "joyful" if float(value) > 0 else "sad"
            else:
                answer = PERFECT[value]
            text = f"<think>reasons</think><answer>{answer}</answer>"
            lines.append(json.dumps({"id": f"{name}/{n}", "key": "from-elsewhere", "text": text,
                                     "error": None}))
        (out / name).mkdir(parents=True)
        (out / name / "descriptions.jsonl").write_text("\n".join(lines) + "\n")
    report = run(_config("/not/a/model", mer_root, out, rescore=True))
    assert report["stages"]["descriptions"]["stale_reused"] == 19
    for name in MER_COLUMNS:
        assert report["metrics"][name] == pytest.approx(100.0), name
    assert report["mean"] == pytest.approx(100.0)
    assert report["datasets"]["IEMOCAPFour"]["n_counted"] == 1, "neutral maps to no wheel word"
    confusion = report["datasets"]["MER2023"]["confusion"]
    assert confusion["rows"] == ["happy", "worried"] and confusion["counts"][0][0] == 1


def test_llm_extractor_same_model_then_another_model(model, mer_root, tiny_model, tmp_path):
    subset = ["OV-MERD+", "MER2023", "CMU-MOSI"]
    out = tmp_path / "llm"
    first = run(_config(model, mer_root, out, datasets=subset, extractor=model))
    assert first["models_loaded"] == [model], "the extractor reuses the generation backend"
    assert set(first["throughput"]) == {"generation", "extractor"}
    assert first["stages"]["extractor_lists"]["generated"] == 6
    assert first["stages"]["extractor_sentiment"]["generated"] == 2
    for name in subset:
        assert (out / name / "extractor_lists.jsonl").is_file()
    assert (out / "CMU-MOSI" / "extractor_sentiment.jsonl").is_file()
    rows = [json.loads(line) for line in (out / "CMU-MOSI" / "extracted.jsonl").read_text().splitlines()]
    assert all(r["sentiment"] in ("positive", "negative", "neutral") for r in rows)
    assert all(r["raw"] is not None for r in rows)
    config = json.loads((out / "config.json").read_text())
    assert config["extractor"] == model and config["extractor_sampling"]["max_new_tokens"] == 8

    again = run(_config(model, mer_root, out, datasets=subset, extractor=model))
    assert _scores(again) == _scores(first) and again["models_loaded"] == []
    assert again["stages"]["extractor_lists"]["generated"] == 0

    other = str(tiny_model("llava"))
    third = run(_config(model, mer_root, out, datasets=subset, extractor=other))
    assert third["models_loaded"] == [other], "descriptions are kept; only the extractor loads"
    assert third["stages"]["extractor_lists"]["generated"] == 6

    with pytest.raises(InputError, match="no kept"):
        run(_config(model, mer_root, tmp_path / "empty", datasets=subset, extractor=other,
                    rescore=True))


def test_bad_data_roots(mer_root, tmp_path, model):
    with pytest.raises(InputError, match="unknown data set 'MER2099'"):
        run(_config(model, mer_root, tmp_path / "o", datasets=["MER2099"]))
    partial = write_mer_unibench(tmp_path / "partial", {"MER2023": FIXTURE["MER2023"]})
    with pytest.raises(InputError, match=r"lacks MELD.*MELD/label\.csv"):
        run(_config(model, partial, tmp_path / "o", datasets=["MELD"]))
    with pytest.raises(InputError, match=r"--extractor \(or one of answer, lexicon\): lexicn: model folder not found"):
        run(_config(model, mer_root, tmp_path / "o", extractor="lexicn"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no MER-UniBench data set"):
        run(_config(model, tmp_path / "empty", tmp_path / "o2"))


def test_cli_end_to_end_and_exit_codes(cli, model, mer_root, answer_run, tmp_path, capsys):
    out = tmp_path / "cli"
    ok = cli("eval", "mer-unibench", "--model", model, "--data-root", str(mer_root),
             "--datasets", "SIMS", "MER2023", "--out", str(out), "--max-new-tokens", "8",
             "--backend", "hf", "--batch-size", "32", "--extractor", "lexicon")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "| **" in ok.stdout and "throughput (generation)" in ok.stdout
    report = json.loads((out / "report.json").read_text())
    assert set(report["datasets"]) == {"SIMS", "MER2023"} and not report["complete"]
    assert report["skipped_count"] == 1

    cfg, first = answer_run
    copy = tmp_path / "copy"
    shutil.copytree(cfg.out, copy)
    rescored = cli("eval", "mer-unibench", "--model", "/no/such/model", "--data-root",
                   str(mer_root), "--out", str(copy), "--rescore", "--subtitles")
    assert rescored.returncode == 0, rescored.stderr[-2000:]
    assert _scores(json.loads((copy / "report.json").read_text())) == _scores(first)

    # exit codes through the real parser and main(), in-process
    assert main(["eval", "mer-unibench", "--model", model, "--data-root", str(mer_root),
                 "--datasets", "MER2099", "--out", str(tmp_path / "x")]) == 2
    assert "unknown data set" in capsys.readouterr().err
    (tmp_path / "bare").mkdir()
    assert main(["eval", "mer-unibench", "--model", model, "--data-root", str(tmp_path / "bare"),
                 "--datasets", "MELD", "--out", str(tmp_path / "y")]) == 2
    assert "MELD/label.csv" in capsys.readouterr().err
