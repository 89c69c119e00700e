"""The emotion-wheel metric: hand-computed quirks, list parsing, and an independent re-implementation
that reads the official xlsx/csv files directly (skipped when they are not beside the repository)."""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rewards import EWScore, ew_score, wheel_data
from rewards.emotion_wheel import map_label, map_labels, wheel_overlaps
from rewards.label_list import parse_label_list

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "emotion_wheel"
needs_official = pytest.mark.skipif(
    not (SHARED / "format.csv").is_file(),
    reason=f"official emotion-wheel files not found at {SHARED} (../shared beside the repository)")


# --------------------------------------------------------------------------------------------------
# List-string parsing


@pytest.mark.parametrize("text, expected", [
    ("['happy', 'sad']", ["happy", "sad"]),
    ('["Happy", "SAD "]', ["happy", "sad"]),
    ("happy, worried", ["happy", "worried"]),
    ("[happy]", ["happy"]),
    ("happy]", ["happy"]),
    ("[[happy]]", ["[happy]"]),            # only one bracket is stripped at each end
    (" ['x'] ", ["[", "x", "]"]),          # a leading space keeps the brackets (official rule)
    ("[]", []),
    ("['']", []),
    ("", []),
    ("a,,b, ,", ["a", "b"]),
    ("don't know", ["don", "t know"]),     # an apostrophe is a separator
    ("[ 'Grossed Out' ]", ["grossed out"]),
])
def test_parse_label_list_strings(text, expected):
    assert parse_label_list(text) == expected


def test_parse_label_list_lists_are_used_as_is():
    assert parse_label_list(["  Happy ", "SAD", ""]) == ["happy", "sad", ""]
    assert parse_label_list(("a",)) == ["a"]
    assert parse_label_list(None) == []


# --------------------------------------------------------------------------------------------------
# Quirks of the mapping, hand-checked against the data


def test_neutral_maps_to_nothing():
    for level in (1, 2):
        assert [map_label("neutral", w, level) for w in range(1, 6)] == [None] * 5
    assert ew_score("['neutral']", "['neutral']") is None
    assert ew_score("['neutral', 'happy']", "['happy']") == EWScore(1.0, 1.0, 1.0)


def test_fear_goes_through_fearless():
    data = wheel_data.load()
    assert set(data.format_map["fear"]) == {"fear", "fearful", "fearless"}
    assert data.synonym_map["fearless"] == {"brave", "courageous", "daring"}
    # Collected words sorted: brave, courageous, daring, fear, fearful, scared. Wheel 2 contains
    # "brave"/"courageous" under "happy", so "fear" lands on a positive emotion there.
    assert map_label("fear", 2, 1) == "happy"
    assert map_label("fear", 2, 1) == map_label("fearless", 2, 1)
    assert map_label("fear", 1, 1) == "scared"          # wheel 1 has none of them: "fear" itself
    assert map_label("fearless", 1, 1) is None
    assert map_label("fear", 3, 1) == "joyful"
    assert map_label("fear", 4, 1) == "genius"


def test_level2_level1_word_goes_to_alphabetically_first_child():
    wheel1 = wheel_data.load().trees[0]
    assert list(wheel1["mad"])[0] == "offended"           # first in the file ...
    assert sorted(wheel1["mad"])[0] == "aggressive"       # ... but alphabetically first wins
    assert wheel_data.wheel_map(1, 2)["mad"] == "aggressive"
    assert map_label("mad", 1, 2) == "aggressive"
    assert map_label("disgusted", 1, 2) == "avoiding"     # not "outraged", its first child
    assert map_label("mad", 1, 1) == "mad"


def test_level2_keeps_level2_words_and_lifts_level3_words():
    m = wheel_data.wheel_map(1, 2)
    tree = wheel_data.load().trees[0]
    level2, leaves = next(iter(tree["mad"].items()))
    assert m[level2] == level2
    assert all(m[leaf] == level2 for leaf in leaves)


