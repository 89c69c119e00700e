"""GRPO with emotion rewards on canonical samples (Facial-R1; AffectGPT-R1 with its config).

    python recipes/grpo_facial_r1.py --config recipes/tiny/grpo.yaml            # CPU, minutes
    accelerate launch --config_file recipes/accelerate_configs/zero2.yaml \\
        recipes/grpo_facial_r1.py --config recipes/facial_r1/grpo.yaml [--key value ...]

Arguments: TRL's `GRPOConfig` and `ModelConfig`, plus `affectllm.train.args.ScriptArguments`
(``dataset_train``, ``dataset_eval``, ``data_root``, ``prompt``, ``rewards``, ``min_pixels`` /
``max_pixels``, ``video`` (frames | native), ``video_fps``, ``video_max_frames``,
``freeze_vision_tower``, ``merge_lora``, ``dry_run``). Rewards come from the
`rewards` registry by name; each entry's ``weight`` goes to ``reward_weights`` and the dataset
columns ``labels``, ``openset``, ``aus`` (and ``id``, ``source``, ``valence``) reach every reward,
aligned with its completions. TRL logs ``rewards/<name>/mean`` per reward and, with
``log_completions``, a table of completions.

Generation: transformers by default; ``use_vllm: true`` with ``vllm_mode: colocate`` or ``server``
(``trl vllm-serve --model ...``) needs ``pip install 'affectllm[vllm]'``. Prompts are never
truncated (TRL 1.x has no max_prompt_length); completions stop at ``max_completion_length``.

Output (``output_dir``): the final model (LoRA merged when ``merge_lora``), processor,
resolved_config.yaml, README.md model card, trainer_state.json and metrics files.
Exit status: 0 done, 2 bad input (message on stderr), 1 failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trl import GRPOConfig  # noqa: E402

from affectllm.train import checks, data, modeling, outputs  # noqa: E402
from affectllm.train.args import parse_args  # noqa: E402
from affectllm.train.entry import exits_on_input_error, quiet_defaults  # noqa: E402
from affectllm.train.trainers import GRPOTrainer  # noqa: E402  (TRL's, resume-safe)
from affectllm.train.video import video_grpo_trainer_class  # noqa: E402


@exits_on_input_error
def main(argv: list[str] | None = None) -> None:
    quiet_defaults()
    script_args, training_args, model_args = parse_args(GRPOConfig, argv)

    # 1. Early checks: everything that can be wrong with the input, before any weights are loaded.
    model_type = checks.check_model(model_args, training_args)
    checks.check_quantization(model_args)
    checks.check_vllm(training_args, model_args)
    checks.check_deepspeed(training_args)
    checks.check_report_to(training_args)
    suite = checks.build_reward_suite(script_args.rewards, training_args.reward_weights,
                                      config_file=script_args.config_file,
                                      reward_packages=script_args.reward_packages)
    training_args.reward_weights = suite.weights
    train_rows, eval_rows, root = data.train_eval_rows(script_args, data.grpo_rows)
    checks.check_video(script_args, model_type, training_args, train_rows + (eval_rows or []))
    checks.check_reward_data(suite, train_rows, script_args.dataset_train)
    checks.check_eval_batch(training_args, eval_rows is not None)
    resume = checks.resume_checkpoint(training_args)
    training_args.model_init_kwargs = modeling.model_init_kwargs(model_args, training_args)
    rewards = outputs.reward_rows(script_args.rewards, suite)
    if script_args.dry_run:
        print(outputs.dry_run_report(script_args, training_args, model_args, {
            "model": f"{model_args.model_name_or_path} ({model_type})",
            "train_samples": len(train_rows), "eval_samples": len(eval_rows or []),
            "rewards": ", ".join(f"{r['name']} x{r['weight']:g}" for r in rewards),
            "resume_from": resume}))
        return

    # 2. Processor (with the pixel budget) and datasets (images opened lazily, resized to budget).
    processor = modeling.processor_for(model_args, script_args, training_args)
    video = modeling.video_sampling(script_args, processor)
    loader = data.image_loader(processor, modeling.pixel_budget(script_args), video)
    train_dataset = data.to_dataset(train_rows, loader)
    eval_dataset = data.to_dataset(eval_rows, loader) if eval_rows is not None else None

    # 3. Trainer: TRL loads the model (model_init_kwargs), adds LoRA / 4-bit when asked. Native
    #    video rows need affectllm's GRPOTrainer subclass (TRL's passes images only).
    trainer_class = GRPOTrainer
    if video.mode == "native" and data.has_videos(train_rows + (eval_rows or [])):
        trainer_class = video_grpo_trainer_class()
    trainer = trainer_class(
        model=model_args.model_name_or_path,
        reward_funcs=suite.funcs,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        peft_config=modeling.peft_config(model_args),
        quantization_config=modeling.quantization_config(model_args),
    )
    modeling.freeze_for_full_finetuning(trainer.model, script_args)

    # 4. Write resolved_config.yaml; train (resuming continues with the same data order and step
    #    count); save the model (or adapter + merged model) and the processor; evaluate (optional:
    #    mean rewards of generated completions on dataset_eval); write the model card.
    outputs.train_and_write_outputs(
        trainer, processor, resume=resume, method="GRPO", script="recipes/grpo_facial_r1.py",
        script_args=script_args, training_args=training_args, model_args=model_args,
        train_rows=train_rows, eval_rows=eval_rows, data_root=root, rewards=rewards)


if __name__ == "__main__":
    main()
