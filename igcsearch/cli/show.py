"""`igcsearch show KEY`: one block config or one network, its per-layer cost, conditions and module."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import SpecError
from .app import InputSize, app, check_impl, handles_errors


@app.command()
@handles_errors
def show(
    key: Annotated[
        str, typer.Argument(help="A config key, e.g. igc1-L32M2-c64k3, or a network key net-… (see the key column).")
    ],
    input_size: InputSize = None,
    impl: Annotated[
        str | None, typer.Option("--impl", help="IGC implementation to print: auto, fused or naive.")
    ] = None,
) -> None:
    """One config: knobs, conditions, per-layer params/MACs formulas, and the torch module."""
    check_impl(impl)  # before anything is printed, for a block key and a network key alike
    if key.startswith("net-"):  # a network key (search --network rows)
        show_network(key, input_size, impl)
        return
    emit_show(key, input_size, impl)


def show_options(input_size: str | None, impl: str | None) -> tuple[int, str | None]:
    """Validate `show`'s --input-size (an integer 1..4096) and --impl (auto, fused, naive)."""
    from ..spec import make_spec

    size = make_spec({"channels": 1, "input_size": input_size}).input_size if input_size is not None else 32
    check_impl(impl)
    return size, impl


def emit_show(key: str, input_size: str | None, impl: str | None) -> None:
    """`igcsearch show KEY`: config, per-layer formula breakdown, conditions, the torch module."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ..builder import build
    from ..config import parse_key
    from ..cost import columns, totals
    from ..registry import get_family
    from ..report import CONVENTION
    from ..space import baseline_cost

    cfg = parse_key(key)
    size, impl = show_options(input_size, impl)
    family = get_family(cfg.family)
    cols = columns(cfg, size)
    if int(cols["out_size"][0]) < 1:
        raise SpecError(f"--input-size {size} is too small for kernel {cfg.kernel} and stride {cfg.stride}")
    layers = family.layers(cols)
    params, macs, acts = totals(layers)
    module = build(cfg, **({"impl": impl} if impl else {}))  # before printing: a bad config prints nothing
    bp, bm, _ = baseline_cost(cols)
    console = Console()
    console.print(f"[bold]{cfg.key}[/bold]  {family.title}")
    console.print(f"config: {cfg.to_dict()}")
    console.print(f"input {size}x{size} -> output {int(cols['out_size'][0])}x{int(cols['out_size'][0])}")
    table = Table(title="per-layer cost", caption=f"convention: {CONVENTION}")
    for name in ("layer", "formula", "params", "MACs", "acts"):
        table.add_column(name, justify="left" if name in ("layer", "formula") else "right")
    for layer in layers:
        values = (f"{int(np.asarray(v).ravel()[0]):,}" for v in (layer.params, layer.macs, layer.acts))
        table.add_row(layer.name, layer.formula, *values)
    table.add_row("[bold]total[/bold]", "", f"{int(params[0]):,}", f"{int(macs[0]):,}", f"{int(acts[0]):,}")
    table.add_row("regular conv-BN-ReLU", "k²·C_in·C_out + 2·C_out", f"{int(bp[0]):,}", f"{int(bm[0]):,}", "")
    table.add_row("ratio", "", f"{params[0] / bp[0]:.4f}", f"{macs[0] / bm[0]:.4f}", "")
    console.print(table)
    checks = family.check(cols)
    if checks:
        console.print("conditions:")
        for name, value in checks.items():
            console.print(
                f"  {name:14s} {value[0]:.4g}" if value.dtype.kind == "f" else f"  {name:14s} {bool(value[0])}"
            )
            if name in family.conditions:
                console.print(f"  [dim]{'':14s} {family.conditions[name]}[/dim]")
    console.print("module:")
    console.print(str(module), markup=False, highlight=False)


def show_network(key: str, input_size: str | None, impl: str | None) -> None:
    """`igcsearch show net-…`: config, per-layer analytic cost, totals, reference, conditions, module."""
    from rich.console import Console
    from rich.table import Table

    from ..builder import refuse_params
    from ..networks.report import COUNTING, network_breakdown

    b = network_breakdown(key, _size(input_size))
    refuse_params(b.cfg.key, int(b.totals[0]))  # before anything prints or torch allocates the weights
    console = Console(width=max(Console().width, 110))
    console.print(f"[bold]{b.cfg.key}[/bold]", highlight=False)
    for name, value in b.config.items():
        console.print(f"  {name:16s} {value}", markup=False, highlight=False)
    table = Table(
        title=f"per-layer cost at {b.input_size}x{b.input_size}",
        caption=f"convention: {COUNTING}",
        caption_justify="left",
    )
    for name in ("#", "layer", "out", "params", "MACs", "acts"):
        table.add_column(name, justify="left" if name == "layer" else "right", overflow="fold")
    for i, row in enumerate(b.layers):
        cells = (f"{row.out_size}x{row.out_size}", f"{row.params:,}", f"{row.macs:,}", f"{row.acts:,}")
        table.add_row(str(i + 1), row.label, *cells)
    params, macs, acts = b.totals
    rp, rm, _ = b.reference_cost
    table.add_row("", "[bold]total[/bold]", "", f"{params:,}", f"{macs:,}", f"{acts:,}")
    table.add_row("", "reference network (below)", "", f"{rp:,}", f"{rm:,}", "")
    table.add_row("", "ratio to the reference", "", f"{params / rp:.4f}", f"{macs / rm:.4f}", "")
    console.print(table)
    console.print(f"reference network: {b.reference.key}, {b.reference_title}", markup=False, highlight=False)
    if b.conditions:
        console.print("conditions (booleans: every family block; balance: the first-stage block):")
        for name, (value, meaning) in b.conditions.items():
            console.print(f"  {name:14s} {value:.4g}" if isinstance(value, float) else f"  {name:14s} {value}")
            if meaning:
                console.print(f"  [dim]{'':14s} {meaning}[/dim]")
    from ..networks import build_network

    console.print("module:")
    console.print(str(build_network(b.cfg, **({"impl": impl} if impl else {}))), markup=False, highlight=False)


def _size(text: str | None) -> int | None:
    """--input-size for a network (default: its native size)."""
    from ..units import parse_int_list

    if text is None:
        return None
    from ..spec import MAX_INPUT_SIZE

    values = parse_int_list(text, "--input-size")
    if len(values) != 1 or values[0] > MAX_INPUT_SIZE:
        raise SpecError(f"--input-size takes one value from 1 to {MAX_INPUT_SIZE}, got {text!r}")
    return values[0]
