"""Native video input (``video: native``) in the recipes, on TRL's extension points.

Frames mode needs nothing here: `affectllm.train.data` turns a video into image frames and TRL's
own collator and GRPO rollouts take them as images. Native mode passes the family's video tensors
(Qwen-VL: ``pixel_values_videos``, ``video_grid_thw`` (, ``second_per_grid_ts``); LLaVA-OneVision:
``pixel_values_videos``), built by one processor call per batch with the sampled clips
(`affectllm.video.processor_video_kwargs`), exactly as `affectllm.generation` builds them:

- SFT: `VideoCollator`, passed to ``SFTTrainer(data_collator=...)`` (TRL's documented seam for
  custom VLM batches, with ``remove_unused_columns: false`` so the ``videos`` column reaches it).
  Prompt-completion, loss on the completion only, like TRL's vision collator.
- GRPO: `VideoGRPOTrainer`. TRL 1.x's `GRPOTrainer` reads images only: its rollouts take image
  parts and its forward passes (`_get_per_token_logps_and_entropies`, called for the loss, the old
  and the reference log-probabilities) get image tensors only. The subclass changes three methods
  and nothing else: `_generate_and_score_completions` puts each row's clips into its prompt as
  video parts and computes the row's video tensors; `_tokenize_prompts` tokenises prompts holding
  video parts with the processor (rollout inputs with the video tensors); and
  `_get_per_token_logps_and_entropies` hands the video tensors of the rows it scores to the model
  (the rows' tensors travel with the batch as the list column ``video_inputs``, so TRL's shuffling
  and splitting of a generation batch keep them aligned).
"""

from __future__ import annotations

import functools
from typing import Any

from affectllm.generation import clips_of, render_prompt
from affectllm.video import Clip, processor_video_kwargs

#: Processor outputs that are per token (rebuilt from the ids) or the ids themselves.
_TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


def media_prompt(prompt: list[dict], images: list, clips: list[Clip]) -> list[dict]:
    """`prompt` (text-only user turn, as `affectllm.train.data` stores it) with the images and
    video clips put before the text of the first user turn, as `affectllm.prompts.sample_messages`
    orders them."""
    out, done = [], False
    for message in prompt:
        if message["role"] == "user" and not done and isinstance(message["content"], str):
            parts = [{"type": "image", "image": im} for im in images]
            parts += [{"type": "video", "video": c} for c in clips]
            message = {**message, "content": [*parts, {"type": "text", "text": message["content"]}]}
            done = True
        out.append(message)
    return out


def processor_batch(processor: Any, conversations: list[list[dict]], **kwargs: Any) -> Any:
    """One processor call over rendered prompts with their images and native clips."""
    texts, images, clips = [], [], []
    for messages in conversations:
        texts.append(render_prompt(processor, messages))
        images += [p["image"] for m in messages if not isinstance(m["content"], str)
                   for p in m["content"] if p["type"] == "image"]
        clips += clips_of(messages)
    call: dict[str, Any] = {"text": texts, "return_tensors": "pt", **kwargs}
    if images:
        call["images"] = images
    call.update(processor_video_kwargs(clips))
    return processor(**call)


def placeholder_ids(processor: Any) -> set[int]:
    """Token ids of the processor's image and video placeholders."""
    tok = processor.tokenizer
    return {tok.convert_tokens_to_ids(t) for t in (getattr(processor, "image_token", None),
                                                   getattr(processor, "video_token", None)) if t}


def mm_token_type_ids(processor: Any, input_ids: Any) -> Any:
    """1 on image placeholder tokens, 2 on video placeholder tokens, 0 elsewhere (Qwen-VL)."""
    import torch

    out = torch.zeros_like(input_ids)
    tok = processor.tokenizer
    for kind, value in (("image_token", 1), ("video_token", 2)):
        token = getattr(processor, kind, None)
        if token:
            out[input_ids == tok.convert_tokens_to_ids(token)] = value
    return out


