"""Workload files in TOML: ``[[layers]]`` tables of ``op = "conv2d"``, ``"linear"`` or ``"gemm"``.

* ``op = "conv2d"`` layers become their implicit GEMM: ``m = out_channels``,
  ``k = in_channels * kernel_h * kernel_w`` and ``n = batch * out_h * out_w`` with
  ``out = floor((in + 2 * padding - kernel) / stride) + 1`` per spatial axis.
* ``op = "linear"`` layers: ``m = out_features``, ``k = in_features`` and
  ``n = batch * seq_len`` (tokens; ``seq_len`` defaults to 1, so a CNN's FC layer
  gets ``n = batch``).
* ``op = "gemm"`` layers give ``m``, ``n`` and ``k`` themselves (``batch`` does not
  scale them); ``prunable = false`` marks a GEMM whose A is an activation (run dense).

Any layer may name its ``dtype`` (else the sweep's).  The loader checks every key like a
config loader: an unknown key, a missing key or a value of the wrong type raises
:class:`~sparsesim.errors.ConfigError` naming the file, the key and what was expected.
"""

from __future__ import annotations

from pathlib import Path

from .._toml import tomllib
from ..errors import ConfigError
from ..formats._arrays import DTYPE_BYTES
from ..io import read_text
from .model import Layer, Workload, check_layers

# key -> (python types accepted, description of the expected type, required?)
_TOP_KEYS = {
    "name": ((str,), "string", True),
    "description": ((str,), "string", True),
    "sources": ((list,), "list of strings (papers / model configs the shapes come from)", True),
    "batch": ((int,), "positive integer", False),
    "seq_len": ((int,), "positive integer", False),
    "layers": ((list,), "array of [[layers]] tables", True),
}
_COMMON_LAYER_KEYS = {
    "name": ((str,), "string", True),
    "op": ((str,), "string, one of 'conv2d', 'gemm', 'linear'", True),
    "repeat": ((int,), "positive integer", False),
    "dtype": ((str,), "string (element type, e.g. 'fp16')", False),
}
_OP_KEYS = {
    "conv2d": {
        "in_channels": ((int,), "positive integer", True),
        "out_channels": ((int,), "positive integer", True),
        "kernel": ((int, list), "positive integer or [kh, kw]", True),
        "stride": ((int, list), "positive integer or [sh, sw]", False),
        "padding": ((int, list), "non-negative integer or [ph, pw]", False),
        "input_hw": ((list,), "[in_h, in_w] of positive integers", True),
    },
    "linear": {
        "in_features": ((int,), "positive integer", True),
        "out_features": ((int,), "positive integer", True),
    },
    "gemm": {
        "m": ((int,), "positive integer (rows of A and C)", True),
        "n": ((int,), "positive integer (columns of B and C)", True),
        "k": ((int,), "positive integer (the reduction axis)", True),
        "prunable": ((bool,), "boolean (false: A is an activation, run dense)", False),
    },
}


def check_batch(batch, path) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch override for {Path(path).name} must be a positive integer, got {batch!r}")
    return batch


def _type_ok(value, types) -> bool:
    # bool is an int subclass; a TOML `true` is never a valid count.
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _check_keys(table: dict, spec: dict, where: str, path: Path) -> None:
    for key in table:
        if key not in spec:
            raise ConfigError(
                f"{path}: {where}unknown key {key!r}; expected one of {', '.join(sorted(spec))}"
            )
    for key, (types, expected, required) in spec.items():
        if key not in table:
            if required:
                raise ConfigError(f"{path}: {where}missing key {key!r} ({expected})")
            continue
        if not _type_ok(table[key], types):
            raise ConfigError(
                f"{path}: {where}key {key!r} must be a {expected}, got {type(table[key]).__name__} {table[key]!r}"
            )


def _positive(value, key, where, path, allow_zero=False) -> int:
    lo = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        kind = "non-negative" if allow_zero else "positive"
        raise ConfigError(f"{path}: {where}key {key!r} must be a {kind} integer, got {value!r}")
    return value


def _pair(value, key, where, path, allow_zero=False) -> tuple[int, int]:
    if isinstance(value, list):
        if len(value) != 2:
            raise ConfigError(
                f"{path}: {where}key {key!r} must be an integer or a list of 2 integers, got {value!r}"
            )
        return (
            _positive(value[0], key, where, path, allow_zero),
            _positive(value[1], key, where, path, allow_zero),
        )
    v = _positive(value, key, where, path, allow_zero)
    return v, v


