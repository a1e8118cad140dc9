"""What the CLI shows and writes for a list of rows: terminal table, stdout formats, files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import SpecError
from .report import CONVENTION, atomic_open, format_for, md_header, select, write
from .space import ROW_FIELDS, Chunk, chunks, widen
from .spec import Spec

TERMINAL_ROWS = 30
FORMATS = ("table", "csv", "md", "json")


def check_format(fmt: str) -> None:
    """Reject an unknown --format."""
    if fmt not in FORMATS:
        raise SpecError(f"unknown --format {fmt!r}; choose from: {', '.join(FORMATS)}")


def rows_for(spec: Spec, source: Callable[[], Iterable[Chunk]]) -> Iterator[Chunk]:
    """Wide chunks of every row, sorted/truncated as the spec asks (streamed when it asks neither)."""
    if spec.sort is None and spec.top is None:
        return (widen(c) for c in source())
    return iter(select(source(), spec.sort, spec.top)[0])


def emit_space(spec: Spec, fmt: str, out: Path | None) -> None:
    """`igcsearch space`: terminal table or stdout format, plus files under --out."""
    check_format(fmt)
    source = lambda: chunks(spec)  # noqa: E731  (re-enumerated per output: deterministic)
    title = f"igcsearch space: {spec.name}"
    header = md_header(title, spec.describe())
    written = write_files(spec, source, out, "space", header) if out is not None else None
    if fmt == "table":
        shown, total = select(source(), spec.sort, spec.top or TERMINAL_ROWS)
        if total == 0:
            report_empty(spec)
            return
        print_table(shown[0], total, title, spec.describe())
    else:
        total = write(rows_for(spec, source), sys.stdout, fmt, header=header)
        if total == 0:
            report_empty(spec)
    if written:
        print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)


def write_files(spec: Spec, source: Callable[[], Iterable[Chunk]], out: Path, stem: str, header: str) -> list[Path]:
    """--out FILE.{csv,md,json} writes that file; --out DIR writes DIR/<stem>.{csv,md,json}."""
    fmt = format_for(out)
    targets = [(out, fmt)] if fmt else [(out / f"{stem}.{f}", f) for f in ("csv", "md", "json")]
    if not fmt and out.exists() and not out.is_dir():
        raise SpecError(
            f"--out {str(out)!r} exists and is not a directory; give a .csv, .md or .json file or a directory"
        )
    for path, f in targets:
        try:
            with atomic_open(path) as fh:
                write(rows_for(spec, source), fh, f, header=header)
        except OSError as exc:
            raise SpecError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    return [p for p, _ in targets]


def report_empty(spec: Spec) -> None:
    """Say plainly that nothing matched, and why."""
    from .explain import explain_empty

    print("no rows: nothing in this spec meets the conditions and budget.", file=sys.stderr)
    for line in explain_empty(spec):
        print(f"  {line}", file=sys.stderr)


def _num(v: Any) -> str:
    from .units import humanize

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
    rows: Chunk, total: int, title: str, spec_line: str, columns: list | None = None, notes: tuple[str, ...] = ()
) -> None:
    """A rich table of the shown rows with the spec and the counting convention around it."""
    from rich.console import Console
    from rich.table import Table

    columns = columns or TABLE_COLUMNS
    shown = rows["key"].size
    table = Table(title=f"{title}\n[dim]{spec_line}[/dim]", caption_justify="left")
    table.add_column("#", justify="right", style="dim")
    for name, label, _ in columns:
        if name in rows:
            table.add_column(label, justify="left" if name == "key" else "right", no_wrap=name == "key")
    present = [(n, f) for n, _, f in columns if n in rows]
    for i in range(shown):
        table.add_row(str(i + 1), *[fn(rows[n][i]) for n, fn in present])
    more = f"showing {shown} of {total} rows" + (
        "; use --top N, --format csv|md|json or --out for all" if shown < total else ""
    )
    table.caption = "\n".join([more, *notes, f"convention: {CONVENTION}"])
    Console(width=max(Console().width, 100)).print(table)


__all__ = ["ROW_FIELDS", "emit_space", "print_table", "write_files"]
