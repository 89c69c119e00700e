"""The `affectllm` command: one entry point, one subcommand per stage.

Each subcommand lives in its own module that exposes ``register(subparsers)``; the module adds its
parser and sets ``func`` to a function ``(args) -> int``. This file is the composition root: it is
the only place in `affectllm` that imports `eval` and `data_synthesis`, and it does so only to
register their commands.

Exit codes: 0 ok, 2 bad input (argparse errors, `InputError`, and file-system errors on
the paths given: `USER_PATH_ERRORS`), 1 any other failure.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import re
import sys

from affectllm import __version__
from affectllm.errors import InputError

#: File-system errors that come from the paths a user gave (an --out that is a file, a read-only
#: or full disk, a missing folder): reported like bad input, exit 2, never as a traceback.
USER_PATH_ERRORS = {errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM,
                    errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOENT, errno.ENAMETOOLONG}

COMMAND_MODULES = (
    "affectllm.commands.tiny_model",
    "affectllm.commands.env",
    "affectllm.plan.cli",
    "affectllm.data.cli",
    "eval.score_cli",
    "data_synthesis.cli",
    "eval.cli",
    "affectllm.pipeline.cli",
    "affectllm.commands.quickstart",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affectllm",
        description="Fine-tune vision-language models to recognise and explain emotions.",
    )
    parser.add_argument("--version", action="version", version=f"affectllm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    _plain_text(parser)
    return parser


_RST_LITERAL = re.compile(r"``([^`]+)``")


def _plain_text(parser: argparse.ArgumentParser) -> None:
    """Drop the RST literal markup (````--json```` -> ``--json``) that module docstrings used as
    descriptions carry, from every help page."""
    parser.description = parser.description and _RST_LITERAL.sub(r"\1", parser.description)
    parser.epilog = parser.epilog and _RST_LITERAL.sub(r"\1", parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = _RST_LITERAL.sub(r"\1", action.help)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _plain_text(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"affectllm {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in USER_PATH_ERRORS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"affectllm {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
