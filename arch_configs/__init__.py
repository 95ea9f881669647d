"""Built-in architecture configs (``*.toml``), shipped as ``sparsesim.arch.configs``.

This folder is package data: setup.py maps it into the package and the loader finds it
with importlib.resources. User configs go in the folders of ``$SPARSESIM_ARCH_PATH``
(or ``sparsesim --arch-path DIR``), which add to these.
"""
