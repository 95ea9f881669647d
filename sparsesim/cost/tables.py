"""Technology tables: energy per primitive action and cell areas per process node.

A node table is a TOML file (package data in ``sparsesim/cost/tables/``, or any path).
The 45 nm table (``n45``) holds the published anchor numbers; a derived table names
its ``base`` and says how it scales, Accelergy-style, so tables compose like spec
fragments::

    node = "n7"
    base = "n45"
    vdd_v = 0.7                          # the node's nominal supply
    energy_vs_vdd = [a, b, c]            # F(V) = a V^2 + b V + c (Stillmaker & Baas 2017)
    delay_vs_vdd = [a, b, c, d]          # gate delay D(V) = a V^3 + b V^2 + c V + d (same source)
    area_scale = 0.0588                  # area relative to the base
    energy_scale = 1.0                   # extra energy factor relative to the base (optional)
    [energy_pj]                          # optional: entries that replace the scaled ones,
    [area_um2]                           # given at this node's vdd_v

Scaling rules (docs/energy.md): an energy moves from node X at supply Vx to node Y at
Vy as ``E_y = E_x * F_y(Vy) / F_x(Vx) * energy_scale``, ``F`` being the node's energy
polynomial (a node without one uses its base's); areas multiply by ``area_scale``.
Within a node, ``energy_pj(entry, vdd)`` follows ``F(vdd) / F(vdd_v)``.

DRAM interface energies (pJ/bit per memory technology) live in ``memory.toml``.
"""

from __future__ import annotations

from .._toml import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

TABLE_DIR = Path(__file__).resolve().parent / "tables"
MEMORY_FILE = "memory.toml"
_NODE_KEYS = ("node", "base", "description", "vdd_v", "energy_vs_vdd", "delay_vs_vdd", "area_scale",
              "energy_scale", "energy_pj", "area_um2")


@dataclass(frozen=True)
class NodeTable:
    """Primitive energies (pJ at ``vdd_v``) and areas (um^2) of one process node."""

    name: str
    description: str
    vdd_v: float
    energy_vs_vdd: tuple  # (a, b, c) of F(V) = a V^2 + b V + c
    energy_ref_pj: dict  # entry -> pJ per action at vdd_v
    area_um2: dict  # entry -> um^2
    chain: tuple  # table names from this node down to the anchor
    delay_vs_vdd: tuple = ()  # (a, b, c, d) of D(V) = a V^3 + b V^2 + c V + d; empty: none published

    def delay_factor(self, vdd: float) -> float:
        """Gate delay at ``vdd`` (relative units): the highest clock at ``vdd`` goes as its inverse."""
        a, b, c, d = self.delay_vs_vdd
        return ((a * vdd + b) * vdd + c) * vdd + d

    def energy_factor(self, vdd: float) -> float:
        a, b, c = self.energy_vs_vdd
        return a * vdd * vdd + b * vdd + c

    def voltage_scale(self, vdd: float) -> float:
        """Energy per action at ``vdd`` relative to the node's nominal supply."""
        return self.energy_factor(vdd) / self.energy_factor(self.vdd_v)

    def energy_pj(self, entry: str, vdd: float | None = None) -> float:
        e = self.energy_ref_pj[entry]
        return e if vdd is None else e * self.voltage_scale(vdd)

    def area(self, entry: str) -> float:
        return self.area_um2[entry]


def node_names() -> list:
    """Names of the packaged node tables."""
    return sorted(p.stem for p in TABLE_DIR.glob("*.toml") if p.name != MEMORY_FILE)


def _node_path(node: str) -> Path:
    s = str(node)
    if s.endswith(".toml") or "/" in s:
        p = Path(s)
        if not p.is_file():
            raise ConfigError(f"technology table file {s!r} does not exist")
        return p.resolve()
    p = TABLE_DIR / f"{s}.toml"
    if s == Path(MEMORY_FILE).stem or not p.is_file():
        raise ConfigError(f"unknown technology node {s!r}; expected a table file path or one of: "
                          f"{', '.join(node_names())}")
    return p


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    for k in doc:
        if k not in _NODE_KEYS:
            raise ConfigError(f"{path}: unknown key '{k}'; expected one of: {', '.join(_NODE_KEYS)}")
    return doc


