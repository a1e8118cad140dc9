"""What `space` and `search` show and write for their rows: terminal table, stdout formats, files; the search's progress and summary lines."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..report import CONVENTION, atomic_open, format_for, md_header, select, write, write_parquet
from ..request import SearchRequest
from ..space import ROW_FIELDS, Chunk, take, validate, widen
from ..spec import Spec
from ..target import target_of
from .app import check_format

TERMINAL_ROWS = 30


def rows_for(spec: Spec, source: Callable[[], Iterable[Chunk]], key: bool = True) -> Iterator[Chunk]:
    """Wide chunks of every row, sorted/truncated as the spec asks (streamed when it asks neither).

    ``key=False``: streamed chunks may come without ``key``, for ``report.write`` (render.block) only.
    """
    if spec.sort is None and spec.top is None:
        return (widen(c, key) for c in source())
    return iter(select(source(), spec.sort, spec.top)[0])


def emit_space(spec: Spec, fmt: str, out: Path | str | None) -> None:
    """`igcsearch space`: terminal table or stdout format, plus files under --out.

    The rows are the spec's target's (blocks, or whole networks with ``--network``), the very
    rows ``search`` measures; network rows add their knob and base-width columns and notes.
    """
    if fmt == "parquet":  # binary: a file only
        if out is None or format_for(Path(str(out))) != "parquet" or str(out).endswith(("/", os.sep)):
            raise SpecError("--format parquet writes a file, not stdout: give --out FILE.parquet")
    else:
        check_format(fmt)
    target = target_of(spec)
    if target.kind == "block":
        validate(spec)
    source = lambda: target.rows(spec)  # noqa: E731  (re-enumerated per output: deterministic)
    fields = target.fields(ROW_FIELDS)
    title = f"igcsearch space: {spec.name}"
    notes = tuple(target.notes(spec))
    header = md_header(title, spec.describe(), notes, target.convention)
    written = write_files(spec, source, out, "space", header, fields) if out is not None else None
    if fmt == "parquet":
        pass
    elif fmt == "table":
        shown, total = select(source(), spec.sort, spec.top or TERMINAL_ROWS)
        if total == 0:
            report_empty(spec)
            return
        columns = target.columns(TABLE_COLUMNS)
        print_table(shown[0], total, title, spec.describe(), columns, notes, target.convention, target.table_width)
    else:
        total = write(rows_for(spec, source, key=False), sys.stdout, fmt, fields=fields, header=header)
        if total == 0:
            report_empty(spec)
    if written:
        print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)


def write_files(
    spec: Spec,
    source: Callable[[], Iterable[Chunk]],
    out: Path | str,
    stem: str,
    header: str,
    fields: tuple[str, ...] = ROW_FIELDS,
) -> list[Path]:
    """--out FILE.{csv,md,json,parquet} writes that file; --out DIR (or any PATH/) writes DIR/<stem>.{csv,md,json}.

    Files carry every row (in --sort order): --top limits only the terminal table and stdout.
    """
    text = str(out)
    if not text.strip():
        raise SpecError("--out is empty: give a .csv, .md, .json or .parquet file, or a directory")
    directory = text.endswith(("/", os.sep))  # a trailing slash says directory, whatever the suffix
    out = Path(text)
    fmt = None if directory else format_for(out)
    if not fmt and out.suffix and not out.is_dir() and not directory:
        raise SpecError(f"--out {str(out)!r}: give a .csv, .md, .json or .parquet file, or a directory")
    targets = [(out, fmt)] if fmt else [(out / f"{stem}.{f}", f) for f in ("csv", "md", "json")]
    if not fmt and out.exists() and not out.is_dir():
        raise SpecError(
            f"--out {str(out)!r} exists and is not a directory; give a .csv, .md, .json or .parquet file or a directory"
        )
    every = dataclasses.replace(spec, top=None)
    for path, f in targets:
        try:
            if f == "parquet":
                write_parquet(rows_for(every, source), path, fields)
                continue
            with atomic_open(path) as fh:
                write(rows_for(every, source, key=False), fh, f, fields=fields, header=header)
        except OSError as exc:
            raise SpecError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    return [p for p, _ in targets]


def report_empty(spec: Spec) -> None:
    """Say plainly that nothing matched, and why."""
    from ..explain import explain_empty

    print("no rows: nothing in this spec meets the conditions and budget.", file=sys.stderr)
    for line in explain_empty(spec):
        print(f"  {line}", file=sys.stderr)


def _num(v: Any) -> str:
    from ..units import humanize

    return humanize(v)


TABLE_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("key", "key", str),
    ("params", "params", _num),
    ("macs", "MACs", _num),
    ("acts", "acts", _num),
    ("params_ratio", "params×", lambda v: f"{v:.3f}"),
    ("macs_ratio", "MACs×", lambda v: f"{v:.3f}"),
    ("balance", "balance", lambda v: "" if v != v else f"{v:.3g}"),
    ("wider", "wider", lambda v: {1: "yes", 0: "no"}.get(int(v), "")),
]


def print_table(
    rows: Chunk,
    total: int,
    title: str,
    spec_line: str,
    columns: list | None = None,
    notes: tuple[str, ...] = (),
    convention: str = CONVENTION,
    min_width: int = 100,
) -> None:
    """A rich table of the shown rows with the spec and the counting convention around it."""
    from rich.console import Console
    from rich.table import Table

    columns = columns or TABLE_COLUMNS
    shown = rows["key"].size
    table = Table(title=f"{title}\n[dim]{spec_line}[/dim]", caption_justify="left")
    table.add_column("#", justify="right", style="dim")
    cells = {name: [fn(rows[name][i]) for i in range(shown)] for name, _, fn in columns if name in rows}
    cells = {name: values for name, values in cells.items() if any(values)}  # drop all-empty columns
    for name, label, _ in columns:
        if name in cells:
            table.add_column(label, justify="left" if name == "key" else "right", no_wrap=name == "key")
    for i in range(shown):
        table.add_row(str(i + 1), *[values[i] for values in cells.values()])
    more = f"showing {shown} of {total} rows" + (
        "; use --top N, --format csv|md|json or --out for all" if shown < total else ""
    )
    table.caption = "\n".join([more, *notes, f"convention: {convention}"])
    Console(width=max(Console().width, min_width)).print(table)


__all__ = ["ROW_FIELDS", "emit_space", "print_table", "write_files"]


# ---------------------------------------------------------------- search and show


SEARCH_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("key", "key", str),
    ("params", "params", _num),
    ("macs", "MACs", _num),
    ("latency_ms", "latency ms", lambda v: "" if v != v else f"{v:.3f}"),
    ("latency_iqr_ms", "IQR", lambda v: "" if v != v else f"{v:.3f}"),
    ("params_ratio", "params×", lambda v: f"{v:.3f}"),
    ("macs_ratio", "MACs×", lambda v: f"{v:.3f}"),
    ("count_ok", "counts", lambda v: {1: "ok", 0: "MISMATCH"}.get(int(v), "-")),
    ("pareto", "pareto", lambda v: "*" if v == 1 else ""),
    ("error", "error", lambda v: str(v)[:40]),
]


def emit_search(request: SearchRequest, fmt: str) -> None:
    """`igcsearch search`: progress on stderr, results directory, table or stdout format."""
    from ..pipeline import check_search, run_search
    from ..results import check_out, default_out, describe, result_fields, results_header

    check_format(fmt)
    spec, opts = request.spec, request.measure
    check_search(request)  # before the progress bar starts
    if request.run.out is None:
        request = dataclasses.replace(request, run=dataclasses.replace(request.run, out=str(default_out(spec))))
    else:
        check_out(request.run.out)  # before the progress bar; run_search checks it again
    out, store = request.run.out, request.run.store
    with _progress() as progress:
        result = run_search(request, progress, notify=lambda message: print(message, file=sys.stderr, flush=True))
    header = results_header(result, request)
    if not result.rows:
        if fmt != "table":
            to_stdout(lambda: write([], sys.stdout, fmt, fields=result_fields(spec), header=header))
        report_empty(spec)
        print("nothing to measure: no files written", file=sys.stderr)
        return
    rows, n = result.rows, result.rows["key"].size
    failed = int((rows["error"] != "").sum())
    counted = rows["count_ok"] >= 0
    verdict = f"counts verified against fvcore: {int((rows['count_ok'] == 1).sum())} of {int(counted.sum())} exact"
    if failed:
        verdict += f"; {failed} candidate(s) failed (see the error column)"
    if fmt == "table":
        shown = {k: (v[: spec.top or TERMINAL_ROWS] if isinstance(v, np.ndarray) else v) for k, v in rows.items()}
        env = result.env
        notes = (
            f"environment: {env['device']}, torch {env['torch_version']}, {describe(opts, result.backend)}",
            verdict,
        )
        if result.interrupted:
            notes += ("interrupted: see latency_rounds for how many rounds each row has",)
        target = target_of(spec)
        cols = target.columns([c for c in SEARCH_COLUMNS if c[0] != "error" or failed])
        shown, dense_notes = mark_not_dense(shown, spec.pareto_all)
        notes = (*notes, *dense_notes, *target.notes(spec))
        title = f"igcsearch search: {spec.name}"
        print_table(shown, n, title, spec.describe(), cols, notes, target.convention, target.table_width)
    else:
        to_stdout(
            lambda: write(
                [take(rows, np.arange(min(spec.top or n, n)))],
                sys.stdout,
                fmt,
                fields=result_fields(spec),
                header=header,
            )
        )
        print(verdict, file=sys.stderr)
    print(summary_line(result, opts.latency, Path(store) if store else Path(out) / "results.sqlite"), file=sys.stderr)
    print(wrote_line(out, result.files), file=sys.stderr)
    if result.interrupted:
        print("interrupted: the files hold what finished", file=sys.stderr)
        raise KeyboardInterrupt


NOT_DENSE = "†"  # beside the key of a row whose block is not dense, in the search table


def mark_not_dense(rows: Chunk, pareto_all: bool) -> tuple[Chunk, tuple[str, ...]]:
    """The shown rows with NOT_DENSE beside each non-dense key, and the caption line explaining it."""
    dense = rows.get("dense")
    if dense is None or not (dense == 0).any():
        return rows, ()
    keys = np.where(dense == 0, rows["key"].astype(object) + f" {NOT_DENSE}", rows["key"])
    front = "on the Pareto front too (--pareto-all)" if pareto_all else "ranked but never on the Pareto front"
    note = f"{NOT_DENSE}: not dense (some output channel misses some input channel, e.g. group conv g > 1): {front}"
    return {**rows, "key": keys}, (note,)


def to_stdout(emit: Callable[[], Any]) -> None:
    """Run ``emit`` (which writes to stdout) and flush: a full disk or a failed write is one error, never a short file.

    A reader that went away (BrokenPipeError) is left to the CLI, which ends quietly.
    """
    try:
        emit()
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise SpecError(f"cannot write to stdout: {exc.strerror or exc}; the output is incomplete") from None


def summary_line(result: Any, latency: bool, store: Path) -> str:
    """What this call measured and what it took from the store, candidates and latency samples apart."""
    done = f"counted {result.measured} candidates" + (f", timed {result.timed} latency samples" if latency else "")
    taken = f"{result.reused} candidates' counts" + (f" and {result.reused_samples} samples" if latency else "")
    return f"{done}; {taken} taken from the store {store}"


def wrote_line(out: Path | str, files: list[Path]) -> str:
    """``wrote OUT/results.csv, results.md, …``: every file and folder the search wrote, in order."""
    names = [f"{p.name}/" if p.name == "configs" else p.name for p in files]
    return f"wrote {Path(out)}/" + ", ".join(names)


class _progress:
    """A rich progress bar on stderr implementing the search Progress protocol.

    The bar appears with the first stage, so what comes before it (connecting to Ray, an
    error) prints alone.
    """

    def __enter__(self) -> _progress:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), console=Console(stderr=True), transient=False,
        )  # fmt: skip
        self.task: Any = None
        return self

    def stage(self, name: str, total: int) -> None:
        if self.task is None:
            self.bar.start()
        else:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total)
        self.task = self.bar.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)

    def __exit__(self, *exc: Any) -> None:
        if self.task is not None:
            self.bar.stop()
