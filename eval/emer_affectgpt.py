"""The AffectGPT EMER judge protocol, with prompts in our own words.

The protocol is the one AffectGPT's repository defines for EMER (Lian et al., *Explainable
Multimodal Emotion Recognition*, and the AffectGPT repository, ``AffectGPT/evaluation.py``: the
clue-scoring, emotion-summary and label-scoring steps). We follow its steps; the prompt text below is
ours (Chinese and English), not upstream's:

- clue overlap: one judge call per sample with the reference and the predicted description
  (``clue_overlap``): state what each says about the person's emotions, rate their overlap 1-10,
  reply with the score first and then the reason.
- label overlap: each description is first reduced to its emotion words (``summary``, one call for
  the reference and one for the prediction), then the two word lists are rated 1-10
  (``label_overlap``), score first, then the reason.
- reply parsing (`parse_affectgpt_score`): the first digit run of the form ``[\\d][.]*[\\d]*`` in
  the reply, read as a number, as upstream reads it. Upstream stops with an error on a reply
  without one; here such a reply is counted invalid and left out of the mean. One addition for
  local reasoning judges: a ``<think>...</think>`` block is removed before parsing.
- averaging: the mean of the valid scores.

Upstream's references are the Chinese descriptions (``--language zh``, the default, with the
Chinese prompts); ``--language en`` uses the English descriptions and the English prompts. Upstream's
judge was GPT-3.5 at temperature 0; we run a local judge LLM and our own wording, so the scores
follow the same method but are not directly comparable with published numbers.
"""

from __future__ import annotations

import re

from eval.extract import strip_think

LANGUAGES = ("zh", "en")

_CLUE_ZH = (
    "你将读到同一个人的两段描述：一段是人工写的【参考描述】，一段是模型写的【待评描述】。"
    "请按下面的步骤给【待评描述】打一个1到10之间的分：\n"
    "第一步，概括【参考描述】说了这个人怎样的情绪状态；\n"
    "第二步，概括【待评描述】说了这个人怎样的情绪状态；\n"
    "第三步，比较两者，情绪状态重合得越多，分数越高。\n"
    "回复里不要写出这些步骤，只写分数和理由，先写分数，格式为：\n"
    "分数：<1到10的数字>；理由：<一句话>\n\n"
    "【参考描述】{reference}\n\n【待评描述】{prediction}\n\n回复：")
_SUMMARY_ZH = (
    "读下面这段关于视频中某个人的描述，判断此人最可能处在什么情绪中。只回答情绪词，"
    "不要解释。\n\n"
    "描述：她嘴上说没事，声音却在发抖，眼圈也红了。\n情绪词：难过\n\n"
    "描述：{description}\n情绪词：")
_LABEL_ZH = (
    "下面是同一个人的两组情绪词：【参考情绪】和【待评情绪】。请判断【待评情绪】和【参考情绪】"
    "重合的程度，给一个1到10之间的分，重合得越多，分数越高。只写分数和理由，先写分数，格式为：\n"
    "分数：<1到10的数字>；理由：<一句话>\n\n"
    "【参考情绪】{reference}\n\n【待评情绪】{prediction}\n\n回复：")

_CLUE_EN = (
    "You will read two descriptions of the same person: a [reference] written by an annotator and "
    "a [candidate] written by a model. Give the [candidate] a score from 1 to 10 as follows:\n"
    "step 1, sum up the emotional state the [reference] gives the person;\n"
    "step 2, sum up the emotional state the [candidate] gives the person;\n"
    "step 3, compare the two: the more the emotional states coincide, the higher the score.\n"
    "Do not write the steps out. Reply with the score first and then the reason, as:\n"
    "score: <a number from 1 to 10>; reason: <one sentence>\n\n"
    "[reference] {reference}\n\n[candidate] {prediction}\n\nReply:")
_SUMMARY_EN = (
    "Read this description of a person in a video and decide which emotion the person is most "
    "likely feeling. Answer with emotion words only, no explanation.\n\n"
    "Description: she says it is nothing, but her voice shakes and her eyes are red.\n"
    "Emotion words: sad\n\n"
    "Description: {description}\nEmotion words:")
_LABEL_EN = (
    "Here are two sets of emotion words for the same person: the [reference emotions] and the "
    "[candidate emotions]. Judge how far the [candidate emotions] coincide with the [reference "
    "emotions] and give a score from 1 to 10: the more they coincide, the higher the score. Reply "
    "with the score first and then the reason, as:\n"
    "score: <a number from 1 to 10>; reason: <one sentence>\n\n"
    "[reference emotions] {reference}\n\n[candidate emotions] {prediction}\n\nReply:")

PROMPTS_ZH = {"clue_overlap": _CLUE_ZH, "summary": _SUMMARY_ZH, "label_overlap": _LABEL_ZH}
PROMPTS_EN = {"clue_overlap": _CLUE_EN, "summary": _SUMMARY_EN, "label_overlap": _LABEL_EN}
#: language -> the three prompts (templates with ``{reference}``/``{prediction}`` or
#: ``{description}``).
PROMPTS = {"zh": PROMPTS_ZH, "en": PROMPTS_EN}

# a digit, optional dots, optional digits: the first such run is the score (upstream's reading)
_FIRST_NUMBER = re.compile(r"\d\.*\d*")


def parse_affectgpt_score(reply: str | None) -> float | None:
    """A judge reply read as upstream reads it: the first run "digit, dots, digits" as a float (so
    ``分数：7；`` -> 7.0, ``8.5/10`` -> 8.5); None when there is none or it is not a number
    (``1..2``; upstream raises there).

    >>> parse_affectgpt_score("分数：7；理由：...")
    7.0
    >>> parse_affectgpt_score("no number") is None
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
