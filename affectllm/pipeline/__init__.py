"""Staged pipelines: SFT -> GRPO -> synthesis -> evaluation in one resumable run directory."""

from affectllm.pipeline.config import Pipeline, Stage, load_pipeline
from affectllm.pipeline.runner import PipelineRunner

__all__ = ["Pipeline", "PipelineRunner", "Stage", "load_pipeline"]
