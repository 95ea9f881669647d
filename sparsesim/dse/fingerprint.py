"""Which model produced a sweep row: a short fingerprint of code and architecture.

A results file outlives the code and the configs that filled it.  Resuming a sweep
must not hand back rows that an edited arch config (say, a lower ``dram.bandwidth_gbps``)
or a changed timing model would no longer produce, so every row carries the
fingerprint of its model and a rerun recomputes rows whose fingerprint differs.

The fingerprint hashes

* the loaded architecture description (the validated values, after base and
  overrides are merged; comments, key order and the file's location do not count), and
* the source of the modules a timing, energy or area result depends on
  (:data:`MODEL_SOURCES`), the cost model's per-node tables (:data:`MODEL_DATA`), and the
  package version.

Drivers, reports and the functional-only subpackages are left out, so editing a
CLI message or a plot does not invalidate finished sweeps.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

# Paths relative to the sparsesim package: directories stand for every .py file below them.
MODEL_SOURCES = ("arch", "timing", "cpu", "formats", "kernels", "cost", "patterns.py", "dse/sweep.py")
# Data files of the model (directory, glob): the energy/area tables per process node and memory.
MODEL_DATA = (("cost/tables", "*.toml"),)
# Data packages inside those (the built-in configs count by their loaded values, and an
# editable install keeps them outside the package, a wheel inside).
DATA_PACKAGES = ("arch/configs/",)
DIGITS = 12


ROOT = Path(__file__).resolve().parent.parent


def model_files() -> list[Path]:
    """The source files and data tables the fingerprint covers, in hashing order."""
    files = []
    for entry in MODEL_SOURCES:
        p = ROOT / entry
        found = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        files.extend(f for f in found if not f.relative_to(ROOT).as_posix().startswith(DATA_PACKAGES))
    for folder, pattern in MODEL_DATA:
        files.extend(sorted((ROOT / folder).glob(pattern)))
    return files


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over the package version, the model's source files and its data tables (sorted by path)."""
    from .. import __version__

    root = ROOT
    files = model_files()
    h = hashlib.sha256(f"sparsesim {__version__}\n".encode())
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return h.hexdigest()


def model_fingerprint(arch) -> str:
    """Fingerprint of the model that simulates on ``arch`` (a name, a config path or an arch
    object such as a derived design).

    A config is read afresh on every call (an edited file counts at once).
    An arch that cannot be loaded gets ``""``: its points fail when evaluated and
    are recorded as error rows, which a later run with a loadable config replaces.
    """
    import dataclasses

    import sparsesim
    from ..errors import SparsesimError

    try:
        loaded = sparsesim.load_arch(arch)
    except (SparsesimError, OSError):
        return ""
    if dataclasses.is_dataclass(loaded) and any(f.name == "source" for f in dataclasses.fields(loaded)):
        loaded = dataclasses.replace(loaded, source="")  # where the file lies is not part of the model
    desc = repr(loaded)
    h = hashlib.sha256(code_digest().encode() + b"\0" + desc.encode())
    return h.hexdigest()[:DIGITS]