def test_a_word_mapping_to_several_format_names():
    data = wheel_data.load()
    assert set(data.format_map["abhor"]) == {"abhor", "abhorred", "abhorrence", "abhorrent"}
    # Through "abhor" alone the synonyms are only "detest", which wheel 3 lacks; "abhorred" and
    # "abhorrent" bring "hateful", which wheel 3 files under "mad".
    assert data.synonym_map["abhor"] == {"detest"}
    assert "detest" not in wheel_data.wheel_map(3, 1)
    assert map_label("abhor", 3, 1) == "mad"


def test_unknown_words_are_dropped():
    assert map_labels("['blorft', 'happy']", 1) == {"happy"}
    assert ew_score("['blorft']", "['happy']") is None


# --------------------------------------------------------------------------------------------------
# Hand-computed per-sample scores


def test_per_sample_score_hand_computed():
    # Level 1 mapped words (wheels 1..5):
    #   happy   -> happy,  happy,  joyful, joy,   powerful
    #   worried -> scared, fearful, scared, fear, scared
    #   sad     -> sad x5;  angry -> mad, angry, mad, anger, mad
    # G = {happy, worried}: two words on every wheel. P = {happy, sad, angry}: three words.
    # Every wheel: |G∩P| = 1, precision 1/3, recall 1/2, F = 2·(1/6)/(5/6) = 0.4.
    s = ew_score("['happy', 'worried']", "happy, sad, angry")
    assert s == EWScore(sum([0.4] * 5) / 5, sum([1 / 3] * 5) / 5, sum([0.5] * 5) / 5)
    assert s.fscore == pytest.approx(0.4)


def test_per_sample_score_averages_only_wheels_with_ground_truth():
    # Level 1: surprised -> surprised, surprised, powerful, fear, (nothing on wheel 5);
    #          happy     -> happy,     happy,     joyful,   joy,  powerful.
    # G = {surprised} counts on wheels 1-4 only. P = {happy}: no overlap on any of them.
    assert ew_score("surprised", "happy") == EWScore(0.0, 0.0, 0.0)
    # P = {surprised}: perfect on wheels 1-4; wheel 5 is skipped (G empty there).
    assert ew_score("surprised", "surprised") == EWScore(1.0, 1.0, 1.0)
    # P = {happy, surprised}: wheels 1-4 precision 1/2 recall 1, F = 2/3 each (wheel 3 maps happy to
    # joyful and surprised to powerful: two words, one common).
    f = 2 * (0.5 * 1.0) / 1.5
    assert ew_score("surprised", "happy, surprised") == EWScore(
        sum([f] * 4) / 4, sum([0.5] * 4) / 4, sum([1.0] * 4) / 4)


def test_empty_prediction_scores_zero_and_synonyms_score_one():
    assert ew_score("['happy']", "") == EWScore(0.0, 0.0, 0.0)
    assert ew_score("['happy']", None) == EWScore(0.0, 0.0, 0.0)
    assert ew_score("['happy']", "['happiness']") == EWScore(1.0, 1.0, 1.0)   # same mapping
    assert ew_score(["Happy"], ("joyful",)).fscore == 1.0


def test_level2_is_stricter():
    # level 2: happy -> joyful, content, cheerful, acceptance, proud;
    #          joyful -> accepted, accepted, cheerful, acceptance, proud
    s = ew_score("happy", "joyful", level=2)
    assert s == EWScore(sum([0.0, 0.0, 1.0, 1.0, 1.0]) / 5, sum([0, 0, 1.0, 1.0, 1.0]) / 5,
                        sum([0, 0, 1.0, 1.0, 1.0]) / 5)
    assert ew_score("happy", "joyful", level="level2") == s
    with pytest.raises(ValueError, match="level must be 1 or 2"):
        ew_score("happy", "joyful", level=3)


def test_wheel_overlaps_counts():
    assert wheel_overlaps("['happy', 'worried']", "happy, sad, angry") == ((2, 3, 1),) * 5
    assert wheel_overlaps("neutral", "happy") == ((0, 1, 0),) * 5


# --------------------------------------------------------------------------------------------------
# Packaging: the runtime never reads /work/shared, the data file is small and documented


