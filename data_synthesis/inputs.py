"""The run's inputs: the items to synthesize for, their data root, and the base model.

Two shorthands make a CPU run self-contained (nothing to prepare, nothing downloaded):

- ``model: tiny:ARCH[:SIZE]`` (e.g. ``tiny:qwen2_5_vl``): a random-weight tiny model
  (`affectllm.tiny`) built into ``OUT/base_model`` unless it is there already;
- ``data: toyfaces:N``: N procedural faces (`affectllm.data.toyfaces`) rendered into
  ``OUT/toyfaces`` unless there already; the items are its train split.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from affectllm.data.schema import data_root as data_root_of
from affectllm.data.schema import load_samples
from affectllm.errors import InputError

BASE_MODEL_DIR = "base_model"
TOYFACES_DIR = "toyfaces"


def check_model(spec: str, source: str | Path | None) -> None:
    """A model the loop can load (a supported family, a readable config), checked before the run
    writes anything, so a wrong model never leaves a half-started run behind."""
    from affectllm.models import check_supported, model_type_of

    try:
        check_supported(model_type_of(spec))
    except InputError as e:
        raise InputError(f"key 'model': {e}", path=source) from None


def resolve_model(spec: str | None, out: Path, seed: int, source: str) -> Path | str:
    """The base model's path (or hub id): ``tiny:...`` is built into OUT/base_model if absent."""
    if not spec:
        raise InputError("key 'model': no model given (set 'model' in the config or pass --model)",
                         path=source)
    if not spec.startswith("tiny:"):
        check_model(spec, source)
        return Path(spec).resolve() if Path(spec).exists() else spec
    from affectllm.tiny import ARCHS, SIZES, save_tiny_model

    parts = spec.split(":")
    arch = parts[1] if len(parts) > 1 else ""
    size = parts[2] if len(parts) > 2 else "tiny"
    if len(parts) > 3 or arch not in ARCHS or size not in SIZES:
        raise InputError(f"key 'model': expected tiny:ARCH[:SIZE] with ARCH one of "
                         f"{', '.join(ARCHS)} and SIZE one of {', '.join(SIZES)}, got {spec!r}",
                         path=source)
    target = out / BASE_MODEL_DIR
    if not (target / "config.json").is_file():
        staging = out / f".{BASE_MODEL_DIR}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        save_tiny_model(staging, arch, size, seed)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return target.resolve()


def resolve_data(spec: str, data_root: str | None, out: Path, seed: int) -> tuple[Path, Path]:
    """(items JSONL, data root): ``toyfaces:N`` is rendered into OUT/toyfaces if absent."""
    if spec.startswith("toyfaces:"):
        from affectllm.data.toyfaces import generate_toyfaces

        folder = out / TOYFACES_DIR
        path = folder / "train.jsonl"
        if not path.is_file():
            generate_toyfaces(folder, n=int(spec.split(":", 1)[1]), seed=seed)
        return path.resolve(), folder.resolve()
    path = Path(spec)
    return path, Path(data_root).resolve() if data_root else data_root_of(path)


def load_items(path: Path, limit: int | None) -> list[dict]:
    """The input samples (first `limit` when given); ids must be unique."""
    items = load_samples(path)
    if limit is not None:
        items = items[:limit]
    seen: set[str] = set()
    for item in items:
        if item["id"] in seen:
            raise InputError(f"duplicate sample id {item['id']!r}: synthesis needs unique ids",
                             path=path)
        seen.add(item["id"])
    return items


def model_label(model: Path | str, out: Path) -> str:
    """A model as recorded in samples and stats: relative to OUT when it lives there, so two runs
    in different folders write the same corpus."""
    if isinstance(model, Path):
        try:
            return model.resolve().relative_to(out.resolve()).as_posix()
        except ValueError:
            return str(model)
    return model


def load_seed_corpus(path: str | Path) -> tuple[list[dict], Path]:
    """The `seed_corpus` samples (unique ids) and the data root their media are relative to."""
    path = Path(path)
    return load_items(path, None), data_root_of(path)
