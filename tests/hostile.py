"""The hostile-input table's machinery: a `Case` is one bad input given to the real command line
(``python -m affectllm.cli ...`` or a recipe script) in a fresh folder; `check_case` runs it in a
fresh process and asserts what every bad input must give: exit status 2, a message on stderr that
names the file (and line) and the reason, no Python traceback, and nothing half-written left
behind (no temporary files, none of the case's `leftovers`).

Two ways to start that process, with the same assertions:

* ``fresh=True``: ``subprocess.run`` of the entry point (a new interpreter), as a user runs it.
* ``fresh=False`` (the default): a child forked by a `multiprocessing` fork server that has already
  imported the heavy modules (`PRELOAD`: the CLI's command modules, the recipes' TRL/transformers
  /torch stack). The child does what the interpreter does for ``python -m affectllm.cli ARGV`` or
  ``python recipes/x.py ARGV`` (`_run_entry_point`): cwd, environment, ``sys.argv``,
  ``sys.path[0]``, fds 1 and 2 on files, ``__main__`` run by `runpy`, SystemExit turned into the
  exit status, an uncaught exception's traceback on stderr and exit 1. It is its own process
  (file descriptors, cwd, memory, exit status), only without paying ~10 s of imports per case.
  The server is started once per test session with the environment a subprocess case gets.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.forkserver
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# No thread may run in the server when it forks. Its imports start one only: the purging thread of
# the jemalloc inside pyarrow (imported by datasets), switched off here; the others keep it so.
THREADS = {"JE_ARROW_MALLOC_CONF": "background_thread:false", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
       "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO), **THREADS}

#: What the fork server imports before it forks: every CLI command module (what
#: `affectllm.cli.build_parser` imports; not `affectllm.cli` itself, which the child runs as
#: ``__main__``) and what the recipe scripts import.
PRELOAD = [
    "affectllm.commands.tiny_model", "affectllm.commands.env", "affectllm.plan.cli",
    "affectllm.data.cli", "eval.score_cli", "data_synthesis.cli", "eval.cli",
    "affectllm.pipeline.cli", "affectllm.commands.quickstart",
    "trl", "trl.trainer.sft_config", "trl.trainer.grpo_config", "trl.trainer.sft_trainer",
    "trl.trainer.grpo_trainer", "transformers", "torch",
    "affectllm.train.checks", "affectllm.train.data", "affectllm.train.modeling",
    "affectllm.train.outputs", "affectllm.train.args", "affectllm.train.entry",
    "affectllm.train.trainers", "affectllm.train.video", "rewards",
    "hostile",
]


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


def _command(argv: list[str]) -> list[str]:
    """The command line a user types for `argv` (a recipe script or an ``affectllm`` command)."""
    if argv[0].startswith("recipes/") and argv[0].endswith(".py"):
        return [sys.executable, str(REPO / argv[0]), *argv[1:]]
    return [sys.executable, "-m", "affectllm.cli", *argv]


def check_case(case: Case, tmp: Path, fresh: bool = False) -> subprocess.CompletedProcess:
    """Run `case` in `tmp` (a new interpreter when `fresh`, else a forked child of the
    pre-imported server) and assert exit 2, the located message, no traceback, no leftovers."""
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
    command = _command([_fill(a, tmp) for a in case.argv])
    if fresh:
        result = subprocess.run(command, cwd=tmp, env=ENV, capture_output=True, text=True,
                                timeout=case.timeout)
    else:
        result = run_forked(command, tmp, case.timeout)
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


# --- the fork server -------------------------------------------------------------------------

_context: multiprocessing.context.BaseContext | None = None
_path: list[str] = []  # sys.path[1:] of a fresh interpreter with ENV


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _server() -> multiprocessing.context.BaseContext:
    """The forkserver context, its server started (once) with `ENV` and `PRELOAD`."""
    global _context
    if _context is None:
        _path[:] = json.loads(subprocess.run(
            [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"], env=ENV,
            capture_output=True, text=True, check=True).stdout)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        with _environ(ENV):  # the server's imports read the environment a subprocess would get
            multiprocessing.forkserver.ensure_running()
        _context = context
    return _context


def run_forked(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """`command` (as `_command` builds it) run in a forked child of the server; stdout and
    stderr are read back from files in a folder next to `cwd`, as ``subprocess.run`` would
    capture them (text, universal newlines). A child past `timeout` is killed."""
    io_dir = cwd.parent / f"{cwd.name}.io"
    io_dir.mkdir()
    out, err = io_dir / "stdout", io_dir / "stderr"
    out.touch()
    err.touch()
    child = _server().Process(target=_run_entry_point,
                              args=(command[1:], str(cwd), ENV, _path, str(out), str(err)))
    child.start()
    child.join(timeout)
    if child.exitcode is None:
        child.kill()
        child.join()
        raise subprocess.TimeoutExpired(command, timeout, out.read_bytes(), err.read_bytes())
    return subprocess.CompletedProcess(command, child.exitcode, out.read_text(), err.read_text())


def _run_entry_point(args: list[str], cwd: str, env: dict[str, str], path: list[str], out: str,
                     err: str) -> None:
    """In the forked child: what ``python ARGS`` does for ``-m MODULE ...`` or ``SCRIPT ...``,
    then leave with its exit status (never returns)."""
    import runpy
    import traceback

    multiprocessing.set_start_method(None, force=True)  # the default, as in a new interpreter
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    for fd, file in ((1, out), (2, err)):  # not `path`: that is the sys.path tail
        target = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    status = 0
    try:
        if args[0] == "-m":
            sys.argv = ["-m", *args[2:]]  # runpy sets argv[0] to the module's file
            sys.path[:] = [cwd, *path]
            sys.modules.pop(args[1], None)  # never imported before its run as __main__
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(args)
            sys.path[:] = [os.path.dirname(os.path.realpath(args[0])), *path]
            runpy.run_path(args[0], run_name="__main__")
    except SystemExit as e:  # the interpreter's handling of SystemExit
        if e.code is None:
            status = 0
        elif isinstance(e.code, int):
            status = e.code
        else:
            print(e.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    os._exit(status)

