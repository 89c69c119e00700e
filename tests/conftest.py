"""Shared fixtures: tiny models of every family and a small toy-faces data set, built once per
test session into a temporary directory (nothing is downloaded)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """`tiny_model(arch="qwen2_5_vl", size="tiny") -> Path` of a saved random-weight model."""
    from affectllm.tiny import save_tiny_model

    cache: dict[tuple[str, str], Path] = {}

    def get(arch: str = "qwen2_5_vl", size: str = "tiny") -> Path:
        key = (arch, size)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"tiny_{arch}_{size}")
            save_tiny_model(out, arch, size)
            cache[key] = out
        return cache[key]

    return get


def run_cli(*args: str, cwd: str | Path | None = None, timeout: int = 600, env: dict | None = None):
    """Run the real `affectllm` CLI in a subprocess; returns CompletedProcess (text)."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "affectllm.cli", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.fixture
def cli():
    return run_cli
