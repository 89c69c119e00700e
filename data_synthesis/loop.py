"""The round driver: select items, synthesize them chunk by chunk, merge, retrain, repeat.

Output folder (``--out``)::

    OUT/config.yaml               the resolved config (always written; a resumed run must match it)
    OUT/manifest.json             run state; "finished": true once all requested rounds are done
    OUT/corpus.jsonl              the growing corpus (canonical schema, media under OUT/media):
                                  the `seed_corpus` samples first, then each round's accepted
    OUT/media/...                 copies (or hard links) of the accepted samples' media
    OUT/base_model/, OUT/toyfaces/   only for the ``tiny:`` / ``toyfaces:`` shorthands
    OUT/round_k/plan.json         the round's items, in order, and its model (fixed at round start)
    OUT/round_k/chunks/NNNNN.json one file per finished chunk: accepted samples, per-item records,
                                  per-attempt counts, score distributions, tokens, times
    OUT/round_k/accepted.jsonl    the round's accepted samples (data root: OUT, via
                                  round_k/convert_config.json)
    OUT/round_k/records.jsonl     one outcome per item: accepted or not, attempts, scores, problems
    OUT/round_k/stats.json        see `data_synthesis.stats`
    OUT/round_k/model/, retrain.log   the model trained after round k (retrain on)

Resumption: the items of a round and their chunking are fixed in plan.json when the round starts;
a chunk is written atomically once all its attempts are done, and a killed run redoes only the
chunk it was in. The corpus is rebuilt from the rounds' accepted files, so a merge interrupted
half-way is simply done again. The same seed therefore gives the same corpus, interrupted or not.
With ``engine: ray`` the pending chunks run on Ray replicas (`data_synthesis.engine`) and each is
written when its result arrives, in any order; the corpus is the same as with the local engine.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from affectllm.distributed import Progress, require_ray
from affectllm.errors import InputError
from affectllm.generation import Backend, make_backend
from affectllm.io import read_jsonl, write_json, write_jsonl, write_yaml
from affectllm.models import PixelBudget
from affectllm.task import read_task
from affectllm.video import VideoSampling
from data_synthesis.candidates import RoundContext
from data_synthesis.config import MODEL_PROMPT, SynthConfig
from data_synthesis.corpus import copy_media, in_corpus_layout, merge_rounds
from data_synthesis.engine import ChunkResults, local_chunks, ray_chunks
from data_synthesis.inputs import (
    load_items,
    load_seed_corpus,
    model_label,
    resolve_data,
    resolve_model,
)
from data_synthesis.manifest import Manifest
from data_synthesis.retrain import MODEL_DIR, retrain
from data_synthesis.scoring import Scorer
from data_synthesis.stats import round_line, round_stats

CONFIG_FILE = "config.yaml"
CORPUS_FILE = "corpus.jsonl"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stdout(message: str) -> None:
    print(message, flush=True)


class SynthesisRun:
    """One invocation of `affectllm synth`: runs rounds 1..`rounds` in `out`, resuming."""

    def __init__(self, config: SynthConfig, out: str | Path, rounds: int,
                 log: Callable[[str], None] = _stderr, report: Callable[[str], None] = _stdout):
        self.cfg = config
        self.out = Path(out).resolve()
        self.rounds = rounds
        self.log = log
        self.report = report
        self._backend: Backend | None = None
        self._backend_model: str | None = None

    # ------------------------------------------------------------------------------ entry point

    def run(self) -> list[dict[str, Any]]:
        """Run every round not yet done; returns the stats of rounds 1..max(rounds, done)."""
        import torch

        threads = torch.get_num_threads()
        if self.cfg.cpu_threads and not torch.cuda.is_available():
            torch.set_num_threads(self.cfg.cpu_threads)
        try:
            return self._run()
        finally:
            self._close_backend()
            torch.set_num_threads(threads)

    def _run(self) -> list[dict[str, Any]]:
        if self.cfg.engine == "ray":
            require_ray()  # exit 2 naming the extra, before anything is written
        if not str(self.cfg.model or "").startswith("tiny:"):  # before anything is written
            resolve_model(self.cfg.model, self.out, self.cfg.seed, self.cfg.source)
        self.out.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest.load(self.out)
        self._write_config()
        self.base_model = resolve_model(self.cfg.model, self.out, self.cfg.seed, self.cfg.source)
        items_path, self.data_root = resolve_data(self.cfg.data, self.cfg.data_root, self.out,
                                                  self.cfg.seed)
        self.items = load_items(items_path, self.cfg.limit)
        self.items_by_id = {item["id"]: item for item in self.items}
        self.seed = self._seed_corpus()
        self.scorer = Scorer(self.cfg.rewards)
        m = self.manifest
        m["rounds_requested"] = self.rounds
        m["base_model"] = model_label(self.base_model, self.out)
        m["corpus"] = CORPUS_FILE
        m["finished"] = m["rounds_done"] >= self.rounds
        m.save()
        for k in range(1, self.rounds + 1):
            if not m.round_done(k):
                self._run_round(k)
        m["finished"] = True
        m.save()
        done = max(self.rounds, m["rounds_done"])
        return [json.loads((self.out / f"round_{k}" / "stats.json").read_text())
                for k in range(1, done + 1)]

    def _write_config(self) -> None:
        path = self.out / CONFIG_FILE
        if path.is_file() and self.manifest["rounds"]:
            old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            new = yaml.safe_load(yaml.safe_dump(self.cfg.identity()))
            changed = sorted(k for k in set(old) | set(new)
                             if k not in ("rounds", "out", "source", "engine", "ray")
                             and old.get(k) != new.get(k))
            if changed:
                raise InputError(
                    f"{self.out} holds a synthesis run made with another config (key "
                    f"{changed[0]!r}: {old.get(changed[0])!r} there, {new.get(changed[0])!r} now); "
                    "resume it with the same config or use another --out", path=path)
        write_yaml(path, {**self.cfg.to_dict(), "rounds": self.rounds, "out": str(self.out)})

    # ------------------------------------------------------------------------------ a round

    def _run_round(self, k: int) -> None:
        model = self._model_for_round(k)
        label = model_label(model, self.out)
        round_dir = self.out / f"round_{k}"
        plan = self._plan(k, round_dir, label)
        ids, size = plan["items"], plan["chunk_size"]
        chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
        state = self.manifest.round(k)
        state.update(status="generating", model=label, items=len(ids), chunks=len(chunks))
        self._count_done(state, round_dir, chunks)
        self.manifest.save()
        todo = [c for c in range(len(chunks)) if not self._chunk_path(round_dir, c).is_file()]
        if todo:
            where = f"on {self.cfg.ray['replicas']} Ray replica(s)" if self.cfg.engine == "ray" \
                else "here"
            self.log(f"round {k}: {len(ids)} items in {len(chunks)} chunk(s) of up to {size}, "
                     f"model {label}, {where}; {len(chunks) - len(todo)} chunk(s) done before")
            meter = Progress(f"round {k}", len(ids), state["items_done"])
            for c, result in self._chunk_results(k, model, label, {
                    c: [self.items_by_id[i] for i in chunks[c]] for c in todo}):
                write_json(self._chunk_path(round_dir, c), result)  # atomic, as it arrives
                self._count_done(state, round_dir, chunks)
                self.manifest.save()
                meter.update(len(result["items"]), result["tokens"], len(result["accepted"]))
        self._finish_round(k, round_dir, label, len(chunks))

    def _chunk_results(self, k: int, model: Path | str, label: str,
                       chunks: dict[int, list[dict]]) -> ChunkResults:
        """The round's pending chunks, synthesized here or on Ray replicas (`engine`)."""
        cfg = self._round_config(model)
        if self.cfg.engine == "ray":
            self._close_backend()
            return ray_chunks(cfg, str(model), backend_options(self.cfg, model), self.data_root,
                              k, label, chunks)
        ctx = RoundContext(cfg, self._backend_for(model), self.scorer, self.data_root, k, label)
        return local_chunks(ctx, chunks)

    def _plan(self, k: int, round_dir: Path, label: str) -> dict[str, Any]:
        """The round's items and chunking, fixed when the round starts."""
        path = round_dir / "plan.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
        if self.cfg.select == "all":
            ids = [item["id"] for item in self.items]
        else:
            done = {s["id"] for s in self._corpus()} | {s["id"] for s in self.seed}
            ids = [item["id"] for item in self.items if item["id"] not in done]
        plan = {"round": k, "model": label, "select": self.cfg.select,
                "chunk_size": self.cfg.chunk_size, "items": ids}
        write_json(path, plan)
        return plan

    @staticmethod
    def _chunk_path(round_dir: Path, c: int) -> Path:
        return round_dir / "chunks" / f"{c:05d}.json"

    def _count_done(self, state: dict, round_dir: Path, chunks: list[list[str]]) -> None:
        done = [c for c in range(len(chunks)) if self._chunk_path(round_dir, c).is_file()]
        state.update(chunks_done=len(done), items_done=sum(len(chunks[c]) for c in done))

    def _finish_round(self, k: int, round_dir: Path, label: str, n_chunks: int) -> None:
        results = [json.loads(self._chunk_path(round_dir, c).read_text(encoding="utf-8"))
                   for c in range(n_chunks)]
        accepted = [s for r in results for s in r["accepted"]]
        copy_media(accepted, self.data_root, self.out, link=self.cfg.media == "link")
        write_jsonl(round_dir / "accepted.jsonl", accepted)
        write_json(round_dir / "convert_config.json", {"data_root": ".."})
        write_jsonl(round_dir / "records.jsonl", [rec for r in results for rec in r["records"]])
        stats = round_stats(k, label, results)
        accepted_by_round = [self._accepted(j) for j in range(1, k + 1)]
        corpus, reports = merge_rounds(accepted_by_round, self.cfg.dedup, seed=self.seed)
        write_jsonl(self.out / CORPUS_FILE, corpus)
        stats["corpus"] = reports[-1].as_dict()
        write_json(round_dir / "stats.json", stats)
        state = self.manifest.round(k)
        state.update(status="done", accepted=stats["accepted"],
                     acceptance_rate=stats["acceptance_rate"], corpus_size=len(corpus),
                     generation_failed=stats["generation_failed"]["count"])
        self.manifest["rounds_done"] = max(self.manifest["rounds_done"], k)
        self.manifest["corpus_size"] = len(corpus)
        self.manifest.save()
        self.report(round_line(stats))
        failed = stats["generation_failed"]
        if failed["count"]:
            first = next(iter(failed["errors"].values()))
            self.report(f"round {k}: generation failed for {failed['count']} item(s) after "
                        f"retries: {', '.join(failed['ids'])} (first error: {first})")

    def _seed_corpus(self) -> list[dict]:
        """The `seed_corpus` samples in corpus layout, their media copied into OUT/media."""
        if self.cfg.seed_corpus is None:
            return []
        samples, root = load_seed_corpus(self.cfg.seed_corpus)
        seed = [in_corpus_layout(s, root) for s in samples]
        copy_media(seed, root, self.out, link=self.cfg.media == "link")
        return seed

    def _accepted(self, k: int) -> list[dict]:
        return [obj for _, obj in read_jsonl(self.out / f"round_{k}" / "accepted.jsonl")]

    def _corpus(self) -> list[dict]:
        path = self.out / CORPUS_FILE
        return [obj for _, obj in read_jsonl(path)] if path.is_file() else []

    # ------------------------------------------------------------------------------ models

    def _model_for_round(self, k: int) -> Path | str:
        """The base model, or the latest model retrained before round k (training it if needed)."""
        model: Path | str = self.base_model
        if self.cfg.retrain is None:
            return model
        for j in range(1, k):
            entry = self.manifest.round(j).get("retrain")
            if entry is None or entry.get("status") not in ("done", "skipped"):
                entry = self._retrain_after(j, model)
            if entry["status"] == "done":
                model = self.out / f"round_{j}" / MODEL_DIR
        return model

    def _retrain_after(self, j: int, previous: Path | str) -> dict[str, Any]:
        state = self.manifest.round(j)
        if not self._corpus():
            entry = {"status": "skipped", "reason": "empty corpus"}
            self.log(f"round {j}: retrain skipped, the corpus is empty")
        else:
            self._close_backend()  # give its memory to training
            source = self.base_model if self.cfg.retrain.base == "base" else previous
            self.log(f"round {j}: retraining {model_label(source, self.out)} on "
                     f"{self.out / CORPUS_FILE} (log: round_{j}/retrain.log)")
            entry = retrain(self.cfg.retrain, source, self.out, self.out / f"round_{j}",
                            self.out / CORPUS_FILE, self.cfg.cpu_threads)
            entry["from"] = model_label(source, self.out)
            entry["model"] = f"round_{j}/{MODEL_DIR}"
            self.log(f"round {j}: retrained in {entry['seconds']:.0f}s -> {entry['model']}")
        state["retrain"] = entry
        self.manifest.save()
        return entry

    def _round_config(self, model: Path | str) -> SynthConfig:
        """The config with the prompt (``model`` or absent) and system prompt (absent) the model
        folder records (affectllm_task.json); without a record: the item's question, no system."""
        task = read_task(model)
        prompt, system = self.cfg.prompt, self.cfg.system
        if prompt == MODEL_PROMPT:
            prompt = None if task is None or task.prompt_text is None else task.prompt_text
        if self.cfg.system_from_model and task is not None:
            system = task.system_prompt
        if (prompt, system) != (self.cfg.prompt, self.cfg.system):
            self.log(f"prompt {'from the model folder' if task else '(the question)'}: "
                     f"{(prompt or '(each item question)')[:80]!r}")
        return dataclasses.replace(self.cfg, prompt=prompt, system=system)

    def _backend_for(self, model: Path | str) -> Backend:
        if self._backend is None or self._backend_model != str(model):
            self._close_backend()
            self._backend = make_backend(str(model), self.cfg.backend,
                                         **backend_options(self.cfg, model))
            self._backend_model = str(model)
        return self._backend

    def _close_backend(self) -> None:
        if self._backend is None:
            return
        self._backend = self._backend_model = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def backend_options(cfg: SynthConfig, model: Path | str) -> dict[str, Any]:
    """`make_backend` options for `model`: the config's, with the pixel budget and video sampling
    of the config, else of the model folder's record (affectllm_task.json)."""
    task = read_task(model)
    pixels = PixelBudget(**cfg.pixels) if cfg.pixels or task is None else task.pixel_budget()
    video = VideoSampling(**cfg.video) if cfg.video else (
        task.video_sampling() if task is not None else VideoSampling())
    return {"batch_size": 8, "seed": cfg.seed, **cfg.backend_options, "pixels": pixels,
            "video": video}


def run_synthesis(config: SynthConfig, out: str | Path, rounds: int) -> list[dict[str, Any]]:
    """Run (or resume) a synthesis run; returns per-round stats. See `SynthesisRun`."""
    return SynthesisRun(config, out, rounds).run()
