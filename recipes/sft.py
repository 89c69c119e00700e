"""Instruction SFT on canonical samples: prompt-completion, loss on the completion only.

    python recipes/sft.py --config recipes/tiny/sft.yaml                       # CPU, seconds
    accelerate launch --config_file recipes/accelerate_configs/zero3.yaml \\
        recipes/sft.py --config recipes/facial_r1/sft.yaml [--key value ...]

Each sample becomes ``prompt`` (system?, user: images/video + task prompt) and ``completion``
(``<think>reasoning</think><answer>answer</answer>``, `affectllm.prompts.target_text`); TRL's vision
collator masks the prompt, so image and prompt tokens are never trained on. Videos: ``video:
frames`` (the sampled frames as images, TRL's collator) or ``video: native`` (the family's video
input, `affectllm.train.video.VideoCollator`), with ``video_fps`` / ``video_max_frames`` and the
video pixel budget.

max_length: ``null`` (the default in affectllm's configs) never truncates. When set, TRL keeps the
first max_length tokens of prompt + completion; this recipe measures every prompt (text and image
tokens) first and refuses the data if any prompt does not fit, so only completion text can be cut
(the number of cut completions is reported).

Arguments: TRL's `SFTConfig` and `ModelConfig`, plus `affectllm.train.args.ScriptArguments`.
Output (``output_dir``): the final model (LoRA merged when ``merge_lora``), processor,
resolved_config.yaml, README.md model card, trainer_state.json and metrics files.
Exit status: 0 done, 2 bad input (message on stderr), 1 failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trl import SFTConfig  # noqa: E402

from affectllm.errors import InputError  # noqa: E402
from affectllm.train import checks, data, modeling, outputs  # noqa: E402
from affectllm.train.args import parse_args  # noqa: E402
from affectllm.train.entry import exits_on_input_error, quiet_defaults  # noqa: E402
from affectllm.train.trainers import SFTTrainer  # noqa: E402  (TRL's, resume-safe)
from affectllm.train.video import VideoCollator  # noqa: E402


@exits_on_input_error
def main(argv: list[str] | None = None) -> None:
    quiet_defaults()
    script_args, training_args, model_args = parse_args(SFTConfig, argv)

    # 1. Early checks: everything that can be wrong with the input, before any weights are loaded.
    model_type = checks.check_model(model_args, training_args)
    checks.check_quantization(model_args)
    checks.check_deepspeed(training_args)
    checks.check_report_to(training_args)
    checks.check_video(script_args, model_type)
    if script_args.rewards:
        raise InputError("rewards are a GRPO option; remove them from the SFT config")
    if training_args.completion_only_loss is False or training_args.assistant_only_loss:
        raise InputError("the SFT recipe trains on the completion only: leave "
                         "completion_only_loss unset (or true) and assistant_only_loss false")
    train_rows, eval_rows, root = data.train_eval_rows(script_args, data.sft_rows)
    resume = checks.resume_checkpoint(training_args)
    training_args.model_init_kwargs = modeling.model_init_kwargs(model_args, training_args)
    if script_args.dry_run:
        print(outputs.dry_run_report(script_args, training_args, model_args, {
            "model": f"{model_args.model_name_or_path} ({model_type})",
            "train_samples": len(train_rows), "eval_samples": len(eval_rows or []),
            "resume_from": resume}))
        return

    # 2. Processor (with the pixel budget), prompt lengths against max_length, datasets.
    processor = modeling.processor_for(model_args, script_args, training_args)
    video = modeling.video_sampling(script_args, processor)
    loader = data.image_loader(processor, modeling.pixel_budget(script_args), video)
    lengths = data.check_sft_lengths(train_rows + (eval_rows or []), processor, loader,
                                     training_args.max_length)
    if lengths.get("truncated_completions"):
        print(f"max_length={training_args.max_length} cuts the completion of "
              f"{lengths['truncated_completions']} sample(s)", file=sys.stderr)
    train_dataset = data.to_dataset(train_rows, loader)
    eval_dataset = data.to_dataset(eval_rows, loader) if eval_rows is not None else None

    # 3. Trainer: TRL loads the model (model_init_kwargs), adds LoRA / 4-bit when asked. Native
    #    video batches come from affectllm's collator (TRL's vision collator takes images only).
    collator = None
    if video.mode == "native" and data.has_videos(train_rows + (eval_rows or [])):
        collator = VideoCollator(processor)
        training_args.remove_unused_columns = False  # the `videos` column must reach it
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        data_collator=collator,
        peft_config=modeling.peft_config(model_args),
        quantization_config=modeling.quantization_config(model_args),
    )
    modeling.freeze_for_full_finetuning(trainer.model, script_args)

    # 4. Write resolved_config.yaml; train (resuming continues with the same data order and step
    #    count); save the model (or adapter + merged model) and the processor; evaluate (optional:
    #    loss on dataset_eval); write the model card.
    outputs.train_and_write_outputs(
        trainer, processor, resume=resume, method="SFT", script="recipes/sft.py",
        script_args=script_args, training_args=training_args, model_args=model_args,
        train_rows=train_rows, eval_rows=eval_rows, data_root=root, rewards=None)


if __name__ == "__main__":
    main()