def test_packaged_data_is_small_and_attributed():
    data_dir = REPO / "rewards" / "data"
    assert (data_dir / "emotion_wheel.json.gz").stat().st_size < 100_000
    notice = (data_dir / "NOTICE").read_text()
    assert "AffectGPT" in notice and "Apache" in notice
    source = "\n".join(p.read_text() for p in (REPO / "rewards").glob("*.py")
                       if p.name != "build_wheel_data.py")
    assert "shared" not in source and "openpyxl" not in source


def test_rewards_imports_no_heavy_or_project_modules():
    code = ("import sys, rewards; rewards.ew_score('happy', 'joy'); "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'transformers', 'affectllm', 'eval', 'numpy', 'openpyxl', 'trl')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------------
# Independent re-implementation straight from the official files


def _ref_split(text: str) -> list[str]:
    """The official list parsing, written from its description."""
    if text[:1] == "[":
        text = text[1:]
    if text[-1:] == "]":
        text = text[:-1]
    return [piece.strip() for piece in re.split(r"['\",]", text) if piece.strip() != ""]


class Reference:
    """Straightforward MER-UniBench EW metric reading the official xlsx/csv with openpyxl."""

    def __init__(self, root: Path):
        openpyxl = pytest.importorskip("openpyxl")

        def sheet(name):
            wb = openpyxl.load_workbook(root / name, read_only=True)
            rows = list(wb.active.iter_rows(values_only=True))
            wb.close()
            header = list(rows[0])
            return [dict(zip(header, r)) for r in rows[1:]]

        self.format = {}
        with open(root / "format.csv", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                name = row["name"]
                for form in _ref_split(row["format"] or ""):
                    self.format.setdefault(form, []).append(name)
                self.format.setdefault(name, []).append(name)

        self.synonym = {}
        for row in sheet("synonym.xlsx"):
            for run in range(1, 9):
                word = row[f"word_run{run}"].strip().lower()
                self.synonym.setdefault(word, set()).add(word)
                for syn in _ref_split(row[f"synonym_run{run}"]):
                    self.synonym.setdefault(syn.strip().lower(), set()).add(word)

        # Row order, "later rows overwrite earlier ones" (as the issue states it).
        self.wheels = {}
        for w in range(1, 6):
            rows, current = [], [None, None, None]
            for row in sheet(f"wheel{w}.xlsx"):
                cells = [row["level1"], row["level2"], row["level3"]]
                if all(c is None for c in cells):
                    continue
                current = [c if c is not None else p for c, p in zip(cells, current)]
                rows.append([c.lower().strip() for c in current])
            children = {}
            for l1, l2, _ in rows:
                children.setdefault(l1, set()).add(l2)
            for level in (1, 2):
                m = {}
                for l1, l2, l3 in rows:
                    if level == 1:
                        m[l1] = m[l2] = m[l3] = l1
                    else:
                        m[l1] = sorted(children[l1])[0]
                        m[l2] = m[l3] = l2
                self.wheels[w, level] = m

    def map_one(self, label, w, level):
        if label not in self.format:
            return None
        words = sorted(x for name in self.format[label] for x in self.synonym[name])
        for x in words:
            if x in self.wheels[w, level]:
                return self.wheels[w, level][x]
        return None

    def labels(self, value):
        items = _ref_split(value) if isinstance(value, str) else list(value)
        return [str(x).lower().strip() for x in items]

    def mapped(self, value, w, level):
        return {m for m in (self.map_one(x, w, level) for x in self.labels(value)) if m is not None}

    def sample(self, gt, pred, level):
        # the official per-sample routine scores an empty prediction 0 before any mapping
        if any(self.labels(gt)) and not any(self.labels(pred)):
            return 0.0, 0.0, 0.0
        fs, ps, rs = [], [], []
        for w in range(1, 6):
            g, p = self.mapped(gt, w, level), self.mapped(pred, w, level)
            if not g:
                continue
            prec = len(g & p) / len(p) if p else 0
            rec = len(g & p) / len(g) if p else 0
            fs.append(2 * (prec * rec) / (prec + rec) if prec + rec else 0)
            ps.append(prec)
            rs.append(rec)
        if not fs:
            return None
        return sum(fs) / len(fs), sum(ps) / len(ps), sum(rs) / len(rs)

    def dataset(self, gts, preds, level):
        out = []
        for w in range(1, 6):
            prec, rec = [], []
            for gt, pred in zip(gts, preds):
                g, p = self.mapped(gt, w, level), self.mapped(pred, w, level)
                if not g:
                    continue
                prec.append(len(g & p) / len(p) if p else 0)
                rec.append(len(g & p) / len(g) if p else 0)
            mp, mr = sum(prec) / len(prec), sum(rec) / len(rec)
            out.append((2 * mp * mr / (mp + mr), mp, mr))
        return tuple(sum(x[i] for x in out) / 5 for i in range(3))

    def hit(self, gts, preds):
        rates = []
        for w in range(1, 6):
            hits = [len(self.mapped(g, w, 1) & self.mapped(p, w, 1)) for g, p in zip(gts, preds)
                    if self.mapped(g, w, 1)]
            rates.append(sum(hits) / len(hits))
        return sum(rates) / 5


@pytest.fixture(scope="module")
def reference():
    if not (SHARED / "format.csv").is_file():
        pytest.skip(f"official emotion-wheel files not found at {SHARED}")
    return Reference(SHARED)


@pytest.fixture(scope="module")
def vocabulary(reference):
    wheel_words = sorted({w for m in reference.wheels.values() for w in m})
    return sorted(reference.format), wheel_words


def _random_list(rng, forms, wheel_words) -> str | list:
    pool = rng.choice([forms, wheel_words, ["neutral", "blorft", "Happy ", "FEAR", "fear", ""]])
    items = [rng.choice(pool) for _ in range(rng.randint(0, 5))]
    style = rng.randrange(3)
    if style == 0:
        return str(items)
    if style == 1:
        return ", ".join(items)
    return items


@needs_official
def test_packaged_maps_equal_the_official_files(reference):
    data = wheel_data.load()
    assert {k: sorted(v) for k, v in data.format_map.items()} == \
        {k: sorted(v) for k, v in reference.format.items()}
    assert {k: set(v) for k, v in data.synonym_map.items()} == reference.synonym
    for (w, level), m in reference.wheels.items():
        assert wheel_data.wheel_map(w, level) == m
    assert len(data.format_map) == 7386 and len(data.synonym_map) == 1255


@needs_official
def test_every_surface_form_maps_like_the_reference(reference):
    for w in range(1, 6):
        for level in (1, 2):
            for label in reference.format:
                assert map_label(label, w, level) == reference.map_one(label, w, level), (label, w)


@needs_official
@pytest.mark.parametrize("level", [1, 2])
def test_random_label_lists_match_the_reference(reference, vocabulary, level):
    from eval.scorers import ew_dataset_score, hit_rate

    rng = random.Random(1234 + level)
    forms, wheel_words = vocabulary
    gts, preds = [], []
    for _ in range(400):
        gt, pred = _random_list(rng, forms, wheel_words), _random_list(rng, forms, wheel_words)
        expected = reference.sample(gt, pred, level)
        got = ew_score(gt, pred, level)
        assert (got is None) == (expected is None), (gt, pred)
        if got is not None:
            assert tuple(got) == expected, (gt, pred)      # exact, to the last digit
        gts.append(gt)
        preds.append(pred)
    result = ew_dataset_score(gts, preds, level)
    assert (result.fscore, result.precision, result.recall) == reference.dataset(gts, preds, level)
    if level == 1:
        singles = [rng.choice(wheel_words) for _ in range(300)]
        assert hit_rate(singles, preds[:300]).hit_rate == reference.hit(singles, preds[:300])


@needs_official
def test_converter_rebuilds_the_packaged_file(tmp_path):
    pytest.importorskip("openpyxl")
    out = tmp_path / "wheel.json.gz"
    proc = subprocess.run([sys.executable, "-m", "rewards.build_wheel_data", str(SHARED),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    packaged = REPO / "rewards" / "data" / "emotion_wheel.json.gz"
    assert json.loads(gzip.decompress(out.read_bytes())) == \
        json.loads(gzip.decompress(packaged.read_bytes()))
    assert out.read_bytes() == packaged.read_bytes()          # reproducible byte for byte
