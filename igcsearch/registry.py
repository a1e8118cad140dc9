"""The one registry of block families. A family bundles config, cost, conditions,
enumeration and (lazily) its torch module, all defined in ``igcsearch/families/<name>.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

# Condition columns every row carries (null where a condition does not apply to its family).
CONDITIONS = ("complementary", "balance", "wider", "acceleration", "compression", "divisible")


@dataclass(frozen=True)
class Family:
    """Everything igcsearch knows about one block family."""

    name: str  # registry name, e.g. "igc1"
    title: str  # paper / origin, one line
    config: type  # frozen BlockConfig subclass
    knobs: dict[str, str]  # knob name -> meaning (paper symbol)
    conditions: dict[str, str]  # condition column -> what it checks (others are null)
    layers: Callable[..., list]  # (cols) -> list[LayerCost], vectorised over rows
    check: Callable[..., dict]  # (cols) -> {condition: array}, vectorised
    enumerate: Callable[..., dict]  # (geo, limits) -> knob columns + "geo" index
    min_weights: Callable[..., Any]  # (C, S) -> lower bound on conv weights at width C (square)
    structure: Callable[..., tuple] | None = None  # (cols) -> (keys held fixed by --widest, eligible)
    square_only: bool = False  # family requires C_in == C_out
    build: Callable[..., Any] | None = None  # (config, **opts) -> torch nn.Module
    order: int = 100  # position in listings (baseline first)
    baseline: bool = False  # the reference row: listed whatever the budget (the regular conv)
    extra: dict[str, Any] = field(default_factory=dict)


REGISTRY: dict[str, Family] = {}


def knob_structure(*knobs: str) -> Callable[..., tuple]:
    """--widest structure that holds the given knobs fixed and lets the width grow."""

    def structure(cols: dict[str, Any]) -> tuple[Any, Any]:
        import numpy as np

        keys = np.stack([cols[k] for k in knobs], axis=1)
        return keys, np.ones(keys.shape[0], dtype=bool)

    return structure


def register(family: Family) -> Family:
    """Add a family; a duplicate name is an error, never a silent override."""
    if family.name in REGISTRY:
        raise ValueError(f"family {family.name!r} is already registered")
    REGISTRY[family.name] = family
    return family


def families() -> list[Family]:
    """Every registered family in listing order."""
    _load()
    return sorted(REGISTRY.values(), key=lambda f: (f.order, f.name))


def names() -> list[str]:
    """Registered family names in listing order."""
    return [f.name for f in families()]


def get_family(name: str) -> Family:
    """Look a family up by name; a miss lists the choices."""
    _load()
    if not isinstance(name, str) or name not in REGISTRY:
        raise ConfigError(f"unknown block family {name!r}; choose from: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def _load() -> None:
    import importlib

    importlib.import_module("igcsearch.families")  # registers every family module once
