"""The Ray engine on a local Ray cluster (started by each command, 2 CPUs), HF backend, tiny model:
`synth` and `eval facial` through ``--engine ray`` with 2 replicas give exactly the local corpus
and report; a replica killed with SIGKILL mid-run is restarted by Ray and its chunk redone; a
driver killed with SIGKILL leaves its finished chunks, and the rerun redoes only the others.
Without Ray, ``--engine ray`` exits 2 naming the extra, and the local engine never imports Ray."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from affectllm.data.toyfaces import generate_toyfaces
from affectllm.generation import Sampling
from data_synthesis.config import load_config
from data_synthesis.loop import SynthesisRun
from eval.facial import FacialConfig
from eval.facial import run as run_facial

REPO = Path(__file__).resolve().parents[1]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install 'affectllm[ray]')")
NO_RAY = "import sys; sys.modules['ray'] = None; from affectllm.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    out = tmp_path_factory.mktemp("faces")
    generate_toyfaces(out, n=20, seed=0, size=64)
    return out


@pytest.fixture(scope="module")
def synth_config(tmp_path_factory, tiny_model, faces):
    """A tiny synthesis config: 16 items, one chunk each (many resumption points), 3 attempts."""
    path = tmp_path_factory.mktemp("synth") / "synth.yaml"
    path.write_text(yaml.safe_dump({
        "data": str(faces / "train.jsonl"), "model": str(tiny_model("qwen2_5_vl")),
        "backend": "hf", "backend_options": {"batch_size": 8}, "cpu_threads": 1, "seed": 0,
        "prompt": "facial", "hint": "The final answer must be: {answer}.",
        "rewards": ["au", "accuracy", "format", {"name": "soft_overlong", "max_len": 80,
                                                  "cache": 20}],
        "accept": {"soft_overlong": ">= 0"}, "n": 2, "max_retries": 2,
        "sampling": {"temperature": 1.0, "max_new_tokens": 24}, "chunk_size": 1,
        "ray": {"address": "local", "replicas": 2, "max_restarts": 3, "max_task_retries": 3}}))
    return path


@pytest.fixture(scope="module")
def local_corpus(synth_config, tmp_path_factory):
    """The local engine's run of `synth_config`: (corpus text, records text)."""
    out = tmp_path_factory.mktemp("local")
    SynthesisRun(load_config(synth_config), out, 1, log=lambda m: None,
                 report=lambda m: None).run()
    return _result(out)


def _result(out: Path) -> tuple[str, str]:
    return ((out / "corpus.jsonl").read_text(), (out / "round_1" / "records.jsonl").read_text())


