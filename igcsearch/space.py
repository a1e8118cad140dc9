"""Enumerate every valid setting of every family for a spec, analytically (numpy only).

Rows stream out as chunks (dicts of numpy columns), family by family and geometry block by
geometry block, in a deterministic order: family (registry order), geometry (C_in, C_out, k),
then knobs ascending. Every listed row satisfies its family's filtering conditions and the
budget; ``wider`` and ``balance`` (within the tolerance) are information.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .cost import out_size, totals
from .errors import SpecError
from .registry import CONDITIONS, DENSE, Family, get_family, knob_fields
from .spec import MAX_CHANNELS, Spec

GEO_FIELDS = ("in_channels", "out_channels", "kernel", "stride", "input_size")
KNOB_FIELDS = knob_fields()  # every family's knobs, in listing order: g r L M K t G1 G2 o m today
ROW_FIELDS = (
    ("key", "family", *GEO_FIELDS, *KNOB_FIELDS, "params", "macs", "acts", "params_ratio", "macs_ratio", "baseline", *CONDITIONS, DENSE)
)  # fmt: skip
FILTERS = ("complementary", "divisible", "acceleration", "compression")
CHUNK_ROWS = 100_000  # rows per chunk: bounds memory on huge spaces
MAX_ROWS = 50_000_000  # a spec estimated above this would not finish in minutes (~1M rows/s at best)


@dataclass(frozen=True)
class Options:
    """What the enumerators need besides the geometry."""

    balance_tol: float
    expansion: tuple[int, ...]
    widest: bool = False  # --widest: a family may skip rows that no --widest structure keeps


def options(spec: Spec) -> Options:
    """The enumerators' options of a spec."""
    return Options(spec.balance_tol, spec.expansion, spec.widest)


Chunk = dict[str, Any]


