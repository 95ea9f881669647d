"""Parameter grids: ``sweep --set KEY=VALUES``, one derived design per combination.

A grid maps dotted arch keys (``tensor_core.index_scheme``, ``dram.bandwidth_gbps``) to the
values each takes: a comma list (``ordered,crossbar``) or, for numeric keys, an inclusive
range ``START:STOP:STEP`` (``1000:4000:500``).  Values are typed by the field of the arch
schema the key names (int, float, str, bool).  The sweep runs the Cartesian product over all
keys on every arch: each combination is applied to the arch with
:func:`sparsesim.arch.derive` and validated by the same schema as a config file, before
any point runs.

Every failure is an :class:`~sparsesim.errors.InputError` naming the flag and the key: an
unknown key (with the closest valid ones), a value of the wrong type, NaN or infinite, a
range on a non-numeric key, or a derived design that cannot work (with the schema's reason).
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import os
import re
import typing
from dataclasses import dataclass

from ..errors import ConfigError, InputError

# Limits that keep a typo (a tiny STEP) from planning millions of designs.
MAX_VALUES_PER_KEY = 1000
MAX_DESIGNS = 10000
TOP_LEVEL = ("name", "kind", "description", "source", "base")
_INT = re.compile(r"[+-]?\d+")
_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False}


@dataclass(frozen=True)
class Design:
    """One arch of a sweep: a config name/path or an arch object, with the varied values applied.

    ``arch``: the name in the results' ``arch`` column; ``params``: ``{key: value}`` varied
    from that arch (the ``params`` column); ``loaded``: the validated arch object.
    """

    arch: str
    params: dict
    loaded: object
    source: object  # the name/path or object the design was derived from


def schema_keys(root) -> dict:
    """``{dotted key: (type, doc)}`` of every scalar a ``--set`` may vary in the arch schema
    ``root`` (a dataclass), including the keys of tables with named entries
    (``tensor_core.dense_macs_per_cycle.fp16``).  Arrays of tables are left out."""
    out = {}

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if not prefix and f.name in TOP_LEVEL:
                continue
            tp, meta, key = hints[f.name], dict(f.metadata), prefix + f.name
            if dataclasses.is_dataclass(tp):
                walk(tp, key + ".")
            elif tp is dict:
                for sub in meta.get("allowed_keys") or ():
                    out[f"{key}.{sub}"] = (meta.get("value_type", float), meta.get("doc", ""))
            elif tp in (int, float, str, bool):
                out[key] = (tp, meta.get("doc", ""))

    walk(root, "")
    return out


def _array_tables(root) -> list:
    """Dotted keys of the arrays of tables (``tiles.candidates``)."""
    out = []

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, prefix + f.name + ".")
            elif tp is tuple:
                out.append(prefix + f.name)

    walk(root, "")
    return out


def _free_tables(root) -> dict:
    """``{dotted key: value type}`` of tables with free keys (``technology.energy_pj``)."""
    out = {}

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp, meta = hints[f.name], dict(f.metadata)
            if dataclasses.is_dataclass(tp):
                walk(tp, prefix + f.name + ".")
            elif tp is dict and not meta.get("allowed_keys"):
                out[prefix + f.name] = meta.get("value_type", float)

    walk(root, "")
    return out


def key_type(root, key: str, flag: str, what: str = "") -> type:
    """The type of ``key`` in the schema ``root`` (of the arch ``what``); unknown keys name the
    closest valid ones."""
    keys = schema_keys(root)
    if key in keys:
        return keys[key][0]
    table, _, sub = key.rpartition(".")
    free = _free_tables(root)
    if table in free and sub:
        return free[table]
    kind = what or getattr(root, "__name__", "arch")
    tables = sorted({k.split(".")[0] for k in keys})
    if key in tables or any(k.startswith(key + ".") for k in keys):
        inner = sorted(k for k in keys if k.startswith(key + "."))[:8]
        raise InputError(f"{flag}: '{key}' is a table, not a value; name one of its keys, e.g. "
                         f"{', '.join(inner)}")
    arrays = _array_tables(root)
    if key in arrays or any(key.startswith(a + ".") or key.startswith(a + "[") for a in arrays):
        raise InputError(f"{flag}: '{key}' is an array of tables, which --set cannot vary; write a config "
                         "with `base = ...` and the array you want instead")
    siblings = [k for k in keys if k.rpartition(".")[0] == table]
    if siblings:  # a known table: the closest of its own keys
        leaves = {k.rpartition(".")[2]: k for k in siblings}
        close = [leaves[x] for x in difflib.get_close_matches(sub, list(leaves), n=3, cutoff=0.6)]
    else:
        close = difflib.get_close_matches(key, list(keys), n=3, cutoff=0.6)
        if not close:  # a known key under a misspelt or missing table
            leaves = [k for k in keys if k.rpartition(".")[2] in
                      difflib.get_close_matches(key.rpartition(".")[2], [k.rpartition(".")[2] for k in keys],
                                                n=3, cutoff=0.6)]
            close = leaves[:3]
    hint = f"closest: {', '.join(close)}" if close else f"keys live in the tables {', '.join(tables)}"
    raise InputError(f"{flag}: unknown key '{key}' for {kind}; {hint}")


def _finite(value, flag, key):
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{flag}: {key} = {value!r} is not a finite number")
    return value


def _scalar(text: str, tp: type, flag: str, key: str):
    """One value of ``key`` from its text."""
    t = text.strip()
    if not t:
        raise InputError(f"{flag}: empty value for {key}")
    if tp is bool:
        if t.lower() not in _BOOLS:
            raise InputError(f"{flag}: {key} is a bool; {t!r} is not one of true, false")
        return _BOOLS[t.lower()]
    if tp is int:
        if not _INT.fullmatch(t):
            raise InputError(f"{flag}: {key} is an int; {t!r} is not an integer")
        return int(t)
    if tp is float:
        try:
            value = float(t)
        except ValueError:
            raise InputError(f"{flag}: {key} is a float; {t!r} is not a number") from None
        return _finite(value, flag, key)
    return t


def _range(text: str, tp: type, flag: str, key: str) -> list:
    parts = text.split(":")
    if tp not in (int, float):
        raise InputError(f"{flag}: a range START:STOP:STEP needs a numeric key; {key} is a "
                         f"{tp.__name__} (list its values with commas)")
    if len(parts) != 3:
        raise InputError(f"{flag}: {text!r} is not a range START:STOP:STEP for {key}")
    start, stop, step = (_scalar(p, tp, flag, key) for p in parts)
    if not step > 0 or stop < start:
        raise InputError(f"{flag}: range {text!r} of {key} needs STEP > 0 and STOP >= START")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > MAX_VALUES_PER_KEY:
        raise InputError(f"{flag}: range {text!r} of {key} has {count} values; at most "
                         f"{MAX_VALUES_PER_KEY} per key")
    if tp is int:
        return list(range(start, stop + 1, step))
    return [round(start + i * step, 10) for i in range(count)]


def parse_values(spec, tp: type, flag: str, key: str) -> list:
    """Typed values of ``key`` from a ``--set`` value text (list or range), one Python value,
    or a list of Python values / texts."""
    if isinstance(spec, str):
        if tp in (int, float) and ":" in spec:
            values = _range(spec, tp, flag, key)
        else:
            values = [_scalar(t, tp, flag, key) for t in spec.split(",")]
    elif isinstance(spec, (list, tuple)):
        values = []
        for v in spec:
            values.extend(parse_values(v, tp, flag, key) if isinstance(v, str) else [_python(v, tp, flag, key)])
    else:
        values = [_python(spec, tp, flag, key)]
    if not values:
        raise InputError(f"{flag}: no value given for {key}")
    if len(values) > MAX_VALUES_PER_KEY:
        raise InputError(f"{flag}: {len(values)} values for {key}; at most {MAX_VALUES_PER_KEY} per key")
    return list(dict.fromkeys(values))


def _python(value, tp, flag, key):
    """A value given from Python, checked against the key's type."""
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}[tp](value)
    if not ok:
        raise InputError(f"{flag}: {key} is a {tp.__name__}; got {type(value).__name__} {value!r}")
    return _finite(float(value), flag, key) if tp is float else value


