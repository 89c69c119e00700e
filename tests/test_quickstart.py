"""The quickstart's report: the stage table, the GRPO reward curve plot and the data split it
trains on, read from the files the pipeline stages write. (The whole quickstart runs in
benchmarks/quickstart_time.py and as the README's first command; it takes minutes, too long for
the test suite.)"""

from __future__ import annotations

import json
from pathlib import Path

from affectllm.commands.quickstart import PIPELINE, prepare, summarise
from affectllm.pipeline import PipelineRunner, load_pipeline
from affectllm.pipeline.report import reward_curve, stage_rows
from eval.plots import reward_plot

CONFUSION = {"rows": ["a", "b", "c", "d", "e", "f", "g", "h"], "cols": [], "counts": []}


def _report(path: Path, metrics: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "report.json").write_text(json.dumps({"metrics": metrics, "confusion": CONFUSION,
                                                  "n_samples": 10}))


def _plans(run: Path):
    pipeline = load_pipeline(PIPELINE, {"model": "m", "data": str(run / "faces" / "x.jsonl")})
    return PipelineRunner(pipeline, run).plan()


def test_stage_table_rows_and_reward_curve(tmp_path):
    metrics = {"accuracy": 0.0, "au_f1": 0.1, "format_rate": 0.0, "mean_reward": -0.9}
    _report(tmp_path / "base", metrics)
    _report(tmp_path / "sft" / "eval", {**metrics, "accuracy": 0.25})
    _report(tmp_path / "synth_sft" / "eval", {**metrics, "accuracy": 0.5})
    history = [{"step": s, "reward": r} for s, r in enumerate([1.0, 1.2, 1.1, 1.5, 1.6, 1.9, 2.0,
                                                                2.2], start=1)]
    history.append({"step": 8, "train_runtime": 3.0})
    (tmp_path / "grpo").mkdir()
    (tmp_path / "grpo" / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    _report(tmp_path / "grpo" / "eval", {**metrics, "accuracy": 0.375})

    curve = reward_curve(tmp_path / "grpo" / "trainer_state.json")
    assert curve == [(h["step"], h["reward"]) for h in history[:-1]]
    rows = stage_rows(_plans(tmp_path))
    assert [r["stage"] for r in rows] == ["base", "sft", "grpo", "synth_sft"]
    assert rows[2]["grpo_reward_first"] == 1.1 and rows[2]["grpo_reward_last"] == 2.1
    table, summary = summarise(tmp_path, rows)
    assert "| sft | 0.250 |" in table and "| grpo | 0.375 |" in table
    assert "1.100 → 2.100" in table
    assert summary["accuracy_over_chance"] == 4.0 and "4.0x chance" in table
    reward_plot(tmp_path / "curve.png", curve, "reward")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_rows_before_any_evaluation(tmp_path):
    assert stage_rows(_plans(tmp_path)) == []
    table, summary = summarise(tmp_path, [])
    assert summary["grpo_reward_curve"] == [] and "chance" not in summary


def test_shipped_quickstart_pipeline_gives_each_stage_its_job():
    pipeline = load_pipeline(PIPELINE, {"model": "m", "data": "d/annotated.jsonl"})
    assert [s.kind for s in pipeline.stages] == ["eval", "sft", "grpo", "synth", "sft"]
    assert all(Path(s.config).is_file() for s in pipeline.stages if s.config)
    by_name = {s.name: s for s in pipeline.stages}
    assert by_name["grpo"].data == by_name["synth"].data == "{data_dir}/labels_only.jsonl"
    assert by_name["synth"].args == {"seed-corpus": "{data_dir}/annotated.jsonl"}  # grown corpus
    evaluated = [s for s in pipeline.stages if s.eval is not None or s.kind == "eval"]
    assert [s.name for s in evaluated] == ["base", "sft", "grpo", "synth_sft"]
    assert {s.eval["data"] for s in evaluated if s.eval} == {by_name["base"].data}


def test_prepare_splits_training_faces_into_annotated_and_label_only(tmp_path, tiny_model):
    import shutil

    shutil.copytree(tiny_model("qwen2_5_vl"), tmp_path / "base_model")
    _, faces = prepare(tmp_path, "qwen2_5_vl", "tiny", n=40, seed=0, annotated=5)
    train = (faces / "train.jsonl").read_text().splitlines()
    annotated = [json.loads(x) for x in (faces / "annotated.jsonl").read_text().splitlines()]
    rest = [json.loads(x) for x in (faces / "labels_only.jsonl").read_text().splitlines()]
    assert len(annotated) == 5 and len(rest) == len(train) - 5
    assert all(s["reasoning"] for s in annotated)
    assert all(s["reasoning"] == "" and s["labels"] and "aus" in s for s in rest)


def test_ctrl_c_message_says_what_the_interrupted_stage_does_next(tmp_path):
    from affectllm.commands.quickstart import _interrupted_message

    pipeline = load_pipeline(PIPELINE, {"model": "m", "data": str(tmp_path / "f" / "x.jsonl")})
    runner = PipelineRunner(pipeline, tmp_path)
    assert "before a stage started" in _interrupted_message(runner, tmp_path)
    runner.state["stages"] = {"base": {"status": "done", "kind": "eval"},
                              "sft": {"status": "running", "kind": "sft"}}
    message = _interrupted_message(runner, tmp_path)
    assert "stage 'sft'" in message and "restarts from its first step" in message
    (tmp_path / "sft" / "checkpoint-5").mkdir(parents=True)
    assert "resumes from its newest checkpoint" in _interrupted_message(runner, tmp_path)
    runner.state["stages"]["sft"] = {"status": "done", "kind": "sft",
                                     "eval": {"status": "running"}}
    assert "evaluation of stage 'sft'" in _interrupted_message(runner, tmp_path)
    runner.state["stages"]["synth"] = {"status": "running", "kind": "synth"}
    runner.state["stages"]["sft"]["eval"]["status"] = "done"
    assert "from its manifest" in _interrupted_message(runner, tmp_path)
    assert f"affectllm quickstart --out {tmp_path}" in _interrupted_message(runner, tmp_path)
