"""Video samples in training: SFT and GRPO on toy clips (neutral -> expression) in frames mode
(Qwen2.5-VL, LLaVA) and native mode (Qwen2.5-VL; GRPO also LLaVA-OneVision), the weights change,
one sample's video tokens are the same in the training batch and in HF generation, and a synthesis
round runs on video samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from affectllm.data.schema import load_samples
from affectllm.launch import RECIPES_DIR
from affectllm.train.testing import load_recipe

SFT = RECIPES_DIR / "tiny" / "sft_video.yaml"
GRPO = RECIPES_DIR / "tiny" / "grpo_video.yaml"
LENGTH = "affectllm.train.testing.length_reward"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    from affectllm.data.toyfaces import generate_toyfaces

    return generate_toyfaces(tmp_path_factory.mktemp("clips"), 8, seed=3, size=64,
                             video_frames=4)["train"]


def language_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(path / "model.safetensors")).items()
            if "visual" not in k and "vision" not in k}


def assert_trained(base: Path, out: Path) -> None:
    before, after = language_weights(base), language_weights(out)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no language-model weight changed"
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2


def test_toy_clips_are_videos_moving_to_the_expression(clips):
    from affectllm.video import VideoSampling

    sample = load_samples(clips)[0]
    assert sample["media"][0]["type"] == "video" and sample["media"][0]["path"].endswith(".mp4")
    clip = VideoSampling(fps=4.0, max_frames=4).sample(str(clips.parent / sample["media"][0]["path"]))
    assert len(clip.frames) == 4 and clip.fps == pytest.approx(4.0)
    first, last = (torch.from_numpy(np.asarray(f, dtype=np.float32)) for f in
                   (clip.frames[0], clip.frames[-1]))
    assert (first - last).abs().mean() > 1.0  # the face moves


def test_video_sampling_frame_counts():
    from affectllm.errors import InputError
    from affectllm.video import VideoSampling

    assert VideoSampling(fps=2.0, max_frames=8).frame_count(1.5) == 3
    assert VideoSampling(fps=2.0, max_frames=8).frame_count(30.0) == 8
    assert VideoSampling(fps=2.0, max_frames=8, frame_multiple=2).frame_count(1.5) == 2
    assert VideoSampling(fps=0.5, max_frames=8, frame_multiple=2).frame_count(0.2) == 2
    for bad in ({"mode": "audio"}, {"fps": 0}, {"max_frames": 0}):
        with pytest.raises(InputError):
            VideoSampling(**bad)


@pytest.mark.parametrize("arch, mode", [("qwen2_5_vl", "frames"), ("qwen2_5_vl", "native"),
                                        ("llava", "frames")])
def test_sft_trains_on_video(tiny_model, clips, tmp_path, arch, mode):
    """The real script (a subprocess) for native Qwen2.5-VL, the recipe in-process otherwise."""
    base, out = tiny_model(arch), tmp_path / "sft"
    argv = ["--config", str(SFT), "--model_name_or_path", str(base), "--dataset_train",
            str(clips), "--output_dir", str(out), "--video", mode]
    if mode == "native":
        result = subprocess.run([sys.executable, str(RECIPES_DIR / "sft.py"), *argv],
                                capture_output=True, text=True, timeout=600,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert result.returncode == 0, result.stderr[-3000:]
    else:
        load_recipe("sft").main(argv)
    assert_trained(base, out)
    task = json.loads((out / "affectllm_task.json").read_text())
    assert task["video"]["mode"] == mode and task["video"]["max_frames"] == 4


#: Native Qwen2.5-VL also scores reference and old log-probabilities (beta > 0, a generation
#: batch used twice), the forward passes outside the loss.
REUSE = ["--beta", "0.04", "--num_iterations", "2", "--steps_per_generation", "2"]


@pytest.mark.parametrize("arch, mode, extra", [
    ("qwen2_5_vl", "frames", []), ("qwen2_5_vl", "native", REUSE), ("llava", "frames", []),
    ("llava_onevision", "native", [])])
def test_grpo_trains_on_video(tiny_model, clips, tmp_path, arch, mode, extra):
    base, out = tiny_model(arch), tmp_path / "grpo"
    load_recipe("grpo_facial_r1").main([
        "--config", str(GRPO), "--model_name_or_path", str(base), "--dataset_train", str(clips),
        "--output_dir", str(out), "--video", mode, "--rewards", LENGTH, "format", *extra])
    assert_trained(base, out)
    logged = {k for entry in json.loads((out / "trainer_state.json").read_text())["log_history"]
              for k in entry}
    assert "rewards/length/mean" in logged


def test_native_video_refused_for_a_family_without_video_input(tiny_model, clips, tmp_path,
                                                               capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_recipe("sft").main(["--config", str(SFT), "--model_name_or_path",
                                 str(tiny_model("llava")), "--dataset_train", str(clips),
                                 "--output_dir", str(tmp_path / "x"), "--video", "native"])
    assert exit_info.value.code == 2
    assert "video: native needs a family with video input" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["native", "frames"])
def test_video_tokens_of_training_and_generation_agree(tiny_model, clips, mode):
    """One sample: the SFT batch (TRL's collator in frames mode, affectllm's in native mode) and
    the HF generation backend build the same prompt tokens and the same pixel tensors."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from affectllm.generation import HFBackend, processor_inputs
    from affectllm.models import PixelBudget, load_processor
    from affectllm.prompts import sample_messages
    from affectllm.train.data import image_loader, sft_rows, to_dataset
    from affectllm.train.video import VideoCollator
    from affectllm.video import sampling_for

    path = str(tiny_model("qwen2_5_vl"))
    budget = PixelBudget(784, 3136, 784, 3136)
    processor = load_processor(path, budget)
    video = sampling_for(processor, mode, fps=4.0, max_frames=4)
    sample = load_samples(clips)[0]
    prompt = "What emotion is shown?"
    row = to_dataset(sft_rows([sample], clips.parent, prompt), image_loader(processor, budget,
                                                                             video))[0]
    if mode == "native":
        batch = VideoCollator(processor)([row])
    else:
        batch = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)([row])
    n_prompt = int((batch["labels"][0] == -100).sum())

    backend = HFBackend(path, pixels=budget, video=video, batch_size=1)
    inputs = processor_inputs(backend.processor, [sample_messages(sample, clips.parent, prompt)],
                              backend.video)
    generated = backend.processor(**inputs)
    assert torch.equal(batch["input_ids"][0, :n_prompt], generated["input_ids"][0])
    pad = processor.tokenizer.convert_tokens_to_ids(
        "<|video_pad|>" if mode == "native" else "<|image_pad|>")
    assert int((generated["input_ids"] == pad).sum()) > 0
    if mode == "native":
        for key in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts"):
            assert torch.allclose(torch.as_tensor(batch[key]), torch.as_tensor(generated[key]))
        assert batch["second_per_grid_ts"].tolist() == [pytest.approx(0.5)]  # 2 frames / 4 fps
    else:  # 4 frames, each one image of the same grid; pixels differ only by the resampling
        assert torch.equal(batch["image_grid_thw"], generated["image_grid_thw"])
        assert len(batch["image_grid_thw"]) == 4
        diff = (batch["pixel_values"] - generated["pixel_values"]).abs().mean()
        assert diff < 1e-3


