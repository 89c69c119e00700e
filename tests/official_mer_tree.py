"""A small MER-UniBench release in the official layout, generated with a fixed seed (never copied):
``dataset/<official folder>/`` with the label ``.npz`` files written by numpy's own pickling of
dicts (as upstream writes them), subtitle CSVs and tiny videos, and ``output/results-<ds>/<model>/``
with AffectGPT-style result files (descriptions, extracted word lists, sentiment replies) for two
scored checkpoints and one not yet extracted. Also: upstream's formulas, written out plainly, as
the reference the tests compare with."""

from __future__ import annotations

import csv
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL = "fixturegpt"
MODEL_FOLDER = "fixturegpt_20250110"   # found by prefix, as search_for_result_root finds it
WORDS = ["happy", "sad", "angry", "worried", "surprised", "relaxed", "joyful", "anxious",
         "neutral", "excited", "calm", "xyzzy", "Grateful"]
MER_EMOTIONS = ["happy", "sad", "angry", "worried", "surprise", "neutral"]
REPLIES = ["positive", "negative", "neutral", "mixed", "Positive", "positive.", ""]
RESULTS = {"MER2023": "mer2023", "MER2024": "mer2024", "MELD": "meld",
           "IEMOCAPFour": "iemocapfour", "CMU-MOSI": "cmumosi", "CMU-MOSEI": "cmumosei",
           "SIMS": "sims", "SIMSv2": "simsv2", "OV-MERD+": "ovmerdplus"}
FOLDERS = {"MER2023": "mer2023-dataset-process", "MER2024": "mer2024-dataset-process",
           "MELD": "meld-process", "IEMOCAPFour": "iemocap-process", "CMU-MOSI": "cmumosi-process",
           "CMU-MOSEI": "cmumosei-process", "SIMS": "sims-process", "SIMSv2": "simsv2-process",
           "OV-MERD+": "ovmerdplus-process"}
VIDEO_DIRS = {"MER2023": "video", "MER2024": "video", "MELD": "subvideo",
              "IEMOCAPFour": "subvideo-tgt", "CMU-MOSI": "subvideo", "CMU-MOSEI": "subvideo_new",
              "SIMS": "video", "SIMSv2": "video_new", "OV-MERD+": "video"}
SENTIMENT = ("CMU-MOSI", "CMU-MOSEI", "SIMS", "SIMSv2")
CHECKPOINTS = ("checkpoint_000010_loss_0.900", "checkpoint_000020_loss_0.700")
UNEXTRACTED = "checkpoint_000030_loss_0.650"


@dataclass
class Tree:
    dataset: Path
    output: Path
    test_gt: dict[str, dict[str, object]] = field(default_factory=dict)  # upstream name2gt
    preds: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # ds -> ckpt -> map


