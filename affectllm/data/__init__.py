"""Data layer: the canonical sample schema, readers of published corpora, validation and the
procedural FACS faces that serve as the embedded default data set.

Heavy pieces load on first use: `affectllm.data.readers` (READERS, read), `affectllm.data.validate`
(validate) and `affectllm.data.toyfaces` (generate_toyfaces, render_face).
"""

from affectllm.data.schema import (
    FIELDS,
    check_sample,
    data_root,
    features,
    iter_samples,
    load_samples,
    make_sample,
    open_image,
    save_samples,
    to_hf_dataset,
    with_images,
)

__all__ = ["FIELDS", "check_sample", "data_root", "features", "iter_samples", "load_samples",
           "make_sample", "open_image", "save_samples", "to_hf_dataset", "with_images"]
