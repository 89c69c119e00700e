"""Facial benchmark (Facial-R1 style) on canonical JSONL: toy faces, FEA-20K, ...

    affectllm eval facial --model M --data DIR_OR_JSONL [--split test] [--out DIR] [--limit N]

The model answers `affectllm.prompts.facial_prompt()` (or ``--prompt``) for each face. With
T = the ``<think>`` span of a completion (the whole completion when it has no think span) and
A = its ``<answer>`` span:

==============  ====================================================================================
metric          definition
==============  ====================================================================================
accuracy        `eval.scorers.emotion_accuracy`: canonical_label(A) == the sample's first label, over
                samples with a label (no answer = wrong)
au_f1           micro AU F1 (`eval.scorers.au_scores`): AU codes in T against the sample's ``aus``,
                2Σtp / (2Σtp + Σfp + Σfn); per-AU F1 and macro F1 in ``au``
format_rate     fraction of completions that are exactly ``<think>X</think><answer>Y</answer>``
mean_reward     (1/N) Σ_samples [r_au + r_accuracy + r_format] with the GRPO rewards of the
                `rewards` registry (``au``: 2·F1 - 1 over the think span, ``accuracy``: 0/1,
                ``format``: 0/1); a reward that does not apply (None, e.g. ``au`` on a face without
                AUs) adds 0. Range [-1, 3].
rouge_l         mean ROUGE-L F-measure of T against the sample's reference ``reasoning``, over the
                samples that have one
==============  ====================================================================================

``report.json["metrics"]`` = ``{"accuracy", "au_f1", "format_rate", "mean_reward", "rouge_l"}``
(values in [0, 1] except mean_reward): the stable keys the pipeline and the quickstart read. A
failed generation counts as an empty completion (listed in ``failed_generations``); a sample whose
media is missing is skipped and listed. Files: OUT/completions.jsonl (kept), OUT/scored.jsonl,
report.json, report.md, plots/au_f1.png, plots/confusion.png, config.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from affectllm.data.schema import data_root, load_samples
from affectllm.errors import InputError
from affectllm.generation import Sampling
from affectllm.io import write_jsonl
from affectllm.progress import progress
from eval.confusion import Confusion, confusion
from eval.describe import description_jobs, resolve_prompt, split_by_media
from eval.plots import au_plot, confusion_plot
from eval.report import fmt, markdown_table, skipped_section, write_report
from eval.runs import (
    BackendPool,
    KeptCalls,
    check_model_ref,
    print_throughput,
    run_jobs,
    write_run_config,
)
from eval.scorers import au_scores, emotion_accuracy, format_rate, mean_rouge_l
from rewards import build_rewards, parse_completion
from rewards.aus import find_aus
from rewards.labels import FACIAL_LABELS, canonical_label

BENCHMARK = "facial"
REWARDS = ("au", "accuracy", "format")
PROMPT_SOURCES = {"option": "from --prompt", "model": "the model's training prompt, from its "
                  "affectllm_task.json", "default": "the benchmark default"}
NO_ANSWER = "(no answer)"          # confusion column: no <answer> label found
OTHER = "(outside label set)"      # confusion column: an answer that is not one of the labels


@dataclass
class FacialConfig:
    model: str
    data: Path
    out: Path
    split: str = "test"
    data_root: Path | None = None
    backend: str = "auto"
    backend_options: dict = field(default_factory=dict)
    prompt: str = "facial"
    system: str | None = None
    #: Where the prompt came from: "option" (--prompt), "model" (its affectllm_task.json) or
    #: "default".
    prompt_source: str = "default"
    sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=256))
    limit: int | None = None
    rescore: bool = False
    plots: bool = True

    def record(self, data_file: Path, root: Path) -> dict:
        options = {k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v)
                   for k, v in self.backend_options.items()}
        return {"benchmark": BENCHMARK, "model": self.model, "data": str(data_file),
                "data_root": str(root), "split": self.split, "out": str(self.out),
                "backend": self.backend, "backend_options": options, "prompt": self.prompt,
                "prompt_text": resolve_prompt(self.prompt), "prompt_source": self.prompt_source,
                "system": self.system,
                "sampling": asdict(self.sampling), "limit": self.limit, "rescore": self.rescore,
                "rewards": list(REWARDS)}


def data_file(data: Path, split: str) -> Path:
    """`data` itself, or ``data/<split>.jsonl`` for a folder; InputError naming what is missing."""
    if data.is_file():
        return data
    if data.is_dir():
        path = data / f"{split}.jsonl"
        if not path.is_file():
            found = ", ".join(sorted(p.name for p in data.glob("*.jsonl"))) or "none"
            raise InputError(f"no {split}.jsonl in this folder (JSONL files here: {found})",
                             path=data)
        return path
    raise InputError("file or folder not found", path=data)


def reasoning_text(completion: str) -> str:
    """T of the module docstring: the think span, or the whole completion without one."""
    parsed = parse_completion(completion or "")
    return parsed.think if parsed.think is not None else (completion or "")


def predicted_label(completion: str) -> str | None:
    """The canonical label of the answer span, or None without one."""
    answer = parse_completion(completion or "").answer
    return None if answer is None else canonical_label(answer)


def summed_rewards(completions: list[str], samples: list[dict]) -> list[float]:
    """Per sample r_au + r_accuracy + r_format (None counts 0), with the registry's rewards."""
    funcs = build_rewards(list(REWARDS)).funcs
    columns = {"labels": [s["labels"] for s in samples], "aus": [s["aus"] for s in samples]}
    totals = [0.0] * len(completions)
    for f in funcs:
        for k, value in enumerate(f(completions, **columns)):
            totals[k] += value or 0.0
    return totals


