"""The paper configs carry the released (Facial-R1) or reported (AffectGPT-R1) settings.

Each config is parsed as the recipes parse it (`affectllm.train.args.parse_args`, TRL's parser)
and compared with the values of RobitsG/Facial-R1 ``run_scripts/grpo_emotion.sh`` and
``run_scripts/sft_emotion.sh`` (what they leave unset: the defaults of that repo's
``trainer/grpo_config.py`` and of transformers). Non-paper configs use TRL's default loss.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from affectllm.launch import RECIPES_DIR
from rewards import build_rewards

ROOT = RECIPES_DIR.parent

#: grpo_emotion.sh: 8 GPUs, --per_device_train_batch_size 8 --gradient_accumulation_steps 4
#: --num_generations 8 --max_completion_length 256 --beta 0.0 --num_train_epochs 8
#: --use_vllm False --save_strategy epoch --logging_steps 1 --data_seed 42 --bf16; no
#: --learning_rate (GRPOConfig default 1e-6); sampling temperature 1 (trainer), top_k 50 /
#: top_p 1.0 (GenerationConfig); per-sequence loss averaging; ZeRO-3.
FACIAL_GRPO = {
    "per_device_train_batch_size": 8, "gradient_accumulation_steps": 4, "num_generations": 8,
    "max_completion_length": 256, "beta": 0.0, "num_train_epochs": 8.0, "use_vllm": False,
    "learning_rate": 1e-6, "lr_scheduler_type": "linear", "loss_type": "grpo",
    "scale_rewards": "group", "epsilon": 0.2, "num_iterations": 1, "temperature": 1.0,
    "top_k": 50, "top_p": 1.0, "save_strategy": "epoch", "logging_steps": 1, "seed": 42,
    "data_seed": 42, "bf16": True,
}
#: sft_emotion.sh: --learning_rate 5e-6 --num_train_epochs 2 (after 1: the last wins)
#: --per_device_train_batch_size 2 --gradient_accumulation_steps 2 --bf16 --logging_steps 5
#: --seed 42 --save_strategy epoch --eval_strategy no; --max_seq_length 2048 and --packing have
#: no effect there (skip_prepare_dataset + own collator): no truncation, no packing.
FACIAL_SFT = {
    "learning_rate": 5e-6, "num_train_epochs": 2.0, "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 2, "bf16": True, "logging_steps": 5, "seed": 42,
    "save_strategy": "epoch", "eval_strategy": "no", "max_length": None, "packing": False,
    "lr_scheduler_type": "linear", "warmup_steps": 0,
}
PAPER_IMAGE_BUDGET = {"min_pixels": 3136, "max_pixels": 12845056, "freeze_vision_tower": False}
VARIANT = "facial_r1"


def parse(config: str, kind: str):
    from trl import GRPOConfig, SFTConfig

    from affectllm.train.args import parse_args

    cls = GRPOConfig if kind == "grpo" else SFTConfig
    return parse_args(cls, ["--config", str(RECIPES_DIR / config), "--use_cpu", "true"])


def header(config: str) -> str:
    lines = (RECIPES_DIR / config).read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith("#"))


def processes(config: str) -> int:
    launch = (RECIPES_DIR / config).read_text().splitlines()[0]
    accelerate = re.search(r"--config_file (\S+)", launch).group(1)
    return yaml.safe_load((ROOT / accelerate).read_text())["num_processes"]


def check(obj, expected: dict) -> None:
    got = {k: getattr(obj, k) for k in expected}
    got = {k: (v.value if hasattr(v, "value") else v) for k, v in got.items()}  # enums
    assert got == expected


@pytest.mark.parametrize("config, rewards", [
    ("facial_r1/grpo.yaml", ["accuracy", "format"]),          # what grpo_emotion.sh passes
    ("facial_r1/grpo_au.yaml", ["au", "accuracy", "format"]),  # the paper's R_AU + R_acc + R_fmt
])
def test_facial_grpo_matches_released_run(config, rewards):
    script, training, model = parse(config, "grpo")
    check(training, FACIAL_GRPO)
    check(script, {**PAPER_IMAGE_BUDGET, "prompt": "facial"})
    assert model.model_name_or_path == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert model.dtype == "bfloat16"
    assert script.rewards == [{"name": n, "variant": VARIANT, "weight": 1.0} for n in rewards]
    suite = build_rewards(script.rewards)
    assert all("Facial-R1 paper variant" in f.__doc__ for f in suite.funcs)
    # 8 GPUs with ZeRO-3: 8 x 8 x 4 = 256 completions = 32 prompts x 8 rollouts per step
    assert processes(config) == 8
    assert "zero3.yaml" in (RECIPES_DIR / config).read_text().splitlines()[0]
    assert processes(config) * training.per_device_train_batch_size \
        * training.gradient_accumulation_steps // training.num_generations == 32


def test_facial_grpo_header_lists_the_deviations():
    text = header("facial_r1/grpo.yaml")
    for needed in ("learning_rate 1e-6", "2e-5", "loss_type grpo", "Deliberate deviations",
                   "AU-frequency weights", "GRPO_PROMPT", "grpo_fast.yaml", "grpo_au.yaml"):
        assert needed in text, needed
    assert "per-reward token mask" in header("facial_r1/grpo_au.yaml")


def test_facial_fast_config_is_the_non_paper_set_up():
    from trl import GRPOConfig

    script, training, _ = parse("facial_r1/grpo_fast.yaml", "grpo")
    trl_default = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}["loss_type"]
    assert training.loss_type == trl_default == "dapo"
    assert training.use_vllm and training.vllm_mode == "colocate"
    assert all("variant" not in r for r in script.rewards)
    assert "NOT the paper's" in header("facial_r1/grpo_fast.yaml")
    check(training, {k: FACIAL_GRPO[k] for k in ("per_device_train_batch_size",
                                                  "gradient_accumulation_steps",
                                                  "num_generations", "learning_rate",
                                                  "num_train_epochs")})


def test_facial_sft_matches_released_run():
    script, training, model = parse("facial_r1/sft.yaml", "sft")
    check(training, FACIAL_SFT)
    check(script, {**PAPER_IMAGE_BUDGET, "prompt": "facial"})
    assert model.model_name_or_path == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert processes("facial_r1/sft.yaml") == 8
    assert "zero3.yaml" in (RECIPES_DIR / "facial_r1/sft.yaml").read_text().splitlines()[0]
    text = header("facial_r1/sft.yaml")
    for needed in ("--max_seq_length 2048", "--packing", "skip_prepare_dataset",
                   "Deliberate deviations", "completion only"):
        assert needed in text, needed


def test_affectgpt_r1_configs_state_the_reported_variants():
    script, training, _ = parse("affectgpt_r1/grpo.yaml", "grpo")
    assert training.loss_type == "grpo"                           # the paper's GRPO
    assert [r["name"] for r in script.rewards] == ["ew", "format"]  # accuracy (EW) + format
    assert script.rewards[0]["length_penalty"] in ("p1", "p2", "p3")
    no_think, training_nt, _ = parse("affectgpt_r1/grpo_no_think.yaml", "grpo")
    assert [r["name"] for r in no_think.rewards] == ["ew"]
    assert "<think>" not in no_think.prompt and "<answer>" in no_think.prompt
    assert training_nt.loss_type == "grpo"
    cold, _, _ = parse("affectgpt_r1/sft_cold_start.yaml", "sft")
    assert "mer_caption_plus" in cold.dataset_train
    for config in ("grpo.yaml", "grpo_no_think.yaml", "sft_cold_start.yaml", "pipeline.yaml"):
        assert "arXiv:2508.01318" in header(f"affectgpt_r1/{config}"), config
    text = header("affectgpt_r1/grpo.yaml")
    for needed in ("MER-Caption+", "MER2025-OV", "accuracy + format", "p1", "p3",
                   "grpo_no_think.yaml", "affectllm's choices"):
        assert needed in text, needed
    stages = yaml.safe_load((RECIPES_DIR / "affectgpt_r1/pipeline.yaml").read_text())["stages"]
    assert [s["name"] for s in stages] == ["cold_start", "grpo", "eval"]


NON_PAPER_GRPO = sorted(p for d in ("models", "tiny", "quickstart")
                        for p in (RECIPES_DIR / d).rglob("*grpo*.yaml"))


@pytest.mark.parametrize("path", NON_PAPER_GRPO, ids=lambda p: str(p.relative_to(RECIPES_DIR)))
def test_non_paper_configs_use_trls_default_loss(path):
    from trl import GRPOConfig

    trl_default = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}["loss_type"]
    raw = yaml.safe_load(Path(path).read_text())
    assert raw["loss_type"] == trl_default
