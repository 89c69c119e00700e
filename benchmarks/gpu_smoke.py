"""GPU smoke benchmark: real-size Qwen2.5-VL-3B, random weights, the project's own recipes.

    python benchmarks/gpu_smoke.py                   # CUDA: real size (3b), bf16
    python benchmarks/gpu_smoke.py --size tiny       # any CPU: the same code on the tiny model
    python benchmarks/gpu_smoke.py --write-results   # also update its section of RESULTS.md

What it does, in one process:

1. renders toy faces (`affectllm.data.toyfaces`) at a real image size (448 x 448 = the recipes'
   ``max_pixels`` 200704, i.e. 256 image tokens; 112 px for tiny);
2. builds the model: for ``3b`` the packaged architecture of Qwen/Qwen2.5-VL-3B-Instruct
   (`affectllm/archs`), randomly initialised in bf16 on the GPU, with the tiny model's locally
   trained tokenizer and processor (the real tokenizer would need a download; token ids only need
   to lie below the vocabulary size); for ``tiny`` `affectllm.tiny`;
3. runs `recipes/sft.py` (20 steps) and `recipes/grpo_facial_r1.py` (5 steps, transformers
   generation, ``use_vllm false``) with the model's shipped configs (``recipes/models/
   qwen2_5_vl_3b/{sft,grpo}.yaml``; ``recipes/tiny`` for tiny);
4. prints per stage tokens/s (TRL's ``num_tokens`` / ``train_runtime``), MFU and the peak memory
   PyTorch allocated (``torch.cuda.max_memory_allocated``) next to `affectllm plan`'s estimate
   of the same allocation for the same settings (one process, no DeepSpeed; context and vLLM
   share excluded on both sides). Goal: estimate within 20% of the measurement.

MFU = 6 N D / (t x peak), with N the language model's parameters without the input embedding
(a lookup), D the tokens TRL counted (prompt + completion, images' tokens included), t the
stage's ``train_runtime`` and peak the GPU's dense bf16 FLOP/s (`PEAK_TFLOPS`, or
``--peak-tflops``). Left out: the frozen vision tower's forward (2 N_vision per patch, a few %),
attention scores (4 s h per token and layer, under 10% at these lengths) and the recomputation of
activation checkpointing (so this is MFU, not hardware FLOP utilisation). GRPO's runtime includes
generation, which is memory-bound, so its MFU is low by nature.

Needs only torch, transformers, peft, accelerate and TRL (no vLLM, no DeepSpeed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
HUB_ID = "Qwen/Qwen2.5-VL-3B-Instruct"
SECTION = "## GPU smoke (real-size Qwen2.5-VL-3B, random weights)"
#: Dense bf16 FLOP/s of common GPUs, by a substring of the device name (first match wins).
PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("GH200", 989.4),
               ("A100", 312.0), ("L40S", 362.1), ("A10G", 125.0), ("4090", 165.2))
SIZES = {
    "3b": {"image": 448, "faces": 96, "sft": REPO / "recipes/models/qwen2_5_vl_3b/sft.yaml",
           "grpo": REPO / "recipes/models/qwen2_5_vl_3b/grpo.yaml"},
    "tiny": {"image": 112, "faces": 48, "sft": REPO / "recipes/tiny/sft.yaml",
             "grpo": REPO / "recipes/tiny/grpo.yaml"},
}


def build_model(size: str, out: Path) -> Path:
    """The model folder: tiny from `affectllm.tiny`; 3b random-initialised from the packaged
    architecture config, with the tiny processor and its token ids."""
    from affectllm.tiny import build_tiny_model, save_tiny_model

    if size == "tiny":
        save_tiny_model(out, "qwen2_5_vl", "tiny")
        return out
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from affectllm.archs import packaged_config

    tiny, processor = build_tiny_model("qwen2_5_vl", "tiny")
    config = AutoConfig.for_model(**packaged_config(HUB_ID))
    for key in ("image_token_id", "video_token_id", "vision_start_token_id",
                "vision_end_token_id"):
        setattr(config, key, getattr(tiny.config, key))
    text, tiny_text = config.get_text_config(), tiny.config.get_text_config()
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(text, key, getattr(tiny_text, key))
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.generation_config = tiny.generation_config
    model.save_pretrained(out)
    processor.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    return out


def _logged(output_dir: Path) -> tuple[float, float]:
    """(tokens TRL counted, train_runtime seconds) from the recipe's output folder."""
    state = json.loads((output_dir / "trainer_state.json").read_text())
    tokens = max((e["num_tokens"] for e in state["log_history"] if "num_tokens" in e),
                 default=0.0)
    runtime = json.loads((output_dir / "train_results.json").read_text())["train_runtime"]
    return float(tokens), float(runtime)


