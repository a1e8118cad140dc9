"""The Python API behind the CLI: the same functions, returning DataFrames.

Every public function checks its arguments' types first: a wrong type is a ``TypeError``
naming the argument and the type given; a bad value is the documented error class
(:class:`~igcsearch.errors.SpecError`, :class:`~igcsearch.errors.ConfigError`, …).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .report import select, to_frame
from .request import make_request, spec_of
from .space import widen
from .spec import Spec
from .target import target_of

if TYPE_CHECKING:
    import pandas as pd

PathLike = (str, os.PathLike)


def check_type(value: Any, name: str, types: type | tuple[type, ...], expected: str) -> None:
    """Raise ``TypeError('<name> must be <expected>, got <type>')`` unless ``value`` has one of ``types``."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise TypeError(f"{name} must be {expected}, got bool")
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def _optional(value: Any, name: str, types: type | tuple[type, ...], expected: str) -> None:
    if value is not None:
        check_type(value, name, types, expected + " or None")


def spec_from(spec: Spec | None = None, preset: str | None = None, **options: Any) -> Spec:
    """A Spec from a Spec, a preset name/file and/or option keywords (the CLI's long names)."""
    _optional(spec, "spec", Spec, "a Spec")
    _optional(preset, "preset", PathLike, "a preset name or a path")
    if spec is not None:
        if preset or options:
            raise TypeError("give either spec= or preset=/options, not both")
        return spec
    return spec_of(options, preset, networks=True)


def enumerate_space(spec: Spec | None = None, preset: str | None = None, **options: Any) -> pd.DataFrame:
    """Every valid setting of the spec with analytic counts and conditions, as a DataFrame.

    ``igcsearch.enumerate(channels=64, family="igc1,igc2")`` lists the same rows as
    ``igcsearch space -c 64 --family igc1,igc2``; ``sort`` and ``top`` apply as on the CLI.
    """
    spec = spec_from(spec, preset, **options)
    rows = target_of(spec).rows
    if spec.sort is None and spec.top is None:
        return to_frame(widen(c) for c in rows(spec))
    return to_frame(select(rows(spec), spec.sort, spec.top)[0])


def search(
    spec: Spec | None = None,
    preset: str | None = None,
    out: str | None = None,
    measure: dict[str, Any] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Build, count (fvcore), time and rank every candidate; the DataFrame of `igcsearch search`.

    ``options`` take every option of `igcsearch search` by its long name (``channels``,
    ``store``, ``backend``, …); ``measure`` the measurement options (device, threads, batch,
    rounds, min_time, warmup, channels_last, latency, dtype, impl); ``out`` a results directory to
    write (none by default). With no spec, preset or channels it runs the default preset, as the
    CLI does. Columns: ``igcsearch.results.RESULT_FIELDS``, in order.
    """
    from .pipeline import run_search

    _optional(spec, "spec", Spec, "a Spec")
    _optional(preset, "preset", PathLike, "a preset name or a path")
    _optional(out, "out", PathLike, "a directory path")
    _optional(measure, "measure", Mapping, "a dict of measurement options")
    request = make_request(options, preset=preset, spec=spec, measure=measure, out=out)
    return run_search(request).frame()


# ---------------------------------------------------------------- the other public names, type-checked


def parse_key(key: str) -> Any:
    """The config of a key such as ``igc1-L8M8-c64k3`` (a bad key is a ConfigError)."""
    from .config import parse_key as parse

    check_type(key, "key", str, "a config key (str)")
    return parse(key)


def from_dict(data: Mapping[str, Any]) -> Any:
    """The config of a dict (``to_dict`` round-trips; unknown keys are a ConfigError)."""
    from .config import from_dict as convert

    check_type(data, "data", Mapping, "a dict")
    return convert(dict(data))


def get_family(name: str) -> Any:
    """The registered family called ``name`` (an unknown one is a ConfigError listing the choices)."""
    from .registry import get_family as lookup

    check_type(name, "name", str, "a family name (str)")
    return lookup(name)


def build(spec: Any, **opts: Any) -> Any:
    """The torch module of a config: a BlockConfig, a config dict, a key or a JSON file's path.

    ``opts`` go to the family's module, e.g. ``impl="naive"|"fused"|"auto"`` for IGC blocks.
    """
    from .builder import build as make
    from .config import BlockConfig

    check_type(spec, "spec", (BlockConfig, Mapping, *PathLike), "a BlockConfig, a config dict, a key or a path")
    return make(spec, **opts)


def load_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """DataFrame of a run: a results directory (its results.json) or a store file (every run's rows)."""
    from .rebuild import load_results as load

    check_type(path, "path", PathLike, "a path (str or os.PathLike)")
    return load(path)
