"""The ``igcsearch`` typer app and what every command shares: the error boundary
(``handles_errors``), ``--version``, the shared option annotations, the one ``--format`` check,
the one ``--impl`` check of the CLI and the printer for lists of records.

Each command parses, calls one library function, renders. Domain errors (IgcSearchError)
print as one ``error:`` line on stderr with exit code 1; usage errors get typer's panel and
exit code 2. Heavy imports happen inside commands, so ``igcsearch --help`` and
``igcsearch space`` never import torch.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from .. import __version__
from .._sigint import early_interrupt as _early_interrupt
from .._sigint import install as _install_early_interrupt
from ..errors import IgcSearchError, SpecError, is_allocation_error

# Ctrl-C while the command line starts: the package's __init__ installs the early handler
# (igcsearch/_sigint.py) for the console script and `python -m igcsearch`; app() keeps it
# until a command starts (handles_errors), and never installs it for a program that imports us.


class _App(typer.Typer):
    """The typer app; while the command line is parsed, Ctrl-C ends with one line and exit 130."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        previous = _install_early_interrupt()
        try:
            if sys.stdout is None:  # fd 1 closed at start (``>&-``): --help and --version too
                _err("standard output is closed; redirect it to a file or to /dev/null instead of closing it")
                sys.exit(1)
            try:
                return super().__call__(*args, **kwargs)
            except SystemExit as exc:
                if _rich_broken_pipe(exc):
                    sys.exit(0)
                _flush_at_exit()
                raise
            except BrokenPipeError:
                _discard_stdout()
                sys.exit(0)
            except OSError as exc:  # help or version text to a full disk
                _fail(_os_message(exc))
                sys.exit(1)
        finally:
            if previous is not None and signal.getsignal(signal.SIGINT) is _early_interrupt:
                signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]


def _flush_at_exit() -> None:
    """Flush stdout before the exit status is final: a reader gone is exit 0, a full disk exit 1."""
    try:
        _flush_stdout()
    except BrokenPipeError:
        _discard_stdout()
        sys.exit(0)
    except OSError as exc:
        _fail(_os_message(exc))
        sys.exit(1)


def _rich_broken_pipe(exc: SystemExit) -> bool:
    """rich answers a closed pipe with SystemExit(1) from ``Console.on_broken_pipe``: a reader gone."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "on_broken_pipe":
            return True
        tb = tb.tb_next
    return False


app = _App(
    name="igcsearch",
    help="Design-space explorer for efficient convolution blocks (IGC-V1/V2/V3, LegoNet, depthwise, group).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
F = TypeVar("F", bound=Callable[..., Any])
# click's ClickException (vendored by typer as typer._click): usage errors raised in a command keep exit 2
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _err(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handles_errors(fn: F) -> F:
    """The one boundary: every failure of a command becomes one ``error:`` line on stderr.

    Domain errors exit 1; Ctrl-C (and an early one, during imports) 130; running out of memory
    (``MemoryError``, torch allocation failures) 1, naming the size asked for; a full disk or a
    closed stdout 1; a reader that goes away (``| head``) ends quietly with exit 0. Stdout is
    flushed inside the boundary, so a short write is seen before exit 0. Anything else is a bug:
    one ``error: internal error: <type>: <message>`` line, exit 1, and the traceback only when
    the environment variable IGCSEARCH_DEBUG is set.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if signal.getsignal(signal.SIGINT) is _early_interrupt:  # from here Ctrl-C keeps what finished
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            _check_stdout()
            result = fn(*args, **kwargs)
            _flush_stdout()
            return result
        except (typer.Exit, typer.Abort, _ClickException):  # typer's own exits and usage errors (exit 2)
            _flush_at_exit()
            raise
        except SystemExit as exc:
            if _rich_broken_pipe(exc):
                raise _reader_gone() from None
            raise
        except BrokenPipeError:
            raise _reader_gone() from None
        except IgcSearchError as exc:
            raise _fail(str(exc)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", 130) from None
        except MemoryError:
            raise _fail("out of memory: narrow the spec (fewer channels or families) or add --top") from None
        except OSError as exc:
            raise _fail(_os_message(exc)) from None
        except RuntimeError as exc:
            if not is_allocation_error(exc):
                raise _internal(exc) from None
            raise _fail(_oom_message(exc)) from None
        except Exception as exc:
            raise _internal(exc) from None

    return wrapper  # type: ignore[return-value]


def _check_stdout() -> None:
    """A closed stdout (``>&-``) is refused before anything runs (a file opened later would take fd 1)."""
    closed = sys.stdout is None  # Python starts with sys.stdout = None when fd 1 is closed
    if not closed:
        try:
            fd = sys.stdout.fileno()
        except (OSError, ValueError, AttributeError):
            fd = None  # an in-memory stdout (tests): open
        if fd is not None:
            try:
                os.fstat(fd)
            except OSError:
                closed = True
    if closed:
        raise IgcSearchError("standard output is closed; redirect it to a file or to /dev/null instead of closing it")


def _flush_stdout() -> None:
    if sys.stdout is not None:
        sys.stdout.flush()


def _discard_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's last flush of unwritten output cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _reader_gone() -> typer.Exit:
    """``| head``: the reader has what it wanted; end quietly with exit 0."""
    _discard_stdout()
    return typer.Exit(0)


def _fail(message: str, code: int = 1) -> typer.Exit:
    """One ``error:`` line; unwritten stdout is dropped so that the exit status stays ours."""
    if sys.stdout is not None:
        try:
            sys.stdout.flush()
        except OSError:
            _discard_stdout()
    return _err(message, code)


def _os_message(exc: OSError) -> str:
    """A full disk, an I/O error or a closed stream: what failed, where."""
    what = exc.strerror or str(exc)
    where = f" {exc.filename!r}" if exc.filename else " (standard output)" if exc.errno in _WRITE_ERRNOS else ""
    advice = "; free some space or write elsewhere" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return f"cannot write{where}: {what}{advice}" if exc.errno in _WRITE_ERRNOS else f"{what}{where}"


_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EBADF, errno.EFBIG)
_OOM_BYTES = re.compile(r"allocate (\d+) bytes|Tried to allocate ([\d.]+ [KMGT]?i?B)")


