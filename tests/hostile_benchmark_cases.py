"""Hostile-input cases for the benchmark readers and scorers (issue 11 on the layouts of issue 12):
malformed official MER-UniBench label files (``.npz`` garbage, damaged or forged members, a
pickle that names ``os.system``, a missing or empty split, odd label values, ``ovlabel.csv``
cells that are no word list, sample names with path separators), empty or header-only EMER CSVs,
missing media roots and malformed AffectGPT result files, given to ``data convert``,
``eval emer``, ``eval mer-unibench`` and ``score``. Every case fails before a model is loaded
(``m/`` is an empty folder that passes the model-path check). `BENCHMARK_CASES` is imported by
the hostile-input table; each case is checked by `hostile.check_case`."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import numpy as np
from hostile import Case


def npz(**arrays: object) -> bytes:
    """The bytes of ``np.savez_compressed(**arrays)`` (dicts are pickled, as upstream stores
    them)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def damaged_npz() -> bytes:
    """A valid compressed ``.npz`` whose deflate stream is overwritten near its start."""
    data = bytearray(npz(test_corpus={f"dia_{i}": {"emo": i % 7} for i in range(500)}))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 2:start + 40] = bytes((37 * k + 11) % 256 for k in range(38))
    return bytes(data)


def truncated_member_npz() -> bytes:
    """An ``.npz`` (a valid zip) whose object-array member stops half-way through its pickle."""
    whole = zipfile.ZipFile(io.BytesIO(npz(test_corpus={f"dia_{i}": {"emo": 1}
                                                        for i in range(200)})))
    raw = whole.read("test_corpus.npy")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("test_corpus.npy", raw[: len(raw) // 2])
    return buf.getvalue()


def forged_size_npz() -> bytes:
    """An ``.npz`` whose central directory claims a 4 GiB member (a decompression bomb's
    shape; nothing that large is read)."""
    data = bytearray(npz(test_corpus={"dia_0": {"emo": 1}}))
    at = data.index(b"PK\x01\x02")
    data[at + 24:at + 28] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


class _RunsACommand:
    """Pickles as a call of ``os.system``: a label file must never run it."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def evil_npz() -> bytes:
    return npz(test_corpus=np.array(_RunsACommand(), dtype=object))


MODEL = {"m/config.json": '{"model_type": "qwen2_5_vl"}'}  # passes the model check; the data error comes next
CLIP = b"\0"                   # a media file is only listed, never opened, before the error
EMER_HEADER = "names,emotions,subtitles,reasons\n"
MELD = "ds/meld-process/label.npz"
SIMS = "ds/sims-process/label.npz"
OVLABEL = "ds/ovmerdplus-process/ovlabel.csv"
CONVERTED = ("c/data.jsonl", "c/convert_config.json")


def convert(fmt: str, src: str, *extra: str) -> tuple[str, ...]:
    return ("data", "convert", src, "--format", fmt, "--out", "c", *extra)


def mer_convert() -> tuple[str, ...]:
    return convert("mer_unibench", "ds")


def eval_emer(*extra: str) -> tuple[str, ...]:
    return ("eval", "emer", "--model", "m", "--data-root", "v1", "--judge", "none", "--out",
            "out", *extra)


EVAL_MER = ("eval", "mer-unibench", "--model", "m", "--data-root", "ds", "--out", "out")


def score(metric: str, gt: str, pred: str) -> tuple[str, ...]:
    return ("score", metric, "--gt", gt, "--pred", pred, "--out", "s.json")


OV_GT = {OVLABEL: "name,openset\nsamplenew3_1,\"['happy', 'relaxed']\"\n"}
PRED_NPZ = "output/results-meld/mymodel/checkpoint_000010_loss_0.900"

EMER_CASES = [
    Case("emer-gt-header-only-convert", convert("emer", "v1"),
         r"v1/gt-eng\.csv: no data rows \(only a header\)", files={"v1/gt-eng.csv": EMER_HEADER},
         leftovers=CONVERTED),
    Case("emer-v2-header-only-convert", convert("emer", "v2"),
         r"v2/final-EMER-reason\.csv: no data rows \(only a header\)",
         files={"v2/final-EMER-reason.csv": "name,chinese,english\n"}, leftovers=CONVERTED),
    Case("emer-gt-names-column-missing", convert("emer", "v1"),
         r"v1/gt-eng\.csv:1: missing column\(s\) names",
         files={"v1/gt-eng.csv": "name,emotions\ns1,happy\n", "v1/video/s1.avi": CLIP},
         leftovers=CONVERTED),
    Case("emer-name-with-path-separators", convert("emer", "v1"),
         r"v1/gt-eng\.csv:2: sample name '\.\./\.\./x' is not a plain file name",
         files={"v1/gt-eng.csv": EMER_HEADER + "../../x,happy,hi,She smiles.\n", "x.avi": CLIP},
         leftovers=CONVERTED),
    Case("emer-media-root-missing-convert", convert("emer", "v1", "--media-root", "clips"),
         r"clips: media root \(--media-root / --root\) not found",
         files={"v1/gt-eng.csv": EMER_HEADER + "s1,happy,hi,She smiles.\n"}, leftovers=CONVERTED),
    Case("eval-emer-gt-header-only", eval_emer(),
         r"v1/gt-eng\.csv: no data rows \(only a header\)",
         files={"v1/gt-eng.csv": EMER_HEADER, **MODEL}, leftovers=("out",)),
    Case("eval-emer-gt-zero-bytes", eval_emer(),
         r"v1/gt-eng\.csv:1: empty CSV file \(no header\)",
         files={"v1/gt-eng.csv": "", **MODEL}, leftovers=("out",)),
    Case("eval-emer-media-root-missing", eval_emer("--media-root", "clips"),
         r"clips: media root \(--media-root / --root\) not found",
         files={"v1/gt-eng.csv": EMER_HEADER + "s1,happy,hi,She smiles.\n", **MODEL},
         leftovers=("out",)),
]

MER_CASES = [
    Case("mer-npz-garbage", mer_convert(), r"meld-process/label\.npz: not an \.npz \(zip\) file",
         files={MELD: b"PK\x03\x04 not really a zip"}, leftovers=CONVERTED),
    Case("mer-npz-damaged-deflate", mer_convert(),
         r"meld-process/label\.npz: (corrupt \.npz member|not an \.npz)",
         files={MELD: damaged_npz()}, leftovers=CONVERTED),
    Case("mer-npz-truncated-pickle", mer_convert(),
         r"meld-process/label\.npz\[test_corpus\.npy\]: .*truncated",
         files={MELD: truncated_member_npz()}, leftovers=CONVERTED),
    Case("mer-npz-forged-member-size", mer_convert(),
         r"meld-process/label\.npz: member test_corpus\.npy is \d+ bytes uncompressed, over",
         files={MELD: forged_size_npz()}, leftovers=CONVERTED),
    Case("mer-npz-pickled-os-system", mer_convert(),
         r"meld-process/label\.npz\[test_corpus\.npy\]: refusing to unpickle \w+\.system",
         files={MELD: evil_npz()}, leftovers=(*CONVERTED, "PWNED", "ds/PWNED")),
    Case("mer-npz-split-key-missing", mer_convert(),
         r"meld-process/label\.npz: no 'test_corpus' in this file \(it has: train_corpus\)",
         files={MELD: npz(train_corpus={"dia_0": {"emo": 1}})}, leftovers=CONVERTED),
    Case("mer-npz-split-not-a-dict", mer_convert(),
         r"meld-process/label\.npz: test_corpus is a list, expected a dict",
         files={MELD: npz(test_corpus=np.arange(3))}, leftovers=CONVERTED),
    Case("mer-npz-split-empty", mer_convert(),
         r"meld-process/label\.npz: no test sample: test_corpus is empty",
         files={MELD: npz(test_corpus={})}, leftovers=CONVERTED),
    Case("mer-iemocap-no-session-5", convert("mer_unibench", "ds"),
         r"iemocap-process/label_4way\.npz: no test sample: no Session-5 row in whole_corpus",
         files={"ds/iemocap-process/label_4way.npz":
                npz(whole_corpus={"Ses01F_impro01_F000": {"emo": 1}})}, leftovers=CONVERTED),
    Case("mer-npz-emo-index-out-of-range", mer_convert(),
         r"meld-process/label\.npz: sample 'dia_0': emo 99 is not an emotion or an index",
         files={MELD: npz(test_corpus={"dia_0": {"emo": 99}}),
                "ds/meld-process/subvideo/dia_0.mp4": CLIP}, leftovers=CONVERTED),
    Case("mer-npz-valence-nan", mer_convert(),
         r"sims-process/label\.npz: sample 'vid_0': val nan is not a finite number",
         files={SIMS: npz(test_corpus={"vid_0": {"val": float("nan")}}),
                "ds/sims-process/video/vid_0.mp4": CLIP}, leftovers=CONVERTED),
    Case("mer-npz-name-escapes-media-root", mer_convert(),
         r"meld-process/label\.npz: sample name '\.\./\.\./x' is not a plain file name",
         files={MELD: npz(test_corpus={"../../x": {"emo": 1}}), "x.mp4": CLIP},
         leftovers=CONVERTED),
    Case("mer-ovlabel-openset-column-missing", mer_convert(),
         r"ovmerdplus-process/ovlabel\.csv:1: missing column\(s\) openset",
         files={OVLABEL: "name,labels\nsamplenew3_1,[happy]\n"}, leftovers=CONVERTED),
    Case("mer-ovlabel-openset-a-number", mer_convert(),
         r"ovmerdplus-process/ovlabel\.csv:2: openset '5' is not a list of emotion words",
         files={OVLABEL: "name,openset\nsamplenew3_1,5\n",
                "ds/ovmerdplus-process/video/samplenew3_1.mp4": CLIP}, leftovers=CONVERTED),
    Case("mer-ovlabel-openset-a-dict", mer_convert(),
         r"ovmerdplus-process/ovlabel\.csv:3: openset .*is not a list of emotion words",
         files={OVLABEL: "name,openset\nsamplenew3_1,[happy]\nsamplenew3_2,\"{'happy': 1}\"\n",
                "ds/ovmerdplus-process/video/samplenew3_1.mp4": CLIP,
                "ds/ovmerdplus-process/video/samplenew3_2.mp4": CLIP}, leftovers=CONVERTED),
    Case("mer-ovlabel-openset-unbalanced", mer_convert(),
         r"ovmerdplus-process/ovlabel\.csv:2: openset '\[\[\[' is not a list of emotion words",
         files={OVLABEL: "name,openset\nsamplenew3_1,[[[\n",
                "ds/ovmerdplus-process/video/samplenew3_1.mp4": CLIP}, leftovers=CONVERTED),
    Case("mer-ovlabel-name-escapes-media-root", mer_convert(),
         r"ovmerdplus-process/ovlabel\.csv:2: sample name '\.\./\.\./\.\./x' is not a plain file",
         files={OVLABEL: "name,openset\n../../../x,[happy]\n", "x.mp4": CLIP},
         leftovers=CONVERTED),
    Case("mer-ovlabel-header-only", mer_convert(),
         r"ovmerdplus-process/ovlabel\.csv: no test rows \(only a header\)",
         files={OVLABEL: "name,openset\n"}, leftovers=CONVERTED),
    Case("mer-data-root-missing", convert("mer_unibench", "ds", "--root", "media"),
         r"media: data root \(--root / --media-root\) not found",
         files={MELD: npz(test_corpus={"dia_0": {"emo": 1}})}, leftovers=CONVERTED),
    Case("eval-mer-npz-garbage", EVAL_MER,
         r"meld-process/label\.npz: MELD: not an \.npz \(zip\) file",
         files={MELD: b"garbage", **MODEL}, leftovers=("out",)),
    Case("eval-mer-split-empty", EVAL_MER,
         r"meld-process/label\.npz: MELD: no test sample: test_corpus is empty",
         files={MELD: npz(test_corpus={}), **MODEL}, leftovers=("out",)),
    Case("eval-mer-pickled-os-system", EVAL_MER,
         r"meld-process/label\.npz\[test_corpus\.npy\]: .*refusing to unpickle",
         files={MELD: evil_npz(), **MODEL}, leftovers=("out", "PWNED", "ds/PWNED")),
]

SCORE_CASES = [
    Case("score-ew-gt-openset-not-a-list", score("ew", OVLABEL, "p.csv"),
         r"ovmerdplus-process/ovlabel\.csv:2: openset '5' is not a list of emotion words",
         files={OVLABEL: "name,openset\nsamplenew3_1,5\n",
                "p.csv": "name,openset\nsamplenew3_1,[happy]\n"}, leftovers=("s.json",)),
    Case("score-ew-pred-fileitems-dict", score("ew", OVLABEL, "p.npz"),
         r"p\.npz: fileitems\[0\] is a dict .*expected a string",
         files={**OV_GT, "p.npz": npz(filenames=["samplenew3_1"],
                                      fileitems=np.array([{"x": 1}], dtype=object))},
         leftovers=("s.json",)),
    Case("score-hit-pred-filenames-numbers", score("hit", MELD, "p.npz"),
         r"p\.npz: filenames\[0\] is a int .*expected a string",
         files={MELD: npz(test_corpus={"dia_0": {"emo": 1}}),
                "p.npz": npz(filenames=[7], fileitems=["[joy]"])}, leftovers=("s.json",)),
    Case("score-hit-gt-split-missing", score("hit", MELD, "p.csv"),
         r"meld-process/label\.npz: no 'test_corpus' in this file",
         files={MELD: npz(val_corpus={}), "p.csv": "name,openset\ndia_0,[joy]\n"},
         leftovers=("s.json",)),
    Case("score-hit-pred-damaged-npz", score("hit", MELD, "p.npz"),
         r"p\.npz: (corrupt \.npz member|not an \.npz)",
         files={MELD: npz(test_corpus={"dia_0": {"emo": 1}}), "p.npz": damaged_npz()},
         leftovers=("s.json",)),
    Case("score-sentiment-gt-valence-nan", score("sentiment", SIMS, "p.csv"),
         r"sims-process/label\.npz: sample 'vid_0': val nan is not a finite number",
         files={SIMS: npz(test_corpus={"vid_0": {"val": float("nan")}}),
                "p.csv": "name,sentiment\nvid_0,positive\n"}, leftovers=("s.json",)),
    Case("score-sentiment-pred-column-missing", score("sentiment", SIMS, "p.csv"),
         r"p\.csv:1: missing column\(s\) sentiment",
         files={SIMS: npz(test_corpus={"vid_0": {"val": 1.5}}),
                "p.csv": "name,reply\nvid_0,positive\n"}, leftovers=("s.json",)),
    Case("score-mer-unibench-damaged-checkpoint",
         ("score", "mer-unibench", "--data-root", "ds", "--results", "output", "--model",
          "mymodel", "--out", "s.json"),
         r"checkpoint_000010_loss_0\.900-openset\.npz: (corrupt \.npz member|not an \.npz)",
         files={MELD: npz(test_corpus={"dia_0": {"emo": 1}}), f"{PRED_NPZ}.npz": npz(
             name2reason={"dia_0": "joy"}), f"{PRED_NPZ}-openset.npz": damaged_npz()},
         leftovers=("s.json",)),
    Case("score-mer-unibench-label-file-garbage",
         ("score", "mer-unibench", "--data-root", "ds", "--results", "output", "--model",
          "mymodel", "--out", "s.json"),
         r"meld-process/label\.npz: not an \.npz \(zip\) file",
         files={MELD: b"garbage", f"{PRED_NPZ}.npz": npz(name2reason={"dia_0": "joy"}),
                f"{PRED_NPZ}-openset.npz": npz(filenames=["dia_0"], fileitems=["[joy]"])},
         leftovers=("s.json",)),
]

BENCHMARK_CASES: list[Case] = [*EMER_CASES, *MER_CASES, *SCORE_CASES]
