"""Load, compose and validate architecture configs (TOML).

A config file has top-level keys ``name``, ``kind``, ``description``, optionally
``base``, and one TOML table per hardware block.  ``base = "a100"`` makes the file a
derived config: the base document (resolved by name, next to this file first, then
on the config search path) is loaded recursively and this file's tables are merged
over it key by key (tables merge recursively; scalars and arrays replace).  The
merged document is then validated against the schema of its ``kind``.

Config search path: the directories in ``$SPARSESIM_ARCH_PATH`` (``os.pathsep``
separated; ``sparsesim --arch-path DIR`` prepends to it), then the built-in configs,
which ship inside the package as ``sparsesim.arch.configs`` (source: the repository's
``arch_configs/``).  User folders add to the built-ins; a user file named like a
built-in one takes its place.

Limits (docs/limits.md): files are UTF-8 TOML; a ``base`` chain is at most
``MAX_BASE_DEPTH`` links long and may not loop; every number is finite and
positive; an integer is at most ``INT_MAX`` and a float lies in
``[FLOAT_MIN, FLOAT_MAX]`` unless its schema field says otherwise with
``metadata={"range": (lo, hi)}``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import numbers
import os
from .._toml import tomllib
import typing
from pathlib import Path

from .._resources import builtin_dir, user_dirs
from ..errors import ConfigError
from . import schema as _schema

ENV_PATH = "SPARSESIM_ARCH_PATH"
DEFAULT_DIR = builtin_dir("sparsesim.arch.configs", "arch_configs")
TOP_KEYS = ("name", "kind", "description", "base")
# Schema modules of kinds that live in their own package (else ``sparsesim.arch.<kind>``).
_KIND_SCHEMAS = {"cpu": "sparsesim.cpu.config"}
MAX_BASE_DEPTH = 32
INT_MAX = 2**31 - 1  # every count, size and rate of a datapath fits a 32-bit signed int
FLOAT_MIN, FLOAT_MAX = 1e-12, 1e12  # keeps every product and quotient of the models finite


def search_path() -> list[Path]:
    """User folders (``$SPARSESIM_ARCH_PATH``) first, then the built-in configs."""
    return [*user_dirs(ENV_PATH), DEFAULT_DIR]


def available_archs() -> dict[str, Path]:
    """Config name -> file, for every ``*.toml`` on the search path (first one wins)."""
    found: dict[str, Path] = {}
    for d in search_path():
        if d.is_dir():
            for p in sorted(d.glob("*.toml")):
                found.setdefault(p.stem, p)
    return found


def _resolve(name_or_path, relative_to: Path | None = None) -> Path:
    s = str(name_or_path)
    if not s or any(ord(c) < 32 for c in s):
        raise ConfigError(f"architecture {s!r}: expected a config name or path without control characters")
    looks_like_path = isinstance(name_or_path, Path) or s.endswith(".toml") or os.sep in s or "/" in s
    if looks_like_path:
        p = Path(s)
        if not p.is_absolute() and relative_to is not None and not p.exists():
            p = relative_to / p
        if not p.is_file():
            raise ConfigError(f"architecture config file {s!r} does not exist")
        return p.resolve()
    if relative_to is not None:
        p = relative_to / f"{s}.toml"
        if p.is_file():
            return p.resolve()
    archs = available_archs()
    if s in archs:
        return archs[s].resolve()
    known = ", ".join(sorted(archs)) or "(none found)"
    raise ConfigError(f"unknown architecture {s!r}; expected a config file path or one of: {known}")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_document(path: Path, chain: tuple = ()) -> tuple[dict, list[Path]]:
    """Merged raw document of ``path`` (bases applied) and the list of files used."""
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(f"{path}: 'base' chain loops: {cycle}")
    if len(chain) > MAX_BASE_DEPTH:
        raise ConfigError(f"{chain[0]}: 'base' chain is longer than {MAX_BASE_DEPTH} links (reached {path})")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {raw[exc.start]:#04x}); "
                          "TOML files are UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    files = [path]
    base = doc.pop("base", None)
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: key 'base': expected str (a config name or path), got {type(base).__name__}")
        base_path = _resolve(base, relative_to=path.parent)
        base_doc, base_files = _read_document(base_path, (*chain, path))
        base_doc.pop("name", None)  # a derived config must name itself
        base_doc.pop("description", None)
        doc = _merge(base_doc, doc)
        files = base_files + files
    return doc, files


def _schema_for_kind(kind: str, where: str):
    root = _schema.schema_for(kind)
    if root is None:
        try:
            importlib.import_module(_KIND_SCHEMAS.get(kind, f"sparsesim.arch.{kind}"))
        except ModuleNotFoundError:
            pass
        root = _schema.schema_for(kind)
    if root is None:
        kinds = ", ".join(sorted(_schema.registered_kinds()))
        raise ConfigError(f"{where}: key 'kind': unknown architecture kind {kind!r}; expected one of: {kinds}")
    return root


def _type_name(tp, meta) -> str:
    if tp is dict:
        vt = meta.get("value_type", object)
        return f"table of {getattr(vt, '__name__', vt)}"
    if tp is tuple:
        it = meta.get("item_type")
        return f"array of {it.__name__ if it else 'values'}"
    if dataclasses.is_dataclass(tp):
        return f"table ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _check_scalar(value, tp, key, where, bounds=None):
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif tp is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - schema error
        raise TypeError(f"unsupported schema type {tp!r} for {key}")
    if not ok:
        raise ConfigError(
            f"{where}: key '{key}': expected {tp.__name__}, got {type(value).__name__} {value!r}"
        )
    if tp in (int, float):
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{where}: key '{key}': expected a positive, finite {tp.__name__}, got {value!r}")
        lo, hi = bounds or ((1, INT_MAX) if tp is int else (FLOAT_MIN, FLOAT_MAX))
        if not lo <= value <= hi:
            raise ConfigError(f"{where}: key '{key}': {value!r} is outside what the model takes ({lo:g} .. {hi:g})")
    return value


def _build(cls, data, prefix: str, where: str):
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: key '{prefix.rstrip('.') or '<root>'}': expected table ({cls.__name__}), got {type(data).__name__}"
        )
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name != "source"]
    names = {f.name for f in fields}
    for k in data:
        if k not in names:
            raise ConfigError(
                f"{where}: unknown key '{prefix}{k}'; expected one of: {', '.join(sorted(names))}"
            )
    kwargs = {}
    for f in fields:
        key = prefix + f.name
        tp = hints[f.name]
        meta = dict(f.metadata)
        if f.name not in data:
            if f.default is not dataclasses.MISSING:
                continue
            raise ConfigError(
                f"{where}: missing key '{key}' ({_type_name(tp, meta)}: {meta.get('doc', '')})"
            )
        value = data[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, value, key + ".", where)
        elif tp is dict:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: key '{key}': expected {_type_name(tp, meta)}, got {type(value).__name__}"
                )
            allowed = meta.get("allowed_keys")
            vt = meta.get("value_type", float)
            out = {}
            for kk, vv in value.items():
                if allowed is not None and kk not in allowed:
                    raise ConfigError(
                        f"{where}: unknown key '{key}.{kk}'; expected one of: {', '.join(allowed)}"
                    )
                out[kk] = _check_scalar(vv, vt, f"{key}.{kk}", where, meta.get("range"))
            if not out:
                raise ConfigError(f"{where}: key '{key}': expected a non-empty {_type_name(tp, meta)}")
            kwargs[f.name] = out
        elif tp is tuple:
            it = meta.get("item_type")
            if not isinstance(value, list) or not value:
                raise ConfigError(
                    f"{where}: key '{key}': expected a non-empty {_type_name(tp, meta)}, got {type(value).__name__}"
                )
            kwargs[f.name] = tuple(_build(it, v, f"{key}[{i}].", where) for i, v in enumerate(value))
        else:
            kwargs[f.name] = _check_scalar(value, tp, key, where, meta.get("range"))
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if callable(check):
        check(where)
    return obj


def build_arch(doc: dict, where: str, source: str = ""):
    """Validate a merged raw document and build the typed arch object of its kind."""
    if not isinstance(doc.get("kind"), str):
        if "kind" not in doc:
            raise ConfigError(f"{where}: missing key 'kind' (str: schema kind, e.g. 'gpu')")
        raise ConfigError(f"{where}: key 'kind': expected str, got {type(doc['kind']).__name__}")
    root = _schema_for_kind(doc["kind"], where)
    obj = _build(root, doc, "", where)
    if source and "source" in {f.name for f in dataclasses.fields(root)}:
        obj = dataclasses.replace(obj, source=source)
    return obj


_CACHE: dict = {}


def load_arch(name_or_path):
    """Load an architecture by config name (``"a100"``), file path, or pass an arch object through.

    Raises :class:`ConfigError` naming the file, the key and the expected type when
    the config is malformed.
    """
    if dataclasses.is_dataclass(name_or_path) and not isinstance(name_or_path, type):
        return name_or_path
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ConfigError(
            f"architecture must be a config name, a path or a loaded arch, got {type(name_or_path).__name__}"
        )
    path = _resolve(name_or_path)
    doc, files = _read_document(path)
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files)
    hit = _CACHE.get(stamp)
    if hit is not None:
        return hit
    where = str(path) if len(files) == 1 else f"{path} (with base {', '.join(str(p) for p in files[:-1])})"
    if "name" not in doc:
        doc["name"] = path.stem
    obj = build_arch(doc, where, source=str(path))
    _CACHE[stamp] = obj
    return obj


def arch_to_dict(arch) -> dict:
    """Plain nested dict of an arch object (tuples of tables become lists)."""

    def conv(v):
        if dataclasses.is_dataclass(v):  # optional tables and keys left unset stay absent
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v) if getattr(v, f.name) is not None}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(arch)


def _plain(value):
    """numpy scalars as the Python numbers a TOML file would give."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value) is not int \
            and type(value).__module__ == "numpy":
        return int(value)
    if isinstance(value, numbers.Real) and type(value) is not float and type(value).__module__ == "numpy" \
            and not isinstance(value, numbers.Integral):
        return float(value)
    return value


