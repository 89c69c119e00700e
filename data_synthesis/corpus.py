"""Accepted samples and the growing corpus: building, deduplicating, making self-contained.

An accepted candidate becomes a canonical sample: the item's fields, `reasoning` = the candidate's
``<think>`` text, `answer` = its ``<answer>`` text, media paths rewritten to ``media/<path>`` (the
files are hard-linked or copied into ``OUT/media``), and ``meta.synth`` = round, model, attempt,
candidate index and scores.

The corpus is a pure function of the `seed_corpus` samples and the rounds' accepted samples
(`merge_rounds`), rebuilt and written atomically after every round, so re-running a merge after a
crash is harmless. Seed samples (e.g. the human-annotated subset) come first and are all kept; an
accepted sample with a seed sample's id is dropped. Media are copied into ``OUT/media``
(``media: link``: hard-linked) so the corpus is self-contained. Deduplication of accepted samples:

- by item id: an item keeps its first accepted sample (``by_id: first``) or the latest round's
  (``by_id: latest``: the newer model's writing replaces the older one);
- by normalised text (``by_text: true``): a sample whose reasoning + answer, lower-cased and reduced
  to words, equals a sample already in the corpus is dropped (its item stays pending).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from affectllm.io import resolve_media
from data_synthesis.acceptance import Scores
from data_synthesis.config import DedupConfig
from rewards import parse_completion

MEDIA_DIR = "media"
_TAG_RE = re.compile(r"</?(?:think|answer)>")
_ANSWER_SPAN_RE = re.compile(r"<answer>.*?</answer>", re.DOTALL)


def split_completion(text: str) -> tuple[str, str | None]:
    """(reasoning, answer) of a completion: the think span (else the text without its answer span
    and tags) and the answer span (None when absent), both stripped."""
    parsed = parse_completion(text)
    if parsed.think is not None:
        reasoning = parsed.think
    else:
        reasoning = _TAG_RE.sub(" ", _ANSWER_SPAN_RE.sub(" ", text))
    answer = parsed.answer.strip() if parsed.answer is not None else None
    return reasoning.strip(), answer or None


def corpus_media_path(data_root: str | Path, path: str) -> str:
    """``images/x.png`` (relative to the input data root) -> ``media/images/x.png``."""
    root = Path(data_root).resolve()
    rel = resolve_media(root, path).relative_to(root)
    return f"{MEDIA_DIR}/{rel.as_posix()}"


def in_corpus_layout(sample: dict, data_root: str | Path) -> dict:
    """`sample` with its media paths rewritten for the corpus (`corpus_media_path`)."""
    return {**sample, "media": [{"type": m["type"], "path": corpus_media_path(data_root, m["path"])}
                                for m in sample["media"]]}


def synthesized_sample(item: dict, completion: str, *, data_root: str | Path, round_index: int,
                       model: str, attempt: int, candidate: int, scores: Scores) -> dict:
    """The canonical sample for an accepted candidate of `item` (see the module docstring)."""
    reasoning, answer = split_completion(completion)
    try:
        meta = json.loads(item.get("meta") or "{}")
    except json.JSONDecodeError:
        meta = item["meta"]
    if not isinstance(meta, dict):
        meta = {"source_meta": meta}
    meta["synth"] = {"round": round_index, "model": model, "attempt": attempt,
                     "candidate": candidate, "scores": scores}
    return {**in_corpus_layout(item, data_root), "reasoning": reasoning, "answer": answer,
            "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True)}


def normalised_text(sample: dict) -> str:
    """Reasoning and answer, lower-cased, reduced to their words: the text-dedup key."""
    text = f"{sample.get('reasoning') or ''} {sample.get('answer') or ''}".lower()
    return " ".join(re.findall(r"\w+", text))


@dataclass
class MergeReport:
    """What merging one round's accepted samples did to the corpus."""

    accepted: int = 0
    added: int = 0
    replaced: int = 0
    duplicate_id: int = 0
    duplicate_text: int = 0
    size: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def merge_rounds(rounds: Sequence[Iterable[dict]], dedup: DedupConfig,
                 seed: Iterable[dict] = ()) -> tuple[list[dict], list[MergeReport]]:
    """The corpus made of the `seed` samples (all kept, first) and the rounds' accepted samples,
    in round then item order, deduplicated by `dedup` (an accepted sample never replaces a seed
    sample); plus one report per round."""
    corpus: dict[str, dict] = {s["id"]: s for s in seed}
    text_owner: dict[str, str] = {}
    for sid, sample in corpus.items():
        text_owner.setdefault(normalised_text(sample), sid)
    seeded = set(corpus)
    reports = []
    for samples in rounds:
        report = MergeReport()
        for sample in samples:
            report.accepted += 1
            sid, key = sample["id"], normalised_text(sample)
            old = corpus.get(sid)
            if old is not None and (dedup.by_id == "first" or sid in seeded):
                report.duplicate_id += 1
                continue
            if dedup.by_text and text_owner.get(key, sid) != sid:
                report.duplicate_text += 1
                continue
            if old is not None:
                if text_owner.get(normalised_text(old)) == sid:
                    del text_owner[normalised_text(old)]
                del corpus[sid]
                report.replaced += 1
            else:
                report.added += 1
            corpus[sid] = sample
            text_owner.setdefault(key, sid)
        report.size = len(corpus)
        reports.append(report)
    return list(corpus.values()), reports


def copy_media(samples: Iterable[dict], data_root: str | Path, out: str | Path,
               link: bool = False) -> int:
    """Make the ``media/...`` files of `samples` exist under `out`, each atomically: copies, or
    with `link` hard links to the input files where the file system allows (no extra space, but a
    tool that rewrites an input file in place then changes the corpus's copy too). Returns how
    many files were added."""
    root, out = Path(data_root).resolve(), Path(out)
    added = 0
    for sample in samples:
        for m in sample["media"]:
            dst = out / m["path"]
            if dst.is_file():
                continue
            src = resolve_media(root, m["path"][len(MEDIA_DIR) + 1:])
            _place(src, dst, link)
            added += 1
    return added


def _place(src: Path, dst: Path, link: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        linked = False
        if link:
            with contextlib.suppress(OSError):  # e.g. another file system: copy instead
                os.link(src, tmp)
                linked = True
        if not linked:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
