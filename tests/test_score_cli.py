"""``affectllm score ew|hit|sentiment`` on small CSV files written by the tests."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from affectllm.cli import main
from eval.scorers import ew_dataset_score, hit_rate, sentiment_scores

REPO = Path(__file__).resolve().parents[1]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def ew_files(tmp_path):
    gt = write_csv(tmp_path / "gt.csv", ["name", "openset"], [
        ["s1", "['happy', 'worried']"], ["s2", "['sad']"], ["s3", "['neutral']"], ["s4", "surprised"]])
    pred = write_csv(tmp_path / "pred.csv", ["openset", "name", "extra"], [   # other column order
        ["['surprised']", "s4", "x"], ["happy, sad, angry", "s1", "x"], ["", "s2", "x"],
        ["['happy']", "s3", "x"]])
    return gt, pred


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_ew_json_through_the_installed_command(ew_files):
    gt, pred = ew_files
    exe = shutil.which("affectllm")
    cmd = [exe] if exe else [sys.executable, "-m", "affectllm.cli"]
    proc = subprocess.run(cmd + ["score", "ew", "--gt", str(gt), "--pred", str(pred), "--json"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    expected = ew_dataset_score(["['happy', 'worried']", "['sad']", "['neutral']", "surprised"],
                                ["happy, sad, angry", "", "['happy']", "['surprised']"])
    assert payload == {"fscore": expected.fscore, "precision": expected.precision,
                       "recall": expected.recall, "n": 3}


def test_ew_level2_table_and_out_file(ew_files, capsys, tmp_path):
    gt, pred = ew_files
    code, out, _ = run_cli(["score", "ew", "--gt", str(gt), "--pred", str(pred), "--level", "2",
                            "--out", str(tmp_path / "r" / "ew.json")], capsys)
    assert code == 0
    assert "EW score, level 2: 3 of 4 samples counted" in out
    assert out.count("\n") >= 7 and "mean" in out
    saved = json.loads((tmp_path / "r" / "ew.json").read_text())
    assert saved["n"] == 3 and 0 <= saved["fscore"] <= 1


def test_hit(tmp_path, capsys):
    gt = write_csv(tmp_path / "gt.csv", ["name", "label"],
                   [["a", "happy"], ["b", "sad"], ["c", "neutral"], ["d", "surprised"]])
    pred = write_csv(tmp_path / "pred.csv", ["name", "openset"],
                     [["a", "['joyful', 'angry']"], ["b", "['happy']"], ["c", "happy"],
                      ["d", "surprised, sad"]])
    code, out, _ = run_cli(["score", "hit", "--gt", str(gt), "--pred", str(pred), "--json"], capsys)
    assert code == 0
    expected = hit_rate(["happy", "sad", "neutral", "surprised"],
                        ["['joyful', 'angry']", "['happy']", "happy", "surprised, sad"])
    assert json.loads(out) == {"hit_rate": expected.hit_rate, "n": 3}
    assert expected.hit_rate == pytest.approx((2 / 3 * 4 + 0.5) / 5)
    code, out, _ = run_cli(["score", "hit", "--gt", str(gt), "--pred", str(pred)], capsys)
    assert code == 0 and "HIT rate: 3 of 4 samples counted" in out


def test_sentiment(tmp_path, capsys):
    gt = write_csv(tmp_path / "gt.csv", ["name", "valence"],
                   [["a", "1.5"], ["b", "-0.3"], ["c", "0"], ["d", "2"], ["e", "-1"]])
    pred = write_csv(tmp_path / "pred.csv", ["name", "sentiment"],
                     [["a", "positive"], ["b", "neutral"], ["c", "positive"], ["d", "negative"],
                      ["e", "Negative"]])
    code, out, _ = run_cli(["score", "sentiment", "--gt", str(gt), "--pred", str(pred), "--json"],
                           capsys)
    assert code == 0
    assert json.loads(out) == {"weighted_f1": (0.8 * 2 + (2 / 3) * 2) / 4, "accuracy": 0.75, "n": 4}
    ref = sentiment_scores([1.5, -0.3, 0, 2, -1], ["positive", "neutral", "positive", "negative",
                                                   "negative"])
    assert json.loads(out)["weighted_f1"] == ref.weighted_f1
    code, out, _ = run_cli(["score", "sentiment", "--gt", str(gt), "--pred", str(pred)], capsys)
    assert code == 0 and "weighted F1" in out and "4 of 5" in out


# --------------------------------------------------------------------------------------------------
# Bad input: exit 2 with a message naming the file (and line)


def test_mismatched_names_exit_2_through_subprocess(tmp_path):
    gt = write_csv(tmp_path / "gt.csv", ["name", "openset"], [["a", "happy"], ["b", "sad"]])
    pred = write_csv(tmp_path / "pred.csv", ["name", "openset"], [["a", "happy"], ["zz", "sad"]])
    exe = shutil.which("affectllm")
    cmd = [exe] if exe else [sys.executable, "-m", "affectllm.cli"]
    proc = subprocess.run(cmd + ["score", "ew", "--gt", str(gt), "--pred", str(pred), "--json"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "1 name(s) in" in proc.stderr and ": b" in proc.stderr and ": zz" in proc.stderr


@pytest.mark.parametrize("gt_rows, pred_rows, message", [
    ((["name", "labels"], [["a", "x"]]), (["name", "openset"], [["a", "x"]]),
     "gt.csv:1: missing column(s) openset; found: name, labels"),
    ((["name", "openset"], [["a", "x"], ["a", "y"]]), (["name", "openset"], [["a", "x"]]),
     "gt.csv:3: duplicate name 'a' (first on line 2)"),
    ((["name", "openset"], [["", "x"]]), (["name", "openset"], [["a", "x"]]),
     "gt.csv:2: empty name"),
    ((["name", "openset"], []), (["name", "openset"], []), "gt.csv: no samples"),
])
def test_bad_ew_files_exit_2(tmp_path, capsys, gt_rows, pred_rows, message):
    gt = write_csv(tmp_path / "gt.csv", *gt_rows)
    pred = write_csv(tmp_path / "pred.csv", *pred_rows)
    code, out, err = run_cli(["score", "ew", "--gt", str(gt), "--pred", str(pred)], capsys)
    assert code == 2 and out == ""
    assert message in err


def test_unreadable_files_exit_2(tmp_path, capsys):
    good = write_csv(tmp_path / "good.csv", ["name", "openset"], [["a", "x"]])
    code, _, err = run_cli(["score", "ew", "--gt", str(tmp_path / "missing.csv"),
                            "--pred", str(good)], capsys)
    assert code == 2 and "missing.csv: file not found" in err
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"name,openset\n\xff\xfe\x00bad\n")
    code, _, err = run_cli(["score", "ew", "--gt", str(binary), "--pred", str(good)], capsys)
    assert code == 2 and "bin.csv:2: not UTF-8 text" in err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _, err = run_cli(["score", "ew", "--gt", str(empty), "--pred", str(good)], capsys)
    assert code == 2 and "empty.csv:1: empty file" in err


def test_bad_sentiment_values_exit_2_with_line(tmp_path, capsys):
    gt = write_csv(tmp_path / "gt.csv", ["name", "valence"], [["a", "1"], ["b", "high"]])
    pred = write_csv(tmp_path / "pred.csv", ["name", "sentiment"], [["a", "positive"], ["b", "x"]])
    code, _, err = run_cli(["score", "sentiment", "--gt", str(gt), "--pred", str(pred)], capsys)
    assert code == 2 and "gt.csv:3: valence 'high' is not a number" in err
    zero = write_csv(tmp_path / "zero.csv", ["name", "valence"], [["a", "0"], ["b", "0"]])
    code, _, err = run_cli(["score", "sentiment", "--gt", str(zero), "--pred", str(pred)], capsys)
    assert code == 2 and "no sample with a non-zero valence" in err


def test_unusual_sentiment_replies_are_never_an_error(tmp_path, capsys):
    gt = write_csv(tmp_path / "gt.csv", ["name", "valence"], [["a", "1"], ["b", "-1"], ["c", "2"]])
    pred = write_csv(tmp_path / "pred.csv", ["name", "sentiment"],
                     [["a", "Positive"], ["b", "x"], ["c", "positive."]])
    code, out, _ = run_cli(["score", "sentiment", "--gt", str(gt), "--pred", str(pred), "--json"],
                           capsys)
    assert code == 0 and json.loads(out)["accuracy"] == 1 / 3  # all three read as 0


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["score", "ew", "--gt", "a.csv"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["score", "ew", "--gt", "a", "--pred", "b", "--level", "3"])
    assert e.value.code == 2
