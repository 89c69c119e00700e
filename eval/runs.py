"""Run plumbing shared by the benchmarks: resolved configs, kept model calls, one backend at a time.

Kept model calls. Every prompt a benchmark sends to a model is a `Job`: an id, chat messages, the
group (data set) it belongs to, and a `key`, a fingerprint of everything that decides the answer
(model weights, prompt text, sampling, media, input text). `run_jobs` keeps the answers in one JSONL
file per group, a row per id::

    {"id", "group", "key", "model", "text", "num_tokens", "error"}

On the next run a row is reused when its key equals the job's key and it holds no error; anything
else is generated again, so an interrupted run resumes and a changed prompt or model is redone.
With ``reuse_only`` (``--rescore``) nothing is generated: rows are used as stored whatever their key
(the stale ones are counted), and a missing row is an `InputError`.

Backends. `BackendPool` holds one generation backend at a time: the same model path gets the same
backend (generation and an extractor or judge that is the same model share one vLLM engine); another
model first releases the current one (vLLM keeps the GPU until its engine is gone). Throughput is
accounted per role (``generation``, ``extractor``, ``judge``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from affectllm import __version__
from affectllm.errors import InputError
from affectllm.generation import Backend, Request, Sampling, make_backend
from affectllm.io import read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# Fingerprints and configs


def fingerprint(obj: Any) -> str:
    """A short stable hash of a JSON-serialisable object (keys sorted)."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def model_stamp(model: str) -> dict:
    """What identifies a model's weights without reading them: for a local folder, the resolved
    path plus (name, size, mtime) of its config and weight files; for a hub id, the id."""
    path = Path(model)
    if not path.is_dir():
        return {"model": model}
    files = sorted(p for p in path.iterdir() if p.is_file() and (
        p.suffix in (".safetensors", ".bin", ".pt") or p.name in ("config.json",
                                                                  "adapter_config.json")))
    return {"model": str(path.resolve()),
            "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]}


def file_stamp(path: str | Path) -> list:
    """(size, mtime) of a media file, or None when it is missing."""
    try:
        st = Path(path).stat()
    except OSError:
        return [str(path), None]
    return [str(path), st.st_size, st.st_mtime_ns]


def environment() -> dict:
    """Versions and devices, recorded in every run's config."""
    import importlib.metadata as md

    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    try:
        import torch

        cuda = torch.cuda.is_available()
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    except Exception:  # torch missing or broken: record what we can
        cuda, gpus = False, []
    return {"affectllm": __version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "cuda": cuda, "gpus": gpus,
            "packages": {n: version(n) for n in ("torch", "transformers", "vllm", "qwen-vl-utils")}}


def write_run_config(out: Path, config: dict) -> dict:
    """Write ``out/config.json``: the resolved config plus the command line, time and environment.
    Returns what was written."""
    record = {**config, "argv": sys.argv, "started": datetime.now(timezone.utc).isoformat(),
              "environment": environment()}
    write_json(out / "config.json", record)
    return record


# --------------------------------------------------------------------------------------------------
# Kept model calls


@dataclass
class Job:
    """One prompt for one model; `key` decides whether a kept answer can be reused."""

    id: str
    group: str
    messages: list[dict]
    key: str


@dataclass
class KeptCalls:
    """The JSONL files of one stage, one per group: ``files[group] -> path``."""

    files: dict[str, Path]

    def load(self) -> dict[str, dict]:
        rows: dict[str, dict] = {}
        for group, path in self.files.items():
            if path.is_file():
                for _, row in read_jsonl(path):
                    if "id" in row:
                        rows[str(row["id"])] = {**row, "group": group}
        return rows

    def save(self, rows: dict[str, dict], order: Sequence[str]) -> None:
        by_group: dict[str, list[dict]] = {g: [] for g in self.files}
        for i in order:
            row = rows.get(i)
            if row is not None and row.get("group") in by_group:
                by_group[row["group"]].append(row)
        for group, path in self.files.items():
            write_jsonl(path, by_group[group])


@dataclass
class StageResult:
    """What `run_jobs` did: rows by id plus how many were generated, reused, stale or failed."""

    rows: dict[str, dict]
    generated: int = 0
    reused: int = 0
    stale: int = 0
    failed: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"generated": self.generated, "reused": self.reused, "stale_reused": self.stale,
                "failed": len(self.failed)}