class VideoCollator:
    """Prompt-completion batches with native video: prompt tokens (with image and video
    placeholders expanded by the processor) left-padded, completion tokens right-padded, labels
    on the completion only; the processor's image/video tensors alongside."""

    def __init__(self, processor: Any):
        self.processor = processor

    def __call__(self, examples: list[dict]) -> dict[str, Any]:
        import torch
        from trl.data_utils import apply_chat_template

        from affectllm.generation import _strip_media

        conversations, completions = [], []
        for ex in examples:
            messages = media_prompt(ex["prompt"], ex.get("images") or [], ex.get("videos") or [])
            conversations.append(messages)
            completions.append(apply_chat_template(
                {"prompt": _strip_media(messages), "completion": ex["completion"]},
                self.processor)["completion"])
        prompt = processor_batch(self.processor, conversations, padding=True,
                                 padding_side="left", add_special_tokens=False)
        completion = self.processor.tokenizer(completions, padding=True, padding_side="right",
                                              add_special_tokens=False, return_tensors="pt")
        input_ids = torch.cat([prompt["input_ids"], completion["input_ids"]], dim=1)
        attention_mask = torch.cat([prompt["attention_mask"], completion["attention_mask"]], dim=1)
        labels = input_ids.clone()
        labels[:, :prompt["input_ids"].shape[1]] = -100
        labels[attention_mask == 0] = -100
        batch = {k: v for k, v in prompt.items() if k not in _TOKEN_KEYS}
        if "mm_token_type_ids" in prompt:
            batch["mm_token_type_ids"] = mm_token_type_ids(self.processor, input_ids)
        batch.update(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        return batch


def video_grpo_trainer_class():
    """`VideoGRPOTrainer`, defined on first use so that importing this module does not import TRL.
    It builds on affectllm's resume-safe `GRPOTrainer` (`affectllm.train.trainers`)."""
    from affectllm.train.trainers import GRPOTrainer

    class VideoGRPOTrainer(GRPOTrainer):
        """GRPOTrainer whose rows may carry native video clips (a ``videos`` column of `Clip`
        lists); see the module docstring for why and where it differs from TRL's."""

        _video_rows: list[dict] | None = None

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            # A completion holding an image/video placeholder token would not match the video
            # features of the forward pass: rollouts never generate them.
            placeholders = placeholder_ids(self.processing_class)
            config = getattr(self, "generation_config", None)
            if config is not None and placeholders:
                config.suppress_tokens = sorted(set(config.suppress_tokens or []) | placeholders)

        def _generate_and_score_completions(self, inputs):
            if not any(x.get("videos") for x in inputs):
                self._video_rows = None
                return super()._generate_and_score_completions(inputs)
            inputs = [{**x, "prompt": media_prompt(x["prompt"], [], x.get("videos") or [])}
                      for x in inputs]
            for x in inputs:  # TRL fills image placeholders from the ``images`` column
                if x.get("images"):
                    user = next(m for m in x["prompt"] if m["role"] == "user")
                    user["content"][:0] = [{"type": "image"} for _ in x["images"]]
            self._video_rows = [self._video_tensors(x) for x in inputs]
            output = super()._generate_and_score_completions(inputs)
            output["video_inputs"] = self._video_rows
            self._video_rows = None
            return output

        def _video_tensors(self, row: dict) -> dict:
            """The processor's video tensors of one row, computed as the rollout computes them."""
            messages = media_prompt([{"role": "user", "content": ""}], [], row["videos"])
            out = processor_batch(self.processing_class, [messages])
            return {k: v for k, v in out.items() if k not in _TOKEN_KEYS}

        def _tokenize_prompts(self, prompts: list):
            if not any(clips_of(p) for p in prompts):
                return super()._tokenize_prompts(prompts)
            out = processor_batch(self.processing_class, prompts, padding=True,
                                  padding_side="left")
            mask = out["attention_mask"].bool()
            prompt_ids = [ids[m].tolist() for ids, m in zip(out["input_ids"], mask)]
            fields = {k: v for k, v in out.items() if k not in _TOKEN_KEYS}
            if "mm_token_type_ids" in out:
                fields["mm_token_type_ids"] = [t[m].tolist() for t, m in
                                               zip(out["mm_token_type_ids"], mask)]
            images = [[p["image"] for m in prompt if not isinstance(m["content"], str)
                       for p in m["content"] if p["type"] == "image"] or None
                      for prompt in prompts]
            return prompt_ids, images if any(images) else None, fields

        def compute_loss(self, model, inputs, *args, **kwargs):
            # A copy without the column: a buffered batch is scored again (num_iterations > 1).
            self._video_rows = inputs.get("video_inputs")
            inputs = {k: v for k, v in inputs.items() if k != "video_inputs"}
            try:
                return super().compute_loss(model, inputs, *args, **kwargs)
            finally:
                self._video_rows = None

        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask,
                                               logits_to_keep, batch_size=None,
                                               compute_entropy=False, compute_aux_loss=False,
                                               **kwargs):
            import torch

            rows = self._video_rows
            if rows is None:
                return super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size,
                    compute_entropy, compute_aux_loss, **kwargs)
            base = super()._get_per_token_logps_and_entropies
            size = batch_size or input_ids.size(0)
            logps, entropies, aux = [], [], []
            for start in range(0, input_ids.size(0), size):
                end = min(start + size, input_ids.size(0))
                video = {k: torch.cat([r[k] for r in rows[start:end]]).to(input_ids.device)
                         for k in rows[start]}
                ids = input_ids[start:end]
                if "mm_token_type_ids" in self.processing_class.model_input_names:
                    kwargs["mm_token_type_ids"] = mm_token_type_ids(self.processing_class, ids)
                lp, ent, ax = base(functools.partial(model, **video), ids,
                                   attention_mask[start:end], logits_to_keep, end - start,
                                   compute_entropy, compute_aux_loss, **kwargs)
                logps.append(lp)
                entropies.append(ent)
                aux.append(ax)
            return (torch.cat(logps), torch.cat(entropies) if compute_entropy else None,
                    torch.stack(aux).mean() if compute_aux_loss else None)

    return VideoGRPOTrainer