def _oom_message(exc: BaseException) -> str:
    """Name the size torch asked for: ``out of memory: a tensor of 129.6 GB could not be allocated``."""
    m = _OOM_BYTES.search(str(exc))
    size = ""
    if m and m.group(1):
        size = f" a tensor of {int(m.group(1)) / 1e9:.1f} GB could not be allocated;"
    elif m:
        size = f" a tensor of {m.group(2)} could not be allocated;"
    return f"out of memory:{size} narrow the spec (fewer or narrower channels, a smaller input) and retry"


def _internal(exc: BaseException) -> typer.Exit:
    """A bug: one line naming it (the traceback with IGCSEARCH_DEBUG=1), exit 1."""
    if os.environ.get("IGCSEARCH_DEBUG"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    hint = "" if os.environ.get("IGCSEARCH_DEBUG") else " (set IGCSEARCH_DEBUG=1 for the traceback)"
    return _fail(f"internal error: {type(exc).__name__}: {text}{hint}")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"igcsearch {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Design-space explorer for efficient convolution blocks."""


# Space options, shared by `space` and `search` (names are the preset keys).
Preset = Annotated[str | None, typer.Option("--preset", help="Preset name (see `igcsearch presets`) or TOML file.")]
Channels = Annotated[
    str | None, typer.Option("--channels", "-c", help="C_in = C_out: 64, 32,64,128 or 16:256:16 (stop included).")
]
InCh = Annotated[
    str | None, typer.Option("--in-channels", help="C_in values (non-square blocks; with --out-channels).")
]
OutCh = Annotated[str | None, typer.Option("--out-channels", help="C_out values (non-square blocks).")]
Kernel = Annotated[str | None, typer.Option("--kernel", "-k", help="Kernel sizes, odd: 3 or 1,3,5. [default: 3]")]
Stride = Annotated[str | None, typer.Option("--stride", help="Stride of the block's spatial conv. [default: 1]")]
InputSize = Annotated[str | None, typer.Option("--input-size", help="Input height = width. [default: 32]")]
Family = Annotated[str | None, typer.Option("--family", help="Families, comma-separated. [default: all]")]
ParamsMax = Annotated[
    str | None, typer.Option("--params-max", help="Parameter budget, SI suffixes allowed: 36.9K, 1.5M.")
]
MacsMax = Annotated[str | None, typer.Option("--macs-max", help="MAC budget, SI suffixes allowed: 37.7M, 2G.")]
Budget = Annotated[
    str | None,
    typer.Option(
        "--budget",
        help="'conv': the params of the regular conv-BN-ReLU being replaced; "
        "'network' (with --network): the params of the network built with regular convs.",
    ),
]
Widest = Annotated[
    bool | None,
    typer.Option("--widest/--no-widest", help="Width free: per structure keep the widest block within budget."),
]
BalanceTol = Annotated[
    str | None, typer.Option("--balance-tol", help="igc1/igc2 rows need balance <= T (>= 1, or inf). [default: 2.0]")
]
Expansion = Annotated[str | None, typer.Option("--expansion", help="igc3 expansion ratios t. [default: 1:6]")]
Sort = Annotated[str | None, typer.Option("--sort", help="Sort key: params, macs, acts, params_ratio, balance, key, …")]
Top = Annotated[str | None, typer.Option("--top", help="Keep the first N rows (terminal default: 30 shown).")]
Network = Annotated[
    str | None,
    typer.Option(
        "--network",
        help="Search whole networks (see `igcsearch networks`), e.g. cifar-plain-20; "
        "--stride and --in/--out-channels are refused (the layout fixes them).",
    ),
]
Format = Annotated[str, typer.Option("--format", help="table (terminal), csv, md or json (all rows to stdout).")]
Out = Annotated[  # text, not Path: a trailing slash (``--out x.csv/``) says directory
    str | None, typer.Option("--out", help="Write all rows to PATH (.csv/.md/.json) or into directory PATH (or PATH/).")
]


def spec_from_options(preset: str | None, options: dict[str, Any], *, networks: bool = False) -> Any:
    """The spec of a command: the preset (if any), then the options given (igcsearch.request.spec_of);
    ``networks``: a preset or ``--network`` may name a network to list."""
    from ..request import spec_of

    return spec_of(options, preset, networks=networks)


# --format: one set of choices and one check for every command that takes it.
FORMATS = ("table", "csv", "md", "json")


def check_format(fmt: str) -> None:
    """Reject an unknown --format."""
    if fmt not in FORMATS:
        raise SpecError(f"unknown --format {fmt!r}; choose from: {', '.join(FORMATS)}")


def check_impl(impl: str | None) -> None:
    """Reject an unknown --impl (None: the default); the choices and the check are igcsearch.measure's."""
    if impl is not None:
        from ..measure import check_impl as check

        check(impl)


def is_number(value: Any) -> bool:
    """An int or float cell (not a bool): a numeric column is right-aligned and never wrapped."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def add_column(table: Any, name: str, cells: list[str], numeric: bool, **options: Any) -> None:
    """A column that reads at 80 columns: numbers whole (the column as wide as the widest number; a long
    header wraps at its spaces instead), text folded but never narrower than its longest word up to
    10 characters."""
    head = max(len(w) for w in name.split() or [""])
    if numeric:
        width = max([head, *(len(c) for c in cells)])
        table.add_column(name, justify="right", min_width=width, **options)
    else:
        word = max([head, *(len(w) for c in cells for w in c.split())])
        table.add_column(name, overflow="fold", min_width=min(word, 10), **options)


def print_records(
    rows: list[dict[str, Any]],
    fmt: str,
    title: str,
    fields: tuple[str, ...] | list[str] | None = None,
    detail: str | None = None,
) -> None:
    """A list of records (dicts with the same keys): a rich table, or JSON, CSV or Markdown on stdout.

    ``fields``: the column names when ``rows`` may be empty (CSV and Markdown keep their header).
    In the table, numeric columns are never wrapped or cut, text columns fold, and ``detail`` (a
    long text field such as a title) is printed under the table, one ``first-column: text`` line
    per record, instead of as a column squeezed to a few characters.
    """
    import json

    check_format(fmt)
    names = list(fields) if fields is not None else list(rows[0]) if rows else ["name"]
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
    elif fmt in ("csv", "md"):
        import pandas as pd

        df = pd.DataFrame(rows, columns=names, dtype=object)  # ints stay ints, nulls stay empty
        typer.echo(df.to_csv(index=False, lineterminator="\n") if fmt == "csv" else df.to_markdown(index=False))
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        shown = [n for n in names if n != detail]
        table = Table(title=title, show_lines=True)
        cells = [["" if row.get(n) is None else str(row.get(n)) for n in shown] for row in rows]
        for i, name in enumerate(shown):
            values = [row.get(name) for row in rows if row.get(name) is not None]
            numeric = bool(values) and all(is_number(v) for v in values)
            add_column(table, name.replace("_", " "), [c[i] for c in cells], numeric)
        for row in cells:
            table.add_row(*row)
        console.print(table)
        if detail is not None:
            for row in rows:
                console.print(f"{row[shown[0]]}: {row[detail]}", markup=False, highlight=False)