def run_jobs(jobs: Sequence[Job], kept: KeptCalls, *, pool: BackendPool | None, model: str,
             sampling: Sampling, desc: str, role: str, reuse_only: bool = False) -> StageResult:
    """Answer every job, reusing kept rows (see the module docstring). With vLLM every job that
    needs the model goes to it in one `generate` call (vLLM schedules them all at once); with HF
    the jobs, sorted by prompt length, go in chunks of 16 batches and the kept file is saved after
    each chunk, so an interrupted CPU run resumes where it stopped."""
    stored = kept.load()
    rows: dict[str, dict] = {}
    todo: list[Job] = []
    result = StageResult(rows)
    for job in jobs:
        row = stored.get(job.id)
        if reuse_only:
            if row is None:
                raise InputError(f"--rescore: no kept {desc} for {job.id!r} in "
                                 f"{kept.files[job.group]}; run once without --rescore")
            result.stale += row.get("key") != job.key
            rows[job.id] = {**row, "group": job.group}
            result.reused += 1
        elif row is not None and row.get("key") == job.key and not row.get("error"):
            rows[job.id] = {**row, "group": job.group}
            result.reused += 1
        else:
            todo.append(job)
    if todo:
        if pool is None:
            raise InputError(f"{len(todo)} {desc} must be generated but no model is available")
        backend = pool.get(model)
        by_id = {j.id: j for j in todo}
        ordered = backend.order([Request(j.id, j.messages) for j in todo])
        step = len(ordered) if backend.name == "vllm" else max(64, 16 * backend.batch_size)
        parts = [ordered[start:start + step] for start in range(0, len(ordered), step)]
        for outputs in pool.generate_parts(backend, role, parts, sampling, desc):
            for out in outputs:
                job = by_id[out.id]
                rows[job.id] = {"id": job.id, "group": job.group, "key": job.key, "model": model,
                                "text": out.texts[0] if out.texts else "",
                                "num_tokens": out.num_tokens[0] if out.num_tokens else 0,
                                "error": out.error}
            kept.save({**stored, **rows}, _ordered_ids(stored, jobs))  # an interruption keeps these
        result.generated = len(todo)
    result.failed = [j.id for j in jobs if rows[j.id].get("error")]
    if not reuse_only and not todo:
        kept.save({**stored, **rows}, _ordered_ids(stored, jobs))
    return result


def _ordered_ids(stored: dict[str, dict], jobs: Iterable[Job]) -> list[str]:
    """Ids of this run's jobs in order, then kept rows of other ids (a --limit run keeps them)."""
    ids = [j.id for j in jobs]
    seen = set(ids)
    return ids + [i for i in stored if i not in seen]


# --------------------------------------------------------------------------------------------------
# Backends


