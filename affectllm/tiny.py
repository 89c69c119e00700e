"""Tiny random-weight models of the real architectures, built locally in seconds.

No model hub is reachable in CI or on an air-gapped cluster, yet every code path (processors, chat
templates, image tokens, TRL trainers, generation) must run against the real model classes. This
module builds, for each supported family, a model with the family's real config class, modelling
code and processor class, scaled down: a byte-level BPE tokenizer trained here with `tokenizers`
(the family's special tokens at fixed ids 0..k), the family's chat template, a 2-4 layer language
model and a 2 layer vision tower. Everything is saved with `save_pretrained` and reloads with
`AutoProcessor` / `AutoModelForImageTextToText`.

Sizes: ``tiny`` (hidden 64, for tests) and ``small`` (hidden 128, 4 layers: big enough to learn the
toy-faces task on a CPU in minutes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from affectllm.errors import InputError
from rewards.aus import AU_NAMES
from rewards.labels import FACIAL_LABELS

ARCHS = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava", "llava_onevision")
SIZES = ("tiny", "small")

#: Longest image side the tiny models are built for; the processors resize larger images down.
IMAGE_SIZE = 112


@dataclass(frozen=True)
class SizePreset:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vocab: int


PRESETS = {
    "tiny": SizePreset(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128,
                       vision_hidden=32, vision_layers=2, vision_heads=2, vocab=2048),
    "small": SizePreset(hidden=128, layers=4, heads=4, kv_heads=2, intermediate=384,
                        vision_hidden=64, vision_layers=2, vision_heads=4, vocab=3072),
}

# --------------------------------------------------------------------------------------------------
# Chat templates: the families' prompt formats, written for these tiny models. Message content may
# be a string or a list of {"type": "image"|"video"|"text"} parts, as in transformers' chat API.

_CONTENT = (
    "{%- macro render(content, image, video) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- else -%}{%- for part in content -%}"
    "{%- if part['type'] == 'image' -%}{{ image }}"
    "{%- elif part['type'] == 'video' -%}{{ video }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
)

_IM_START_TEMPLATE = _CONTENT + (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}{{ render(message['content'], IMAGE, VIDEO) }}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

_LLAVA_TEMPLATE = _CONTENT + (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ render(message['content'], '', '') + '\\n' }}"
    "{%- elif message['role'] == 'user' -%}"
    "{{ 'USER: ' }}{{ render(message['content'], '<image>\\n', '') }}"
    "{%- else -%}{{ ' ASSISTANT: ' }}{{ render(message['content'], '', '') }}{{ '</s>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ ' ASSISTANT:' }}{%- endif -%}"
)


def _im_start_template(image: str, video: str) -> str:
    return _IM_START_TEMPLATE.replace("IMAGE", repr(image)).replace("VIDEO", repr(video))


QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
LLAVA_SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
ONEVISION_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
REASONING_TAGS = ["<think>", "</think>", "<answer>", "</answer>"]


# --------------------------------------------------------------------------------------------------
# Tokenizer


def tokenizer_corpus() -> list[str]:
    """Text the tiny tokenizers are trained on: the vocabulary of the emotion tasks (labels, AU
    names, Facial-R1 style reasoning, prompts), so typical completions are a few dozen tokens."""
    from rewards.labels import LABEL_ALIASES

    words = sorted(set(FACIAL_LABELS) | set(LABEL_ALIASES) | set(LABEL_ALIASES.values()))
    lines = [
        "Please infer the person's emotional state and provide your reasoning process.",
        "Analyse the facial Action Units first, then answer with one emotion label.",
        "Output the thinking process in <think> </think> and the final answer in "
        "<answer> </answer> tags.",
        "Your analysis must identify these Action Units: ... The final answer must be: ...",
        "What emotion does this face show? Choose one of: " + ", ".join(FACIAL_LABELS) + ".",
        "The previous answer was wrong: missing AUs, wrong label, bad format. Try again.",
    ]
    for code, name in AU_NAMES.items():
        lines.append(f"{code} ({name}): the {name} is visible. {code} is active. {code}, {name}.")
    for w in words:
        lines.append(f"<think>The face shows {w}.</think><answer>{w}</answer>")
        lines.append(f"The person looks {w}. The emotion is {w}. ['{w}', '{w}']")
    feats = ["inner brows are raised", "outer brows are raised", "brows are lowered and knit",
             "upper lids are raised", "cheeks are raised", "lids are tightened",
             "nose is wrinkled", "upper lip is raised", "lip corners are pulled up",
             "lip corners are pulled down", "chin is raised", "lips are stretched",
             "lips are pressed", "lips are parted", "jaw drops", "dimples show on one side"]
    lines += [f"<think>The {f} ({c}).</think>" for f, c in zip(feats, AU_NAMES)]
    return lines * 4


def train_tokenizer(special_tokens: list[str], vocab_size: int, bos: str | None, eos: str,
                    pad: str, unk: str | None = None):
    """A byte-level BPE tokenizer with `special_tokens` at ids 0..k-1, wrapped for transformers."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    # The reasoning tags are single tokens but not special: they survive skip_special_tokens.
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in REASONING_TAGS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=unk,
        extra_special_tokens=[t for t in special_tokens if t not in (bos, eos, pad, unk)],
        clean_up_tokenization_spaces=False, padding_side="left")


