"""MER-UniBench end to end: generate, extract, score, report.

    affectllm eval mer-unibench --model M --data-root ROOT [--datasets ...] [--extractor answer|lexicon|PATH]

ROOT is the official MER-UniBench ``dataset/`` folder as released (``mer2023-dataset-process/``,
``meld-process/``, ...; the layout `affectllm.data.readers.mer_unibench` documents: official test
splits, label indices mapped, media and subtitles from the official folders), or the project's CSV
layout. For each data set:

1. the model answers the prompt (default ``openset``: AffectGPT's "Please infer the person's
   emotional state and provide your reasoning process." plus our ``<think>``/``<answer>`` format),
   preceded by the clip's subtitle as AffectGPT's prompts include it (``--subtitles``, on by
   default; the subtitle file and column are upstream's);
2. an emotion-word list is extracted (`eval.extract`): ``answer``, ``lexicon`` or an extractor LLM;
   sentiment data sets also get a polarity (rule-based, or a second LLM prompt);
3. scoring, with the MER-UniBench metrics of `eval.scorers`:

   ===========  =======================================  ===================================
   data set     metric (main score)                      also reported
   ===========  =======================================  ===================================
   OV-MERD+     EW F-score, level 1 (`ew_dataset_score`) precision, recall
   MER2023,     HIT rate (`hit_rate`)                    -
   MER2024,
   MELD,
   IEMOCAPFour
   CMU-MOSI,    weighted F1 of positive vs not          accuracy
   CMU-MOSEI,   (`sentiment_scores`: the official reply
                rule, scikit-learn; valence 0 dropped)
   SIMS, SIMSv2
   ===========  =======================================  ===================================

   The headline ``mean`` is the unweighted mean of the main scores x 100 (over the nine data sets
   when all nine ran; otherwise over those that ran, and ``complete`` is false).

Ground truths are the reader's ``meta["gt"]``: exactly what the official scorer compares with (the
emotion word, the joined open-set list, the valence; the canonical samples normalise label
spellings, which would change the emotion-wheel mapping of a few words such as ``fearful``).

Output folder (OUT)::

    config.json                     the resolved config (model, prompt, sampling, extractor, ...)
    report.json  report.md          all numbers / the published-table layout
    plots/scores.png                per-data-set bars and the mean
    plots/confusion-<DATASET>.png   categorical and sentiment data sets
    <DATASET>/descriptions.jsonl    kept model answers (reused when key matches; see eval.runs)
    <DATASET>/extractor_lists.jsonl, extractor_sentiment.jsonl   kept extractor-LLM answers
    <DATASET>/extracted.jsonl       id, name, words, sentiment, note
    <DATASET>/gt.csv  pred.csv      the CSVs `affectllm score ew|hit|sentiment --gt --pred` reads
    <DATASET>/scores.json           this data set's numbers
    official/results-<ds>/<model>/  the answers as AffectGPT's result files (checkpoint_000000.npz,
                                    -openset.npz, -openset-sentiment.npz), for
                                    `affectllm score mer-unibench --results OUT/official`

Missing media: the sample is skipped, listed in the report with its file and line, and counted.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from affectllm.data.readers import read
from affectllm.data.readers.mer_unibench import (
    LABEL_FILE,
    MER_UNIBENCH_DATASETS,
    OFFICIAL,
    DatasetFolder,
    dataset_name,
    find_datasets,
)
from affectllm.errors import InputError
from affectllm.generation import Sampling
from affectllm.io import write_json, write_jsonl, write_text
from affectllm.progress import progress
from eval.confusion import Confusion, closest_label, confusion
from eval.describe import description_jobs, resolve_prompt, sample_meta, split_by_media
from eval.extract import (
    RULE_EXTRACTORS,
    Extraction,
    LLMExtractor,
    format_list,
    is_rule_extractor,
    rule_extract,
)
from eval.mer_results import official_line, write_official_results
from eval.plots import bar_plot, confusion_plot
from eval.report import (
    MER_COLUMNS,
    fmt,
    load_reference,
    markdown_table,
    mer_unibench_table,
    skipped_section,
    write_report,
)
from eval.runs import (
    BackendPool,
    KeptCalls,
    StageResult,
    check_model_ref,
    print_throughput,
    run_jobs,
    write_run_config,
)
from eval.scorers import ew_dataset_score, hit_rate, sentiment_scores

BENCHMARK = "mer-unibench"
METRIC_OF_TASK = {"openset": "ew_fscore", "hit": "hit_rate", "sentiment": "weighted_f1"}
#: (GT column, prediction column) of the CSVs, as `affectllm score` reads them.
CSV_COLUMNS = {"openset": ("openset", "openset"), "hit": ("label", "openset"),
               "sentiment": ("valence", "sentiment")}
SCORE_COMMAND = {"openset": "ew", "hit": "hit", "sentiment": "sentiment"}
MEDIA_HINT = "video/<name>.mp4 (or .avi/.mkv/...; image/ and audio/ folders are searched too)"


@dataclass
class MerConfig:
    """Everything a MER-UniBench run depends on (recorded in OUT/config.json)."""

    model: str
    data_root: Path
    out: Path
    datasets: list[str] | None = None
    backend: str = "auto"
    backend_options: dict = field(default_factory=dict)
    extractor: str = "answer"
    prompt: str = "openset"
    system: str | None = None
    subtitles: bool = True
    sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=512))
    extractor_sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=256))
    limit: int | None = None
    rescore: bool = False
    reference: Path | None = None
    plots: bool = True

    def record(self) -> dict:
        options = {k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v)
                   for k, v in self.backend_options.items()}
        return {"benchmark": BENCHMARK, "model": self.model, "data_root": str(self.data_root),
                "out": str(self.out), "datasets": self.datasets, "backend": self.backend,
                "backend_options": options, "prompt": self.prompt,
                "prompt_text": resolve_prompt(self.prompt), "system": self.system,
                "subtitles": self.subtitles, "sampling": asdict(self.sampling),
                "extractor": self.extractor,
                "extractor_sampling": None if is_rule_extractor(self.extractor)
                else asdict(self.extractor_sampling),
                "limit": self.limit, "rescore": self.rescore,
                "reference": None if self.reference is None else str(self.reference)}


@dataclass
class DatasetData:
    """One data set ready to run: its samples (label-file order), raw GT cells, skipped rows."""

    name: str
    task: str
    folder: Path
    samples: list[dict]
    gt: dict[str, str | float]
    skipped: list[dict]


# --------------------------------------------------------------------------------------------------
# Data


def expected_files(root: Path, name: str) -> str:
    files = OFFICIAL[name]
    return (f"{root / files.folder / files.label_file} and {root / files.folder}/"
            f"{files.videos[0]}/<name>.mp4 (the official release; or {root / name / LABEL_FILE} "
            "+ video/)")


def resolve_datasets(root: Path, requested: list[str] | None) -> tuple[list[DatasetFolder],
                                                                         list[str]]:
    """(data set folders to run, names of the nine absent from `root`).

    Requested names are matched like folder names; an unknown name, or a requested data set that
    `root` lacks, is an InputError naming the expected files. Without a request every data set
    found is run (at least one must be)."""
    if not root.is_dir():
        raise InputError("data root not found (expected the MER-UniBench dataset/ folder)",
                         path=root)
    wanted: list[str] = []
    for raw in requested or []:
        name = dataset_name(raw)
        if name is None:
            raise InputError(f"unknown data set {raw!r}; MER-UniBench has "
                             f"{', '.join(MER_UNIBENCH_DATASETS)}")
        if name not in wanted:
            wanted.append(name)
    try:
        found = {d.name: d for d in find_datasets(root)}
    except InputError:
        found = {}
    if wanted:
        absent = [n for n in wanted if n not in found]
        if absent:
            raise InputError(f"{root} lacks {', '.join(absent)}; expected "
                             + "; ".join(expected_files(root, n) for n in absent))
        return [found[n] for n in wanted], []
    if not found:
        raise InputError(f"no MER-UniBench data set in {root}; expected for example "
                         f"{expected_files(root, 'MER2023')}")
    ordered = [found[n] for n in MER_COLUMNS if n in found]
    return ordered, [n for n in MER_COLUMNS if n not in found]


_NO_MEDIA = re.compile(r"no media file for '([^']*)'")


def load_dataset(d: DatasetFolder, root: Path, limit: int | None) -> DatasetData:
    """Read one data set with the `mer_unibench` reader; rows without media are skipped and
    listed; other bad rows too, unless nothing is left (then InputError). The ground truths are
    ``meta["gt"]``, exactly what the official scorer compares with (the canonical samples normalise
    label spellings, which would change the emotion-wheel mapping of a few words)."""
    name, folder = d.name, d.folder
    result = read(folder, "mer_unibench", root=root, on_error="skip")
    skipped = []
    for problem in result.problems:
        m = _NO_MEDIA.search(problem.reason)
        skipped.append({"dataset": name, "name": m.group(1) if m else None,
                        "kind": "missing_media" if m else "invalid", "reason": problem.reason,
                        "file": problem.path, "line": problem.line})
    if not result.samples and any(s["kind"] == "invalid" for s in skipped):
        first = next(p for p in result.problems if not _NO_MEDIA.search(p.reason))
        raise InputError(f"{name}: {first.reason}", first.path, first.line)
    usable, unusable = split_by_media(result.samples, root, name, d.label_path)
    skipped += unusable
    samples = usable[:limit] if limit else usable
    task = MER_UNIBENCH_DATASETS[name].task
    gt = {s["id"]: sample_meta(s)["gt"] for s in samples}
    return DatasetData(name, task, folder, samples, gt, skipped)


# --------------------------------------------------------------------------------------------------
# Scoring


def score_dataset(data: DatasetData, extracted: dict[str, Extraction]) -> dict:
    """The data set's numbers (module docstring table) from its extractions."""
    ids = [s["id"] for s in data.samples]
    gts = [data.gt[i] for i in ids]
    words = [extracted[i].words for i in ids]
    out: dict = {"task": data.task, "metric": METRIC_OF_TASK[data.task], "n_samples": len(ids)}
    if not ids:
        return {**out, "score": None, "note": "no sample to score"}
    if data.task == "openset":
        r = ew_dataset_score(gts, words, level=1)
        out.update(score=r.fscore, precision=r.precision, recall=r.recall, n_counted=r.n)
    elif data.task == "hit":
        h = hit_rate(gts, words, level=1)
        out.update(score=h.hit_rate, n_counted=h.n)
    else:
        sentiments = [extracted[i].sentiment or "neutral" for i in ids]
        try:
            s = sentiment_scores([float(v) for v in gts], sentiments)
        except ValueError as e:
            return {**out, "score": None, "note": str(e)}
        out.update(score=s.weighted_f1, accuracy=s.accuracy, n_counted=s.n)
    return out


