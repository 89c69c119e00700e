"""Data-parallel generation on a Ray cluster: Ray Data streams work units to N backend replicas.

    settings = ray_settings({"address": "local", "replicas": 2})     # checked; InputError names key
    for result in stream_units(units, MyReplica, {"model": ...}, settings, "synth round 1"):
        ...                                                           # in completion order

A *unit* is a JSON-able dict (a synthesis chunk, a batch of eval requests). `stream_units` puts the
units into a Ray Dataset (``ray.data.from_items``), maps them with ``map_batches`` over an actor
pool of `replicas` instances of a callable class (each holds one generation backend, built once
in its constructor), one unit per call, and yields each result as it arrives. Ray does the
scheduling, placement and retries; nothing here schedules work.

Fault tolerance: the actor pool runs with ``max_restarts`` / ``max_task_retries`` (RaySettings), so
a replica killed mid-unit (kill -9, a lost node) is restarted and its unit run again from the start;
a unit's result depends on the unit only (its requests carry their ids and seeds), so a retried
unit gives the same result and nothing is lost or duplicated. The caller writes each result
atomically when it arrives, so a killed driver loses only the units in flight.

Determinism: the units are exactly what the local engine would run one after the other (the same
synthesis chunks; the same HF batches, whose sampling seed depends on the batch's request ids), so
the output does not depend on the engine or the number of replicas. vLLM seeds every request with
the sampling seed, so any split of requests across vLLM replicas gives the same completions.

Ray is optional (``pip install 'affectllm[ray]'``) and imported only here, only by the ray engine.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from affectllm.errors import InputError
from affectllm.generation import Backend, Output, Request, Sampling, by_prompt_length

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
RAY_EXTRA = "pip install 'affectllm[ray]'"
RAY_KEYS = {"address", "replicas", "gpus_per_replica", "cpus_per_replica", "num_cpus",
            "max_restarts", "max_task_retries", "object_store_memory"}


@dataclass
class RaySettings:
    """Where and how wide to run. `address`: ``local`` (start a Ray instance inside this process,
    with `num_cpus` CPUs, default replicas x cpus_per_replica), ``auto`` (join the cluster this
    node belongs to, see `ray start`) or ``host:port``. `gpus_per_replica` > 1 means tensor
    parallelism inside a replica (vLLM). `object_store_memory` (bytes) only for ``local``."""

    address: str = "local"
    replicas: int = 1
    gpus_per_replica: float = 0
    cpus_per_replica: float = 1
    num_cpus: int | None = None
    max_restarts: int = 3
    max_task_retries: int = 3
    object_store_memory: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ray_settings(spec: dict[str, Any] | None, where: str = "ray") -> RaySettings:
    """Check a ``ray:`` mapping (from YAML or CLI flags); InputError names the key."""
    spec = dict(spec or {})
    unknown = sorted(set(spec) - RAY_KEYS)
    if unknown:
        raise InputError(f"key '{where}.{unknown[0]}': unknown key; valid keys: "
                         f"{', '.join(sorted(RAY_KEYS))}")
    d = RaySettings()
    address = spec.get("address", d.address)
    if not isinstance(address, str) or not address:
        raise InputError(f"key '{where}.address': expected local, auto or host:port, "
                         f"got {address!r}")
    values: dict[str, Any] = {"address": address}
    for key, minimum, kind in (("replicas", 1, int), ("gpus_per_replica", 0, float),
                               ("cpus_per_replica", 0, float), ("num_cpus", 1, int),
                               ("max_restarts", 0, int), ("max_task_retries", 0, int),
                               ("object_store_memory", 1, int)):
        value = spec.get(key, getattr(d, key))
        if value is None and getattr(d, key) is None:
            values[key] = None
            continue
        ok = not isinstance(value, bool) and isinstance(value, (int, float) if kind is float
                                                        else int)
        if not ok or value < minimum:
            raise InputError(f"key '{where}.{key}': expected a number >= {minimum}, "
                             f"got {value!r}")
        values[key] = value
    if values["cpus_per_replica"] == 0 and values["gpus_per_replica"] == 0:
        raise InputError(f"key '{where}.cpus_per_replica': a replica needs a CPU or a GPU")
    return RaySettings(**values)


def require_ray() -> Any:
    """The `ray` module, or InputError (exit 2) naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise InputError(f"the ray engine needs Ray Data ({e}): {RAY_EXTRA}, or use the "
                         "local engine") from None
    return ray


