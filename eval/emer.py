"""EMER end to end: the model describes each clip; the description is compared with the reference.

    affectllm eval emer --model M --data-root EMER --judge JUDGE|none

EMER (the folder `affectllm.data.readers.emer` reads: ``gt-eng.csv``, ``final-EMER-reason.csv``,
``video/``). The reference of a sample is its English EMER description. Metrics:

=================  ================================================================================
metric             definition
=================  ================================================================================
clue_overlap       judge LLM, 1-10: overlap of the emotional states the two descriptions summarise
                   (`eval.judge.CLUE_PROMPT`); mean over valid judge replies, invalid ones counted
label_overlap      judge LLM, 1-10: overlap of the two sets of emotion words (`LABEL_PROMPT`)
ew_fscore          EW F-score, level 1 (`eval.scorers.ew_dataset_score`), ground truth = emotion
                   words of the reference, prediction = emotion words of the description, both
                   found with the lexicon (`rewards.find_emotion_words`); references without any
                   wheel word are not counted (n_counted)
rouge_l            mean ROUGE-L F-measure of description against reference (`eval.scorers.rouge_l`)
=================  ================================================================================

The description is the model's text with ``<think>``/``<answer>`` tags removed (think, then answer).
A failed generation counts as an empty description (listed). Output: OUT/descriptions.jsonl,
OUT/judge.jsonl (kept judge replies), OUT/scored.jsonl (per sample), report.json, report.md,
plots/scores.png, config.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from affectllm.data.readers import read
from affectllm.data.readers.emer import GT_FILE, REASON_FILE
from affectllm.errors import InputError
from affectllm.generation import Sampling
from affectllm.io import write_jsonl
from affectllm.progress import progress
from eval.describe import description_jobs, resolve_prompt, split_by_media
from eval.extract import lexicon_words
from eval.judge import PROMPTS, judge_mean, parse_score
from eval.plots import bar_plot
from eval.report import fmt, markdown_table, skipped_section, write_report
from eval.runs import (
    BackendPool,
    Job,
    KeptCalls,
    check_model_ref,
    fingerprint,
    model_stamp,
    print_throughput,
    run_jobs,
    text_request,
    write_run_config,
)
from eval.scorers import ew_dataset_score, rouge_l
from rewards import ew_score
from rewards.completion import parse_completion

BENCHMARK = "emer"
NO_JUDGE = "none"


@dataclass
class EmerConfig:
    model: str
    data_root: Path
    out: Path
    judge: str = NO_JUDGE
    backend: str = "auto"
    backend_options: dict = field(default_factory=dict)
    prompt: str = "affectgpt"
    system: str | None = None
    sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=512))
    judge_sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=256))
    limit: int | None = None
    rescore: bool = False
    plots: bool = True

    def record(self) -> dict:
        options = {k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v)
                   for k, v in self.backend_options.items()}
        return {"benchmark": BENCHMARK, "model": self.model, "data_root": str(self.data_root),
                "out": str(self.out), "judge": self.judge, "backend": self.backend,
                "backend_options": options, "prompt": self.prompt,
                "prompt_text": resolve_prompt(self.prompt), "system": self.system,
                "sampling": asdict(self.sampling),
                "judge_sampling": None if self.judge == NO_JUDGE else asdict(self.judge_sampling),
                "judge_prompts": None if self.judge == NO_JUDGE else PROMPTS,
                "limit": self.limit, "rescore": self.rescore}


def description_text(completion: str) -> str:
    """The description in a completion: think and answer joined when tagged, else the text."""
    parsed = parse_completion(completion or "")
    if parsed.think is None and parsed.answer is None:
        return (completion or "").strip()
    return " ".join(p.strip() for p in (parsed.think, parsed.answer) if p and p.strip())


def load(root: Path, limit: int | None) -> tuple[list[dict], list[dict]]:
    """(samples with a reference, skipped rows) of an EMER folder; InputError when it is not one."""
    if not (root / GT_FILE).is_file():
        raise InputError(f"not an EMER folder: expected {root / GT_FILE} (columns names,emotions,"
                         f"subtitles,reasons), optionally {root / REASON_FILE} (name,chinese,"
                         f"english), and {root}/video/<name>.mp4")
    result = read(root, "emer", on_error="skip")
    skipped = [{"dataset": BENCHMARK, "name": None,
                "kind": "missing_media" if "no media file" in p.reason else "invalid",
                "reason": p.reason, "file": p.path, "line": p.line} for p in result.problems]
    samples = []
    for s in result.samples:
        if s["reasoning"].strip():
            samples.append(s)
        else:
            skipped.append({"dataset": BENCHMARK, "name": s["id"], "kind": "no_reference",
                            "reason": "no reference description", "file": None, "line": None})
    samples, unusable = split_by_media(samples, root, BENCHMARK)
    return (samples[:limit] if limit else samples), skipped + unusable


def judge_jobs(judge: str, sampling: Sampling, pairs: dict[str, tuple[str, str]]) -> list[Job]:
    """Two judge prompts per sample (id -> (reference, prediction)); job ids ``metric:id``."""
    stamp = model_stamp(judge)
    jobs = []
    for metric, template in PROMPTS.items():
        base = {"stage": f"judge-{metric}", "model": stamp, "prompt": template,
                "sampling": asdict(sampling)}
        for i, (reference, prediction) in pairs.items():
            prompt = template.format(reference=reference, prediction=prediction or "(empty)")
            jobs.append(Job(f"{metric}:{i}", metric, text_request(prompt),
                            fingerprint({**base, "reference": reference, "prediction": prediction})))
    return jobs


def run(cfg: EmerConfig) -> dict:
    """Run the benchmark and write OUT; returns the report."""
    if not cfg.rescore:
        check_model_ref(cfg.model, "--model")
        check_model_ref(cfg.judge, "--judge", (NO_JUDGE,))
    root = cfg.data_root.resolve()
    samples, skipped = load(root, cfg.limit)
    if not samples:
        raise InputError("no EMER sample with media and a reference description", path=root)
    cfg.out.mkdir(parents=True, exist_ok=True)
    config = write_run_config(cfg.out, cfg.record())
    pool = None if cfg.rescore else BackendPool(cfg.backend, **cfg.backend_options)
    stages = {}
    try:
        jobs = description_jobs(samples, root, model=cfg.model, prompt=resolve_prompt(cfg.prompt),
                                system=cfg.system, sampling=cfg.sampling, group=lambda s: "emer")
        described = run_jobs(jobs, KeptCalls({"emer": cfg.out / "descriptions.jsonl"}), pool=pool,
                             model=cfg.model, sampling=cfg.sampling, desc="describing",
                             role="generation", reuse_only=cfg.rescore)
        stages["descriptions"] = described
        predictions = {s["id"]: "" if described.rows[s["id"]].get("error")
                       else description_text(described.rows[s["id"]]["text"]) for s in samples}
        judged: dict[str, dict] = {}
        if cfg.judge != NO_JUDGE:
            pairs = {s["id"]: (s["reasoning"], predictions[s["id"]]) for s in samples}
            result = run_jobs(judge_jobs(cfg.judge, cfg.judge_sampling, pairs),
                              KeptCalls({m: cfg.out / f"judge_{m}.jsonl" for m in PROMPTS}),
                              pool=pool, model=cfg.judge, sampling=cfg.judge_sampling,
                              desc="judging", role="judge", reuse_only=cfg.rescore)
            stages["judge"] = result
            judged = result.rows
    finally:
        if pool is not None:
            pool.release()
    report = score(cfg, samples, predictions, judged, described.failed)
    report.update(skipped=skipped, skipped_count=len(skipped),
                  stages={k: v.summary() for k, v in stages.items()},
                  throughput={} if pool is None else pool.report(),
                  models_loaded=[] if pool is None else list(pool.loaded), config=config)
    if cfg.plots:
        m = report["metrics"]
        path = bar_plot(cfg.out / "plots" / "scores.png",
                        ["clue overlap /10", "label overlap /10", "EW F-score", "ROUGE-L"],
                        [None if m["clue_overlap"] is None else m["clue_overlap"] / 10,
                         None if m["label_overlap"] is None else m["label_overlap"] / 10,
                         m["ew_fscore"], m["rouge_l"]], "EMER", "score (0-1)", ylim=(0, 1.05))
        report["files"]["plots"].append(str(path))
    write_report(cfg.out, report, render_markdown(cfg, report))
    print(render_table(report))
    print_throughput(pool)
    print(f"report: {cfg.out / 'report.md'}")
    return report


def score(cfg: EmerConfig, samples: list[dict], predictions: dict[str, str],
          judged: dict[str, dict], failed: list[str]) -> dict:
    """Per-sample rows (OUT/scored.jsonl) and the data-set metrics (module docstring)."""
    rows, ref_words, pred_words, rouges = [], [], [], []
    judge_scores: dict[str, list[float | None]] = {m: [] for m in PROMPTS}
    for s in progress(samples, desc="scoring", unit="sample"):
        i, reference, prediction = s["id"], s["reasoning"], predictions[s["id"]]
        rw, pw = lexicon_words(reference), lexicon_words(prediction)
        per = ew_score(rw, pw)
        row = {"id": i, "reference_words": rw, "predicted_words": pw,
               "ew_fscore": None if per is None else per.fscore,
               "rouge_l": rouge_l(reference, prediction)}
        for metric in PROMPTS:
            reply = judged.get(f"{metric}:{i}")
            value = None if reply is None or reply.get("error") else parse_score(reply["text"])
            if judged:
                judge_scores[metric].append(value)
            row[metric] = value
        rows.append(row)
        ref_words.append(rw)
        pred_words.append(pw)
        rouges.append(row["rouge_l"])
    write_jsonl(cfg.out / "scored.jsonl", rows)
    ew = ew_dataset_score(ref_words, pred_words, level=1)
    judges = {m: judge_mean(v).as_dict() for m, v in judge_scores.items()} if judged else {}
    metrics = {"clue_overlap": judges.get("clue_overlap", {}).get("mean"),
               "label_overlap": judges.get("label_overlap", {}).get("mean"),
               "ew_fscore": ew.fscore, "rouge_l": sum(rouges) / len(rouges)}
    return {"benchmark": BENCHMARK, "model": cfg.model, "judge": cfg.judge, "metrics": metrics,
            "judge_scores": judges,
            "ew": {"fscore": ew.fscore, "precision": ew.precision, "recall": ew.recall,
                   "n_counted": ew.n},
            "n_samples": len(samples), "failed_generations": failed,
            "files": {"report_md": str(cfg.out / "report.md"),
                      "config": str(cfg.out / "config.json"),
                      "descriptions": str(cfg.out / "descriptions.jsonl"),
                      "scored": str(cfg.out / "scored.jsonl"), "plots": []}}


def render_table(report: dict) -> str:
    m, j = report["metrics"], report["judge_scores"]

    def judged(metric: str) -> str:
        if metric not in j:
            return "- (no judge)"
        return f"{fmt(m[metric])} ({j[metric]['n_invalid']} invalid of " \
               f"{j[metric]['n_valid'] + j[metric]['n_invalid']})"

    return markdown_table(["metric", "value"], [
        ["clue overlap (1-10)", judged("clue_overlap")],
        ["label overlap (1-10)", judged("label_overlap")],
        ["EW F-score (level 1, lexicon)", fmt(m["ew_fscore"], 4)],
        ["ROUGE-L", fmt(m["rouge_l"], 4)]])


def render_markdown(cfg: EmerConfig, report: dict) -> str:
    conf = report["config"]
    lines = [f"# EMER: {cfg.model}", "",
             f"Judge: `{cfg.judge}`; prompt `{conf['prompt']}`; generation temperature "
             f"{cfg.sampling.temperature}, seed {cfg.sampling.seed}; judge temperature "
             f"{cfg.judge_sampling.temperature}; {report['n_samples']} samples; "
             f"{len(report['failed_generations'])} failed generations; run {conf['started']}.", "",
             render_table(report), "",
             f"EW F-score counted on {report['ew']['n_counted']} samples whose reference names an "
             "emotion-wheel word (precision "
             f"{fmt(report['ew']['precision'], 4)}, recall {fmt(report['ew']['recall'], 4)})."]
    section = skipped_section(report["skipped"])
    if section:
        lines += ["", section]
    if report["files"]["plots"]:
        lines += ["", "![scores](plots/scores.png)"]
    return "\n".join(lines)
