"""Shipped recipe configs and the early checks.

Every recipe YAML starts with its launch command, parses with TRL's parser (so no key TRL 1.x
removed), passes the early checks and builds its trainer arguments in a dry run (``--dry_run``:
nothing is loaded); configs asking for vLLM are refused with the extra to install where vLLM is
absent. Bad input is refused before any weights are loaded, with exit status 2.
"""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path

import pytest
import yaml

from affectllm.errors import InputError
from affectllm.launch import RECIPES_DIR
from affectllm.train.testing import load_recipe, toy_data

CONFIG_DIRS = ("tiny", "facial_r1", "affectgpt_r1", "models")
#: Recipe configs (pipeline files living beside them, which have `stages`, are not).
RECIPE_CONFIGS = sorted(p for d in CONFIG_DIRS for p in (RECIPES_DIR / d).rglob("*.yaml")
                        if "stages" not in (yaml.safe_load(p.read_text()) or {}))
ACCELERATE_CONFIGS = sorted((RECIPES_DIR / "accelerate_configs").glob("*.yaml"))
TRL_CHANGED_DEFAULTS = ("beta", "loss_type", "scale_rewards", "num_generations",
                        "max_completion_length")
HEADER = re.compile(r"^# (?:accelerate launch --config_file (\S+) |python )"
                    r"recipes/(sft|grpo_facial_r1|grpo_affectgpt_r1)\.py --config (\S+)")


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return toy_data(tmp_path_factory.mktemp("faces"), n=16, unique_questions=False)


def header(path: Path) -> tuple[str | None, str, str]:
    first = path.read_text().splitlines()[0]
    match = HEADER.match(first)
    assert match, f"{path}: first line must be the launch command, got {first!r}"
    return match.groups()


def test_recipe_configs_exist():
    names = {str(p.relative_to(RECIPES_DIR)) for p in RECIPE_CONFIGS}
    assert {"tiny/sft.yaml", "tiny/grpo.yaml", "tiny/grpo_affectgpt.yaml", "facial_r1/sft.yaml",
            "facial_r1/grpo.yaml", "facial_r1/grpo_au.yaml", "facial_r1/grpo_fast.yaml",
            "affectgpt_r1/grpo.yaml", "affectgpt_r1/grpo_no_think.yaml",
            "affectgpt_r1/sft_cold_start.yaml"} <= names
    models = {p.parent.name for p in RECIPE_CONFIGS if p.parent.parent.name == "models"}
    assert models == {"qwen2_vl_2b", "qwen2_5_vl_3b", "qwen3_vl_8b", "llava_1_5_7b",
                      "llava_onevision_7b"}


