"""The generation backends on tiny models: n completions per request, determinism under a seed,
per-batch failure reporting, and the vLLM request builder agreeing with the HF prompt."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from PIL import Image

from affectllm.errors import InputError
from affectllm.generation import (
    HFBackend,
    Request,
    Sampling,
    make_backend,
    media_of,
    render_prompt,
    vllm_available,
    vllm_request,
)
from affectllm.models import PixelBudget, load_processor


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    paths = []
    for i, color in enumerate([(220, 30, 30), (30, 220, 30), (30, 30, 220), (200, 200, 40)]):
        p = root / f"face{i}.png"
        Image.new("RGB", (112, 112), color).save(p)
        paths.append(str(p))
    return paths


def _requests(images):
    return [Request(id=f"s{i}", messages=[{"role": "user", "content": [
        {"type": "image", "image": path},
        {"type": "text", "text": "What emotion is shown?" + " Think." * i}]}])
        for i, path in enumerate(images)]


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "llava"])
def test_hf_backend_n_completions_deterministic(arch, tiny_model, images):
    backend = make_backend(str(tiny_model(arch)), "hf", batch_size=3)
    sampling = Sampling(n=3, temperature=1.0, max_new_tokens=6, seed=7)
    first = backend.generate(_requests(images), sampling)
    second = backend.generate(_requests(images), sampling)
    assert [o.id for o in first] == ["s0", "s1", "s2", "s3"]  # input order, not length order
    assert all(len(o.texts) == 3 and len(o.num_tokens) == 3 and o.error is None for o in first)
    assert [o.texts for o in first] == [o.texts for o in second]
    assert all(1 <= n <= 6 for o in first for n in o.num_tokens)
    other = backend.generate(_requests(images), Sampling(n=3, temperature=1.0, max_new_tokens=6,
                                                         seed=8))
    assert [o.texts for o in other] != [o.texts for o in first]
    assert backend.throughput.completions == 36


def test_greedy_equals_unbatched(tiny_model, images):
    """Left padding must not change greedy outputs: batched == one at a time."""
    path = str(tiny_model("qwen2_5_vl"))
    batched = make_backend(path, "hf", batch_size=4).generate(
        _requests(images), Sampling(max_new_tokens=8))
    single = make_backend(path, "hf", batch_size=1).generate(
        _requests(images), Sampling(max_new_tokens=8))
    assert [o.texts for o in batched] == [o.texts for o in single]


def test_failing_batch_is_reported_not_raised(tiny_model, images):
    backend = make_backend(str(tiny_model("qwen2_5_vl")), "hf", batch_size=2)
    requests = _requests(images)
    requests[0].messages[0]["content"][0]["image"] = "/nonexistent/face.png"
    outputs = backend.generate(requests, Sampling(max_new_tokens=4), retries=1)
    by_id = {o.id: o for o in outputs}
    failed = [o.id for o in outputs if o.error]
    assert "s0" in failed and "face.png: media file not found" in by_id["s0"].error
    assert by_id["s0"].texts == []
    assert any(o.error is None and o.texts for o in outputs), "other batches still ran"


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "llava"])
def test_vllm_request_matches_hf_prompt(arch, tiny_model, images):
    """The vLLM request carries the same prompt text and images the HF backend feeds its
    processor, so both build the same token sequence with the same image placeholders."""
    path = str(tiny_model(arch))
    budget = PixelBudget(max_pixels=112 * 112) if arch.startswith("qwen") else PixelBudget()
    processor = load_processor(path, budget)
    request = _requests(images)[1]
    item = vllm_request(processor, request, budget)

    assert item["prompt"] == render_prompt(processor, request.messages)
    hf_images, _ = media_of(request.messages)
    assert item["multi_modal_data"]["image"].tobytes() == hf_images[0].tobytes()
    placeholder = "<|image_pad|>" if arch.startswith("qwen") else "<image>"
    assert item["prompt"].count(placeholder) == 1
    if arch.startswith("qwen"):
        assert item["mm_processor_kwargs"] == {"max_pixels": 112 * 112}

    via_vllm_inputs = processor(text=[item["prompt"]], images=[item["multi_modal_data"]["image"]],
                                return_tensors="pt")
    backend = HFBackend(path, batch_size=1, pixels=budget)
    hf_text = render_prompt(backend.processor, request.messages)
    via_hf = backend.processor(text=[hf_text], images=hf_images, return_tensors="pt")
    assert torch.equal(via_vllm_inputs["input_ids"], via_hf["input_ids"])


def test_pixel_budget_changes_image_tokens(tiny_model, images):
    path = str(tiny_model("qwen2_5_vl"))
    small = load_processor(path, PixelBudget(max_pixels=56 * 56))
    large = load_processor(path, PixelBudget(max_pixels=112 * 112))
    image = Image.open(images[0]).convert("RGB")
    count = lambda p: int((p(text=["<|image_pad|>"], images=[image], return_tensors="pt")  # noqa: E731
                           ["input_ids"] == p.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
    assert count(small) == 4 and count(large) == 16


def test_bad_backend_and_sampling():
    with pytest.raises(InputError):
        make_backend("x", "tensorrt")
    with pytest.raises(InputError):
        Sampling(n=0)


@pytest.mark.skipif(vllm_available(), reason="vLLM is installed with a GPU: engine test runs below")
def test_vllm_backend_refuses_cleanly_without_vllm(tiny_model):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is importable here; the refusal path does not apply")
    with pytest.raises(InputError, match="affectllm\\[vllm\\]"):
        make_backend(str(tiny_model("qwen2_5_vl")), "vllm")


@pytest.mark.skipif(not vllm_available(), reason="needs vLLM and a CUDA GPU (absent on CPU CI)")
def test_vllm_engine_generates(tiny_model, images):
    backend = make_backend(str(tiny_model("qwen2_5_vl")), "vllm", gpu_memory_utilization=0.3)
    outputs = backend.generate(_requests(images), Sampling(n=2, max_new_tokens=4))
    assert all(len(o.texts) == 2 for o in outputs)


def test_video_frames_decoded_with_av(tmp_path):
    """Video paths decode with PyAV (torchvision's reader is gone in 0.29)."""
    import av
    import numpy as np

    from affectllm.generation import read_video_frames

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = np.full((48, 64, 3), i * 12, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = read_video_frames(str(path), num_frames=4)
    assert len(frames) == 4 and frames[0].size == (64, 48)
    brightness = [np.asarray(f).mean() for f in frames]
    assert brightness == sorted(brightness) and brightness[-1] > brightness[0] + 50
    _, videos = media_of([{"role": "user", "content": [{"type": "video", "video": str(path)}]}])
    assert len(videos) == 1 and len(videos[0]) == 8


def test_bad_request_fails_alone(tiny_model, images):
    """A batch with one unreadable image still answers the other requests of that batch."""
    backend = make_backend(str(tiny_model("qwen2_5_vl")), "hf", batch_size=4)
    requests = _requests(images)
    requests[2].messages[0]["content"][0]["image"] = "/nonexistent/face.png"
    outputs = backend.generate(requests, Sampling(max_new_tokens=3), retries=0)
    assert [o.error is not None for o in outputs] == [False, False, True, False]
