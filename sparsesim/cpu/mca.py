"""Running the port model on another tool's instruction tables, and llvm-mca itself.

Used to trace a disagreement between the model and llvm-mca to individual table
entries (docs/ports.md, tests/test_ports_mca.py).
"""

from __future__ import annotations

from ..errors import InputError


def with_instructions(arch, overrides: dict, name_suffix: str = "+overrides"):
    """A copy of CPU ``arch`` with instruction rows replaced.

    ``overrides`` maps an instruction form to ``(uops, latency_cycles)``; used to
    run the same engine on another tool's port tables (e.g. llvm-mca's) so that
    differences can be traced to individual table entries.
    """
    import dataclasses

    from .config import CpuInstruction, load_cpu_arch

    arch = load_cpu_arch(arch)
    rows = []
    seen = set()
    for ins in arch.instructions:
        if ins.op in overrides:
            uops, lat = overrides[ins.op]
            ins = CpuInstruction(op=ins.op, uops=uops, latency_cycles=int(lat), cite="override")
            seen.add(ins.op)
        rows.append(ins)
    for op, (uops, lat) in overrides.items():
        if op not in seen:
            rows.append(CpuInstruction(op=op, uops=uops, latency_cycles=int(lat), cite="override"))
    new = dataclasses.replace(arch, name=arch.name + name_suffix, instructions=tuple(rows))
    new.check(f"overrides of {arch.name}")
    return new


def llvm_mca_cycles(asm: str, mcpu: str, executable: str = "llvm-mca", iterations: int = 400) -> float:
    """Cycles per iteration llvm-mca predicts for the loop text ``asm`` (Intel syntax).

    Runs ``executable -mcpu=MCPU -iterations=N`` and returns Total Cycles / Iterations.
    Raises :class:`InputError` when llvm-mca fails or does not know ``mcpu``.
    """
    import re
    import subprocess

    try:
        out = subprocess.run(
            [executable, "-mtriple=x86_64-unknown-linux-gnu", f"-mcpu={mcpu}", f"-iterations={iterations}",
             "-timeline=false", "-resource-pressure=false", "-instruction-info=false"],
            input=asm, capture_output=True, text=True, timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run {executable}: {exc}") from None
    if out.returncode != 0 or "is not a recognized processor" in out.stderr:
        raise InputError(f"{executable} -mcpu={mcpu} failed: {out.stderr.strip()[-400:]}")
    it = re.search(r"Iterations:\s+(\d+)", out.stdout)
    cyc = re.search(r"Total Cycles:\s+(\d+)", out.stdout)
    if not it or not cyc:
        raise InputError(f"unexpected {executable} output: {out.stdout[:400]}")
    return int(cyc.group(1)) / int(it.group(1))
