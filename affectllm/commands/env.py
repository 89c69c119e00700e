"""`affectllm env`: versions, devices and which optional backends import, for bug reports."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import io
import json
import os
import platform
import sys
from collections.abc import Iterable

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


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def vllm_range_problem(vllm_version: str | None, trl_version: str | None,
                       trl_requires: Iterable[str] | None) -> str | None:
    """A problem line when `vllm_version` lies outside the vLLM range that TRL (`trl_requires`:
    its requirement lines, ``importlib.metadata.requires("trl")``) declares for its ``vllm``
    extra; None when it lies inside, or vLLM / TRL / the range is absent."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    if vllm_version is None or not trl_requires:
        return None
    for line in trl_requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower() != "vllm" or req.marker is None \
                or not req.marker.evaluate({"extra": "vllm"}):
            continue
        try:
            inside = req.specifier.contains(Version(vllm_version), prereleases=True)
        except InvalidVersion:
            inside = False
        if not inside:
            return (f"vllm {vllm_version} is outside the range TRL {trl_version} supports "
                    f"(vllm{req.specifier}); reinstall with pip install 'affectllm[vllm]'")
    return None


def problems() -> list[str]:
    """Installed versions that do not work together."""
    trl_requires = None
    if _dist_version("trl") is not None:
        trl_requires = importlib.metadata.requires("trl")
    found = vllm_range_problem(_dist_version("vllm"), _dist_version("trl"), trl_requires)
    return [found] if found else []


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
        "problems": problems(),
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("env", help="print versions, devices and optional backends",
                              description="Print versions, GPUs, which optional backends "
                                          "(deepspeed, bitsandbytes, vllm, flash-attn) import, "
                                          "and installed versions that do not work together "
                                          "(a vLLM outside the range TRL supports).")
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
    print("problems:" if info["problems"] else "problems: none")
    for problem in info["problems"]:
        print(f"  {problem}")
    return 0
