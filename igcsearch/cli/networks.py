"""`igcsearch` commands for networks (registered on the shared typer app by importing this module):
``reproduce`` (the papers' tables beside ours) and ``networks`` (what ``search --network`` takes)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .app import Format, app, check_format, handles_errors, print_records

# Network names as patterns (a representative name each, shown with its pattern).
NETWORK_PATTERNS = (
    ("cifar-plain-<3n+2>", "cifar-plain-20"),
    ("cifar-resnet-<6n+2>", "cifar-resnet-20"),
    ("cifar100-plain-<3n+2>", "cifar100-plain-20"),
    ("cifar100-resnet-<6n+2>", "cifar100-resnet-20"),
    ("resnet18", "resnet18"),
    ("mobilenetv2", "mobilenetv2"),
    ("mobilenetv2-d", "mobilenetv2-d"),
    ("vgg16", "vgg16"),
)


@app.command()
@handles_errors
def reproduce(
    name: Annotated[
        str | None,
        typer.Argument(help="Reproduction: igcv1-cifar, igcv1-imagenet, igcv3-imagenet, lego-cifar (none: list)."),
    ] = None,
    fmt: Format = "table",
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Also build each network and count it with fvcore (slow for ImageNet nets)."),
    ] = False,
) -> None:
    """The papers' network tables: igcsearch's exact params and MACs beside the published figures."""
    from ..reproduce import ROW_FIELDS, VERIFY_FIELDS, get_reproduction, list_reproductions
    from ..reproduce import reproduce as run

    if name is None:
        print_records(list_reproductions(), fmt, title="igcsearch reproductions")
        return
    check_format(fmt)
    rep = get_reproduction(name)
    rows = run(name, verify)
    fields = ROW_FIELDS + (VERIFY_FIELDS if verify else ())
    rows = [{k: row[k] for k in fields} for row in rows]
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
    elif fmt in ("csv", "md"):
        import pandas as pd

        df = pd.DataFrame(rows, columns=list(fields), dtype=object)  # ints stay ints, nulls stay empty
        typer.echo(df.to_csv(index=False, lineterminator="\n") if fmt == "csv" else df.to_markdown(index=False))
    else:
        _reproduction_table(rep, rows, verify)


def _reproduction_table(rep: Any, rows: list[dict[str, Any]], verify: bool) -> None:
    """The reproduction as a table that reads at 80 columns: numbers (and their headers) whole, model
    names fold, the source, notes and counting convention as a caption under it."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from ..reproduce import CONVENTION
    from .app import add_column

    partial = any(row["params"] != row["network_params"] for row in rows)  # the paper counts part of a network
    columns = ["model", "depth", "params", "paper", "Δ %", *(["network params"] if partial else [])]
    columns += ["MACs", "paper", "Δ %"]
    if verify:
        columns.append("fvcore")
    notes: list[str] = []
    cells: list[list[str]] = []
    for row in rows:
        mark = ""
        if row["note"]:
            if row["note"] not in notes:
                notes.append(row["note"])
            mark = f" [{notes.index(row['note']) + 1}]"
        cells.append(
            [
                row["model"] + mark,
                "" if row["depth"] is None else str(row["depth"]),
                f"{row['params']:,}",
                _paper(row["paper_params"], "params"),
                _pct(row["params_diff_pct"]),
                *([f"{row['network_params']:,}"] if partial else []),
                f"{row['macs']:,}",
                _paper(row["paper_macs"], "macs"),
                _pct(row["macs_diff_pct"]),
                *(["exact" if row["count_ok"] else "MISMATCH"] if verify else []),
            ]
        )
    caption = [f"source: {rep.source}", *(f"[{i + 1}] {n}" for i, n in enumerate(notes)), f"convention: {CONVENTION}"]
    console = Console()
    # light rules and one space between columns; a header is as wide as its column, never wrapped
    table = Table(
        title=f"igcsearch reproduce {rep.name}\n[dim]{rep.title}[/dim]",
        caption="\n".join(caption),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )

    def widths(head: Any) -> list[int]:
        return [max([head(name), *(len(c[i]) for c in cells)]) for i, name in enumerate(columns)]

    whole = widths(len)
    # too wide with whole headers (e.g. --verify beside "network params"): headers wrap at their spaces
    wrap = sum(whole[1:]) + min(whole[0], 10) + len(columns) > console.width
    numeric = widths(lambda n: max(len(w) for w in n.split())) if wrap else whole
    for i, name in enumerate(columns):
        if name == "model":
            add_column(table, name, [c[i] for c in cells], numeric=False)
        else:
            table.add_column(name, justify="right", min_width=numeric[i], no_wrap=not wrap)
    for c in cells:
        table.add_row(*c)
    if sum(c.min_width or 1 for c in table.columns) + 3 * len(columns) > console.width:
        table.padding = (0, 0)
    console.print(table)


def _paper(value: float | None, kind: str) -> str:
    """A paper figure in the unit papers print it in (M params; M or G MACs)."""
    if value is None:
        return "—"
    if kind == "macs" and value >= 1e9:
        return f"{value / 1e9:g} G"
    return f"{value / 1e6:g} M"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}"


@app.command()
@handles_errors
def networks(
    fmt: Format = "table",
    models: Annotated[
        bool, typer.Option("--models", help="List the papers' named networks (keys and exact counts) instead.")
    ] = False,
) -> None:
    """List the networks `igcsearch search --network NAME` takes (or, with --models, the named ones)."""
    from ..networks import MODELS, get_network, model_config

    if models:
        rows: list[dict[str, Any]] = []
        for name, model in MODELS.items():
            cfg = model_config(name)
            params, macs, _ = cfg.cost()
            rows.append(
                {
                    "model": name,
                    "title": model.title,
                    "key": cfg.key,
                    "input_size": cfg.net.input_size,
                    "params": params,
                    "macs": macs,
                }
            )
        print_records(rows, fmt, title="igcsearch named networks", detail="title")
        return
    rows = []
    for pattern, example in NETWORK_PATTERNS:
        net = get_network(example)
        rows.append(
            {
                "network": pattern,
                "title": net.title,
                "base_width": net.width,
                "input_size": net.input_size,
                "classes": net.classes,
                "families": ",".join(net.families),
            }
        )
    print_records(rows, fmt, title="igcsearch networks (search --network NAME)", detail="title")