def geometry(pairs: list[tuple[int, int]], spec: Spec, kernels: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """Column arrays of every (C_in, C_out, k) geometry, sorted, with per-geometry budgets."""
    kernels = kernels or spec.kernel
    rows = sorted((i, o, k) for i, o in pairs for k in kernels)
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    n = arr.shape[0]
    geo = {
        "in_channels": arr[:, 0],
        "out_channels": arr[:, 1],
        "kernel": arr[:, 2],
        "stride": np.full(n, spec.stride, dtype=np.int64),
        "input_size": np.full(n, spec.input_size, dtype=np.int64),
    }
    geo["out_size"] = out_size(geo["input_size"], geo["kernel"], geo["stride"])
    _check_int64(spec, rows)
    geo["params_max"] = np.full(n, np.inf if spec.params_max is None else spec.params_max)
    geo["macs_max"] = np.full(n, np.inf if spec.macs_max is None else spec.macs_max)
    if spec.budget == "conv" and not spec.widest:
        base = baseline_cost(geo)[0]
        geo["params_max"] = np.minimum(geo["params_max"], base)
    return geo


INT64_SAFE = 2**62


def _check_int64(spec: Spec, rows: list[tuple[int, int, int]]) -> None:
    """Counts are exact int64: refuse geometries whose counts could overflow."""
    if not rows:
        return
    cin, cout = max(r[0] for r in rows), max(r[1] for r in rows)
    k = max(r[2] for r in rows)
    # igc3's expansion runs at the input size on t·C_in channels; the others stay within 2x a conv
    grow = 4 * max(spec.expansion) if "igc3" in spec.families else 2
    worst = max(k * k, 1) * cin * cout * spec.input_size**2 * grow
    if worst >= INT64_SAFE:
        raise SpecError(
            f"counts for C_in={cin}, C_out={cout}, k={k} at {spec.input_size}x{spec.input_size} exceed exact 64-bit integers; "
            "use fewer channels, a smaller kernel or input size"
        )


def baseline_cost(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(params, macs, acts) of the regular conv-BN-ReLU with the same geometry."""
    return totals(get_family("conv").layers(cols))


def _take(geo: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in geo.items()}


def family_rows(family: Family, geo: dict[str, np.ndarray], opts: Options) -> Chunk:
    """Enumerate one family over a block of geometries; return filtered row columns."""
    return _filtered(family, geo, family.enumerate(geo, opts), opts)


def family_parts(
    family: Family, geo: dict[str, np.ndarray], opts: Options, estimate: float | None = None
) -> Iterator[Chunk]:
    """``family_rows`` in pieces of at most about CHUNK_ROWS rows, in the same order.

    A family whose single geometry can hold millions of rows (igc2) splits a block estimated
    above CHUNK_ROWS with an ``enumerate_chunks(geo, opts, limit)`` hook; other blocks are
    enumerated at once.
    """
    split = family.enumerate_chunks
    if split is None or (estimate is not None and estimate <= CHUNK_ROWS):
        yield _filtered(family, geo, family.enumerate(geo, opts), opts)
        return
    for sel in split(geo, opts, CHUNK_ROWS):
        yield _filtered(family, geo, sel, opts)


def _filtered(family: Family, geo: dict[str, np.ndarray], sel: dict[str, np.ndarray], opts: Options) -> Chunk:
    """Cost, conditions and filters of enumerated knob columns; the baseline ignores the budget."""
    sel = dict(sel)
    idx = sel.pop("geo")
    cols = {k: geo[k][idx] for k in (*GEO_FIELDS, "out_size")}
    cols.update(sel)
    params, macs, acts = totals(family.layers(cols))
    cols["params"], cols["macs"], cols["acts"] = _int(params, idx), _int(macs, idx), _int(acts, idx)
    keep = (cols["params"] <= geo["params_max"][idx]) & (cols["macs"] <= geo["macs_max"][idx])
    if family.baseline and not opts.widest:  # the reference row is listed whatever the budget
        keep = np.ones(idx.size, dtype=bool)
    checks = family.check(cols)
    for name in FILTERS:
        if name in checks:
            keep &= checks[name]
    if "balance" in checks:
        keep &= checks["balance"] <= opts.balance_tol
    cols.update(checks)
    rows = {k: v[keep] for k, v in cols.items()}
    rows["family"] = family.name
    return rows


def _int(values: Any, idx: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, dtype=np.int64), idx.shape).copy()


def finish(rows: Chunk) -> Chunk:
    """Add ratios against the regular conv of the row's own geometry and the baseline flag."""
    bp, bm, _ = baseline_cost(rows)
    rows["params_ratio"] = rows["params"] / bp
    rows["macs_ratio"] = rows["macs"] / bm
    rows["baseline"] = np.full(rows["params"].size, rows["family"] == "conv")
    return rows


def widen(rows: Chunk, key: bool = True) -> Chunk:
    """Give a one-family chunk every row field, so chunks of any families concatenate.

    Encoding of nulls: absent knobs are 0 (every knob is >= 1 when present), conditions and
    ``dense`` are int8 (-1 null, 0 false, 1 true), balance is NaN. The key is computed here (``key``);
    with ``key=False`` a chunk that has none is left without it, for ``render.block`` to write
    straight from the key's parts (no Python string per row).
    """
    from .render import keys

    n = rows["params"].size
    out: Chunk = {}
    if "key" in rows or key:
        out["key"] = rows["key"] if "key" in rows else keys(rows)  # precomputed keys (network rows) are kept
    out["family"] = np.full(n, rows["family"], dtype=object)
    for name in GEO_FIELDS:
        out[name] = rows[name]
    for name in KNOB_FIELDS:
        out[name] = rows[name] if name in rows else np.zeros((n, 1) if name == "K" else n, dtype=np.int64)
    for name in ("params", "macs", "acts", "params_ratio", "macs_ratio"):
        out[name] = rows[name]
    for name in ("baseline", *CONDITIONS, DENSE):
        if name == "balance":
            out[name] = rows.get(name, np.full(n, np.nan)).astype(np.float64)
        elif name in rows:
            out[name] = rows[name].astype(np.int8)
        else:
            out[name] = np.full(n, -1, dtype=np.int8)
    for name, value in rows.items():  # measurement columns and the like
        if name not in out and name not in ("out_size", "family") and isinstance(value, np.ndarray):
            out[name] = value
    return out


def take(rows: Chunk, index: np.ndarray) -> Chunk:
    """Rows ``index`` of a chunk."""
    return {k: (v[index] if isinstance(v, np.ndarray) else v) for k, v in rows.items()}


def sort_rows(rows: Chunk, by: str | None) -> Chunk:
    """Stable sort of a wide chunk on ``by`` (``-by`` descending), ties by key, nulls last."""
    if by is None or rows["key"].size == 0:
        return rows
    descending = by.startswith("-")
    by = by.lstrip("-")
    keys = rows["key"].astype(str)
    values = rows[by]
    if values.dtype == object:  # text: sort on each value's rank, so descending keeps ties by key ascending
        _, rank = np.unique(values.astype(str), return_inverse=True)
        rank = rank.reshape(-1)
        return take(rows, np.lexsort((keys, -rank if descending else rank)))
    values = values.astype(np.float64)
    null = np.isnan(values) | ((values == 0) if by in KNOB_FIELDS else False)  # absent knobs are 0
    values = np.where(null, np.inf, -values if descending else values)
    return take(rows, np.lexsort((keys, values)))


def blocks(family: Family, geo: dict[str, np.ndarray], opts: Options) -> Iterator[np.ndarray]:
    """Index blocks of geometries whose estimated row count stays near CHUNK_ROWS."""
    for index, _ in sized_blocks(family, geo, opts):
        yield index


def sized_blocks(family: Family, geo: dict[str, np.ndarray], opts: Options) -> Iterator[tuple[np.ndarray, float]]:
    """(index block, its estimated rows): blocks of geometries of about CHUNK_ROWS rows; a
    geometry estimated above CHUNK_ROWS is a block of its own."""
    n = geo["in_channels"].size
    est_fn = family.estimate
    est = est_fn(geo, opts) if est_fn else np.full(n, 64, dtype=np.int64)
    cum = np.cumsum(np.maximum(np.asarray(est, dtype=np.float64), 1))
    start = 0
    while start < n:
        base = cum[start - 1] if start else 0.0
        stop = min(max(int(np.searchsorted(cum, base + CHUNK_ROWS, side="right")), start + 1), n)
        yield np.arange(start, stop), float(cum[stop - 1] - base)
        start = stop


def chunks(spec: Spec) -> Iterator[Chunk]:
    """Every listed row of the spec, as finished chunks, in the canonical order."""
    check_size(spec)
    opts = options(spec)
    if spec.widest:
        yield from widest_chunks(spec, opts)
        return
    geo = geometry(spec.pairs(), spec)
    for name in spec.families:
        family = get_family(name)
        for block, rows_est in sized_blocks(family, geo, opts):
            for rows in family_parts(family, _take(geo, block), opts, rows_est):
                if rows["params"].size:
                    yield finish(rows)


def validate(spec: Spec) -> None:
    """Raise the spec's errors (size, overflow) before any output is written."""
    if not spec.widest:
        geometry(spec.pairs(), spec)  # checks exact 64-bit counts
    else:
        for name in spec.families:
            for kernel in spec.kernel:
                cmax = max_width(get_family(name), kernel, spec, *budget_of(spec, kernel))
                _check_int64(spec, [(cmax, cmax, kernel)])
    check_size(spec)


def check_size(spec: Spec) -> None:
    """Refuse a spec whose estimated row count would not finish."""
    total = estimated_rows(spec)
    if total > MAX_ROWS:
        what = "enumerate over every width up to the budget's widest" if spec.widest else "enumerate"
        raise SpecError(
            f"this spec would {what} about {total:,.0f} rows (limit {MAX_ROWS:,}); "
            "narrow the channels, families, budget or --balance-tol"
        )


@lru_cache(maxsize=8)
def estimated_rows(spec: Spec) -> float:
    """Rows the spec's enumeration goes through before the budget filter (an upper bound)."""
    opts = options(spec)
    if not spec.widest:
        geo = geometry(spec.pairs(), spec)
        return sum(_estimate(get_family(name), geo, opts) for name in spec.families)
    total = 0.0
    for name in spec.families:
        family = get_family(name)
        for kernel in spec.kernel:
            geo = _widest_geometry(family, kernel, spec)
            total += _estimate(family, geo, opts) if geo is not None else 0.0
    return total


def _estimate(family: Family, geo: dict[str, np.ndarray], opts: Options) -> float:
    est = family.estimate
    return float(np.asarray(est(geo, opts), dtype=np.float64).sum()) if est is not None else 0.0


# ---------------------------------------------------------------- --widest


def budget_of(spec: Spec, kernel: int) -> tuple[float, float]:
    """(params_max, macs_max) for --widest: explicit limits and/or the regular conv's params."""
    pmax = np.inf if spec.params_max is None else spec.params_max
    mmax = np.inf if spec.macs_max is None else spec.macs_max
    if spec.budget == "conv":
        c = spec.channels[0]
        geo = geometry([(c, c)], spec, (kernel,))
        pmax = min(pmax, float(baseline_cost(geo)[0][0]))
    return pmax, mmax


def max_width(family: Family, kernel: int, spec: Spec, pmax: float, mmax: float) -> int:
    """Largest width C whose cheapest conceivable block of the family fits the budget."""
    width = np.arange(1, 4 * MAX_CHANNELS + 1, dtype=np.int64)
    weights = family.min_weights(width, kernel * kernel)
    hw = int(out_size(spec.input_size, kernel, spec.stride)) ** 2
    fits = (weights + 2 * width <= pmax) & (weights * hw <= mmax)
    if not fits[0]:
        return 0
    last = int(np.argmin(fits)) if not fits.all() else width.size
    if last > MAX_CHANNELS:
        raise SpecError(
            f"--widest: the budget admits {family.name} widths above {MAX_CHANNELS}; lower --params-max/--macs-max"
        )
    return last


def _widest_geometry(family: Family, kernel: int, spec: Spec) -> dict[str, np.ndarray] | None:
    """Square geometries of widths 1 .. the family's widest conceivable width, with the budget."""
    pmax, mmax = budget_of(spec, kernel)
    cmax = max_width(family, kernel, spec, pmax, mmax)
    if cmax == 0:
        return None
    sub = Spec(**{**spec.__dict__, "params_max": pmax, "macs_max": mmax, "budget": None, "widest": False})
    return geometry([(c, c) for c in range(1, cmax + 1)], sub, (kernel,))


def widest_chunks(spec: Spec, opts: Options) -> Iterator[Chunk]:
    """Per family, kernel and structure, the widest square block that fits budget and filters.

    Streams: each block of widths is reduced to its widest row per structure and merged into
    the running best, so memory holds one block plus one row per structure.
    """
    for name in spec.families:
        family = get_family(name)
        for kernel in spec.kernel:
            geo = _widest_geometry(family, kernel, spec)
            if geo is None:
                continue
            best: Chunk | None = None
            for block, rows_est in sized_blocks(family, geo, opts):
                for part in family_parts(family, _take(geo, block), opts, rows_est):
                    if part["params"].size:
                        best = _widest_per_structure(family, part if best is None else concat([best, part]))
            if best is not None and best["params"].size:
                yield finish(best)


def _widest_per_structure(family: Family, rows: Chunk) -> Chunk:
    n = rows["params"].size
    if family.structure is None:
        keys, ok = np.zeros((n, 0), dtype=np.int64), np.ones(n, dtype=bool)
    else:
        keys, ok = family.structure(rows)
    rows = {k: (v[ok] if isinstance(v, np.ndarray) else v) for k, v in rows.items()}
    keys = keys[ok]
    width = rows["out_channels"]
    order = np.lexsort((width, *[keys[:, i] for i in range(keys.shape[1] - 1, -1, -1)]))
    skeys = keys[order]
    last = np.ones(order.size, dtype=bool)
    if order.size > 1:
        last[:-1] = (skeys[1:] != skeys[:-1]).any(axis=1) if keys.shape[1] else False
    pick = np.sort(order[last])
    return {k: (v[pick] if isinstance(v, np.ndarray) else v) for k, v in rows.items()}


def concat(parts: list[Chunk]) -> Chunk | None:
    """Concatenate chunks of one family, or wide chunks (2-D knob arrays padded)."""
    if not parts:
        return None
    out: Chunk = {}
    for key, first in parts[0].items():
        if not isinstance(first, np.ndarray):
            out[key] = first
        elif first.ndim == 2:
            width = max(p[key].shape[1] for p in parts)
            out[key] = np.concatenate([np.pad(p[key], ((0, 0), (0, width - p[key].shape[1]))) for p in parts])
        else:
            out[key] = np.concatenate([p[key] for p in parts])
    return out
