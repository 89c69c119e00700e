"""The synthesis config: one YAML file, checked once, with errors that name the file and the key.

    # recipes/synth/facial_r1.yaml (every key but `data` and `accept` has a default)
    data: data/fea20k/train.jsonl          # canonical samples JSONL, or "toyfaces:N"
    data_root: null                        # default: the data root of `data` (schema.data_root)
    model: Qwen/Qwen2.5-VL-7B-Instruct     # or --model; "tiny:ARCH[:SIZE]" builds OUT/base_model
    backend: auto                          # auto | hf | vllm
    backend_options: {batch_size: 8}       # passed to make_backend (unknown ones are dropped)
    cpu_threads: null                      # torch threads on a CPU (generation and retrain)
    pixels: {min_pixels: null, max_pixels: null}
    out: null                              # default runs/synth/<config file stem>; or --out
    rounds: 1                              # or --rounds
    seed: 0
    prompt: facial                         # a named task prompt, literal text, null (question),
                                           # or model (absent: the same): the prompt recorded in
                                           # the model folder (affectllm_task.json), else null
    system: null                           # absent: the model's recorded system prompt
    video: null                            # {mode: frames|native, fps: 2.0, max_frames: 8};
                                           # null: the model's recorded sampling, else frames
    hint: "Your analysis must identify these Action Units: {aus}. The final answer must be: {answer}."
    rewards: [au, accuracy, format]        # rewards to score with (default: those named in accept)
    accept: {au: "== 1.0", accuracy: "== 1", format: "== 1"}   # or ["au == 1.0", ...]
    n: 4                                   # candidates per item and attempt
    max_retries: 2                         # attempts after the first, with feedback
    sampling: {temperature: 1.0, top_p: 1.0, top_k: 0, max_new_tokens: 512, repetition_penalty: 1.0}
    select: pending                        # pending: items not yet in the corpus; all: every item
    limit: null                            # use only the first N input items
    seed_corpus: null                      # canonical JSONL the corpus starts from (e.g. the
                                           # human-annotated subset): kept ahead of every
                                           # accepted sample, never re-synthesized, retrained on
    chunk_size: 64                         # items per generation chunk = the unit of resumption
    dedup: {by_id: first, by_text: true}   # by_id: first | latest
    media: copy                            # copy | link: how OUT/media gets the accepted media
    retrain: null                          # or {config: recipes/.../sft.yaml, recipe: sft,
                                           #     from: base|previous, overrides: {...},
                                           #     accelerate_config: null, num_processes: null,
                                           #     enabled: true}
    engine: local                          # local | ray (or --engine): chunks on Ray replicas
    ray: {address: local, replicas: 1, gpus_per_replica: 0, cpus_per_replica: 1}
                                           # + num_cpus, max_restarts, max_task_retries,
                                           #   object_store_memory (affectllm.distributed)

Acceptance rules: `data_synthesis.acceptance`. Retrain: `data_synthesis.retrain`. Output layout and
resumption: `data_synthesis.loop`; a resumed run must use the same config (only `rounds` and `out`
may differ).

Hint placeholders: ``{aus}`` (``AU4 (brow lowerer), AU5 (upper lid raiser)``; ``none`` when the item
has no AU), ``{au_codes}`` (``AU4, AU5``), ``{answer}`` (the item's answer, else its first label,
else its open-set words), ``{labels}``, ``{openset}``.

Relative paths (data, data_root, retrain.config, retrain.accelerate_config) are taken from the
current directory when they exist there, else from the config file's folder, like pipeline files.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from affectllm.distributed import ENGINES
from affectllm.errors import InputError
from affectllm.generation import BACKENDS
from affectllm.io import read_yaml
from data_synthesis.acceptance import Rule, parse_rules

SELECT_MODES = ("pending", "all")
KEEP_POLICIES = ("first", "latest")
RETRAIN_FROM = ("base", "previous")
MEDIA_MODES = ("copy", "link")
HINT_FIELDS = ("aus", "au_codes", "answer", "labels", "openset")

TOP_KEYS = {"data", "data_root", "model", "backend", "backend_options", "cpu_threads", "pixels",
            "video", "out", "rounds", "seed", "prompt", "system", "hint", "rewards", "accept", "n",
            "max_retries", "sampling", "select", "limit", "seed_corpus", "chunk_size", "dedup", "media",
            "retrain", "engine", "ray"}
SAMPLING_KEYS = {"temperature", "top_p", "top_k", "max_new_tokens", "repetition_penalty"}
DEDUP_KEYS = {"by_id", "by_text"}
RETRAIN_KEYS = {"enabled", "recipe", "config", "from", "overrides", "accelerate_config",
                "num_processes"}
PIXEL_KEYS = {"min_pixels", "max_pixels"}
VIDEO_KEYS = {"mode", "fps", "max_frames"}
#: `prompt` value (and default) meaning "the prompt recorded in the model folder".
MODEL_PROMPT = "model"


@dataclass
class SamplingConfig:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 512
    repetition_penalty: float = 1.0


@dataclass
class DedupConfig:
    by_id: str = "first"
    by_text: bool = True


@dataclass
class RetrainConfig:
    config: str | None = None
    recipe: str = "sft"
    base: str = "base"  # `from` in YAML: train the base model or the previous round's model
    overrides: dict[str, Any] = field(default_factory=dict)
    accelerate_config: str | None = None
    num_processes: int | None = None


@dataclass
class SynthConfig:
    """A checked synthesis config. `source` is the YAML file it came from (for error messages)."""

    data: str
    accept: list[Rule]
    source: str = "<config>"
    data_root: str | None = None
    model: str | None = None
    backend: str = "auto"
    backend_options: dict[str, Any] = field(default_factory=dict)
    cpu_threads: int | None = None
    pixels: dict[str, int | None] = field(default_factory=dict)
    video: dict[str, Any] | None = None
    out: str | None = None
    rounds: int = 1
    seed: int = 0
    prompt: str | None = None
    system: str | None = None
    #: True when the config sets no `system`: the model's recorded system prompt is used.
    system_from_model: bool = False
    hint: str | None = None
    rewards: list[Any] = field(default_factory=list)
    n: int = 4
    max_retries: int = 2
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    select: str = "pending"
    limit: int | None = None
    seed_corpus: str | None = None
    chunk_size: int = 64
    dedup: DedupConfig = field(default_factory=DedupConfig)
    media: str = "copy"
    retrain: RetrainConfig | None = None
    #: ``local`` (this process) or ``ray`` (chunks on Ray replicas, `data_synthesis.engine`).
    engine: str = "local"
    #: the ``ray:`` mapping, checked (`affectllm.distributed.RaySettings` fields).
    ray: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain YAML-able data (rules written back as strings)."""
        d = asdict(self)
        d["accept"] = [str(r) for r in self.accept]
        if self.retrain is not None:
            d["retrain"]["from"] = d["retrain"].pop("base")
        return d

    def identity(self) -> dict[str, Any]:
        """What must not change when a run is resumed: everything except the round count, the
        output folder and the file the config was read from."""
        d = self.to_dict()
        for key in ("rounds", "out", "source", "engine", "ray"):  # the engine changes no result
            d.pop(key)
        return d


