"""Canonical samples -> the datasets TRL's trainers take (conversational vision format).

    SFT   {"prompt": [system?, user], "completion": [assistant], "images": [...], "videos"?: [...]}
    GRPO  {"prompt": [system?, user], "images": [...], "videos"?: [...], "id", "source", "labels",
           "openset", "aus", "valence"}                # the columns rewards receive

The user message is the text of `affectllm.prompts.sample_messages` (the same prompt evaluation and
synthesis use); TRL puts one image placeholder per image before it, where `sample_messages` puts the
media. Media are stored as absolute paths (checked to exist and to stay inside the data root) and
opened on row access by `ImageLoader`: images converted to RGB, resized into the pixel budget for
the Qwen-VL families, and kept in a small in-memory cache when they are small, so the repeated
reads of a GRPO group or of later epochs cost nothing.

Videos (a ``videos`` column, present when any sample has one) are sampled with the recipe's
`affectllm.video.VideoSampling`: in ``frames`` mode the frames join ``images`` (and ``videos`` is
dropped), so TRL's own collators and GRPO rollouts see images; in ``native`` mode ``videos`` holds
the sampled `Clip`s for `affectllm.train.video`'s collator and GRPO trainer. Audio is not an input
of the supported families and is left out.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affectllm.errors import InputError
from affectllm.io import load_rgb, open_image_file
from affectllm.models import PixelBudget
from affectllm.prompts import sample_messages, target_text, task_prompt
from affectllm.video import VideoSampling

if TYPE_CHECKING:
    from datasets import Dataset

#: Columns kept for GRPO rewards (besides `prompt` and `images`).
REWARD_COLUMNS = ("id", "source", "labels", "openset", "aus", "valence")


def resolve_prompt(name_or_text: str | None, au_glossary: bool = True) -> str | None:
    """The task prompt text, or None for "each sample's own question" (``sample`` or empty)."""
    return task_prompt(name_or_text, glossary=au_glossary)


def load_split(path: str | None, data_root: str | None = None,
               max_samples: int | None = None) -> tuple[list[dict], Path]:
    """Validated canonical samples of a JSONL file (the first `max_samples`) and their data root."""
    from affectllm.data.schema import data_root as default_root
    from affectllm.data.schema import load_samples

    if not path:
        raise InputError("dataset_train is required (a canonical JSONL file)")
    samples = load_samples(path)
    if max_samples is not None:
        samples = samples[:max_samples]
    if not samples:
        raise InputError("no samples", path=path)
    return samples, Path(data_root).resolve() if data_root else default_root(path)


def _prompt_and_media(sample: dict, root: Path, prompt: str | None,
                      system: str | None) -> tuple[list[dict], list[str], list[str]]:
    """(prompt messages with a text-only user turn, image paths, video paths) of one sample."""
    if not any(m["type"] in ("image", "video") for m in sample["media"]):
        kinds = ", ".join(sorted({m["type"] for m in sample["media"]})) or "no"
        raise InputError(f"sample {sample['id']!r} has {kinds} media; the training recipes need "
                         "an image or a video")
    if prompt is None and not sample["question"].strip():
        raise InputError(f"sample {sample['id']!r} has no question and prompt is 'sample'; set "
                         "prompt (facial, openset or a text)")
    messages = sample_messages(sample, root, prompt, system)
    user = messages[-1]
    images = [part["image"] for part in user["content"] if part["type"] == "image"]
    videos = [part["video"] for part in user["content"] if part["type"] == "video"]
    text = "".join(part["text"] for part in user["content"] if part["type"] == "text")
    return [*messages[:-1], {"role": "user", "content": text}], images, videos


def _check_media(rows: list[dict], source: str | Path) -> None:
    for kind in ("images", "videos"):
        missing = [p for r in rows for p in r.get(kind, []) if not Path(p).is_file()]
        if missing:
            raise InputError(f"{len(missing)} {kind[:-1]} file(s) not found, e.g. {missing[0]}",
                             path=source)
    for path in dict.fromkeys(p for r in rows for p in r["images"]):
        with open_image_file(path):  # the header only: an unreadable file or a decompression
            pass                     # bomb is refused now, not in the middle of training
    if any(r.get("videos") for r in rows):
        for r in rows:
            r.setdefault("videos", [])


def sft_rows(samples: Iterable[dict], root: Path, prompt: str | None, system: str | None = None,
             source: str | Path | None = None) -> list[dict]:
    """Prompt-completion rows: the completion is `affectllm.prompts.target_text` (reasoning in
    ``<think>``, answer in ``<answer>``), the only part that is trained on."""
    rows = []
    for sample in samples:
        messages, images, videos = _prompt_and_media(sample, root, prompt, system)
        if not (sample.get("answer") or sample["labels"] or sample["openset"]):
            raise InputError(f"sample {sample['id']!r} has no answer, labels or openset to train "
                             "towards", path=source)
        rows.append({"prompt": messages, "images": images,
                     "completion": [{"role": "assistant", "content": target_text(sample)}],
                     **({"videos": videos} if videos else {})})
    _check_media(rows, source or root)
    return rows


def grpo_rows(samples: Iterable[dict], root: Path, prompt: str | None, system: str | None = None,
              source: str | Path | None = None) -> list[dict]:
    """Prompt rows with the media and the columns rewards read (`REWARD_COLUMNS`)."""
    rows = []
    for sample in samples:
        messages, images, videos = _prompt_and_media(sample, root, prompt, system)
        rows.append({"prompt": messages, "images": images,
                     **({"videos": videos} if videos else {}),
                     **{k: sample[k] for k in REWARD_COLUMNS}})
    _check_media(rows, source or root)
    return rows


def train_eval_rows(script_args: Any, make_rows: Callable[..., list[dict]]
                    ) -> tuple[list[dict], list[dict] | None, Path]:
    """``(train_rows, eval_rows, train_data_root)``: the recipe's prompt resolved, ``dataset_train``
    and (when set, else ``None``) ``dataset_eval`` loaded and made into rows by `make_rows`
    (`sft_rows` or `grpo_rows`)."""
    prompt = resolve_prompt(script_args.prompt, script_args.au_glossary)
    samples, root = load_split(script_args.dataset_train, script_args.data_root,
                               script_args.max_train_samples)
    train_rows = make_rows(samples, root, prompt, script_args.system_prompt,
                           script_args.dataset_train)
    eval_rows = None
    if script_args.dataset_eval:
        eval_samples, eval_root = load_split(script_args.dataset_eval, script_args.eval_data_root,
                                             script_args.max_eval_samples)
        eval_rows = make_rows(eval_samples, eval_root, prompt, script_args.system_prompt,
                              script_args.dataset_eval)
    return train_rows, eval_rows, root


def image_loader(processor: Any, pixels: PixelBudget = PixelBudget(),
                 video: VideoSampling | None = None) -> ImageLoader:
    """The loader for `processor` (with `pixels` already applied by `load_processor`): resizing
    into the processor's [shortest_edge, longest_edge] pixel range for the Qwen-VL families when a
    budget is set; no resizing for the fixed-size families (LLaVA) or without a budget. Videos are
    sampled with `video` (default: frames mode, `VideoSampling()`)."""
    image_processor = getattr(processor, "image_processor", None)
    size = getattr(image_processor, "size", None) or {}
    if not pixels.processor_kwargs() or "longest_edge" not in size:
        return ImageLoader(video=video)
    factor = int(image_processor.patch_size) * int(getattr(image_processor, "merge_size", 1))
    return ImageLoader(factor, size["shortest_edge"], size["longest_edge"], video=video)


class ImageLoader:
    """Opens image paths as RGB PIL images, resized as a Qwen-VL processor would resize them
    (`smart_resize` with `factor` and the pixel range) when `factor` is set, so that every
    processor whose budget contains the result leaves it as it is.

    Images (and sampled clips) whose image (each frame) has at most `cache_pixels` pixels are cached
    (least recently used first out) up to `cache_bytes` in total; larger ones are decoded on every
    access. Videos are sampled with `video` (`affectllm.video.VideoSampling`); in frames mode each
    frame is resized like an image."""

    def __init__(self, factor: int | None = None, min_pixels: int | None = None,
                 max_pixels: int | None = None, cache_pixels: int = 512 * 512,
                 cache_bytes: int = 512 << 20, video: VideoSampling | None = None):
        self.factor, self.min_pixels, self.max_pixels = factor, min_pixels, max_pixels
        self.video = video or VideoSampling()
        self.cache_pixels = cache_pixels
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._used = 0

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after resizing; unchanged without a factor."""
        if self.factor is None:
            return width, height
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

        h, w = smart_resize(height, width, factor=self.factor, min_pixels=self.min_pixels,
                            max_pixels=self.max_pixels)
        return w, h

    def size(self, path: str) -> tuple[int, int]:
        """The (width, height) `load(path)` returns, reading only the file header."""
        with open_image_file(path) as im:
            return self.target_size(*im.size)

    def load(self, path: str):
        image = self._cached(path)
        if image is not None:
            return image

        image = self.resize(load_rgb(path))
        self._remember(path, image, image.width * image.height)
        return image

    def _remember(self, key: str, value: Any, pixels: int, largest: int | None = None) -> None:
        """Cache `value` (an image, or a clip of `pixels` pixels whose largest frame has
        `largest`) when its image (frame) is at most `cache_pixels`."""
        if (pixels if largest is None else largest) > self.cache_pixels:
            return
        self._cache[key] = (value, pixels)
        self._used += pixels * 3
        while self._used > self.cache_bytes and self._cache:
            _, (_, old) = self._cache.popitem(last=False)
            self._used -= old * 3

    def _cached(self, key: str) -> Any:
        entry = self._cache.get(key)
        if entry is None:
            return None
        self._cache.move_to_end(key)
        return entry[0]

    def resize(self, image: Any) -> Any:
        """`image` resized to `target_size` (unchanged when it already fits)."""
        from PIL import Image

        size = self.target_size(*image.size)
        return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)

    def clip(self, path: str) -> Any:
        """The sampled `Clip` of the video at `path`; frames resized as images in frames mode.
        Clips are cached like images (a GRPO group reads its row once per generation)."""
        key = f"video:{path}"
        clip = self._cached(key)
        if clip is not None:
            return clip
        clip = self.video.sample(path)
        if self.video.mode == "frames":
            clip.frames = [self.resize(f) for f in clip.frames]
        sizes = [f.width * f.height for f in clip.frames]
        self._remember(key, clip, sum(sizes), max(sizes))
        return clip

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        """A `datasets` transform: the ``images`` column's paths -> PIL images; the ``videos``
        column's paths -> frames appended to ``images`` (frames mode, ``videos`` dropped) or
        sampled clips (native mode)."""
        batch = dict(batch)
        batch["images"] = [[self.load(p) for p in paths] for paths in batch["images"]]
        if "videos" not in batch:
            return batch
        clips = [[self.clip(p) for p in paths] for paths in batch.pop("videos")]
        if self.video.mode == "frames":
            for images, row in zip(batch["images"], clips):
                images += [frame for clip in row for frame in clip.frames]
        else:
            batch["videos"] = clips
        return batch