def dataset_confusion(data: DatasetData, extracted: dict[str, Extraction]) -> Confusion | None:
    """Gold label x closest predicted label (hit sets); positive/negative (sentiment sets)."""
    ids = [s["id"] for s in data.samples]
    if data.task == "hit":
        labels = sorted({str(data.gt[i]).strip().lower() for i in ids})
        gold = [str(data.gt[i]).strip().lower() for i in ids]
        pred = [closest_label(extracted[i].words, labels) for i in ids]
        return confusion(gold, pred, labels)
    if data.task == "sentiment":
        kept = [i for i in ids if float(data.gt[i]) != 0]
        gold = ["positive" if float(data.gt[i]) > 0 else "negative" for i in kept]
        pred = ["positive" if extracted[i].sentiment == "positive" else "negative" for i in kept]
        return confusion(gold, pred, ["positive", "negative"])
    return None


def write_csvs(data: DatasetData, extracted: dict[str, Extraction], out: Path) -> dict[str, str]:
    """``gt.csv`` and ``pred.csv`` in the columns `affectllm score` reads (CSV_COLUMNS)."""
    gt_col, pred_col = CSV_COLUMNS[data.task]
    names = [sample_meta(s).get("name", s["id"]) for s in data.samples]
    ids = [s["id"] for s in data.samples]
    gt_rows = [["name", gt_col], *([n, data.gt[i]] for n, i in zip(names, ids))]
    if data.task == "sentiment":
        pred_rows = [["name", "openset", "sentiment"],
                     *([n, format_list(extracted[i].words), extracted[i].sentiment or "neutral"]
                       for n, i in zip(names, ids))]
    else:
        pred_rows = [["name", pred_col],
                     *([n, format_list(extracted[i].words)] for n, i in zip(names, ids))]
    paths = {"gt": out / "gt.csv", "pred": out / "pred.csv"}
    for key, rows in (("gt", gt_rows), ("pred", pred_rows)):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        write_text(paths[key], buffer.getvalue())
    return {k: str(v) for k, v in paths.items()}


