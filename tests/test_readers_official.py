"""Corpora laid out as their official repositories describe them convert and validate unchanged:
FEA-20K (RobitsG/Facial-R1: ``emotion_dataset/<Set>-<Split>.jsonl`` + image folders, AU-only sets
with ``labels: []``, ``<image>`` in the question, the full FACS code set) and Emo-CFG
(KlingTeam/VidEmo: ``jsons/{train,test}/<subset>/{full,sampled}/*.json`` + ``videos/<Source>/``).
Fixtures are generated here with a fixed seed; tiny valid media, nothing copied."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from affectllm.data.readers import read
from affectllm.data.toyfaces import render_face, write_clip
from rewards.aus import FACS_AU_NAMES, is_known_au

SEED = 13
#: AU codes the official FEA-20K label statistics (configs/config.json) list beyond the common 27.
OFFICIAL_EXTRA_AUS = ("AU8", "AU19", "AU29", "AU30", "AU31", "AU32", "AU33", "AU34", "AU37",
                      "AU38", "AU39")


def face(path: Path, rng: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_face({"AU12": rng.random()}, rng.randrange(1000), size=32).save(path)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def emotion_dataset(tmp_path: Path) -> Path:
    """``emotion_dataset/`` with an emotion set, an AU-only set and a subsampled set whose image
    folder is named by the set and split only (as run_scripts/grpo_emotion.sh pairs them)."""
    rng = random.Random(SEED)
    root = tmp_path / "emotion_dataset"
    for name in ("train_0001.jpg", "train_0002.jpg"):
        face(root / "RAF-DB-Train" / name, rng)
    face(root / "BP4D" / "F001" / "T1" / "0001.jpg", rng)
    face(root / "FABA-Train" / "img_7.jpg", rng)
    write_jsonl(root / "RAF-DB-Train.jsonl", [
        {"id": "raf_1", "dataset": "RAF-DB", "image": "train_0001.jpg",
         "question": "<image>\nWhat is the emotion of this face?", "AUs": ["AU6", "AU12"],
         "labels": ["Happiness"],
         "description": "<think>The cheeks rise (AU6) and the lip corners pull up (AU12)."
                        "</think>\n<answer>happiness</answer>",
         "meta_info": {"source_id": 1}, "is_valid": True},
        {"id": "raf_2", "dataset": "RAF-DB", "image": "train_0002.jpg", "question": "",
         "AUs": [], "labels": ["sadness"], "description": "", "meta_info": {}, "is_valid": False},
    ])
    write_jsonl(root / "BP4D-gpt-c-Train.jsonl", [
        {"id": "bp4d_1", "dataset": "BP4D", "image": "F001/T1/0001.jpg",
         "question": "<image>Which action units are active?",
         "AUs": ["AU19", "AU33", "AU38", "AU1"], "labels": [],
         "description": "<think>The tongue shows (AU19), the cheeks blow (AU33).</think>\n"
                        "<answer>AU1, AU19, AU33, AU38</answer>", "meta_info": {}}])
    write_jsonl(root / "FABA-Train-2000.jsonl", [
        {"id": "faba_7", "dataset": "FABA", "image": "img_7.jpg", "question": "<image>",
         "AUs": ["AU4", "AU44"], "labels": ["anger"],
         "description": "<think>Brows lowered (AU4), eyes squint (AU44).</think>"
                        "<answer>anger</answer>", "meta_info": {"split": "train"},
         "is_valid": True}])
    return root


def test_fea20k_official_layout_converts_and_validates(emotion_dataset, cli, tmp_path):
    out = tmp_path / "converted"
    result = cli("data", "convert", str(emotion_dataset), "--format", "fea20k", "--out", str(out))
    assert result.returncode == 0, result.stderr
    samples = {s["id"]: s for s in map(json.loads, (out / "data.jsonl").open())}
    assert set(samples) == {"raf_1", "bp4d_1", "faba_7"}  # raf_2 is_valid false: dropped

    raf, bp4d, faba = samples["raf_1"], samples["bp4d_1"], samples["faba_7"]
    assert raf["media"] == [{"type": "image", "path": "RAF-DB-Train/train_0001.jpg"}]
    assert raf["question"] == "What is the emotion of this face?"  # <image> stripped
    assert raf["labels"] == ["happiness"] and raf["aus"] == ["AU6", "AU12"]
    assert raf["reasoning"].startswith("The cheeks rise") and raf["answer"] == "happiness"
    assert json.loads(raf["meta"]) == {"dataset": "RAF-DB", "source_id": 1}
    assert bp4d["labels"] == [] and bp4d["aus"] == ["AU1", "AU19", "AU33", "AU38"]
    assert bp4d["media"][0]["path"] == "BP4D/F001/T1/0001.jpg"
    assert bp4d["answer"] == "AU1, AU19, AU33, AU38"
    assert faba["media"][0]["path"] == "FABA-Train/img_7.jpg" and faba["aus"] == ["AU4", "AU44"]
    assert faba["question"] == "What is the emotion of this face?"  # the official default

    for src, fmt in ((emotion_dataset, "fea20k"), (out / "data.jsonl", "jsonl")):
        check = cli("data", "validate", str(src), "--format", fmt)
        assert check.returncode == 0, check.stdout + check.stderr


def test_fea20k_image_folder_given_at_run_time(emotion_dataset):
    """Upstream's --image_folders: the JSONL elsewhere, its root named explicitly."""
    result = read(emotion_dataset / "BP4D-gpt-c-Train.jsonl", "fea20k",
                  root=emotion_dataset / "BP4D")
    assert result.samples[0]["media"][0]["path"] == "F001/T1/0001.jpg"


