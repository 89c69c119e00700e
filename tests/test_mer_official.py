"""MER-UniBench as released: the official tree (generated in `official_mer_tree`, fixed seed) is
read unchanged, its label .npz files without unrestricted pickle, and `affectllm score` on the
official files equals upstream's formulas to 1e-9, per data set and for the whole table line."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from official_mer_tree import (
    CHECKPOINTS,
    FOLDERS,
    MODEL,
    MODEL_FOLDER,
    RESULTS,
    SENTIMENT,
    UNEXTRACTED,
    upstream_ew,
    upstream_hit,
    upstream_scores,
    upstream_sentiment,
    write_official_tree,
)

from affectllm.cli import main
from affectllm.data.readers import read
from affectllm.data.readers.safe_npz import load_npz
from affectllm.errors import InputError
from affectllm.generation import Sampling
from eval.describe import description_jobs, sample_meta
from eval.mer_unibench import MerConfig, _hint

TOL = 1e-9


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_official_tree(tmp_path_factory.mktemp("official"), seed=1, n_test=4)


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------- reading

def test_reader_selects_the_official_test_splits(tree):
    result = read(tree.dataset, "mer_unibench")
    by_ds: dict[str, list[dict]] = {}
    for s in result.samples:
        by_ds.setdefault(json.loads(s["meta"])["dataset"], []).append(s)
    assert list(by_ds) == list(FOLDERS)  # the official table order
    for ds, samples in by_ds.items():
        meta = [json.loads(s["meta"]) for s in samples]
        assert [m["name"] for m in meta] == list(tree.test_gt[ds]), ds
        assert [m["gt"] for m in meta] == list(tree.test_gt[ds].values()), ds
        assert all(m["layout"] == "official" for m in meta)
    iemocap = [json.loads(s["meta"])["name"] for s in by_ds["IEMOCAPFour"]]
    assert iemocap and all(n.startswith("Ses05") for n in iemocap)
    meld = by_ds["MELD"][0]
    assert json.loads(meld["meta"])["gt"] in ("anger", "joy", "sadness", "neutral", "disgust",
                                              "fear", "surprise")
    assert meld["media"][0]["path"].startswith("meld-process/subvideo/")
    assert by_ds["IEMOCAPFour"][0]["media"][0]["path"].endswith(".avi")
    ov = by_ds["OV-MERD+"][0]
    assert json.loads(ov["meta"])["gt"] == "neutral" and ov["openset"] == ["neutral"]
    mer2024 = json.loads(by_ds["MER2024"][0]["meta"])
    assert mer2024["subtitle"].startswith("Subtitle 0")  # transcription_merge.csv, column chinese
    assert all(s["valence"] is not None for ds in SENTIMENT for s in by_ds[ds])


def test_validate_and_convert_read_the_same_tree(tree, tmp_path, capsys):
    code, out, _ = run(["data", "validate", tree.dataset, "--format", "mer_unibench"], capsys)
    assert code == 0, out
    code, _, err = run(["data", "convert", tree.dataset, "--format", "mer_unibench",
                        "--out", tmp_path / "conv"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for f in sorted((tmp_path / "conv").glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    assert len(rows) == sum(len(g) for g in tree.test_gt.values())


def test_label_npz_is_read_without_unsafe_pickle(tree, tmp_path, capsys):
    arrays = load_npz(tree.dataset / "meld-process" / "label.npz")
    assert set(arrays) == {"train_corpus", "val_corpus", "test_corpus"}

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    evil = tmp_path / "dataset" / "sims-process"
    evil.mkdir(parents=True)
    np.savez(evil / "label.npz", test_corpus=np.array({"v": {"val": Boom()}}, dtype=object))
    with pytest.raises(InputError, match=r"refusing to unpickle (posix|nt)\.system"):
        load_npz(evil / "label.npz")
    code, out, err = run(["data", "validate", tmp_path / "dataset", "--format", "mer_unibench"],
                         capsys)
    assert code == 2 and "label.npz" in out + err and "refusing to unpickle" in out + err
    assert not (tmp_path / "pwned").exists()
    # a pickle that is not an array, and a file that is not a zip
    raw = tmp_path / "raw.npy"
    with raw.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False,
                                                 "shape": ()})
        pickle.dump({"a": 1}, f)
    with pytest.raises(InputError, match="expected a pickled numpy array"):
        load_npz(raw)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not an .npz"):
        load_npz(tmp_path / "bad.npz")


# ------------------------------------------------------------------------------------- scoring

def _files(tree, ds, ckpt):
    folder = tree.dataset / FOLDERS[ds]
    label = next(p for p in folder.iterdir() if p.name.startswith(("label", "ovlabel")))
    suffix = "-openset-sentiment.npz" if ds in SENTIMENT else "-openset.npz"
    return label, tree.output / f"results-{RESULTS[ds]}" / MODEL_FOLDER / f"{ckpt}{suffix}"


@pytest.mark.parametrize("ckpt", CHECKPOINTS)
def test_score_each_dataset_on_the_official_files(tree, ckpt, capsys):
    for ds, gt in tree.test_gt.items():
        label, pred = _files(tree, ds, ckpt)
        replies = tree.preds[ds][ckpt]
        metric = "sentiment" if ds in SENTIMENT else "ew" if ds == "OV-MERD+" else "hit"
        code, out, err = run(["score", metric, "--gt", label, "--pred", pred, "--json"], capsys)
        assert code == 0, err
        got = json.loads(out)
        if metric == "sentiment":
            f1, acc = upstream_sentiment(gt, replies)
            assert abs(got["weighted_f1"] - f1) < TOL and abs(got["accuracy"] - acc) < TOL, ds
            assert got["n"] == sum(1 for v in gt.values() if v != 0)
        elif metric == "ew":
            f, p, r = upstream_ew(gt, replies)
            assert max(abs(got["fscore"] - f), abs(got["precision"] - p),
                       abs(got["recall"] - r)) < TOL
        else:
            assert abs(got["hit_rate"] - upstream_hit(gt, replies)) < TOL, ds


def test_dataset_override_and_csv_predictions(tree, tmp_path, capsys):
    label, pred = _files(tree, "MELD", CHECKPOINTS[0])
    moved = tmp_path / "label.npz"
    moved.write_bytes(label.read_bytes())
    csv_pred = tmp_path / "pred.csv"
    items = tree.preds["MELD"][CHECKPOINTS[0]]
    csv_pred.write_text("name,openset\n" + "".join(f'{n},"{v}"\n' for n, v in items.items()))
    code, _, err = run(["score", "hit", "--gt", moved, "--pred", csv_pred], capsys)
    assert code == 2 and "pass --dataset" in err
    code, out, err = run(["score", "hit", "--gt", moved, "--pred", csv_pred, "--dataset", "meld",
                          "--json"], capsys)
    assert code == 0, err
    assert abs(json.loads(out)["hit_rate"] - upstream_hit(tree.test_gt["MELD"], items)) < TOL
    code, _, err = run(["score", "hit", "--gt", label, "--pred",
                        pred.with_name(f"{CHECKPOINTS[0]}.npz")], capsys)
    assert code == 2 and "name2reason" in err


def test_score_mer_unibench_best_checkpoints_and_the_official_line(tree, capsys, tmp_path):
    expected = upstream_scores(tree)
    best = {ds: max(v.values()) for ds, v in expected.items()}
    means = np.mean([best[ds] for ds in FOLDERS])
    line = " ".join(f"& {x * 100:.2f}" for x in [*(best[ds] for ds in FOLDERS), means])
    code, out, err = run(["score", "mer-unibench", "--data-root", tree.dataset, "--results",
                          tree.output, "--model", MODEL, "--out", tmp_path / "s.json"], capsys)
    assert code == 0, err
    assert out.rstrip().splitlines()[-1] == f"{MODEL} {line}"
    assert "OV-MERD+" in out and "best checkpoint" in out
    code, out, _ = run(["score", "mer-unibench", "--data-root", tree.dataset, "--results",
                        tree.output, "--model", MODEL, "--json"], capsys)
    payload = json.loads(out)
    assert payload == json.loads((tmp_path / "s.json").read_text())
    assert payload["line"] == line and payload["complete"]
    assert abs(payload["mean"] - means) < TOL
    for ds, r in payload["datasets"].items():
        assert abs(r["score"] - best[ds]) < TOL, ds
        first_best = next(c for c, v in expected[ds].items() if v == best[ds])  # np.argmax
        assert r["best_checkpoint"] == f"{first_best}.npz"
        assert r["unscored_checkpoints"] == [f"{UNEXTRACTED}.npz"]
        assert Path(r["folder"]).name == MODEL_FOLDER  # the prefix folder with most checkpoints


def test_score_mer_unibench_bad_input(tree, tmp_path, capsys):
    code, _, err = run(["score", "mer-unibench", "--data-root", tree.dataset, "--results",
                        tree.output, "--model", "nobody"], capsys)
    assert code == 2 and "no scoreable result of model 'nobody'" in err
    code, _, err = run(["score", "mer-unibench", "--data-root", tree.dataset, "--results",
                        tmp_path / "none", "--model", MODEL], capsys)
    assert code == 2 and "results folder not found" in err


# ---------------------------------------------------------------------------- end to end (tiny)

def test_eval_mer_unibench_runs_on_the_official_tree(tiny_model, tmp_path, capsys):
    tree = write_official_tree(tmp_path / "release", seed=2, n_test=1)
    out = tmp_path / "run"
    model = tiny_model("qwen2_5_vl")
    code, stdout, err = run(["eval", "mer-unibench", "--model", model, "--data-root",
                             tree.dataset, "--out", out, "--backend", "hf", "--max-new-tokens", "8",
                             "--extractor", "lexicon"], capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert list(report["datasets"]) == list(FOLDERS) and report["complete"]
    assert report["official_line"].count("&") == 10
    assert f"official table line: {report['official_line']}" in stdout
    assert report["datasets"]["IEMOCAPFour"]["n_samples"] == 1  # the Session-5 row only
    assert report["config"]["subtitles"] is True
    # our answers, written as AffectGPT's result files, re-score to the same numbers through the
    # official-file scorer
    code, stdout, err = run(["score", "mer-unibench", "--data-root", tree.dataset, "--results",
                             out / "official", "--model", Path(model).name, "--json"], capsys)
    assert code == 0, err
    rescored = json.loads(stdout)
    assert rescored["line"] == report["official_line"]
    for ds, r in rescored["datasets"].items():
        assert abs(r["score"] - report["datasets"][ds]["score"]) < TOL, ds
    # the subtitle of the official transcript file is in the prompt the model saw
    sample = next(s for s in read(tree.dataset / "mer2024-dataset-process", "mer_unibench",
                                  root=tree.dataset).samples)
    cfg = MerConfig(model=str(model), data_root=tree.dataset, out=out)
    [job] = description_jobs([sample], tree.dataset, model=cfg.model, prompt="x", system=None,
                             sampling=Sampling(), group=lambda s: "g", hint=_hint(cfg))
    assert sample_meta(sample)["subtitle"] in json.dumps(job.messages, ensure_ascii=False)


def test_a_missing_clip_is_a_located_problem(tmp_path):
    tree = write_official_tree(tmp_path, seed=3, n_test=2)
    clip = next((tree.dataset / "meld-process" / "subvideo").iterdir())
    clip.unlink()
    result = read(tree.dataset, "mer_unibench", on_error="skip")
    [problem] = result.problems
    assert problem.path == str(tree.dataset / "meld-process" / "label.npz")
    assert f"no media file for {clip.stem!r}" in problem.reason and "test_corpus" in problem.reason
    assert len(result.samples) == sum(len(g) for g in tree.test_gt.values()) - 1


def test_relative_paths_work_everywhere(tiny_model, tree, tmp_path, monkeypatch, capsys):
    """Issue 11: a relative SRC / --root / --data-root / --results reads the same records and
    scores the same numbers as the absolute paths (before, every record failed with '... is not
    in the subpath of ...')."""
    absolute = read(tree.dataset, "mer_unibench")
    monkeypatch.chdir(tree.dataset.parent)
    relative = read("dataset", "mer_unibench")
    assert relative.samples == absolute.samples and not relative.problems
    one = read("dataset/meld-process", "mer_unibench", root="dataset")
    assert [s["media"] for s in one.samples] == [
        s["media"] for s in absolute.samples if json.loads(s["meta"])["dataset"] == "MELD"]
    code, _, err = run(["data", "validate", "dataset", "--format", "mer_unibench"], capsys)
    assert code == 0, err
    code, _, err = run(["data", "convert", "dataset/sims-process", "--format", "mer_unibench",
                        "--root", "dataset", "--out", tmp_path / "conv"], capsys)
    assert code == 0, err
    code, rel_out, err = run(["score", "mer-unibench", "--data-root", "dataset", "--results",
                              "output", "--model", MODEL, "--json"], capsys)
    assert code == 0, err
    code, abs_out, _ = run(["score", "mer-unibench", "--data-root", tree.dataset, "--results",
                            tree.output, "--model", MODEL, "--json"], capsys)
    assert json.loads(rel_out)["line"] == json.loads(abs_out)["line"]
    model = tiny_model("qwen2_5_vl")
    code, _, err = run(["eval", "mer-unibench", "--model", model, "--data-root", "dataset",
                        "--datasets", "MER2023", "--limit", "1", "--out", "rel-run", "--backend",
                        "hf", "--max-new-tokens", "4", "--extractor", "lexicon"], capsys)
    assert code == 0, err
    report = json.loads(Path("rel-run/report.json").read_text())
    assert report["datasets"]["MER2023"]["n_samples"] == 1 and not report["skipped"]
