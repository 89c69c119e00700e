"""One live terminal line per pipeline stage, read from the stage's log as it grows.

A stage runs in a child process whose output goes to RUN/<stage>/log.txt. While it runs,
`LiveLine` rereads what was appended and redraws one line on stderr::

    [grpo] step 37/150 · reward 1.412 · loss 0.031 · 00:41 elapsed · ETA 02:05

from the newest progress bar (tqdm's ``n/total [elapsed<eta``) and the newest logged ``loss`` /
``reward`` values (the Trainer's ``{'loss': ...}`` lines). Drawn only on a terminal (or with
AFFECTLLM_PROGRESS=1), so logs and CI output stay as they were.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path
from typing import TextIO

_BAR = re.compile(r"(\d+)/(\d+) \[([0-9:]+)<([0-9:?]+)")
_VALUE = re.compile(r"'(loss|reward)': '?([-+0-9.eE]+)'?")


def status_line(name: str, text: str) -> str | None:
    """The live line for stage `name` from its log `text` so far (None before any progress)."""
    bars = _BAR.findall(text)
    values = dict(_VALUE.findall(text))  # later matches win: the newest value of each key
    if not bars and not values:
        return None
    parts = []
    if bars:
        done, total, elapsed, eta = bars[-1]
        parts.append(f"step {done}/{total}")
    for key in ("reward", "loss"):
        if key in values:
            parts.append(f"{key} {float(values[key]):.3f}")
    if bars:
        parts += [f"{elapsed} elapsed", f"ETA {eta}"]
    return f"[{name}] " + " · ".join(parts)


def live_enabled(stream: TextIO = sys.stderr) -> bool:
    return stream.isatty() or os.environ.get("AFFECTLLM_PROGRESS") == "1"


class LiveLine:
    """Context manager: redraw `status_line` of `log_file` every `interval` seconds on `stream`
    while the block runs; leaves the last line on the terminal."""

    def __init__(self, name: str, log_file: str | Path, stream: TextIO = sys.stderr,
                 interval: float = 1.0, enabled: bool | None = None):
        self.name, self.log_file, self.stream, self.interval = name, Path(log_file), stream, interval
        self.enabled = live_enabled(stream) if enabled is None else enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._offset = 0
        self._text = ""
        self._shown = ""

    def _draw(self) -> None:
        try:
            with self.log_file.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        self._text = (self._text + chunk.decode("utf-8", "replace"))[-20000:]
        line = status_line(self.name, self._text)
        if line and line != self._shown:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
            self._shown = line

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def __enter__(self) -> LiveLine:
        if self.enabled:
            self._offset = self.log_file.stat().st_size if self.log_file.is_file() else 0
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._draw()
            if self._shown:
                self.stream.write("\n")
                self.stream.flush()
