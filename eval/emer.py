"""EMER end to end: the model describes each clip; the description is compared with the reference.

    affectllm eval emer --model M --data-root EMER/dataset-v2 --judge JUDGE|none
                        [--protocol affectgpt|project] [--language zh|en] [--media-root CLIPS]

EMER as released (the folders `affectllm.data.readers.emer` reads: dataset-v1 ``gt-eng.csv`` +
``gt-chi.csv``, dataset-v2 ``final-EMER-reason.csv``; clips in ``video-process/``, ``video/`` or
``--media-root``). Metrics:

=================  ================================================================================
metric             definition
=================  ================================================================================
clue_overlap       judge LLM, 1-10. ``--protocol affectgpt`` (default): AffectGPT's clue-overlap
                   step (prompts in our own words) on the reference and the description, upstream's
                   reply parsing and averaging (`eval.emer_affectgpt`). ``--protocol project``: the
                   project's own prompt (`eval.judge.CLUE_PROMPT`, parsed by
                   `eval.judge.parse_score`).
label_overlap      judge LLM, 1-10. affectgpt: each description is first reduced to its emotion
                   words (one summary call for the reference, one for the description), then the
                   two summaries are rated; project: one call (`eval.judge.LABEL_PROMPT`).
ew_fscore          (project metric) EW F-score, level 1, of the emotion words the lexicon finds in
                   the English reference and in the description (`rewards.find_emotion_words`);
                   references without a wheel word are not counted (n_counted)
rouge_l            (project metric) mean ROUGE-L F-measure (``rouge-score``) of the description
                   against the English reference
=================  ================================================================================

References: ``--language zh`` (default, as in AffectGPT's protocol) judges against the Chinese
descriptions (``reason_zh``), ``en`` against the English ones; samples without a reference in that
language are skipped and listed. The judge means are over valid replies; invalid ones are counted.
AffectGPT's judge was GPT-3.5 (temperature 0) with its own prompt text; a local judge with our
wording is the same method, not the same measurement (scores are not directly comparable with
published numbers), and the report says so.

The description is the model's text with ``<think>``/``<answer>`` tags removed (think, then answer).
A failed generation counts as an empty description (listed). Output: OUT/descriptions.jsonl,
OUT/judge_*.jsonl (kept judge replies), OUT/scored.jsonl (per sample), report.json, report.md,
plots/scores.png, config.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from affectllm.data.readers import read
from affectllm.errors import InputError
from affectllm.generation import Sampling
from affectllm.io import write_jsonl
from affectllm.progress import progress
from eval.describe import description_jobs, resolve_prompt, sample_meta, split_by_media
from eval.emer_affectgpt import LANGUAGES, parse_affectgpt_score
from eval.emer_affectgpt import PROMPTS as AFFECTGPT_PROMPTS
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
PROTOCOLS = ("affectgpt", "project")
JUDGED = ("clue_overlap", "label_overlap")


@dataclass
class EmerConfig:
    model: str
    data_root: Path
    out: Path
    judge: str = NO_JUDGE
    protocol: str = "affectgpt"
    language: str = "zh"
    media_root: Path | None = None
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
                "media_root": None if self.media_root is None else str(self.media_root),
                "out": str(self.out), "judge": self.judge, "protocol": self.protocol,
                "language": self.language, "backend": self.backend,
                "backend_options": options, "prompt": self.prompt,
                "prompt_text": resolve_prompt(self.prompt), "system": self.system,
                "sampling": asdict(self.sampling),
                "judge_sampling": None if self.judge == NO_JUDGE else asdict(self.judge_sampling),
                "judge_prompts": None if self.judge == NO_JUDGE else self.judge_prompts(),
                "limit": self.limit, "rescore": self.rescore}

    def judge_prompts(self) -> dict[str, str]:
        return AFFECTGPT_PROMPTS[self.language] if self.protocol == "affectgpt" else PROMPTS

    def check(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise InputError(f"--protocol must be one of {', '.join(PROTOCOLS)}")
        if self.language not in LANGUAGES:
            raise InputError(f"--language must be one of {', '.join(LANGUAGES)}")


def reference(sample: dict, language: str) -> str:
    """The reference description of `sample` in `language` (zh: ``meta.reason_zh``)."""
    if language == "zh":
        return str(sample_meta(sample).get("reason_zh") or "").strip()
    return sample["reasoning"].strip()


def description_text(completion: str) -> str:
    """The description in a completion: think and answer joined when tagged, else the text."""
    parsed = parse_completion(completion or "")
    if parsed.think is None and parsed.answer is None:
        return (completion or "").strip()
    return " ".join(p.strip() for p in (parsed.think, parsed.answer) if p and p.strip())


def load(root: Path, limit: int | None, language: str = "zh",
         media_root: Path | None = None) -> tuple[list[dict], list[dict], Path]:
    """(samples with a reference in `language`, skipped rows, data root of the media) of an EMER
    folder; InputError when it is not one."""
    media = (media_root or root).resolve()
    result = read(root, "emer", root=media, on_error="skip")
    unreadable = [p for p in result.problems if "no media file" not in p.reason]
    if not result.samples and unreadable:  # say which file and why, not just "no sample"
        more = len(unreadable) - 1
        first = unreadable[0]
        raise InputError(first.reason + (f" (and {more} more problem(s))" if more else ""),
                         first.path, first.line)
    skipped = [{"dataset": BENCHMARK, "name": None,
                "kind": "missing_media" if "no media file" in p.reason else "invalid",
                "reason": p.reason, "file": p.path, "line": p.line} for p in result.problems]
    samples = []
    for s in result.samples:
        if reference(s, language):
            samples.append(s)
        else:
            skipped.append({"dataset": BENCHMARK, "name": s["id"], "kind": "no_reference",
                            "reason": f"no {language} reference description", "file": None,
                            "line": None})
    samples, unusable = split_by_media(samples, media, BENCHMARK)
    return (samples[:limit] if limit else samples), skipped + unusable, media


def judge_jobs(judge: str, sampling: Sampling, pairs: dict[str, tuple[str, str]],
               prompts: dict[str, str] = PROMPTS) -> list[Job]:
    """One job per prompt of `prompts` and sample (id -> (reference, prediction)); job ids
    ``metric:id``; templates take ``{reference}`` and ``{prediction}``."""
    stamp = model_stamp(judge)
    jobs = []
    for metric, template in prompts.items():
        base = {"stage": f"judge-{metric}", "model": stamp, "prompt": template,
                "sampling": asdict(sampling)}
        for i, (ref, prediction) in pairs.items():
            prompt = template.format(reference=ref, prediction=prediction or "(empty)")
            jobs.append(Job(f"{metric}:{i}", metric, text_request(prompt),
                            fingerprint({**base, "reference": ref, "prediction": prediction})))
    return jobs


def summary_jobs(judge: str, sampling: Sampling, pairs: dict[str, tuple[str, str]],
                 template: str) -> list[Job]:
    """AffectGPT's label-overlap step 1: the emotion words of each reference (``ref:id``) and of
    each description (``pred:id``)."""
    stamp = model_stamp(judge)
    base = {"stage": "judge-summary", "model": stamp, "prompt": template,
            "sampling": asdict(sampling)}
    jobs = []
    for i, (ref, prediction) in pairs.items():
        for side, text in (("ref", ref), ("pred", prediction or "(empty)")):
            jobs.append(Job(f"{side}:{i}", "summary",
                            text_request(template.format(description=text)),
                            fingerprint({**base, "description": text})))
    return jobs


def _reply(rows: dict[str, dict], key: str) -> str:
    row = rows.get(key)
    return "" if row is None or row.get("error") else (row.get("text") or "").strip()


def run_judge(cfg: EmerConfig, pairs: dict[str, tuple[str, str]], pool: BackendPool | None,
              stages: dict) -> dict[str, dict]:
    """The judge replies by job id (``clue_overlap:id``, ``label_overlap:id``), per protocol."""
    kept = {m: cfg.out / f"judge_{m}.jsonl" for m in JUDGED}
    common = {"pool": pool, "model": cfg.judge, "sampling": cfg.judge_sampling, "role": "judge",
              "reuse_only": cfg.rescore}
    if cfg.protocol == "project":
        result = run_jobs(judge_jobs(cfg.judge, cfg.judge_sampling, pairs, PROMPTS),
                          KeptCalls(kept), desc="judging", **common)
        stages["judge"] = result
        return result.rows
    prompts = AFFECTGPT_PROMPTS[cfg.language]
    summaries = run_jobs(summary_jobs(cfg.judge, cfg.judge_sampling, pairs, prompts["summary"]),
                         KeptCalls({"summary": cfg.out / "judge_summary.jsonl"}),
                         desc="summarising emotions", **common)
    stages["judge_summary"] = summaries
    clue = judge_jobs(cfg.judge, cfg.judge_sampling, pairs,
                      {"clue_overlap": prompts["clue_overlap"]})
    emotions = {i: (_reply(summaries.rows, f"ref:{i}"), _reply(summaries.rows, f"pred:{i}"))
                for i in pairs}
    label = judge_jobs(cfg.judge, cfg.judge_sampling, emotions,
                       {"label_overlap": prompts["label_overlap"]})
    result = run_jobs(clue + label, KeptCalls(kept), desc="judging", **common)
    stages["judge"] = result
    return result.rows


def run(cfg: EmerConfig) -> dict:
    """Run the benchmark and write OUT; returns the report."""
    cfg.check()
    if not cfg.rescore:
        check_model_ref(cfg.model, "--model")
        check_model_ref(cfg.judge, "--judge", (NO_JUDGE,))
    root = cfg.data_root.resolve()
    samples, skipped, media = load(root, cfg.limit, cfg.language, cfg.media_root)
    if not samples:
        raise InputError(f"no EMER sample with a clip and a {cfg.language} reference description",
                         path=root)
    cfg.out.mkdir(parents=True, exist_ok=True)
    config = write_run_config(cfg.out, cfg.record())
    pool = None if cfg.rescore else BackendPool(cfg.backend, **cfg.backend_options)
    stages: dict = {}
    try:
        jobs = description_jobs(samples, media, model=cfg.model, prompt=resolve_prompt(cfg.prompt),
                                system=cfg.system, sampling=cfg.sampling, group=lambda s: "emer")
        described = run_jobs(jobs, KeptCalls({"emer": cfg.out / "descriptions.jsonl"}), pool=pool,
                             model=cfg.model, sampling=cfg.sampling, desc="describing",
                             role="generation", reuse_only=cfg.rescore)
        stages["descriptions"] = described
        predictions = {s["id"]: "" if described.rows[s["id"]].get("error")
                       else description_text(described.rows[s["id"]]["text"]) for s in samples}
        judged: dict[str, dict] = {}
        if cfg.judge != NO_JUDGE:
            pairs = {s["id"]: (reference(s, cfg.language), predictions[s["id"]]) for s in samples}
            judged = run_judge(cfg, pairs, pool, stages)
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


PROTOCOL_NOTES = {
    "affectgpt": "AffectGPT's EMER judge protocol (the steps, reply parsing and averaging of "
                 "AffectGPT's evaluation.py; prompts in our own words) with {judge} as a local "
                 "judge instead of GPT-3.5, so scores are not directly comparable with published "
                 "numbers; references: {language}",
    "project": "the project's own judge prompts (not AffectGPT's protocol) with {judge} as the "
               "judge; references: {language}",
}


def score(cfg: EmerConfig, samples: list[dict], predictions: dict[str, str],
          judged: dict[str, dict], failed: list[str]) -> dict:
    """Per-sample rows (OUT/scored.jsonl) and the data-set metrics (module docstring)."""
    rows, ref_words, pred_words, rouges = [], [], [], []
    judge_scores: dict[str, list[float | None]] = {m: [] for m in JUDGED}
    parse = parse_affectgpt_score if cfg.protocol == "affectgpt" else parse_score
    for s in progress(samples, desc="scoring", unit="sample"):
        i, english, prediction = s["id"], s["reasoning"], predictions[s["id"]]
        rw, pw = lexicon_words(english), lexicon_words(prediction)
        per = ew_score(rw, pw)
        row = {"id": i, "reference_words": rw, "predicted_words": pw,
               "ew_fscore": None if per is None else per.fscore,
               "rouge_l": rouge_l(english, prediction)}
        for metric in JUDGED:
            reply = judged.get(f"{metric}:{i}")
            value = None if reply is None or reply.get("error") else parse(reply["text"])
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
    language = {"zh": "Chinese descriptions", "en": "English descriptions"}[cfg.language]
    note = PROTOCOL_NOTES[cfg.protocol].format(judge=cfg.judge, language=language)
    return {"benchmark": BENCHMARK, "model": cfg.model, "judge": cfg.judge,
            "protocol": cfg.protocol, "language": cfg.language,
            "protocol_note": note if cfg.judge != NO_JUDGE else "no judge: judge metrics not run",
            "metrics": metrics, "judge_scores": judges,
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
             f"Protocol: {report['protocol_note']}. EW F-score and ROUGE-L are project metrics "
             "(against the English references), not part of AffectGPT's protocol.", "",
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
