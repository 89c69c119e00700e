"""``affectllm data ...`` end to end: convert every format, validate, toyfaces, stats, help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_data_readers import CORPORA, png, write_jsonl

from affectllm.cli import main
from affectllm.data.readers import read


def fea(id: str, **extra) -> dict:
    return {"id": id, "image": "images/ok.png", "labels": ["fear"], "AUs": ["AU1"], **extra}


@pytest.mark.parametrize("format", sorted(CORPORA))
def test_convert_every_format_then_read_back(format: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    src = CORPORA[format](tmp_path / "corpus")
    original = read(src, format)
    out = tmp_path / "out"
    assert main(["data", "convert", str(src), "--format", format, "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    config = json.loads((out / "convert_config.json").read_text())
    assert config["format"] == format and config["data_root"] == str(original.root)
    assert config["counts"]["samples"] == len(original.samples) > 0
    assert config["counts"]["dropped"] == original.dropped
    # The written file reads back as canonical JSONL, identical, and its media resolve through the
    # recorded data root although no media were copied.
    back = read(out / "data.jsonl", "jsonl")
    assert back.samples == original.samples and back.root == original.root
    assert all((back.root / m["path"]).is_file() for s in back.samples for m in s["media"])
    assert sorted(p.name for p in out.iterdir()) == ["convert_config.json", "data.jsonl"]
    assert main(["data", "validate", str(out / "data.jsonl")]) == 0


def test_convert_refuses_a_broken_source_and_writes_nothing(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    png(tmp_path / "images" / "ok.png")
    src = write_jsonl(tmp_path / "fea.jsonl", [fea("a"), fea("b", AUs=["nose"]), fea("a")])
    out = tmp_path / "out"
    assert main(["data", "convert", str(src), "-f", "fea20k", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{src}:2: not an AU code: 'nose'" in err and f"{src}:3: duplicate id 'a'" in err
    assert "nothing written" in err
    assert not out.exists() or not any(out.iterdir())  # no data.jsonl, no temp file left

    assert main(["data", "convert", str(src), "-f", "fea20k", "-o", str(out),
                 "--skip-invalid"]) == 0
    assert [json.loads(x)["id"] for x in (out / "data.jsonl").open()] == ["a"]
    counts = json.loads((out / "convert_config.json").read_text())["counts"]
    assert counts == {"samples": 1, "dropped": {}, "skipped_invalid": 2}


def test_convert_hf_writes_a_loadable_dataset(tmp_path: Path, monkeypatch) -> None:
    from datasets import config, load_from_disk

    monkeypatch.setattr(config, "HF_DATASETS_CACHE", tmp_path / "cache")
    src = CORPORA["fea20k"](tmp_path / "corpus")
    out = tmp_path / "out"
    assert main(["data", "convert", str(src), "-f", "fea20k", "-o", str(out), "--hf"]) == 0
    ds = load_from_disk(str(out / "hf"))
    assert ds["id"] == ["a", "b"] and ds[0]["media"][0]["path"] == "images/a.jpg"
    assert json.loads((out / "convert_config.json").read_text())["hf"] is True


def test_validate_cli_prints_five_located_errors_and_exits_2(tmp_path: Path) -> None:
    """The real command in a subprocess, on a file with exactly five planted faults."""
    png(tmp_path / "images" / "ok.png")
    path = tmp_path / "five.jsonl"
    path.write_text("\n".join([
        json.dumps(fea("a")),
        json.dumps(fea("b", AUs=["AU1", "AU77"])),        # 2 unknown AU
        "{not json",                                      # 3 malformed JSON
        json.dumps(fea("c", labels=["bored"])),           # 4 label outside the set
        json.dumps(fea("d")),
        json.dumps(fea("e", image="../../etc/passwd")),   # 6 escapes the data root
        json.dumps(fea("a")),                             # 7 duplicate id
    ]) + "\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "affectllm.cli", "data", "validate", str(path),
                          "--format", "fea20k"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 6 and lines[-1].startswith("FAILED:") and "5 problem(s)" in lines[-1]
    located = [line.split(": ", 1)[0] for line in lines[:5]]
    assert located == [f"{path}:{k}" for k in (2, 3, 4, 6, 7)]

    limited = subprocess.run([sys.executable, "-m", "affectllm.cli", "data", "validate", str(path),
                              "-f", "fea20k", "--max-errors", "2"], capture_output=True, text=True,
                             timeout=120)
    assert limited.returncode == 2 and len(limited.stdout.strip().splitlines()) == 3


def test_toyfaces_and_stats_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "tf"
    assert main(["data", "toyfaces", str(out), "--n", "16", "--size", "48", "--seed", "2"]) == 0
    assert "rendered 16 faces" in capsys.readouterr().out
    assert len(list((out / "images").glob("*.png"))) == 16
    assert main(["data", "validate", str(out), "--format", "toyfaces"]) == 0
    assert capsys.readouterr().out.startswith("OK: 16 record(s)")
    assert main(["data", "stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["samples"] == 16 and stats["media"] == {"image": 16}
    assert sum(stats["labels"].values()) == 16
    assert main(["data", "toyfaces", str(out), "--n", "0"]) == 2
    assert main(["data", "toyfaces", str(out), "--splits", "a,b"]) == 2


@pytest.mark.parametrize("action", ["convert", "validate", "toyfaces", "stats"])
def test_every_action_has_help(action: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["data", action, "--help"])
    assert exit_.value.code == 0 and "usage: affectllm data " + action in capsys.readouterr().out


def test_unknown_source_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "validate", str(tmp_path / "missing.jsonl")]) == 2
    assert "file or folder not found" in capsys.readouterr().out
