"""The procedural FACS faces: deterministic, distinct per emotion, disjoint splits, valid data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from affectllm.data.readers import read
from affectllm.data.schema import FIELDS
from affectllm.data.toyfaces import (
    EMFACS_PROTOTYPES,
    EMOTIONS,
    RENDERED_AUS,
    FaceParams,
    describe,
    generate_toyfaces,
    render_face,
    sample_expression,
)
from affectllm.data.validate import validate
from rewards.aus import is_known_au
from rewards.labels import FACIAL_LABELS


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def prototype(emotion: str) -> dict:
    """Full-intensity prototype (contempt on the image-right side)."""
    return {au: (0.0, 1.0) if emotion == "contempt" else 1.0 for au in EMFACS_PROTOTYPES[emotion]}


def test_prototypes_are_the_facial_labels_with_emfacs_aus() -> None:
    assert set(EMOTIONS) == set(FACIAL_LABELS)
    assert EMFACS_PROTOTYPES["sadness"] == ("AU1", "AU4", "AU15")
    assert EMFACS_PROTOTYPES["neutral"] == ()
    assert all(is_known_au(au) and au in RENDERED_AUS
               for aus in EMFACS_PROTOTYPES.values() for au in aus)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    generate_toyfaces(tmp_path / "a", n=24, seed=3, size=64)
    generate_toyfaces(tmp_path / "b", n=24, seed=3, size=64, workers=2)
    generate_toyfaces(tmp_path / "c", n=24, seed=4, size=64)
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert len(a) == 24 + 3 and a == b
    assert a["images/toyfaces-00000.png"] != c["images/toyfaces-00000.png"]


@pytest.mark.parametrize("size", [56, 112])
@pytest.mark.parametrize("face", ["default", "random"])
def test_every_prototype_renders_distinctly(size: int, face: str) -> None:
    """Any two emotions on the same face differ by > 1.2 grey levels on average over the whole
    image (the closest pair, contempt vs neutral, differs only around the mouth)."""
    params = FaceParams() if face == "default" else FaceParams.random(random.Random(7))
    images = {e: np.asarray(render_face(prototype(e), params, size), dtype=np.float32)
              for e in EMOTIONS}
    assert all(im.shape == (size, size, 3) for im in images.values())
    for k, e1 in enumerate(EMOTIONS):
        for e2 in EMOTIONS[k + 1:]:
            mad = float(np.abs(images[e1] - images[e2]).mean())
            assert mad > 1.2, f"{e1} vs {e2}: mean absolute difference {mad:.2f}"


def test_identity_varies_but_expression_dominates() -> None:
    """Same emotion, different faces still differ; render_face accepts seeds and None."""
    happy = prototype("happiness")
    one, two = render_face(happy, 1), render_face(happy, 2)
    assert one.size == (112, 112) and one.mode == "RGB"
    assert np.abs(np.asarray(one, np.float32) - np.asarray(two, np.float32)).mean() > 1.0
    assert render_face({}, None).tobytes() == render_face({}, FaceParams()).tobytes()
    assert render_face({"AU99": 1.0}).tobytes() == render_face({}).tobytes()  # unrendered: ignored


def test_splits_are_disjoint_balanced_and_valid(tmp_path: Path) -> None:
    paths = generate_toyfaces(tmp_path, n=80, seed=0, size=48)
    assert set(paths) == {"train", "validation", "test"}
    rows = {split: [json.loads(line) for line in path.open()] for split, path in paths.items()}
    assert {k: len(v) for k, v in rows.items()} == {"train": 64, "validation": 8, "test": 8}
    ids = [r["id"] for split in rows.values() for r in split]
    images = [r["media"][0]["path"] for split in rows.values() for r in split]
    assert len(set(ids)) == len(ids) == 80 and len(set(images)) == 80
    for split, split_rows in rows.items():
        labels = [r["labels"][0] for r in split_rows]
        assert max(labels.count(e) for e in EMOTIONS) - min(labels.count(e) for e in EMOTIONS) <= 1
        assert all(json.loads(r["meta"])["split"] == split for r in split_rows)
    report = validate(tmp_path, "toyfaces")
    assert report.ok and report.records == 80, [str(p) for p in report.problems]


def test_records_follow_the_facial_r1_shape(tmp_path: Path) -> None:
    generate_toyfaces(tmp_path, n=16, seed=1, size=48)
    result = read(tmp_path / "train.jsonl", "toyfaces")
    for s in result.samples:
        assert tuple(s) == FIELDS and s["source"] == "toyfaces"
        label = s["labels"][0]
        assert s["answer"] == label and "emotion" in s["question"]
        assert set(EMFACS_PROTOTYPES[label]) <= set(s["aus"])
        assert all(f"({au})" in s["reasoning"] for au in s["aus"])
        assert label in s["reasoning"] and "<think>" not in s["reasoning"]
        assert (tmp_path / s["media"][0]["path"]).is_file()


def test_expressions_and_descriptions() -> None:
    rng = random.Random(0)
    for emotion in EMOTIONS:
        aus, active = sample_expression(emotion, rng)
        assert set(EMFACS_PROTOTYPES[emotion]) <= set(active) == set(aus)
    contempt, _ = sample_expression("contempt", random.Random(1))
    assert all(isinstance(v, tuple) and 0.0 in v for k, v in contempt.items() if k != "AU7"
               and k in ("AU12", "AU14"))
    text = describe("sadness", {"AU1": 0.9, "AU4": 0.4, "AU15": 0.8})
    assert text.startswith("The inner brows are raised (AU1), the brows are slightly lowered")
    assert text.endswith("prototype of sadness.")
    with pytest.raises(ValueError, match="unknown emotion"):
        sample_expression("joy", rng)
