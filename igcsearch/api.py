"""The Python API behind the CLI: the same functions, returning DataFrames."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .report import select, to_frame
from .space import chunks, widen
from .spec import Spec, load_preset, make_spec


def spec_from(spec: Spec | None = None, preset: str | None = None, **options: Any) -> Spec:
    """A Spec from a Spec, a preset name/file and/or option keywords (the CLI's long names)."""
    if spec is not None:
        if preset or options:
            raise TypeError("give either spec= or preset=/options, not both")
        return spec
    merged = load_preset(preset, extra_keys=("network",)) if preset else {}
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
    from pathlib import Path

    from .errors import SpecError
    from .measure import MeasureOptions
    from .pipeline import run_search

    if spec is None and preset is None and not {"channels", "in_channels", "network"} & set(options):
        preset = "default"
    spec = spec_from(spec, preset, **options)
    settings = dict(measure or {})
    impl = settings.pop("impl", None)
    if impl not in (None, "auto", "fused", "naive"):
        raise SpecError(f"measure impl must be auto, fused or naive, got {impl!r}")
    known = [f.name for f in dataclasses.fields(MeasureOptions)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise SpecError(f"unknown measure option(s) {', '.join(unknown)}; valid: {', '.join([*known, 'impl'])}")
    build_opts = {"impl": impl} if impl else {}
    result = run_search(spec, MeasureOptions(**settings), Path(out) if out else None, build_opts=build_opts)
    return result.frame()
