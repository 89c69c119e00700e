"""The hostile-input table's machinery: a `Case` is one bad input given to the real command line
(``python -m affectllm.cli ...`` or a recipe script) in a fresh folder; `check_case` runs it in a
subprocess and asserts what every bad input must give: exit status 2, a message on stderr that
names the file (and line) and the reason, no Python traceback, and nothing half-written left
behind (no temporary files, none of the case's `leftovers`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
       "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}


@dataclass(frozen=True)
class Case:
    """One bad input. ``{tmp}`` in `argv`, in text `files` and in `message` is replaced by the
    case's folder (in `message`, regex-escaped); an argv starting with ``recipes/...py`` runs
    that recipe script, anything else is an ``affectllm`` subcommand."""

    id: str
    argv: tuple[str, ...]
    message: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    leftovers: tuple[str, ...] = ()
    timeout: int = 120


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def check_case(case: Case, tmp: Path) -> subprocess.CompletedProcess:
    for rel, content in case.files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(_fill(content, tmp), encoding="utf-8", errors="surrogatepass")
    if case.setup is not None:
        case.setup(tmp)
    before = {p for p in tmp.rglob("*")}
    argv = [_fill(a, tmp) for a in case.argv]
    if argv[0].startswith("recipes/") and argv[0].endswith(".py"):
        command = [sys.executable, str(REPO / argv[0]), *argv[1:]]
    else:
        command = [sys.executable, "-m", "affectllm.cli", *argv]
    result = subprocess.run(command, cwd=tmp, env=ENV, capture_output=True, text=True,
                            timeout=case.timeout)
    err = result.stderr
    assert result.returncode == 2, f"exit {result.returncode}\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    pattern = case.message.replace("{tmp}", re.escape(str(tmp)))
    assert re.search(pattern, err), f"{pattern!r} not in stderr:\n{err[-3000:]}"
    new = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p not in before)
    assert not [p for p in new if p.endswith(".tmp")], new
    for pattern in case.leftovers:
        assert not list(tmp.glob(pattern)), f"left behind: {pattern} in {new}"
    return result
