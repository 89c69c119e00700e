"""The recipes' ``main`` wrapper: bad input exits 2 with its message, as the `affectllm` CLI does."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from affectllm.errors import InputError

F = TypeVar("F", bound=Callable)


def exits_on_input_error(main: F) -> F:
    """Decorate a recipe's ``main``: an `InputError` is printed (``<script>: error: ...``) and
    becomes ``SystemExit(2)``; anything else propagates (exit 1 with a traceback)."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except InputError as e:
            print(f"{Path(sys.argv[0]).name or 'recipe'}: error: {e}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]


def quiet_defaults() -> None:
    """Environment defaults for the recipes (set only when unset): no tokenizer fork warnings."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