@pytest.mark.parametrize("path", RECIPE_CONFIGS, ids=lambda p: str(p.relative_to(RECIPES_DIR)))
def test_recipe_config_dry_run(path, faces, tiny_model, tmp_path, capsys):
    accelerate, script, config = header(path)
    assert (RECIPES_DIR.parent / config).resolve() == path.resolve()
    if accelerate:
        assert (RECIPES_DIR.parent / accelerate).is_file()
    raw = yaml.safe_load(path.read_text())
    if script != "sft":
        missing = [k for k in TRL_CHANGED_DEFAULTS if k not in raw]
        assert not missing, f"{path}: set TRL's changed defaults explicitly: {missing}"
        assert raw.get("rewards")
    argv = ["--config", str(path), "--dataset_train", str(faces), "--dry_run",
            "--output_dir", str(tmp_path / "out")]
    if path.parent.name == "tiny":
        argv += ["--model_name_or_path", str(tiny_model("qwen2_5_vl"))]
    main = load_recipe(script).main
    if raw.get("use_vllm") and importlib.util.find_spec("vllm") is None:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert "pip install 'affectllm[vllm]'" in capsys.readouterr().err
        argv += ["--use_vllm", "false"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(argv)
    deprecated = [str(w.message) for w in caught if "deprecated" in str(w.message)
                  and any(f"`{k}`" in str(w.message) for k in raw)]
    assert not deprecated, deprecated
    report = capsys.readouterr().out
    assert "# dry run: config parsed" in report and "\nmodel_name_or_path: " in report
    assert not (tmp_path / "out").exists()


def test_resolved_config_parses_back(tiny_model, faces, tmp_path):
    """resolved_config.yaml is a valid --config: parsing it gives the same resolved config."""
    from trl import GRPOConfig

    from affectllm.train.args import parse_args
    from affectllm.train.modeling import model_init_kwargs
    from affectllm.train.outputs import resolved_config, write_resolved_config

    argv = ["--config", str(RECIPES_DIR / "tiny" / "grpo.yaml"), "--model_name_or_path",
            str(tiny_model("qwen2_5_vl")), "--dataset_train", str(faces),
            "--output_dir", str(tmp_path), "--rewards", "au", '{"name": "format", "weight": 0.5}']
    first = parse_args(GRPOConfig, argv)
    first[1].model_init_kwargs = model_init_kwargs(first[2], first[1])  # as the recipes do
    path = write_resolved_config(tmp_path, *first, script="recipes/grpo_facial_r1.py")
    second = parse_args(GRPOConfig, ["--config", str(path)])
    assert resolved_config(*second) == resolved_config(*first)
    assert second[0].rewards == ["au", {"name": "format", "weight": 0.5}]
    assert second[1].model_init_kwargs is None  # derived again from ModelConfig, not pinned


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_configs(path):
    from accelerate.commands.config.config_args import load_config_from_file

    assert path.read_text().startswith("# accelerate launch --config_file " +
                                       f"recipes/accelerate_configs/{path.name}")
    config = load_config_from_file(str(path))
    assert config.num_processes >= 1
    if path.name not in ("cpu.yaml", "zero2_cpu.yaml"):  # multi-node capable, documented
        text = path.read_text()
        for key in ("num_machines", "machine_rank", "main_process_ip"):
            assert re.search(rf"^{key}: .*#", text, re.M), f"{path.name}: document {key}"


def test_slurm_script_is_valid_bash():
    import subprocess

    script = RECIPES_DIR / "accelerate_configs" / "slurm_multinode.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert "--machine_rank" in script.read_text() and "--main_process_ip" in script.read_text()


# ------------------------------------------------------------------ early checks: exit 2


def _run_grpo(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        load_recipe("grpo_facial_r1").main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def grpo_args(tiny_model, faces, tmp_path):
    return ["--config", str(RECIPES_DIR / "tiny" / "grpo.yaml"), "--model_name_or_path",
            str(tiny_model("qwen2_5_vl")), "--dataset_train", str(faces),
            "--output_dir", str(tmp_path / "out")]


@pytest.mark.parametrize("extra, message", [
    (["--rewards", "au", "nope"], "unknown reward 'nope'"),
    (["--rewards", '{"name": "ew", "length_penalty": "p9"}'], "length_penalty"),
    (["--rewards", '{"name": "ew", "colour": 1}'], "unknown parameter(s) colour"),
    (["--rewards", "no.such.module.reward"], "no module 'no' found"),
    (["--rewards", '{"name": "os.system", "command": "true"}'], "standard library"),
    (["--rewards", "json.dumps"], "standard library"),
    (["--rewards", "yaml.safe_load"], "not your own code"),
    (["--learning_rate", "-1"], "learning_rate must be"),
    (["--per_device_train_batch_size", "0"], "per_device_train_batch_size must be"),
    (["--max_train_samples", "-5"], "max_train_samples must be"),
    (["--load_in_4bit", "true"], "use_peft: true"),
    (["--resume_from_checkpoint", "/no/such/checkpoint"], "no such checkpoint"),
    (["--max_prompt_length", "128"], "max_prompt_length"),
    (["--num_generations", "3"], "divisible by num_generations"),
])
def test_bad_input_exits_2(grpo_args, tmp_path, capsys, extra, message):
    err = _run_grpo(grpo_args + extra, capsys)
    assert message in err
    assert not (tmp_path / "out").exists()


def test_reward_columns_missing_from_data(grpo_args, faces, tmp_path, capsys):
    rows = [json.loads(line) for line in faces.read_text().splitlines()]
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(json.dumps({**r, "aus": []}) + "\n" for r in rows))
    err = _run_grpo(grpo_args + ["--dataset_train", str(bare), "--data_root", str(faces.parent)],
                    capsys)
    assert "reward 'au' needs aus" in err


def test_unsupported_model_family(grpo_args, tmp_path, capsys):
    fake = tmp_path / "bert"
    fake.mkdir()
    (fake / "config.json").write_text(json.dumps({"model_type": "bert"}))
    err = _run_grpo(grpo_args + ["--model_name_or_path", str(fake)], capsys)
    assert "unsupported model family 'bert'" in err


def test_missing_data_and_images(grpo_args, tmp_path, capsys):
    assert "file not found" in _run_grpo(grpo_args + ["--dataset_train", str(tmp_path / "x.jsonl")],
                                         capsys)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"id": "a", "source": "t", "labels": ["happiness"],
                                  "media": [{"type": "image", "path": "missing.png"}]}) + "\n")
    assert "image file(s) not found" in _run_grpo(grpo_args + ["--dataset_train", str(broken)],
                                                  capsys)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_vllm_requested_but_missing(grpo_args, capsys):
    err = _run_grpo(grpo_args + ["--use_vllm", "true"], capsys)
    assert "pip install 'affectllm[vllm]'" in err