def write_official_files(cfg: MerConfig, data: DatasetData, extracted: dict[str, Extraction],
                         stages: dict[str, StageResult]) -> Path:
    """This run's answers as AffectGPT's result files under ``OUT/official`` (see
    `eval.mer_results.write_official_results`): `affectllm score mer-unibench --results OUT/official`
    or upstream's scorer re-scores them from the official label files."""
    rows = stages["descriptions"].rows
    names = {s["id"]: sample_meta(s).get("name", s["id"]) for s in data.samples}
    descriptions = {names[i]: "" if rows.get(i, {}).get("error") else rows.get(i, {}).get("text", "")
                    for i in names}
    words = {names[i]: extracted[i].words for i in names}
    replies = ({names[i]: extracted[i].sentiment or "neutral" for i in names}
               if data.task == "sentiment" else None)
    return write_official_results(cfg.out / "official", data.name, official_model_name(cfg),
                                  descriptions, words, replies)


def official_model_name(cfg: MerConfig) -> str:
    """The model folder name of the official result files: the model path's last part."""
    return Path(cfg.model.rstrip("/")).name or "model"


# --------------------------------------------------------------------------------------------------
# The run


def _hint(cfg: MerConfig):
    if not cfg.subtitles:
        return None

    def hint(sample: dict) -> str | None:
        subtitle = sample_meta(sample).get("subtitle")
        return f"The subtitle of this video is: {subtitle}" if subtitle else None

    return hint


