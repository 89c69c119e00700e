"""Generation backends: one interface for synthesis and evaluation.

    backend = make_backend("path/to/model", backend="auto")    # vllm if importable + GPU, else hf
    outputs = backend.generate(requests, Sampling(n=4, temperature=0.8, max_new_tokens=256))

A `Request` is an id plus chat messages in the format of `affectllm.prompts.sample_messages`.
Both backends render the prompt with the processor's own chat template (`render_prompt`) and pass
the same decoded images, so for one request they build the same text with the same image
placeholders; vLLM's multimodal processor then expands the placeholders with the same pixel budget
as the HF processor (`mm_processor_kwargs`).

Video parts are sampled once per request by `affectllm.video.expand_videos` with the backend's
`VideoSampling` (frames mode: one image part per sampled frame; native mode: one video input with
its frame rate), the same sampling the training recipes use, so a model sees the same video tokens
in training, HF generation and vLLM.

A batch that fails is retried once and then reported: its outputs carry `error` and no texts, so a
long run never dies on one bad sample.
"""

from __future__ import annotations

import abc
import hashlib
import importlib.util
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from affectllm.errors import InputError
from affectllm.io import load_rgb
from affectllm.models import PixelBudget, load_model_and_processor
from affectllm.progress import progress
from affectllm.video import (
    Clip,
    VideoSampling,
    decode_video,
    expand_videos,
    processor_video_kwargs,
    sampling_for,
)

log = logging.getLogger(__name__)

BACKENDS = ("auto", "hf", "vllm")


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters shared by both backends. temperature 0 means greedy decoding."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.n < 1 or self.max_new_tokens < 1 or self.temperature < 0:
            raise InputError(f"bad sampling parameters: {self}")


@dataclass
class Request:
    id: str
    messages: list[dict]


@dataclass
class Output:
    id: str
    texts: list[str] = field(default_factory=list)
    num_tokens: list[int] = field(default_factory=list)
    error: str | None = None


@dataclass
class Throughput:
    requests: int = 0
    completions: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        s = max(self.seconds, 1e-9)
        return (f"{self.requests} requests, {self.completions} completions, "
                f"{self.generated_tokens} tokens in {self.seconds:.1f}s "
                f"({self.requests / s:.2f} samples/s, {self.generated_tokens / s:.1f} tokens/s)")


# --------------------------------------------------------------------------------------------------
# Request building (pure; shared by both backends)


def render_prompt(processor: Any, messages: list[dict]) -> str:
    """The prompt text exactly as the model's chat template renders it, generation prompt added."""
    return processor.apply_chat_template(_strip_media(messages), tokenize=False,
                                         add_generation_prompt=True)


def _strip_media(messages: list[dict]) -> list[dict]:
    """Messages with media parts reduced to their type (templates only need the placeholder)."""
    out = []
    for m in messages:
        content = m["content"]
        if not isinstance(content, str):
            content = [{"type": p["type"]} if p["type"] in ("image", "video") else p
                       for p in content]
        out.append({"role": m["role"], "content": content})
    return out


def media_of(messages: list[dict]) -> tuple[list[Any], list[Any]]:
    """(images, videos) referenced by the messages, in order. Images are opened as RGB PIL images;
    a video is a list of frames: a sampled `Clip`'s frames, a list of frames/paths as given, or
    frames sampled evenly from a video file (PyAV)."""
    images, videos = [], []
    for part in _parts(messages):
        if part["type"] == "image":
            images.append(_rgb(part.get("image")))
        elif part["type"] == "video":
            src = part.get("video")
            videos.append(src.frames if isinstance(src, Clip) else _load_video(src))
    return images, videos


def clips_of(messages: list[dict]) -> list[Clip]:
    """The sampled video clips (native mode) of the messages, in order."""
    return [p["video"] for p in _parts(messages)
            if p["type"] == "video" and isinstance(p.get("video"), Clip)]


def _parts(messages: list[dict]) -> list[dict]:
    return [part for m in messages if not isinstance(m["content"], str) for part in m["content"]]