def to_dataset(rows: list[dict], loader: ImageLoader) -> Dataset:
    """A `datasets.Dataset` of `rows` whose ``images`` are opened by `loader` on access."""
    from datasets import Dataset

    return Dataset.from_list(rows).with_transform(loader)


def has_videos(rows: list[dict]) -> bool:
    """True when any row carries a video."""
    return any(r.get("videos") for r in rows)


def check_sft_lengths(rows: list[dict], processor: Any, loader: ImageLoader,
                      max_length: int | None) -> dict[str, int]:
    """With `max_length` set, refuse data whose prompts (text, image and video tokens) do not fit
    in it: TRL's collator keeps the first `max_length` tokens, so only completions may be cut.
    Returns ``{"max_prompt_tokens", "truncated_completions"}``. Image-only prompts are measured
    once per distinct (prompt text, image sizes) with blank images of those sizes; prompts with a
    video once per distinct (prompt text, media), with the video sampled as in training."""
    if max_length is None:
        return {}
    from trl.data_utils import apply_chat_template

    tokenizer = processor.tokenizer
    prompt_tokens: dict[tuple, int] = {}
    too_long = truncated = longest = 0
    for row in rows:
        media = tuple(row.get("videos") or ()) or tuple(loader.size(p) for p in row["images"])
        key = (json.dumps(row["prompt"], sort_keys=True), tuple(row["images"]) if
               row.get("videos") else (), media)
        n = prompt_tokens.get(key)
        if n is None:
            n = prompt_tokens[key] = _prompt_length(row, processor, loader)
        longest = max(longest, n)
        if n >= max_length:
            too_long += 1
            continue
        completion = apply_chat_template({"prompt": row["prompt"],
                                          "completion": row["completion"]}, processor)["completion"]
        if n + len(tokenizer(completion, add_special_tokens=False)["input_ids"]) > max_length:
            truncated += 1
    if too_long:
        raise InputError(f"{too_long} of {len(rows)} samples have prompts of up to {longest} tokens "
                         f"(text and image tokens, video tokens included), not shorter than "
                         f"max_length={max_length}: training would cut their image tokens (or "
                         "video tokens). Raise max_length or set it to null (no truncation)")
    return {"max_prompt_tokens": longest, "truncated_completions": truncated}


def _prompt_length(row: dict, processor: Any, loader: ImageLoader) -> int:
    """Tokens of one row's prompt with its media expanded, generation prompt included."""
    from PIL import Image
    from trl.data_utils import prepare_multimodal_messages

    if row.get("videos"):
        loaded = loader({"images": [row["images"]], "videos": [row["videos"]]})
        if "videos" in loaded:  # native: the processor expands the clips
            from affectllm.train.video import media_prompt, processor_batch

            messages = media_prompt(row["prompt"], loaded["images"][0], loaded["videos"][0])
            return int(processor_batch(processor, [messages])["input_ids"].shape[1])
        images = loaded["images"][0]
    else:
        images = [Image.new("RGB", loader.size(p)) for p in row["images"]]
    messages = prepare_multimodal_messages(row["prompt"], images=images)
    return len(processor.apply_chat_template(messages, tokenize=True, return_dict=True,
                                             add_generation_prompt=True)["input_ids"][0])
