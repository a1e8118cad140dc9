"""Ranked rows out: selection (sort, top N), DataFrames, and streaming CSV/Markdown/JSON files.

Writers take *wide* chunks (``space.widen``) and stream them, so a space of millions of rows
is written in bounded memory; files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import codecs
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from .errors import SpecError
from .render import block_bytes
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
    put = _bytes_writer(fh)
    if fmt == "md" and header:
        put((header.rstrip() + "\n\n").encode())
    if fmt == "csv":
        put((",".join(fields) + "\n").encode())
    elif fmt == "md":
        put(("| " + " | ".join(fields) + " |\n|" + "---|" * len(fields) + "\n").encode())
    elif fmt == "json":
        put(b"[")
    for rows in chunks:
        n = (rows["key"] if "key" in rows else rows["params"]).size
        if n == 0:
            continue
        if fmt == "json":
            put((b"\n" if total == 0 else b",\n") + block_bytes(rows, fields, fmt, ",\n")[:-2])
        else:
            put(block_bytes(rows, fields, fmt, "\n"))
        total += n
    if fmt == "json":
        put(b"\n]\n" if total else b"]\n")
    return total


def _bytes_writer(fh: IO[str]) -> Any:
    """A function writing UTF-8 bytes to ``fh``: straight to the binary buffer under stdout where
    that is the same text (UTF-8, no newline translation), else decoded to ``fh``."""
    buffer = getattr(fh, "buffer", None)
    same = fh is sys.stdout and isinstance(fh, io.TextIOWrapper) and buffer is not None and os.linesep == "\n"
    if same and codecs.lookup(fh.encoding).name == "utf-8":
        fh.flush()  # what fh holds goes out first
        return buffer.write
    return lambda data: fh.write(data.decode())


def write_parquet(chunks: Iterable[Chunk], path: Path, fields: tuple[str, ...] = ROW_FIELDS) -> int:
    """Stream wide chunks to a Parquet file (pyarrow, the ``parquet`` extra), atomically. Returns the rows.

    Types: integers int64, floats float64, conditions bool, knobs int64 and K list<int64>,
    identifiers and text string; a null in the other formats is a null here (NaN too).
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SpecError("--format parquet needs pyarrow: pip install 'igcsearch[parquet]'") from None
    total, writer = 0, None
    with atomic_open(path, binary=True) as fh:
        try:
            for rows in chunks:
                if rows["key"].size == 0:
                    continue
                table = pa.table({name: _arrow(pa, rows, name) for name in fields})
                if writer is None:
                    writer = pq.ParquetWriter(fh, table.schema)
                writer.write_table(table.cast(writer.schema))
                total += rows["key"].size
            if writer is None:
                empty = {name: pa.array([], _arrow_type(pa, name)) for name in fields}
                writer = pq.ParquetWriter(fh, pa.table(empty).schema)
        finally:
            if writer is not None:
                writer.close()
    return total


def _arrow_type(pa: Any, name: str) -> Any:
    if name == "K":
        return pa.list_(pa.int64())
    if name in TRISTATE or name == "baseline":
        return pa.bool_()
    if name in ("key", "family", "error"):
        return pa.string()
    if name.endswith(("_ratio", "_ms")) or name == "balance":
        return pa.float64()
    return pa.int64()


def _arrow(pa: Any, rows: Chunk, name: str) -> Any:
    """One column of a wide chunk as a pyarrow array (nulls as in the text formats)."""
    n = rows["key"].size
    if name not in rows:
        return pa.nulls(n, _arrow_type(pa, name))
    values = rows[name]
    if values.dtype == object:
        return pa.array(values, pa.string())
    if values.ndim == 2:  # igc2's K: the nonzero prefix, null where the row has none
        lengths = (values > 0).sum(axis=1)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        flat = pa.array(values[values > 0].astype(np.int64))
        return pa.ListArray.from_arrays(pa.array(offsets), flat, mask=pa.array(lengths == 0))
    if name in KNOB_FIELDS:
        return pa.array(values.astype(np.int64), mask=values == 0)
    if values.dtype == np.int8:
        return pa.array(values == 1, mask=values < 0)
    if values.dtype.kind == "f":
        return pa.array(values.astype(np.float64), mask=np.isnan(values))
    if values.dtype == bool:
        return pa.array(values)
    return pa.array(values.astype(np.int64))


@contextmanager
def atomic_open(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path``; rename it over ``path`` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600; give the file open()'s usual mode
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
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
    """Output format from a file suffix (csv, md, json, parquet), or '' when unknown."""
    suffixes = {".csv": "csv", ".md": "md", ".markdown": "md", ".json": "json", ".parquet": "parquet"}
    return suffixes.get(path.suffix.lower(), "")


def md_header(title: str, spec_line: str, extra: Iterable[str] = (), convention: str = CONVENTION) -> str:
    """The paragraph above a Markdown table: title, spec, counting convention."""
    out = [f"# {title}", "", f"Spec: {spec_line}", "", f"Convention: {convention}."]
    out += ["", *extra] if extra else []
    return "\n".join(out)
