"""Launch a training recipe the way a user would: `accelerate launch` with an accelerate config.

The pipeline (`affectllm run`) and the synthesis loop's `retrain` step both train by running a
recipe script in a child process, so a stage on a CPU, on one GPU and on a ZeRO-3 node differs only
in the accelerate config. Overrides become TrlParser's ``--key value`` arguments.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from affectllm.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPES_DIR = REPO_ROOT / "recipes"


def resolve_recipe(script: str | Path) -> Path:
    """A recipe script given as a path, or as a name under `recipes/` (``sft``, ``grpo_facial_r1``)."""
    path = Path(script)
    candidates = [path, RECIPES_DIR / path, RECIPES_DIR / f"{path}.py"]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise InputError(f"recipe script {str(script)!r} not found (looked in {RECIPES_DIR})")


def override_args(overrides: Mapping[str, Any]) -> list[str]:
    """``{"learning_rate": 1e-5, "use_peft": True}`` -> ``["--learning_rate", "1e-05", ...]``.
    Lists are passed as repeated values (``--key a b``), None is skipped."""
    args: list[str] = []
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            args += [f"--{key}", *map(str, value)]
        else:
            args += [f"--{key}", str(value)]
    return args


def recipe_command(script: str | Path, config: str | Path | None = None,
                   overrides: Mapping[str, Any] | None = None,
                   accelerate_config: str | Path | None = None,
                   num_processes: int | None = None) -> list[str]:
    """The argv that runs `script`: through `accelerate launch` when an accelerate config or a
    process count is given, else with this Python directly (one process, e.g. CPU runs)."""
    argv: list[str] = []
    if accelerate_config is not None or (num_processes or 1) > 1:
        argv = [sys.executable, "-m", "accelerate.commands.launch"]
        if accelerate_config is not None:
            argv += ["--config_file", str(accelerate_config)]
        if num_processes:
            argv += ["--num_processes", str(num_processes)]
    else:
        argv = [sys.executable]
    argv.append(str(resolve_recipe(script)))
    if config is not None:
        argv += ["--config", str(config)]
    return argv + override_args(overrides or {})


def die_with_parent() -> None:
    """`preexec_fn` for child processes: on Linux, the child gets SIGKILL when its parent dies, so
    a killed pipeline or synthesis run never leaves a training process holding GPUs behind."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the repository on PYTHONPATH (recipes import affectllm)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return {**env, **(extra or {})}


def run_logged(argv: list[str], log_file: str | Path | None = None,
               env: Mapping[str, str] | None = None, what: str = "command") -> None:
    """Run `argv` to completion as a child that dies with this process. Its output is appended to
    `log_file` after a ``$ command`` line (or goes to this process's stdout/stderr when no log
    file is given). Raises RuntimeError with the log's tail when it fails."""
    full_env = child_env(env)
    if log_file is None:
        result = subprocess.run(argv, env=full_env, preexec_fn=die_with_parent)
        tail = ""
    else:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "a", encoding="utf-8") as log:
            log.write(f"$ {shlex.join(argv)}\n")
            log.flush()
            result = subprocess.run(argv, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                    preexec_fn=die_with_parent)
        tail = "\n".join(Path(log_file).read_text(encoding="utf-8").splitlines()[-30:])
    if result.returncode != 0:
        where = f"; log: {log_file}" if log_file else ""
        raise RuntimeError(f"{what} failed (exit {result.returncode}){where}: "
                           f"{shlex.join(argv)}\n{tail}")


def run_recipe(script: str | Path, config: str | Path | None = None,
               overrides: Mapping[str, Any] | None = None,
               accelerate_config: str | Path | None = None, num_processes: int | None = None,
               log_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> None:
    """Run a recipe to completion (see `run_logged`)."""
    run_logged(recipe_command(script, config, overrides, accelerate_config, num_processes),
               log_file, env, what="recipe")
