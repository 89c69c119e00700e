"""``affectllm synth``: the iterative reasoning-synthesis loop as a resumable command.

    affectllm synth --config recipes/synth/facial_r1.yaml --rounds 3 [--model PATH]
                    [--backend auto|hf|vllm] [--out DIR] [--data JSONL] [--data-root DIR]
                    [--engine local|ray] [--replicas N] [--ray-address local|auto|HOST:PORT]

Flags override the config's keys of the same name. Running the same command again after a kill
continues where it stopped; running it with more rounds extends a finished run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectllm.generation import BACKENDS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `synth` subcommand."""
    p = subparsers.add_parser(
        "synth", help="synthesize verified reasoning: generate, score, accept, retry, retrain",
        description="Iterative data synthesis (Facial-R1 stage 3, FEA-20K / Emo-CFG): the model "
                    "writes reasoning for samples with known labels, the rewards check it, "
                    "rejected items are retried with feedback, accepted samples join "
                    "OUT/corpus.jsonl, and the next round may use a retrained model. Resumable: "
                    "rerun the same command after an interruption.")
    p.add_argument("--config", required=True, help="synthesis YAML (see recipes/synth/)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds to have done when the command ends (default: config 'rounds', 1)")
    p.add_argument("--model", default=None,
                   help="model path or hub id (or tiny:ARCH[:SIZE]); overrides config 'model'")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="generation backend (default: config 'backend', auto)")
    p.add_argument("--out", default=None,
                   help="output folder (default: config 'out', else runs/synth/<config stem>)")
    p.add_argument("--data", default=None, help="input samples JSONL; overrides config 'data'")
    p.add_argument("--data-root", "--data_root", dest="data_root", default=None,
                   help="folder the input media paths are relative to")
    p.add_argument("--seed-corpus", "--seed_corpus", dest="seed_corpus", default=None,
                   help="canonical JSONL the corpus starts from; overrides config 'seed_corpus'")
    p.add_argument("--seed", type=int, default=None, help="overrides config 'seed'")
    p.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="where chunks run (default: config 'engine', local); ray: on Ray "
                        "replicas (pip install 'affectllm[ray]'), same corpus")
    p.add_argument("--replicas", type=int, default=None, help="overrides config 'ray.replicas'")
    p.add_argument("--ray-address", "--ray_address", dest="ray_address", default=None,
                   help="overrides config 'ray.address' (local, auto or host:port)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config, run the rounds, print the per-round table."""
    from affectllm.errors import InputError
    from data_synthesis.config import load_config
    from data_synthesis.loop import run_synthesis
    from data_synthesis.stats import summary_table

    overrides = {"model": args.model, "backend": args.backend, "out": args.out,
                 "data": args.data, "data_root": args.data_root, "seed": args.seed,
                 "seed_corpus": args.seed_corpus,
                 "rounds": args.rounds, "engine": args.engine}
    ray = {"replicas": args.replicas, "address": args.ray_address}
    cfg = load_config(args.config, overrides, ray={k: v for k, v in ray.items() if v is not None})
    if cfg.rounds < 1:
        raise InputError(f"rounds must be at least 1 (--rounds or the config's 'rounds'), "
                         f"got {cfg.rounds}", path=args.config)
    out = Path(cfg.out) if cfg.out else Path("runs") / "synth" / Path(args.config).stem
    done_before = _rounds_done(out)
    stats = run_synthesis(cfg, out, cfg.rounds)
    if done_before >= cfg.rounds:
        print(f"nothing to do: {out} already has {done_before} finished round(s), and "
              f"--rounds {cfg.rounds} asks for {cfg.rounds}; pass --rounds {done_before + 1} to "
              "run another round", file=sys.stderr)
    print()
    print(summary_table(stats))
    print(f"\ncorpus: {out / 'corpus.jsonl'} ({_corpus_size(out)} samples); "
          f"manifest: {out / 'manifest.json'}")
    return 0


def _rounds_done(out: Path) -> int:
    """Rounds finished in `out` before this command (0 for a new folder)."""
    from data_synthesis.manifest import Manifest

    return Manifest.load(out)["rounds_done"]


def _corpus_size(out: Path) -> int:
    path = out / "corpus.jsonl"
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())