def same_model(a: str, b: str) -> bool:
    """True when two model references name the same model (paths compared resolved)."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return a == b


@dataclass
class RoleThroughput:
    requests: int = 0
    completions: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        s = max(self.seconds, 1e-9)
        return {"requests": self.requests, "generated_tokens": self.generated_tokens,
                "seconds": round(self.seconds, 3), "samples_per_s": self.requests / s,
                "tokens_per_s": self.generated_tokens / s}

    def summary(self) -> str:
        d = self.as_dict()
        return (f"{self.requests} requests, {self.generated_tokens} tokens in {self.seconds:.1f}s "
                f"({d['samples_per_s']:.2f} samples/s, {d['tokens_per_s']:.1f} tokens/s)")


class BackendPool:
    """One generation backend at a time; see the module docstring.

    `kind` is ``auto``, ``hf`` or ``vllm``; `options` go to `affectllm.generation.make_backend`
    (each backend keeps the options it takes)."""

    def __init__(self, kind: str = "auto", **options: Any):
        self.kind = kind
        #: ``options["engine"]``: None (local) or a ``ray:`` mapping (`affectllm.distributed`).
        self.engine = options.pop("engine", None)
        self.options = options
        self.current: Backend | None = None
        self.current_model: str | None = None
        self.loaded: list[str] = []
        self.backend_names: dict[str, str] = {}
        self.throughput: dict[str, RoleThroughput] = {}

    def get(self, model: str) -> Backend:
        if self.current is not None and self.current_model is not None \
                and same_model(self.current_model, model):
            return self.current
        self.release()
        log.info("loading %s", model)
        if self.engine is not None:  # replicas of the backend on a Ray cluster
            from affectllm.distributed import RayBackend, ray_settings

            self.current = RayBackend(model, self.kind, ray_settings(self.engine),
                                      **self.options)
        else:
            self.current = make_backend(model, self.kind, **self.options)
        self.current_model = model
        self.loaded.append(model)
        self.backend_names[model] = self.current.name
        return self.current

    def generate(self, backend: Backend, role: str, requests: list[Request], sampling: Sampling,
                 desc: str) -> list:
        before = (backend.throughput.requests, backend.throughput.completions,
                  backend.throughput.generated_tokens)
        start = time.perf_counter()
        outputs = backend.generate(requests, sampling, desc=desc)
        t = self.throughput.setdefault(role, RoleThroughput())
        t.requests += backend.throughput.requests - before[0]
        t.completions += backend.throughput.completions - before[1]
        t.generated_tokens += backend.throughput.generated_tokens - before[2]
        t.seconds += time.perf_counter() - start
        return outputs

    def generate_parts(self, backend: Backend, role: str, parts: list[list[Request]],
                       sampling: Sampling, desc: str) -> Iterable[list]:
        """`generate` for each part in turn, yielding its outputs; a Ray backend takes all the
        parts at once (every replica busy) and yields each part when it is complete."""
        stream = getattr(backend, "stream", None)
        if stream is None:
            for part in parts:
                yield self.generate(backend, role, part, sampling, desc)
            return
        before = backend.throughput.generated_tokens
        t = self.throughput.setdefault(role, RoleThroughput())
        start = time.perf_counter()
        for p, outputs in stream(parts, sampling, desc):
            t.requests += len(parts[p])
            t.completions += sum(len(o.texts) for o in outputs)
            t.generated_tokens += backend.throughput.generated_tokens - before
            before = backend.throughput.generated_tokens
            t.seconds += time.perf_counter() - start
            yield outputs
            start = time.perf_counter()

    def release(self) -> None:
        """Drop the current backend and free its memory (GPU memory for vLLM)."""
        backend, self.current, self.current_model = self.current, None, None
        if backend is None:
            return
        release_backend(backend)

    def report(self) -> dict:
        return {role: t.as_dict() for role, t in self.throughput.items()}

    def print_summary(self, stream: Any = None) -> None:
        stream = stream or sys.stderr
        for role, t in self.throughput.items():
            print(f"throughput ({role}): {t.summary()}", file=stream)


def release_backend(backend: Backend) -> None:
    """Best-effort release of a backend's engine or model, then garbage collection and the CUDA
    cache. vLLM engines are shut down through their engine core when the attribute exists."""
    engine = getattr(backend, "llm", None)
    if engine is not None:
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        shutdown = getattr(core, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown()
            except Exception as e:  # the engine may already be gone
                log.debug("vLLM engine shutdown: %s", e)
        backend.llm = None
    if getattr(backend, "model", None) is not None:
        backend.model = None
    del backend, engine
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def print_throughput(pool: BackendPool | None) -> None:
    """Print the throughput of every role to stdout (or say that nothing was generated)."""
    if pool is None or not pool.throughput:
        print("nothing generated: every answer was reused from the kept intermediates")
        return
    pool.print_summary(sys.stdout)


def check_model_ref(ref: str, what: str, allowed: tuple[str, ...] = ()) -> None:
    """InputError unless `ref` is one of `allowed` or a model whose config can be read: a local
    model folder (config.json with a model_type) or a reachable Hub id
    (`affectllm.models.model_type_of`, which fails in seconds without network). Catches typos and
    broken folders before any output is written or any model is loaded."""
    from affectllm.models import model_type_of

    if ref in allowed:
        return
    try:
        model_type_of(str(Path(ref).expanduser()) if ref.startswith("~") else ref)
    except InputError as e:
        choices = f" (or one of {', '.join(allowed)})" if allowed else ""
        raise InputError(f"{what}{choices}: {e}") from None


def text_request(prompt: str) -> list[dict]:
    """Chat messages holding one text-only user turn (extractor and judge prompts)."""
    return [{"role": "user", "content": [{"type": "text", "text": prompt}]}]


def default_out(benchmark: str, model: str) -> Path:
    """``runs/eval/<benchmark>/<model folder name>`` when --out is not given."""
    name = Path(model.rstrip("/")).name or "model"
    return Path("runs") / "eval" / benchmark / name
