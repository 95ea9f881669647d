"""Packaging of the built-in data.

The top-level ``arch_configs/`` and ``workloads/`` folders are the one source of the
built-in architecture configs and workloads.  They ship inside the package as
``sparsesim.arch.configs`` and ``sparsesim.workloads.builtin`` (mapped here with
``package_dir``; the loaders find them through ``importlib.resources``), so a wheel or
``pip install .`` works from any directory, and an editable install reads the folders
in place.  Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = {
    "sparsesim.arch.configs": "arch_configs",
    "sparsesim.workloads.builtin": "workloads",
}

setup(
    packages=find_packages(include=["sparsesim", "sparsesim.*"]) + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    # all package data is declared here: a [tool.setuptools.package-data] table in
    # pyproject.toml would replace this argument instead of adding to it
    package_data={
        **{name: ["*.toml", "*.csv", "*.json", "hf/*.json"] for name in DATA_PACKAGES},
        "sparsesim.cost": ["tables/*.toml"],
    },
)
