"""Errors that the CLI turns into exit codes.

`InputError` means the user's input is wrong (a file, a flag, a config value): the CLI prints it
and exits 2. Anything else that escapes a command is a failure of the run: exit 1.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input. Carries where it was found so the message can point at it.

    >>> str(InputError("unknown AU code 'AU99'", path="train.jsonl", line=12))
    'train.jsonl:12: unknown AU code 'AU99''
    """

    def __init__(self, reason: str, path: str | Path | None = None, line: int | None = None):
        self.reason = reason
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        if self.path is None:
            return self.reason
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"
