"""Task prompts and the conversion of a canonical sample into chat messages.

Every stage turns samples into the same chat format, so that a model is trained, rolled out,
used for synthesis and evaluated on exactly the prompt it will later see:

    [{"role": "system", "content": ...}?,                   # optional
     {"role": "user", "content": [{"type": "image", "image": "/abs/face.png"}, ...,
                                  {"type": "text", "text": question}]}]

Image parts carry an absolute path (checked to stay inside the data root); the generation backends
and the training collators open them lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from affectllm.io import resolve_media
from rewards.aus import au_glossary
from rewards.labels import FACIAL_LABELS

FORMAT_INSTRUCTION = ("Output the thinking process in <think> </think> and the final answer in "
                      "<answer> </answer> tags.")

#: Facial-R1: reason over Action Units first, then give one label from a closed set.
FACIAL_TEMPLATE = (
    "What emotion does this face show? First identify the active facial Action Units, then "
    "choose one of: {labels}.\n{glossary}\n" + FORMAT_INSTRUCTION
)

#: AffectGPT / MER-UniBench: open-vocabulary description of the emotional state.
OPENSET_TEMPLATE = ("Please infer the person's emotional state and provide your reasoning process. "
                    + FORMAT_INSTRUCTION + " The answer is a comma-separated list of emotion words.")

#: AffectGPT's own instruction, as the official MER-UniBench pipeline asks it (no output tags).
AFFECTGPT_PROMPT = "Please infer the person's emotional state and provide your reasoning process."

PROMPTS = {"facial": FACIAL_TEMPLATE, "openset": OPENSET_TEMPLATE, "affectgpt": AFFECTGPT_PROMPT}

#: Prompt name meaning "each sample's own `question`".
PROMPT_FROM_SAMPLE = "sample"


def facial_prompt(labels: Sequence[str] = FACIAL_LABELS, glossary: bool = True) -> str:
    """The Facial-R1 question: label set, optional AU glossary, and the output format."""
    return FACIAL_TEMPLATE.format(labels=", ".join(labels),
                                  glossary=au_glossary() if glossary else "").replace("\n\n", "\n")


def task_prompt(name_or_text: str | None, labels: Sequence[str] = FACIAL_LABELS,
                glossary: bool = True) -> str | None:
    """A named prompt (`facial`, `openset`, `affectgpt`) or the given text, used as is; None for
    `sample` or nothing (each sample's own question)."""
    if not name_or_text or name_or_text == PROMPT_FROM_SAMPLE:
        return None
    if name_or_text == "facial":
        return facial_prompt(labels, glossary)
    return PROMPTS.get(name_or_text, name_or_text)


def sample_messages(sample: dict, data_root: str | Path, prompt: str | None = None,
                    system: str | None = None, hint: str | None = None) -> list[dict]:
    """Chat messages for one canonical sample: its media, then `prompt` (or the sample's own
    question), then an optional `hint` block (ground-truth hints or feedback for synthesis)."""
    content: list[dict] = []
    for m in sample["media"]:
        path = str(resolve_media(data_root, m["path"]))
        if m["type"] in ("image", "video"):
            content.append({"type": m["type"], m["type"]: path})
    text = prompt if prompt is not None else sample["question"]
    if hint:
        text = f"{text}\n{hint}"
    content.append({"type": "text", "text": text})
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": content})
    return messages


def target_text(sample: dict) -> str:
    """The completion a model is trained towards: ``<think>reasoning</think><answer>A</answer>``.

    The answer is the sample's `answer`, else its labels (or open-set words) joined by ", ".
    """
    answer = sample.get("answer")
    if not answer:
        answer = ", ".join(sample.get("labels") or sample.get("openset") or [])
    reasoning = (sample.get("reasoning") or "").strip()
    return f"<think>{reasoning}</think><answer>{answer}</answer>"
