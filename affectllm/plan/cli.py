"""`affectllm plan --config RECIPE.yaml [--accelerate-config F] [--gpus N] [--gpu-memory GiB]`.

Prints parameters (total, per part, trainable, LoRA modules matched) and the estimated peak
memory per GPU; offline, in seconds, nothing downloaded. Arguments after ``--`` override the
recipe's config as on a recipe's command line (``-- --per_device_train_batch_size 4``).
Exit status: 0 (also when it does not fit, unless --strict: then 1), 2 bad input.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan", help="parameters, LoRA targets and memory per GPU of a recipe, without weights",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="recipe YAML (e.g. recipes/facial_r1/grpo.yaml)")
    p.add_argument("--accelerate-config", default=None,
                   help="accelerate config of the launch (default: the one in the YAML's "
                        "first-line launch command); 'none': plain processes, no DeepSpeed")
    p.add_argument("--gpus", type=int, default=None,
                   help="processes / GPUs in all (default: the accelerate config's num_processes)")
    p.add_argument("--gpu-memory", type=float, default=None, metavar="GiB",
                   help="memory of one GPU (default: this machine's GPU, else 80)")
    p.add_argument("--completion-tokens", type=int, default=None,
                   help="completion length to plan for (default: max_completion_length; SFT 256)")
    p.add_argument("--image-pixels", type=int, default=None, metavar="N",
                   help="area of the data's images in pixels, e.g. 200704 for 448x448 faces "
                        "(default: as large as the recipe's pixel budget allows)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when the run does not fit")
    p.add_argument("overrides", nargs="*", metavar="-- --key value",
                   help="recipe config overrides, after --")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectllm.plan import plan_recipe
    from affectllm.plan.report import as_dict, render

    if args.image_pixels is not None and args.image_pixels < 1:
        from affectllm.errors import InputError

        raise InputError(f"--image-pixels must be at least 1, got {args.image_pixels}")
    if args.gpus is not None and args.gpus < 1:
        from affectllm.errors import InputError

        raise InputError(f"--gpus must be at least 1, got {args.gpus}")
    plan = plan_recipe(args.config, accelerate_config=args.accelerate_config, gpus=args.gpus,
                       gpu_memory_gib=args.gpu_memory, completion_tokens=args.completion_tokens,
                       image_pixels=args.image_pixels, extra=args.overrides)
    print(json.dumps(as_dict(plan), indent=2) if args.json else render(plan))
    return 1 if args.strict and not plan.fits else 0
