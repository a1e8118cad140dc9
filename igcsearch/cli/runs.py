"""`igcsearch runs list|show|report|merge`: the SQLite results store from the command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .app import app, handles_errors

runs_app = typer.Typer(help="Runs in a results store: list, show, rebuild reports, merge stores.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

StorePath = Annotated[
    Path, typer.Option("--store", help="The SQLite store. [default: ./igcsearch-results/default/results.sqlite]")
]
DEFAULT_STORE = Path("igcsearch-results/default/results.sqlite")


def _open(path: Path):
    """The store at ``path``, opened for reading only: nothing is created, migrated or written."""
    from ..errors import IgcSearchError
    from ..store import Store

    if not path.exists():
        raise IgcSearchError(f"no results store at {str(path)!r}; run `igcsearch search` first or pass --store")
    if path.is_dir():
        raise IgcSearchError(
            f"--store {str(path)!r} is a directory; pass the .sqlite file (e.g. {path}/results.sqlite)"
        )
    return Store(path, readonly=True)


@runs_app.command("list")
@handles_errors
def runs_list(store: StorePath = DEFAULT_STORE) -> None:
    """Every run: id, name, status, start, candidates, its spec, environment and backend."""
    from rich.console import Console
    from rich.table import Table

    with _open(store) as db:
        runs = db.runs()
    table = Table(title=f"runs in {store}", show_lines=True)
    for col in ("id", "name", "status", "started", "candidates", "spec", "device", "torch", "threads", "batch",
                "format", "backend"):  # fmt: skip
        table.add_column(col, overflow="fold")
    for r in runs:
        table.add_row(*run_cells(r))
    Console(width=max(Console().width, 160)).print(table)


def run_cells(run: dict) -> list[str]:
    """The `runs list` cells of one run: its spec line (Spec.describe) and environment."""
    from ..spec import spec_from_dict

    env = run["env"]
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started"]))
    try:
        spec = spec_from_dict(run["spec"]).describe()
    except Exception:  # a spec this version cannot rebuild: show it raw
        spec = str(run["spec"])
    backend = run["settings"].get("backend") or "local"
    values = (run["id"], run["name"], run["status"], started, run["candidates"], spec, env.get("device", ""),
              env.get("torch_version", ""), env.get("threads", ""), env.get("batch", ""), env.get("memory_format", ""),
              backend)  # fmt: skip
    return [str(v) for v in values]


@runs_app.command("show")
@handles_errors
def runs_show(
    run: Annotated[int, typer.Argument(help="Run id (see `runs list`).")], store: StorePath = DEFAULT_STORE
) -> None:
    """One run's spec, measurement settings and environment, as JSON."""
    from ..store import dumps

    with _open(store) as db:
        typer.echo(dumps(db.run(run), indent=2))


@runs_app.command("report")
@handles_errors
def runs_report(
    run: Annotated[int, typer.Argument(help="Run id (see `runs list`).")],
    store: StorePath = DEFAULT_STORE,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for the rebuilt files. [default: the store's directory]")
    ] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Also draw tradeoff.png/svg (needs matplotlib).")] = False,
) -> None:
    """Rebuild a run's results.csv/md/json (and plots) from the store, measuring nothing."""
    from ..rebuild import report_run

    if plot:
        from ..plots import require_matplotlib

        require_matplotlib()  # before anything is rebuilt
    with _open(store):
        pass
    result = report_run(store, run, out or store.parent, plot)
    typer.echo(f"rebuilt {len(result.rows.get('key', []))} rows: " + ", ".join(str(p) for p in result.files), err=True)


@runs_app.command("merge")
@handles_errors
def runs_merge(
    sources: Annotated[list[Path], typer.Argument(help="Stores to merge into --store.")],
    store: StorePath = DEFAULT_STORE,
) -> None:
    """Merge stores from other machines into one; rows keep their environment.

    The sources are opened read-only and never changed; every source is read and checked
    before the target is touched; merging the same source again adds nothing.
    """
    import os

    from ..errors import IgcSearchError
    from ..store import Store, lock_path, locked

    data = []
    for src in sources:
        if os.path.abspath(src) == os.path.abspath(store):
            raise IgcSearchError(f"cannot merge {str(src)!r} into itself: pass another --store")
        with _open(src):
            pass
        data.append(Store.read_source(src))
    if store.is_dir():
        raise IgcSearchError(f"--store {str(store)!r} is a directory; pass the .sqlite file")
    if store.exists() and store.stat().st_size > 0:
        with Store(store, readonly=True) as target:  # a damaged target is refused before anything changes
            target.check_integrity()
    with locked([lock_path(store)], lambda m: typer.echo(m, err=True)), Store(store) as db:
        for src, rows in zip(sources, data, strict=True):
            added = db.merge_from(rows)
            typer.echo(f"{src}: " + ", ".join(f"{v} {k}" for k, v in added.items()), err=True)
