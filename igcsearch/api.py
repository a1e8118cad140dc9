"""The Python API behind the CLI: the same functions, returning DataFrames.

Every public function checks its arguments' types first: a wrong type is a ``TypeError``
naming the argument and the type given; a bad value is the documented error class
(:class:`~igcsearch.errors.SpecError`, :class:`~igcsearch.errors.ConfigError`, …).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .report import select, to_frame
from .space import chunks, widen
from .spec import Spec, load_preset, make_spec

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
    merged = load_preset(os.fspath(preset), extra_keys=("network",)) if preset else {}
    merged.update(options)
    if merged.get("network"):  # network-level search (``network="cifar-plain-20"``)
        from .networks import apply_network_defaults

        return make_spec(apply_network_defaults(merged), extra_keys=("network",))
    return make_spec(merged)


def enumerate_space(spec: Spec | None = None, preset: str | None = None, **options: Any) -> pd.DataFrame:
    """Every valid setting of the spec with analytic counts and conditions, as a DataFrame.

    ``igcsearch.enumerate(channels=64, family="igc1,igc2")`` lists the same rows as
    ``igcsearch space -c 64 --family igc1,igc2``; ``sort`` and ``top`` apply as on the CLI.
    """
    spec = spec_from(spec, preset, **options)
    if spec.extra.get("network"):
        from .networks import network_rows

        source = lambda: network_rows(spec)  # noqa: E731
    else:
        source = lambda: chunks(spec)  # noqa: E731
    if spec.sort is None and spec.top is None:
        return to_frame(widen(c) for c in source())
    return to_frame(select(source(), spec.sort, spec.top)[0])


def search(
    spec: Spec | None = None,
    preset: str | None = None,
    out: str | None = None,
    measure: dict[str, Any] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Build, count (fvcore), time and rank every candidate; the DataFrame of `igcsearch search`.

    ``measure`` takes the measurement options (device, threads, batch, rounds, min_time,
    warmup, channels_last, latency) and ``impl`` (auto, fused, naive); ``out`` a results
    directory to write (none by default). With no spec, preset or channels it runs the
    default preset, as the CLI does. Columns: ``igcsearch.pipeline.RESULT_FIELDS``, in order.
    """
    import dataclasses

    from .errors import SpecError
    from .measure import MeasureOptions
    from .pipeline import run_search

    _optional(out, "out", PathLike, "a directory path")
    _optional(measure, "measure", Mapping, "a dict of measurement options")
    if spec is None and preset is None and not {"channels", "in_channels", "network"} & set(options):
        preset = "default"
    spec = spec_from(spec, preset, **options)
    settings = dict(measure or {})
    bad_keys = [k for k in settings if not isinstance(k, str)]
    if bad_keys:
        raise TypeError(f"measure keys must be option names (str), got {type(bad_keys[0]).__name__} {bad_keys[0]!r}")
    impl = settings.pop("impl", None)
    if impl not in (None, "auto", "fused", "naive"):
        raise SpecError(f"measure impl must be auto, fused or naive, got {impl!r}")
    known = [f.name for f in dataclasses.fields(MeasureOptions)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise SpecError(f"unknown measure option(s) {', '.join(unknown)}; valid: {', '.join([*known, 'impl'])}")
    build_opts = {"impl": impl} if impl else {}
    for f in dataclasses.fields(MeasureOptions):  # types first: rounds="3" is a TypeError naming it
        if f.name in settings:
            kind = {"int": int, "float": (int, float), "bool": bool, "str": str}.get(str(f.type))
            if kind is not None:
                check_type(settings[f.name], f"measure[{f.name!r}]", kind, f"{f.type}")
    try:
        opts = MeasureOptions(**settings)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:  # e.g. rounds="x": a bad value of a measurement option
        raise SpecError(f"bad measurement option: {exc}") from None
    result = run_search(spec, opts, Path(out) if out else None, build_opts=build_opts)
    return result.frame()


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
    from .pipeline import load_results as load

    check_type(path, "path", PathLike, "a path (str or os.PathLike)")
    return load(path)
