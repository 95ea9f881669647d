"""The built wheel carries every data file the package reads at run time.

A wheel install runs away from the checkout, so a config, workload or cost table left out
of the package data only shows there (``unknown architecture 'a100' ... (none found)``).
This builds the wheel from the source tree and compares its data files with the folders
they come from.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# source folder (relative to the repository) -> where its files land in the wheel
DATA = {
    "arch_configs": ("sparsesim/arch/configs", ("*.toml",)),
    "workloads": ("sparsesim/workloads/builtin", ("*.toml", "*.csv", "hf/*.json")),
    "sparsesim/cost/tables": ("sparsesim/cost/tables", ("*.toml",)),
}


def _clean_copy(dest: Path) -> Path:
    """The checkout's files (tracked, or new and not ignored) without build leftovers: a stale
    ``*.egg-info`` in the tree lists data files in its SOURCES.txt and would hide a missing
    package-data declaration."""
    proc = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                          capture_output=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    for name in filter(None, proc.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    pytest.importorskip("setuptools")
    src = _clean_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{proc.stderr[-2000:]}")
    (whl,) = out.glob("sparsesim-*.whl")
    with zipfile.ZipFile(whl) as z:
        return set(z.namelist())


@pytest.mark.parametrize("src", sorted(DATA))
def test_wheel_holds_every_data_file(wheel_names, src):
    dest, globs = DATA[src]
    files = sorted({p.relative_to(ROOT / src).as_posix() for g in globs for p in (ROOT / src).glob(g)})
    assert files, f"no data files found under {src}"
    missing = [f for f in files if f"{dest}/{f}" not in wheel_names]
    assert not missing, f"the wheel lacks {len(missing)} of {len(files)} files of {src}/: {missing[:5]}"


def test_toml_parser_comes_from_the_shim():
    """``tomllib`` is standard only from Python 3.11; the package supports 3.10 through
    ``sparsesim._toml`` (tomli there), so no other module may import it directly."""
    offenders = []
    for path in sorted((ROOT / "sparsesim").rglob("*.py")):
        if path.name == "_toml.py":
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            words = line.split()
            if words[:2] == ["import", "tomllib"] or words[:2] == ["from", "tomllib"]:
                offenders.append(f"{path.relative_to(ROOT)}:{no}")
    assert not offenders, f"import tomllib through sparsesim._toml: {offenders}"
