"""vLLM batch scoring without a GPU.

FAKE: this module replaces ONLY the vLLM engine (the `vllm` module: `LLM` and `SamplingParams`)
with a recording stand-in, because vLLM cannot run on a CPU. Everything around it is real: the
tiny model's processor, `affectllm.generation.VLLMBackend` building prompts and
``multi_modal_data``, the CLI flags, `eval`'s backend pool, kept intermediates and scoring.

Checked: one engine per run; every prompt of a step submitted in one `generate` call; images as
``multi_modal_data``; ``--tensor-parallel-size`` / ``--data-parallel-size`` reach the engine; an
extractor that is the same model reuses the engine; a different extractor model gets its own engine
only after the first one is shut down and released.
"""

from __future__ import annotations

import gc
import importlib.machinery
import json
import sys
import types
import weakref
from types import SimpleNamespace

import pytest

from affectllm.cli import main
from affectllm.errors import InputError

DESCRIPTION = "<think>The person smiles warmly.</think><answer>happy, relaxed</answer>"


class FakeEngine:
    """Stands in for `vllm.LLM`: records its arguments and calls, answers by prompt kind."""

    created: list[weakref.ref] = []
    events: list[str] = []

    def __init__(self, **engine_args):
        alive = [r() for r in FakeEngine.created if r() is not None and not r().closed]
        if alive:
            raise AssertionError("a second vLLM engine was created while the first one is alive")
        self.engine_args = engine_args
        self.calls: list[tuple[list[dict], object]] = []
        self.closed = False
        self.llm_engine = SimpleNamespace(engine_core=SimpleNamespace(shutdown=self._shutdown))
        FakeEngine.created.append(weakref.ref(self))
        FakeEngine.events.append(f"start {engine_args['model']}")

    def _shutdown(self):
        self.closed = True
        FakeEngine.events.append(f"shutdown {self.engine_args['model']}")

    def generate(self, inputs, params, use_tqdm=True):
        self.calls.append((inputs, params))
        out = []
        for item in inputs:
            prompt = item["prompt"]
            if "Which emotions does the text clearly identify" in prompt:
                text = "['happy', 'relaxed']"
            elif "positive, negative or neutral" in prompt:
                text = "positive"
            else:
                text = DESCRIPTION
            out.append(SimpleNamespace(outputs=[SimpleNamespace(text=text, token_ids=[1, 2, 3])]))
        return out


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    module.LLM = FakeEngine
    module.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeEngine.created, FakeEngine.events = [], []
    yield FakeEngine
    gc.collect()


@pytest.fixture(scope="module")
def mer_root(tmp_path_factory):
    import csv

    from PIL import Image

    root = tmp_path_factory.mktemp("mer_vllm")
    for name, column, rows in (("OV-MERD+", "openset", [("s1", "['happy', 'relaxed']"),
                                                        ("s2", "['sad']")]),
                               ("MER2023", "emotion", [("a1", "happy"), ("a2", "angry")]),
                               ("CMU-MOSI", "valence", [("c1", "1.5"), ("c2", "-1.0")])):
        (root / name / "video").mkdir(parents=True)
        with open(root / name / "label.csv", "w", newline="") as f:
            csv.writer(f).writerows([["name", column], *rows])
        for k, (sample, _) in enumerate(rows):
            Image.new("RGB", (32, 32), (80 * k, 120, 30)).save(root / name / "video" / f"{sample}.png")
    return root


def _args(model, root, out, *extra):
    return ["eval", "mer-unibench", "--model", model, "--data-root", str(root), "--out", str(out),
            "--backend", "vllm", "--tensor-parallel-size", "2", "--data-parallel-size", "2",
            "--max-new-tokens", "16", *extra]


def test_one_engine_all_prompts_at_once_same_model_extractor(fake_vllm, tiny_model, mer_root,
                                                              tmp_path, capsys):
    model = str(tiny_model("qwen2_5_vl"))
    assert main(_args(model, mer_root, tmp_path / "out", "--extractor", model)) == 0
    assert len(fake_vllm.created) == 1, "generation and a same-model extractor share one engine"
    engine = fake_vllm.created[0]()
    assert engine is None or engine.closed, "the engine is released at the end of the run"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["backends"] == {model: "vllm"}
    assert report["config"]["backend_options"]["tensor_parallel_size"] == 2
    assert set(report["throughput"]) == {"generation", "extractor"}
    # the fake answers "happy, relaxed" / positive everywhere: right for one sample of two
    assert report["metrics"]["MER2023"] == 50.0
    assert report["metrics"]["CMU-MOSI"] == pytest.approx(100 / 3)  # weighted F1 of [T,F] vs [T,T]
    assert 0 < report["metrics"]["OV-MERD+"] < 100
    assert "throughput (generation)" in capsys.readouterr().out


def test_engine_calls_and_arguments(fake_vllm, tiny_model, mer_root, tmp_path):
    model = str(tiny_model("qwen2_5_vl"))
    engines = []
    original_init = FakeEngine.__init__

    def keep(self, **kw):  # keep a strong reference to inspect the calls afterwards
        original_init(self, **kw)
        engines.append(self)

    FakeEngine.__init__ = keep
    try:
        assert main(_args(model, mer_root, tmp_path / "out", "--extractor", model)) == 0
    finally:
        FakeEngine.__init__ = original_init
    (engine,) = engines
    args = engine.engine_args
    assert args["tensor_parallel_size"] == 2 and args["data_parallel_size"] == 2
    assert args["limit_mm_per_prompt"] == {"image": 1, "video": 1}
    describe, lists, sentiment = engine.calls
    assert len(describe[0]) == 6, "all descriptions in one generate call"
    assert all("image" in item["multi_modal_data"] for item in describe[0])
    assert all(item["multi_modal_data"]["image"].size == (32, 32) for item in describe[0])
    assert describe[1].max_tokens == 16 and describe[1].temperature == 0.0
    assert len(lists[0]) == 6 and all("multi_modal_data" not in i for i in lists[0])
    assert len(sentiment[0]) == 2, "one sentiment prompt per CMU-MOSI sample"
    assert lists[1].max_tokens == 256, "extractor sampling is separate from generation"


def test_other_extractor_model_gets_its_own_engine_after_release(fake_vllm, tiny_model, mer_root,
                                                                 tmp_path):
    model, extractor = str(tiny_model("qwen2_5_vl")), str(tiny_model("llava"))
    assert main(_args(model, mer_root, tmp_path / "out", "--extractor", extractor)) == 0
    assert fake_vllm.events == [f"start {model}", f"shutdown {model}",
                                f"start {extractor}", f"shutdown {extractor}"]
    gc.collect()
    assert all(r() is None for r in fake_vllm.created), "released engines are garbage"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["models_loaded"] == [model, extractor]


def test_without_vllm_the_vllm_backend_is_an_input_error(tiny_model, mer_root, tmp_path,
                                                         monkeypatch):
    """No fake here: with vLLM absent, --backend vllm fails cleanly (exit 2 through the CLI)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    from eval.runs import BackendPool

    with pytest.raises(InputError, match="vllm"):
        BackendPool("vllm").get(str(tiny_model("qwen2_5_vl")))
