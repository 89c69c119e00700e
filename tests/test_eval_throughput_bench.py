"""benchmarks/eval_throughput.py: importable `run() -> dict`; HF measured on a real tiny model,
vLLM measured where it can run and otherwise recorded as unavailable with the reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from affectllm.generation import vllm_available

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_throughput.py"


def _load():
    spec = importlib.util.spec_from_file_location("eval_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_returns_hf_numbers_and_vllm_status(tiny_model, capsys):
    bench = _load()
    results = bench.run(model=str(tiny_model("qwen2_5_vl")), n=4, max_new_tokens=4)
    hf = results["hf"]
    assert hf["available"] and hf["requests"] == 4 and hf["failed"] == 0
    assert hf["samples_per_s"] > 0 and 0 < hf["generated_tokens"] <= 16
    if vllm_available():
        assert results["vllm"]["available"] and "vllm_speedup" in results
    else:
        assert results["vllm"] == {"available": False, "reason": results["vllm"]["reason"]}
        assert results["vllm"]["reason"] in ("vllm is not installed", "no CUDA GPU")
    assert "| hf |" in capsys.readouterr().out
