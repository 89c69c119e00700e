"""`affectllm env`: versions, devices and which optional backends import, for bug reports."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import platform
import sys

from affectllm import __version__

PACKAGES = ("torch", "torchvision", "transformers", "trl", "peft", "accelerate", "datasets",
            "tokenizers", "qwen_vl_utils", "PIL")
OPTIONAL = {"deepspeed": "deepspeed", "bitsandbytes": "quant", "vllm": "vllm",
            "flash_attn": "flash", "openpyxl": "convert"}


def _version(module_name: str) -> str | None:
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # deepspeed prints on import
            module = importlib.import_module(module_name)
    except Exception as e:  # an optional backend may fail for reasons other than absence
        return None if isinstance(e, ImportError) else f"error: {type(e).__name__}: {e}"
    return getattr(module, "__version__", "installed")


def collect() -> dict:
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
        if torch.cuda.is_available() else []
    return {
        "affectllm": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda_build": torch.version.cuda,
        "gpus": gpus,
        "packages": {name: _version(name) for name in PACKAGES},
        "optional": {name: {"version": _version(name), "extra": extra}
                     for name, extra in OPTIONAL.items()},
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("env", help="print versions, devices and optional backends",
                              description="Print versions, GPUs and which optional backends "
                                          "(deepspeed, bitsandbytes, vllm, flash-attn) import.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"affectllm {info['affectllm']}  python {info['python']}  {info['platform']}")
    print(f"CPUs: {info['cpu_count']}  CUDA available: {info['cuda_available']} "
          f"(torch built for CUDA {info['torch_cuda_build']})  GPUs: {info['gpus'] or 'none'}")
    for name, version in info["packages"].items():
        print(f"  {name:<14} {version or 'MISSING'}")
    print("optional backends:")
    for name, entry in info["optional"].items():
        state = entry["version"] or f"not installed (pip install 'affectllm[{entry['extra']}]')"
        print(f"  {name:<14} {state}")
    return 0