def test_deepspeed_checks(grpo_args, capsys, monkeypatch):
    from types import SimpleNamespace

    import torch

    from affectllm.train.checks import check_deepspeed

    args = SimpleNamespace(deepspeed={"zero_optimization": {"stage": 2}}, use_cpu=False,
                           ddp_backend="gloo")
    with pytest.raises(InputError, match="CPU-only build"):
        check_deepspeed(args, cuda_build=False)
    args.deepspeed = {"zero_optimization": {"stage": 3}}
    with pytest.raises(InputError, match="no loadable model"):
        check_deepspeed(args, cuda_build=True)
    args.deepspeed = None
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    with pytest.raises(InputError, match="no loadable model"):
        check_deepspeed(args, cuda_build=True)
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL", "true")
    check_deepspeed(args, cuda_build=True)
    if not torch.cuda.is_available():
        args.ddp_backend = None
        with pytest.raises(InputError, match="ddp_backend: gloo"):
            check_deepspeed(args, cuda_build=True)
        args.deepspeed = {"zero_optimization": {"stage": 2}}
        with pytest.raises(InputError, match="accelerate config"):
            check_deepspeed(args, cuda_build=True)
        monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2")
        assert "use_cpu: true turns DeepSpeed off" in _run_grpo(grpo_args, capsys)


def test_import_path_rewards_come_only_from_the_users_own_code(tiny_model, faces, tmp_path,
                                                               capsys, monkeypatch):
    """A reward module next to the config is accepted from any working directory; a function
    the module only imported (``from os import system``) and the standard library are refused,
    and nothing they name is ever called."""
    import shutil

    config = tmp_path / "cfg" / "grpo.yaml"
    config.parent.mkdir()
    shutil.copy(RECIPES_DIR / "tiny" / "grpo.yaml", config)
    (config.parent / "my_rewards.py").write_text(
        "from os import system\n\n"
        "def brevity(*, scale=10):\n"
        "    def reward(completions, **_):\n"
        "        return [1.0 / (1 + len(str(c)) / scale) for c in completions]\n"
        "    return reward\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(config.parent))
    base = ["--config", str(config), "--model_name_or_path", str(tiny_model("qwen2_5_vl")),
            "--dataset_train", str(faces), "--output_dir", str(tmp_path / "out"),
            "--dry_run", "true"]
    grpo = load_recipe("grpo_facial_r1")
    grpo.main(base + ["--rewards", '{"name": "my_rewards.brevity", "scale": 5}', "format"])
    assert "my_rewards.brevity" in capsys.readouterr().out
    marker = tmp_path / "PWNED"
    for spec, message in [
        ({"name": "my_rewards.system", "command": f"touch {marker}"}, "not a function defined"),
        ({"name": "os.system", "command": f"touch {marker}"}, "standard library"),
        ({"name": "subprocess.getoutput", "cmd": f"touch {marker}"}, "standard library"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            grpo.main(base + ["--rewards", json.dumps(spec)])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
        assert not marker.exists()
