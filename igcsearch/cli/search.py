"""`igcsearch search`: build, count, time and rank every candidate of a spec; write the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import (
    BalanceTol,
    Budget,
    Channels,
    Expansion,
    Family,
    Format,
    InCh,
    InputSize,
    Kernel,
    MacsMax,
    Network,
    OutCh,
    ParamsMax,
    Preset,
    Stride,
    Top,
    Widest,
    app,
    handles_errors,
)


@app.command()
@handles_errors
def search(
    preset: Preset = None,
    channels: Channels = None,
    in_channels: InCh = None,
    out_channels: OutCh = None,
    kernel: Kernel = None,
    stride: Stride = None,
    input_size: InputSize = None,
    family: Family = None,
    params_max: ParamsMax = None,
    macs_max: MacsMax = None,
    budget: Budget = None,
    widest: Widest = None,
    balance_tol: BalanceTol = None,
    expansion: Expansion = None,
    pareto_all: Annotated[
        bool | None,
        typer.Option(
            "--pareto-all",
            help="Pareto front over every row; by default only dense blocks (every output sees every input) can be on it.",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="Rank by: latency_ms (default), params, macs, … An analytic key with --top preselects what is measured.",
        ),
    ] = None,
    top: Top = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda. [default: cpu]")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="Torch threads while timing. [default: 1]")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Batch size of the timed input. [default: 1]")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="Interleaved timing rounds. [default: 10]")] = None,
    min_time: Annotated[
        float | None, typer.Option("--min-time", help="Seconds of calls per candidate per round. [default: 0.005]")
    ] = None,
    warmup: Annotated[int | None, typer.Option("--warmup", help="Warm-up calls per candidate. [default: 2]")] = None,
    channels_last: Annotated[
        bool | None, typer.Option("--channels-last/--nchw", help="Memory format of the timed input. [default: nchw]")
    ] = None,
    latency: Annotated[bool | None, typer.Option("--latency/--no-latency", help="--no-latency: counts only.")] = None,
    impl: Annotated[
        str | None,
        typer.Option(
            "--impl", help="IGC block implementation: auto (fastest measured), fused or naive. [default: auto]"
        ),
    ] = None,
    network: Network = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", help="local (this process) or ray (pip install 'igcsearch[ray]'). [default: local]"),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (`ray start --head`); none starts a local Ray.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="SQLite results store, shareable across runs. [default: OUT/results.sqlite]"),
    ] = None,
    fresh: Annotated[
        bool | None, typer.Option("--fresh", help="Measure again even what the store already has.")
    ] = None,
    plot: Annotated[
        bool | None,
        typer.Option("--plot", help="Draw tradeoff.png/svg: MACs vs latency, params vs MACs (needs matplotlib)."),
    ] = None,
    fmt: Format = "table",
    out: Annotated[  # text, not Path: keeps a trailing slash (``--out x.csv/`` is a directory)
        str | None, typer.Option("--out", help="Results directory. [default: ./igcsearch-results/<name>/]")
    ] = None,
) -> None:
    """Build every valid candidate, verify its counts with fvcore, time it, rank it, write reports.

    With no arguments it runs the default preset: replace a 64-channel 3x3 conv at 32x32
    within that conv's own parameter budget, every family.
    """
    options = {k: v for k, v in locals().items() if k not in ("preset", "fmt", "out")}
    from ..request import make_request
    from .emit import emit_search

    emit_search(make_request(options, preset=preset, out=out), fmt)
