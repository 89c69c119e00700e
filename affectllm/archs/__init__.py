"""Architecture configs of the supported checkpoints, shipped with the package for planning.

Each ``<name>.json`` holds the architecture hyperparameters of the published ``config.json`` of
one Hub checkpoint (``Qwen/Qwen2.5-VL-7B-Instruct`` -> ``Qwen2.5-VL-7B-Instruct.json``); see
NOTICE for the sources and the published parameter counts. They let ``affectllm plan`` build the
real architecture on the meta device when the Hub cannot be reached; they hold no weights, so
training and evaluation still need the real checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARCHS_DIR = Path(__file__).resolve().parent

#: Hub id -> parameter count on the model card (safetensors metadata), for the 1% check.
PUBLISHED_PARAMS: dict[str, float] = {
    "Qwen/Qwen2-VL-2B-Instruct": 2.21e9,
    "Qwen/Qwen2-VL-7B-Instruct": 8.29e9,
    "Qwen/Qwen2.5-VL-3B-Instruct": 3.75e9,
    "Qwen/Qwen2.5-VL-7B-Instruct": 8.29e9,
    "Qwen/Qwen3-VL-8B-Instruct": 8.77e9,
    "llava-hf/llava-1.5-7b-hf": 7.06e9,
    "llava-hf/llava-onevision-qwen2-7b-ov-hf": 8.03e9,
}


def packaged_ids() -> list[str]:
    """Hub ids with a packaged architecture config."""
    return sorted(PUBLISHED_PARAMS)


def packaged_config(hub_id: str) -> dict[str, Any] | None:
    """The packaged ``config.json`` mapping of `hub_id` (matched without case), or None."""
    for known in PUBLISHED_PARAMS:
        if known.lower() == hub_id.strip().lower():
            return json.loads((ARCHS_DIR / (known.split("/")[1] + ".json")).read_text())
    return None
