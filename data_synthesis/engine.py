"""Where a round's chunks run: here, one after the other (``engine: local``), or on Ray replicas
(``engine: ray``), each replica holding its own backend and scorer.

Both engines run `synthesize_chunk` on exactly the same chunks (plan.json) with the same request
ids and seeds, so a chunk's result does not depend on the engine, the replica count or on which
replica ran it; the driver (`data_synthesis.loop`) writes each result atomically as it arrives.
See `affectllm.distributed` for the Ray side (Ray Data actor pool, restarts and task retries).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from affectllm.distributed import (
    RaySettings,
    decode_options,
    encode_options,
    replica_threads,
    set_threads,
    stream_units,
)
from affectllm.generation import make_backend
from data_synthesis.candidates import RoundContext, synthesize_chunk
from data_synthesis.config import SynthConfig
from data_synthesis.scoring import Scorer

#: (chunk index, chunk result) as the chunks finish.
ChunkResults = Iterator[tuple[int, dict[str, Any]]]


def local_chunks(ctx: RoundContext, chunks: dict[int, list[dict]]) -> ChunkResults:
    """The chunks in index order, in this process."""
    for c, items in chunks.items():
        yield c, synthesize_chunk(ctx, items, c)


def ray_chunks(config: SynthConfig, model: str, backend_options: dict[str, Any],
               data_root: Path, round_index: int, label: str,
               chunks: dict[int, list[dict]]) -> ChunkResults:
    """The chunks on `config.ray` replicas, in completion order."""
    settings = RaySettings(**config.ray)
    args = {"config": dataclasses.replace(config, retrain=None), "model": model,
            "backend_options": encode_options(backend_options), "data_root": str(data_root),
            "round_index": round_index, "label": label, "threads": replica_threads(settings)}
    units = [{"chunk": c, "items": items} for c, items in chunks.items()]
    for result in stream_units(units, ChunkReplica, args, settings):
        yield result["chunk"], result


class ChunkReplica:
    """One replica: the round's backend and scorer, built once; a unit is one chunk."""

    def __init__(self, config: SynthConfig, model: str, backend_options: dict[str, Any],
                 data_root: str, round_index: int, label: str, threads: int | None):
        set_threads(config.cpu_threads or threads)
        backend = make_backend(model, config.backend, **decode_options(backend_options))
        self.ctx = RoundContext(config, backend, Scorer(config.rewards), Path(data_root),
                                round_index, label)

    def __call__(self, unit: dict[str, Any]) -> dict[str, Any]:
        return synthesize_chunk(self.ctx, unit["items"], unit["chunk"])
