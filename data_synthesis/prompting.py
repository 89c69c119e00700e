"""The generation prompt of one item and attempt: task prompt, ground-truth hint, retry feedback.

Facial-R1 asks the model to explain a label it is told: the hint template (config key `hint`) is
filled with the item's ground truth and appended to the user turn, then the feedback of the
previous attempt, if any, after it (`affectllm.prompts.sample_messages` places both).
"""

from __future__ import annotations

from pathlib import Path

from affectllm.prompts import sample_messages, task_prompt
from rewards.aus import au_name, sort_aus


def hint_values(item: dict) -> dict[str, str]:
    """The values of the hint placeholders for one item (see `data_synthesis.config`)."""
    aus = sort_aus(item.get("aus") or [])
    labels = list(item.get("labels") or [])
    openset = list(item.get("openset") or [])
    answer = item.get("answer") or (labels[0] if labels else ", ".join(openset))
    return {
        "aus": ", ".join(f"{c} ({au_name(c)})" for c in aus) or "none",
        "au_codes": ", ".join(aus) or "none",
        "answer": answer,
        "labels": ", ".join(labels) or "none",
        "openset": ", ".join(openset) or "none",
    }


def hint_text(template: str | None, item: dict) -> str | None:
    """The filled hint, or None without a template."""
    return None if template is None else template.format_map(hint_values(item))


def item_messages(item: dict, data_root: str | Path, prompt: str | None, system: str | None,
                  hint_template: str | None, feedback: str | None = None) -> list[dict]:
    """Chat messages for one attempt at `item`. `prompt` is a named task prompt or text (None:
    the item's own question)."""
    parts = [p for p in (hint_text(hint_template, item), feedback) if p]
    return sample_messages(item, data_root, prompt=None if prompt is None else task_prompt(prompt),
                           system=system, hint="\n".join(parts) or None)