# --------------------------------------------------------------------------------------------------
# Families


def _qwen_text(p: SizePreset, vocab: int, tok, mrope: list[int], **extra) -> dict:
    return dict(vocab_size=vocab, hidden_size=p.hidden, intermediate_size=p.intermediate,
                num_hidden_layers=p.layers, num_attention_heads=p.heads,
                num_key_value_heads=p.kv_heads, max_position_embeddings=4096,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                 "mrope_section": mrope},
                bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
                eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                pad_token_id=tok.pad_token_id, **extra)


def _qwen_ids(tok) -> dict:
    ids = tok.convert_tokens_to_ids
    return dict(image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
                vision_start_token_id=ids("<|vision_start|>"),
                vision_end_token_id=ids("<|vision_end|>"))


def _qwen_image_processor(patch: int):
    from transformers import Qwen2VLImageProcessor

    return Qwen2VLImageProcessor(
        patch_size=patch, merge_size=2, temporal_patch_size=2,
        size={"shortest_edge": (patch * 2) ** 2, "longest_edge": IMAGE_SIZE * IMAGE_SIZE})


def _build_qwen(arch: str, p: SizePreset):
    import transformers as tf

    tok = train_tokenizer(QWEN_SPECIAL, p.vocab, bos=None, eos="<|im_end|>", pad="<|endoftext|>")
    vocab = len(tok)
    head_dim = p.hidden // p.heads
    if arch == "qwen2_vl":
        config = tf.Qwen2VLConfig(
            text_config=_qwen_text(p, vocab, tok, _mrope(head_dim, (1, 1.5, 1.5))),
            vision_config=dict(depth=p.vision_layers, embed_dim=p.vision_hidden,
                               hidden_size=p.hidden, num_heads=p.vision_heads, mlp_ratio=2,
                               patch_size=14),
            **_qwen_ids(tok))
        model_cls, proc_cls, patch = tf.Qwen2VLForConditionalGeneration, tf.Qwen2VLProcessor, 14
        video = tf.Qwen2VLVideoProcessor(patch_size=14, merge_size=2, temporal_patch_size=2)
    elif arch == "qwen2_5_vl":
        config = tf.Qwen2_5_VLConfig(
            text_config=_qwen_text(p, vocab, tok, _mrope(head_dim, (1, 1.5, 1.5))),
            vision_config=dict(depth=p.vision_layers, hidden_size=p.vision_hidden,
                               intermediate_size=2 * p.vision_hidden, num_heads=p.vision_heads,
                               out_hidden_size=p.hidden, patch_size=14, window_size=112,
                               fullatt_block_indexes=[p.vision_layers - 1]),
            **_qwen_ids(tok))
        model_cls, proc_cls, patch = (tf.Qwen2_5_VLForConditionalGeneration,
                                      tf.Qwen2_5_VLProcessor, 14)
        video = tf.Qwen2VLVideoProcessor(patch_size=14, merge_size=2, temporal_patch_size=2)
    else:  # qwen3_vl
        config = tf.Qwen3VLConfig(
            text_config=_qwen_text(p, vocab, tok, _mrope(head_dim, (2, 1, 1)), head_dim=head_dim),
            vision_config=dict(depth=p.vision_layers, hidden_size=p.vision_hidden,
                               intermediate_size=2 * p.vision_hidden, num_heads=p.vision_heads,
                               out_hidden_size=p.hidden, patch_size=16,
                               num_position_embeddings=64, deepstack_visual_indexes=[0]),
            **_qwen_ids(tok))
        model_cls, proc_cls, patch = tf.Qwen3VLForConditionalGeneration, tf.Qwen3VLProcessor, 16
        video = tf.Qwen3VLVideoProcessor(patch_size=16, merge_size=2, temporal_patch_size=2)
    processor = proc_cls(
        image_processor=_qwen_image_processor(patch), tokenizer=tok, video_processor=video,
        chat_template=_im_start_template("<|vision_start|><|image_pad|><|vision_end|>",
                                         "<|vision_start|><|video_pad|><|vision_end|>"))
    return model_cls(config), processor


