"""`affectllm plan`: real architectures on the meta device, the recipes' LoRA and freezing, and the
memory estimate per GPU.

Every shipped real-size recipe YAML is planned offline from the packaged architecture configs:
the parameter count equals the published model size within 1%, the LoRA regex reaches every
target in the language model and nothing in the vision tower or projector, a frozen vision tower
has no trainable parameter, and the config fits the 8 x 80 GiB it is written for.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from affectllm.archs import PUBLISHED_PARAMS, packaged_config
from affectllm.cli import main as cli_main
from affectllm.launch import RECIPES_DIR
from affectllm.models import LORA_TARGETS, model_part
from affectllm.plan import plan_recipe
from affectllm.plan.memory import GIB, estimate
from affectllm.plan.report import render

REAL_DIRS = ("facial_r1", "affectgpt_r1", "models")
REAL_YAMLS = sorted(p for d in REAL_DIRS for p in (RECIPES_DIR / d).rglob("*.yaml")
                    if "stages" not in (yaml.safe_load(p.read_text()) or {}))
_PLANS: dict = {}
REPO = Path(__file__).resolve().parents[1]


#: Face crops of FEA-20K style data (448 x 448): the real-size configs are planned for these,
#: not for the largest image their pixel budget would admit (upstream's 12.8 Mpx default).
FACE_PIXELS = 448 * 448


def planned(path):
    if path not in _PLANS:
        _PLANS[path] = plan_recipe(path, image_pixels=FACE_PIXELS)
    return _PLANS[path]


@pytest.mark.parametrize("hub_id", sorted(PUBLISHED_PARAMS))
def test_packaged_architecture_has_published_size(hub_id):
    from transformers import AutoConfig

    from affectllm.plan.model import build_meta_model

    model = build_meta_model(AutoConfig.for_model(**packaged_config(hub_id)), "bfloat16")
    total = sum(p.numel() for p in model.parameters())
    assert abs(total - PUBLISHED_PARAMS[hub_id]) / PUBLISHED_PARAMS[hub_id] < 0.01, total
    assert next(model.parameters()).device.type == "meta"


@pytest.mark.parametrize("path", REAL_YAMLS, ids=lambda p: str(p.relative_to(RECIPES_DIR)))
def test_real_size_recipe_plan(path):
    raw = yaml.safe_load(path.read_text())
    plan = planned(path)
    m = plan.model
    assert m.config_source.startswith("packaged")  # offline: nothing read from the Hub
    published = PUBLISHED_PARAMS[raw["model_name_or_path"]]
    assert abs(m.base_total - published) / published < 0.01
    if raw.get("use_peft"):
        assert set(m.lora_by_target()) == set(LORA_TARGETS)
        assert {model_part(m.model_type, name) for name in m.lora_modules} == {"language"}
        assert m.by_part["vision"][1] == m.by_part["projector"][1] == 0
    else:
        assert not m.lora_modules
        assert m.by_part["language"][1] == m.by_part["language"][0]
    if raw.get("freeze_vision_tower", True):
        assert m.by_part["vision"][1] == 0 and m.by_part["vision"][0] > 1e8
    if raw.get("load_in_4bit"):
        assert m.quantised > 0.7 * m.base_total
    assert not plan.problems
    assert plan.launch.gpus == 8 and plan.fits, render(plan)
    weights = plan.estimate.rows[0]
    assert weights.name == "weights" and 0 < weights.bytes < plan.estimate.peak_bytes


def test_done_when_command_offline(cli):
    result = cli("plan", "--config", "recipes/facial_r1/grpo.yaml", "--gpus", "8",
                 "--gpu-memory", "80", env={"HF_HUB_OFFLINE": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Qwen/Qwen2.5-VL-7B-Instruct (qwen2_5_vl), GRPO" in out
    assert "DeepSpeed ZeRO-3, 8 GPU(s) of 80 GiB" in out  # the released Facial-R1 launch
    for row in ("weights", "gradients + optimizer states", "activations", "peak (estimated)"):
        assert row in out
    assert "DOES NOT FIT" in out and "the knob that helps most" in out  # at 12.8 Mpx images
    faces = cli("plan", "--config", "recipes/facial_r1/grpo.yaml", "--gpus", "8",
                "--gpu-memory", "80", "--image-pixels", str(FACE_PIXELS),
                env={"HF_HUB_OFFLINE": "1"}, timeout=300)
    assert faces.returncode == 0 and "fits:" in faces.stdout, faces.stdout + faces.stderr


def test_zero_model_states_are_deepspeeds():
    """ZeRO-2: 16-bit weights of every parameter + 18 bytes per trainable parameter over N GPUs
    (DeepSpeed's multipliers); ZeRO-3 shards the weights too, so per-GPU memory falls with N."""
    path = RECIPES_DIR / "models" / "qwen2_5_vl_3b" / "grpo.yaml"  # launched with ZeRO-2
    plan = planned(path)
    m = plan.model
    rows = {r.name: r.bytes for r in plan.estimate.rows}
    assert rows["weights"] == pytest.approx(2 * m.total, rel=1e-6)
    assert rows["gradients + optimizer states"] == pytest.approx(18 * m.trainable / 8, rel=1e-6)
    zero3 = [plan_recipe(path, accelerate_config="recipes/accelerate_configs/zero3.yaml", gpus=n)
             for n in (2, 8)]
    w3 = {r.name: r.bytes for r in zero3[1].estimate.rows}["weights"]
    assert w3 == pytest.approx(2 * m.total / 8 + 4 * m.largest_layer, rel=1e-6)
    assert zero3[1].estimate.peak_bytes < zero3[0].estimate.peak_bytes


def test_grpo_terms_follow_the_config():
    path = RECIPES_DIR / "models" / "qwen2_5_vl_3b" / "grpo.yaml"
    base = {r.name: r.bytes for r in planned(path).estimate.rows}
    assert base["reference model"] == 0 and base["generation (HF): KV cache + prefill"] == 0
    assert base["vLLM colocate share"] == pytest.approx(0.3 * 80 * GIB)
    changed = plan_recipe(path, gpu_memory_gib=80, extra=["--beta", "0.04", "--use_vllm", "false"])
    rows = {r.name: r.bytes for r in changed.estimate.rows}
    assert rows["reference model"] == pytest.approx(rows["weights"])  # a second copy
    assert rows["generation (HF): KV cache + prefill"] > 0 and rows["vLLM colocate share"] == 0
    lora = plan_recipe(RECIPES_DIR / "models" / "qwen2_5_vl_3b" / "grpo_lora.yaml",
                       extra=["--beta", "0.04"])
    assert {r.name: r.bytes for r in lora.estimate.rows}["reference model"] == 0  # adapter off


def test_checkpointing_and_batch_change_activations():
    from dataclasses import replace

    plan = planned(RECIPES_DIR / "facial_r1" / "sft.yaml")
    on = estimate(plan.model, plan.workload, plan.launch)
    off = estimate(plan.model, replace(plan.workload, activation_checkpointing=False),
                   plan.launch)
    half = estimate(plan.model, replace(plan.workload,
                                        micro_batch=max(1, plan.workload.micro_batch // 2)),
                    plan.launch)
    act = "activations (training micro-step)"
    assert {r.name: r.bytes for r in off.rows}[act] > 5 * {r.name: r.bytes for r in on.rows}[act]
    assert half.peak_bytes < on.peak_bytes


def test_not_fitting_names_the_knob(capsys):
    path = RECIPES_DIR / "facial_r1" / "sft.yaml"
    plan = plan_recipe(path, accelerate_config="recipes/accelerate_configs/ddp.yaml", gpus=1,
                       gpu_memory_gib=40)
    assert not plan.fits and plan.knobs
    text = render(plan)
    assert "DOES NOT FIT" in text and "the knob that helps most: " in text
    assert plan.knobs[0].estimate.peak_bytes < plan.estimate.peak_bytes
    assert cli_main(["plan", "--config", str(path), "--accelerate-config",
                     "recipes/accelerate_configs/ddp.yaml", "--gpus", "1", "--gpu-memory", "40",
                     "--strict"]) == 1
    assert "DOES NOT FIT" in capsys.readouterr().out


def test_bad_input_exits_2(tmp_path, capsys):
    assert cli_main(["plan", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert cli_main(["plan", "--config", "recipes/facial_r1/grpo.yaml", "--gpus", "0"]) == 2
    assert cli_main(["plan", "--config", "recipes/facial_r1/pipeline.yaml"]) == 2
    assert "a pipeline file: plan the recipe config of each training stage (recipes/facial_r1/" \
        "sft.yaml" in capsys.readouterr().err
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text('{"model_type": "bert"}')
    assert cli_main(["plan", "--config", "recipes/tiny/sft.yaml", "--",
                     "--model_name_or_path", str(bert)]) == 2
    assert "unsupported model family 'bert'" in capsys.readouterr().err


def test_meta_counts_equal_the_loaded_model(tiny_model):
    """On a real (tiny) checkpoint the meta-device plan counts what loading it and applying the
    recipe's LoRA really gives."""
    from peft import get_peft_model
    from transformers import AutoModelForImageTextToText
    from trl import ModelConfig

    from affectllm.train.modeling import peft_config

    path = tiny_model("qwen2_5_vl")
    plan = plan_recipe(RECIPES_DIR / "tiny" / "sft.yaml",
                       extra=["--model_name_or_path", str(path), "--use_peft", "true"])
    real = AutoModelForImageTextToText.from_pretrained(path)
    assert plan.model.base_total == sum(p.numel() for p in real.parameters())
    peft = get_peft_model(real, peft_config(ModelConfig(use_peft=True, lora_r=16)))
    assert plan.model.trainable == sum(p.numel() for p in peft.parameters() if p.requires_grad)
    assert len(plan.model.lora_modules) == 7 * real.config.get_text_config().num_hidden_layers


def test_dry_run_prints_the_plan(tiny_model, tmp_path, capsys):
    from affectllm.train.testing import load_recipe, toy_data

    faces = toy_data(tmp_path / "faces", n=8, unique_questions=False)
    os.environ.pop("WORLD_SIZE", None)
    load_recipe("sft").main(["--config", str(RECIPES_DIR / "tiny" / "sft.yaml"),
                             "--model_name_or_path", str(tiny_model("qwen2_5_vl")),
                             "--dataset_train", str(faces), "--dry_run",
                             "--output_dir", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "# plan: " in out and "#   peak (estimated)" in out and "# fits:" in out
    assert not (tmp_path / "out").exists()


def _gpu_smoke():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_smoke", REPO / "benchmarks/gpu_smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_smoke_runs_tiny_on_cpu(tmp_path, capsys):
    """benchmarks/gpu_smoke.py runs the same code on the tiny model on a CPU (CI size)."""
    import json

    assert _gpu_smoke().main(["--size", "tiny", "--sft-steps", "2", "--grpo-steps", "1",
                              "--json", "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{\n"):])
    assert result["size"] == "tiny" and [s["stage"] for s in result["stages"]] == ["sft", "grpo"]
    for stage in result["stages"]:
        assert stage["tokens"] > 0 and stage["tokens_per_second"] > 0
        assert stage["plan_allocated_gib"] > 0
        assert stage["peak_allocated_gib"] is None and stage["mfu"] is None  # CPU: not measured


def test_gpu_smoke_section_leaves_other_sections(tmp_path):
    smoke = _gpu_smoke()
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## Other\n\nkept\n")
    empty = {"device": "not measured", "stages": [{"stage": "sft", "steps": 20}]}
    smoke.write_section(results, smoke.markdown(empty))
    smoke.write_section(results, smoke.markdown({**empty, "device": "GPU X"}))
    text = results.read_text()
    assert text.count(smoke.SECTION) == 1 and "## Other\n\nkept" in text
    assert "Device: GPU X" in text and "| sft | 20 | not measured |" in text
