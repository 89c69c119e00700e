"""The hostile-input table: every bad input, given to the real command line, ends with exit status
2, a message naming the file (and line) and the reason, no traceback, and nothing half-written
(`hostile.check_case`). Cases are grouped by the part of the toolkit they attack."""

from __future__ import annotations

import json

import pytest
from hostile import Case, check_case


def jsonl(*rows: dict | str) -> str:
    """A JSONL text; dict rows are dumped, str rows are written as they are."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def sample(**fields) -> dict:
    """A valid canonical sample (toy image path), with `fields` replaced."""
    row = {"id": "s1", "source": "toy", "media": [{"type": "image", "path": "a.png"}],
           "question": "What emotion?", "labels": ["happiness"], "aus": ["AU6", "AU12"],
           "reasoning": "AU6 AU12", "answer": "happiness"}
    row.update(fields)
    return row


DATA = [
    Case("jsonl-empty", ("data", "validate", "d.jsonl", "--format", "jsonl"),
         r"d\.jsonl: .*no (records|samples)", files={"d.jsonl": ""}),
    Case("jsonl-labels-scalar", ("data", "validate", "d.jsonl", "--format", "jsonl"),
         r"d\.jsonl:1: .*labels", files={"d.jsonl": jsonl(sample(labels=5))}),
]


SFT, GRPO = "recipes/sft.py", "recipes/grpo_facial_r1.py"
FAKE_MODEL = {"m/config.json": json.dumps({"model_type": "qwen2_5_vl"})}
TRAIN = {"d.jsonl": jsonl(sample()), "a.png": b"not read before the checks"}


def recipe(script: str, *extra: str, config: str = "c.yaml") -> tuple[str, ...]:
    return (script, "--config", config, "--dry_run", "true", *extra)


def config(**keys) -> str:
    """A recipe YAML: the tiny SFT settings with `keys` added."""
    import yaml

    base = {"model_name_or_path": "m", "dataset_train": "d.jsonl", "output_dir": "out",
            "use_cpu": True, "bf16": False, "report_to": "none"}
    return yaml.safe_dump({**base, **keys})


RECIPES = [
    Case("recipe-malformed-yaml", recipe(SFT), r"c\.yaml:2: malformed YAML",
         files={"c.yaml": "model_name_or_path: m\nlr: [1, 2\n"}),
    Case("recipe-top-level-list", recipe(SFT), r"c\.yaml: expected a mapping",
         files={"c.yaml": "- a\n- b\n"}),
    Case("recipe-misspelt-key", recipe(SFT), r"c\.yaml:\d+: unknown key 'learning_rat'; did "
         r"you mean 'learning_rate'", files={"c.yaml": config(learning_rat=1e-5)}),
    Case("recipe-config-missing", recipe(SFT, config="nope.yaml"), r"nope\.yaml: file not found"),
    Case("recipe-negative-lr", recipe(SFT, "--learning_rate", "-1"),
         r"learning_rate must be a finite number >= 0, got -1\.0 \(set on the command line\)",
         files={"c.yaml": config(), **FAKE_MODEL, **TRAIN}),
    Case("recipe-zero-batch", recipe(SFT), r"c\.yaml: per_device_train_batch_size must be a "
         r"positive integer, got 0", files={"c.yaml": config(per_device_train_batch_size=0)}),
    Case("recipe-negative-sample-limit", recipe(SFT), r"c\.yaml: max_train_samples must be at "
         r"least 1", files={"c.yaml": config(max_train_samples=-5)}),
    Case("recipe-zero-max-steps", recipe(SFT), r"max_steps must be",
         files={"c.yaml": config(max_steps=0)}),
    Case("recipe-model-bad-config-json", recipe(SFT), r"m/config\.json:1: malformed config\.json",
         files={"c.yaml": config(), "m/config.json": "{bad", **TRAIN}),
    Case("recipe-model-no-model-type", recipe(SFT), r"m/config\.json: config\.json names no "
         r"model_type", files={"c.yaml": config(), "m/config.json": "{}", **TRAIN}),
    Case("recipe-model-missing", recipe(SFT), r"\./nope: model folder not found",
         files={"c.yaml": config(model_name_or_path="./nope"), **TRAIN}),
    Case("recipe-model-unreachable-hub-id", recipe(SFT), r"no local folder 'org/nope'",
         files={"c.yaml": config(model_name_or_path="org/nope"), **TRAIN}),
    Case("recipe-unsupported-family", recipe(SFT), r"unsupported model family 'bert'",
         files={"c.yaml": config(), "m/config.json": '{"model_type": "bert"}', **TRAIN}),
    Case("grpo-reward-os-system", recipe(GRPO), r"reward 'os\.system': rewards may not come "
         r"from the standard library", leftovers=("PWNED",),
         files={"c.yaml": config(rewards=[{"name": "os.system", "command": "touch PWNED"}]),
                **FAKE_MODEL, **TRAIN}),
    Case("grpo-reward-installed-package", recipe(GRPO), r"'yaml' is not your own code",
         files={"c.yaml": config(rewards=["yaml.safe_load"]), **FAKE_MODEL, **TRAIN}),
    Case("grpo-reward-reexported-function", recipe(GRPO), r"'system' is not a function defined "
         r"in evil", leftovers=("PWNED",),
         files={"c.yaml": config(rewards=[{"name": "evil.system", "command": "touch PWNED"}]),
                "evil.py": "from os import system\n", **FAKE_MODEL, **TRAIN}),
    Case("grpo-unknown-reward", recipe(GRPO), r"unknown reward 'acuracy'",
         files={"c.yaml": config(rewards=["acuracy"]), **FAKE_MODEL, **TRAIN}),
    Case("recipe-resume-missing-checkpoint", recipe(SFT, "--resume_from_checkpoint", "ck"),
         r"ck: resume_from_checkpoint: no such checkpoint folder",
         files={"c.yaml": config(), **FAKE_MODEL, **TRAIN}),
]

EVAL = [
    Case("eval-model-missing", ("eval", "facial", "--model", "./nope", "--data", "d.jsonl",
                                "--out", "out"), r"--model: \./nope: model folder not found",
         files=TRAIN, leftovers=("out",)),
    Case("eval-model-unreachable", ("eval", "facial", "--model", "runs/nonexistent", "--data",
                                    "d.jsonl", "--out", "out"),
         r"no local folder 'runs/nonexistent'", files=TRAIN, leftovers=("out",)),
    Case("eval-model-bad-config-json", ("eval", "facial", "--model", "m", "--data", "d.jsonl",
                                        "--out", "out"), r"m/config\.json:1: malformed",
         files={"m/config.json": "{", **TRAIN}, leftovers=("out",)),
    Case("eval-batch-size-0", ("eval", "facial", "--model", "m", "--data", "d.jsonl",
                               "--batch-size", "0"), r"--batch-size: expected a positive "
         r"integer, got '0'"),
    Case("eval-max-new-tokens-negative", ("eval", "facial", "--model", "m", "--data", "d.jsonl",
                                          "--max-new-tokens", "-3"), r"--max-new-tokens"),
    Case("eval-gpu-memory-out-of-range", ("eval", "facial", "--model", "m", "--data", "d.jsonl",
                                          "--gpu-memory-utilization", "1.5"), r"in \(0, 1\]"),
    Case("eval-data-missing", ("eval", "facial", "--model", "m", "--data", "nope.jsonl",
                               "--out", "out"), r"nope\.jsonl", files=FAKE_MODEL,
         leftovers=("out",)),
]

SYNTH_CONFIG = "data: d.jsonl\nmodel: {model}\nout: out\nrewards: [format]\n"
SYNTH = [
    Case("synth-malformed-yaml", ("synth", "--config", "s.yaml"), r"s\.yaml:\d+: malformed YAML",
         files={"s.yaml": "model: [x\nrounds: 1\n"}),
    Case("synth-model-missing", ("synth", "--config", "s.yaml"), r"s\.yaml: key 'model': "
         r"\./nope: model folder not found", files={"s.yaml": SYNTH_CONFIG.format(model="./nope"),
                                                    **TRAIN},
         leftovers=("out",)),
    Case("synth-model-unreachable", ("synth", "--config", "s.yaml"), r"key 'model': no local "
         r"folder 'org/nope'", files={"s.yaml": SYNTH_CONFIG.format(model="org/nope"), **TRAIN},
         leftovers=("out/manifest.json", "out/round_1")),
    Case("synth-out-is-a-file", ("synth", "--config", "s.yaml", "--out", "afile"),
         r"afile", files={"s.yaml": SYNTH_CONFIG.format(model="tiny:qwen2_5_vl"), **TRAIN,
                          "afile": "x"}),
]

PIPELINE = [
    Case("pipeline-malformed-yaml", ("run", "p.yaml", "--out", "out"), r"p\.yaml:\d+: malformed",
         files={"p.yaml": "stages: [\n"}, leftovers=("out",)),
    Case("pipeline-unknown-kind", ("run", "p.yaml", "--out", "out"), r"p\.yaml.*kind must be",
         files={"p.yaml": "stages: [{kind: dpo, config: x.yaml}]\n"}, leftovers=("out",)),
    Case("pipeline-missing-file", ("run", "nope.yaml", "--out", "out"), r"nope\.yaml",
         leftovers=("out",)),
    Case("pipeline-out-is-a-file", ("run", "p.yaml", "--out", "afile"), r"afile",
         files={"p.yaml": "model: m\ndata: d.jsonl\nstages: [{kind: eval, data: d.jsonl}]\n",
                "afile": "x"}),
]

SCORE = [
    Case("score-gt-missing", ("score", "ew", "--gt", "nope.csv", "--pred", "p.csv"),
         r"nope\.csv", files={"p.csv": "name,openset\na,happy\n"}),
    Case("score-gt-not-utf8", ("score", "ew", "--gt", "g.csv", "--pred", "p.csv"), r"g\.csv",
         files={"g.csv": b"name,openset\na,\xff\xfe\n", "p.csv": "name,openset\na,happy\n"}),
]

CASES = DATA + RECIPES + EVAL + SYNTH + PIPELINE + SCORE


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_a_located_message(case, tmp_path):
    check_case(case, tmp_path)


def test_the_table_covers_every_part():
    assert len({c.id for c in CASES}) == len(CASES)


# Rewards: odd cell values and odd completions are scored or give None; never an exception.
def _nested(depth: int) -> list:
    completion: list | dict = {"role": "assistant",
                               "content": "<think>AU6 AU12 happy</think><answer>happy</answer>"}
    for _ in range(depth):
        completion = [completion]
    return completion


ODD_CELLS = [5, 2.5, float("nan"), True, None, [5], [None], [float("nan"), True], {"a": 1}, "",
             "[", "]", "['", "\ud800", [["happy"]]]
ODD_COMPLETIONS = [None, 5, "", [], [{}], [{"role": "assistant", "content": None}],
                   [{"role": "assistant", "content": [{"type": "image"}, 7]}], _nested(1000),
                   "<answer>" * 1000, "</think>" * 3 + "<answer></answer>", "\ud800"]


@pytest.mark.parametrize("name", ["ew", "accuracy", "au", "format", "alignment", "soft_overlong"])
def test_rewards_never_raise_on_odd_cells_or_completions(name):
    from rewards import build_reward

    params = {"max_len": 8, "cache": 4} if name == "soft_overlong" else {}
    reward = build_reward(name, **params)
    n = len(ODD_CELLS)
    good = "<think>AU6 AU12 a happy face</think><answer>happiness</answer>"
    columns = {c: list(ODD_CELLS) for c in ("labels", "openset", "aus")}
    odd_ids = [5, None, "abc", [1, 2], 2.5, [], True, [[1]], {}, "", 0, [0], None, [1], 3]
    values = reward([good] * n, completion_ids=odd_ids, **columns)
    assert len(values) == n and all(v is None or isinstance(v, float) for v in values)
    m = len(ODD_COMPLETIONS)
    values = reward(ODD_COMPLETIONS, completion_ids=[None] * m,
                    labels=[["happiness"]] * m, openset=[["happy"]] * m, aus=[["AU6"]] * m)
    assert len(values) == m and all(v is None or isinstance(v, float) for v in values)
    nested = reward([_nested(1000)], labels=[["happiness"]], openset=[["happy"]], aus=[["AU6"]])
    flat = reward([_nested(0)], labels=[["happiness"]], openset=[["happy"]], aus=[["AU6"]])
    assert nested == flat, "deep nesting changes nothing but the nesting"


def test_a_misaligned_column_is_a_clear_value_error():
    from rewards import build_reward

    with pytest.raises(ValueError, match="'labels' must be a list aligned"):
        build_reward("accuracy")(["a", "b"], labels=[["x"]])