# --------------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | Path, overrides: dict[str, Any] | None = None,
                ray: dict[str, Any] | None = None) -> SynthConfig:
    """Read and check a synthesis config; `overrides` (from the CLI, None values ignored) replace
    top-level keys before checking, `ray` keys of the ``ray:`` mapping. Raises InputError naming
    the file and the key."""
    path = Path(path)
    raw = read_yaml(path)
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if ray:
        raw["ray"] = {**(raw.get("ray") or {}), **ray}
    return parse_config(raw, source=path)


def parse_config(raw: dict[str, Any], source: str | Path = "<config>") -> SynthConfig:
    """Check a config mapping (see the module docstring)."""
    src = Path(source)
    check = _Checker(str(source))
    check.known(raw, TOP_KEYS, "")
    for key in ("data", "accept"):
        if raw.get(key) in (None, "", [], {}):
            check.fail(key, "missing required key")
    accept = _rules(raw["accept"], check)
    rewards = raw.get("rewards") or [r.reward for r in accept]
    _check_rewards(rewards, accept, check)
    cfg = SynthConfig(
        data=_input_path(raw["data"], src, check, "data"),
        accept=accept,
        source=str(source),
        data_root=_optional_path(raw.get("data_root"), src, "data_root", check, must_exist=True),
        model=check.text(raw, "model"),
        backend=check.choice(raw, "backend", BACKENDS, "auto"),
        backend_options=check.mapping(raw, "backend_options"),
        cpu_threads=check.integer(raw, "cpu_threads", None, minimum=1),
        pixels=_pixels(raw, check),
        video=_video(raw, check),
        out=check.text(raw, "out"),
        rounds=check.integer(raw, "rounds", 1, minimum=0),
        seed=check.integer(raw, "seed", 0),
        prompt=check.text(raw, "prompt") if "prompt" in raw else MODEL_PROMPT,
        system=check.text(raw, "system"),
        system_from_model="system" not in raw,
        hint=_hint(raw, check),
        rewards=list(rewards),
        n=check.integer(raw, "n", 4, minimum=1),
        max_retries=check.integer(raw, "max_retries", 2, minimum=0),
        sampling=_sampling(raw, check),
        select=check.choice(raw, "select", SELECT_MODES, "pending"),
        limit=check.integer(raw, "limit", None, minimum=1),
        seed_corpus=_seed_corpus(raw.get("seed_corpus"), src, check),
        chunk_size=check.integer(raw, "chunk_size", 64, minimum=1),
        dedup=_dedup(raw, check),
        media=check.choice(raw, "media", MEDIA_MODES, "copy"),
        retrain=_retrain(raw, src, check),
        engine=check.choice(raw, "engine", ENGINES, "local"),
        ray=_ray(raw, check),
    )
    return cfg