def parse_set(text: str) -> tuple[str, str]:
    """``"KEY=VALUES"`` -> (key, values text)."""
    key, sep, values = str(text).partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"--set {text!r}: expected KEY=VALUES, e.g. --set dram.bandwidth_gbps=1000:4000:500")
    return key, values


def normalize_params(params) -> dict:
    """``--set`` texts (a list of ``"KEY=VALUES"``) or a ``{key: values}`` mapping -> ``{key: (flag, spec)}``."""
    if not params:
        return {}
    out = {}
    if isinstance(params, dict):
        for key, spec in params.items():
            out[str(key)] = (f"params[{key!r}]", spec)
        return out
    if isinstance(params, str):
        params = [params]
    for text in params:
        key, values = parse_set(text)
        if key in out:
            raise InputError(f"--set {key}: given twice; list its values in one --set (comma list or range)")
        out[key] = (f"--set {key}={values}", values)
    return out


def arch_label(arch) -> str:
    """The ``arch`` column of a name, path or arch object."""
    if isinstance(arch, (str, os.PathLike)):
        return os.fspath(arch)
    return getattr(arch, "name", None) or str(arch)


def expand(archs, params=None) -> list[Design]:
    """The designs of a sweep: every arch (name, path or object) times the Cartesian product
    of ``params`` (``--set`` texts or ``{key: values}``), each derived and validated.

    Arch objects given without ``params`` carry, as their varied values, the scalar keys in
    which they differ from the other arch objects of the list (e.g. a list of ``derive``\\ d
    variants), so their rows get those columns too.
    """
    from ..arch import derive, load_arch

    spec = normalize_params(params)
    loaded = []
    for a in archs:
        try:
            loaded.append(load_arch(a))
        except ConfigError:
            loaded.append(None)  # reported by its points, as a sweep over named archs always did
    designs = []
    typed = {}
    for arch, obj in zip(archs, loaded):
        if not spec:
            designs.append(Design(arch_label(arch), {}, obj, arch))
            continue
        if obj is None:
            load_arch(arch)  # raises the loader's message: a grid needs its base arch
        root = type(obj)
        values = {}
        for key, (flag, text) in spec.items():
            tp = key_type(root, key, flag, f"{arch_label(arch)} (kind {obj.kind})")
            values[key] = parse_values(text, tp, flag, key)
            typed.setdefault(key, (flag, tp))
        count = math.prod(len(v) for v in values.values())
        if count * len(archs) > MAX_DESIGNS:
            raise InputError(f"--set: {count} combinations x {len(archs)} archs = {count * len(archs)} designs; "
                             f"at most {MAX_DESIGNS}")
        for combo in itertools.product(*values.values()):
            over = dict(zip(values, combo))
            designs.append(Design(arch_label(arch), over, _derived(derive, arch, obj, over, spec), arch))
    if not spec:
        designs = _object_differences(designs)
    return designs


