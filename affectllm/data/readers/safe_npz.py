"""Read ``.npz`` / ``.npy`` files without unrestricted pickle.

The official MER-UniBench label files (``label-6way.npz``, ``label.npz``, ...) and AffectGPT's result
files (``checkpoint_*.npz`` with ``name2reason``) hold pickled Python dicts inside object arrays.
``numpy.load(allow_pickle=True)`` would run whatever a pickle asks for; this module reads the
``.npy`` members of the zip itself (header via `numpy.lib.format`) and unpickles object arrays with
`RestrictedUnpickler`, which admits only:

- plain containers and scalars (dict, list, tuple, set, frozenset, str, bytes, int, float, bool,
  None: built by pickle opcodes; ``set``/``frozenset`` are the only builtins it looks up),
- numpy arrays, dtypes and scalars (the three constructors numpy's own pickles name).

Any other global (a class, a function such as ``os.system``) is refused with `InputError` naming
the file (the CLI exits 2). Numeric and string arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import pickle
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

from affectllm.errors import InputError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

_NUMPY_GLOBALS = {
    "_reconstruct": _multiarray._reconstruct,
    "scalar": _multiarray.scalar,
    "_frombuffer": getattr(_numeric, "_frombuffer", None),
}
#: (module, name) -> the object a pickle may refer to; numpy 1 pickles say ``numpy.core``,
#: numpy 2 pickles ``numpy._core``.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    **{(f"{package}.{module}", name): obj
       for package in ("numpy.core", "numpy._core")
       for module, names in (("multiarray", ("_reconstruct", "scalar")),
                             ("numeric", ("_frombuffer",)))
       for name in names
       if (obj := _NUMPY_GLOBALS[name]) is not None},
}


#: The largest uncompressed ``.npy`` member read (label and result files are a few MB; this stops
#: a decompression bomb).
MAX_MEMBER_BYTES = 1 << 30


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_GLOBALS`; anything else raises UnpicklingError."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name} (only plain containers, str/int/float/"
                "bool/None and numpy arrays/scalars are allowed)") from None


def read_npy(fp: IO[bytes], where: str | Path) -> np.ndarray:
    """One ``.npy`` stream: header by `numpy.lib.format`, object arrays by `RestrictedUnpickler`."""
    try:
        version = npy_format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fp)
        else:
            shape, fortran, dtype = npy_format.read_array_header_2_0(fp)
    except (ValueError, OSError) as e:
        raise InputError(f"not a numpy .npy stream ({e})", path=where) from None
    if not dtype.hasobject:
        data = fp.read()
        count = int(np.prod(shape, dtype=object))  # exact: a forged shape cannot overflow
        if count * dtype.itemsize > len(data):
            raise InputError(f"truncated numpy array (header shape {shape} needs "
                             f"{count * dtype.itemsize} bytes, the file has {len(data)})",
                             path=where)
        try:
            flat = np.frombuffer(data, dtype=dtype, count=count)
            return flat.reshape(shape, order="F" if fortran else "C")
        except ValueError as e:
            raise InputError(f"malformed numpy array ({e})", path=where) from None
    try:
        array = RestrictedUnpickler(fp).load()
    except pickle.UnpicklingError as e:
        raise InputError(str(e), path=where) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise InputError(f"malformed pickled array ({type(e).__name__}: {e})", path=where) from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"expected a pickled numpy array, got {type(array).__name__}", path=where)
    return array


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (or the one array of an ``.npy`` file, as key ``""``),
    keyed like `numpy.load` keys them (member name without ``.npy``). InputError for a missing
    or malformed file and for any pickled global that `RestrictedUnpickler` refuses."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    if path.suffix.lower() == ".npy":
        with path.open("rb") as f:
            return {"": read_npy(f, path)}
    try:
        with zipfile.ZipFile(path) as archive:
            out = {}
            for info in archive.infolist():
                member = info.filename
                if info.file_size > MAX_MEMBER_BYTES:  # zipfile never reads past this size
                    raise InputError(f"member {member} is {info.file_size} bytes uncompressed, "
                                     f"over the {MAX_MEMBER_BYTES} bytes a label or result file "
                                     "may hold", path=path)
                key = member[:-4] if member.endswith(".npy") else member
                with archive.open(info) as f:
                    out[key] = read_npy(f, f"{path}[{member}]")
            return out
    except zipfile.BadZipFile as e:
        raise InputError(f"not an .npz (zip) file ({e})", path=path) from None
    except (zlib.error, EOFError, OSError) as e:  # a damaged compressed member
        raise InputError(f"corrupt .npz member ({type(e).__name__}: {e})", path=path) from None


def npz_value(arrays: dict[str, np.ndarray], key: str, path: str | Path) -> Any:
    """The Python value stored under `key`: a 0-d object array becomes its object (the dicts of the
    label files), any other array a list. InputError naming the keys present when absent."""
    if key not in arrays:
        raise InputError(f"no {key!r} in this file (it has: {', '.join(arrays) or 'nothing'})",
                         path=path)
    array = arrays[key]
    return array.item() if array.shape == () else array.tolist()
