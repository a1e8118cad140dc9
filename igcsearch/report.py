"""Ranked rows out: selection (sort, top N), DataFrames, and streaming CSV/Markdown/JSON files.

Writers take *wide* chunks (``space.widen``) and stream them, so a space of millions of rows
is written in bounded memory; files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from .errors import SpecError
from .render import lines
from .space import KNOB_FIELDS, ROW_FIELDS, Chunk, concat, sort_rows, take, widen

if TYPE_CHECKING:  # pandas is imported where a frame is made: `igcsearch space` never needs it
    import pandas as pd

CONVENTION = (
    "params = weights + BN gamma/beta (no biases); macs = multiply-accumulates of convs and "
    "linear layers (FLOPs = 2 x macs), each conv at its own output size; acts = conv output "
    "elements per sample; ratios are against the regular conv-BN-ReLU of the row's geometry"
)
SORT_CAP = 5_000_000  # rows a full (untruncated) sort may hold in memory
TRISTATE = (
    "baseline", "complementary", "wider", "acceleration", "compression", "divisible", "dense", "count_ok", "pareto",
)  # fmt: skip


def select(chunks: Iterable[Chunk], sort: str | None, top: int | None) -> tuple[list[Chunk], int]:
    """(one wide chunk holding the first ``top`` rows in ``sort`` order, total rows seen).

    Takes raw (one-family) chunks and widens only the rows it keeps.
    With ``top`` memory stays bounded by ``top`` rows; a full sort holds every row and is
    refused above SORT_CAP rows. Without sort or top the caller should stream instead.
    """
    kept: Chunk | None = None
    total = 0
    for rows in chunks:
        n = rows["params"].size
        total += n
        if top is not None and sort is None:
            if kept is not None and kept["key"].size >= top:
                continue
            rows = take(rows, np.arange(min(n, top)))
        rows = widen(rows)
        kept = rows if kept is None else concat([kept, rows])
        if top is not None and sort is not None:
            kept = take(sort_rows(kept, sort), np.arange(min(kept["key"].size, top)))
        elif top is None and kept["key"].size > SORT_CAP:
            raise SpecError(f"more than {SORT_CAP:,} rows to sort: add --top N or narrow the spec")
    if kept is None:
        return [], total
    kept = sort_rows(kept, sort)
    if top is not None:
        kept = take(kept, np.arange(min(kept["key"].size, top)))
    return [kept], total


def to_frame(chunks: Iterable[Chunk]) -> pd.DataFrame:
    """Wide chunks as one DataFrame with the row fields of space.ROW_FIELDS (nulls as <NA>/NaN)."""
    import pandas as pd

    parts = [_frame(c) for c in chunks]
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in ROW_FIELDS})
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _frame(rows: Chunk) -> pd.DataFrame:
    import pandas as pd

    data: dict[str, Any] = {}
    for name, values in rows.items():
        if name == "K":
            data[name] = [[int(v) for v in r if v] or None for r in values.tolist()]
        elif name in KNOB_FIELDS:
            data[name] = pd.array(np.where(values > 0, values, 0), dtype="Int64")
            data[name][values == 0] = pd.NA
        elif name in TRISTATE:
            arr = pd.array(values == 1, dtype="boolean")
            arr[values < 0] = pd.NA
            data[name] = arr
        else:
            data[name] = values
    return pd.DataFrame(data)


def write(
    chunks: Iterable[Chunk], fh: IO[str], fmt: str, fields: tuple[str, ...] = ROW_FIELDS, header: str = ""
) -> int:
    """Stream rows as csv, md (after a header paragraph) or json. Returns the row count."""
    total = 0
    if fmt == "md" and header:
        fh.write(header.rstrip() + "\n\n")
    if fmt == "csv":
        fh.write(",".join(fields) + "\n")
    elif fmt == "md":
        fh.write("| " + " | ".join(fields) + " |\n|" + "---|" * len(fields) + "\n")
    elif fmt == "json":
        fh.write("[")
    for rows in chunks:
        n = rows["key"].size
        if n == 0:
            continue
        text = lines(rows, fields, fmt).tolist()
        if fmt == "json":
            fh.write(("\n" if total == 0 else ",\n") + ",\n".join(text))
        else:
            fh.write("\n".join(text) + "\n")
        total += n
    if fmt == "json":
        fh.write("\n]\n" if total else "]\n")
    return total


@contextmanager
def atomic_open(path: Path) -> Iterator[IO[str]]:
    """Write to a temporary file beside ``path``; rename it over ``path`` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600; give the file open()'s usual mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


TMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # atomic_open's temporary files (tempfile.mkstemp)


def clean_stale_tmp(directory: Path) -> None:
    """Delete the hidden temporary files a killed writer left (``.<name>.XXXXXXXX.tmp``); nothing else.

    Call it where no live writer of this directory can own one (e.g. under the search's lock).
    """
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if TMP_NAME.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)


def file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask: 0o666 & ~umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def format_for(path: Path) -> str:
    """Output format from a file suffix (csv, md, json), or '' when unknown."""
    return {".csv": "csv", ".md": "md", ".markdown": "md", ".json": "json"}.get(path.suffix.lower(), "")


def md_header(title: str, spec_line: str, extra: Iterable[str] = (), convention: str = CONVENTION) -> str:
    """The paragraph above a Markdown table: title, spec, counting convention."""
    out = [f"# {title}", "", f"Spec: {spec_line}", "", f"Convention: {convention}."]
    out += ["", *extra] if extra else []
    return "\n".join(out)
