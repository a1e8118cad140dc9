"""The one registry of block families. A family bundles config, cost, conditions and
enumeration, defined in ``igcsearch/families/<name>.py``, and its torch module, defined in
``igcsearch/families/<name>_block.py`` and imported only by :func:`create_block`."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

# Condition columns every row carries (null where a condition does not apply to its family).
CONDITIONS = ("complementary", "balance", "wider", "acceleration", "compression", "divisible")
# Whether the block composes a dense kernel: every output channel depends on every input
# channel (at least one path per output/input pair). Every family's ``check`` returns it, as
# a boolean column derived from its own structure (never null); ranking uses it (rank.py).
DENSE = "dense"


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
    block: str  # "igcsearch.families.igc1_block:Igc1Block": the torch module, imported by create_block
    examples: tuple[str, ...]  # a few config keys covering the knobs (tests/test_families.py builds them)
    structure: Callable[..., tuple] | None = None  # (cols) -> (keys held fixed by --widest, eligible)
    square_only: bool = False  # family requires C_in == C_out
    order: int = 100  # position in listings (baseline first)
    baseline: bool = False  # the reference row: listed whatever the budget (the regular conv)
    # (geo, opts) -> rows per geometry that ``enumerate`` lists before the budget filter (an
    # array, one float per geometry): sizes the chunks and refuses huge specs. None: 64 rows
    # per geometry for chunking, 0 towards the size limit.
    estimate: Callable[..., Any] | None = None
    # (geo, opts, limit) -> iterator of knob-column dicts (as ``enumerate`` returns them, with
    # "geo"), about ``limit`` rows each, in ``enumerate``'s order: splits a single geometry
    # that holds millions of rows. None: a block of geometries is enumerated at once.
    enumerate_chunks: Callable[..., Any] | None = None


REGISTRY: dict[str, Family] = {}


def knob_structure(*knobs: str) -> Callable[..., tuple]:
    """--widest structure that holds the given knobs fixed and lets the width grow."""

    def structure(cols: dict[str, Any]) -> tuple[Any, Any]:
        import numpy as np

        keys = np.stack([cols[k] for k in knobs], axis=1)
        return keys, np.ones(keys.shape[0], dtype=bool)

    return structure


def register(family: Family) -> Family:
    """Add a family; a duplicate name, or knobs that are not its config's fields, is an error."""
    if family.name in REGISTRY:
        raise ValueError(f"family {family.name!r} is already registered")
    if tuple(family.knobs) != tuple(family.config.knob_fields()):
        raise ValueError(
            f"family {family.name!r}: knobs {list(family.knobs)} must be its config's knob fields "
            f"{list(family.config.knob_fields())}, in order"
        )
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
    importlib.import_module("igcsearch.families")  # registers every family module once


# ---------------------------------------------------------------- knobs


def knob_fields() -> tuple[str, ...]:
    """Knob names of every family in listing order, each once: the knob columns of a row."""
    out: dict[str, None] = {}
    for family in families():
        out.update(dict.fromkeys(family.config.knob_fields()))
    return tuple(out)


def scalar_knobs() -> tuple[str, ...]:
    """:func:`knob_fields` without the list-valued knobs (igc2's K): the ones a row sorts by."""
    lists = {name for family in families() for name, is_list in family.config.knob_fields().items() if is_list}
    return tuple(name for name in knob_fields() if name not in lists)


# ---------------------------------------------------------------- torch modules


def block_class(family: Family | str) -> type:
    """The torch module class of a family, imported from its ``block`` path (imports torch)."""
    fam = get_family(family) if isinstance(family, str) else family
    module, _, name = fam.block.partition(":")
    return getattr(importlib.import_module(module), name)


@functools.cache
def block_options(cls: type) -> tuple[str, ...]:
    """The build options a block class takes: the keyword-only parameters of its ``__init__``."""
    import inspect

    params = inspect.signature(cls.__init__).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def create_block(config: Any, **opts: Any) -> Any:
    """The torch module of a BlockConfig (``opts``, e.g. ``impl="naive"``, go to its class).

    The family's module is imported here, lazily. A config that is not its family's config
    class, or an option the module does not take, is a ConfigError. No size check and no
    other input forms: :func:`igcsearch.build` is the front door for keys, dicts and files.
    """
    if not isinstance(getattr(config, "family", None), str) or not hasattr(type(config), "knob_fields"):
        raise ConfigError(
            f"create_block needs a BlockConfig, got {type(config).__name__} (igcsearch.build takes keys, dicts, files)"
        )
    family = get_family(config.family)
    if not isinstance(config, family.config):
        raise ConfigError(f"{family.name}: expected a {family.config.__name__} config, got {type(config).__name__}")
    cls = block_class(family)
    allowed = block_options(cls)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{family.name}: unknown build option(s) {', '.join(unknown)}; valid options: {', '.join(allowed)}"
        )
    return cls(config, **opts)