def peak_flops(override_tflops: float | None) -> float | None:
    import torch

    if override_tflops:
        return override_tflops * 1e12
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((t * 1e12 for key, t in PEAK_TFLOPS if key in name), None)


def stage_args(stage: str, steps: int, model: str, faces: Path, root: Path,
               size: str) -> list[str]:
    """The recipe overrides of one stage (the rest comes from the model's shipped config)."""
    args = ["--model_name_or_path", model, "--dataset_train", str(faces),
            "--save_strategy", "no", "--report_to", "none", "--logging_steps", "1",
            "--max_steps", str(steps), "--output_dir", str(root / stage)]
    if size == "3b":
        args += ["--max_train_samples", str(SIZES[size]["faces"])]
    if stage == "grpo":
        args += ["--use_vllm", "false", "--log_completions", "false"]
    return args


def planned(stage: str, size: str, overrides: list[str], completion_tokens: int | None):
    """`affectllm plan` of the stage as run here: one process, no DeepSpeed."""
    from affectllm.plan import plan_recipe

    return plan_recipe(SIZES[size][stage], accelerate_config="none", gpus=1,
                       completion_tokens=completion_tokens, extra=overrides)


def run_stage(stage: str, size: str, overrides: list[str], completion_tokens: int | None,
              peak: float | None, quiet: bool) -> dict:
    """Run one recipe in this process; its measured numbers and the plan's estimate."""
    import torch

    from affectllm.train.testing import load_recipe

    recipe = load_recipe("sft" if stage == "sft" else "grpo_facial_r1")
    cuda = size == "3b"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        recipe.main(["--config", str(SIZES[size][stage]), *overrides])
    wall = time.perf_counter() - start
    measured = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None
    plan = planned(stage, size, overrides, completion_tokens)
    tokens, runtime = _logged(Path(overrides[overrides.index("--output_dir") + 1]))
    lm = plan.model.by_part["language"][0]
    if not getattr(plan.model.config, "tie_word_embeddings", False):  # the lookup is no matmul
        lm -= plan.model.shape.vocab * plan.model.shape.hidden
    rate = tokens / runtime if runtime else 0.0
    estimated = plan.estimate.allocated_bytes / 2 ** 30
    return {
        "stage": stage, "steps": int(overrides[overrides.index("--max_steps") + 1]),
        "wall_seconds": round(wall, 1), "train_runtime": round(runtime, 2),
        "tokens": int(tokens), "tokens_per_second": round(rate, 1),
        "mfu": round(6 * lm * rate / peak, 4) if peak and cuda else None,
        "peak_allocated_gib": None if measured is None else round(measured, 2),
        "plan_allocated_gib": round(estimated, 2),
        "plan_vs_measured": None if not measured else round(estimated / measured, 3),
    }


def completion_length(rows_file: Path, tokenizer) -> int:
    """Longest SFT completion (reasoning + answer) of the faces, in the model's tokens."""
    from affectllm.io import read_jsonl

    return max(len(tokenizer(f"<think>{row['reasoning']}</think><answer>{row['answer']}"
                             "</answer>").input_ids) for _, row in read_jsonl(rows_file))


