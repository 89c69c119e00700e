"""Shared glue of the training recipes (`recipes/sft.py`, `recipes/grpo_facial_r1.py`, ...).

The recipes build on TRL (``TrlParser``, ``ModelConfig``, ``SFTTrainer``, ``GRPOTrainer``); this
package only adds what is specific to affectllm, one small module each:

============  ========================================================================================
module        what it does
============  ========================================================================================
`args`        `ScriptArguments` (data, prompt, rewards, pixel budget, freezing, merging, dry run) and
              `parse_args`: ``--config YAML`` plus ``--key value`` overrides through ``TrlParser``
`checks`      early checks, all before any weights are loaded: model family, rewards and the data
              columns they need, vLLM / DeepSpeed / bitsandbytes availability, resume target
`data`        canonical JSONL -> TRL's conversational vision format: prompt-completion rows for SFT,
              prompt rows with ``images`` (``videos``) and the reward columns for GRPO; lazy
              image loading and video sampling
`modeling`    model init kwargs, LoRA / 4-bit configs (TRL's helpers, LoRA kept off the ViT), the
              processor with the pixel budget, freezing
`outputs`     resolved config YAML, final save (model or adapter + merged model, processor), model card
`video`       native video input (``video: native``): the SFT collator and the GRPOTrainer
              subclass that pass the family's video tensors (frames mode needs neither)
`entry`       ``main`` wrapper: `InputError` -> message on stderr and exit status 2
`testing`     toy data with per-sample questions, a recording reward and a trivial one (tests and
              benchmarks; referenced from configs by import path)
============  ========================================================================================

Nothing here imports torch, transformers or TRL at module import time except where a function
needs them, so ``--help`` and the early checks stay fast.
"""
