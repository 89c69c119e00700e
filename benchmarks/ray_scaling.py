"""The Ray engine against the local one on the same generation workload (what `eval` sends).

    python benchmarks/ray_scaling.py [--n 48] [--max-new-tokens 32] [--batch-size 8]

Three runs of the same requests (toy faces + the ``openset`` prompt, greedy, HF backend, a
random-weight tiny Qwen2.5-VL): local (one backend in this process, one torch thread), Ray with
1 replica and Ray with 2 replicas (1 CPU and one torch thread each) on a local Ray instance with 2
CPUs started once before the timings. Each time is wall clock from building the backend to the
last output, so it includes loading the model (local) or starting the replica actors and loading
the model in each (Ray). Reported: the overhead ratio ray(1)/local (goal <= 1.10 on a realistic
batch) and the scaling efficiency ray(1) / (2 x ray(2)) (1.0 = perfect). The completions of the
three runs are compared (they must be identical).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_throughput import _requests  # noqa: E402

from affectllm.distributed import RayBackend, RaySettings, connect  # noqa: E402
from affectllm.generation import Sampling, make_backend  # noqa: E402
from eval.runs import release_backend  # noqa: E402


def _timed(build, requests, sampling) -> tuple[float, list[str]]:
    start = time.perf_counter()
    backend = build()
    outputs = backend.generate(requests, sampling, desc="benchmark")
    seconds = time.perf_counter() - start
    release_backend(backend)
    return seconds, [o.texts[0] if o.texts else "" for o in outputs]


def run(print_markdown: bool = True, n: int = 48, max_new_tokens: int = 32,
        batch_size: int = 8, model: str | None = None) -> dict:
    import torch

    from affectllm.tiny import save_tiny_model

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            model = str(Path(tmp) / "model")
            save_tiny_model(model, "qwen2_5_vl", "tiny")
        requests = _requests(Path(tmp) / "faces", n)
        sampling = Sampling(max_new_tokens=max_new_tokens)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            local, texts = _timed(lambda: make_backend(model, "hf", batch_size=batch_size),
                                  requests, sampling)
        finally:
            torch.set_num_threads(threads)
        start = time.perf_counter()
        connect(RaySettings(replicas=2, num_cpus=2))
        ray_start = time.perf_counter() - start
        timings, same = {}, True
        for replicas in (1, 2):
            settings = RaySettings(replicas=replicas, num_cpus=2)
            timings[replicas], ray_texts = _timed(
                lambda s=settings: RayBackend(model, "hf", s, batch_size=batch_size),
                requests, sampling)
            same = same and ray_texts == texts
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), "
                   f"Python {platform.python_version()}",
        "requests": n, "max_new_tokens": max_new_tokens, "batch_size": batch_size,
        "local_s": local, "ray_start_s": ray_start, "ray1_s": timings[1], "ray2_s": timings[2],
        "overhead_ratio": timings[1] / local,
        "scaling_efficiency": timings[1] / (2 * timings[2]),
        "identical_outputs": same}
    if print_markdown:
        print(markdown(results))
    return results


def markdown(r: dict) -> str:
    return "\n".join([
        f"### Ray engine vs local (tiny random-weight qwen2_5_vl; {r['requests']} requests, "
        f"{r['max_new_tokens']} new tokens max, greedy, HF batches of {r['batch_size']})",
        "",
        f"Machine: {r['machine']}. Times include building the backend (loading the model; for "
        f"Ray, starting the replica actors). Starting the local Ray instance once: "
        f"{r['ray_start_s']:.1f}s (not included).",
        "",
        "| path | wall time | vs local |",
        "|---|---|---|",
        f"| local (1 thread) | {r['local_s']:.1f}s | 1.00 |",
        f"| Ray, 1 replica (1 CPU) | {r['ray1_s']:.1f}s | {r['ray1_s'] / r['local_s']:.2f} |",
        f"| Ray, 2 replicas (1 CPU each) | {r['ray2_s']:.1f}s | {r['ray2_s'] / r['local_s']:.2f} |",
        "",
        f"Overhead ratio ray(1)/local: **{r['overhead_ratio']:.2f}** (goal <= 1.10 on a realistic "
        f"batch); scaling efficiency 2 vs 1 replicas: **{r['scaling_efficiency']:.2f}**; "
        f"completions identical across the three runs: {r['identical_outputs']}.",
    ])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--model", default=None)
    a = p.parse_args()
    run(n=a.n, max_new_tokens=a.max_new_tokens, batch_size=a.batch_size, model=a.model)


if __name__ == "__main__":
    main()