def _positive(doc, key, path):
    v = doc[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise ConfigError(f"{path}: key '{key}': expected a positive number, got {v!r}")
    return float(v)


def _entries(doc, table, path):
    out = {}
    for k, v in doc.get(table, {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ConfigError(f"{path}: key '{table}.{k}': expected a positive number, got {v!r}")
        out[k] = float(v)
    return out


def _delay_polynomial(doc, path, vdd):
    poly = doc["delay_vs_vdd"]
    if not (isinstance(poly, list) and len(poly) == 4 and all(isinstance(x, (int, float)) for x in poly)):
        raise ConfigError(f"{path}: key 'delay_vs_vdd': expected [a, b, c, d] of D(V) = a V^3 + b V^2 + c V + d")
    poly = tuple(float(x) for x in poly)
    a, b, c, d = poly
    if not ((a * vdd + b) * vdd + c) * vdd + d > 0:
        raise ConfigError(f"{path}: key 'delay_vs_vdd': D(vdd_v) must be positive")
    return poly


def _polynomial(doc, path, vdd):
    poly = doc["energy_vs_vdd"]
    if not (isinstance(poly, list) and len(poly) == 3 and all(isinstance(x, (int, float)) for x in poly)):
        raise ConfigError(f"{path}: key 'energy_vs_vdd': expected [a, b, c] of F(V) = a V^2 + b V + c")
    poly = tuple(float(x) for x in poly)
    a, b, c = poly
    if not a * vdd * vdd + b * vdd + c > 0:
        raise ConfigError(f"{path}: key 'energy_vs_vdd': F(vdd_v) must be positive")
    return poly


@lru_cache(maxsize=None)
def _load_path(path: Path, chain: tuple = ()) -> NodeTable:
    if path in chain:
        raise ConfigError(f"{path}: 'base' chain loops: {' -> '.join(str(p) for p in (*chain, path))}")
    doc = _read(path)
    name = str(doc.get("node", path.stem))
    desc = str(doc.get("description", ""))
    if "base" not in doc:
        for key in ("vdd_v", "energy_vs_vdd"):
            if key not in doc:
                raise ConfigError(f"{path}: missing key '{key}' (an anchor table needs it)")
        vdd = _positive(doc, "vdd_v", path)
        delay = _delay_polynomial(doc, path, vdd) if "delay_vs_vdd" in doc else ()
        return NodeTable(name, desc, vdd, _polynomial(doc, path, vdd), _entries(doc, "energy_pj", path),
                         _entries(doc, "area_um2", path), (name,), delay)
    base_ref = str(doc["base"])
    if base_ref.endswith(".toml") and not Path(base_ref).is_absolute():
        base_ref = str(path.parent / base_ref)  # a table file next to this one
    base_path = _node_path(base_ref)
    base = _load_path(base_path, (*chain, path))
    vdd = _positive(doc, "vdd_v", path) if "vdd_v" in doc else base.vdd_v
    poly = _polynomial(doc, path, vdd) if "energy_vs_vdd" in doc else base.energy_vs_vdd
    delay = _delay_polynomial(doc, path, vdd) if "delay_vs_vdd" in doc else base.delay_vs_vdd
    escale = _positive(doc, "energy_scale", path) if "energy_scale" in doc else 1.0
    ascale = _positive(doc, "area_scale", path) if "area_scale" in doc else 1.0
    a, b, c = poly
    f_here = a * vdd * vdd + b * vdd + c
    transfer = f_here / base.energy_factor(base.vdd_v) * escale
    energy = {k: v * transfer for k, v in base.energy_ref_pj.items()}
    energy.update(_entries(doc, "energy_pj", path))
    area = {k: v * ascale for k, v in base.area_um2.items()}
    area.update(_entries(doc, "area_um2", path))
    return NodeTable(name, desc, vdd, poly, energy, area, (name, *base.chain), delay)


def load_node(node: str) -> NodeTable:
    """The table of ``node``: a packaged name (``node_names()``) or a path to a table file."""
    return _load_path(_node_path(node))


@lru_cache(maxsize=1)
def _memory_table() -> dict:
    path = TABLE_DIR / MEMORY_FILE
    with open(path, "rb") as f:
        return {k: float(v) for k, v in tomllib.load(f)["pj_per_bit"].items()}


def memory_names() -> list:
    return sorted(_memory_table())


def dram_pj_per_bit(memory: str) -> float:
    """Energy per bit moved to or from DRAM of technology ``memory`` (e.g. ``"hbm2e"``)."""
    table = _memory_table()
    if memory not in table:
        raise ConfigError(f"unknown DRAM technology {memory!r}; expected one of: {', '.join(sorted(table))}")
    return table[memory]
