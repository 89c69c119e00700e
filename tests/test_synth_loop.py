"""The synthesis loop end to end on a real tiny model and real toy faces (CPU, hf backend):
rounds, pending selection, corpus and manifest, retrain between rounds, dedup across rounds,
generation failures reported per item, and kill -9 + resume giving the uninterrupted corpus.

A random-weight model never writes a Facial-R1 answer, so these runs gate on the soft over-long
reward (characters here): a completion of at most LIMIT characters passes. The tiny model meets
that for some candidates and not others, so acceptance, rejection and retries all happen for real.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from affectllm.data.schema import data_root, load_samples
from affectllm.errors import InputError
from data_synthesis.config import load_config
from data_synthesis.loop import run_synthesis

REPO = Path(__file__).resolve().parents[1]
N_ITEMS = 8
MAX_LEN, CACHE = 60, 20  # soft_overlong: 0 up to 40 characters, negative beyond
LIMIT = MAX_LEN - CACHE


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    from affectllm.data.toyfaces import generate_toyfaces

    out = tmp_path_factory.mktemp("synth_faces")
    generate_toyfaces(out, n=10, seed=0)  # train split: 8 faces
    return out


def write_config(path: Path, faces: Path, model: Path, **changes) -> Path:
    config = {
        "data": str(faces / "train.jsonl"), "model": str(model), "backend": "hf",
        "backend_options": {"batch_size": 4}, "cpu_threads": 1, "seed": 0,
        "prompt": "What emotion does this face show?",
        "hint": "Action Units: {au_codes}. Answer: {answer}.",
        "rewards": ["au", "accuracy", "format",
                    {"name": "soft_overlong", "max_len": MAX_LEN, "cache": CACHE}],
        "accept": {"soft_overlong": ">= 0"},
        "n": 2, "max_retries": 1, "sampling": {"temperature": 1.0, "max_new_tokens": 16},
        "chunk_size": 4, "limit": N_ITEMS,
    }
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path


def synth(config: Path, out: Path, rounds: int) -> list[dict]:
    return run_synthesis(load_config(config), out, rounds)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_two_rounds_pending_items_corpus_and_manifest(tmp_path, faces, tiny_model, capsys):
    config = write_config(tmp_path / "synth.yaml", faces, tiny_model())
    out = tmp_path / "out"
    stats = synth(config, out, rounds=2)
    printed = capsys.readouterr().out
    assert "round 1: accepted" in printed and "round 2: accepted" in printed

    first, second = stats
    assert first["items"] == N_ITEMS
    assert 0 < first["accepted"] < N_ITEMS, "the config should accept some items, not all"
    assert sum(a["accepted"] for a in first["attempts"]) == first["accepted"]
    assert first["candidates"] == 2 * sum(a["items"] for a in first["attempts"])
    assert first["attempts"][1]["items"] == N_ITEMS - first["attempts"][0]["accepted"]
    assert first["rewards"]["soft_overlong"]["count"] == first["candidates"]

    # Round 2 takes exactly the items round 1 did not get into the corpus.
    records = lines(out / "round_1" / "records.jsonl")
    rejected = [r["id"] for r in records if not r["accepted"]]
    assert json.loads((out / "round_2" / "plan.json").read_text())["items"] == rejected
    assert second["items"] == len(rejected)
    for r in records:
        if not r["accepted"]:
            assert r["problems"] and r["problems"][0].startswith("too long (soft_overlong")

    # The corpus: canonical, self-contained, no duplicate, every sample really passed the rule.
    corpus_path = out / "corpus.jsonl"
    corpus = load_samples(corpus_path)
    ids = [s["id"] for s in corpus]
    assert len(ids) == len(set(ids)) == second["corpus"]["size"]
    assert second["corpus"]["size"] == first["corpus"]["size"] + second["corpus"]["added"]
    assert first["corpus"]["added"] + first["corpus"]["duplicate_text"] == first["accepted"]
    assert data_root(corpus_path) == out.resolve()
    for s in corpus:
        meta = json.loads(s["meta"])["synth"]
        assert meta["round"] in (1, 2) and meta["attempt"] in (0, 1)
        assert meta["model"] == str(tiny_model().resolve())
        assert meta["scores"]["soft_overlong"] >= 0
        assert s["media"][0]["path"].startswith("media/images/")
        assert (out / s["media"][0]["path"]).is_file()
        assert s["reasoning"]
    accepted_1 = load_samples(out / "round_1" / "accepted.jsonl")
    assert data_root(out / "round_1" / "accepted.jsonl") == out.resolve()
    assert {s["id"] for s in accepted_1} <= set(ids)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["finished"] is True and manifest["rounds_done"] == 2
    assert manifest["corpus_size"] == len(corpus)
    assert [manifest["rounds"][k]["status"] for k in ("1", "2")] == ["done", "done"]
    assert manifest["rounds"]["1"]["items_done"] == N_ITEMS
    assert yaml.safe_load((out / "config.yaml").read_text())["accept"] == ["soft_overlong >= 0"]

    # The same command again changes nothing; a changed config is refused.
    before = corpus_path.read_bytes()
    assert synth(config, out, rounds=2) == stats
    assert corpus_path.read_bytes() == before
    changed = write_config(tmp_path / "changed.yaml", faces, tiny_model(), n=3)
    with pytest.raises(InputError, match="key 'n'"):
        synth(changed, out, rounds=3)


@pytest.mark.parametrize("keep", ["first", "latest"])
def test_fresh_pass_dedups_by_id(tmp_path, faces, tiny_model, keep):
    """select: all + greedy decoding + the same model: round 2 writes exactly round 1's texts.
    (Acceptance is not under test here: the rule `format >= 0` takes every candidate.)"""
    config = write_config(tmp_path / "synth.yaml", faces, tiny_model(), select="all",
                          sampling={"temperature": 0.0, "max_new_tokens": 16}, n=1, limit=4,
                          accept={"format": ">= 0"}, dedup={"by_id": keep, "by_text": True})
    out = tmp_path / "out"
    first, second = synth(config, out, rounds=2)
    assert second["items"] == first["items"] == first["accepted"] == 4
    assert second["accepted"] == 4
    assert lines(out / "round_1" / "accepted.jsonl") == [
        {**s, "meta": s["meta"].replace('"round": 2', '"round": 1')}
        for s in lines(out / "round_2" / "accepted.jsonl")]
    dedup = second["corpus"]
    if keep == "first":
        assert dedup["duplicate_id"] == second["accepted"] and dedup["added"] == 0
    else:
        assert dedup["replaced"] == second["accepted"] and dedup["duplicate_id"] == 0
    assert dedup["size"] == first["corpus"]["size"]


def test_generation_failure_is_reported_not_fatal(tmp_path, faces, tiny_model, capsys):
    data = tmp_path / "faces"
    shutil.copytree(faces, data)
    items = load_samples(data / "train.jsonl")[:4]
    broken = items[1]
    (data / broken["media"][0]["path"]).unlink()
    config = write_config(tmp_path / "synth.yaml", data, tiny_model(), limit=4,
                          backend_options={"batch_size": 1})
    (stats,) = synth(config, tmp_path / "out", rounds=1)
    assert stats["generation_failed"]["ids"] == [broken["id"]]
    assert "media file not found" in stats["generation_failed"]["errors"][broken["id"]]
    assert stats["attempts"][0]["generation_failed"] == 1
    retried = 4 - 1 - stats["attempts"][0]["accepted"]  # the broken item is not tried again
    assert [a["items"] for a in stats["attempts"]] == ([4, retried] if retried else [4])
    printed = capsys.readouterr().out
    assert f"generation failed for 1 item(s) after retries: {broken['id']}" in printed
    record = next(r for r in lines(tmp_path / "out" / "round_1" / "records.jsonl")
                  if r["id"] == broken["id"])
    assert not record["accepted"] and record["error"]


@pytest.mark.slow
def test_retrain_between_rounds(tmp_path, faces, tiny_model):
    config = write_config(tmp_path / "synth.yaml", faces, tiny_model(), retrain={
        "config": str(REPO / "recipes" / "tiny" / "sft.yaml"), "overrides": {"max_steps": 2}})
    out = tmp_path / "out"
    first, second = synth(config, out, rounds=2)
    assert first["accepted"] > 0
    assert first["model"] == str(tiny_model().resolve()) and second["model"] == "round_1/model"
    assert (out / "round_1" / "model" / "config.json").is_file()
    assert not list((out / "round_1").glob("model.partial-*"))
    assert "--dataset_train" in (out / "round_1" / "retrain.log").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rounds"]["1"]["retrain"]["status"] == "done"
    assert "retrain" not in manifest["rounds"]["2"]  # no retrain after the last round
    for s in load_samples(out / "round_2" / "accepted.jsonl"):
        assert json.loads(s["meta"])["synth"]["model"] == "round_1/model"


def _synth_process(config: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "affectllm.cli", "synth", "--config", str(config), "--rounds", "2",
         "--out", str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_kill_mid_round_then_resume_gives_the_uninterrupted_corpus(tmp_path, faces, tiny_model):
    config = write_config(tmp_path / "synth.yaml", faces, tiny_model(), chunk_size=2)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    reference = _synth_process(config, clean)  # runs alongside: one thread each
    victim = _synth_process(config, killed)
    first_chunk = killed / "round_1" / "chunks" / "00000.json"
    deadline = time.monotonic() + 300
    while not first_chunk.is_file() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["finished"] is False and manifest["rounds"]["1"]["status"] == "generating"
    assert not (killed / "corpus.jsonl").exists()

    resumed = _synth_process(config, killed)
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert "chunk(s) done before" in output and "0 chunk(s) done before" not in output.split(
        "round 2")[0]
    assert reference.wait(timeout=600) == 0

    corpus = load_samples(killed / "corpus.jsonl")
    ids = [s["id"] for s in corpus]
    assert ids == [s["id"] for s in load_samples(clean / "corpus.jsonl")]
    assert len(ids) == len(set(ids)) > 0
    assert (killed / "corpus.jsonl").read_bytes() == (clean / "corpus.jsonl").read_bytes()
    assert json.loads((killed / "manifest.json").read_text())["finished"] is True


def test_asking_for_fewer_rounds_than_done_says_nothing_was_done(tmp_path, faces, tiny_model,
                                                                capsys):
    from affectllm.cli import main

    config = write_config(tmp_path / "synth.yaml", faces, tiny_model(), limit=4, max_retries=0)
    out = tmp_path / "out"
    argv = ["synth", "--config", str(config), "--out", str(out)]
    assert main([*argv, "--rounds", "2"]) == 0
    assert "nothing to do" not in capsys.readouterr().err
    corpus = (out / "corpus.jsonl").read_bytes()
    assert main([*argv, "--rounds", "1"]) == 0
    err = capsys.readouterr().err
    assert "nothing to do" in err and "already has 2 finished round(s)" in err
    assert "pass --rounds 3" in err
    assert (out / "corpus.jsonl").read_bytes() == corpus


def test_seed_corpus_starts_the_corpus_and_is_never_resynthesized(tmp_path, faces, tiny_model):
    """`seed_corpus` (e.g. the human-annotated subset): its samples lead the corpus, keep their
    own reasoning, have their media copied in, and their items are not synthesized again."""
    train = load_samples(faces / "train.jsonl")
    seed_file = tmp_path / "annotated" / "seed.jsonl"
    seed_file.parent.mkdir()
    # its own folder: media paths relative to it, not to the items' root
    shutil.copytree(faces / "images", seed_file.parent / "images")
    seed_file.write_text("".join(json.dumps({**s, "reasoning": f"seed {i}"}) + "\n"
                                 for i, s in enumerate(train[:3])))
    config = write_config(tmp_path / "synth.yaml", faces, tiny_model(),
                          seed_corpus=str(seed_file), dedup={"by_id": "first", "by_text": True})
    out = tmp_path / "out"
    (stats,) = synth(config, out, rounds=1)

    plan = json.loads((out / "round_1" / "plan.json").read_text())["items"]
    assert plan == [s["id"] for s in train[3:N_ITEMS]]
    assert stats["items"] == N_ITEMS - 3 and stats["accepted"] > 0
    corpus = load_samples(out / "corpus.jsonl")
    assert [s["reasoning"] for s in corpus[:3]] == ["seed 0", "seed 1", "seed 2"]
    assert len(corpus) == 3 + stats["corpus"]["added"] == stats["corpus"]["size"]
    for s in corpus:
        assert s["media"][0]["path"].startswith("media/images/")
        assert (out / s["media"][0]["path"]).is_file()
    assert yaml.safe_load((out / "config.yaml").read_text())["seed_corpus"] == str(seed_file)

    missing = write_config(tmp_path / "missing.yaml", faces, tiny_model(),
                           seed_corpus=str(tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match="seed_corpus.*not found"):
        load_config(missing)