def _mrope(head_dim: int, parts: tuple[float, float, float]) -> list[int]:
    """Split head_dim/2 rotary frequencies into temporal/height/width sections, in ratio `parts`."""
    half = head_dim // 2
    total = sum(parts)
    sections = [int(half * x / total) for x in parts]
    sections[0] += half - sum(sections)
    return sections


def _build_llava(p: SizePreset):
    import transformers as tf

    tok = train_tokenizer(LLAVA_SPECIAL, p.vocab, bos="<s>", eos="</s>", pad="<pad>", unk="<unk>")
    patch = 14
    config = tf.LlavaConfig(
        vision_config=tf.CLIPVisionConfig(
            image_size=IMAGE_SIZE, patch_size=patch, hidden_size=p.vision_hidden,
            intermediate_size=2 * p.vision_hidden, num_hidden_layers=p.vision_layers,
            num_attention_heads=p.vision_heads, projection_dim=p.vision_hidden),
        text_config=tf.LlamaConfig(
            vocab_size=len(tok), hidden_size=p.hidden, intermediate_size=p.intermediate,
            num_hidden_layers=p.layers, num_attention_heads=p.heads,
            num_key_value_heads=p.kv_heads, max_position_embeddings=4096,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=(IMAGE_SIZE // patch) ** 2,
        vision_feature_select_strategy="default", vision_feature_layer=-2)
    image_processor = tf.CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = tf.LlavaProcessor(
        image_processor=image_processor, tokenizer=tok, patch_size=patch,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=_LLAVA_TEMPLATE)
    return tf.LlavaForConditionalGeneration(config), processor


def _build_llava_onevision(p: SizePreset):
    import transformers as tf

    tok = train_tokenizer(ONEVISION_SPECIAL, p.vocab, bos=None, eos="<|im_end|>",
                          pad="<|endoftext|>")
    patch = 14
    config = tf.LlavaOnevisionConfig(
        vision_config=tf.SiglipVisionConfig(
            image_size=IMAGE_SIZE, patch_size=patch, hidden_size=p.vision_hidden,
            intermediate_size=2 * p.vision_hidden, num_hidden_layers=p.vision_layers,
            num_attention_heads=p.vision_heads),
        text_config=tf.Qwen2Config(
            vocab_size=len(tok), hidden_size=p.hidden, intermediate_size=p.intermediate,
            num_hidden_layers=p.layers, num_attention_heads=p.heads,
            num_key_value_heads=p.kv_heads, max_position_embeddings=4096,
            bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=[[IMAGE_SIZE, IMAGE_SIZE]], vision_aspect_ratio="anyres_max_1",
        vision_feature_select_strategy="full", vision_feature_layer=-1)
    image_processor = tf.LlavaOnevisionImageProcessor(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_grid_pinpoints=[[IMAGE_SIZE, IMAGE_SIZE]])
    video_processor = tf.LlavaOnevisionVideoProcessor(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = tf.LlavaOnevisionProcessor(
        image_processor=image_processor, tokenizer=tok, video_processor=video_processor,
        num_image_tokens=(IMAGE_SIZE // patch) ** 2, vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_1",
        chat_template=_im_start_template("<image>\n", "<video>\n"))
    return tf.LlavaOnevisionForConditionalGeneration(config), processor


def build_tiny_model(arch: str, size: str = "tiny", seed: int = 0):
    """Build (model, processor) for `arch` with random weights (deterministic for `seed`)."""
    import torch

    if arch not in ARCHS:
        raise InputError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if size not in PRESETS:
        raise InputError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    torch.manual_seed(seed)
    preset = PRESETS[size]
    if arch == "llava":
        model, processor = _build_llava(preset)
    elif arch == "llava_onevision":
        model, processor = _build_llava_onevision(preset)
    else:
        model, processor = _build_qwen(arch, preset)
    processor.tokenizer.chat_template = processor.chat_template
    tok = processor.tokenizer
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.generation_config.do_sample = False
    return model, processor


def save_tiny_model(out: str | Path, arch: str, size: str = "tiny", seed: int = 0) -> dict:
    """Build and save a tiny model + processor to `out`; returns a summary dict."""
    start = time.perf_counter()
    model, processor = build_tiny_model(arch, size, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return {"path": str(out), "arch": arch, "size": size, "seed": seed,
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(processor.tokenizer), "seconds": time.perf_counter() - start}
