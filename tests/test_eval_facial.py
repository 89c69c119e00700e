"""Facial benchmark on toy faces with a real tiny model: the stable ``report["metrics"]`` keys the
pipeline and quickstart read, plots, the mean summed reward, known completions giving known
numbers, missing media counted, re-scoring, and the CLI contract ``eval facial --model --data
--out``."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from affectllm.data.schema import load_samples, save_samples
from affectllm.data.toyfaces import generate_toyfaces
from affectllm.errors import InputError
from affectllm.generation import Sampling
from affectllm.prompts import target_text
from eval.facial import FacialConfig, run, summed_rewards
from rewards import build_rewards

METRIC_KEYS = {"accuracy", "au_f1", "format_rate", "mean_reward", "rouge_l"}


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    out = tmp_path_factory.mktemp("faces")
    generate_toyfaces(out, n=40, seed=0, size=64)
    return out


def _config(model, data, out, **kw) -> FacialConfig:
    return FacialConfig(model=model, data=data, out=out, backend="hf",
                        backend_options={"batch_size": 8}, sampling=Sampling(max_new_tokens=16),
                        **kw)


def test_facial_on_toy_faces(tiny_model, faces, tmp_path):
    model = str(tiny_model("qwen2_5_vl"))
    out = tmp_path / "out"
    report = run(_config(model, faces, out, limit=3))
    assert set(report["metrics"]) == METRIC_KEYS
    m = report["metrics"]
    assert all(0 <= m[k] <= 1 for k in ("accuracy", "au_f1", "format_rate", "rouge_l"))
    assert -1 <= m["mean_reward"] <= 3
    assert report["n_samples"] == 3 and report["stages"]["completions"]["generated"] == 3
    # mean_reward is the mean of the summed registry rewards over the kept completions
    completions = [json.loads(line)["text"] for line in
                   (out / "completions.jsonl").read_text().splitlines()]
    samples = load_samples(faces / "test.jsonl")[:3]
    funcs = build_rewards(["au", "accuracy", "format"]).funcs
    columns = {"labels": [s["labels"] for s in samples], "aus": [s["aus"] for s in samples]}
    per_func = [f(completions, **columns) for f in funcs]
    expected = sum(sum(v or 0.0 for v in values) for values in zip(*per_func)) / 3
    assert m["mean_reward"] == pytest.approx(expected)
    for name in ("au_f1.png", "confusion.png"):
        path = out / "plots" / name
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(path) as im:
            assert im.size[0] > 0 and im.size[1] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["data"].endswith("test.jsonl") and config["sampling"]["max_new_tokens"] == 16
    assert config["prompt_text"].startswith("What emotion does this face show?")
    assert "| emotion accuracy |" in (out / "report.md").read_text()

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = run(_config(model, faces, copy, limit=3, rescore=True))
    assert again["metrics"] == report["metrics"] and again["models_loaded"] == []


def test_known_completions_and_missing_media(faces, tmp_path):
    """Perfect completions (the training targets) written as kept rows and re-scored: accuracy,
    format rate, AU F1 and ROUGE-L are 1; the reward is 3 per face (2 for neutral: no AU reward).
    Samples whose image is missing or unreadable are skipped and listed."""
    samples = load_samples(faces / "test.jsonl")
    ghost = dict(samples[0], id="ghost", media=[{"type": "image", "path": "images/ghost.png"}])
    (faces / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    broken = dict(samples[0], id="broken", media=[{"type": "image", "path": "images/broken.png"}])
    data = faces / "with_ghost.jsonl"
    save_samples(data, [*samples, ghost, broken])
    out = tmp_path / "known"
    out.mkdir()
    rows = [{"id": s["id"], "key": "x", "text": target_text(s), "error": None} for s in samples]
    (out / "completions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = run(_config("/not/a/model", data, out, rescore=True))
    m = report["metrics"]
    assert m["accuracy"] == 1.0 and m["format_rate"] == 1.0 and m["au_f1"] == 1.0
    assert m["rouge_l"] == pytest.approx(1.0)
    expected = [3.0 if s["aus"] else 2.0 for s in samples]
    assert m["mean_reward"] == pytest.approx(sum(expected) / len(expected))
    assert summed_rewards([target_text(s) for s in samples], samples) == expected
    assert [(s["name"], s["kind"]) for s in report["skipped"]] == [
        ("ghost", "missing_media"), ("broken", "unreadable_media")]
    assert report["n_samples"] == len(samples)
    diagonal = [report["confusion"]["counts"][i][i] for i in range(len(report["confusion"]["rows"]))]
    assert sum(diagonal) == len(samples)
    cols = report["confusion"]["cols"]
    assert cols[-2:] == ["(no answer)", "(outside label set)"], "both columns, even when empty"
    assert all(row[-2:] == [0, 0] for row in report["confusion"]["counts"])


def test_bad_data(tmp_path, tiny_model):
    model = str(tiny_model())
    with pytest.raises(InputError, match="no test.jsonl"):
        run(_config(model, tmp_path, tmp_path / "out"))
    with pytest.raises(InputError, match="not found"):
        run(_config(model, tmp_path / "nope.jsonl", tmp_path / "out"))
    with pytest.raises(InputError, match="Hub cannot give its config"):
        run(_config("org/model", tmp_path / "nope.jsonl", tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_cli_contract_of_the_pipeline(cli, tiny_model, faces, tmp_path):
    """`affectllm run` calls `affectllm eval facial --model M --data D --out DIR` and reads
    DIR/report.json["metrics"]."""
    out = tmp_path / "stage"
    result = cli("eval", "facial", "--model", str(tiny_model("qwen2_5_vl")), "--data",
                 str(faces / "test.jsonl"), "--out", str(out), "--limit", "2",
                 "--max_new_tokens", "8", "--backend", "hf")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "emotion accuracy" in result.stdout and "throughput (generation)" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert set(report["metrics"]) == METRIC_KEYS and report["n_samples"] == 2
    bad = cli("eval", "facial", "--model", str(tiny_model()), "--data", str(tmp_path),
              "--split", "nope")
    assert bad.returncode == 2 and "nope.jsonl" in bad.stderr
