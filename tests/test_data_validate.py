"""Validation finds every planted fault, at the right line, and never opens an escaping path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_data_readers import fake_video, png, write_csv, write_jsonl

from affectllm.data.schema import make_sample, save_samples
from affectllm.data.validate import validate


def fea(id: str, image: str = "images/ok.png", labels=("fear",), aus=("AU1",), **extra) -> dict:
    return {"id": id, "dataset": "X", "image": image, "question": "?", "AUs": list(aus),
            "labels": list(labels), "description": "<think>t</think><answer>fear</answer>",
            "meta_info": {}, "is_valid": True, **extra}


@pytest.fixture
def broken_fea20k(tmp_path: Path) -> Path:
    """A FEA-20K file with one fault of each kind on lines 2-9 (line 1 and 10-11 are fine)."""
    root = tmp_path / "corpus"
    png(root / "images" / "ok.png")
    (root / "images" / "fake.jpg").write_text("this is not an image", encoding="utf-8")
    png(tmp_path / "secret.png")
    path = root / "fea.jsonl"
    lines = [
        json.dumps(fea("a")),                                    # 1 fine
        '{"id": "b", "image": ',                                 # 2 malformed JSON
        json.dumps({"id": "c", "labels": ["fear"]}),             # 3 missing image
        json.dumps(fea("d", aus=["AU1", "AU99"])),               # 4 unknown AU
        json.dumps(fea("e", labels=["joy"])),                    # 5 label outside the set
        json.dumps(fea("f", image="images/missing.png")),        # 6 media missing
        json.dumps(fea("g", image="images/fake.jpg")),           # 7 not an image
        json.dumps(fea("h", image="../secret.png")),             # 8 escapes the root (file exists)
        json.dumps(fea("a")),                                    # 9 duplicate id
        json.dumps(fea("i", is_valid=False, labels=["joy"])),    # 10 dropped, not a problem
        json.dumps(fea("j", labels=["Happy"], aus=["au04"])),    # 11 fine after normalising
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_planted_fault_is_found_at_its_line(broken_fea20k: Path) -> None:
    report = validate(broken_fea20k, "fea20k")
    found = [(p.line, p.reason) for p in report.problems]
    assert [line for line, _ in found] == [2, 3, 4, 5, 6, 7, 8, 9]
    reasons = dict(found)
    assert reasons[2].startswith("malformed JSON")
    assert reasons[3] == "missing required field(s): image"
    assert reasons[4] == "unknown AU code 'AU99'"
    assert reasons[5].startswith("label 'joy' is not in the label set (anger, contempt")
    assert reasons[6] == "media file not found: images/missing.png"
    assert reasons[7].startswith("media file images/fake.jpg: not a readable image")
    assert "'../secret.png' escapes the data root" in reasons[8]
    assert reasons[9] == f"duplicate id 'a' (first seen at {broken_fea20k}:1)"
    assert all(p.path == str(broken_fea20k) for p in report.problems)
    # lines 2, 3 and 8 are refused while reading; 10 is dropped; 7 records reach the checks
    assert report.records == 7 and report.dropped == {"is_valid is false": 1}
    assert not report.ok and report.summary() == "FAILED: 7 record(s) read, 1 dropped (1 is_valid is false), 8 problem(s)"


def test_declared_labels_override_the_default_set(broken_fea20k: Path) -> None:
    report = validate(broken_fea20k, "fea20k", labels=["fear", "Joy", "happy"])
    assert 5 not in [p.line for p in report.problems] and len(report.problems) == 7
    narrow = validate(broken_fea20k, "fea20k", labels=["anger"])
    assert [p.line for p in narrow.problems if p.reason.startswith("label")] == [1, 4, 5, 6, 7, 9,
                                                                                 11]


def test_max_errors_stops_early(broken_fea20k: Path) -> None:
    report = validate(broken_fea20k, "fea20k", max_errors=3)
    assert [p.line for p in report.problems] == [2, 3, 4] and report.stopped_early
    assert "stopped after 3" in report.summary()


def test_clean_corpus_is_ok(tmp_path: Path) -> None:
    png(tmp_path / "images" / "ok.png")
    write_jsonl(tmp_path / "fea.jsonl", [fea("a"), fea("b", labels=["sad"])])
    report = validate(tmp_path / "fea.jsonl", "fea20k")
    assert report.ok and report.records == 2
    assert report.summary() == "OK: 2 record(s) read, no problems"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_escaping_path_is_refused_without_opening_it(tmp_path: Path) -> None:
    """The escaping targets are a named pipe (opening it would block forever) and a symlink out of
    the root; a time-limited real run proves neither is opened."""
    root = tmp_path / "root"
    png(root / "a.png")
    os.mkfifo(tmp_path / "pipe.png")
    (root / "link.png").symlink_to(tmp_path / "pipe.png")
    samples = [make_sample("a", "mine", media=[{"type": "image", "path": "a.png"}]),
               make_sample("b", "mine", media=[{"type": "image", "path": "../pipe.png"}]),
               make_sample("c", "mine", media=[{"type": "image", "path": str(tmp_path / "pipe.png")}]),
               make_sample("d", "mine", media=[{"type": "video", "path": "link.png"}])]
    save_samples(root / "data.jsonl", samples)
    run = subprocess.run([sys.executable, "-m", "affectllm.cli", "data", "validate",
                          str(root / "data.jsonl")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines[:3]] == [
        f"{root / 'data.jsonl'}:{k}" for k in (2, 3, 4)]
    assert all("escapes the data root" in line for line in lines[:3])


def test_media_problems_of_video_corpora(tmp_path: Path) -> None:
    write_csv(tmp_path / "MER2024" / "label.csv", ["name", "emotion"],
              [["v1", "happy"], ["v2", "sad"], ["v3", "sad"]])
    fake_video(tmp_path / "MER2024" / "video" / "v1.mp4")
    (tmp_path / "MER2024" / "video" / "v3.mp4").write_bytes(b"")
    report = validate(tmp_path, "mer_unibench")
    assert [(p.line, p.reason.split(" (")[0]) for p in report.problems] == [
        (3, "no media file for 'v2'"), (4, "media file is empty: MER2024/video/v3.mp4")]
    assert report.problems[0].path == str(tmp_path / "MER2024" / "label.csv")


def test_csv_with_wrong_header_is_located(tmp_path: Path) -> None:
    write_csv(tmp_path / "MELD" / "label.csv", ["file", "emotion"], [["x", "joy"]])
    report = validate(tmp_path, "mer_unibench")
    [problem] = report.problems
    assert problem.line == 1 and problem.reason.startswith("missing column(s) name")


def test_toyfaces_format_checks_the_facial_label_set(tmp_path: Path) -> None:
    png(tmp_path / "images" / "x.png")
    media = [{"type": "image", "path": "images/x.png"}]
    save_samples(tmp_path / "train.jsonl", [
        make_sample("x", "toyfaces", media=media, labels=["happy"]),
        make_sample("y", "toyfaces", media=media, labels=["joy"]),
        make_sample("z", "other", media=media, labels=["joy"])])
    report = validate(tmp_path, "toyfaces")
    assert [(p.line, p.reason.split(" (")[0]) for p in report.problems] == [
        (2, "label 'joy' is not in the label set")]
