"""TRL's `SFTTrainer` and `GRPOTrainer`, with checkpoint weights read back the way they were written.

Why this module exists: transformers 5 models carry a *weight conversion* between the layout of
published checkpoints and the layout of their modules (Qwen2-VL/2.5-VL/3-VL: ``visual.*`` ->
``model.visual.*``, ``model.layers.*`` -> ``model.language_model.layers.*``; LLaVA and
LLaVA-OneVision: ``language_model.model.*`` -> ``model.language_model.*``, ...). `save_pretrained`
reverts it (``save_original_format=True``), so every ``checkpoint-N/model.safetensors`` is in the
published layout; but `Trainer._load_from_checkpoint` and `Trainer._load_best_model` read that file
with a bare ``model.load_state_dict(state_dict, strict=False)``, which does not apply the
conversion. The result is a resumed run that warns about "missing keys" (every weight) and trains
on from the *base* weights with the checkpoint's step count and optimiser state
(huggingface/transformers#43701, #48805; fixes proposed upstream in #48822 / #49022).

The fix here is at the reading side, for every family at once: full-model checkpoint weights are
loaded with `from_pretrained` of the model's own class (which applies the conversion, shards and
all) and copied in with a *strict* ``load_state_dict``, so a mismatch is an error, never a
warning. Everything else (LoRA adapters, DeepSpeed and FSDP checkpoints, optimiser, scheduler,
RNG and data order) stays with transformers: those paths store the modules' own keys and were
never affected.
"""

from __future__ import annotations

import os
from typing import Any

import trl

#: The weight files `save_pretrained` writes for a full model (single file or sharded).
FULL_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                     "pytorch_model.bin", "pytorch_model.bin.index.json")


def has_full_weights(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds the weights of a whole model (not only a LoRA adapter)."""
    return any(os.path.isfile(os.path.join(folder, name)) for name in FULL_WEIGHT_FILES)


def load_checkpoint_weights(model: Any, folder: str | os.PathLike) -> None:
    """Copy the weights saved in `folder` into `model`, reading them as `from_pretrained` does.

    Raises RuntimeError naming the folder and the first mismatching keys if the checkpoint does
    not hold exactly the model's parameters and buffers."""
    import torch

    loaded = type(model).from_pretrained(folder, dtype=model.dtype)
    try:
        with torch.no_grad():
            model.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError as error:
        raise RuntimeError(f"checkpoint {folder} does not match the model being trained: "
                           f"{str(error)[:2000]}") from error
    finally:
        del loaded


class CheckpointWeightsMixin:
    """Reads full-model checkpoint weights through `load_checkpoint_weights` (see the module
    docstring); every other kind of checkpoint goes to the trainer's own code."""

    def _reads_full_weights(self, folder: str | os.PathLike, model: Any) -> bool:
        from peft import PeftModel

        return (not self.is_deepspeed_enabled and not self.is_fsdp_enabled
                and not isinstance(model, PeftModel) and has_full_weights(folder))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        model = self.model if model is None else model
        if self._reads_full_weights(resume_from_checkpoint, model):
            load_checkpoint_weights(model, resume_from_checkpoint)
        else:
            super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _load_best_model(self) -> None:
        best = self.state.best_model_checkpoint
        if self._reads_full_weights(best, self.model):
            load_checkpoint_weights(self.model, best)
        else:
            super()._load_best_model()


class SFTTrainer(CheckpointWeightsMixin, trl.SFTTrainer):
    """`trl.SFTTrainer`; resumed full-model checkpoints keep their trained weights."""


class GRPOTrainer(CheckpointWeightsMixin, trl.GRPOTrainer):
    """`trl.GRPOTrainer`; resumed full-model checkpoints keep their trained weights."""
