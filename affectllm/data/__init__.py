"""Data layer: the canonical sample schema, readers of published corpora, validation and the
procedural FACS faces that serve as the embedded default data set."""

from affectllm.data.schema import (
    FIELDS,
    check_sample,
    features,
    iter_samples,
    load_samples,
    make_sample,
    save_samples,
)

__all__ = ["FIELDS", "check_sample", "features", "iter_samples", "load_samples", "make_sample",
           "save_samples"]
