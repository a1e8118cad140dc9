"""Vectorised text rendering of row chunks: CSV lines, JSON objects, Markdown rows, keys.

A column becomes an object array of Python strings, formatted once per *distinct* value
(np.unique) and gathered back, or a single constant string when the whole chunk shares it;
a row is then one ``str.join`` over its cells. A million rows render in about a second.
Floats are written as Python's shortest round-trip ``repr``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .registry import get_family, scalar_knobs

Cell = np.ndarray | str
_BOOL = {"csv": ("False", "True"), "md": ("False", "True"), "json": ("false", "true")}
_NULL = {"csv": "", "md": "", "json": "null"}
_TABLE_LIMIT = 1 << 22
KNOBS = scalar_knobs()  # igc2's K (a list) is rendered on its own


def _csv_text(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


_ESCAPE: dict[str, Callable[[Any], str]] = {
    "csv": _csv_text,
    "md": lambda v: str(v).replace("|", "\\|").replace("\n", " "),
    "json": json.dumps,
}


def text(values: np.ndarray, fmt: Callable[[Any], str] = str) -> Cell:
    """Format each distinct value once; a constant column collapses to one string."""
    table, index = _distinct(values, fmt)
    if table is None:
        return ""
    return table[0] if table.size == 1 else table[index]


def _distinct(
    values: np.ndarray, fmt: Callable[[Any], str] | None, dtype: Any = object, patch: dict[str, str] | None = None
) -> tuple[Any, Any]:
    """(strings of the distinct values, index of each row's string): ``fmt`` once per distinct value.

    ``fmt`` None is ``repr`` of floats (NaN and infinities as they come: callers patch them).
    ``dtype`` object gives Python strings, ``bytes`` their UTF-8 bytes (a numpy ``S`` array);
    ``patch`` replaces some strings (``{"nan": ""}``).
    """
    if values.size == 0:
        return None, None
    if values.dtype.kind in "iu" and values.min() >= 0 and values.max() < _TABLE_LIMIT:
        present = np.zeros(int(values.max()) + 1, dtype=bool)  # small ints: a lookup table
        present[values] = True
        uniq = np.flatnonzero(present)
        strings = list(map(fmt or str, uniq.tolist()))
        if dtype is bytes:
            table = np.zeros(present.size, dtype=_encode(strings).dtype)
            table[uniq] = _encode(strings)
        else:
            table = np.empty(present.size, dtype=object)
            table[uniq] = strings
        return (table[uniq], np.zeros(values.shape, np.intp)) if uniq.size == 1 else (table, values)
    fast = values.dtype.kind in "fiu" and values.dtype.itemsize == 8
    uniq, inverse = _factorize(values) if fast else np.unique(values, return_inverse=True)
    strings = list(map(fmt or repr, uniq.tolist()))
    if patch:
        strings = [patch.get(s, s) for s in strings]
    return (_encode(strings) if dtype is bytes else np.array(strings, dtype=object)), inverse.reshape(-1)


_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)  # odd 64-bit multipliers


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, index of each value among them) of a 1-D 8-byte array, by its bits.

    Multiplicative hashing into a table of >= 4x the rows instead of np.unique's sort; rows whose
    slot another value took go round again with another multiplier (np.unique after three).
    Distinct values are in no particular order; equal bits are one value (0.0 and -0.0 are two).
    """
    bits = np.ascontiguousarray(values.reshape(-1)).view(np.uint64)
    n = bits.size
    shift = np.uint64(64 - max(8, (4 * n).bit_length()))
    codes = np.empty(n, dtype=np.intp)
    found: list[np.ndarray] = []
    todo, count = np.arange(n), 0
    for mix in _MIX:
        if not todo.size:
            break
        b = bits[todo]
        slot = ((b * np.uint64(mix)) >> shift).astype(np.intp)
        table = np.empty(1 << (64 - int(shift)), dtype=np.uint64)
        table[slot] = b  # the last writer of each slot keeps it
        hit = table[slot] == b
        used = np.zeros(table.size, dtype=bool)
        used[slot[hit]] = True
        slots = np.flatnonzero(used)
        number = np.empty(table.size, dtype=np.intp)
        number[slots] = np.arange(count, count + slots.size)
        codes[todo[hit]] = number[slot[hit]]
        found.append(table[slots])
        count += slots.size
        todo = todo[~hit]
    if todo.size:
        rest, inverse = np.unique(bits[todo], return_inverse=True)
        codes[todo] = count + inverse.reshape(-1)
        found.append(rest)
    return np.concatenate(found).view(values.dtype), codes


def _encode(strings: list[str]) -> np.ndarray:
    """UTF-8 bytes of each string as a numpy ``S`` array (at least one byte wide)."""
    if "\0" in "".join(strings):
        raise _Slow  # NUL pads numpy's fixed-width bytes: such text takes the per-row path
    try:
        return np.array(strings, dtype="S") if strings else np.zeros(0, "S1")  # ASCII: ~2x encoding each
    except UnicodeEncodeError:
        data = list(map(str.encode, strings))
        return np.array(data, dtype=f"S{max(1, max(map(len, data), default=1))}")


class _Slow(Exception):
    """A cell the byte path cannot hold (a NUL character): render the chunk row by row."""


def floats(values: np.ndarray, fmt: str) -> Cell:
    """repr of each float; NaN is null, infinities are inf/-inf (null in JSON)."""
    null = _NULL[fmt]

    def one(v: float) -> str:
        if v != v:
            return null
        if v in (float("inf"), float("-inf")):
            return null if fmt == "json" else repr(v)
        return repr(v)

    return text(values, one)


def bools(values: np.ndarray, fmt: str) -> Cell:
    """True/False (csv, md) or true/false (json)."""
    no, yes = _BOOL[fmt]
    return text(values.astype(np.int8), lambda v: yes if v else no)


def knob_text(values: np.ndarray, sep: str = "x") -> Cell:
    """1-D knob as text; a 2-D zero-padded chain (igc2's K) as ``1x4x4x4``."""
    if values.ndim == 1:
        return text(values)
    top = int(values.max(initial=0))
    first = np.array([str(v) for v in range(top + 1)], dtype=object)
    later = np.array([""] + [f"{sep}{v}" for v in range(1, top + 1)], dtype=object)
    cols = [first[values[:, 0]]] + [later[values[:, j]] for j in range(1, values.shape[1])]
    return np.array(list(map("".join, zip(*cols, strict=True))), dtype=object)


def join(parts: list[Cell], n: int) -> np.ndarray:
    """Concatenate cells left to right, row by row (constants merged and repeated)."""
    merged: list[Cell] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if all(isinstance(p, str) for p in merged):
        return np.full(n, "".join(merged), dtype=object)  # type: ignore[arg-type]
    iters = [itertools.repeat(p, n) if isinstance(p, str) else p for p in merged]
    return np.array(list(map("".join, zip(*iters, strict=False))), dtype=object)


def cell(rows: dict[str, Any], name: str, fmt: str) -> Cell:
    """One column of a wide chunk (see ``space.widen``) as text in the given format."""
    null = _NULL[fmt]
    if name not in rows:
        return null
    values = rows[name]
    if values.dtype == object:
        if name in ("key", "family"):  # plain identifiers: no escaping needed
            return join(['"', values, '"'], values.size) if fmt == "json" else values
        return text(values, _ESCAPE[fmt])
    if values.ndim == 2:  # igc2's K, zero-padded; all zeros where the row has no K
        body = knob_text(values, ", " if fmt == "json" else "x")
        if fmt == "json":
            body = join(["[", body, "]"], values.shape[0])
        present = values[:, 0] > 0
        return body if present.all() else np.where(present, body, null)
    if name in KNOBS:
        return text(values, lambda v: str(v) if v else null)
    if values.dtype == np.int8:  # tri-state condition column
        no, yes = _BOOL[fmt]
        return text(values, lambda v: yes if v > 0 else (no if v == 0 else null))
    if values.dtype == bool:
        return bools(values, fmt)
    if values.dtype.kind == "f":
        return floats(values, fmt)
    return text(values)


def lines(rows: dict[str, Any], fields: tuple[str, ...] | list[str], fmt: str) -> np.ndarray:
    """Every row of a chunk as one line of CSV, a JSON object or a Markdown table row."""
    n = rows["key"].size
    parts: list[Cell] = []
    for i, name in enumerate(fields):
        values = [cell(rows, name, fmt)]
        if fmt == "csv":
            parts += ([","] if i else []) + values
        elif fmt == "md":
            parts += ["| " if i == 0 else " | ", *values]
        else:
            parts += ["{" if i == 0 else ", ", f'"{name}": ', *values]
    parts.append({"csv": "", "md": " |", "json": "}"}[fmt])
    return join(parts, n)


# ---------------------------------------------------------------- the byte path
# A chunk renders as one numpy structured array with a fixed-width bytes field per cell: a
# column's UTF-8 text (NUL-padded by numpy) or a constant. Its bytes with the NULs removed are
# the rows' text, so no Python string is made per row.

BCell = np.ndarray | bytes


def _b(values: np.ndarray, fmt: Callable[[Any], str] | None = str, patch: dict[str, str] | None = None) -> BCell:
    """A column as UTF-8 bytes per row (``S`` array), or one constant; ``fmt`` per distinct value.

    Only :func:`_bjoin` reads these cells' bytes, so an ``S`` array may hold NULs before its text
    as well as after it (see :func:`_digits`).
    """
    if fmt is str and values.dtype.kind in "iu" and values.size and not patch:
        low, top = int(values.min()), int(values.max())
        if low == top:
            return str(low).encode()
        if low >= 0 and top >= _TABLE_LIMIT and top < 10**18:
            return _digits(values, len(str(top)))
    table, index = _distinct(values, fmt, bytes, patch)
    if table is None:
        return b""
    return bytes(table[0]) if table.size == 1 else table[index]


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Decimal text of non-negative integers, right-aligned in ``S{width}`` with leading NULs.

    Digit arithmetic on whole columns: no sort, no Python string per value.
    """
    v = values.astype(np.int64, copy=False)
    out = np.zeros((v.size, width), dtype=np.uint8)
    rest = v.copy()
    for place in range(width):
        digit = (rest % 10).astype(np.uint8) + 48
        out[:, width - 1 - place] = digit if place == 0 else np.where(v >= 10**place, digit, 0)
        rest //= 10
    return out.view(f"S{width}").reshape(-1)


def _bjoin(parts: list[BCell], n: int) -> bytes:
    """Concatenate cells left to right, row by row, into one bytes object.

    The constants are laid out once in a template row that is repeated n times; only the
    column cells are then written, through a structured view of that buffer.
    """
    merged: list[BCell] = []
    for part in parts:
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        elif not (isinstance(part, bytes) and not part):
            merged.append(part)
    if all(isinstance(p, bytes) for p in merged):
        return b"".join(merged) * n  # type: ignore[arg-type]
    template = bytearray()
    names, formats, offsets = [], [], []
    for i, part in enumerate(merged):
        if isinstance(part, bytes):
            template += part
        else:
            names.append(f"f{i}")
            formats.append(part.dtype)
            offsets.append(len(template))
            template += bytes(part.dtype.itemsize)
    buf = template * n
    out = np.frombuffer(buf, dtype=np.dtype({"names": names, "formats": formats, "offsets": offsets,
                                              "itemsize": len(template)}))  # fmt: skip
    for name, part in zip(names, (p for p in merged if not isinstance(p, bytes)), strict=True):
        out[name] = part
    del out
    return buf.translate(None, b"\0")  # the NUL padding out (a bytearray): ~3x a boolean mask


def keys(rows: dict[str, Any]) -> np.ndarray:
    """Vectorised ``config.key`` (same layout as :func:`igcsearch.config.make_key`)."""
    n = rows["params"].size
    text = _bjoin([*key_parts(rows), b"\n"], n).decode()
    return np.array(text.split("\n")[:n], dtype=object)


def key_parts(rows: dict[str, Any]) -> list[BCell]:
    """The cells whose concatenation is each row's key (of a one-family chunk, raw or wide)."""
    name = rows["family"]
    family = get_family(name if isinstance(name, str) else str(name[0]))
    parts: list[BCell] = [family.name.encode() + b"-"]
    token = family.config.token
    if token:
        for i, piece in enumerate(re.split(r"\{(\w+)\}", token)):
            parts += [piece.encode()] if i % 2 == 0 else _knob(rows[piece], "x")
        parts.append(b"-")
    cin, cout, stride = rows["in_channels"], rows["out_channels"], rows["stride"]
    square = cin == cout
    if square.all():
        parts += [b"c", _b(cin)]
    else:
        parts += [np.where(square, b"c", b"i"), _b(cin), np.where(square, b"", _b(cout, lambda v: f"o{v}"))]
    parts += [b"k", _b(rows["kernel"])]
    if (stride != 1).any():
        parts.append(_b(stride, lambda v: f"s{v}" if v != 1 else ""))
    return parts


def _knob(values: np.ndarray, sep: str, null: str | None = None) -> list[BCell]:
    """A 1-D knob, or a 2-D zero-padded chain (igc2's K) as ``1x4x4x4`` (``null`` where it is all zeros)."""
    if values.ndim == 1:
        return [_b(values)]
    last = _KNOB_LAST[0]
    if last is not None and last[0] is values and last[1] == (sep, null):
        return last[2]  # the key and the K column of one chunk: the same cells
    top = int(values.max(initial=0))
    first = _encode(([null] if null is not None else ["0"]) + [str(v) for v in range(1, top + 1)])
    later = _encode([""] + [f"{sep}{v}" for v in range(1, top + 1)])
    cells = [first[values[:, 0]]] + [later[values[:, j]] for j in range(1, values.shape[1])]
    _KNOB_LAST[0] = (values, (sep, null), cells)
    return cells


_KNOB_LAST: list[Any] = [None]  # (chain array, (sep, null), its cells) of the last 2-D _knob call


def _bcell(rows: dict[str, Any], name: str, fmt: str) -> list[BCell]:
    """One column of a wide chunk as bytes cells; the same text as :func:`cell`."""
    null = _NULL[fmt]
    if name == "key" and name not in rows:  # a wide chunk without its keys: widen(rows, key=False)
        body = key_parts(rows)
        return [b'"', *body, b'"'] if fmt == "json" else body
    if name not in rows:
        return [null.encode()]
    values = rows[name]
    if values.dtype == object:
        if name in ("key", "family"):  # plain identifiers: no escaping needed
            body = _ident(values)
            return [b'"', body, b'"'] if fmt == "json" else [body]
        return [_b(values, _ESCAPE[fmt])]
    if values.ndim == 2:  # igc2's K, zero-padded; all zeros where the row has no K
        present = values[:, 0] > 0
        body = _knob(values, ", " if fmt == "json" else "x", None if present.all() else null)
        if fmt != "json":
            return body
        if present.all():
            return [b"[", *body, b"]"]
        return [np.where(present, b"[", b""), *body, np.where(present, b"]", b"")]
    if name in KNOBS:
        return [_b(values, lambda v: str(v) if v else null)]
    no, yes = _BOOL[fmt]
    if values.dtype == np.int8:  # tri-state condition column
        return [_b((values + 1).astype(np.int8), (null, no, yes).__getitem__)]
    if values.dtype == bool:
        return [_b(values.view(np.int8), (no, yes).__getitem__)]
    if values.dtype.kind == "f":
        if np.isfinite(values).all():
            return [_b(values, None)]
        inf = fmt == "json"
        return [_b(values, None, {"nan": null, "inf": null if inf else "inf", "-inf": null if inf else "-inf"})]
    return [_b(values)]


def _ident(values: np.ndarray) -> BCell:
    """A column of identifiers (key, family) as bytes."""
    first = values[0] if values.size else ""
    if values.size and (values == first).all():
        return str(first).encode()
    try:
        return values.astype(bytes)
    except UnicodeEncodeError:
        return _encode(values.tolist())


def block(rows: dict[str, Any], fields: tuple[str, ...] | list[str], fmt: str, end: str) -> str:
    """Every row of a chunk as :func:`lines` gives it, each followed by ``end``, as one string.

    A wide chunk without ``key`` (``widen(rows, key=False)``) gets its keys from the key's parts.
    """
    return block_bytes(rows, fields, fmt, end).decode()


def block_bytes(rows: dict[str, Any], fields: tuple[str, ...] | list[str], fmt: str, end: str) -> bytes:
    """:func:`block`'s text as UTF-8 bytes (for a binary stream: no decode and re-encode)."""
    n = (rows["key"] if "key" in rows else rows["params"]).size
    try:
        parts: list[BCell] = []
        for i, name in enumerate(fields):
            if fmt == "csv":
                parts += [b","] if i else []
            elif fmt == "md":
                parts.append(b"| " if i == 0 else b" | ")
            else:
                parts.append((b"{" if i == 0 else b", ") + f'"{name}": '.encode())
            parts += _bcell(rows, name, fmt)
        parts.append({"csv": b"", "md": b" |", "json": b"}"}[fmt] + end.encode())
        return _bjoin(parts, n)
    except _Slow:
        if "key" not in rows:
            rows = {**rows, "key": keys(rows)}
        return "".join(line + end for line in lines(rows, fields, fmt).tolist()).encode()
