"""The typed search request: what to list (:class:`Spec`), how to measure
(:class:`MeasureOptions`) and where to write (:class:`RunOptions`).

:func:`make_request` is the one constructor, shared by ``igcsearch search`` and
``igcsearch.search(...)``: it takes a preset, option values by their long CLI names (strings
allowed, as a preset or the command line gives them) and, from Python, a ``measure`` dict.
Equality and hashing cover every field of all three parts.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import SpecError
from .measure import MeasureOptions, check_impl
from .spec import NETWORK_KEY, Spec, load_preset
from .spec import make_spec as parse_spec
from .target import target_of

# Option names of `search` besides the spec's, in the order error messages list them.
MEASURE_KEYS = ("device", "threads", "batch", "rounds", "min_time", "warmup", "channels_last", "latency", "impl")
RUN_KEYS = ("store", "fresh", "plot", "backend", "address")
SEARCH_KEYS = (*MEASURE_KEYS, *RUN_KEYS, NETWORK_KEY)
BACKENDS = ("local", "ray")
SPACE_GIVEN = ("channels", "in_channels", "out_channels", NETWORK_KEY)  # without any, a search asks the default


@dataclass(frozen=True)
class RunOptions:
    """Where a search writes and runs: the files, the results store, the backend."""

    out: str | None = None  # results directory, as given (a trailing slash says directory); None: see run_search
    store: str | None = None  # SQLite results store; None: OUT/results.sqlite
    fresh: bool = False  # measure again even what the store has
    backend: str = "local"  # local (this process, interleaved rounds) or ray
    address: str | None = None  # Ray cluster address; None starts a local Ray
    plot: bool = False  # draw tradeoff.png/svg beside the tables


@dataclass(frozen=True)
class SearchRequest:
    """One search: the spec, the measurement options and the run options."""

    spec: Spec
    measure: MeasureOptions = field(default_factory=MeasureOptions)
    run: RunOptions = field(default_factory=RunOptions)


def make_spec(options: dict[str, Any], *, extra_keys: tuple[str, ...] = ()) -> Spec:
    """A Spec from raw option values, checked as a whole: its own fields, then its target's.

    A network search (``network`` in ``extra_keys`` and in the options) is checked against its
    network here (families, widths), before anything is enumerated.
    """
    spec = parse_spec(options, extra_keys=extra_keys)
    target_of(spec).check(spec)
    return spec


def spec_of(
    options: Mapping[str, Any],
    preset: str | os.PathLike[str] | None = None,
    *,
    keys: tuple[str, ...] = (),
    networks: bool = False,
) -> Spec:
    """The spec of a preset and option values (None values are not given): the one way every
    command and the Python API turn what a user asks into a Spec.

    ``keys`` are the option names the caller takes besides the spec's (``SEARCH_KEYS`` for
    ``search``); ``networks`` lets a preset or the options name a network to list (the Python
    API). A network gets its native input size unless one is given.
    """
    allowed = (*keys, NETWORK_KEY) if networks and NETWORK_KEY not in keys else keys
    merged: dict[str, Any] = load_preset(os.fspath(preset), extra_keys=allowed) if preset else {}
    merged.update({k: v for k, v in options.items() if v is not None})
    if merged.get(NETWORK_KEY) and merged.get("input_size") is None:
        from .networks import network_input_size

        merged["input_size"] = network_input_size(str(merged[NETWORK_KEY]))
    return make_spec(merged, extra_keys=allowed if merged.get(NETWORK_KEY) else keys)


def make_request(
    options: Mapping[str, Any] | None = None,
    *,
    preset: str | os.PathLike[str] | None = None,
    spec: Spec | None = None,
    measure: Mapping[str, Any] | None = None,
    out: str | os.PathLike[str] | None = None,
) -> SearchRequest:
    """The search request of a preset and/or option values (None values are not given).

    ``options`` take the long CLI names (``channels``, ``threads``, ``store``, ``network``, …);
    a preset gives defaults for them. ``spec`` instead of spec options takes a ready Spec.
    ``measure`` (Python) holds measurement options by name, checked with messages that name
    ``measure[...]``.
    """
    given = {k: v for k, v in (options or {}).items() if v is not None}
    if spec is None and preset is None and not any(k in given for k in SPACE_GIVEN):
        preset = "default"  # nothing asked: the default question, on the CLI as in Python
    if spec is None:
        merged = {**(load_preset(os.fspath(preset), extra_keys=SEARCH_KEYS) if preset else {}), **given}
        spec = spec_of(merged, keys=SEARCH_KEYS)  # the preset read once: its measure and run keys count too
    else:
        merged = given
        spec_options = sorted(set(merged) - set(MEASURE_KEYS) - set(RUN_KEYS))
        if preset or spec_options:
            raise TypeError("give either spec= or preset=/options, not both")
    values = {k: merged[k] for k in MEASURE_KEYS if k in merged}
    if "impl" in values:
        check_impl(values["impl"])
    values.update(_measure_dict(measure))
    run = RunOptions(
        out=None if out is None else os.fspath(out),
        store=None if merged.get("store") is None else os.fspath(merged["store"]),
        fresh=bool(merged.get("fresh")),
        backend=merged.get("backend") or "local",
        address=merged.get("address"),
        plot=bool(merged.get("plot")),
    )
    return SearchRequest(spec, measure_options(values), run)


def measure_options(values: Mapping[str, Any]) -> MeasureOptions:
    """MeasureOptions of option values (CLI, preset or Python), with one line for a wrong type."""
    try:
        opts = MeasureOptions(**values)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"bad measurement option: {exc}") from None
    for name in ("threads", "batch", "rounds", "warmup"):
        value = getattr(opts, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"measurement option {name} must be an integer, got {value!r}")
    if isinstance(opts.min_time, bool) or not isinstance(opts.min_time, (int, float)):
        raise SpecError(f"measurement option min_time must be a number of seconds, got {opts.min_time!r}")
    return opts


_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str}


def _measure_dict(measure: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``measure`` dict of ``igcsearch.search``: known names, right types (TypeError naming the key)."""
    if measure is None:
        return {}
    if not isinstance(measure, Mapping):
        raise TypeError(f"measure must be a dict of measurement options or None, got {type(measure).__name__}")
    bad = [k for k in measure if not isinstance(k, str)]
    if bad:
        raise TypeError(f"measure keys must be option names (str), got {type(bad[0]).__name__} {bad[0]!r}")
    fields = {f.name: f for f in dataclasses.fields(MeasureOptions)}
    unknown = sorted(set(measure) - set(fields))
    if unknown:
        raise SpecError(f"unknown measure option(s) {', '.join(unknown)}; valid: {', '.join(fields)}")
    if "impl" in measure:
        check_impl(measure["impl"], "measure impl")
    for name, value in measure.items():
        kind = _TYPES.get(str(fields[name].type))
        if kind is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            raise TypeError(f"measure[{name!r}] must be {fields[name].type}, got {type(value).__name__}")
    return dict(measure)


def check_run(run: RunOptions) -> None:
    """Refuse a bad backend or an address without Ray (before anything is built)."""
    if run.backend not in BACKENDS:
        raise SpecError(f"--backend must be local or ray, got {run.backend!r}")
    if run.address is not None and not isinstance(run.address, str):
        raise TypeError(f"address must be a str, got {type(run.address).__name__}")
    if run.address and run.backend != "ray":
        raise SpecError(f"--address {run.address!r} is a Ray cluster address: add --backend ray, or drop --address")
