"""One progress-bar style for every long loop (generation, scoring, rendering, conversion)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it",
             disable: bool | None = None) -> Iterator[T]:
    """Wrap `items` in a tqdm bar on stderr. Bars are hidden when stderr is not a terminal unless
    AFFECTLLM_PROGRESS=1, so logs and CI output stay readable. A bar opened inside another one
(a generation's batches inside a synthesis round) disappears when it finishes (tqdm's
``leave=None``), so a long loop leaves one finished bar, not dozens."""
    if disable is None:
        disable = not (sys.stderr.isatty() or os.environ.get("AFFECTLLM_PROGRESS") == "1")
    return iter(tqdm(items, desc=desc, total=total, unit=unit, disable=disable, file=sys.stderr,
                     dynamic_ncols=True, leave=None))
