"""`affectllm tiny-model OUT --arch ARCH [--size tiny|small]`: build a random-weight model of a real
architecture, for tests, CPU smoke runs and the quickstart."""

from __future__ import annotations

import argparse
import json

from affectllm.tiny import ARCHS, SIZES, save_tiny_model


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tiny-model", help="build a tiny random-weight model of a supported architecture",
        description="Build a tiny random-weight vision-language model (real config, modelling code, "
                    "processor and chat template; tokenizer trained locally) and save it to OUT.")
    p.add_argument("out", help="output directory")
    p.add_argument("--arch", choices=ARCHS, default="qwen2_5_vl")
    p.add_argument("--size", choices=SIZES, default="tiny",
                   help="tiny: tests (hidden 64); small: learns the toy-faces task on a CPU")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = save_tiny_model(args.out, args.arch, args.size, args.seed)
    print(json.dumps(info, indent=2))
    return 0
