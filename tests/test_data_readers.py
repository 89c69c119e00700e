"""Every reader on small fixture corpora written here, in their published layouts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from affectllm.data.readers import (
    MER_UNIBENCH_DATASETS,
    READERS,
    Problems,
    iter_records,
    parse_label_list,
    read,
    split_think,
)
from affectllm.data.readers.mer_unibench import dataset_name
from affectllm.data.schema import (
    FIELDS,
    check_sample,
    data_root,
    make_sample,
    open_image,
    save_samples,
    to_hf_dataset,
    with_images,
)
from affectllm.errors import InputError


def png(path: Path, color=(200, 40, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def fake_video(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    return path


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def assert_canonical(result, root: Path) -> None:
    """Every sample has the canonical shape and its media exist under the data root."""
    assert result.root == root.resolve()
    for s in result.samples:
        assert tuple(s) == FIELDS
        assert check_sample(json.loads(json.dumps(s))) == s  # JSON round trip is lossless
        for m in s["media"]:
            assert not Path(m["path"]).is_absolute() and ".." not in Path(m["path"]).parts
            assert (root / m["path"]).is_file()


# ------------------------------------------------------------ fixture corpora (one per format)

def make_fea20k(tmp_path: Path) -> Path:
    png(tmp_path / "images" / "a.jpg")
    png(tmp_path / "images" / "b.jpg")
    rows = [
        {"id": "a", "dataset": "RAF-DB", "image": "images/a.jpg", "question": "Which emotion?",
         "AUs": ["AU04", "au1", "AU15"], "labels": ["Sad"],
         "description": "<think>The inner brows are raised (AU1).</think><answer>sadness</answer>",
         "meta_info": {"source_id": 7}, "is_valid": True},
        {"id": "b", "dataset": "AffectNet", "image": str(tmp_path / "images" / "b.jpg"),
         "question": "Which emotion?", "AUs": [], "labels": "happy",
         "description": "A broad smile.", "meta_info": {}, "is_valid": True},
        {"id": "c", "dataset": "RAF-DB", "image": "images/c.jpg", "AUs": [], "labels": ["fear"],
         "description": "", "is_valid": False},
    ]
    return write_jsonl(tmp_path / "fea20k.jsonl", rows)


def make_emocfg(tmp_path: Path) -> Path:
    root = tmp_path / "emocfg"
    fake_video(root / "clips" / "v1.mp4")
    png(root / "frames" / "f1.png")
    write_jsonl(root / "emocfg_caption.jsonl", [
        {"messages": [{"role": "system", "content": "You are an expert."},
                      {"role": "user", "content": "<video>Describe the emotion."},
                      {"role": "assistant", "content": "She looks delighted."}],
         "videos": ["clips/v1.mp4"], "labels": ["happy"]},
    ])
    (root / "emocfg_rationale.json").write_text(json.dumps([
        {"messages": [{"role": "user", "content": "<image>\nWhy?"},
                      {"role": "assistant",
                       "content": "<think>Brows knit.</think><answer>anger</answer>"}],
         "images": ["frames/f1.png"], "label": "angry"},
        {"id": "given", "messages": [{"role": "user", "content": "<video>Feeling?"},
                                     {"role": "assistant", "content": "calm"}],
         "videos": ["clips/v1.mp4"]},
    ], indent=2), encoding="utf-8")
    return root


def make_mer_unibench(tmp_path: Path) -> Path:
    root = tmp_path / "mer"
    write_csv(root / "MER2023" / "label.csv", ["name", "emotion"],
              [["s1", "happy"], ["s2", "Angry"]])
    fake_video(root / "MER2023" / "video" / "s1.mp4")
    fake_video(root / "MER2023" / "video" / "s2.avi")
    png(root / "MER2023" / "video" / "s2.jpg")  # video wins over image
    write_csv(root / "MER2023" / "subtitle.csv", ["name", "chinese", "english"],
              [["s1", "你好", "Hello there"]])
    write_csv(root / "ov-merd+" / "label.csv", ["name", "openset"],
              [["o1", "['happy', 'relaxed']"], ["o2", '["worried", "Sad"]']])
    fake_video(root / "ov-merd+" / "video" / "o1.mkv")
    png(root / "ov-merd+" / "image" / "o2.png")
    write_csv(root / "cmumosi" / "label.csv", ["name", "valence"], [["m1", "-1.4"], ["m2", "2"]])
    fake_video(root / "cmumosi" / "video" / "m1.mp4")
    fake_video(root / "cmumosi" / "video" / "m2.mp4")
    (root / "not-a-dataset").mkdir()
    return root


def make_emer(tmp_path: Path) -> Path:
    root = tmp_path / "emer"
    write_csv(root / "gt-eng.csv", ["names", "emotions", "subtitles", "reasons"], [
        ["e1", "['worried', 'nervous']", "I don't know.", "short reason"],
        ["e2", "happy, excited", "Great!", "smiling, line\nbreak"],
    ])
    write_csv(root / "final-EMER-reason.csv", ["name", "chinese", "english"], [
        ["e1", "担心", "Furrowed brows and a trembling voice suggest worry."],
        ["e3", "平静", "A calm face."],
    ])
    for name in ("e1", "e2", "e3"):
        fake_video(root / "video" / f"{name}.mp4")
    return root


def make_r1omni(tmp_path: Path) -> Path:
    fake_video(tmp_path / "videos" / "d1.mp4")
    fake_video(tmp_path / "videos" / "d2.mp4")
    data = [
        {"video": "videos/d1.mp4", "conversations": [
            {"from": "human", "value": "<video>\nAs an emotional recognition expert, ..."},
            {"from": "gpt", "value": "<think>Tears and a low voice.</think>\n<answer>sad</answer>"}]},
        {"video": "videos/d2.mp4", "conversations": [
            {"from": "human", "value": "<video>\nWhat emotion?"}, {"from": "gpt", "value": "angry"}]},
        {"video": "videos/d1.mp4", "conversations": [
            {"from": "human", "value": "<video>\nAgain?"}, {"from": "gpt", "value": "neutral"}]},
    ]
    path = tmp_path / "r1omni.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def fea20k_file(tmp_path: Path) -> Path:
    return make_fea20k(tmp_path)


@pytest.fixture
def emocfg_dir(tmp_path: Path) -> Path:
    return make_emocfg(tmp_path)


@pytest.fixture
def mer_root(tmp_path: Path) -> Path:
    return make_mer_unibench(tmp_path)


@pytest.fixture
def emer_dir(tmp_path: Path) -> Path:
    return make_emer(tmp_path)


@pytest.fixture
def r1omni_file(tmp_path: Path) -> Path:
    return make_r1omni(tmp_path)


#: format -> builder of a small valid corpus in that format (used by test_data_cli too)
CORPORA = {"fea20k": make_fea20k, "emocfg": make_emocfg, "mer_unibench": make_mer_unibench,
           "emer": make_emer, "r1omni": make_r1omni}


# ---------------------------------------------------------------------------------- readers

def test_registry_lists_every_format() -> None:
    assert set(READERS) == {"fea20k", "emocfg", "mer_unibench", "emer", "r1omni", "jsonl",
                            "toyfaces"}


def test_fea20k(fea20k_file: Path) -> None:
    result = read(fea20k_file, "fea20k")
    assert_canonical(result, fea20k_file.parent)
    a, b = result.samples
    assert a["aus"] == ["AU1", "AU4", "AU15"] and a["labels"] == ["sadness"]
    assert a["reasoning"] == "The inner brows are raised (AU1)." and a["answer"] == "sadness"
    assert a["media"] == [{"type": "image", "path": "images/a.jpg"}]
    assert json.loads(a["meta"]) == {"dataset": "RAF-DB", "source_id": 7}
    assert b["labels"] == ["happiness"] and b["reasoning"] == "A broad smile."
    assert b["media"][0]["path"] == "images/b.jpg"  # absolute path inside the root made relative
    assert result.dropped == {"is_valid is false": 1}
    assert [line for _, line in result.locations] == [1, 2]


def test_emocfg_folder_json_and_jsonl(emocfg_dir: Path) -> None:
    result = read(emocfg_dir, "emocfg")
    assert_canonical(result, emocfg_dir)
    cap, rat, given = result.samples
    assert cap["question"] == "Describe the emotion." and cap["answer"] == "She looks delighted."
    assert cap["labels"] == ["happiness"] and cap["media"][0]["type"] == "video"
    assert json.loads(cap["meta"]) == {"subset": "caption", "system": "You are an expert."}
    assert rat["reasoning"] == "Brows knit." and rat["answer"] == "anger"
    assert rat["labels"] == ["anger"] and rat["media"] == [{"type": "image", "path": "frames/f1.png"}]
    assert given["id"] == "given"
    assert len({s["id"] for s in result.samples}) == 3
    # JSON array elements are located at the line they start on
    starts = [k + 1 for k, line in enumerate(
        (emocfg_dir / "emocfg_rationale.json").read_text().splitlines()) if line.startswith("  {")]
    assert [loc[1] for loc in result.locations] == [1, *starts] and starts[0] == 2


def test_mer_unibench_root(mer_root: Path) -> None:
    result = read(mer_root, "mer_unibench")
    assert_canonical(result, mer_root)
    by_id = {s["id"]: s for s in result.samples}
    assert set(by_id) == {"MER2023/s1", "MER2023/s2", "OV-MERD+/o1", "OV-MERD+/o2",
                          "CMU-MOSI/m1", "CMU-MOSI/m2"}
    s1 = by_id["MER2023/s1"]
    assert s1["labels"] == ["happiness"] and s1["source"] == "mer2023"
    assert s1["media"] == [{"type": "video", "path": "MER2023/video/s1.mp4"}]
    assert json.loads(s1["meta"]) == {"dataset": "MER2023", "name": "s1", "task": "hit",
                                      "layout": "csv", "gt": "happy", "subtitle": "Hello there"}
    assert by_id["MER2023/s2"]["media"][0]["path"] == "MER2023/video/s2.avi"
    assert by_id["OV-MERD+/o1"]["openset"] == ["happy", "relaxed"]
    assert by_id["OV-MERD+/o2"]["openset"] == ["worried", "sad"]  # lower-cased, not aliased
    assert by_id["OV-MERD+/o2"]["media"] == [{"type": "image", "path": "ov-merd+/image/o2.png"}]
    assert by_id["CMU-MOSI/m1"]["valence"] == -1.4 and by_id["CMU-MOSI/m1"]["labels"] == []


def test_mer_unibench_single_dataset_folder_and_table(mer_root: Path) -> None:
    result = read(mer_root / "cmumosi", "mer_unibench")
    assert_canonical(result, mer_root / "cmumosi")
    assert [s["media"][0]["path"] for s in result.samples] == ["video/m1.mp4", "video/m2.mp4"]
    assert len(MER_UNIBENCH_DATASETS) == 9
    assert {d.task for d in MER_UNIBENCH_DATASETS.values()} == {"openset", "hit", "sentiment"}
    ov = MER_UNIBENCH_DATASETS["OV-MERD+"]
    assert (ov.task, ov.label_column) == ("openset", "openset")
    assert list(MER_UNIBENCH_DATASETS)[0] == "MER2023" and list(MER_UNIBENCH_DATASETS)[-1] == "OV-MERD+"
    assert MER_UNIBENCH_DATASETS["SIMSv2"].label_column == "valence"
    for folder, name in [("ovmerdplus", "OV-MERD+"), ("CMUMOSEI", "CMU-MOSEI"),
                         ("iemocap-process", "IEMOCAPFour"), ("mer2023-dataset-process", "MER2023"),
                         ("iemocapfour", "IEMOCAPFour"), ("simsv2", "SIMSv2"), ("sims", "SIMS")]:
        assert dataset_name(folder) == name


def test_mer_unibench_label_column_alias_and_missing_media(tmp_path: Path) -> None:
    write_csv(tmp_path / "MELD" / "label.csv", ["name", "label"], [["x", "joy"], ["y", "sad"]])
    fake_video(tmp_path / "MELD" / "video" / "x.mp4")
    result = read(tmp_path, "mer_unibench", on_error="skip")
    assert [s["labels"] for s in result.samples] == [["joy"]]
    [problem] = result.problems
    assert problem.path == str(tmp_path / "MELD" / "label.csv") and problem.line == 3
    assert "no media file for 'y'" in problem.reason
    with pytest.raises(InputError, match="no media file"):
        read(tmp_path, "mer_unibench")


def test_emer(emer_dir: Path) -> None:
    result = read(emer_dir / "gt-eng.csv", "emer")
    assert_canonical(result, emer_dir)
    e1, e2, e3 = result.samples
    # emotions are EMER's discrete MER2023 labels: `labels`, not open-set words
    assert e1["labels"] == ["worry", "nervous"] and e1["answer"] == "worried, nervous"
    assert e1["openset"] == []
    assert e1["reasoning"].startswith("Furrowed brows")  # the v2 description where there is one
    assert json.loads(e1["meta"])["reason_zh"] == "担心"
    assert e2["labels"] == ["happiness", "excited"] and e2["reasoning"] == "smiling, line\nbreak"
    assert e3["id"] == "e3" and e3["labels"] == [] and e3["reasoning"] == "A calm face."
    assert json.loads(e3["meta"])["dataset"] == "EMER-v2"
    assert [loc[1] for loc in result.locations] == [2, 3, 3]  # e2's row spans lines 3-4


def test_r1omni(r1omni_file: Path) -> None:
    result = read(r1omni_file, "r1omni")
    assert_canonical(result, r1omni_file.parent)
    d1, d2, d1b = result.samples
    assert d1["id"] == "d1" and d1b["id"] == "d1-2"
    assert d1["question"] == "As an emotional recognition expert, ..."
    assert d1["reasoning"] == "Tears and a low voice." and d1["answer"] == "sad"
    assert d1["labels"] == ["sadness"] and d2["labels"] == ["anger"] and d2["reasoning"] == ""
    assert d1["media"] == [{"type": "video", "path": "videos/d1.mp4"}]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    png(tmp_path / "img" / "x.png")
    samples = [make_sample("x", "mine", media=[{"type": "image", "path": "img/x.png"}],
                           labels=["Happy"], aus=["AU12", "AU6"], valence=0.5,
                           meta={"k": 1}),
               make_sample("y", "mine", openset=["calm"], answer="calm")]
    save_samples(tmp_path / "data.jsonl", samples)
    result = read(tmp_path / "data.jsonl", "jsonl")
    assert result.samples == samples
    assert_canonical(result, tmp_path)


def test_escaping_media_path_is_a_located_problem(tmp_path: Path) -> None:
    outside = png(tmp_path / "outside.png")
    rows = [{"id": "ok", "image": "in.png", "labels": ["fear"]},
            {"id": "up", "image": "../outside.png", "labels": ["fear"]},
            {"id": "abs", "image": str(outside), "labels": ["fear"]}]
    path = write_jsonl(tmp_path / "corpus" / "d.jsonl", rows)
    result = read(path, "fea20k", on_error="skip")
    assert [s["id"] for s in result.samples] == ["ok"]
    assert [(p.line, "escapes the data root" in p.reason) for p in result.problems] == [
        (2, True), (3, True)]
    # Paths are relative to the root, not to the file: a wider root admits the absolute path only.
    wider = read(path, "fea20k", root=tmp_path, on_error="skip")
    assert [s["id"] for s in wider.samples] == ["ok", "abs"]
    assert wider.samples[1]["media"][0]["path"] == "outside.png"


def test_malformed_lines_are_all_reported_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a", "image": "a.png", "labels": ["fear"]}\n{oops\n\n[1, 2]\n'
                    '{"id": "b", "image": "b.png", "labels": ["fear"], "AUs": ["brow"]}\n'
                    '{"id": "c", "image": "c.png", "labels": ["fear"]}\n', encoding="utf-8")
    problems = Problems()
    ids = [r.sample["id"] for r in iter_records(path, "fea20k", problems)]
    assert ids == ["a", "c"]
    assert [(p.line, p.reason.split(":")[0]) for p in problems.items] == [
        (2, "malformed JSON"), (4, "expected a JSON object, got list"), (5, "not an AU code")]
    with pytest.raises(InputError, match=r"and 2 more problem"):
        read(path, "fea20k")


def test_json_array_syntax_error_is_located(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('[\n  {"video": "a.mp4", "conversations": [{"from": "gpt", "value": "x"}]},\n'
                    '  {"video": "b.mp4",, }\n]\n', encoding="utf-8")
    result = read(path, "r1omni", on_error="skip")
    assert [s["id"] for s in result.samples] == ["a"]
    assert result.problems[0].line == 3 and "malformed JSON" in result.problems[0].reason


def test_missing_source_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read(tmp_path / "nope.jsonl", "fea20k")
    with pytest.raises(InputError, match="no MER-UniBench data set folder"):
        read(tmp_path, "mer_unibench")
    with pytest.raises(InputError, match="unknown format"):
        read(tmp_path, "nope")


def test_parsers() -> None:
    assert parse_label_list("['happy', 'relaxed']") == ["happy", "relaxed"]
    assert parse_label_list('["a","b"]') == ["a", "b"]
    assert parse_label_list("happy, sad") == ["happy", "sad"]
    assert parse_label_list("[]") == [] and parse_label_list(None) == []
    assert split_think("<think> a </think><answer> b </answer>") == ("a", "b")
    assert split_think("plain") == ("", "plain")
    assert split_think("plain", untagged="reasoning") == ("plain", None)


# ---------------------------------------------------------------------- HF dataset, images

def test_hf_dataset_is_lazy_and_images_open_on_access(fea20k_file: Path, tmp_path: Path) -> None:
    result = read(fea20k_file, "fea20k")
    out = tmp_path / "canon.jsonl"
    save_samples(out, result.samples)
    ds = to_hf_dataset(out, fea20k_file.parent, cache_dir=tmp_path / "cache")
    assert ds.features.keys() == set(FIELDS) and len(ds) == 2
    assert ds[0]["media"] == [{"type": "image", "path": "images/a.jpg"}]  # a path, not pixels
    assert ds[1]["valence"] is None
    image = open_image(ds[0], fea20k_file.parent)
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (200, 40, 40)
    lazy = with_images(ds, fea20k_file.parent)
    assert lazy[0]["images"][0].size == (8, 8)
    in_memory = to_hf_dataset(result.samples)
    assert in_memory[1]["id"] == "b"


def test_to_hf_dataset_refuses_escaping_paths(tmp_path: Path) -> None:
    bad = make_sample("x", "mine", media=[{"type": "image", "path": "../x.png"}])
    with pytest.raises(InputError, match="escapes"):
        to_hf_dataset([bad], tmp_path)


def test_data_root_follows_convert_config(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "data.jsonl").write_text("", encoding="utf-8")
    assert data_root(tmp_path / "out" / "data.jsonl") == (tmp_path / "out").resolve()
    (tmp_path / "out" / "convert_config.json").write_text(
        json.dumps({"data_root": str(tmp_path / "corpus")}), encoding="utf-8")
    assert data_root(tmp_path / "out" / "data.jsonl") == (tmp_path / "corpus").resolve()
    assert data_root(tmp_path / "out") == (tmp_path / "corpus").resolve()