def run(size: str | None = None, sft_steps: int = 20, grpo_steps: int = 5,
        work: Path | None = None, peak_tflops: float | None = None, quiet: bool = True,
        plan_only: bool = False) -> dict:
    """Both stages at `size` ('3b' needs CUDA unless `plan_only`: then only the plan's
    estimates of the same settings, offline); returns the numbers (see `markdown`)."""
    import torch
    from transformers import AutoTokenizer

    from affectllm.data.toyfaces import generate_toyfaces
    from affectllm.tiny import build_tiny_model

    cuda = torch.cuda.is_available()
    size = size or ("3b" if cuda or plan_only else "tiny")
    if size == "3b" and not (cuda or plan_only):
        raise SystemExit("gpu_smoke: --size 3b needs a CUDA GPU; on a CPU use --size tiny "
                         "(or --plan-only for the estimates)")
    spec = SIZES[size]
    steps = {"sft": sft_steps, "grpo": grpo_steps}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(work or tmp)
        faces = generate_toyfaces(root / "faces", n=spec["faces"], size=spec["image"],
                                  reasoning="codes")["train"]
        if plan_only:
            lengths = {"sft": completion_length(faces, build_tiny_model("qwen2_5_vl")[1].tokenizer),
                       "grpo": None}
            stages = [{"stage": stage, "steps": steps[stage], "plan_allocated_gib": round(
                planned(stage, size, stage_args(stage, steps[stage], HUB_ID, faces, root, size),
                        lengths[stage]).estimate.allocated_bytes / 2 ** 30, 2)}
                for stage in ("sft", "grpo")]
            return {"size": size, "device": "not measured (plan only)", "stages": stages}
        model = str(build_model(size, root / "model"))
        lengths = {"sft": completion_length(faces, AutoTokenizer.from_pretrained(model)),
                   "grpo": None}
        peak = peak_flops(peak_tflops)
        stages = [run_stage(stage, size, stage_args(stage, steps[stage], model, faces, root, size),
                            lengths[stage], peak, quiet) for stage in ("sft", "grpo")]
    return {"size": size, "device": torch.cuda.get_device_name(0) if size == "3b" else "cpu",
            "peak_tflops": None if peak is None else peak / 1e12, "stages": stages}


def _cell(value, fmt: str = "{}") -> str:
    return "not measured" if value is None else fmt.format(value)


def markdown(result: dict) -> str:
    """The RESULTS.md section; GPU figures not measured yet read 'not measured'."""
    lines = [SECTION, "", "`python benchmarks/gpu_smoke.py` on one GPU: random-weight "
             "Qwen2.5-VL-3B (packaged architecture), bf16, recipes/models/qwen2_5_vl_3b "
             "configs, 448 px toy faces (256 image tokens); SFT 20 steps, GRPO 5 steps with "
             "transformers generation. MFU = 6 N D / (t x peak bf16), N = language-model "
             "parameters without the input embedding. Plan estimate: `affectllm plan` of the "
             "same settings (one process, PyTorch-allocated peak: no CUDA context).", "",
             f"Device: {result['device']}", "",
             "| stage | steps | tokens/s | MFU | peak allocated (GiB) | plan estimate (GiB) "
             "| estimate / measured |", "|---|---:|---:|---:|---:|---:|---:|"]
    for s in result["stages"]:
        lines.append(
            f"| {s['stage']} | {s['steps']} | {_cell(s.get('tokens_per_second'))} | "
            f"{_cell(s.get('mfu'), '{:.1%}')} | {_cell(s.get('peak_allocated_gib'))} | "
            f"{_cell(s.get('plan_allocated_gib'))} | {_cell(s.get('plan_vs_measured'))} |")
    lines += ["", "Goal: the plan's estimate within 20% of the measured peak."]
    return "\n".join(lines) + "\n"


def write_section(results_md: Path, section: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it); other sections stay."""
    from affectllm.io import write_text

    text = results_md.read_text(encoding="utf-8") if results_md.is_file() else ""
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    write_text(results_md, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default=None,
                        help="3b (default with CUDA) or tiny (default on a CPU)")
    parser.add_argument("--sft-steps", type=int, default=20)
    parser.add_argument("--grpo-steps", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None, help="keep files here (default: temp)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's dense bf16 TFLOP/s when its name is not in PEAK_TFLOPS")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--write-results", action="store_true",
                        help="update this benchmark's section of benchmarks/RESULTS.md (3b only)")
    parser.add_argument("--plan-only", action="store_true",
                        help="no training: only the plan's estimates of the same settings")
    parser.add_argument("--verbose", action="store_true", help="show the recipes' output")
    args = parser.parse_args(argv)
    result = run(args.size, args.sft_steps, args.grpo_steps, args.work, args.peak_tflops,
                 quiet=not args.verbose, plan_only=args.plan_only)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"size {result['size']} on {result['device']}")
        for s in result["stages"]:
            print(f"  {s['stage']:<5} {s['steps']:>3} steps  "
                  f"{_cell(s.get('tokens_per_second'), '{} tok/s')}  "
                  f"MFU {_cell(s.get('mfu'), '{:.1%}')}  peak allocated "
                  f"{_cell(s.get('peak_allocated_gib'), '{} GiB')}  "
                  f"plan {s['plan_allocated_gib']} GiB  wall {_cell(s.get('wall_seconds'), '{} s')}")
    if args.write_results and result["size"] == "3b":  # a GPU run, or the plan-only estimates
        write_section(REPO / "benchmarks" / "RESULTS.md", markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