def _derived(derive, arch, obj, over, spec):
    """``derive(arch, over)``, or an InputError naming the flags and the schema's reason."""
    flags = " ".join(spec[k][0] for k in over)
    shown = ", ".join(f"{k}={v}" for k, v in over.items())
    try:
        design = derive(obj, over)
        _check_datapath(design)
    except ConfigError as exc:
        reason = str(exc)
        prefix = f"overrides of {obj.name}: "
        reason = reason[len(prefix):] if reason.startswith(prefix) else reason
        raise InputError(f"{flags}: the design {arch_label(arch)} with {shown} is refused: {reason}") from None
    return design


def _check_datapath(arch) -> None:
    """The sparse datapath a GPU design derives (mux fan-in, decoder width) must exist."""
    if getattr(arch, "tensor_core", None) is not None and hasattr(arch.tensor_core, "index_scheme"):
        from ..arch.datapath import sparse_datapath

        sparse_datapath(arch)


def flat_scalars(obj, prefix="") -> dict:
    """``{dotted key: value}`` of the scalar leaves of an arch object (tables of named entries
    included, arrays of tables left out)."""
    out = {}
    for f in dataclasses.fields(obj):
        if not prefix and f.name in TOP_LEVEL:
            continue
        v = getattr(obj, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(v):
            out.update(flat_scalars(v, key + "."))
        elif isinstance(v, dict):
            out.update({f"{key}.{k}": x for k, x in v.items() if isinstance(x, (int, float, str, bool))})
        elif isinstance(v, (int, float, str, bool)):
            out[key] = v
    return out


def _object_differences(designs):
    objs = [d for d in designs if d.loaded is not None and not isinstance(d.source, (str, os.PathLike))]
    if len(objs) < 2:
        return designs
    flats = {id(d): flat_scalars(d.loaded) for d in objs}
    keys = set().union(*flats.values())
    varied = sorted(k for k in keys if len({repr(f.get(k)) for f in flats.values()}) > 1)
    return [dataclasses.replace(d, params={k: flats[id(d)].get(k) for k in varied if flats[id(d)].get(k) is not None})
            if id(d) in flats else d for d in designs]
