"""Schema of ``kind = "cpu"`` architecture configs (x86 cores with AVX-512).

A CPU config describes one socket: the out-of-order core the port model runs
(issue width, reorder buffer, scheduler, the execution ports and, per instruction
form, which ports its micro-ops may use, how long each holds its port and the
result latency), the clocks per AVX-512 licence level, and the memory hierarchy
the whole-GEMM estimate streams operands from.

Instruction table entries are an array of tables::

    [[instructions]]
    op = "vpdpbusd_zmm"            # form name used by sparsesim.cpu.microkernels
    uops = "p0|p5"                 # '+' separates micro-ops, '|' alternative ports,
                                   # '*2' after a port set: the uop holds the port 2 cycles
    latency_cycles = 5             # sources ready -> result ready
    cite = "uops.info CLX ..."     # where the numbers come from

The module registers itself with the arch loader (``register_kind("cpu", ...)``; the loader
imports it for ``kind = "cpu"``);
``load_arch("xeon-8280")`` returns a :class:`CpuArch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..arch.schema import doc, register_kind

_PORT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Uop:
    """One micro-op: the ports it may issue to and the cycles it holds one of them."""

    ports: tuple
    occupancy: int = 1


@dataclass(frozen=True)
class CpuInstruction:
    op: str = field(metadata=doc("instruction form name (see sparsesim.cpu.microkernels)"))
    uops: str = field(metadata=doc("micro-ops: 'p0|p5', 'p2|p3 + p5', 'FP0|FP1*2' (held 2 cycles)"))
    latency_cycles: int = field(metadata=doc("cycles from sources ready to result ready"))
    cite: str = field(metadata=doc("source of the numbers (table, measurement) or 'assumption: why'"))

    def parsed_uops(self) -> tuple:
        out = []
        for part in self.uops.split("+"):
            part = part.strip()
            occ = 1
            if "*" in part:
                part, _, o = part.partition("*")
                occ = int(o)
            ports = tuple(p.strip() for p in part.split("|") if p.strip())
            out.append(Uop(ports=ports, occupancy=occ))
        return tuple(out)

    def check(self, where: str) -> None:
        if not self.uops.strip():
            raise ConfigError(f"{where}: instruction {self.op!r}: key 'uops' is empty")
        for part in self.uops.split("+"):
            part = part.strip()
            body, star, occ = part.partition("*")
            if star and not (occ.strip().isdigit() and int(occ) >= 1):
                raise ConfigError(
                    f"{where}: instruction {self.op!r}: key 'uops': bad occupancy in {part!r} "
                    "(expected PORTS*N with N a positive integer)"
                )
            ports = [p.strip() for p in body.split("|")]
            if not ports or not all(_PORT_RE.match(p) for p in ports):
                raise ConfigError(
                    f"{where}: instruction {self.op!r}: key 'uops': bad port set {part!r} "
                    "(expected names separated by '|', e.g. 'p0|p5')"
                )


@dataclass(frozen=True)
class CpuCore:
    count: int = field(metadata=doc("cores per socket"))
    ports: str = field(metadata=doc("execution port names, space separated"))
    issue_width: int = field(metadata=doc("micro-ops renamed/allocated into the back end per cycle"))
    retire_width: int = field(metadata=doc("micro-ops retired per cycle"))
    rob_entries: int = field(metadata=doc("reorder-buffer entries"))
    scheduler_entries: int = field(metadata=doc("micro-ops waiting for a port (reservation stations)"))
    fma512_units: int = field(metadata=doc("512-bit FMA units per core (1 or 2)"))
    isa: str = field(metadata=doc("AVX-512 extensions (cpuinfo flag names), space separated"))

    def port_list(self) -> tuple:
        return tuple(self.ports.split())

    def isa_set(self) -> frozenset:
        return frozenset(self.isa.split())

    def check(self, where: str) -> None:
        ports = self.port_list()
        if len(set(ports)) != len(ports) or not ports:
            raise ConfigError(f"{where}: key 'core.ports': expected distinct port names, got {self.ports!r}")


@dataclass(frozen=True)
class CpuClock:
    base_ghz: float = field(metadata=doc("base clock, no AVX (licence 0)"))
    avx512_base_ghz: float = field(metadata=doc("guaranteed clock under heavy AVX-512 (licence 2), all cores"))
    avx512_all_core_turbo_ghz: float = field(metadata=doc("all-core turbo under heavy AVX-512 (licence 2)"))
    max_turbo_ghz: float = field(metadata=doc("single-core maximum turbo"))


@dataclass(frozen=True)
class CpuMemory:
    l1d_kib: int = field(metadata=doc("L1 data cache per core"))
    l2_kib: int = field(metadata=doc("L2 per core"))
    l3_mib: float = field(metadata=doc("L3 per socket"))
    l1_load_bytes_per_cycle: int = field(metadata=doc("L1 load bandwidth per core"))
    l2_bytes_per_cycle: int = field(metadata=doc("L2 -> L1 fill bandwidth per core (sustained)"))
    dram_channels: int = field(metadata=doc("DRAM channels per socket"))
    dram_mts: int = field(metadata=doc("DRAM transfer rate, MT/s (8 bytes per transfer per channel)"))
    dram_efficiency: float = field(metadata=doc("achievable fraction of peak DRAM bandwidth (STREAM-like)"))

    @property
    def dram_gbps(self) -> float:
        """Peak DRAM bandwidth per socket, 1e9 bytes/s."""
        return self.dram_channels * self.dram_mts * 8 / 1000.0


@dataclass(frozen=True)
class CpuArch:
    """Root of a ``kind = "cpu"`` config."""

    name: str = field(metadata=doc("short name"))
    kind: str = field(metadata=doc("schema kind: cpu"))
    description: str = field(metadata=doc("product the numbers describe"))
    vendor: str = field(metadata=doc("intel or amd"))
    microarchitecture: str = field(metadata=doc("core microarchitecture"))
    llvm_mcpu: str = field(metadata=doc("llvm-mca -mcpu value for the same core"))
    core: CpuCore = field(metadata=doc("out-of-order core"))
    clock: CpuClock = field(metadata=doc("clocks per AVX-512 licence level"))
    memory: CpuMemory = field(metadata=doc("caches and DRAM"))
    instructions: tuple = field(metadata=doc("per instruction form: ports, latency", item_type=CpuInstruction))
    source: str = field(default="", metadata=doc("file the config was loaded from (set by the loader)"))

    def check(self, where: str) -> None:
        ports = set(self.core.port_list())
        seen = set()
        for ins in self.instructions:
            if ins.op in seen:
                raise ConfigError(f"{where}: key 'instructions': form {ins.op!r} listed twice")
            seen.add(ins.op)
            for u in ins.parsed_uops():
                for p in u.ports:
                    if p not in ports:
                        raise ConfigError(
                            f"{where}: instruction {ins.op!r}: port {p!r} is not in core.ports "
                            f"({self.core.ports})"
                        )

    def instruction(self, op: str) -> CpuInstruction:
        for ins in self.instructions:
            if ins.op == op:
                return ins
        raise ConfigError(
            f"{self.source or self.name}: no entry for instruction form {op!r} in 'instructions'; "
            f"known: {', '.join(i.op for i in self.instructions)}"
        )

    def has_isa(self, *exts: str) -> bool:
        s = self.core.isa_set()
        return all(e in s for e in exts)


register_kind("cpu", CpuArch)


def load_cpu_arch(name_or_path) -> CpuArch:
    """Load a CPU config by name (``"xeon-8280"``) or path; error if it is not ``kind = "cpu"``."""
    from ..arch.load import load_arch

    arch = load_arch(name_or_path)
    if not isinstance(arch, CpuArch):
        raise ConfigError(
            f"architecture {getattr(arch, 'name', name_or_path)!r} is kind {getattr(arch, 'kind', '?')!r}; "
            "expected a kind = \"cpu\" config (e.g. xeon-8280, zen4-genoa)"
        )
    return arch


def cpu_archs() -> list:
    """Names of the CPU configs on the search path."""
    from .._toml import tomllib

    from ..arch.load import available_archs

    out = []
    for name, path in available_archs().items():
        try:
            with open(path, "rb") as f:
                if tomllib.load(f).get("kind") == "cpu":
                    out.append(name)
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return sorted(out)