def connect(settings: RaySettings) -> Any:
    """Start or join the Ray cluster (once per process); returns the `ray` module."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    quiet = {"include_dashboard": False, "log_to_driver": True, "logging_level": logging.WARNING}
    if settings.address == "local":
        cpus = settings.num_cpus or max(1, int(settings.replicas * settings.cpus_per_replica + 0.999))
        ray.init(num_cpus=cpus, object_store_memory=settings.object_store_memory, **quiet)
    else:
        ray.init(address=settings.address, **quiet)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the driver prints its own progress (`Progress`)
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return ray


def stream_units(units: list[dict], replica: type, replica_args: dict[str, Any],
                 settings: RaySettings) -> Iterator[dict]:
    """Run `replica(**replica_args)(unit)` for every unit on `settings.replicas` Ray actors;
    yield the results (dicts) in completion order. `replica` must be importable on every node."""
    if not units:
        return
    ray = connect(settings)
    rows = [{"unit": json.dumps(u, ensure_ascii=False)} for u in units]
    with warnings.catch_warnings():  # actor restarts are still set through ray_remote_args
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            _Replica, fn_constructor_kwargs={"cls": replica, "args": replica_args},
            batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(settings.replicas, len(units))),
            num_cpus=settings.cpus_per_replica, num_gpus=settings.gpus_per_replica or None,
            max_restarts=settings.max_restarts, max_task_retries=settings.max_task_retries)
    for row in ds.iter_rows():
        yield json.loads(row["result"])


class _Replica:
    """The Ray Data callable class around a replica: JSON in, JSON out, one unit per call."""

    def __init__(self, cls: type, args: dict[str, Any]):
        self.replica = cls(**args)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        results = [json.dumps(self.replica(json.loads(str(u))), ensure_ascii=False)
                   for u in batch["unit"]]
        return {"result": results}


class GenerationReplica:
    """One generation backend (`affectllm.generation.make_backend`) answering request batches:
    a unit is ``{"requests": [{"id", "messages"}], "sampling": {...}, "desc"}``."""

    def __init__(self, model: str, kind: str, options: dict[str, Any], threads: int | None = None):
        from affectllm.generation import make_backend

        set_threads(threads)
        self.backend = make_backend(model, kind, **decode_options(options))

    def __call__(self, unit: dict[str, Any]) -> dict[str, Any]:
        from affectllm.generation import Request, Sampling

        requests = [Request(r["id"], r["messages"]) for r in unit["requests"]]
        outputs = self.backend.generate(requests, Sampling(**unit["sampling"]), desc=unit["desc"])
        return {"index": unit["index"], "outputs": [asdict(o) for o in outputs]}


def set_threads(threads: int | None) -> None:
    """torch's CPU threads in a replica (a CPU replica should use the CPUs Ray gave it)."""
    if threads:
        import torch

        if not torch.cuda.is_available():
            torch.set_num_threads(int(threads))


def encode_options(options: dict[str, Any]) -> dict[str, Any]:
    """Backend options with their dataclasses (PixelBudget, VideoSampling) as tagged dicts."""
    out = {}
    for k, v in options.items():
        out[k] = {"__dataclass__": k, **asdict(v)} if hasattr(v, "__dataclass_fields__") else v
    return out