def run(cfg: FacialConfig) -> dict:
    """Run the benchmark and write OUT; returns the report."""
    if not cfg.rescore:
        check_model_ref(cfg.model, "--model")
    path = data_file(cfg.data, cfg.split)
    root = (cfg.data_root or data_root(path)).resolve()
    samples, skipped = split_by_media(load_samples(path), root, BENCHMARK, path)
    samples = samples[:cfg.limit] if cfg.limit else samples
    if not samples:
        raise InputError("no sample with its media to evaluate", path=path)
    cfg.out.mkdir(parents=True, exist_ok=True)
    config = write_run_config(cfg.out, cfg.record(path, root))
    pool = None if cfg.rescore else BackendPool(cfg.backend, **cfg.backend_options)
    try:
        jobs = description_jobs(samples, root, model=cfg.model, prompt=resolve_prompt(cfg.prompt),
                                system=cfg.system, sampling=cfg.sampling, group=lambda s: "facial")
        result = run_jobs(jobs, KeptCalls({"facial": cfg.out / "completions.jsonl"}), pool=pool,
                          model=cfg.model, sampling=cfg.sampling, desc="answering",
                          role="generation", reuse_only=cfg.rescore)
    finally:
        if pool is not None:
            pool.release()
    completions = ["" if result.rows[s["id"]].get("error") else result.rows[s["id"]]["text"]
                   for s in samples]
    report = score(cfg, samples, completions)
    report.update(failed_generations=result.failed, skipped=skipped, skipped_count=len(skipped),
                  stages={"completions": result.summary()},
                  throughput={} if pool is None else pool.report(),
                  models_loaded=[] if pool is None else list(pool.loaded), config=config)
    if cfg.plots:
        per_au = report["au"]["per_au"]
        au_path = au_plot(cfg.out / "plots" / "au_f1.png",
                          {au: v["f1"] for au, v in per_au.items()},
                          support={au: v["tp"] + v["fn"] for au, v in per_au.items()})
        c = report["confusion"]
        cm_path = confusion_plot(cfg.out / "plots" / "confusion.png",
                                 Confusion(c["rows"], c["cols"], c["counts"]),
                                 "emotion: gold vs predicted")
        report["files"]["plots"] = [str(au_path), str(cm_path)]
    write_report(cfg.out, report, render_markdown(cfg, report))
    print(render_table(report))
    print_throughput(pool)
    print(f"report: {cfg.out / 'report.md'}")
    return report


