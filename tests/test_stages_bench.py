"""benchmarks/stages.py: per-stage mean and spread over seeds, the goals, and that it replaces
only its own section of RESULTS.md (the quickstart runs themselves take minutes: not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "stages.py"


@pytest.fixture(scope="module")
def stages():
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("stages_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(seed: int, accs: list[float]) -> dict:
    return {"seed": seed, "split": "test", "wall_seconds": 100.0,
            "stages": [{"stage": s, "accuracy": a} for s, a in zip(
                ("base", "sft", "grpo", "synth_sft"), accs)]}


def test_summary_goals_and_section_replacement(stages):
    result = stages.summarise([_run(0, [0.1, 0.5, 0.6, 0.8]), _run(1, [0.1, 0.5, 0.52, 0.8])])
    assert result["stages"]["grpo"]["mean"] == pytest.approx(0.56)
    assert result["stages"]["grpo"]["spread"] == pytest.approx(0.0565685, rel=1e-4)
    assert result["goals"] == {"grpo >= sft + 0.05 in every seed": False,
                               "synth_sft mean >= grpo mean": True, "final mean >= 0.75": True}
    section = stages.markdown(result)
    assert "| grpo | 0.600, 0.520 | 0.560 | 0.057 |" in section
    text = "# R\n\n## A\n\na\n\n## B\n\nb\n"
    once = stages.replace_section(text, section)
    assert once.startswith(text.rstrip("\n")) and once.count(stages.HEADING) == 1
    before_b = stages.replace_section("# R\n\n" + stages.HEADING + "\n\nold\n\n## B\n\nb\n", "new")
    assert before_b == "# R\n\nnew\n\n## B\n\nb\n"