def _ray(raw: dict, check: _Checker) -> dict[str, Any]:
    from affectllm.distributed import ray_settings  # Ray itself is imported only to run

    try:
        return ray_settings(check.mapping(raw, "ray")).as_dict()
    except InputError as e:
        raise InputError(e.reason, path=check.source) from None


class _Checker:
    """Typed access to YAML values; every failure is an InputError naming the file and key."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, reason: str) -> None:
        raise InputError(f"key {key!r}: {reason}", path=self.source)

    def known(self, mapping: Any, allowed: set[str], prefix: str) -> None:
        if not isinstance(mapping, dict):
            self.fail(prefix.rstrip(".") or "<top level>", "expected a mapping")
        unknown = sorted(set(mapping) - allowed)
        if unknown:
            self.fail(prefix + unknown[0], f"unknown key; valid keys: {', '.join(sorted(allowed))}")

    def text(self, raw: dict, key: str, name: str | None = None) -> str | None:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            self.fail(name or key, f"expected a string, got {value!r}")
        return value

    def integer(self, raw: dict, key: str, default: int | None, minimum: int | None = None,
                name: str | None = None) -> int | None:
        value = raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name or key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(name or key, f"must be at least {minimum}, got {value}")
        return value

    def number(self, raw: dict, key: str, default: float, name: str) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(name, f"expected a number, got {value!r}")
        return float(value)

    def choice(self, raw: dict, key: str, choices: tuple[str, ...], default: str,
               name: str | None = None) -> str:
        value = raw.get(key, default)
        if value not in choices:
            self.fail(name or key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def mapping(self, raw: dict, key: str) -> dict:
        value = raw.get(key) or {}
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping, got {value!r}")
        return dict(value)


def _rules(spec: Any, check: _Checker) -> list[Rule]:
    try:
        return parse_rules(spec)
    except ValueError as e:
        check.fail("accept", str(e))
    raise AssertionError  # unreachable


def _check_rewards(rewards: Any, accept: list[Rule], check: _Checker) -> None:
    from rewards import REWARDS, build_rewards

    for rule in accept:  # before building: with `rewards` unset the names come from `accept`
        base = re.sub(r"_\d+$", "", rule.reward)
        if rule.reward not in REWARDS and base not in REWARDS:
            check.fail(f"accept.{rule.reward}",
                       f"unknown reward {rule.reward!r}; valid rewards: {', '.join(REWARDS)}")
    if not isinstance(rewards, list):
        check.fail("rewards", "expected a list of reward names or {name: ..., ...} entries")
    try:
        names = [f.__name__ for f in build_rewards(rewards).funcs]
    except ValueError as e:
        check.fail("rewards", str(e))
    for rule in accept:
        if rule.reward not in names:
            check.fail(f"accept.{rule.reward}", f"reward {rule.reward!r} is not among the scored "
                       f"rewards ({', '.join(names)}): add it to 'rewards'")


def _resolve(value: str, src: Path) -> Path:
    """A config path: as given when it exists from the current directory, else next to the file."""
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists() or not src.parent.exists():
        return p.resolve()
    beside = src.parent / p
    return beside.resolve() if beside.exists() else p.resolve()


def _input_path(value: Any, src: Path, check: _Checker, key: str) -> str:
    if not isinstance(value, str):
        check.fail(key, f"expected a path, got {value!r}")
    if value.startswith("toyfaces:"):
        count = value.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            check.fail(key, f"expected toyfaces:N with N >= 1, got {value!r}")
        return value
    path = _resolve(value, src)
    if not path.is_file():
        check.fail(key, f"input file not found: {value}{_looked_in(value, src)}")
    return str(path)


def _seed_corpus(value: Any, src: Path, check: _Checker) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.startswith("toyfaces:"):
        check.fail("seed_corpus", f"expected a canonical JSONL file, got {value!r}")
    return _input_path(value, src, check, "seed_corpus")


def _optional_path(value: Any, src: Path, key: str, check: _Checker,
                   must_exist: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        check.fail(key, f"expected a path, got {value!r}")
    path = _resolve(value, src)
    if must_exist and not path.exists():
        check.fail(key, f"not found: {value}{_looked_in(value, src)}")
    return str(path)


def _looked_in(value: str, src: Path) -> str:
    if Path(value).expanduser().is_absolute():
        return ""
    return f" (looked in {Path.cwd()} and in {src.parent.resolve()})"


def _hint(raw: dict, check: _Checker) -> str | None:
    hint = check.text(raw, "hint")
    if hint is None:
        return None
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(hint) if f is not None}
    except ValueError as e:
        check.fail("hint", f"malformed template: {e}")
    unknown = sorted(fields - set(HINT_FIELDS))
    if unknown:
        check.fail("hint", f"unknown placeholder {{{unknown[0]}}}; valid: "
                   + ", ".join(f"{{{f}}}" for f in HINT_FIELDS))
    return hint


def _sampling(raw: dict, check: _Checker) -> SamplingConfig:
    spec = raw.get("sampling") or {}
    check.known(spec, SAMPLING_KEYS, "sampling.")
    d = SamplingConfig()
    out = SamplingConfig(
        temperature=check.number(spec, "temperature", d.temperature, "sampling.temperature"),
        top_p=check.number(spec, "top_p", d.top_p, "sampling.top_p"),
        top_k=check.integer(spec, "top_k", d.top_k, minimum=0, name="sampling.top_k"),
        max_new_tokens=check.integer(spec, "max_new_tokens", d.max_new_tokens, minimum=1,
                                     name="sampling.max_new_tokens"),
        repetition_penalty=check.number(spec, "repetition_penalty", d.repetition_penalty,
                                        "sampling.repetition_penalty"))
    if out.temperature < 0:
        check.fail("sampling.temperature", "must be >= 0")
    return out


def _pixels(raw: dict, check: _Checker) -> dict[str, int | None]:
    spec = raw.get("pixels") or {}
    check.known(spec, PIXEL_KEYS, "pixels.")
    return {k: check.integer(spec, k, None, minimum=1, name=f"pixels.{k}") for k in sorted(spec)}


def _video(raw: dict, check: _Checker) -> dict[str, Any] | None:
    from affectllm.video import VIDEO_MODES, VideoSampling

    spec = raw.get("video")
    if spec is None:
        return None
    check.known(spec, VIDEO_KEYS, "video.")
    out = {"mode": check.choice(spec, "mode", VIDEO_MODES, "frames", name="video.mode"),
           "fps": check.number(spec, "fps", 2.0, name="video.fps"),
           "max_frames": check.integer(spec, "max_frames", 8, minimum=1,
                                       name="video.max_frames")}
    try:
        VideoSampling(**out)
    except InputError as e:
        check.fail("video", e.reason)
    return out


def _dedup(raw: dict, check: _Checker) -> DedupConfig:
    spec = raw.get("dedup") or {}
    check.known(spec, DEDUP_KEYS, "dedup.")
    by_text = spec.get("by_text", True)
    if not isinstance(by_text, bool):
        check.fail("dedup.by_text", f"expected true or false, got {by_text!r}")
    return DedupConfig(by_id=check.choice(spec, "by_id", KEEP_POLICIES, "first", "dedup.by_id"),
                       by_text=by_text)


def _retrain(raw: dict, src: Path, check: _Checker) -> RetrainConfig | None:
    spec = raw.get("retrain")
    if spec in (None, False):
        return None
    check.known(spec, RETRAIN_KEYS, "retrain.")
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        check.fail("retrain.enabled", f"expected true or false, got {enabled!r}")
    if not enabled:
        return None
    if not spec.get("config"):
        check.fail("retrain.config", "missing required key (the SFT recipe's YAML config)")
    overrides = spec.get("overrides") or {}
    if not isinstance(overrides, dict):
        check.fail("retrain.overrides", f"expected a mapping, got {overrides!r}")
    recipe = check.text(spec, "recipe", "retrain.recipe") or "sft"
    return RetrainConfig(
        config=_optional_path(spec["config"], src, "retrain.config", check, must_exist=True),
        recipe=recipe,
        base=check.choice(spec, "from", RETRAIN_FROM, "base", "retrain.from"),
        overrides=dict(overrides),
        accelerate_config=_optional_path(spec.get("accelerate_config"), src,
                                         "retrain.accelerate_config", check, must_exist=True),
        num_processes=check.integer(spec, "num_processes", None, minimum=1,
                                    name="retrain.num_processes"))
