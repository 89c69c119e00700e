"""Canonical samples -> the datasets TRL's trainers take (conversational vision format).

    SFT   {"prompt": [system?, user], "completion": [assistant], "images": [...]}
    GRPO  {"prompt": [system?, user], "images": [...], "id", "source", "labels", "openset",
           "aus", "valence"}                           # the columns rewards receive

The user message is the text of `affectllm.prompts.sample_messages` (the same prompt evaluation and
synthesis use); TRL puts one image placeholder per image before it, where `sample_messages` puts the
media. Images are stored as absolute paths (checked to exist and to stay inside the data root) and
opened on row access by `ImageLoader`: converted to RGB, resized into the pixel budget for the
Qwen-VL families, and kept in a small in-memory cache when they are small, so the repeated reads of
a GRPO group or of later epochs cost nothing.
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


def _prompt_and_images(sample: dict, root: Path, prompt: str | None,
                       system: str | None) -> tuple[list[dict], list[str]]:
    other = [m["type"] for m in sample["media"] if m["type"] != "image"]
    if other:
        raise InputError(f"sample {sample['id']!r} has {other[0]} media; the training recipes "
                         "take images only (extract video frames as images first)")
    if prompt is None and not sample["question"].strip():
        raise InputError(f"sample {sample['id']!r} has no question and prompt is 'sample'; set "
                         "prompt (facial, openset or a text)")
    messages = sample_messages(sample, root, prompt, system)
    user = messages[-1]
    images = [part["image"] for part in user["content"] if part["type"] == "image"]
    text = "".join(part["text"] for part in user["content"] if part["type"] == "text")
    return [*messages[:-1], {"role": "user", "content": text}], images


def _check_media(rows: list[dict], source: str | Path) -> None:
    missing = [p for r in rows for p in r["images"] if not Path(p).is_file()]
    if missing:
        raise InputError(f"{len(missing)} image file(s) not found, e.g. {missing[0]}", path=source)
    for path in dict.fromkeys(p for r in rows for p in r["images"]):
        with open_image_file(path):  # the header only: an unreadable file or a decompression
            pass                     # bomb is refused now, not in the middle of training


def sft_rows(samples: Iterable[dict], root: Path, prompt: str | None, system: str | None = None,
             source: str | Path | None = None) -> list[dict]:
    """Prompt-completion rows: the completion is `affectllm.prompts.target_text` (reasoning in
    ``<think>``, answer in ``<answer>``), the only part that is trained on."""
    rows = []
    for sample in samples:
        messages, images = _prompt_and_images(sample, root, prompt, system)
        if not (sample.get("answer") or sample["labels"] or sample["openset"]):
            raise InputError(f"sample {sample['id']!r} has no answer, labels or openset to train "
                             "towards", path=source)
        rows.append({"prompt": messages, "images": images,
                     "completion": [{"role": "assistant", "content": target_text(sample)}]})
    _check_media(rows, source or root)
    return rows


def grpo_rows(samples: Iterable[dict], root: Path, prompt: str | None, system: str | None = None,
              source: str | Path | None = None) -> list[dict]:
    """Prompt rows with the images and the columns rewards read (`REWARD_COLUMNS`)."""
    rows = []
    for sample in samples:
        messages, images = _prompt_and_images(sample, root, prompt, system)
        rows.append({"prompt": messages, "images": images,
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


def image_loader(processor: Any, pixels: PixelBudget = PixelBudget()) -> ImageLoader:
    """The loader for `processor` (with `pixels` already applied by `load_processor`): resizing
    into the processor's [shortest_edge, longest_edge] pixel range for the Qwen-VL families when a
    budget is set; no resizing for the fixed-size families (LLaVA) or without a budget."""
    image_processor = getattr(processor, "image_processor", None)
    size = getattr(image_processor, "size", None) or {}
    if not pixels.processor_kwargs() or "longest_edge" not in size:
        return ImageLoader()
    factor = int(image_processor.patch_size) * int(getattr(image_processor, "merge_size", 1))
    return ImageLoader(factor, size["shortest_edge"], size["longest_edge"])


class ImageLoader:
    """Opens image paths as RGB PIL images, resized as a Qwen-VL processor would resize them
    (`smart_resize` with `factor` and the pixel range) when `factor` is set, so that every
    processor whose budget contains the result leaves it as it is.

    Images of at most `cache_pixels` pixels are cached (least recently used first out) up to
    `cache_bytes` in total; larger ones are decoded on every access."""

    def __init__(self, factor: int | None = None, min_pixels: int | None = None,
                 max_pixels: int | None = None, cache_pixels: int = 512 * 512,
                 cache_bytes: int = 512 << 20):
        self.factor, self.min_pixels, self.max_pixels = factor, min_pixels, max_pixels
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
        image = self._cache.get(path)
        if image is not None:
            self._cache.move_to_end(path)
            return image
        from PIL import Image

        image = load_rgb(path)
        size = self.target_size(*image.size)
        if size != image.size:
            image = image.resize(size, Image.Resampling.BICUBIC)
        if image.width * image.height <= self.cache_pixels:
            self._cache[path] = image
            self._used += image.width * image.height * 3
            while self._used > self.cache_bytes and self._cache:
                _, old = self._cache.popitem(last=False)
                self._used -= old.width * old.height * 3
        return image

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        """A `datasets` transform: the ``images`` column's paths -> PIL images."""
        batch = dict(batch)
        batch["images"] = [[self.load(p) for p in paths] for paths in batch["images"]]
        return batch


def to_dataset(rows: list[dict], loader: ImageLoader) -> Dataset:
    """A `datasets.Dataset` of `rows` whose ``images`` are opened by `loader` on access."""
    from datasets import Dataset

    return Dataset.from_list(rows).with_transform(loader)


def check_sft_lengths(rows: list[dict], processor: Any, loader: ImageLoader,
                      max_length: int | None) -> dict[str, int]:
    """With `max_length` set, refuse data whose prompts (text and image tokens) do not fit in it:
    TRL's collator keeps the first `max_length` tokens, so only completions may be cut. Returns
    ``{"max_prompt_tokens", "truncated_completions"}``; prompts are measured once per distinct
    (prompt text, image sizes) with blank images of those sizes."""
    if max_length is None:
        return {}
    from PIL import Image
    from trl.data_utils import apply_chat_template, prepare_multimodal_messages

    tokenizer = processor.tokenizer
    prompt_tokens: dict[tuple, int] = {}
    too_long = truncated = longest = 0
    for row in rows:
        sizes = tuple(loader.size(p) for p in row["images"])
        key = (json.dumps(row["prompt"], sort_keys=True), sizes)
        n = prompt_tokens.get(key)
        if n is None:
            images = [Image.new("RGB", s) for s in sizes]
            messages = prepare_multimodal_messages(row["prompt"], images=images)
            n = len(processor.apply_chat_template(messages, tokenize=True, return_dict=True,
                                                  add_generation_prompt=True)["input_ids"][0])
            prompt_tokens[key] = n
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
                         f"(text and image tokens), not shorter than max_length={max_length}: "
                         "training would cut their image tokens. Raise max_length or set it to "
                         "null (no truncation)")
    return {"max_prompt_tokens": longest, "truncated_completions": truncated}