def score(cfg: FacialConfig, samples: list[dict], completions: list[str]) -> dict:
    """The metrics of the module docstring, per-sample rows (OUT/scored.jsonl) and the confusion."""
    labelled = [k for k, s in enumerate(samples) if s["labels"]]
    predicted = [predicted_label(c) for c in progress(completions, desc="scoring", unit="sample")]
    reasoning = [reasoning_text(c) for c in completions]
    accuracy = (emotion_accuracy([samples[k]["labels"][0] for k in labelled],
                                 [predicted[k] for k in labelled]) if labelled else None)
    au = au_scores([s["aus"] for s in samples], reasoning)
    with_reference = [k for k, s in enumerate(samples) if s["reasoning"].strip()]
    rouge = (mean_rouge_l([samples[k]["reasoning"] for k in with_reference],
                          [reasoning[k] for k in with_reference]) if with_reference else None)
    rewards = summed_rewards(completions, samples)
    metrics = {"accuracy": accuracy, "au_f1": au.micro_f1, "format_rate": format_rate(completions),
               "mean_reward": sum(rewards) / len(rewards), "rouge_l": rouge}
    labels = list(dict.fromkeys([*FACIAL_LABELS, *(samples[k]["labels"][0] for k in labelled)]))
    pred_cols = [NO_ANSWER if predicted[k] is None else predicted[k]
                 if predicted[k] in labels else OTHER for k in labelled]
    matrix = confusion([samples[k]["labels"][0] for k in labelled], pred_cols, labels,
                       extra_cols=(NO_ANSWER, OTHER))
    write_jsonl(cfg.out / "scored.jsonl", (
        {"id": s["id"], "gold": s["labels"][0] if s["labels"] else None,
         "predicted": predicted[k], "gold_aus": s["aus"], "predicted_aus": find_aus(reasoning[k]),
         "reward": rewards[k]} for k, s in enumerate(samples)))
    return {"benchmark": BENCHMARK, "model": cfg.model, "metrics": metrics,
            "au": {"micro_f1": au.micro_f1, "micro_precision": au.micro_precision,
                   "micro_recall": au.micro_recall, "macro_f1": au.macro_f1,
                   "per_au": {a: {"f1": c.f1, "tp": c.tp, "fp": c.fp, "fn": c.fn}
                              for a, c in au.per_au.items()}},
            "confusion": matrix.as_dict(), "n_samples": len(samples),
            "n_labelled": len(labelled), "n_with_reference": len(with_reference),
            "files": {"report_md": str(cfg.out / "report.md"),
                      "config": str(cfg.out / "config.json"),
                      "completions": str(cfg.out / "completions.jsonl"),
                      "scored": str(cfg.out / "scored.jsonl"), "plots": []}}


def render_table(report: dict) -> str:
    m = report["metrics"]
    return markdown_table(["metric", "value"], [
        ["emotion accuracy", fmt(m["accuracy"], 4)], ["AU F1 (micro)", fmt(m["au_f1"], 4)],
        ["format rate", fmt(m["format_rate"], 4)],
        ["mean reward (au + accuracy + format)", fmt(m["mean_reward"], 4)],
        ["ROUGE-L (reasoning)", fmt(m["rouge_l"], 4)]])


def render_markdown(cfg: FacialConfig, report: dict) -> str:
    conf = report["config"]
    per_au = report["au"]["per_au"]
    lines = [f"# Facial benchmark: {cfg.model}", "",
             f"Data `{conf['data']}` ({report['n_samples']} samples, "
             f"{len(report['failed_generations'])} failed generations, {report['skipped_count']} "
             f"skipped); prompt `{conf['prompt']}` ({PROMPT_SOURCES[conf['prompt_source']]}); temperature {cfg.sampling.temperature}, seed "
             f"{cfg.sampling.seed}; run {conf['started']}.", "", render_table(report), "",
             "## AU F1 per action unit", "",
             markdown_table(["AU", "F1", "tp", "fp", "fn"],
                            [[a, fmt(v["f1"], 3), v["tp"], v["fp"], v["fn"]]
                             for a, v in per_au.items()]) if per_au else "(no AU in gold or "
             "predictions)",
             "", f"Macro AU F1 (AUs present in gold): {fmt(report['au']['macro_f1'], 4)}."]
    section = skipped_section(report["skipped"])
    if section:
        lines += ["", section]
    if report["files"]["plots"]:
        lines += ["", "![AU F1](plots/au_f1.png)", "", "![confusion](plots/confusion.png)"]
    return "\n".join(lines)
