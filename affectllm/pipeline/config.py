"""Pipeline files: a list of stages, each a kind with its recipe/config and overrides.

    # affectllm run recipes/facial_r1/pipeline.yaml
    name: facial-r1
    model: Qwen/Qwen2.5-VL-7B-Instruct       # input of the first stage that needs a model
    data: data/fea20k/data.jsonl              # training data of the first training stage
    accelerate_config: recipes/accelerate_configs/zero3.yaml   # default for training stages
    stages:
      - {name: sft, kind: sft, config: recipes/facial_r1/sft.yaml}
      - {name: grpo, kind: grpo, config: recipes/facial_r1/grpo.yaml,
         overrides: {max_steps: 2000},
         eval: {benchmark: facial, data: data/fea20k/test.jsonl}}   # evaluate this stage
      - {name: synth, kind: synth, config: recipes/synth/facial_r1.yaml, rounds: 1}
      - {name: eval, kind: eval, benchmark: facial, data: data/fea20k/test.jsonl}

Chaining (unless a stage sets `model` or `data` itself): every stage reads the model written by
the last training stage before it (the pipeline's `model` at first); a training stage reads the
corpus of the last synthesis stage before it (the pipeline's `data` at first).

A training stage with `eval: {benchmark, data, args}` is evaluated right after it trains (into
RUN/<stage>/eval/, with the prompt the model was trained with, read from its task file); each
evaluated stage and each eval stage is a row of the stage table in RUN/report.md.

Relative paths are resolved against the current directory when they exist there, else against
the pipeline file's directory, so `recipes/...` works from the repository root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectllm.errors import InputError
from affectllm.io import read_yaml

KINDS = ("sft", "grpo", "synth", "eval")
DEFAULT_RECIPES = {"sft": "sft", "grpo": "grpo_facial_r1"}
BENCHMARKS = ("facial", "mer-unibench", "emer")
TOP_KEYS = {"name", "model", "data", "data_root", "accelerate_config", "num_processes", "out",
            "stages"}
STAGE_KEYS = {"name", "kind", "recipe", "config", "overrides", "model", "data", "data_root",
              "accelerate_config", "num_processes", "rounds", "benchmark", "args", "resume",
              "eval"}
STAGE_EVAL_KEYS = {"benchmark", "data", "args"}


@dataclass
class Stage:
    name: str
    kind: str
    config: str | None = None
    recipe: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    data: str | None = None
    data_root: str | None = None
    accelerate_config: str | None = None
    num_processes: int | None = None
    rounds: int = 1
    benchmark: str = "facial"
    args: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] | None = None

    @property
    def trains(self) -> bool:
        return self.kind in ("sft", "grpo")


@dataclass
class Pipeline:
    name: str
    stages: list[Stage]
    model: str | None = None
    data: str | None = None
    data_root: str | None = None
    out: str | None = None
    source: str = ""

    def index(self, stage_name: str) -> int:
        for i, s in enumerate(self.stages):
            if s.name == stage_name:
                return i
        raise InputError(f"no stage named {stage_name!r}; stages: "
                         f"{', '.join(s.name for s in self.stages)}", path=self.source)


def _resolve(value: str | None, base: Path) -> str | None:
    """A path as given if it exists from the current directory, else relative to `base`; values
    that name nothing on disk (hub ids, `tiny:` specs) are kept as they are."""
    if value is None or Path(value).is_absolute() or Path(value).exists():
        return value
    candidate = base / value
    return str(candidate) if candidate.exists() else value


def _check_stage_eval(value: Any, name: str, kind: str, path: Path) -> None:
    """A training stage's `eval: {benchmark, data, args}`."""
    where = f"stage {name!r}: eval"
    if kind not in ("sft", "grpo"):
        raise InputError(f"{where}: only sft and grpo stages can be evaluated (use an eval stage)",
                         path=path)
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a mapping like {{benchmark: facial, data: ...}}, "
                         f"got {value!r}", path=path)
    bad = sorted(set(value) - STAGE_EVAL_KEYS)
    if bad:
        raise InputError(f"{where}: unknown key(s) {', '.join(bad)}; valid: "
                         f"{', '.join(sorted(STAGE_EVAL_KEYS))}", path=path)
    if not value.get("data"):
        raise InputError(f"{where} needs 'data'", path=path)
    if value.get("benchmark", "facial") not in BENCHMARKS:
        raise InputError(f"{where}: benchmark must be one of {', '.join(BENCHMARKS)}", path=path)
    if not isinstance(value.get("args", {}), dict):
        raise InputError(f"{where}: args must be a mapping", path=path)


def load_pipeline(path: str | Path, overrides: dict[str, Any] | None = None) -> Pipeline:
    """Read and check a pipeline file; `overrides` replace top-level keys (model, data, out)."""
    path = Path(path)
    raw = {**read_yaml(path), **{k: v for k, v in (overrides or {}).items() if v is not None}}
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(TOP_KEYS))}",
                         path=path)
    base = path.parent
    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw:
        raise InputError("'stages' must be a non-empty list", path=path)
    defaults = {k: raw.get(k) for k in ("accelerate_config", "num_processes")}
    stages, seen = [], set()
    for i, entry in enumerate(stages_raw, start=1):
        where = f"stage {i}"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a mapping, got {entry!r}", path=path)
        bad = sorted(set(entry) - STAGE_KEYS)
        if bad:
            raise InputError(f"{where}: unknown key(s) {', '.join(bad)}; valid: "
                             f"{', '.join(sorted(STAGE_KEYS))}", path=path)
        kind = entry.get("kind")
        if kind not in KINDS:
            raise InputError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}",
                             path=path)
        name = str(entry.get("name") or kind)
        if name in seen:
            raise InputError(f"{where}: duplicate stage name {name!r}", path=path)
        seen.add(name)
        if kind in ("sft", "grpo", "synth") and not entry.get("config"):
            raise InputError(f"stage {name!r}: a {kind} stage needs 'config'", path=path)
        if kind == "eval" and entry.get("benchmark", "facial") not in BENCHMARKS:
            raise InputError(f"stage {name!r}: benchmark must be one of {', '.join(BENCHMARKS)}",
                             path=path)
        if "eval" in entry:
            _check_stage_eval(entry["eval"], name, kind, path)
        stage = Stage(name=name, kind=kind, **{k: v for k, v in entry.items()
                                                if k not in ("name", "kind", "resume")})
        for key, value in defaults.items():
            if getattr(stage, key) is None and stage.trains:
                setattr(stage, key, value)
        stage.config = _resolve(stage.config, base)
        stage.accelerate_config = _resolve(stage.accelerate_config, base)
        stage.data = _resolve(stage.data, base)
        if stage.eval is not None:
            stage.eval = {"benchmark": "facial", "args": {}, **stage.eval}
            stage.eval["data"] = _resolve(str(stage.eval["data"]), base)
        if stage.trains:
            stage.recipe = stage.recipe or DEFAULT_RECIPES[kind]
        for key in ("config", "accelerate_config"):
            value = getattr(stage, key)
            if value is not None and not Path(value).is_file():
                raise InputError(f"stage {name!r}: {key} {value!r} not found", path=path)
        stages.append(stage)
    return Pipeline(name=str(raw.get("name") or path.stem), stages=stages,
                    model=_resolve(raw.get("model"), base), data=_resolve(raw.get("data"), base),
                    data_root=raw.get("data_root"), out=raw.get("out"), source=str(path))
