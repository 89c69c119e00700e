"""The official EMER judge protocol (AffectGPT repository, ``AffectGPT/evaluation.py``:
``func_clue_scoring``, ``get_summarized_emotions``, ``func_label_scoring``).

- clue overlap: one judge call per sample with the reference and the predicted description
  (`CLUE_PROMPT`): summarise both emotional states, rate the overlap 1-10.
- label overlap: each description is first reduced to its emotion words (`SUMMARY_PROMPT`, one
  call for the reference and one for the prediction), then the two emotion summaries are rated
  1-10 (`LABEL_PROMPT`).
- reply parsing (`parse_official_score`): the first match of ``[\\d][.]*[\\d]*`` in the reply, as a
  number. The official code stops with an error on a reply without one; here such a reply is
  counted invalid and left out of the mean.
- averaging: the mean of the valid scores (``np.mean``).

The official references are the Chinese descriptions (``chi_reasons``; ``--language zh``, the
default), the prompts Chinese: `PROMPTS_ZH` is their text (quoted with attribution as the protocol
definition; the source code's indentation is dropped). ``--language en`` scores against the
English descriptions with `PROMPTS_EN`, our translation of the same prompts: not the official
measurement. The official judge was ``gpt-3.5-turbo-16k-0613`` at temperature 0; a local judge LLM
makes the numbers comparable in method only. One deviation for local reasoning judges: a
``<think>...</think>`` block is removed before parsing.
"""

from __future__ import annotations

import re

from eval.extract import strip_think

LANGUAGES = ("zh", "en")

_CLUE_ZH = (
    "下面给出人物的《真实描述》以及《预测描述》。请按照以下步骤计算《预测描述》的得分，得分范围为1-10。"
    "最终仅输出预测分数的数值大小，并给出原因。\n\n"
    "1.请总结《真实描述》中有关人物的情感状态描述\n\n"
    "2.请总结《预测描述》中有关人物的情感状态描述\n\n"
    "3.计算《预测描述》与《真实描述》之间的重叠度，重叠度越高，返回的分数越高。\n\n"
    "4.输出格式为: '预测分数'：预测分数；'原因'：原因\n\n"
    "输入：\n\n《真实描述》：{reference}\n\n《预测描述》：{prediction}\n\n输出：\n")
_SUMMARY_ZH = (
    "请根据以下视频描述，推测视频中人物最有可能的情感状态，仅输出情感词：\n\n"
    "视频描述：他虽然看起来很高兴，但是实际上很焦虑\n\n输出结果：焦虑\n\n"
    "视频描述：{description}\n\n输出结果：\n")
_LABEL_ZH = (
    "下面给出人物的《真实情感》以及《预测情感》。请计算《预测情感》与《真实情感》之间的重叠度，"
    "重叠度越高，返回的分数越高。得分范围为1-10。最终仅输出预测分数的数值大小，并给出原因。\n\n"
    "输出格式为: '预测分数'：预测分数；'原因'：原因\n\n"
    "输入：\n\n《真实情感》：{reference}\n\n《预测情感》：{prediction}\n\n输出：\n")

_CLUE_EN = (
    "Below are a <true description> and a <predicted description> of a person. Score the "
    "<predicted description> in the following steps, on a scale of 1-10. Output only the value of "
    "the predicted score, then give the reason.\n\n"
    "1. Summarise what the <true description> says about the person's emotional state\n\n"
    "2. Summarise what the <predicted description> says about the person's emotional state\n\n"
    "3. Compute the overlap between the <predicted description> and the <true description>; the "
    "higher the overlap, the higher the score.\n\n"
    "4. Output format: 'predicted score': predicted score; 'reason': reason\n\n"
    "Input:\n\n<true description>: {reference}\n\n<predicted description>: {prediction}\n\n"
    "Output:\n")
_SUMMARY_EN = (
    "From the following video description, infer the most likely emotional state of the person "
    "in the video; output only emotion words:\n\n"
    "Video description: although he looks very happy, he is in fact very anxious\n\n"
    "Output: anxious\n\nVideo description: {description}\n\nOutput:\n")
_LABEL_EN = (
    "Below are the <true emotions> and the <predicted emotions> of a person. Compute the overlap "
    "between the <predicted emotions> and the <true emotions>; the higher the overlap, the higher "
    "the score, on a scale of 1-10. Output only the value of the predicted score, then give the "
    "reason.\n\n"
    "Output format: 'predicted score': predicted score; 'reason': reason\n\n"
    "Input:\n\n<true emotions>: {reference}\n\n<predicted emotions>: {prediction}\n\nOutput:\n")

PROMPTS_ZH = {"clue_overlap": _CLUE_ZH, "summary": _SUMMARY_ZH, "label_overlap": _LABEL_ZH}
PROMPTS_EN = {"clue_overlap": _CLUE_EN, "summary": _SUMMARY_EN, "label_overlap": _LABEL_EN}
PROMPTS = {"zh": PROMPTS_ZH, "en": PROMPTS_EN}

_FIRST_NUMBER = re.compile(r"[\d][.]*[\d]*")


def parse_official_score(reply: str | None) -> float | None:
    """The official reading of a judge reply: the first ``[\\d][.]*[\\d]*`` match as a float (so
    ``'预测分数'：7；`` -> 7.0, ``8.5/10`` -> 8.5); None when there is none or it is not a number
    (the official code raises there).

    >>> parse_official_score("'预测分数'：7；'原因'：...")
    7.0
    >>> parse_official_score("no number") is None
    True
    """
    if not isinstance(reply, str):
        return None
    match = _FIRST_NUMBER.search(strip_think(reply))
    if match is None:
        return None
    try:
        return float(match.group(0))
    except ValueError:
        return None
