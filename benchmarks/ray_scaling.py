"""The Ray engine against the local one on the same generation workload (what `eval` sends).

    python benchmarks/ray_scaling.py [--n 48] [--max-new-tokens 32] [--batch-size 8]

Three runs of the same requests (toy faces + the ``openset`` prompt, greedy, HF backend, a
random-weight tiny Qwen2.5-VL): local (one backend in this process, one torch thread), Ray with
1 replica and Ray with 2 replicas (1 CPU and one torch thread each) on a local Ray instance with 2
CPUs started once before the timings, each at two sizes (n and scale x n requests). Each time is
wall clock from building the backend to the last output, so it includes loading the model (local)
or starting the replica actors and loading the model in each (Ray); the difference between the
two sizes divided by the extra requests is the marginal cost per request, without that fixed
start. Reported: the overhead ratio ray(1)/local (goal <= 1.10 on a realistic batch) and the
scaling efficiency ray(1) / (2 x ray(2)) (1.0 = perfect), both marginal and in total. The
completions of all runs are compared (they must be identical).
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
        batch_size: int = 8, model: str | None = None, scale: int = 5) -> dict:
    import torch

    from affectllm.tiny import save_tiny_model

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    sizes = (n, n * scale)
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            model = str(Path(tmp) / "model")
            save_tiny_model(model, "qwen2_5_vl", "tiny")
        every = _requests(Path(tmp) / "faces", sizes[1])
        sampling = Sampling(max_new_tokens=max_new_tokens)
        builders = {"local": lambda: make_backend(model, "hf", batch_size=batch_size)}
        for replicas in (1, 2):
            settings = RaySettings(replicas=replicas, num_cpus=2)
            builders[f"ray{replicas}"] = lambda s=settings: RayBackend(model, "hf", s,
                                                                       batch_size=batch_size)
        start = time.perf_counter()
        connect(RaySettings(replicas=2, num_cpus=2))
        ray_start = time.perf_counter() - start
        times: dict[str, list[float]] = {}
        texts: dict[str, list[list[str]]] = {}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the local path gets one thread, like each replica
        try:
            for name, build in builders.items():
                runs = [_timed(build, every[:size], sampling) for size in sizes]
                times[name] = [t for t, _ in runs]
                texts[name] = [x for _, x in runs]
        finally:
            torch.set_num_threads(threads)
    marginal = {k: (v[1] - v[0]) / (sizes[1] - sizes[0]) for k, v in times.items()}
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s) "
                   f"(shared with other jobs), Python {platform.python_version()}",
        "sizes": list(sizes), "max_new_tokens": max_new_tokens, "batch_size": batch_size,
        "ray_start_s": ray_start, "times_s": times, "marginal_s_per_request": marginal,
        "overhead_ratio_total": times["ray1"][1] / times["local"][1],
        "overhead_ratio_marginal": marginal["ray1"] / marginal["local"],
        "scaling_efficiency_total": times["ray1"][1] / (2 * times["ray2"][1]),
        "scaling_efficiency_marginal": marginal["ray1"] / (2 * marginal["ray2"]),
        "identical_outputs": texts["ray1"] == texts["local"] == texts["ray2"]}
    if print_markdown:
        print(markdown(results))
    return results


def markdown(r: dict) -> str:
    small, large = r["sizes"]
    t, m = r["times_s"], r["marginal_s_per_request"]
    label = {"local": "local (1 thread)", "ray1": "Ray, 1 replica (1 CPU)",
             "ray2": "Ray, 2 replicas (1 CPU each)"}
    rows = [f"| {label[k]} | {t[k][0]:.1f}s | {t[k][1]:.1f}s | {1000 * m[k]:.1f} ms |"
            for k in ("local", "ray1", "ray2")]
    return "\n".join([
        f"### Ray engine vs local (tiny random-weight qwen2_5_vl; {small} and {large} requests, "
        f"{r['max_new_tokens']} new tokens max, greedy, HF batches of {r['batch_size']})",
        "",
        f"Machine: {r['machine']}. Wall times include building the backend (loading the model; "
        f"for Ray, starting the replica actors, each importing torch and loading the model). "
        f"Starting the local Ray instance once: {r['ray_start_s']:.1f}s (not included). "
        f"Marginal = (T({large}) - T({small})) / {large - small}: the cost per request once the "
        "replicas are up.",
        "",
        f"| path | {small} requests | {large} requests | marginal per request |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Overhead ratio ray(1)/local: **{r['overhead_ratio_marginal']:.2f}** marginal, "
        f"{r['overhead_ratio_total']:.2f} in total at {large} requests (goal <= 1.10 on a "
        "realistic batch). Scaling efficiency 2 vs 1 replicas: "
        f"**{r['scaling_efficiency_marginal']:.2f}** marginal, "
        f"{r['scaling_efficiency_total']:.2f} in total. Completions identical across all "
        f"runs: {r['identical_outputs']}.",
    ])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--model", default=None)
    p.add_argument("--scale", type=int, default=5, help="the large run has scale x n requests")
    a = p.parse_args()
    run(n=a.n, max_new_tokens=a.max_new_tokens, batch_size=a.batch_size, model=a.model,
        scale=a.scale)


if __name__ == "__main__":
    main()
