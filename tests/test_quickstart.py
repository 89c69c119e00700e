"""The quickstart's report: the before/after table and the GRPO reward curve, read from the files
the pipeline stages write. (The whole quickstart runs in benchmarks/quickstart_time.py and as the
README's first command; it takes minutes, too long for the test suite.)"""

from __future__ import annotations

import json
from pathlib import Path

from affectllm.commands.quickstart import PIPELINE, plot_curve, reward_curve, summarise
from affectllm.pipeline import load_pipeline


def _report(run: Path, stage: str, metrics: dict) -> None:
    (run / stage).mkdir(parents=True)
    (run / stage / "report.json").write_text(json.dumps({"metrics": metrics}))


def test_summary_table_and_curve(tmp_path):
    _report(tmp_path, "eval_before", {"accuracy": 0.0, "au_f1": 0.1, "format_rate": 0.0,
                                      "mean_reward": -0.9})
    _report(tmp_path, "eval_after", {"accuracy": 0.5, "au_f1": 0.8, "format_rate": 1.0,
                                     "mean_reward": 2.1})
    history = [{"step": s, "reward": r} for s, r in enumerate([1.0, 1.2, 1.1, 1.5, 1.6, 1.9, 2.0,
                                                                2.2], start=1)]
    history.append({"step": 8, "train_runtime": 3.0})
    (tmp_path / "grpo").mkdir()
    (tmp_path / "grpo" / "trainer_state.json").write_text(json.dumps({"log_history": history}))

    curve = reward_curve(tmp_path / "grpo" / "trainer_state.json")
    assert curve == [(h["step"], h["reward"]) for h in history[:-1]]
    table, summary = summarise(tmp_path, n_classes=8)
    assert "| emotion accuracy | 0.000 | 0.500 |" in table
    assert summary["accuracy_over_chance"] == 4.0
    assert summary["grpo_reward_first"] == 1.1 and summary["grpo_reward_last"] == 2.1
    assert "4.0x chance" in table
    plot_curve(curve, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_reports_show_dashes(tmp_path):
    table, summary = summarise(tmp_path, n_classes=8)
    assert "| emotion accuracy | - | - |" in table and summary["grpo_reward_curve"] == []


def test_shipped_quickstart_pipeline_loads():
    pipeline = load_pipeline(PIPELINE, {"model": "m", "data": "d/train.jsonl"})
    assert [s.kind for s in pipeline.stages] == ["eval", "sft", "grpo", "synth", "eval"]
    assert all(Path(s.config).is_file() for s in pipeline.stages if s.config)