def _rgb(src: Any):
    from PIL import Image

    return src.convert("RGB") if isinstance(src, Image.Image) else load_rgb(src)


def _load_video(src: Any, num_frames: int = 8):
    """Frames of a video: a list of frames/paths as given, or `num_frames` frames sampled evenly
    from a video file (decoded with PyAV, which qwen-vl-utils already depends on)."""
    if isinstance(src, (list, tuple)):
        return [load_rgb(f) if isinstance(f, str) else f for f in src]
    return read_video_frames(src, num_frames)


def read_video_frames(path: str, num_frames: int = 8) -> list:
    """`num_frames` RGB PIL frames spread evenly over the video at `path` (all when fewer)."""
    frames, _ = decode_video(path)
    if len(frames) <= num_frames:
        return frames
    step = len(frames) / num_frames
    return [frames[int(i * step + step / 2)] for i in range(num_frames)]


def vllm_request(processor: Any, request: Request, pixels: PixelBudget = PixelBudget(),
                 video: VideoSampling | None = None) -> dict:
    """The input dict `vllm.LLM.generate` takes for one request (prompt text + multi_modal_data),
    its videos sampled with `video` first (see `affectllm.video`)."""
    messages = expand_videos(request.messages, video) if video else request.messages
    request = Request(request.id, messages)
    images, videos = media_of(request.messages)
    data: dict[str, Any] = {}
    if images:
        data["image"] = images if len(images) > 1 else images[0]
    if videos:
        data["video"] = videos if len(videos) > 1 else videos[0]
    item: dict[str, Any] = {"prompt": render_prompt(processor, request.messages)}
    if data:
        item["multi_modal_data"] = data
    mm_kwargs: dict[str, Any] = dict(pixels.processor_kwargs())
    clips = clips_of(request.messages)
    if clips:  # the sampled frames as they are, at their frame rate
        mm_kwargs.update(do_sample_frames=False, fps=clips[0].fps)
    if mm_kwargs:
        item["mm_processor_kwargs"] = mm_kwargs
    return item