def run(cfg: MerConfig) -> dict:
    """Run the benchmark and write OUT; returns the report (also OUT/report.json)."""
    if not cfg.rescore:
        check_model_ref(cfg.model, "--model")
        check_model_ref(cfg.extractor, "--extractor", RULE_EXTRACTORS)
    root = cfg.data_root.resolve()  # once, here: every folder below is absolute
    chosen, not_found = resolve_datasets(root, cfg.datasets)
    data = [load_dataset(d, root, cfg.limit) for d in chosen]
    reference_rows, placeholders = (load_reference(cfg.reference) if cfg.reference
                                    else ([], 0))
    cfg.out.mkdir(parents=True, exist_ok=True)
    config = write_run_config(cfg.out, cfg.record())
    names = [d.name for d in data]
    pool = None if cfg.rescore else BackendPool(cfg.backend, **cfg.backend_options)
    try:
        prompt = resolve_prompt(cfg.prompt)
        jobs = [job for d in data for job in description_jobs(
            d.samples, root, model=cfg.model, prompt=prompt, system=cfg.system,
            sampling=cfg.sampling, group=lambda s, n=d.name: n, hint=_hint(cfg))]
        described = run_jobs(jobs, KeptCalls({n: cfg.out / n / "descriptions.jsonl" for n in names}),
                             pool=pool, model=cfg.model, sampling=cfg.sampling,
                             desc="describing", role="generation", reuse_only=cfg.rescore)
        extracted, stages = extract_all(cfg, data, described, pool)
    finally:
        if pool is not None:
            pool.release()
    stages = {"descriptions": described, **stages}
    report = build_report(cfg, config, data, extracted, stages, not_found, pool)
    markdown = render_markdown(cfg, report, reference_rows, placeholders)
    write_report(cfg.out, report, markdown)
    print(mer_unibench_table(Path(cfg.model.rstrip("/")).name, report["metrics"],
                             report["mean"], reference_rows))
    print(f"official table line: {report['official_line']}")
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print_throughput(pool)
    print(f"report: {cfg.out / 'report.md'}")
    return report


def extract_all(cfg: MerConfig, data: list[DatasetData], described: StageResult,
                pool: BackendPool | None) -> tuple[dict[str, Extraction], dict[str, StageResult]]:
    """Step 2 for every data set at once (one extractor-LLM call per prompt kind)."""
    texts = {i: (row["group"], None if row.get("error") else row.get("text") or "")
             for i, row in described.rows.items()}
    sentiment_ids = {s["id"] for d in data if d.task == "sentiment" for s in d.samples}
    if is_rule_extractor(cfg.extractor):
        extracted = {i: rule_extract(text, cfg.extractor, i in sentiment_ids)
                     for i, (_g, text) in progress(texts.items(), desc="extracting labels",
                                                   total=len(texts), unit="sample")}
        return extracted, {}
    extractor = LLMExtractor(cfg.extractor, cfg.extractor_sampling)
    names = [d.name for d in data]
    return extractor.run(
        texts, sentiment_ids,
        KeptCalls({n: cfg.out / n / "extractor_lists.jsonl" for n in names}),
        KeptCalls({d.name: cfg.out / d.name / "extractor_sentiment.jsonl" for d in data
                   if d.task == "sentiment"}),
        pool, reuse_only=cfg.rescore)


