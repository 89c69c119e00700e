"""``OUT/manifest.json``: where a synthesis run stands, rewritten atomically after every step.

    {"version": 1, "finished": false, "rounds_requested": 3, "rounds_done": 1,
     "base_model": "base_model", "corpus": "corpus.jsonl", "corpus_size": 9,
     "rounds": {"1": {"status": "done", "model": "base_model", "items": 16, "chunks": 4,
                      "chunks_done": 4, "items_done": 16, "accepted": 9, "acceptance_rate": 0.56,
                      "retrain": {"status": "done", "model": "round_1/model", "seconds": 40.2}},
                "2": {"status": "generating", ...}}}

Round status: ``generating`` (chunks being written under ``round_k/chunks``), then ``done`` (the
round's accepted.jsonl, stats.json and the corpus are written). A round's ``retrain`` entry is
filled when the model for the next round is trained. ``finished`` is true once `rounds_done`
reaches the rounds requested by the last invocation.

The chunk files are the ground truth for the running round: a chunk whose file exists is done even
if the manifest update after it was lost to a kill.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from affectllm.errors import InputError
from affectllm.io import write_json

MANIFEST = "manifest.json"
VERSION = 1


class Manifest:
    """The state of the run in `out`; `save` after each change."""

    def __init__(self, out: str | Path, data: dict[str, Any] | None = None):
        self.path = Path(out) / MANIFEST
        self.data = data or {"version": VERSION, "finished": False, "rounds_requested": 0,
                             "rounds_done": 0, "rounds": {}}

    @classmethod
    def load(cls, out: str | Path) -> Manifest:
        path = Path(out) / MANIFEST
        if not path.is_file():
            return cls(out)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"malformed manifest: {e}", path=path) from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise InputError(f"not a synthesis manifest of version {VERSION}", path=path)
        return cls(out, data)

    def save(self) -> None:
        self.data["updated"] = time.time()
        write_json(self.path, self.data)

    def round(self, k: int) -> dict[str, Any]:
        """The state of round `k` (created empty)."""
        return self.data["rounds"].setdefault(str(k), {"status": "generating"})

    def round_done(self, k: int) -> bool:
        return self.data["rounds"].get(str(k), {}).get("status") == "done"

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