def write_video(path: Path) -> None:
    """A 4-frame 32x32 video (PyAV, mpeg4)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _word_list(rng: random.Random, quoted: bool, least: int = 0) -> str:
    words = rng.sample(WORDS, rng.randint(least, 3))
    return str(words) if quoted else "[" + ", ".join(words) + "]"


def write_official_tree(base: Path, seed: int = 0, n_test: int = 4, videos: bool = True) -> Tree:
    rng = random.Random(seed)
    tree = Tree(base / "dataset", base / "output")
    clip = base / "clip.avi"
    if videos:
        write_video(clip)

    def names(prefix: str, n: int) -> list[str]:
        return [f"{prefix}_{rng.randrange(10**6):06d}_{k}" for k in range(n)]

    for ds, folder_name in FOLDERS.items():
        folder = tree.dataset / folder_name
        folder.mkdir(parents=True)
        if ds in ("MER2023", "MER2024"):
            test = names("sample", n_test)
            corpus = {n: {"emo": rng.choice(MER_EMOTIONS), "val": rng.uniform(-5, 5)}
                      for n in [*names("train", 2), *test]}
            train = {n: corpus[n] for n in list(corpus)[:2]}
            test_corpus = {n: corpus[n] for n in test}
            np.savez_compressed(folder / "label-6way.npz", train_corpus=train,
                                test1_corpus=test_corpus, test2_corpus=train)
            gt = {n: v["emo"] for n, v in test_corpus.items()}
            subtitle_file, column = (("transcription-engchi-polish.csv", "english")
                                     if ds == "MER2023" else ("transcription_merge.csv", "chinese"))
        elif ds == "MELD":
            test = names("dia", n_test)
            test_corpus = {n: {"emo": rng.randrange(7), "val": -10} for n in test}
            np.savez_compressed(folder / "label.npz", train_corpus={"dia_t": {"emo": 1, "val": -10}},
                                val_corpus={}, test_corpus=test_corpus)
            emotions = ["anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise"]
            gt = {n: emotions[v["emo"]] for n, v in test_corpus.items()}
            subtitle_file, column = "transcription-engchi-polish.csv", "english"
        elif ds == "IEMOCAPFour":
            whole = {}
            for session in (1, 2, 3, 4, 5, 5, 5, 5)[: 4 + n_test]:
                whole[f"Ses0{session}F_impro0{rng.randrange(10)}_F{len(whole):03d}"] = {
                    "emo": np.int64(rng.randrange(4))}
            np.savez_compressed(folder / "label_4way.npz", whole_corpus=whole)
            emotions = ["happy", "sad", "neutral", "anger"]
            gt = {n: emotions[int(v["emo"])] for n, v in whole.items() if n[4] == "5"}
            test = list(gt)
            subtitle_file, column = "transcription-engchi-polish.csv", "english"
        elif ds in SENTIMENT:
            test = names("vid", n_test + 2)
            values = [0.0, *(round(rng.uniform(-3, 3), 3) for _ in test[1:])]
            test_corpus = {n: {"val": np.float64(v) if k % 2 else v}
                           for k, (n, v) in enumerate(zip(test, values))}
            np.savez_compressed(folder / "label.npz", train_corpus={"t": {"val": 1.0}},
                                test_corpus=test_corpus)
            gt = {n: float(v["val"]) for n, v in test_corpus.items()}
            subtitle_file, column = "transcription-engchi-polish.csv", "english"
        else:  # OV-MERD+
            test = names("samplenew3", n_test)
            rows = [[n, "[]" if k == 0 else _word_list(rng, quoted=True, least=1)]
                    for k, n in enumerate(test)]
            _write_csv(folder / "ovlabel.csv", ["name", "openset"], rows)
            gt = {}
            for n, cell in rows:
                words = [w.strip() for w in cell.strip("[]").replace("'", "").split(",")
                         if w.strip()]
                gt[n] = ", ".join(words or ["neutral"])
            subtitle_file, column = "subtitle_eng.csv", "sentence"
        other = "chinese" if column != "chinese" else "english"
        _write_csv(folder / subtitle_file, ["name", other, column],
                   [[n, f"字幕 {k}", f"Subtitle {k} of {n}."] for k, n in enumerate(test)])
        if videos:
            for n in test:
                ext = ".avi" if ds == "IEMOCAPFour" or (ds == "MER2023" and n.endswith("1")) \
                    else ".mp4"
                target = folder / VIDEO_DIRS[ds] / f"{n}{ext}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(clip, target)
        tree.test_gt[ds] = gt
        tree.preds[ds] = _write_results(tree.output, ds, list(gt), rng)
    # a decoy result folder of the same model prefix with fewer checkpoint files
    decoy = tree.output / "results-mer2023" / f"{MODEL}_old"
    decoy.mkdir(parents=True)
    np.savez_compressed(decoy / "checkpoint_000001_loss_1.0.npz", name2reason={})
    return tree


def _write_results(output: Path, ds: str, names: list[str], rng: random.Random) -> dict:
    folder = output / f"results-{RESULTS[ds]}" / MODEL_FOLDER
    folder.mkdir(parents=True)
    preds = {}
    for ckpt in CHECKPOINTS:
        lists = {n: _word_list(rng, quoted=False) for n in names}
        reasons = {n: f"The person seems {lists[n].strip('[]') or 'calm'}." for n in names}
        np.savez_compressed(folder / f"{ckpt}.npz", name2reason=reasons)
        extra = ["not_in_gt_0"]  # predictions for names the GT lacks are ignored
        np.savez_compressed(folder / f"{ckpt}-openset.npz", filenames=[*names, *extra],
                            fileitems=[*(lists[n] for n in names), "[happy]"])
        if ds in SENTIMENT:
            replies = {n: rng.choice(REPLIES) for n in names}
            np.savez_compressed(folder / f"{ckpt}-openset-sentiment.npz", filenames=names,
                                fileitems=[replies[n] for n in names])
            preds[ckpt] = replies
        else:
            preds[ckpt] = lists
    np.savez_compressed(folder / f"{UNEXTRACTED}.npz", name2reason={n: "x" for n in names})
    return preds


# ------------------------------------------------------------------ upstream formulas, plainly

def upstream_ew(name2gt: dict, name2pred: dict) -> tuple[float, float, float]:
    """wheel_metric_calculation (level 1): per wheel, mean precision/recall over the samples whose
    mapped GT is non-empty (0, 0 for an empty mapped prediction), F from the means; then the mean of
    (F, P, R) over the five wheels (np.mean)."""
    from rewards.emotion_wheel import map_labels

    whole = []
    for wheel in range(1, 6):
        precision, recall = [], []
        for name in name2gt:
            gt = map_labels(name2gt[name], wheel)
            pred = map_labels(name2pred[name], wheel)
            if not gt:
                continue
            if not pred:
                precision.append(0)
                recall.append(0)
            else:
                precision.append(len(gt & pred) / len(pred))
                recall.append(len(gt & pred) / len(gt))
        p, r = np.mean(precision), np.mean(recall)
        whole.append([2 * (p * r) / (p + r), p, r])
    return tuple(np.mean(whole, axis=0).tolist())


def upstream_hit(name2gt: dict, name2pred: dict) -> float:
    """hitrate_metric_calculation: per wheel, mean |P ∩ G| over samples with a non-empty mapped GT;
    then the mean over the five wheels."""
    from rewards.emotion_wheel import map_labels

    rates = []
    for wheel in range(1, 6):
        hits = []
        for name in name2gt:
            gt = map_labels(name2gt[name], wheel)
            if not gt:
                continue
            hits.append(len(map_labels(name2pred[name], wheel) & gt))
        rates.append(np.mean(hits))
    return float(np.mean(rates))


def upstream_sentiment(name2gt: dict, name2reply: dict) -> tuple[float, float]:
    """calculate_dimension_zeroshot, step 3: replies to +1/-1/0, drop valence 0, scikit-learn
    weighted F1 and accuracy of (val > 0) vs (pred > 0)."""
    from sklearn.metrics import accuracy_score, f1_score

    name2pred = {n: 1 if r == "positive" else -1 if r == "negative" else 0
                 for n, r in name2reply.items()}
    labels = np.array([name2gt[n] for n in name2gt])
    preds = np.array([name2pred[n] for n in name2gt])
    keep = np.array([i for i, e in enumerate(labels) if e != 0])
    return (float(f1_score(labels[keep] > 0, preds[keep] > 0, average="weighted")),
            float(accuracy_score(labels[keep] > 0, preds[keep] > 0)))


def upstream_scores(tree: Tree) -> dict[str, dict[str, float]]:
    """data set -> checkpoint -> main score, by the formulas above."""
    out = {}
    for ds, gt in tree.test_gt.items():
        out[ds] = {}
        for ckpt, pred in tree.preds[ds].items():
            if ds in SENTIMENT:
                out[ds][ckpt] = upstream_sentiment(gt, pred)[0]
            elif ds == "OV-MERD+":
                out[ds][ckpt] = upstream_ew(gt, pred)[0]
            else:
                out[ds][ckpt] = upstream_hit(gt, pred)
    return out