def conv_output_hw(input_hw, kernel, stride, padding) -> tuple[int, int]:
    """Output height and width of a convolution (floor division, no dilation)."""
    return tuple(
        (i + 2 * p - kk) // s + 1 for i, kk, s, p in zip(input_hw, kernel, stride, padding)
    )


def _build_layer(t: dict, index: int, batch: int, seq_len: int, path: Path) -> Layer:
    where = f"layers[{index}]: "
    if "op" in t and t["op"] not in _OP_KEYS and isinstance(t["op"], str):
        raise ConfigError(
            f"{path}: {where}key 'op' is {t['op']!r}; expected one of {', '.join(sorted(_OP_KEYS))}"
        )
    op = t.get("op")
    spec = dict(_COMMON_LAYER_KEYS)
    if isinstance(op, str):
        spec.update(_OP_KEYS[op])
    _check_keys(t, spec, where, path)
    name = t["name"]
    where = f"layers[{index}] ({name}): "
    repeat = _positive(t.get("repeat", 1), "repeat", where, path)
    if op == "conv2d":
        cin = _positive(t["in_channels"], "in_channels", where, path)
        cout = _positive(t["out_channels"], "out_channels", where, path)
        kernel = _pair(t["kernel"], "kernel", where, path)
        stride = _pair(t.get("stride", 1), "stride", where, path)
        padding = _pair(t.get("padding", 0), "padding", where, path, allow_zero=True)
        input_hw = _pair(t["input_hw"], "input_hw", where, path)
        out_hw = conv_output_hw(input_hw, kernel, stride, padding)
        if min(out_hw) < 1:
            raise ConfigError(
                f"{path}: {where}kernel {kernel} with padding {padding} does not fit input {input_hw}"
            )
        m, k, n = cout, cin * kernel[0] * kernel[1], batch * out_hw[0] * out_hw[1]
        params = {
            "in_channels": cin, "out_channels": cout, "kernel": kernel, "stride": stride,
            "padding": padding, "input_hw": input_hw, "output_hw": out_hw,
        }
    elif op == "gemm":
        m, n, k = (_positive(t[key], key, where, path) for key in ("m", "n", "k"))
        params = {}
    else:
        fin = _positive(t["in_features"], "in_features", where, path)
        fout = _positive(t["out_features"], "out_features", where, path)
        m, k, n = fout, fin, batch * seq_len
        params = {"in_features": fin, "out_features": fout}
    dtype = t.get("dtype")
    if dtype is not None and dtype not in DTYPE_BYTES:
        raise ConfigError(f"{path}: {where}key 'dtype' is {dtype!r}; expected one of {', '.join(DTYPE_BYTES)}")
    return Layer(name=name, op=op, m=m, n=n, k=k, repeat=repeat, params=params,
                 prunable=t.get("prunable", True), dtype=dtype)


def load_toml(path, batch: int | None = None) -> Workload:
    """Load and validate a workload ``.toml`` file.

    ``batch`` replaces the file's ``batch`` (images, or sequences of ``seq_len``
    tokens) for every conv2d and linear layer."""
    path = Path(path)
    text = read_text(path, "workload", ConfigError)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # arrays nested thousands deep
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
    _check_keys(data, _TOP_KEYS, "", path)
    for i, s in enumerate(data["sources"]):
        if not isinstance(s, str):
            raise ConfigError(f"{path}: key 'sources' must be a list of strings; item {i} is {s!r}")
    if not data["sources"]:
        raise ConfigError(f"{path}: key 'sources' must name at least one source of the shapes")
    batch_in_file = _positive(data.get("batch", 1), "batch", "", path)
    if batch is None:
        batch = batch_in_file
    else:
        check_batch(batch, path)
    seq_len = _positive(data.get("seq_len", 1), "seq_len", "", path)
    if not data["layers"]:
        raise ConfigError(f"{path}: key 'layers' must hold at least one [[layers]] table")
    layers = []
    seen = set()
    for i, t in enumerate(data["layers"]):
        if not isinstance(t, dict):
            raise ConfigError(f"{path}: layers[{i}] must be a table, got {type(t).__name__}")
        layer = _build_layer(t, i, batch, seq_len, path)
        if layer.name in seen:
            raise ConfigError(f"{path}: layers[{i}]: duplicate layer name {layer.name!r}")
        seen.add(layer.name)
        layers.append(layer)
    check_layers(layers, str(path))
    return Workload(
        name=data["name"],
        description=data["description"],
        sources=tuple(data["sources"]),
        layers=tuple(layers),
        path=str(path),
        batch=batch,
    )
