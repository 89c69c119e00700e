"""The hostile-input table: every bad input, given to the real command line, ends with exit status
2, a message naming the file (and line) and the reason, no traceback, and nothing half-written
(`hostile.check_case`). Cases are grouped by the part of the toolkit they attack."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest
from hostile import ENV, Case, check_case, run_forked
from hostile_benchmark_cases import BENCHMARK_CASES


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


def png_bytes(size: int = 8) -> bytes:
    """A small valid PNG."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 150, 120)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of `width` x `height` black pixels that compresses to a few
    kilobytes: a decompression bomb once `width * height` exceeds PIL's MAX_IMAGE_PIXELS. Written
    chunk by chunk (PIL itself would need a byte per pixel in memory to make it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def deep(depth: int = 200_000) -> str:
    """JSON text nested `depth` lists deep (Python's parser gives up far earlier)."""
    return "[" * depth + "]" * depth


def conversation(human: object = "<video>\nWhat emotion?", gpt: object = "<answer>sad</answer>",
                 **fields) -> dict:
    """One R1-Omni record (a video and a human/gpt conversation), with `fields` added."""
    return {"video": "v.mp4", "conversations": [{"from": "human", "value": human},
                                               {"from": "gpt", "value": gpt}], **fields}


def emer_folder(gt: bytes) -> dict[str, bytes]:
    """An EMER folder E/ in its published layout with `gt` as gt-eng.csv and one video."""
    return {"E/gt-eng.csv": gt, "E/video/s1.mp4": b"\0video",
            "E/final-EMER-reason.csv": b"name,chinese,english\ns1,x,a smile\n"}


def make_dir(*parts: str):
    """A `Case.setup` creating the folder `parts` inside the case's folder."""
    return lambda tmp: tmp.joinpath(*parts).mkdir(parents=True)


def read_only(name: str):
    """A `Case.setup` creating the folder `name` without write permission."""
    def setup(tmp: Path) -> None:
        (tmp / name).mkdir()
        (tmp / name).chmod(0o555)
    return setup


VALIDATE = ("data", "validate", "d.jsonl", "--format", "jsonl")
CONVERT = ("data", "convert", "d.jsonl", "--format", "jsonl", "--out", "out")
R1OMNI = ("data", "convert", "r.json", "--format", "r1omni", "--out", "out")
CONVERTED = ("out/data.jsonl", "out/convert_config.json")
SCORE = ("score", "ew", "--gt", "g.csv", "--pred", "p.csv")
PRED = "name,openset\na,happy\n"
FAKE_MODEL = {"M/config.json": '{"model_type": "qwen2_5_vl"}'}
SFT = ("recipes/sft.py", "--config", str(Path(__file__).resolve().parents[1] / "recipes/tiny/sft.yaml"),
       "--model_name_or_path", "M", "--output_dir", "run", "--dry_run", "true")
BAD_UTF8 = b"\xff\xfe not text"
HUGE_CELL = "x" * 140_000  # over csv.field_size_limit() (131,072)


DATA = [
    # --- types of the canonical fields
    Case("jsonl-empty", VALIDATE, r"d\.jsonl: .*no (records|samples)", files={"d.jsonl": ""}),
    Case("jsonl-blank-lines-only", VALIDATE, r"d\.jsonl: .*no records",
         files={"d.jsonl": "\n  \n\n"}),
    Case("jsonl-empty-convert", CONVERT, r"d\.jsonl: .*no records", files={"d.jsonl": ""},
         leftovers=CONVERTED),
    Case("jsonl-labels-scalar", VALIDATE, r"d\.jsonl:1: .*labels",
         files={"d.jsonl": jsonl(sample(labels=5))}),
    Case("jsonl-labels-string", VALIDATE, r"d\.jsonl:1: labels: expected a list of strings, got str",
         files={"d.jsonl": jsonl(sample(labels="happiness"))}),
    Case("jsonl-labels-number-item", VALIDATE, r"d\.jsonl:1: labels: .*item of type int",
         files={"d.jsonl": jsonl(sample(labels=["happiness", 5]))}),
    Case("jsonl-openset-null-item", VALIDATE, r"d\.jsonl:1: openset: .*item of type null",
         files={"d.jsonl": jsonl(sample(openset=[None]))}),
    Case("jsonl-media-scalar", VALIDATE, r"d\.jsonl:1: media: expected a list of objects, got int",
         files={"d.jsonl": jsonl(sample(media=5))}),
    Case("jsonl-aus-scalar", VALIDATE, r"d\.jsonl:1: aus: expected a list of strings, got int",
         files={"d.jsonl": jsonl(sample(aus=12))}),
    Case("jsonl-aus-number-items", VALIDATE, r"d\.jsonl:1: aus: .*item of type int",
         files={"d.jsonl": jsonl(sample(aus=[6, 12]))}),
    Case("jsonl-valence-list", VALIDATE, r"d\.jsonl:1: valence: expected a number",
         files={"d.jsonl": jsonl(sample(valence=[1]))}),
    Case("jsonl-valence-bool", VALIDATE, r"d\.jsonl:1: valence: expected a number",
         files={"d.jsonl": jsonl(sample(valence=True))}),
    Case("jsonl-valence-text", VALIDATE, r"d\.jsonl:1: valence: expected a number, got 'high'",
         files={"d.jsonl": jsonl(sample(valence="high"))}),
    Case("jsonl-valence-overflow", CONVERT, r"d\.jsonl:2: valence: expected a finite number",
         files={"d.jsonl": jsonl(sample(id="s0"), json.dumps(sample())[:-1] + ', "valence": 1e999}')},
         leftovers=CONVERTED),
    Case("jsonl-valence-nan", VALIDATE, r"d\.jsonl:1: valence: expected a finite number",
         files={"d.jsonl": json.dumps(sample())[:-1] + ', "valence": NaN}\n'}),
    Case("jsonl-question-number", VALIDATE, r"d\.jsonl:1: question: expected a string, got int",
         files={"d.jsonl": jsonl(sample(question=123))}),
    Case("jsonl-question-bool", VALIDATE, r"d\.jsonl:1: question: expected a string, got bool",
         files={"d.jsonl": jsonl(sample(question=False))}),
    Case("jsonl-reasoning-list", VALIDATE, r"d\.jsonl:1: reasoning: expected a string, got list",
         files={"d.jsonl": jsonl(sample(reasoning=["x"]))}),
    Case("jsonl-answer-number", CONVERT, r"d\.jsonl:1: answer: expected a string, got int",
         files={"d.jsonl": jsonl(sample(answer=3))}, leftovers=CONVERTED),
    Case("jsonl-id-list", VALIDATE, r"d\.jsonl:1: id: expected a string, got list",
         files={"d.jsonl": jsonl(sample(id=["s1"]))}),
    Case("jsonl-id-bool", VALIDATE, r"d\.jsonl:1: id: expected a string, got bool",
         files={"d.jsonl": jsonl(sample(id=True))}),
    Case("jsonl-source-object", VALIDATE, r"d\.jsonl:1: source: expected a string, got dict",
         files={"d.jsonl": jsonl(sample(source={"name": "toy"}))}),
    Case("jsonl-media-path-object", VALIDATE, r"d\.jsonl:1: media: bad entry",
         files={"d.jsonl": jsonl(sample(media=[{"type": "image", "path": {"x": [1]}}]))}),
    Case("jsonl-media-extra-junk", VALIDATE, r"d\.jsonl:1: media: bad entry",
         files={"d.jsonl": jsonl(sample(media=[{"type": "image", "path": "a.png",
                                                "junk": {"deep": [[[]]]}}]))}),
    Case("jsonl-media-entry-list", VALIDATE, r"d\.jsonl:1: media: .*item of type list",
         files={"d.jsonl": jsonl(sample(media=[["image", "a.png"]]))}),
    Case("jsonl-meta-list", VALIDATE, r"d\.jsonl:1: meta: expected an object or a string",
         files={"d.jsonl": jsonl(sample(meta=[1, 2]))}),
    Case("jsonl-meta-infinity", CONVERT, r"d\.jsonl:1: meta: Out of range float",
         files={"d.jsonl": json.dumps(sample())[:-1] + ', "meta": {"x": Infinity}}\n'},
         leftovers=CONVERTED),
    # --- text that is not text
    Case("jsonl-lone-surrogate", VALIDATE, r"d\.jsonl:1: question: not valid Unicode",
         files={"d.jsonl": jsonl(sample())[:-1].replace("What emotion?", "\\ud800") + "\n"}),
    Case("jsonl-lone-surrogate-convert", CONVERT, r"d\.jsonl:2: reasoning: not valid Unicode",
         files={"d.jsonl": jsonl(sample(id="s0"), sample(reasoning="\ud800x"))},
         leftovers=CONVERTED),
    Case("jsonl-invalid-utf8", VALIDATE, r"d\.jsonl:2: not UTF-8 text: byte 0xff",
         files={"d.jsonl": jsonl(sample(id="s0", media=[])).encode() + b'{"id": "' + BAD_UTF8
                + b'"}\n'}),
    Case("jsonl-invalid-utf8-convert", CONVERT, r"d\.jsonl:1: not UTF-8 text",
         files={"d.jsonl": BAD_UTF8 + b"\n" + jsonl(sample()).encode()}, leftovers=CONVERTED),
    Case("jsonl-nested-200000", VALIDATE, r"d\.jsonl:1: JSON nested too deeply",
         files={"d.jsonl": json.dumps(sample())[:-1] + ', "meta": {"x": ' + deep() + "}}\n"}),
    Case("jsonl-nested-convert", CONVERT, r"d\.jsonl:2: JSON nested too deeply",
         files={"d.jsonl": jsonl(sample(), deep())}, leftovers=CONVERTED),
    Case("jsonl-malformed-column", VALIDATE,
         r"d\.jsonl:1: malformed JSON: Expecting property name .*\(column 13\)",
         files={"d.jsonl": '{"id": "s1",\n'}),
    Case("jsonl-not-an-object", VALIDATE, r"d\.jsonl:1: expected a JSON object, got list",
         files={"d.jsonl": "[1, 2]\n"}),
    # --- images
    Case("image-bomb-20000", VALIDATE, r"d\.jsonl:1: media file a\.png: image too large.*bomb",
         files={"d.jsonl": jsonl(sample()), "a.png": png_bomb(20_000, 20_000)}),
    Case("image-bomb-over-max-pixels", VALIDATE, r"d\.jsonl:1: media file a\.png: .*bomb",
         files={"d.jsonl": jsonl(sample()), "a.png": png_bomb(10_000, 9_000)}),
    # --- R1-Omni JSON
    Case("r1omni-invalid-utf8", R1OMNI, r"r\.json:3: not UTF-8 text",
         files={"r.json": b'[\n{"video": "v.mp4",\n"x": "' + BAD_UTF8 + b'"}]\n', "v.mp4": b"\0"},
         leftovers=CONVERTED),
    Case("r1omni-nested-200000", R1OMNI, r"r\.json:2: JSON nested too deeply",
         files={"r.json": "[\n" + deep() + "\n]\n"}, leftovers=CONVERTED),
    Case("r1omni-empty-list", R1OMNI, r"r\.json: no records", files={"r.json": "[]\n"},
         leftovers=CONVERTED),
    Case("r1omni-lone-surrogate", R1OMNI, r"r\.json:1: .*not valid Unicode",
         files={"r.json": json.dumps([conversation(gpt="<answer>sad\ud800</answer>")]),
                "v.mp4": b"\0"}, leftovers=CONVERTED),
    Case("r1omni-question-number", R1OMNI, r"r\.json:1: conversations: .*must be a string",
         files={"r.json": json.dumps([conversation(human=123)]), "v.mp4": b"\0"},
         leftovers=CONVERTED),
    Case("r1omni-answer-list", R1OMNI, r"r\.json:1: conversations: .*must be a string",
         files={"r.json": json.dumps([conversation(gpt=["sad"])]), "v.mp4": b"\0"},
         leftovers=CONVERTED),
    Case("r1omni-video-number", R1OMNI, r"r\.json:1: video: expected a path or a list of paths",
         files={"r.json": json.dumps([{**conversation(), "video": 5}])}, leftovers=CONVERTED),
    # --- CSV corpora
    Case("emer-invalid-utf8", ("data", "validate", "{tmp}/E", "--format", "emer"),
         r"gt-eng\.csv:3: not UTF-8 text",
         files=emer_folder(b"names,emotions\ns1,happy\ns2," + BAD_UTF8 + b"\n")),
    Case("emer-field-over-limit", ("data", "validate", "{tmp}/E", "--format", "emer"),
         r"gt-eng\.csv:2: malformed CSV: field larger than field limit",
         files=emer_folder(f"names,emotions\ns1,{HUGE_CELL}\n".encode())),
    Case("mer-label-invalid-utf8", ("data", "validate", "{tmp}/MER2023", "--format", "mer_unibench"),
         r"MER2023/label\.csv:2: not UTF-8 text",
         files={"MER2023/label.csv": b"name,discrete\n" + BAD_UTF8 + b",happy\n",
                "MER2023/video/a.mp4": b"\0"}),
    Case("score-gt-invalid-utf8", SCORE, r"g\.csv:3: not UTF-8 text",
         files={"g.csv": b"name,openset\na,happy\nb," + BAD_UTF8 + b"\n", "p.csv": PRED}),
    Case("score-gt-field-over-limit", SCORE, r"g\.csv:2: malformed CSV: field larger",
         files={"g.csv": f"name,openset\na,{HUGE_CELL}\n", "p.csv": PRED}),
    # --- output paths
    Case("convert-out-is-a-file", CONVERT, r"out: the output path exists and is not a folder",
         files={"d.jsonl": jsonl(sample()), "out": "not a folder\n"}),
    Case("convert-out-below-a-file", ("data", "convert", "d.jsonl", "-f", "jsonl", "--out",
                                      "f.txt/out"), r"f\.txt/out: cannot write here: not a folder",
         files={"d.jsonl": jsonl(sample()), "f.txt": "x\n"}),
    Case("convert-out-read-only-fs", ("data", "convert", "d.jsonl", "-f", "jsonl", "--out",
                                      "/sys/affectllm-hostile"),
         r"/sys/affectllm-hostile: cannot write here", files={"d.jsonl": jsonl(sample())}),
    Case("convert-out-data-file-is-a-folder", CONVERT, r"out/data\.jsonl: cannot write here: is a "
         "folder", files={"d.jsonl": jsonl(sample())}, setup=make_dir("out", "data.jsonl"),
         leftovers=("out/convert_config.json",)),
    Case("toyfaces-out-is-a-file", ("data", "toyfaces", "faces", "--n", "4", "--size", "32"),
         r"faces: the output path exists and is not a folder", files={"faces": "x\n"}),
    Case("toyfaces-out-read-only-folder", ("data", "toyfaces", "/sys/fs", "--n", "4", "--size",
                                           "32"), r"/sys/fs: cannot write here"),
    Case("toyfaces-images-is-a-file", ("data", "toyfaces", "faces", "--n", "4", "--size", "32"),
         r"faces/images: cannot write here: file exists", files={"faces/images": "x\n"},
         leftovers=("faces/*.jsonl",)),
    # --- training files (the data part of a recipe, checked before any weights are loaded)
    Case("sft-train-file-empty", (*SFT, "--dataset_train", "d.jsonl"), r"d\.jsonl: no records",
         files={**FAKE_MODEL, "d.jsonl": ""}, leftovers=("run",), timeout=300),
    Case("sft-train-image-bomb", (*SFT, "--dataset_train", "d.jsonl"),
         r"a\.png: image too large.*bomb",
         files={**FAKE_MODEL, "d.jsonl": jsonl(sample()), "a.png": png_bomb(20_000, 20_000)},
         leftovers=("run",), timeout=300),
]


SFT_SCRIPT, GRPO_SCRIPT = "recipes/sft.py", "recipes/grpo_facial_r1.py"
MODEL_STUB = {"m/config.json": json.dumps({"model_type": "qwen2_5_vl"})}
TRAIN = {"d.jsonl": jsonl(sample()), "a.png": png_bytes()}


def recipe(script: str, *extra: str, config: str = "c.yaml") -> tuple[str, ...]:
    return (script, "--config", config, "--dry_run", "true", *extra)


def config(**keys) -> str:
    """A recipe YAML: the tiny SFT settings with `keys` added."""
    import yaml

    base = {"model_name_or_path": "m", "dataset_train": "d.jsonl", "output_dir": "out",
            "use_cpu": True, "bf16": False, "report_to": "none"}
    return yaml.safe_dump({**base, **keys})


RECIPES = [
    Case("recipe-malformed-yaml", recipe(SFT_SCRIPT), r"c\.yaml:\d+: malformed YAML",
         files={"c.yaml": "model_name_or_path: m\nlr: [1, 2\n"}),
    Case("recipe-top-level-list", recipe(SFT_SCRIPT), r"c\.yaml: expected a mapping",
         files={"c.yaml": "- a\n- b\n"}),
    Case("recipe-misspelt-key", recipe(SFT_SCRIPT), r"c\.yaml:\d+: unknown key 'learning_rat'; did "
         r"you mean 'learning_rate'", files={"c.yaml": config(learning_rat=1e-5)}),
    Case("recipe-config-missing", recipe(SFT_SCRIPT, config="nope.yaml"), r"nope\.yaml: file not found"),
    Case("recipe-negative-lr", recipe(SFT_SCRIPT, "--learning_rate", "-1"),
         r"learning_rate must be a finite number >= 0, got -1\.0 \(set on the command line\)",
         files={"c.yaml": config(), **MODEL_STUB, **TRAIN}),
    Case("recipe-zero-batch", recipe(SFT_SCRIPT), r"c\.yaml: per_device_train_batch_size must be a "
         r"positive integer, got 0", files={"c.yaml": config(per_device_train_batch_size=0)}),
    Case("recipe-negative-sample-limit", recipe(SFT_SCRIPT), r"c\.yaml: max_train_samples must be at "
         r"least 1", files={"c.yaml": config(max_train_samples=-5)}),
    Case("recipe-zero-max-steps", recipe(SFT_SCRIPT), r"max_steps must be",
         files={"c.yaml": config(max_steps=0)}),
    Case("recipe-model-bad-config-json", recipe(SFT_SCRIPT), r"m/config\.json:1: malformed config\.json",
         files={"c.yaml": config(), "m/config.json": "{bad", **TRAIN}),
    Case("recipe-model-no-model-type", recipe(SFT_SCRIPT), r"m/config\.json: config\.json names no "
         r"model_type", files={"c.yaml": config(), "m/config.json": "{}", **TRAIN}),
    Case("recipe-model-missing", recipe(SFT_SCRIPT), r"\./nope: model folder not found",
         files={"c.yaml": config(model_name_or_path="./nope"), **TRAIN}),
    Case("recipe-model-unreachable-hub-id", recipe(SFT_SCRIPT), r"no local folder 'org/nope'",
         files={"c.yaml": config(model_name_or_path="org/nope"), **TRAIN}),
    Case("recipe-unsupported-family", recipe(SFT_SCRIPT), r"unsupported model family 'bert'",
         files={"c.yaml": config(), "m/config.json": '{"model_type": "bert"}', **TRAIN}),
    Case("grpo-reward-os-system", recipe(GRPO_SCRIPT), r"reward 'os\.system': rewards may not come "
         r"from the standard library", leftovers=("PWNED",),
         files={"c.yaml": config(rewards=[{"name": "os.system", "command": "touch PWNED"}]),
                **MODEL_STUB, **TRAIN}),
    Case("grpo-reward-installed-package", recipe(GRPO_SCRIPT), r"'yaml' is not your own code",
         files={"c.yaml": config(rewards=["yaml.safe_load"]), **MODEL_STUB, **TRAIN}),
    Case("grpo-reward-reexported-function", recipe(GRPO_SCRIPT), r"'system' is not a function defined "
         r"in evil", leftovers=("PWNED",),
         files={"c.yaml": config(rewards=[{"name": "evil.system", "command": "touch PWNED"}]),
                "evil.py": "from os import system\n", **MODEL_STUB, **TRAIN}),
    Case("grpo-unknown-reward", recipe(GRPO_SCRIPT), r"unknown reward 'acuracy'",
         files={"c.yaml": config(rewards=["acuracy"]), **MODEL_STUB, **TRAIN}),
    Case("recipe-resume-missing-checkpoint", recipe(SFT_SCRIPT, "--resume_from_checkpoint", "ck"),
         r"ck: resume_from_checkpoint: no such checkpoint folder",
         files={"c.yaml": config(), **MODEL_STUB, **TRAIN}),
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
                               "--batch-size", "0"), r"--batch-size/--batch_size: expected a "
         r"positive integer, got '0'"),
    Case("eval-max-new-tokens-negative", ("eval", "facial", "--model", "m", "--data", "d.jsonl",
                                          "--max-new-tokens", "-3"), r"--max-new-tokens"),
    Case("eval-gpu-memory-out-of-range", ("eval", "facial", "--model", "m", "--data", "d.jsonl",
                                          "--gpu-memory-utilization", "1.5"), r"in \(0, 1\]"),
    Case("eval-data-missing", ("eval", "facial", "--model", "m", "--data", "nope.jsonl",
                               "--out", "out"), r"nope\.jsonl", files=MODEL_STUB,
         leftovers=("out",)),
]

