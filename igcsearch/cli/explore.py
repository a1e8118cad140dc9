"""`igcsearch families | presets | space`: what the design space holds, counted analytically (no torch)."""

from __future__ import annotations

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
    Out,
    OutCh,
    ParamsMax,
    Preset,
    Sort,
    Stride,
    Top,
    Widest,
    app,
    handles_errors,
    print_records,
    spec_from_options,
)


@app.command()
@handles_errors
def families(fmt: Format = "table") -> None:
    """List the block families, their knobs and the conditions each row reports."""
    from ..registry import families as all_families

    rows = [
        {
            "name": f.name,
            "title": f.title,
            "knobs": "; ".join(f"{k}: {v}" for k, v in f.knobs.items()) or "-",
            "conditions": "; ".join(f"{k}: {v}" for k, v in f.conditions.items()) or "-",
        }
        for f in all_families()
    ]
    print_records(rows, fmt, title="igcsearch families")


@app.command()
@handles_errors
def presets(fmt: Format = "table") -> None:
    """List the shipped presets: name, the question it asks, the commands it is for, its file."""
    from ..spec import list_presets, preset_command

    rows = [{"name": n, "question": q, "command": preset_command(p), "file": str(p)} for n, q, p in list_presets()]
    print_records(rows, fmt, title="igcsearch presets")


@app.command()
@handles_errors
def space(
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
    sort: Sort = None,
    top: Top = None,
    network: Network = None,
    fmt: Format = "table",
    out: Out = None,
) -> None:
    """List every valid setting with analytic params, MACs, acts and conditions (no torch).

    With --network (or a network preset) the rows are whole networks, the ones
    `search --network` measures, with the same keys, counts and budget rules.
    """
    options = {k: v for k, v in locals().items() if k not in ("preset", "fmt", "out")}
    from .emit import emit_space

    emit_space(spec_from_options(preset, options, networks=True), fmt, out)
