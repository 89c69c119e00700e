"""`affectllm run PIPELINE.yaml`: run (or resume) a staged pipeline."""

from __future__ import annotations

import argparse
import shlex
import sys

from affectllm.errors import InputError
from affectllm.pipeline.config import load_pipeline
from affectllm.pipeline.runner import PipelineRunner


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="run a staged pipeline (sft -> grpo -> synth -> eval), resumably",
        description="Run the stages of PIPELINE.yaml in a run directory. Finished stages are "
                    "skipped; an interrupted stage resumes; --from reruns from a stage on.")
    p.add_argument("pipeline", help="pipeline YAML (e.g. recipes/facial_r1/pipeline.yaml)")
    p.add_argument("--out", help="run directory (default: the pipeline's `out`, else "
                                 "runs/<pipeline name>)")
    p.add_argument("--from", dest="from_stage", metavar="STAGE",
                   help="forget STAGE and every later stage, then run them again")
    p.add_argument("--model", help="override the pipeline's base model")
    p.add_argument("--data", help="override the pipeline's training data")
    p.add_argument("--dry-run", action="store_true",
                   help="print each stage's inputs, outputs and command; run nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pipeline = load_pipeline(args.pipeline, {"model": args.model, "data": args.data})
    run_dir = args.out or pipeline.out or f"runs/{pipeline.name}"
    runner = PipelineRunner(pipeline, run_dir, log=lambda m: print(m, file=sys.stderr))
    if args.from_stage:
        pipeline.index(args.from_stage)  # validate before deleting anything
        runner.forget_from(args.from_stage)
    if args.dry_run:
        for plan in runner.plan():
            stage = plan["stage"]
            print(f"{stage.name} ({stage.kind}) [{runner.status(stage) or 'pending'}]")
            print(f"  inputs:  {plan['inputs']}")
            print(f"  outputs: {plan['outputs']}")
            print(f"  command: {shlex.join(runner.command(plan, resume=False))}")
            if plan['stage'].eval is not None:
                print(f"  then evaluate: {shlex.join(runner.eval_command(plan))}")
        return 0
    try:
        runner.run()
    except RuntimeError as e:
        print(f"affectllm run: {e}", file=sys.stderr)
        return 1
    except InputError:
        raise
    print(f"pipeline {pipeline.name!r} finished: {runner.run_dir}")
    return 0
