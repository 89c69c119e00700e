"""One chunk of items through generate -> score -> accept -> retry with feedback.

For attempt 0 every item of the chunk gets `n` candidates; each is scored with the configured
rewards; an item whose best passing candidate exists is accepted with it. Items with none are tried
again (attempts 1..max_retries) with a feedback block built from their best-scoring candidate.
An item whose generation failed (the backend's own retry included) is reported with its error and
not tried again this round.

Determinism: the requests of one attempt are one `backend.generate` call whose ids are
``ITEM#rROUNDaATTEMPT`` and whose sampling seed depends on (seed, round, attempt) only, so a chunk
generates the same candidates whether or not the run was interrupted before it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectllm.generation import Backend, Request, Sampling
from data_synthesis.acceptance import Rule, best_candidate
from data_synthesis.config import SynthConfig
from data_synthesis.corpus import synthesized_sample
from data_synthesis.feedback import feedback_block, problems
from data_synthesis.prompting import item_messages
from data_synthesis.scoring import Scorer, add_scores


@dataclass
class RoundContext:
    """What every chunk of a round shares."""

    config: SynthConfig
    backend: Backend
    scorer: Scorer
    data_root: Path
    round_index: int
    model: str  # the model's label (see inputs.model_label)

    @property
    def rules(self) -> list[Rule]:
        return self.config.accept


@dataclass
class ItemRecord:
    """The outcome for one item of a round (written to round_k/records.jsonl)."""

    id: str
    accepted: bool = False
    attempts: int = 0
    accepted_attempt: int | None = None
    candidate: int | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str | None = None


def attempt_seed(seed: int, round_index: int, attempt: int) -> int:
    """The sampling seed of one attempt of one round (vLLM seeds each request with it)."""
    digest = hashlib.sha256(f"synth:{seed}:{round_index}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def request_id(item_id: str, round_index: int, attempt: int) -> str:
    return f"{item_id}#r{round_index}a{attempt}"


def synthesize_chunk(ctx: RoundContext, items: list[dict], chunk_index: int) -> dict[str, Any]:
    """Run all attempts for `items`; return the chunk's result (JSON-able, see module doc)."""
    cfg, start = ctx.config, time.perf_counter()
    records = {item["id"]: ItemRecord(item["id"]) for item in items}
    feedback: dict[str, str] = {}
    accepted: list[dict] = []
    attempts: list[dict[str, int]] = []
    dists: dict[str, dict] = {}
    tokens, gen_seconds = 0, 0.0
    pending = list(items)
    for attempt in range(cfg.max_retries + 1):
        if not pending:
            break
        requests = [Request(request_id(it["id"], ctx.round_index, attempt),
                            item_messages(it, ctx.data_root, cfg.prompt, cfg.system, cfg.hint,
                                          feedback.get(it["id"])))
                    for it in pending]
        sampling = Sampling(n=cfg.n, seed=attempt_seed(cfg.seed, ctx.round_index, attempt),
                            **vars(cfg.sampling))
        t0 = time.perf_counter()
        outputs = ctx.backend.generate(
            requests, sampling, desc=f"round {ctx.round_index} chunk {chunk_index} "
                                     f"attempt {attempt}")
        gen_seconds += time.perf_counter() - t0
        tokens += sum(sum(o.num_tokens) for o in outputs)

        generated = [(it, o) for it, o in zip(pending, outputs) if o.error is None and o.texts]
        for it, o in zip(pending, outputs):
            records[it["id"]].attempts = attempt + 1
            if o.error is not None or not o.texts:
                records[it["id"]].error = o.error or "no completion returned"
        completions = [t for _, o in generated for t in o.texts]
        owners = [it for it, o in generated for _ in o.texts]
        scores = ctx.scorer.score(completions, owners,
                                  desc=f"scoring round {ctx.round_index} attempt {attempt}")
        add_scores(dists, scores)

        still, offset, n_accepted = [], 0, 0
        for it, o in generated:
            cand_scores = scores[offset:offset + len(o.texts)]
            offset += len(o.texts)
            rec = records[it["id"]]
            best = best_candidate(cand_scores, ctx.rules, ctx.scorer.weights)
            if best is not None:
                n_accepted += 1
                rec.accepted, rec.accepted_attempt, rec.candidate = True, attempt, best
                rec.scores, rec.problems = cand_scores[best], []
                accepted.append(synthesized_sample(
                    it, o.texts[best], data_root=ctx.data_root, round_index=ctx.round_index,
                    model=ctx.model, attempt=attempt, candidate=best, scores=cand_scores[best]))
                continue
            closest = best_candidate(cand_scores, ctx.rules, ctx.scorer.weights,
                                     passing_only=False)
            rec.candidate, rec.scores = closest, cand_scores[closest]
            rec.problems = problems(o.texts[closest], it, rec.scores, ctx.rules)
            feedback[it["id"]] = feedback_block(rec.problems)
            still.append(it)
        attempts.append({"attempt": attempt, "items": len(pending),
                         "candidates": len(completions), "accepted": n_accepted,
                         "generation_failed": len(pending) - len(generated)})
        pending = still

    order = {item["id"]: i for i, item in enumerate(items)}
    accepted.sort(key=lambda s: order[s["id"]])
    return {
        "chunk": chunk_index,
        "items": [item["id"] for item in items],
        "accepted": accepted,
        "records": [vars(records[item["id"]]) for item in items],
        "attempts": attempts,
        "distributions": dists,
        "errors": {r.id: r.error for r in records.values() if r.error},
        "tokens": tokens,
        "generation_seconds": gen_seconds,
        "seconds": time.perf_counter() - start,
    }