def test_full_facs_code_set_is_known():
    assert all(is_known_au(code) for code in OFFICIAL_EXTRA_AUS + ("AU21", "AU41", "AU42"))
    assert not is_known_au("AU40") and not is_known_au("AU99")
    assert FACS_AU_NAMES["AU19"] == "tongue show" and len(FACS_AU_NAMES) >= 56


def emocfg_record(video: str, question: str, answer: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": f"<video>{question}"},
                         {"role": "assistant", "content": answer}], "videos": [video], **extra}


@pytest.fixture
def emocfg_tree(tmp_path: Path) -> Path:
    rng = random.Random(SEED)
    root = tmp_path / "Emo-CFG"
    for rel in ("CelebV-Text/a1.mp4", "MAFW/b2.mp4"):
        path = root / "videos" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        params = rng.randrange(1000)
        write_clip(path, [render_face({"AU12": t}, params, size=32) for t in (0.0, 0.5, 1.0)])
    jsons = root / "jsons"
    # An attribute file whose name says "Caption": the folder decides the subset.
    (jsons / "train" / "attribute" / "full").mkdir(parents=True)
    (jsons / "train" / "attribute" / "full" / "CelebV-Text_Appearance-Caption.json").write_text(
        json.dumps([emocfg_record("CelebV-Text/a1.mp4", "Describe her appearance.",
                                  "Long brown hair, smiling.", source="Attribute_Appearance")],
                   indent=2), encoding="utf-8")
    (jsons / "train" / "qa" / "sampled").mkdir(parents=True)
    (jsons / "train" / "qa" / "sampled" / "QA_train.json").write_text(json.dumps([
        emocfg_record("MAFW/b2.mp4", "How old is the person?", "About thirty.", source="QA_Age"),
        emocfg_record("videos/MAFW/b2.mp4", "Is the person smiling?", "Yes.",
                      source="QA_Expression"),
    ], indent=2), encoding="utf-8")
    (jsons / "train" / "rationale" / "full").mkdir(parents=True)
    (jsons / "train" / "rationale" / "full" / "MAFW_rationale.json").write_text(json.dumps([
        {"messages": [{"role": "system", "content": "You are an emotion expert."},
                      {"role": "user", "content": "<video>Why is she happy?"},
                      {"role": "assistant",
                       "content": "<think>The lip corners rise.</think><answer>happy</answer>"}],
         "videos": ["MAFW/b2.mp4"], "source": "Rationale"}]), encoding="utf-8")
    (jsons / "test" / "emotion" / "full").mkdir(parents=True)
    (jsons / "test" / "emotion" / "full" / "MAFW_Single-Label-Emotion-Recognition.json").write_text(
        json.dumps([emocfg_record("MAFW/b2.mp4", "Which emotion?", "happiness",
                                  source="MAFW")]), encoding="utf-8")
    return root


def test_emocfg_official_tree_converts_and_validates(emocfg_tree, cli, tmp_path):
    out = tmp_path / "converted"
    src = emocfg_tree / "jsons" / "train"
    result = cli("data", "convert", str(src), "--format", "emocfg", "--out", str(out))
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "convert_config.json").read_text())
    assert Path(config["data_root"]) == emocfg_tree.resolve()  # the Emo-CFG folder
    samples = [json.loads(line) for line in (out / "data.jsonl").open()]
    assert len(samples) == 4  # every subset folder, at any depth; the test split not included
    meta = [json.loads(s["meta"]) for s in samples]
    by_subset = {m["subset"]: (s, m) for s, m in zip(samples, meta)}
    assert set(by_subset) == {"attribute", "qa", "rationale"}

    attribute, m = by_subset["attribute"]
    assert m == {"subset": "attribute", "split": "train", "variant": "full",
                 "source": "Attribute_Appearance"}
    assert attribute["media"] == [{"type": "video", "path": "videos/CelebV-Text/a1.mp4"}]
    assert attribute["question"] == "Describe her appearance."
    assert attribute["answer"] == "Long brown hair, smiling."
    qa = [(s, m) for s, m in zip(samples, meta) if m["subset"] == "qa"]
    assert [m["source"] for _, m in qa] == ["QA_Age", "QA_Expression"]
    assert {s["media"][0]["path"] for s, _ in qa} == {"videos/MAFW/b2.mp4"}  # both spellings
    assert all(m["variant"] == "sampled" for _, m in qa)
    rationale, m = by_subset["rationale"]
    assert rationale["reasoning"] == "The lip corners rise." and rationale["answer"] == "happy"
    assert m["system"] == "You are an emotion expert."

    for path, fmt in ((src, "emocfg"), (emocfg_tree, "emocfg"), (out / "data.jsonl", "jsonl")):
        check = cli("data", "validate", str(path), "--format", fmt)
        assert check.returncode == 0, check.stdout + check.stderr
    whole = read(emocfg_tree, "emocfg")
    assert len(whole.samples) == 5 and whole.root == emocfg_tree.resolve()
    test_meta = json.loads(next(s for s in whole.samples if '"test"' in s["meta"])["meta"])
    assert test_meta["subset"] == "emotion" and test_meta["source"] == "MAFW"


def test_emocfg_media_root_given_explicitly(emocfg_tree):
    """Media kept elsewhere: --root points at the folder the `videos` paths are relative to."""
    src = emocfg_tree / "jsons" / "train" / "qa"
    result = read(src, "emocfg", root=emocfg_tree / "videos")
    assert result.samples[0]["media"][0]["path"] == "MAFW/b2.mp4"
    assert (emocfg_tree / "videos" / result.samples[0]["media"][0]["path"]).is_file()