def test_synth_runs_a_round_on_video_samples(tiny_model, clips, tmp_path, cli):
    """`affectllm synth` on toy clips with native video sampling: candidates are generated from
    the clips, the accepted samples keep their video, and the corpus's media are copied."""
    import yaml

    config = tmp_path / "synth.yaml"
    config.write_text(yaml.safe_dump({
        "data": str(clips), "model": str(tiny_model("qwen2_5_vl")), "backend": "hf",
        "backend_options": {"batch_size": 4}, "cpu_threads": 1, "seed": 0,
        "pixels": {"min_pixels": 784, "max_pixels": 3136},
        "video": {"mode": "native", "fps": 4.0, "max_frames": 4},
        "hint": "Answer: {answer}.", "rewards": ["format", {"name": "soft_overlong",
                                                            "max_len": 60, "cache": 20}],
        "accept": {"soft_overlong": ">= 0"}, "n": 2, "max_retries": 0,
        "sampling": {"temperature": 1.0, "max_new_tokens": 12}, "limit": 4}))
    out = tmp_path / "out"
    result = cli("synth", "--config", str(config), "--out", str(out), "--rounds", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    round_1 = json.loads((out / "manifest.json").read_text())["rounds"]["1"]
    assert round_1["status"] == "done" and round_1["items"] == 4, round_1
    assert round_1["generation_failed"] == 0 and round_1["accepted"] > 0, round_1
    corpus = [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]
    assert len(corpus) == round_1["accepted"]
    for sample in corpus:
        assert sample["media"][0]["type"] == "video"
        assert (out / sample["media"][0]["path"]).is_file()


@pytest.mark.parametrize("mode", ["frames", "native"])
def test_sft_length_check_counts_video_tokens(tiny_model, clips, mode):
    """max_length is checked against the prompt as the collator builds it, video tokens included."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from affectllm.errors import InputError
    from affectllm.models import PixelBudget, load_processor
    from affectllm.train.data import check_sft_lengths, image_loader, sft_rows, to_dataset
    from affectllm.train.video import VideoCollator
    from affectllm.video import sampling_for

    budget = PixelBudget(784, 3136, 784, 3136)
    processor = load_processor(str(tiny_model("qwen2_5_vl")), budget)
    loader = image_loader(processor, budget, sampling_for(processor, mode, 4.0, 4))
    rows = sft_rows(load_samples(clips)[:2], clips.parent, "What emotion is shown?")
    row = to_dataset(rows[:1], loader)[0]
    collate = VideoCollator(processor) if mode == "native" else \
        DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    n_prompt = int((collate([row])["labels"][0] == -100).sum())
    assert check_sft_lengths(rows, processor, loader, 4096)["max_prompt_tokens"] == n_prompt
    with pytest.raises(InputError, match="video tokens"):
        check_sft_lengths(rows, processor, loader, n_prompt)
