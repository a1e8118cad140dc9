"""`igcsearch runs list|show|report|merge`: the SQLite results store from the command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .app import Format, app, check_format, handles_errors, print_records

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


# The fields of one `runs list --format json|csv|md` record, in order (README: "Machine-readable output").
RUN_FIELDS = ("id", "name", "status", "started", "ended", "candidates", "backend", "device", "torch_version",
              "threads", "batch", "dtype", "memory_format", "spec")  # fmt: skip


@runs_app.command("list")
@handles_errors
def runs_list(store: StorePath = DEFAULT_STORE, fmt: Format = "table") -> None:
    """Every run: id, name, status, start, candidates, backend and device; its spec and environment under them."""
    check_format(fmt)
    with _open(store) as db:
        records = [run_record(r) for r in db.runs()]
    if fmt != "table":
        print_records(records, fmt, title=f"runs in {store}", fields=RUN_FIELDS)
        return
    _runs_table(records, f"runs in {store}")


def run_record(run: dict) -> dict:
    """The `runs list` record of one store run (``Store.runs()``): flat, the fields RUN_FIELDS.

    ``started``/``ended`` are ISO 8601 UTC times to the second (``2026-12-07T05:39:55Z``; ``ended``
    null while running; `runs show` has the stored seconds since the epoch),
    ``spec`` the spec line (Spec.describe; the raw JSON when this version cannot rebuild it), the
    environment fields are the run's ``env`` values (null when it lacks one) and ``backend`` its
    settings' backend (``local`` when none).
    """
    from ..spec import spec_from_dict

    env = run["env"]
    try:
        spec = spec_from_dict(run["spec"]).describe()
    except Exception:  # a spec this version cannot rebuild: show it raw
        spec = str(run["spec"])
    return {
        "id": run["id"],
        "name": run["name"],
        "status": run["status"],
        "started": _utc(run["started"]),
        "ended": _utc(run["ended"]),
        "candidates": run["candidates"],
        "backend": run["settings"].get("backend") or "local",
        "device": env.get("device"),
        "torch_version": env.get("torch_version"),
        "threads": env.get("threads"),
        "batch": env.get("batch"),
        "dtype": env.get("dtype"),
        "memory_format": env.get("memory_format"),
        "spec": spec,
    }


# The environment line under each run in the `runs list` table: (label, record field).
ENV_LABELS = (("torch", "torch_version"), ("threads", "threads"), ("batch", "batch"), ("dtype", "dtype"),
              ("format", "memory_format"))  # fmt: skip


def _utc(seconds: float | None) -> str | None:
    return None if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _local(utc: str | None) -> str:
    """An ISO UTC time of a record as the local time the table shows (to the minute)."""
    import calendar

    if utc is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(calendar.timegm(time.strptime(utc, "%Y-%m-%dT%H:%M:%SZ"))))


def _runs_table(records: list[dict], title: str) -> None:
    """The runs as a table that reads at 80 columns; each run's spec and environment as lines under it."""
    from rich.console import Console
    from rich.table import Table

    from .app import add_column

    columns = {
        "id": [str(r["id"]) for r in records],
        "name": [str(r["name"]) for r in records],
        "status": [str(r["status"]) for r in records],
        "started": [_local(r["started"]) for r in records],
        "candidates": [str(r["candidates"]) for r in records],
        "backend": [str(r["backend"]) for r in records],
        "device": ["" if r["device"] is None else str(r["device"]) for r in records],
    }
    console = Console()
    table = Table(title=title, show_lines=True)
    for name, cells in columns.items():
        if name == "started":  # a date and time, kept whole like a number
            table.add_column(name, no_wrap=True, min_width=max([7, *(len(c) for c in cells)]))
        else:
            add_column(table, name, cells, numeric=name in ("id", "candidates"))
    for row in zip(*columns.values(), strict=True):
        table.add_row(*row)
    console.print(table)
    for r in records:
        env = ", ".join(f"{label} {r[key]}" for label, key in ENV_LABELS if r[key] is not None)
        console.print(f"run {r['id']}: {r['spec']}", markup=False, highlight=False)
        if env:
            console.print(f"  {env}", markup=False, highlight=False)


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
