"""``affectllm eval``: run a benchmark end to end (generate, extract, score, report).

    affectllm eval mer-unibench --model PATH --data-root DIR [--datasets ...] [--extractor answer|lexicon|MODEL]
    affectllm eval emer         --model PATH --data-root DIR --judge MODEL|none [--protocol affectgpt|project]
    affectllm eval facial       --model PATH --data DIR_OR_JSONL [--split test] [--limit N]

Every run writes OUT/config.json (the resolved config), OUT/report.json, OUT/report.md and
OUT/plots/*.png, and keeps every intermediate (model answers, extracted labels, CSVs), so running
the same command again re-scores without generating; ``--rescore`` never loads a model. Options
with two words are also accepted with underscores (``--max_new_tokens``), as pipelines pass them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from affectllm.errors import InputError
from affectllm.generation import BACKENDS, Sampling
from affectllm.models import PixelBudget
from eval.runs import default_out


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def _opt(p: argparse.ArgumentParser, name: str, **kwargs) -> None:
    """An option spelled with dashes, also accepted with underscores."""
    names = [f"--{name}"] + ([f"--{name.replace('-', '_')}"] if "-" in name else [])
    p.add_argument(*names, **kwargs)


def _flag(p: argparse.ArgumentParser, name: str, help: str, default: bool = False) -> None:
    """A switch that also takes an explicit value (``--rescore`` or ``--rescore true``)."""
    _opt(p, name, nargs="?", const=True, default=default, type=_bool, metavar="BOOL", help=help)


def _add_model_args(p: argparse.ArgumentParser, prompt_default: str, max_new_tokens: int,
                    model_task: bool = False) -> None:
    """The model, prompt, generation and backend options; with `model_task`, the prompt, system
    message, pixel budget and video sampling default to the model folder's affectllm_task.json
    (then `prompt_default`)."""
    p.add_argument("--model", required=True, help="the model to evaluate (local folder or hub id)")
    _opt(p, "out", type=Path, default=None,
         help="output folder (default: runs/eval/<benchmark>/<model folder name>)")
    where = ("the prompt the model was trained with (its affectllm_task.json), else "
             f"{prompt_default}") if model_task else prompt_default
    _opt(p, "prompt", default=None if model_task else prompt_default,
         help="prompt name (affectgpt, openset, facial, sample = each sample's question) or "
              f"text (default: {where})")
    _opt(p, "system", default=None, help="optional system message" + (
        " (default: the model's training system prompt)" if model_task else ""))
    g = p.add_argument_group("generation")
    _opt(g, "temperature", type=float, default=0.0, help="0 = greedy (default)")
    _opt(g, "top-p", type=float, default=1.0)
    _opt(g, "top-k", type=int, default=0)
    _opt(g, "repetition-penalty", type=float, default=1.0)
    _opt(g, "max-new-tokens", type=_positive_int, default=max_new_tokens)
    _opt(g, "seed", type=int, default=0)
    _opt(g, "limit", type=_positive_int, default=None, help="evaluate at most N samples (per data set)")
    _flag(g, "rescore", "score the kept intermediates only: no model is loaded")
    _flag(g, "plots", "write PNG plots (default: true)", default=True)
    b = p.add_argument_group("backend")
    _opt(b, "backend", choices=BACKENDS, default="auto",
         help="auto: vllm when installed with a GPU, else hf (default)")
    _opt(b, "batch-size", type=_positive_int, default=8, help="hf: prompts per batch (sorted by length)")
    _opt(b, "tensor-parallel-size", type=_positive_int, default=1, help="vllm")
    _opt(b, "data-parallel-size", type=_positive_int, default=1, help="vllm")
    _opt(b, "gpu-memory-utilization", type=_fraction, default=0.85, help="vllm")
    _opt(b, "max-model-len", type=_positive_int, default=None, help="vllm")
    _opt(b, "dtype", default="auto")
    _opt(b, "max-pixels", type=int, default=None, help="image pixel budget (Qwen-VL)")
    _opt(b, "min-pixels", type=int, default=None)
    r = p.add_argument_group("engine (generation on a Ray cluster: pip install 'affectllm[ray]')")
    _opt(r, "engine", choices=("local", "ray"), default="local",
         help="local: one backend in this process (default); ray: --replicas copies of the "
              "backend on a Ray cluster, same results")
    _opt(r, "ray-address", default="local",
         help="local (start Ray here), auto (the cluster of `ray start`) or host:port")
    _opt(r, "replicas", type=_positive_int, default=1, help="backend replicas (data parallel)")
    _opt(r, "gpus-per-replica", type=float, default=0,
         help="GPUs per replica (> 1: vLLM tensor parallelism inside a replica)")
    _opt(r, "cpus-per-replica", type=float, default=1, help="CPUs per replica")


def _sampling(args: argparse.Namespace) -> Sampling:
    return Sampling(n=1, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                    max_new_tokens=args.max_new_tokens,
                    repetition_penalty=args.repetition_penalty, seed=args.seed)


def _helper_sampling(args: argparse.Namespace, prefix: str) -> Sampling:
    get = lambda k: getattr(args, f"{prefix}_{k}")  # noqa: E731
    return Sampling(n=1, temperature=get("temperature"), top_p=get("top_p"),
                    max_new_tokens=get("max_new_tokens"),
                    repetition_penalty=get("repetition_penalty"), seed=args.seed)


def _add_helper_sampling(p: argparse.ArgumentParser, prefix: str, what: str) -> None:
    g = p.add_argument_group(f"{what} sampling (default deterministic; the official pipeline "
                             "samples at temperature 0.7, top-p 0.8, repetition penalty 1.05)")
    _opt(g, f"{prefix}-temperature", type=float, default=0.0)
    _opt(g, f"{prefix}-top-p", type=float, default=1.0)
    _opt(g, f"{prefix}-repetition-penalty", type=float, default=1.0)
    _opt(g, f"{prefix}-max-new-tokens", type=int, default=256)


def _backend_options(args: argparse.Namespace) -> dict:
    options = {"batch_size": args.batch_size, "tensor_parallel_size": args.tensor_parallel_size,
               "data_parallel_size": args.data_parallel_size,
               "gpu_memory_utilization": args.gpu_memory_utilization, "dtype": args.dtype,
               "seed": args.seed, "max_images": 1, "max_videos": 1}
    if args.max_model_len:
        options["max_model_len"] = args.max_model_len
    if args.max_pixels or args.min_pixels:
        options["pixels"] = PixelBudget(min_pixels=args.min_pixels, max_pixels=args.max_pixels)
    if args.engine == "ray" and not args.rescore:
        from affectllm.distributed import ray_settings, require_ray

        require_ray()  # exit 2 naming the extra, before anything is written
        options["engine"] = ray_settings({
            "address": args.ray_address, "replicas": args.replicas,
            "gpus_per_replica": args.gpus_per_replica,
            "cpus_per_replica": args.cpus_per_replica}, "--engine ray").as_dict()
    return options


def _model_config(args: argparse.Namespace, benchmark: str) -> dict:
    """The config fields every benchmark takes from the options of `_add_model_args` (checked)."""
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    return {"model": args.model, "out": args.out or default_out(benchmark, args.model),
            "backend": args.backend, "backend_options": _backend_options(args),
            "prompt": args.prompt, "system": args.system, "sampling": _sampling(args),
            "limit": args.limit, "rescore": args.rescore, "plots": args.plots}


def cmd_mer_unibench(args: argparse.Namespace) -> int:
    from eval.mer_unibench import MerConfig, run

    run(MerConfig(
        **_model_config(args, "mer-unibench"), data_root=Path(args.data_root),
        datasets=args.datasets, extractor=args.extractor, subtitles=args.subtitles,
        extractor_sampling=_helper_sampling(args, "extractor"), reference=args.reference))
    return 0


def cmd_emer(args: argparse.Namespace) -> int:
    from eval.emer import EmerConfig, run

    run(EmerConfig(
        **_model_config(args, "emer"), data_root=Path(args.data_root), judge=args.judge,
        protocol=args.protocol, language=args.language,
        media_root=None if args.media_root is None else Path(args.media_root),
        judge_sampling=_helper_sampling(args, "judge")))
    return 0


def _with_model_task(config: dict, args: argparse.Namespace, fallback: str) -> dict:
    """`config` with the prompt, system message, pixel budget and video sampling the model was
    trained with (its affectllm_task.json) where no option sets them; adds ``prompt_source``."""
    from affectllm.task import prompt_for, read_task

    config["prompt"], config["prompt_source"] = prompt_for(args.model, args.prompt, fallback)
    task = read_task(args.model)
    if task is not None:
        if args.system is None:
            config["system"] = task.system_prompt
        options = config["backend_options"]
        if "pixels" not in options:
            options["pixels"] = task.pixel_budget()
        options["video"] = task.video_sampling()
    return config


def cmd_facial(args: argparse.Namespace) -> int:
    from eval.facial import FacialConfig, run

    run(FacialConfig(
        **_with_model_task(_model_config(args, "facial"), args, "facial"), data=Path(args.data),
        split=args.split, data_root=None if args.data_root is None else Path(args.data_root)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` with sub-subcommands ``mer-unibench``, ``emer`` and ``facial``."""
    parser = subparsers.add_parser(
        "eval", help="run a benchmark end to end: generate, extract, score, report",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)

    p = sub.add_parser(
        "mer-unibench", help="the nine MER-UniBench data sets (EW F-score, HIT rate, sentiment F1)",
        description="MER-UniBench: OV-MERD+ (EW F-score, level 1), MER2023, MER2024, MELD, "
                    "IEMOCAPFour (HIT rate), CMU-MOSI, CMU-MOSEI, SIMS, SIMSv2 (weighted F1, "
                    "accuracy beside it); mean = unweighted mean of the nine x 100. The data root "
                    "is the official dataset/ folder as released (mer2023-dataset-process/, "
                    "meld-process/, ...; see affectllm/data/readers/mer_unibench.py).")
    _add_model_args(p, "openset", 512)
    _opt(p, "data-root", required=True, help="the MER-UniBench dataset/ folder")
    _opt(p, "datasets", nargs="+", default=None, metavar="NAME",
         help="data sets to run (default: every one found in the data root)")
    _opt(p, "extractor", default="answer",
         help="answer (parse <answer>), lexicon (emotion-wheel phrase matcher) or an extractor "
              "LLM (model path; the same path as --model reuses its engine). Default: answer")
    _flag(p, "subtitles", "put the clip's subtitle in the prompt, as AffectGPT does (official "
          "subtitle files; default: true)", default=True)
    _opt(p, "reference", type=Path, default=None,
         help="YAML of published rows to show beside ours (template: eval/published.yaml)")
    _add_helper_sampling(p, "extractor", "extractor")
    p.set_defaults(func=cmd_mer_unibench)

    p = sub.add_parser(
        "emer", help="EMER descriptions: judge clue/label overlap (1-10), EW F-score, ROUGE-L",
        description="EMER: the model describes each clip; a judge LLM rates clue overlap and "
                    "label overlap with the reference description on 1-10, by default with the "
                    "AffectGPT protocol (its steps, parsing and averaging; prompts in our own "
                    "words; a local judge, so not comparable with published numbers) on the "
                    "Chinese references; "
                    "EW F-score of the emotion words (lexicon) and ROUGE-L need no judge.")
    _add_model_args(p, "affectgpt", 512)
    _opt(p, "data-root", required=True,
         help="EMER/dataset-v1 (gt-eng.csv, gt-chi.csv) or EMER/dataset-v2 "
              "(final-EMER-reason.csv)")
    _opt(p, "media-root", default=None,
         help="folder with the clips (video-process/, video/ or the clips themselves), e.g. the "
              "MER2023 dataset folder (default: the data root)")
    _opt(p, "judge", required=True, help="judge LLM (model path) or none")
    _opt(p, "protocol", choices=("affectgpt", "project"), default="affectgpt",
         help="affectgpt: AffectGPT's EMER judge steps, reply parsing and averaging, prompts in "
              "our own words (default); "
              "project: this project's own judge prompts")
    _opt(p, "language", choices=("zh", "en"), default="zh",
         help="reference descriptions the judge compares with (AffectGPT uses zh, the default)")
    _add_helper_sampling(p, "judge", "judge")
    p.set_defaults(func=cmd_emer)

    p = sub.add_parser(
        "facial", help="Facial-R1 style: emotion accuracy, AU F1, ROUGE-L, format rate, reward",
        description="Facial benchmark on canonical JSONL (toy faces, FEA-20K): emotion accuracy, "
                    "AU F1 (micro and per AU), ROUGE-L of the reasoning, format rate and the mean "
                    "summed au + accuracy + format reward. report.json['metrics'] holds accuracy, "
                    "au_f1, format_rate, mean_reward, rouge_l.")
    _add_model_args(p, "facial", 256, model_task=True)
    p.add_argument("--data", required=True,
                   help="a canonical JSONL file, or a folder holding SPLIT.jsonl")
    _opt(p, "split", default="test", help="split file in a --data folder (default: test)")
    _opt(p, "data-root", default=None,
         help="folder media paths are relative to (default: the data file's data root)")
    p.set_defaults(func=cmd_facial)