SYNTH_CONFIG = "data: d.jsonl\nmodel: {model}\nout: out\nrewards: [format]\naccept: {{format: \">= 1\"}}\n"
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

SCORE_CASES = [
    Case("score-gt-missing", ("score", "ew", "--gt", "nope.csv", "--pred", "p.csv"),
         r"nope\.csv", files={"p.csv": "name,openset\na,happy\n"}),
    Case("score-gt-not-utf8", ("score", "ew", "--gt", "g.csv", "--pred", "p.csv"), r"g\.csv",
         files={"g.csv": b"name,openset\na,\xff\xfe\n", "p.csv": "name,openset\na,happy\n"}),
]
if os.geteuid() != 0:  # permissions do not stop root
    DATA += [
        Case("convert-out-read-only-folder", CONVERT, r"out: cannot write here: permission denied",
             files={"d.jsonl": jsonl(sample())}, setup=read_only("out"), leftovers=CONVERTED),
        Case("toyfaces-out-read-only", ("data", "toyfaces", "faces", "--n", "4", "--size", "32"),
             r"faces: cannot write here: permission denied", setup=read_only("faces")),
    ]

CASES = DATA + RECIPES + EVAL + SYNTH + PIPELINE + SCORE_CASES + BENCHMARK_CASES
#: Cases run by a new interpreter (``subprocess.run`` of the entry point), one per command group,
#: so that the real process path stays covered; the others run in a forked child of a server that
#: has imported the toolkit once (`hostile.check_case`), with the same assertions.
FRESH = {"jsonl-labels-string", "recipe-misspelt-key", "grpo-reward-os-system",
         "eval-model-missing", "synth-model-missing", "pipeline-unknown-kind",
         "score-gt-invalid-utf8"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_a_located_message(case, tmp_path):
    check_case(case, tmp_path, fresh=case.id in FRESH)


def test_a_forked_case_sees_what_a_new_interpreter_sees(tmp_path):
    """The forked child (the default way a case runs) gets the same argv, sys.path, cwd, output and
    exit status as ``python SCRIPT ARGS`` in a new interpreter."""
    import subprocess
    import sys

    script = tmp_path / "probe.py"
    script.write_text("import json, os, sys\n"
                      "print(json.dumps([sys.argv[1:], sys.path, os.getcwd()]))\n"
                      "print('to stderr', file=sys.stderr)\nsys.exit(3)\n")
    command = [sys.executable, str(script), "a b", "--c"]
    (tmp_path / "case").mkdir()
    fresh = subprocess.run(command, cwd=tmp_path / "case", env=ENV, capture_output=True, text=True)
    forked = run_forked(command, tmp_path / "case", timeout=60)
    assert (forked.returncode, forked.stdout, forked.stderr) == \
        (fresh.returncode, fresh.stdout, fresh.stderr) == (3, fresh.stdout, "to stderr\n")


def test_the_table_covers_every_part():
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.id for c in CASES} >= FRESH


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
