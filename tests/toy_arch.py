"""A minimal non-GPU architecture description for tests of the kind registry."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ToyCore:
    lanes: int = field(metadata={"doc": "lanes"})


@dataclass(frozen=True)
class ToyArch:
    name: str = field(metadata={"doc": "name"})
    kind: str = field(metadata={"doc": "kind"})
    description: str = field(metadata={"doc": "d"})
    core: ToyCore = field(metadata={"doc": "core"})
    source: str = ""