def build_report(cfg: MerConfig, config: dict, data: list[DatasetData],
                 extracted: dict[str, Extraction], stages: dict[str, StageResult],
                 not_found: list[str], pool: BackendPool | None) -> dict:
    """Score every data set, write its files and plots; the report dict (see `render_markdown`)."""
    datasets: dict[str, dict] = {}
    skipped: list[dict] = []
    plots: list[str] = []
    failed = set(stages["descriptions"].failed)
    for d in progress(data, desc="scoring", unit="dataset"):
        folder = cfg.out / d.name
        ids = [s["id"] for s in d.samples]
        write_jsonl(folder / "extracted.jsonl", (
            {"id": i, "name": sample_meta(s).get("name"), **extracted[i].as_row()}
            for i, s in zip(ids, d.samples)))
        result = score_dataset(d, extracted)
        files = write_csvs(d, extracted, folder)
        files["official_results"] = str(write_official_files(cfg, d, extracted, stages))
        kind_counts = Counter(s["kind"] for s in d.skipped)
        result.update(
            score_x100=None if result["score"] is None else 100 * result["score"],
            skipped={"missing_media": kind_counts.get("missing_media", 0),
                     "unreadable_media": kind_counts.get("unreadable_media", 0),
                     "invalid": kind_counts.get("invalid", 0)},
            failed_generations=sorted(i for i in ids if i in failed),
            extraction_notes=dict(Counter(extracted[i].note for i in ids if extracted[i].note)),
            score_command=(f"affectllm score {SCORE_COMMAND[d.task]} --gt {files['gt']} "
                           f"--pred {files['pred']}"),
            files={**files, "descriptions": str(folder / "descriptions.jsonl"),
                   "extracted": str(folder / "extracted.jsonl"),
                   "scores": str(folder / "scores.json")})
        matrix = dataset_confusion(d, extracted) if ids else None
        if matrix is not None:
            result["confusion"] = matrix.as_dict()
            if cfg.plots:
                path = confusion_plot(cfg.out / "plots" / f"confusion-{d.name}.png", matrix,
                                      f"{d.name}: gold vs predicted")
                plots.append(str(path))
        write_json(folder / "scores.json", result)
        datasets[d.name] = result
        skipped += d.skipped
    metrics = {n: r["score_x100"] for n, r in datasets.items()}
    warnings = extraction_warnings(cfg, datasets)
    scored = [n for n in MER_COLUMNS if metrics.get(n) is not None]
    mean = sum(metrics[n] for n in scored) / len(scored) if scored else None
    if cfg.plots:
        shown = [n for n in MER_COLUMNS if n in datasets]
        path = bar_plot(cfg.out / "plots" / "scores.png", shown + ["Mean"],
                        [metrics[n] for n in shown] + [mean], "MER-UniBench (x100)",
                        "score x100", ylim=(0, 105), highlight="Mean")
        plots.insert(0, str(path))
    return {
        "benchmark": BENCHMARK,
        "model": cfg.model,
        "metrics": {**metrics, "mean": mean},
        "official_line": official_line({n: datasets[n]["score"] for n in datasets}),
        "mean": mean,
        "mean_over": scored,
        "complete": len(scored) == len(MER_COLUMNS),
        "datasets": datasets,
        "not_found": not_found,
        "warnings": warnings,
        "skipped": skipped,
        "skipped_count": len(skipped),
        "stages": {k: v.summary() for k, v in stages.items()},
        "throughput": {} if pool is None else pool.report(),
        "backends": {} if pool is None else pool.backend_names,
        "models_loaded": [] if pool is None else list(pool.loaded),
        "config": config,
        "files": {"report_md": str(cfg.out / "report.md"), "config": str(cfg.out / "config.json"),
                  "plots": plots},
    }