def decode_options(options: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `encode_options` (pixels -> PixelBudget, video -> VideoSampling)."""
    from affectllm.models import PixelBudget
    from affectllm.video import VideoSampling

    types = {"pixels": PixelBudget, "video": VideoSampling}
    out = {}
    for k, v in options.items():
        if isinstance(v, dict) and v.get("__dataclass__") in types:
            v = types[v["__dataclass__"]](**{f: x for f, x in v.items() if f != "__dataclass__"})
        out[k] = v
    return out


class Progress:
    """Progress of a distributed run on the driver's stderr, one line per finished unit:
    ``DESC: done/total items, A accepted, T tokens/s, ETA m:ss``. tokens/s and the ETA use the
    wall time since this driver started (items done before it, e.g. resumed, are not timed)."""

    def __init__(self, desc: str, total: int, done: int = 0, stream: Any = None):
        self.desc, self.total, self.done = desc, total, done
        self.accepted = 0
        self.tokens = 0
        self._timed_items = 0
        self._start = time.perf_counter()
        self.stream = stream or sys.stderr

    def update(self, items: int, tokens: int = 0, accepted: int | None = None) -> str:
        self.done += items
        self._timed_items += items
        self.tokens += tokens
        if accepted is not None:
            self.accepted += accepted
        line = self.line()
        print(line, file=self.stream, flush=True)
        return line

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = self._timed_items / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "?" if left == float("inf") else f"{int(left // 60)}:{int(left % 60):02d}"
        accepted = f", {self.accepted} accepted" if self.accepted else ""
        return (f"{self.desc}: {self.done}/{self.total} items{accepted}, "
                f"{self.tokens / elapsed:.1f} tokens/s, ETA {eta}")


def replica_threads(settings: RaySettings) -> int | None:
    """CPU threads for a CPU replica: the CPUs Ray reserves for it (at least 1)."""
    if settings.gpus_per_replica:
        return None
    return max(1, int(settings.cpus_per_replica))


class RayBackend(Backend):
    """A `Backend` whose batches run on Ray replicas of the `kind` backend (hf or vllm).

    HF: the requests are ordered and cut into batches exactly as `HFBackend.generate` does (the
    driver loads only the processor, for the prompt lengths), and each batch is one unit, so every
    batch and its seed are those of the local run. vLLM: each part is split into one contiguous
    shard per replica (vLLM seeds each request, so the split changes nothing)."""

    name = "ray"

    def __init__(self, model_path: str, kind: str, settings: RaySettings, **options: Any):
        from affectllm.models import PixelBudget, load_processor

        super().__init__(model_path)
        self.settings = settings
        self.kind = kind if kind != "auto" else (
            "vllm" if importlib.util.find_spec("vllm") and settings.gpus_per_replica else "hf")
        options = dict(options)
        if self.kind == "vllm" and settings.gpus_per_replica > 1:
            options["tensor_parallel_size"] = int(settings.gpus_per_replica)
        self.options = encode_options(options)
        if self.kind == "hf":
            self.batch_size = int(options.get("batch_size", 8))
            self.processor = load_processor(model_path, options.get("pixels") or PixelBudget(),
                                            bool(options.get("trust_remote_code", False)))
        else:
            self.batch_size = 1 << 30
            self.processor = None
        connect(settings)

    def order(self, requests: Sequence[Request]) -> list[Request]:
        return by_prompt_length(self.processor, requests) if self.kind == "hf" else list(requests)

    def _units(self, parts: list[list[Request]], sampling: Sampling, desc: str) -> list[dict]:
        units = []
        for p, part in enumerate(parts):
            ordered = self.order(part)
            size = self.batch_size if self.kind == "hf" else                 max(1, -(-len(ordered) // self.settings.replicas))
            for start in range(0, len(ordered), size):
                units.append({"index": len(units), "part": p, "desc": desc,
                              "sampling": asdict(sampling),
                              "requests": [{"id": r.id, "messages": r.messages}
                                           for r in ordered[start:start + size]]})
        return units

    def stream(self, parts: list[list[Request]], sampling: Sampling,
               desc: str = "generating") -> Iterator[tuple[int, list[Output]]]:
        """Yield (part index, outputs in the part's order) as each part's units are all done."""
        start, base = time.perf_counter(), self.throughput.seconds
        units = self._units(parts, sampling, desc)
        left = {p: sum(u["part"] == p for u in units) for p in range(len(parts))}
        got: dict[int, dict[str, Output]] = {p: {} for p in range(len(parts))}
        progress = Progress(f"{desc} (ray x{self.settings.replicas}, {self.kind})",
                            sum(len(p) for p in parts))
        args = {"model": self.model_path, "kind": self.kind, "options": self.options,
                "threads": replica_threads(self.settings)}
        for result in stream_units(units, GenerationReplica, args, self.settings):
            p = units[result["index"]]["part"]
            outputs = [Output(**o) for o in result["outputs"]]
            got[p].update((o.id, o) for o in outputs)
            progress.update(len(outputs), tokens=sum(sum(o.num_tokens) for o in outputs))
            left[p] -= 1
            if left[p] == 0:
                done = got.pop(p)
                ordered = [done[r.id] for r in parts[p]]
                t = self.throughput
                t.requests += len(ordered)
                t.completions += sum(len(o.texts) for o in ordered)
                t.generated_tokens += sum(sum(o.num_tokens) for o in ordered)
                t.seconds = base + time.perf_counter() - start
                yield p, ordered

    def generate(self, requests: Sequence[Request], sampling: Sampling = Sampling(),
                 desc: str = "generating", retries: int = 1) -> list[Output]:
        return next(iter(self.stream([list(requests)], sampling, desc)), (0, []))[1]

    def run_batch(self, batch: list[Request], sampling: Sampling) -> list[Output]:
        return self.generate(batch, sampling)
