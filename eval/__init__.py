"""Evaluation: data-set level scorers (`eval.scorers`) and the ``affectllm score`` command."""
