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
    if values.size == 0:
        return ""
    if values.dtype.kind in "iu" and values.min() >= 0 and values.max() < _TABLE_LIMIT:
        present = np.zeros(int(values.max()) + 1, dtype=bool)  # small ints: a lookup table
        present[values] = True
        uniq = np.flatnonzero(present)
        table = np.empty(present.size, dtype=object)
        table[uniq] = [fmt(v) for v in uniq.tolist()]
        return table[uniq[0]] if uniq.size == 1 else table[values]
    uniq, inverse = np.unique(values, return_inverse=True)
    strings = np.array([fmt(v) for v in uniq.tolist()], dtype=object)
    return strings[0] if uniq.size == 1 else strings[inverse.reshape(-1)]


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


def keys(rows: dict[str, Any]) -> np.ndarray:
    """Vectorised ``config.key`` (same layout as :func:`igcsearch.config.make_key`)."""
    return join(key_parts(rows), rows["params"].size)


def key_parts(rows: dict[str, Any]) -> list[Cell]:
    """The cells whose concatenation is each row's key."""
    family = get_family(rows["family"])
    parts: list[Cell] = [family.name + "-"]
    token = family.config.token
    if token:
        for i, piece in enumerate(re.split(r"\{(\w+)\}", token)):
            parts.append(piece if i % 2 == 0 else knob_text(rows[piece]))
        parts.append("-")
    cin, cout, stride = rows["in_channels"], rows["out_channels"], rows["stride"]
    square = text(cin)
    geo = np.where(cin == cout, "c", "i") if not isinstance(square, str) or (cin != cout).any() else "c"
    if isinstance(geo, str):
        parts += ["c", square]
    else:
        nonsq = np.where(cin == cout, "", np.char.add("o", cout.astype(str)).astype(object))
        parts += [geo.astype(object), square, nonsq]
    parts += ["k", text(rows["kernel"])]
    if (stride != 1).any():
        parts.append(text(stride, lambda v: f"s{v}" if v != 1 else ""))
    return parts


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
