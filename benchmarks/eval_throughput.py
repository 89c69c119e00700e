"""Evaluation generation throughput: the HF and vLLM backends on the same description requests.

    python benchmarks/eval_throughput.py [--model PATH] [--n 32] [--max-new-tokens 32]

`run()` returns a dict and prints a Markdown snippet. Requests are what `affectllm eval` sends: one
image (a procedural toy face) plus the ``openset`` prompt, greedy decoding, every request submitted
to one `generate` call (vLLM schedules them all at once; HF batches them by prompt length). Each
backend is warmed up on one request first, then timed on wall clock. Where vLLM cannot run (not
installed, or no CUDA GPU) it is recorded as unavailable with the reason, and only HF is measured.
Without ``--model`` a random-weight tiny Qwen2.5-VL is built in a temporary folder (seconds).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectllm.data.schema import load_samples  # noqa: E402
from affectllm.data.toyfaces import generate_toyfaces  # noqa: E402
from affectllm.generation import Request, Sampling, make_backend, vllm_available  # noqa: E402
from affectllm.prompts import sample_messages, task_prompt  # noqa: E402
from eval.runs import release_backend  # noqa: E402


def _requests(folder: Path, n: int) -> list[Request]:
    generate_toyfaces(folder, n=max(n, 10), seed=0, size=112, splits=(1, 0, 0))
    samples = load_samples(folder / "train.jsonl")[:n]
    prompt = task_prompt("openset")
    return [Request(s["id"], sample_messages(s, folder, prompt=prompt)) for s in samples]


def _vllm_unavailable_reason() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed"
    if not vllm_available():
        return "no CUDA GPU"
    return None


def measure(backend_name: str, model: str, requests: list[Request], sampling: Sampling,
            batch_size: int) -> dict:
    """Warm up on one request, then time all of them in one `generate` call."""
    backend = make_backend(model, backend_name, batch_size=batch_size)
    try:
        backend.generate(requests[:1], sampling, desc="warm-up")
        start = time.perf_counter()
        outputs = backend.generate(requests, sampling, desc=f"timing {backend_name}")
        seconds = time.perf_counter() - start
    finally:
        release_backend(backend)
    tokens = sum(sum(o.num_tokens) for o in outputs)
    return {"available": True, "requests": len(requests), "generated_tokens": tokens,
            "seconds": seconds, "samples_per_s": len(requests) / seconds,
            "tokens_per_s": tokens / seconds, "failed": sum(o.error is not None for o in outputs)}


def run(model: str | None = None, n: int = 32, max_new_tokens: int = 32, batch_size: int = 8,
        print_markdown: bool = True) -> dict:
    """Measure; return ``{"hf": {...}, "vllm": {...} or {"available": False, "reason": ...}}``."""
    sampling = Sampling(max_new_tokens=max_new_tokens)
    with tempfile.TemporaryDirectory(prefix="eval_throughput_") as tmp:
        tmp_path = Path(tmp)
        if model is None:
            from affectllm.tiny import save_tiny_model

            save_tiny_model(tmp_path / "model", "qwen2_5_vl", "tiny")
            model_used = str(tmp_path / "model")
            model_label = "tiny random-weight qwen2_5_vl"
        else:
            model_used, model_label = model, model
        requests = _requests(tmp_path / "faces", n)
        results: dict = {"model": model_label, "n": n, "max_new_tokens": max_new_tokens,
                         "batch_size_hf": batch_size, "python": platform.python_version(),
                         "machine": platform.machine()}
        results["hf"] = measure("hf", model_used, requests, sampling, batch_size)
        reason = _vllm_unavailable_reason()
        results["vllm"] = ({"available": False, "reason": reason} if reason else
                           measure("vllm", model_used, requests, sampling, batch_size))
    if results["vllm"].get("available"):
        results["vllm_speedup"] = results["vllm"]["samples_per_s"] / results["hf"]["samples_per_s"]
    if print_markdown:
        print(markdown(results))
    return results


def markdown(results: dict) -> str:
    lines = [f"### Evaluation generation throughput ({results['model']}; {results['n']} requests, "
             f"{results['max_new_tokens']} new tokens max, greedy)", "",
             "| backend | samples/s | tokens/s | seconds |", "|---|---:|---:|---:|"]
    for name in ("hf", "vllm"):
        r = results[name]
        if r.get("available"):
            lines.append(f"| {name} | {r['samples_per_s']:.2f} | {r['tokens_per_s']:.1f} | "
                         f"{r['seconds']:.2f} |")
        else:
            lines.append(f"| {name} | unavailable ({r['reason']}) | - | - |")
    if "vllm_speedup" in results:
        lines += ["", f"vLLM / HF samples per second: {results['vllm_speedup']:.1f}x"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model to time (default: a tiny model)")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8, help="HF batch size")
    args = parser.parse_args(argv)
    run(args.model, args.n, args.max_new_tokens, args.batch_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