def extraction_warnings(cfg: MerConfig, datasets: dict[str, dict]) -> list[str]:
    """Warnings about extraction that users should see (printed and in report.md)."""
    total = sum(r["n_samples"] for r in datasets.values())
    counts = Counter()
    for r in datasets.values():
        counts.update(r["extraction_notes"])
    out = []
    if counts["no_answer"]:
        out.append(f"{counts['no_answer']} of {total} answers have no `<answer>` span and count as "
                   "empty label lists; for free-text descriptions (e.g. --prompt affectgpt) use "
                   "--extractor lexicon or an extractor LLM")
    if counts["failed"]:
        out.append(f"{counts['failed']} of {total} samples failed to generate or extract (listed "
                   "per data set in report.json) and count as empty label lists")
    if counts["unparsed"]:
        out.append(f"{counts['unparsed']} sentiment replies of the extractor named no polarity and "
                   "count as neutral")
    return out


def render_markdown(cfg: MerConfig, report: dict, references: list, placeholders: int) -> str:
    """report.md: the published-table row, a details table, skipped samples, plots."""
    conf = report["config"]
    lines = [f"# MER-UniBench: {cfg.model}", "",
             f"Prompt: `{conf['prompt']}`; extractor: `{cfg.extractor}`; generation temperature "
             f"{cfg.sampling.temperature}, seed {cfg.sampling.seed}, max {cfg.sampling.max_new_tokens}"
             f" new tokens; backend `{cfg.backend}`; run {conf['started']}.", "",
             mer_unibench_table(Path(cfg.model.rstrip("/")).name, report["metrics"],
                                report["mean"], references), "",
             f"Official table line (nine scores x100 in the official order, then the mean): "
             f"`{report['official_line']}`", "",
             "Scores x100. OV-MERD+: emotion-wheel F-score (level 1); MER2023, MER2024, MELD, "
             "IEMOCAPFour: HIT rate; CMU-MOSI, CMU-MOSEI, SIMS, SIMSv2: weighted F1 (accuracy "
             "in the details). Mean: unweighted mean of the main scores"
             + ("." if report["complete"] else
                f" of the {len(report['mean_over'])} data sets that ran (not all nine).")]
    if placeholders:
        lines.append(f"\n{placeholders} placeholder reference row(s) in {cfg.reference} are not "
                     "shown (fill in their scores and remove `placeholder: true`).")
    if report["not_found"]:
        lines.append(f"\nNot in the data root: {', '.join(report['not_found'])}.")
    for warning in report["warnings"]:
        lines.append(f"\n**Warning:** {warning}.")
    rows = []
    for name, r in report["datasets"].items():
        extra = (f"acc {fmt(100 * r['accuracy'])}" if "accuracy" in r else
                 f"P {fmt(100 * r['precision'])} / R {fmt(100 * r['recall'])}"
                 if "precision" in r else "")
        notes = ", ".join(f"{k} {v}" for k, v in r["extraction_notes"].items())
        rows.append([name, r["metric"], fmt(r["score_x100"]), extra, r["n_samples"],
                     r.get("n_counted", 0),
                     r["skipped"]["missing_media"] + r["skipped"]["unreadable_media"],
                     r["skipped"]["invalid"], len(r["failed_generations"]), notes or "-"])
    lines += ["", "## Details", "", markdown_table(
        ["data set", "metric", "score", "also", "samples", "counted", "missing/unreadable media",
         "invalid rows", "failed generations", "extraction notes"], rows)]
    lines += ["", "Re-score any data set with `affectllm score`, e.g. "
              f"`{next(iter(report['datasets'].values()))['score_command']}`." if rows else ""]
    section = skipped_section(report["skipped"])
    if section:
        lines += ["", section]
    if report["throughput"]:
        lines += ["", "## Throughput", "", markdown_table(
            ["role", "requests", "tokens", "seconds", "samples/s", "tokens/s"],
            [[role, t["requests"], t["generated_tokens"], f"{t['seconds']:.1f}",
              f"{t['samples_per_s']:.2f}", f"{t['tokens_per_s']:.1f}"]
             for role, t in report["throughput"].items()])]
    if report["files"]["plots"]:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}](plots/{Path(p).name})" for p in report["files"]["plots"]]
    return "\n".join(lines)
