"""File hygiene of `affectllm.io`: atomic writes end with the mode a plain write gives, the temporary
files of a killed writer are cleared, a full disk is a located error, and every image opener refuses
a decompression bomb through the one shared helper."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hostile import ENV
from PIL import Image
from test_hostile_input import png_bomb

from affectllm.data.schema import load_samples, open_image
from affectllm.errors import InputError
from affectllm.io import (
    atomic_open,
    ensure_output_dir,
    remove_stale_temps,
    write_json,
    write_jsonl,
    write_text,
)


@pytest.fixture
def umask():
    """Set the process umask for one test (put back afterwards)."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    write_text(tmp_path / "a.txt", "x")
    write_json(tmp_path / "b.json", {"a": 1})
    write_jsonl(tmp_path / "c.jsonl", [{"a": 1}])
    with atomic_open(tmp_path / "d.png", "wb") as f:
        f.write(b"\x89PNG")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives, for comparison
    assert mode(plain) == expected
    assert [mode(tmp_path / n) for n in ("a.txt", "b.json", "c.jsonl", "d.png")] == [expected] * 4


def test_rewriting_a_file_keeps_its_mode(tmp_path, umask):
    path = tmp_path / "config.json"
    write_json(path, {"a": 1})
    path.chmod(0o640)
    write_json(path, {"a": 2})
    assert mode(path) == 0o640 and json.loads(path.read_text()) == {"a": 2}


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from affectllm.io import atomic_open
    with atomic_open(sys.argv[1], "wb") as f:
        f.write(b"half a plot")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
""")


def killed_write(path: Path) -> list[Path]:
    """Run a writer of `path` that is killed (SIGKILL) mid-write; the temporary files it left."""
    run = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], env=ENV, timeout=60)
    assert run.returncode == -signal.SIGKILL
    left = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    assert left and not path.exists()
    return left


def age(paths: list[Path], seconds: float) -> None:
    then = time.time() - seconds
    for p in paths:
        os.utime(p, (then, then))


def test_remove_stale_temps_clears_a_killed_writers_files_only(tmp_path):
    left = killed_write(tmp_path / "bar.png")
    fresh = killed_write(tmp_path / "confusion.png")
    age(left, 3600)
    others = [tmp_path / n for n in (".hidden.tmp", "notes.tmp", "bar.png.tmp", ".x.short.tmp")]
    for p in others:
        p.write_text("not ours")
    age(others, 3600)
    assert remove_stale_temps(tmp_path) == left
    assert not any(p.exists() for p in left)
    assert all(p.exists() for p in fresh + others)  # a young one may still be written


def test_the_plot_writer_clears_stale_temps_of_a_killed_run(tmp_path):
    from eval.plots import bar_plot

    plots = tmp_path / "plots"
    plots.mkdir()
    age(killed_write(plots / "scores.png"), 120)
    bar_plot(plots / "scores.png", ["a", "b"], [0.5, None], "t", "y")
    assert sorted(p.name for p in plots.iterdir()) == ["scores.png"]


def test_output_folders_are_cleared_when_reopened(tmp_path):
    age(killed_write(tmp_path / "out" / "data.jsonl"), 120)
    ensure_output_dir(tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def _file_size_limit(limit: int):
    def limit_writes() -> None:  # a full disk, as far as this process can tell
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_writes


def test_a_full_disk_is_a_located_error_and_leaves_nothing(tmp_path):
    rows = [{"id": f"s{k}", "source": "toy", "reasoning": "AU6 AU12 " * 40} for k in range(400)]
    write_jsonl(tmp_path / "d.jsonl", rows)
    run = subprocess.run([sys.executable, "-m", "affectllm.cli", "data", "convert", "d.jsonl",
                          "-f", "jsonl", "--out", "out"], cwd=tmp_path, env=ENV, timeout=120,
                         capture_output=True, text=True, preexec_fn=_file_size_limit(64 << 10))
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"{Path('out') / 'data.jsonl'}: cannot write here: file too large" in run.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_an_empty_training_or_evaluation_file_is_refused(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(InputError, match=r"e\.jsonl: no records"):
        load_samples(tmp_path / "e.jsonl")


@pytest.fixture
def bomb(tmp_path) -> Path:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(20_000, 20_000))
    return path


def test_every_image_opener_refuses_a_decompression_bomb(bomb):
    from affectllm.generation import media_of
    from affectllm.train.data import ImageLoader
    from eval.describe import media_problem

    sample = {"id": "s1", "media": [{"type": "image", "path": bomb.name}]}
    openers = [lambda: open_image(sample, bomb.parent), lambda: ImageLoader().load(str(bomb)),
               lambda: ImageLoader().size(str(bomb)),
               lambda: media_of([{"role": "user", "content": [{"type": "image",
                                                               "image": str(bomb)}]}])]
    for opener in openers:
        with pytest.raises(InputError, match=r"bomb\.png: image too large.*decompression bomb"):
            opener()
    kind, reason = media_problem(sample, bomb.parent)
    assert kind == "unreadable_media" and "decompression bomb" in reason


def test_a_large_image_below_the_limit_still_opens(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(png_bomb(4000, 3000))  # 12 Mpx: a big photo, not a bomb
    with Image.open(path) as im:
        assert im.size == (4000, 3000)
    assert open_image({"id": "s", "media": [{"type": "image", "path": "big.png"}]},
                      tmp_path).size == (4000, 3000)