def _synth(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    return subprocess.Popen(
        [sys.executable, "-m", "affectllm.cli", "synth", "--config", str(config), "--out",
         str(out), "--rounds", "1", *extra], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _chunks(out: Path) -> dict[str, int]:
    folder = out / "round_1" / "chunks"
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")} if folder.is_dir() else {}


def _wait_for_chunks(proc: subprocess.Popen, out: Path, n: int, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while len(_chunks(out)) < n:
        assert proc.poll() is None, f"the run ended early:\n{proc.stdout.read()[-3000:]}"
        assert time.monotonic() < end, "no chunk finished in time"
        time.sleep(0.2)


def _replicas_of(pid: int) -> list[int]:
    """Ray Data replica processes (``ray::MapWorker...``) descended from process `pid`."""
    parent, title = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(p: int) -> bool:
        while p > 1:
            p = parent.get(p, 0)
            if p == pid:
                return True
        return False

    return [p for p, t in title.items() if t.startswith("ray::MapWorker") and descends(p)]


def _end(proc: subprocess.Popen) -> None:
    """Kill what is left of a command we started (its own session: the driver and its Ray)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@needs_ray
def test_synth_on_two_replicas_survives_a_replica_kill(synth_config, local_corpus, tmp_path):
    out = tmp_path / "ray"
    proc = _synth(synth_config, out, "--engine", "ray")
    try:
        _wait_for_chunks(proc, out, 1)
        replicas = _replicas_of(proc.pid)
        assert len(replicas) == 2, replicas
        os.kill(replicas[0], signal.SIGKILL)  # mid-run: the other chunks are not done yet
        assert len(_chunks(out)) < 16
        log, _ = proc.communicate(timeout=300)
    finally:
        _end(proc)
    assert proc.returncode == 0, log[-3000:]
    assert "on 2 Ray replica(s)" in log and "round 1: 16/16 items" in log
    assert _result(out) == local_corpus  # nothing lost, nothing duplicated, same samples
    assert len(_chunks(out)) == 16


@needs_ray
def test_a_killed_ray_driver_resumes(synth_config, local_corpus, tmp_path):
    out = tmp_path / "ray"
    proc = _synth(synth_config, out, "--engine", "ray")
    try:
        _wait_for_chunks(proc, out, 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        _end(proc)
    before = _chunks(out)
    assert 1 <= len(before) < 16 and not (out / "corpus.jsonl").exists()
    again = _synth(synth_config, out, "--engine", "ray", "--replicas", "1")
    try:
        log, _ = again.communicate(timeout=300)
    finally:
        _end(again)
    assert again.returncode == 0, log[-3000:]
    assert f"{len(before)} chunk(s) done before" in log
    after = _chunks(out)
    assert all(after[name] == mtime for name, mtime in before.items())  # not redone
    assert _result(out) == local_corpus


@needs_ray
def test_eval_facial_on_two_replicas_matches_local(tiny_model, faces, tmp_path, cli):
    model = str(tiny_model("qwen2_5_vl"))
    local = tmp_path / "local"
    run_facial(FacialConfig(model=model, data=faces, out=local, split="train", backend="hf",
                            backend_options={"batch_size": 3}, sampling=Sampling(max_new_tokens=12),
                            plots=False))
    ray_out = tmp_path / "ray"
    result = cli("eval", "facial", "--model", model, "--data", str(faces), "--out", str(ray_out),
                 "--split", "train", "--backend", "hf", "--batch-size", "3", "--max-new-tokens", "12", "--plots",
                 "false", "--engine", "ray", "--replicas", "2", env={"RAY_AUTH_MODE": "disabled"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(ray x2, hf)" in result.stderr
    texts = [(local / "completions.jsonl").read_text(), (ray_out / "completions.jsonl").read_text()]
    assert texts[0] == texts[1]
    reports = [json.loads((d / "report.json").read_text()) for d in (local, ray_out)]
    assert reports[0]["metrics"] == reports[1]["metrics"]
    assert reports[0]["n_samples"] == reports[1]["n_samples"] == 16
    assert reports[1]["config"]["backend_options"]["engine"]["replicas"] == 2


def test_without_ray_the_ray_engine_exits_2_and_local_never_imports_it(synth_config, faces,
                                                                      tiny_model, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", NO_RAY, *args], cwd=REPO, text=True,
                              capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                              timeout=300)

    bad = run("synth", "--config", str(synth_config), "--out", str(tmp_path / "s"),
              "--engine", "ray")
    assert bad.returncode == 2 and "pip install 'affectllm[ray]'" in bad.stderr
    assert not (tmp_path / "s").exists()
    bad = run("eval", "facial", "--model", str(tiny_model()), "--data", str(faces), "--out",
              str(tmp_path / "e"), "--engine", "ray")
    assert bad.returncode == 2 and "affectllm[ray]" in bad.stderr
    assert not (tmp_path / "e").exists()
    ok = run("eval", "facial", "--model", str(tiny_model()), "--data", str(faces), "--out",
             str(tmp_path / "e"), "--backend", "hf", "--limit", "1", "--max-new-tokens", "4",
             "--plots", "false")
    assert ok.returncode == 0, ok.stderr[-2000:]
