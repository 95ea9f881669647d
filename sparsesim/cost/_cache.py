"""Results computed once per arch object, held only as long as the arch itself lives."""

from __future__ import annotations

import weakref

_STORE: dict = {}


def per_arch(arch, key, compute):
    """``compute()`` for ``(arch, key)``, cached until ``arch`` is garbage-collected.

    Arch objects are frozen dataclasses holding dicts (not hashable); entries are keyed by
    ``id(arch)`` and dropped by a weak-reference callback, so a sweep over many derived
    archs neither keeps them alive nor mixes them up.
    """
    slot = _STORE.get(id(arch))
    if slot is None or slot[0]() is not arch:
        ident = id(arch)
        slot = (weakref.ref(arch, lambda _ref: _STORE.pop(ident, None)), {})
        _STORE[ident] = slot
    values = slot[1]
    if key not in values:
        values[key] = compute()
    return values[key]
