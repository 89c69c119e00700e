"""`pip install -e ".[vllm]"` takes vLLM in the range the installed TRL declares, and `affectllm
env` reports a vLLM outside it. Checked from package metadata; nothing installs vLLM."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from affectllm.commands.env import problems, vllm_range_problem

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def trl_vllm_range() -> SpecifierSet:
    """The vLLM specifier of the installed TRL's `vllm` extra."""
    ranges = [Requirement(line).specifier for line in importlib.metadata.requires("trl")
              if Requirement(line).name == "vllm" and Requirement(line).marker is not None
              and Requirement(line).marker.evaluate({"extra": "vllm"})]
    assert len(ranges) == 1, "TRL declares no vllm range in its vllm extra"
    return ranges[0]


def test_vllm_extra_takes_vllm_through_trl():
    project = _project()
    extra = [Requirement(r) for r in project["optional-dependencies"]["vllm"]]
    # no direct vLLM pin: the only vLLM constraint pip sees is TRL's own range
    assert not [r for r in extra if r.name == "vllm"], extra
    trl_extra = [r for r in extra if r.name == "trl"]
    assert len(trl_extra) == 1 and trl_extra[0].extras == {"vllm"}
    main_trl = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "trl"]
    assert trl_extra[0].specifier == main_trl[0].specifier
    installed = Version(importlib.metadata.version("trl"))
    assert trl_extra[0].specifier.contains(installed)
    assert "vllm" in Requirement(project["optional-dependencies"]["all"][0]).extras


def test_env_flags_vllm_outside_trls_range():
    spec = trl_vllm_range()
    lower = next(Version(s.version) for s in spec if s.operator in (">=", "=="))
    upper = next((Version(s.version) for s in spec if s.operator in ("<=", "<")), None)
    requires = importlib.metadata.requires("trl")
    trl = importlib.metadata.version("trl")
    assert vllm_range_problem(str(lower), trl, requires) is None
    assert vllm_range_problem(None, trl, requires) is None        # vLLM not installed
    old = "0.10.0"                                                 # the former pin's floor
    assert not spec.contains(old)
    problem = vllm_range_problem(old, trl, requires)
    assert problem and f"vllm {old} is outside the range TRL {trl} supports" in problem
    assert str(spec) in problem and "pip install 'affectllm[vllm]'" in problem
    if upper is not None:
        beyond = f"{upper.major}.{upper.minor + 1}.0"
        assert vllm_range_problem(beyond, trl, requires) is not None
    assert vllm_range_problem("0.25.0", trl, ["requests"]) is None  # a TRL without the extra


def test_env_command_reports_problems():
    result = subprocess.run([sys.executable, "-m", "affectllm.cli", "env", "--json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["problems"] == problems()
    if importlib.util.find_spec("vllm") is None:
        assert info["problems"] == []
