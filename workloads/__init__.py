"""Built-in workloads (``*.toml``, ``*.csv``, ``hf/*.json``), shipped as ``sparsesim.workloads.builtin``.

This folder is package data: setup.py maps it into the package and the loader finds it
with importlib.resources. User workloads go in the folders of ``$SPARSESIM_WORKLOAD_PATH``
(or ``sparsesim --workload-path DIR``), which add to these.
"""
