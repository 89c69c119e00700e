"""Rewards named by import path (``package.module.factory`` in a recipe's ``rewards``): the user's
own code only.

A recipe YAML is data; naming a callable by import path must not let it run arbitrary code
(``{name: os.system, command: ...}``). A factory is accepted only when all of these hold, and
nothing is imported or called before the location checks pass:

1. the top-level package is not part of the standard library (never, even when named);
2. its code lies under the working directory or the config file's folder (and not inside an
   installed-packages folder), or the user named the package in ``reward_packages`` (explicit
   opt-in for an installed package of their own);
3. the attribute is a plain function defined in that very module (a name the module merely
   imported, such as ``from os import system``, is refused).

The factory is then called with the entry's parameters and must return a callable.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import site
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path

from affectllm.errors import InputError


def _package_location(top: str, roots: Sequence[Path]) -> Path | None:
    """Where the top-level package `top` lives (searched in `roots` first, then on sys.path),
    found without importing it."""
    module = sys.modules.get(top)
    if module is not None:
        paths = list(getattr(module, "__path__", []) or [])
        origin = paths[0] if paths else getattr(module, "__file__", None)
        return Path(origin).resolve() if origin else None
    spec = importlib.machinery.PathFinder.find_spec(top, [*map(str, roots), *sys.path])
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).resolve()
    return Path(spec.origin).resolve() if spec.origin else None


def _installed_dirs() -> list[Path]:
    dirs = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    dirs.update(site.getsitepackages() + [site.getusersitepackages()])
    return [Path(d).resolve() for d in dirs if d]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def import_reward_factory(name: str, *, roots: Sequence[str | Path],
                          packages: Sequence[str] = ()) -> Callable:
    """The factory function `name` (``package.module.attr``) if it is the user's own code (see the
    module docstring); InputError saying why not otherwise. `roots` are the folders whose code
    counts as the user's (the working directory, the config's folder)."""
    module_name, _, attr = name.rpartition(".")
    parts = name.split(".")
    if not module_name or not all(p.isidentifier() for p in parts):
        raise InputError(f"reward {name!r}: not a registered reward name or a "
                         "package.module.function import path")
    top = parts[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise InputError(f"reward {name!r}: rewards may not come from the standard library")
    own = [Path(r).resolve() for r in roots]
    if top not in packages:
        location = _package_location(top, own)
        if location is None:
            raise InputError(f"reward {name!r}: no module {top!r} found")
        installed = any(_inside(location, d) for d in _installed_dirs())
        if installed or not any(_inside(location, r) for r in own):
            raise InputError(
                f"reward {name!r}: {top!r} is not your own code ({location} lies outside the "
                f"working directory and the config's folder{', in installed packages' if installed else ''}); "
                f"to allow an installed package of yours, name it in reward_packages")
    for folder in reversed(own):  # the user's own modules import by their folder
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InputError(f"reward {name!r}: cannot import {module_name} ({e})") from None
    factory = getattr(module, attr, None)
    if not inspect.isfunction(factory) or factory.__module__ != module.__name__:
        raise InputError(f"reward {name!r}: {attr!r} is not a function defined in {module_name} "
                         "(a reward factory: keyword parameters -> reward callable)")
    return factory


def checked_reward(name: str, factory: Callable) -> Callable:
    """`factory` wrapped so that what it builds must be callable (a reward function)."""
    def build(**params):
        reward = factory(**params)
        if not callable(reward):
            raise ValueError(f"factory {name} returned {type(reward).__name__}, not a reward "
                             "function")
        return reward

    build.__signature__ = inspect.signature(factory)  # type: ignore[attr-defined]
    build.__name__ = getattr(factory, "__name__", name)
    return build