def _put_override(table: dict, path: list, value, where: str) -> None:
    """Set the key ``path[-1]`` of ``table`` (reached by ``path[:-1]``) to ``value``; tables
    given twice (``"sm.count"`` and ``{"sm": {...}}``) merge, a key given twice is an error."""
    key = path[-1]
    if key not in table:
        table[key] = value
    elif isinstance(table[key], dict) and isinstance(value, dict):
        for k, v in value.items():
            _put_override(table[key], path + [k], v, where)
    else:
        raise ConfigError(f"{where}: key {'.'.join(path)!r} is given twice; give each key once")


def derive(arch, overrides: dict, name: str | None = None):
    """A new arch: ``arch`` (name, path or object) with ``overrides`` applied and re-validated.

    ``overrides`` maps dotted keys to values (``{"dram.bandwidth_gbps": 1000.0}``) or
    holds nested tables; the result is validated like a file.
    """
    base = load_arch(arch)
    if not isinstance(overrides, dict):
        raise ConfigError(f"overrides must be a dict of dotted keys to values, got {type(overrides).__name__}")
    doc = arch_to_dict(base)
    doc.pop("source", None)
    nested: dict = {}
    for key, value in overrides.items():
        parts = key.split(".") if isinstance(key, str) else [""]
        if not all(parts):
            raise ConfigError(f"overrides of {base.name}: key {key!r} is not a dotted config key like 'sm.count'")
        cur = nested
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
            if not isinstance(cur, dict):
                raise ConfigError(f"overrides of {base.name}: key {key!r} goes inside {p!r}, which is set to a value")
        _put_override(cur, parts, _plain(value), f"overrides of {base.name}")
    doc = _merge(doc, nested)
    doc["name"] = name or f"{base.name}+" + ",".join(f"{k}={v}" for k, v in overrides.items())
    return build_arch(doc, f"overrides of {base.name}", source=getattr(base, "source", ""))
