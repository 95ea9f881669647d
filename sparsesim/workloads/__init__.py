"""Workloads: networks written as the list of GEMMs a sparse tensor core runs.

Every source gives the same :class:`Workload` object (see :mod:`.model` for the shape
convention):

* a TOML file of conv2d / linear / gemm layers (:mod:`.tomlfile`),
* a GEMM list in CSV, ``m,n,k[,count,name,dtype]`` (:mod:`.csvfile`),
* a Hugging Face ``config.json``: every linear layer and the attention products, at
  prefill or decode (:func:`from_hf_config`),
* a ``torch.nn.Module`` traced on an example input (:func:`from_torch`, needs torch).

:func:`load_workload` takes a built-in or user workload name, or a path to any of the
files above.  Names are looked up in the user folders of ``$SPARSESIM_WORKLOAD_PATH``
(``sparsesim --workload-path DIR`` prepends to it) and then among the built-in
workloads shipped in the package (source: the repository's ``workloads/``); user
folders add to the built-ins, and a name found in a user folder takes the built-in's
place.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._resources import builtin_dir, user_dirs
from ..errors import ConfigError
from ..io import is_dir, is_file
from .csvfile import load_csv
from .hf import from_hf_config
from .model import Layer, Workload
from .tomlfile import check_batch, conv_output_hw, load_toml
from .torch_trace import from_torch

ENV_PATH = "SPARSESIM_WORKLOAD_PATH"
LEGACY_ENV = "SPARSESIM_WORKLOADS"  # older name of the same setting
BUILTIN_DIR = builtin_dir("sparsesim.workloads.builtin", "workloads")


def workload_dirs() -> list[Path]:
    """Folders searched for workload names: the user folders, then the built-in one."""
    return [*user_dirs(ENV_PATH, LEGACY_ENV), BUILTIN_DIR]


def _files_in(d: Path) -> dict[str, Path]:
    found = {}
    if is_dir(d):
        for pattern in ("*.toml", "*.csv", "hf/*.json"):
            for p in sorted(d.glob(pattern)):
                found.setdefault(p.stem, p)
    return found


def available_workloads() -> dict[str, Path]:
    """Workload name -> file, over every folder of :func:`workload_dirs` (first one wins)."""
    found: dict[str, Path] = {}
    for d in workload_dirs():
        for name, p in _files_in(d).items():
            found.setdefault(name, p)
    return found


def list_workloads() -> list[str]:
    """Names of every workload found, sorted."""
    return sorted(available_workloads())


def _is_path(spec) -> bool:
    s = str(spec)
    return isinstance(spec, Path) or s.endswith((".toml", ".csv", ".json")) or "/" in s or is_file(s) or is_dir(s)


def resolve(spec) -> Path:
    """The file a workload name or path stands for."""
    if isinstance(spec, bytes) or not isinstance(spec, (str, os.PathLike)) or not str(spec).strip():
        raise ConfigError(f"a workload is a name or a path to a .toml, .csv or config.json, got {spec!r:.80}")
    if any(ord(c) < 32 for c in str(spec)):
        raise ConfigError(f"workload {str(spec)!r:.80}: a name or path has no control characters")
    if _is_path(spec):
        p = Path(spec)
        if is_dir(p):
            if is_file(p / "config.json"):
                return p / "config.json"
            raise ConfigError(f"workload folder {p} holds no config.json")
        if not is_file(p):
            raise ConfigError(f"workload file {p} does not exist")
        return p
    found = available_workloads()
    if str(spec) not in found:
        known = ", ".join(sorted(found)) or "(none)"
        raise ConfigError(f"unknown workload {spec!r}; known workloads: {known} "
                          "(or give a path to a .toml, .csv or config.json)")
    return found[str(spec)]


def load_workload(spec, batch: int | None = None, *, phase: str = "prefill", seq_len: int | None = None,
                  context: int | None = None) -> Workload:
    """Load a workload by name (``"bert-base"``) or path (``.toml``, ``.csv``, ``config.json``
    or a folder holding one); a :class:`Workload` passes through.

    ``batch`` replaces the file's batch (TOML: images or sequences of ``seq_len`` tokens;
    Hugging Face: sequences); a CSV GEMM list has explicit shapes and ignores it.
    ``phase``, ``seq_len`` and ``context`` apply to Hugging Face configs
    (see :func:`from_hf_config`).
    """
    if isinstance(spec, Workload):
        return spec
    path = resolve(spec)
    if batch is not None:
        check_batch(batch, path)
    for label, v in (("seq_len", seq_len), ("context", context)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ConfigError(f"{label} must be a positive integer, got {v!r}")
    if path.suffix == ".csv":
        return load_csv(path)
    if path.suffix == ".json":
        name = None if path.name == "config.json" else path.stem
        return from_hf_config(path, phase=phase, seq_len=seq_len, batch=batch or 1, context=context,
                              name=name)
    return load_toml(path, batch=batch)


__all__ = [
    "BUILTIN_DIR", "ENV_PATH", "Layer", "Workload", "available_workloads", "conv_output_hw",
    "from_hf_config", "from_torch", "list_workloads", "load_csv", "load_toml", "load_workload",
    "resolve", "workload_dirs",
]