def batch_seed(seed: int, ids: Sequence[str]) -> int:
    """A seed for one batch that depends on the run seed and the batch's request ids only."""
    digest = hashlib.sha256((str(seed) + "\x00" + "\x00".join(ids)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


# --------------------------------------------------------------------------------------------------
# Backends


class Backend(abc.ABC):
    """Common driver: batching, retries, progress and throughput; subclasses run one batch."""

    name = "base"
    batch_size = 8

    def __init__(self, model_path: str):
        self.model_path = model_path
        self.throughput = Throughput()

    def generate(self, requests: Sequence[Request], sampling: Sampling = Sampling(),
                 desc: str = "generating", retries: int = 1) -> list[Output]:
        start = time.perf_counter()
        order = self.order(requests)
        results: dict[str, Output] = {}
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for batch in progress(batches, desc=f"{desc} ({self.name})", unit="batch"):
            for out in self._run_with_retries(batch, sampling, retries):
                results[out.id] = out
        outputs = [results[r.id] for r in requests]
        t = self.throughput
        t.requests += len(requests)
        t.completions += sum(len(o.texts) for o in outputs)
        t.generated_tokens += sum(sum(o.num_tokens) for o in outputs)
        t.seconds += time.perf_counter() - start
        return outputs

    def _run_with_retries(self, batch: list[Request], sampling: Sampling,
                          retries: int) -> list[Output]:
        """Run a batch; on failure retry it, then run its requests one by one so that one bad
        sample (an unreadable image) fails alone. Failures are reported in `Output.error`."""
        error = ""
        for attempt in range(retries + 1):
            try:
                return self.run_batch(batch, sampling)
            except Exception as e:  # reported per request; the run goes on
                error = f"{type(e).__name__}: {e}"
                log.warning("generation failed for %s (attempt %d): %s",
                            [r.id for r in batch], attempt + 1, error)
        if len(batch) == 1:
            return [Output(id=batch[0].id, error=error)]
        return [out for r in batch for out in self._run_with_retries([r], sampling, 0)]

    def order(self, requests: Sequence[Request]) -> list[Request]:
        return list(requests)

    @abc.abstractmethod
    def run_batch(self, batch: list[Request], sampling: Sampling) -> list[Output]:
        """Generate for one batch; may raise (the driver retries and reports)."""


class HFBackend(Backend):
    """transformers `generate`, left padding, batches of similar prompt length."""

    name = "hf"

    def __init__(self, model_path: str, *, model: Any = None, processor: Any = None,
                 batch_size: int = 8, pixels: PixelBudget = PixelBudget(), dtype: str = "auto",
                 device: str | None = None, trust_remote_code: bool = False,
                 video: VideoSampling | None = None):
        import torch

        super().__init__(model_path)
        if model is None or processor is None:
            model, processor = load_model_and_processor(
                model_path, dtype=dtype, pixels=pixels, trust_remote_code=trust_remote_code)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.processor.tokenizer.padding_side = "left"
        self.batch_size = batch_size
        self.video = video_for(self.processor, video)

    def order(self, requests: Sequence[Request]) -> list[Request]:
        return by_prompt_length(self.processor, requests)

    def run_batch(self, batch: list[Request], sampling: Sampling) -> list[Output]:
        import torch

        inputs = self.processor(**processor_inputs(
            self.processor, [r.messages for r in batch], self.video)).to(self.device)
        greedy = sampling.temperature == 0
        gen_kwargs: dict[str, Any] = dict(
            max_new_tokens=sampling.max_new_tokens, do_sample=not greedy,
            num_return_sequences=1 if greedy else sampling.n,
            repetition_penalty=sampling.repetition_penalty,
            pad_token_id=self.processor.tokenizer.pad_token_id)
        if not greedy:
            gen_kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p,
                              top_k=sampling.top_k or None)
        torch.manual_seed(batch_seed(sampling.seed, [r.id for r in batch]))
        with torch.inference_mode():
            sequences = self.model.generate(**inputs, **gen_kwargs)
        new = sequences[:, inputs["input_ids"].shape[1]:]
        decoded = self.processor.batch_decode(new, skip_special_tokens=True)
        counts = _generated_lengths(new, self.model.generation_config.eos_token_id,
                                    self.processor.tokenizer.pad_token_id)
        per = 1 if greedy else sampling.n
        outputs = []
        for i, r in enumerate(batch):
            t, c = decoded[i * per:(i + 1) * per], counts[i * per:(i + 1) * per]
            if greedy:  # n identical greedy completions: decode once, copy
                t, c = t * sampling.n, c * sampling.n
            outputs.append(Output(id=r.id, texts=t, num_tokens=c))
        return outputs


def by_prompt_length(processor: Any, requests: Sequence[Request]) -> list[Request]:
    """`requests` sorted (stably) by rendered prompt length, so that batches pad little."""
    lengths = {r.id: len(render_prompt(processor, r.messages)) for r in requests}
    return sorted(requests, key=lambda r: lengths[r.id])


def video_for(processor: Any, video: VideoSampling | None) -> VideoSampling | None:
    """`video` with native mode's frame multiple taken from `processor` (`sampling_for`)."""
    if video is None or video.mode != "native":
        return video
    return sampling_for(processor, video.mode, video.fps, video.max_frames)


def processor_inputs(processor: Any, conversations: list[list[dict]],
                     video: VideoSampling | None = None) -> dict[str, Any]:
    """The keyword arguments of the processor call for a batch of conversations: prompt texts,
    images, and videos (sampled with `video`; native clips with their frame rates)."""
    texts, images, videos, clips = [], [], [], []
    for messages in conversations:
        if video is not None:
            messages = expand_videos(messages, video)
        texts.append(render_prompt(processor, messages))
        im, vid = media_of(messages)
        images += im
        videos += vid
        clips += clips_of(messages)
    kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
    if images:
        kwargs["images"] = images
    if clips and len(clips) == len(videos):
        kwargs.update(processor_video_kwargs(clips))
    elif videos:
        kwargs["videos"] = videos
    return kwargs


def _generated_lengths(new_tokens: Any, eos: int | list[int] | None, pad: int | None) -> list[int]:
    """Tokens generated per row, up to and including the first EOS (padding after it excluded)."""
    eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
    lengths = []
    for row in new_tokens.tolist():
        n = len(row)
        for j, t in enumerate(row):
            if t in eos_ids:
                n = j + 1
                break
        else:
            while n and row[n - 1] == pad and pad not in eos_ids:
                n -= 1
        lengths.append(n)
    return lengths


class VLLMBackend(Backend):
    """vLLM offline engine: one `LLM` per run, every prompt submitted at once.

    Options: tensor_parallel_size, data_parallel_size, gpu_memory_utilization, max_model_len.
    """

    name = "vllm"

    def __init__(self, model_path: str, *, pixels: PixelBudget = PixelBudget(),
                 tensor_parallel_size: int = 1, data_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 max_images: int = 1, max_videos: int = 0, dtype: str = "auto", seed: int = 0,
                 trust_remote_code: bool = False, processor: Any = None,
                 video: VideoSampling | None = None):
        if importlib.util.find_spec("vllm") is None:
            raise InputError("the vllm backend needs vLLM: pip install 'affectllm[vllm]' "
                             "(on a machine with a CUDA GPU), or use --backend hf")
        from vllm import LLM

        from affectllm.models import load_processor

        super().__init__(model_path)
        self.processor = processor or load_processor(model_path, pixels, trust_remote_code)
        self.pixels, self.video = pixels, video_for(self.processor, video)
        if video is not None and video.mode == "frames":
            max_images = max(max_images, video.max_frames)
        elif video is not None:
            max_videos = max(max_videos, 1)
        engine_args: dict[str, Any] = dict(
            model=model_path, tensor_parallel_size=tensor_parallel_size, dtype=dtype, seed=seed,
            gpu_memory_utilization=gpu_memory_utilization, trust_remote_code=trust_remote_code,
            limit_mm_per_prompt={"image": max_images, "video": max_videos},
            mm_processor_kwargs=pixels.processor_kwargs() or None)
        if data_parallel_size > 1:
            engine_args["data_parallel_size"] = data_parallel_size
        if max_model_len:
            engine_args["max_model_len"] = max_model_len
        self.llm = LLM(**engine_args)
        self.batch_size = 1 << 30  # vLLM schedules internally: submit everything at once

    def run_batch(self, batch: list[Request], sampling: Sampling) -> list[Output]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k > 0 else -1,
            repetition_penalty=sampling.repetition_penalty,
            max_tokens=sampling.max_new_tokens, seed=sampling.seed)
        inputs = [vllm_request(self.processor, r, self.pixels, self.video) for r in batch]
        results = self.llm.generate(inputs, params, use_tqdm=True)
        return [Output(id=r.id, texts=[c.text for c in res.outputs],
                       num_tokens=[len(c.token_ids) for c in res.outputs])
                for r, res in zip(batch, results)]


def vllm_available() -> bool:
    """True when vLLM imports and a CUDA GPU is present."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def make_backend(model_path: str, backend: str = "auto", **options: Any) -> Backend:
    """`auto` picks vllm when it can run here, else hf. Options go to the backend's constructor;
    those it does not take are dropped with a debug log (e.g. `batch_size` for vllm)."""
    import inspect

    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "vllm" if vllm_available() else "hf"
    cls = VLLMBackend if backend == "vllm" else HFBackend
    accepted = set(inspect.signature(cls.__init__).parameters)
    dropped = sorted(set(options) - accepted)
    if dropped:
        log.debug("%s backend ignores options %s", backend, dropped)
    return cls(model_path, **{k: v for k, v in options.items() if k in accepted})
