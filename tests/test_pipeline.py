"""`affectllm run`: pipeline files, chaining of models and corpora, skipping finished stages and
resuming after the whole run is killed (real subprocesses, tiny model, toy faces)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from affectllm.errors import InputError
from affectllm.pipeline import PipelineRunner, load_pipeline

REPO = Path(__file__).resolve().parents[1]
SFT = str(REPO / "recipes" / "tiny" / "sft.yaml")
SYNTH = str(REPO / "recipes" / "synth" / "tiny.yaml")


def _write(path: Path, obj: dict) -> Path:
    path.write_text(yaml.safe_dump(obj))
    return path


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    from affectllm.data.toyfaces import generate_toyfaces

    out = tmp_path_factory.mktemp("faces")
    generate_toyfaces(out, 30, seed=1)
    return out


def test_bad_pipeline_files_name_the_problem(tmp_path):
    cases = {
        "unknown key": {"stages": [{"kind": "sft", "config": SFT}], "modle": "x"},
        "kind must be one of": {"stages": [{"kind": "dpo", "config": SFT}]},
        "needs 'config'": {"stages": [{"kind": "sft"}]},
        "duplicate stage name": {"stages": [{"kind": "sft", "config": SFT},
                                            {"kind": "sft", "config": SFT}]},
        "not found": {"stages": [{"kind": "grpo", "config": "nope.yaml"}]},
        "non-empty list": {"stages": []},
    }
    for i, (message, body) in enumerate(cases.items()):
        path = _write(tmp_path / f"p{i}.yaml", body)
        with pytest.raises(InputError, match=message) as exc:
            load_pipeline(path)
        assert str(path) in str(exc.value)


def test_chaining_models_and_corpora(tmp_path):
    pipeline = load_pipeline(_write(tmp_path / "p.yaml", {
        "name": "chain", "model": "base", "data": "train.jsonl", "stages": [
            {"name": "sft", "kind": "sft", "config": SFT},
            {"name": "synth", "kind": "synth", "config": SYNTH},
            {"name": "sft2", "kind": "sft", "config": SFT},
            {"name": "grpo", "kind": "grpo", "config": SFT, "model": "other"},
            {"name": "eval", "kind": "eval", "data": "{run_dir}/test.jsonl"}]}))
    runner = PipelineRunner(pipeline, tmp_path / "run")
    plans = {p["stage"].name: p for p in runner.plan()}
    run = str((tmp_path / "run").resolve())
    assert plans["sft"]["inputs"]["model"] == "base"
    assert plans["synth"]["inputs"]["model"] == f"{run}/sft"
    assert plans["sft2"]["inputs"]["data"] == f"{run}/synth/corpus.jsonl"
    assert plans["sft2"]["inputs"]["model"] == f"{run}/sft"
    assert plans["grpo"]["inputs"]["model"] == "other"
    assert plans["eval"]["inputs"] == {"model": f"{run}/grpo", "data": f"{run}/test.jsonl",
                                       "data_root": None}
    cmd = runner.command(plans["sft2"], resume=False)
    assert cmd[cmd.index("--dataset_train") + 1] == f"{run}/synth/corpus.jsonl"
    assert "--resume_from_checkpoint" not in cmd


def test_dry_run_cli(tmp_path, cli):
    path = _write(tmp_path / "p.yaml", {"model": "base", "data": "d.jsonl",
                                        "stages": [{"kind": "sft", "config": SFT}]})
    result = cli("run", str(path), "--out", str(tmp_path / "run"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "sft (sft) [pending]" in result.stdout and "recipes/sft.py" in result.stdout
    assert cli("run", str(path), "--from", "nope").returncode == 2


def _state(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "state.json").read_text())["stages"]
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


@pytest.mark.slow
def test_killed_pipeline_resumes_without_redoing_finished_stages(tmp_path, tiny_model, faces):
    pipeline = _write(tmp_path / "p.yaml", {
        "name": "killme", "model": str(tiny_model("qwen2_5_vl")),
        "data": str(faces / "train.jsonl"), "stages": [
            {"name": "sft", "kind": "sft", "config": SFT,
             "overrides": {"max_steps": 2, "max_train_samples": 8}},
            {"name": "eval", "kind": "eval", "benchmark": "facial",
             "data": "{data_dir}/test.jsonl",
             "args": {"limit": 3, "max_new_tokens": 8, "plots": "false"}}]})
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "affectllm.cli", "run", str(pipeline), "--out", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while _state(run_dir).get("eval", {}).get("status") != "running":
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "the eval stage never started"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    sft_done = _state(run_dir)["sft"]
    assert sft_done["status"] == "done" and _state(run_dir)["eval"]["status"] == "running"

    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[sft] done already, skipping" in result.stderr
    assert "[eval] resuming eval" in result.stderr
    state = _state(run_dir)
    assert state["sft"] == sft_done, "the finished stage was not touched"
    assert state["eval"]["status"] == "done"
    assert (run_dir / "sft" / "log.txt").read_text().count("$ ") == 1
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    assert report["model"] == str(run_dir.resolve() / "sft")
    assert set(report["metrics"]) >= {"accuracy", "au_f1", "format_rate", "mean_reward"}
    assert (run_dir / "pipeline.yaml").is_file() and (run_dir / "eval" / "stage.yaml").is_file()

    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "[eval] done already, skipping" in again.stderr


@pytest.mark.slow
def test_killed_sft_stage_resumes_its_checkpoint_with_the_trained_weights(tmp_path, tiny_model,
                                                                          faces):
    """`affectllm run` killed inside a checkpointing SFT stage: the rerun resumes that stage
    from its newest checkpoint and ends with the weights and losses of an uninterrupted run."""
    import torch

    from affectllm.train.testing import logged_values, trained_weights

    def pipeline(name: str) -> Path:
        return _write(tmp_path / f"{name}.yaml", {
            "name": name, "model": str(tiny_model("qwen2_5_vl")),
            "data": str(faces / "train.jsonl"), "stages": [
                {"name": "sft", "kind": "sft", "config": SFT,
                 "overrides": {"max_steps": 4, "max_train_samples": 16, "save_strategy": "steps",
                               "save_steps": 1, "per_device_train_batch_size": 2}}]})

    env = {**os.environ, "PYTHONPATH": str(REPO), "TRANSFORMERS_VERBOSITY": "warning"}
    killed = tmp_path / "killed"
    argv = [sys.executable, "-m", "affectllm.cli", "run", str(pipeline("killed")),
            "--out", str(killed)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not (killed / "sft" / "checkpoint-2" / "trainer_state.json").is_file():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no checkpoint within 5 minutes"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "sft" / "trainer_state.json").exists(), "the stage finished first"

    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[sft] resuming sft" in result.stderr
    reference = tmp_path / "reference"
    done = subprocess.run([sys.executable, "-m", "affectllm.cli", "run",
                           str(pipeline("reference")), "--out", str(reference)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    log = (killed / "sft" / "log.txt").read_text()
    assert "missing keys" not in log and "unexpected keys" not in log
    got, want = trained_weights(killed / "sft"), trained_weights(reference / "sft")
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)
    resumed_losses = logged_values(killed / "sft", "loss")
    assert resumed_losses == pytest.approx(logged_values(reference / "sft", "loss"), rel=1e-5)


def test_stage_eval_must_be_well_formed(tmp_path):
    cases = {
        "only sft and grpo": {"stages": [{"kind": "synth", "config": SYNTH,
                                          "eval": {"data": "t.jsonl"}}]},
        "eval needs 'data'": {"stages": [{"kind": "sft", "config": SFT, "eval": {}}]},
        "must be a mapping": {"stages": [{"kind": "sft", "config": SFT, "eval": "facial"}]},
        "unknown key": {"stages": [{"kind": "sft", "config": SFT,
                                    "eval": {"data": "t.jsonl", "split": "test"}}]},
    }
    for i, (message, body) in enumerate(cases.items()):
        path = _write(tmp_path / f"e{i}.yaml", body)
        with pytest.raises(InputError, match=message):
            load_pipeline(path)


@pytest.mark.slow
def test_stage_eval_writes_its_row_once_and_a_rerun_does_not_redo_it(tmp_path, tiny_model, faces):
    """A training stage with `eval:` is evaluated with its own trained prompt and becomes a row of
    RUN/report.json and RUN/report.md (with the stage plot); running the finished pipeline again
    evaluates nothing."""
    pipeline = _write(tmp_path / "p.yaml", {
        "name": "rows", "model": str(tiny_model("qwen2_5_vl")),
        "data": str(faces / "train.jsonl"), "stages": [
            {"name": "sft", "kind": "sft", "config": SFT,
             "overrides": {"max_steps": 2, "max_train_samples": 8},
             "eval": {"benchmark": "facial", "data": "{data_dir}/test.jsonl",
                      "args": {"limit": 3, "max_new_tokens": 8, "plots": "false"}}}]})
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "affectllm.cli", "run", str(pipeline), "--out", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"(log: {run_dir.resolve() / 'sft' / 'eval' / 'log.txt'})" in first.stderr
    report = json.loads((run_dir / "report.json").read_text())
    [row] = report["stages"]
    assert row["stage"] == "sft" and row["model"] == str(run_dir.resolve() / "sft")
    assert row["n_samples"] == 3 and 0 <= row["accuracy"] <= 1 and row["chance"] > 0
    eval_config = json.loads((run_dir / "sft" / "eval" / "config.json").read_text())
    assert eval_config["prompt_source"] == "model"
    assert "| sft |" in (run_dir / "report.md").read_text()
    assert (run_dir / "stages.png").read_bytes()[:4] == b"\x89PNG"
    evaluated = _state(run_dir)["sft"]["eval"]
    assert evaluated["status"] == "done"

    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[sft] evaluated already, skipping its evaluation" in again.stderr
    assert _state(run_dir)["sft"]["eval"] == evaluated
    assert (run_dir / "sft" / "eval" / "log.txt").read_text().count("$ ") == 1
    assert json.loads((run_dir / "report.json").read_text())["stages"] == [row]


def test_live_line_reads_the_newest_progress_and_values_from_a_growing_log(tmp_path):
    import io

    from affectllm.pipeline.live import LiveLine, status_line

    log = tmp_path / "log.txt"
    log.write_text("$ python recipes/grpo_facial_r1.py\n")
    assert status_line("grpo", log.read_text()) is None
    out = io.StringIO()
    with LiveLine("grpo", log, stream=out, interval=0.05, enabled=True) as live:
        with log.open("a") as f:
            f.write("  2%|▏   | 3/150 [00:04<03:10,  1.3s/it]\r"
                    "{'loss': '0.0310', 'reward': '1.25', 'epoch': '0.1'}\n"
                    "  3%|▎   | 4/150 [00:05<03:01,  1.2s/it]\r")
        deadline = time.time() + 5
        while "4/150" not in out.getvalue() and time.time() < deadline:
            time.sleep(0.05)
        assert live._shown == ("[grpo] step 4/150 · reward 1.250 · loss 0.031 · 00:05 elapsed · "
                               "ETA 03:01")
    assert out.getvalue().endswith("ETA 03:01\n") and out.getvalue().count("\n") == 1


def test_a_done_stage_with_other_inputs_is_not_silently_reused(tmp_path):
    path = _write(tmp_path / "p.yaml", {"model": "base", "data": "new.jsonl",
                                        "stages": [{"kind": "sft", "config": SFT}]})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "state.json").write_text(json.dumps({"stages": {"sft": {
        "status": "done", "kind": "sft",
        "inputs": {"model": "base", "data": "old.jsonl", "data_root": None}}}}))
    with pytest.raises(InputError, match="was done with other inputs.*--from sft"):
        PipelineRunner(load_pipeline(path), run_dir).run()


def test_dry_run_commands_can_be_pasted_into_a_shell(tmp_path, cli):
    import shlex

    prompt = "What emotion? Answer in <answer> </answer>."
    path = _write(tmp_path / "p.yaml", {"model": "base", "data": "d.jsonl", "stages": [
        {"kind": "sft", "config": SFT, "eval": {"data": "t.jsonl", "args": {"prompt": prompt}}},
        {"name": "ev", "kind": "eval", "data": "t.jsonl", "args": {"prompt": prompt}}]})
    result = cli("run", str(path), "--out", str(tmp_path / "run"), "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = [line.split(": ", 1)[1] for line in result.stdout.splitlines()
             if line.startswith(("  command: ", "  then evaluate: "))]
    assert len(lines) == 3
    for line in lines[1:]:
        argv = shlex.split(line)
        assert argv[argv.index("--prompt") + 1] == prompt
