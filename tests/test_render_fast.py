"""The byte path of render.py (one structured bytes array per chunk) against the row-by-row
reference (render.lines), and `space --format parquet` read back against the JSON rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from igcsearch import render
from igcsearch.request import spec_of
from igcsearch.space import ROW_FIELDS, chunks, concat, widen


def _wide(**options: Any) -> dict[str, Any]:
    base = {} if "in_channels" in options else {"channels": "16:128:16"}
    spec = spec_of({**base, "family": "igc1,igc2,igc3,dwsep,group,conv", **options})
    rows = concat([widen(c) for c in chunks(spec)])
    assert rows is not None
    return rows


@pytest.mark.parametrize("fmt", ["csv", "md", "json"])
def test_block_equals_lines(fmt: str) -> None:
    rows = _wide(balance_tol=float("inf"), in_channels="16,32", out_channels="32,64", stride="2")
    n = rows["key"].size
    rows["balance"][::7] = np.inf  # infinities and NaN: null in JSON, inf/-inf elsewhere
    rows["balance"][1::7] = -np.inf
    rows["error"] = np.array([["", 'a "b", c|d\n', "é"][i % 3] for i in range(n)], dtype=object)
    rows["latency_ms"] = np.linspace(0.1, 3.3, n)
    fields = (*ROW_FIELDS, "error", "latency_ms", "missing")
    expected = "".join(line + "\n" for line in render.lines(rows, fields, fmt).tolist())
    assert render.block(rows, fields, fmt, "\n") == expected


def test_block_falls_back_on_nul() -> None:
    rows = _wide()
    rows["error"] = np.array(["x\0y"] * rows["key"].size, dtype=object)
    rows["error"][0] = ""
    expected = "".join(line + "\n" for line in render.lines(rows, ("key", "error"), "csv").tolist())
    assert render.block(rows, ("key", "error"), "csv", "\n") == expected


def test_large_integers_by_digit_arithmetic() -> None:
    """Integer columns above the lookup table's range print as str() does, via render._digits."""
    values = np.array([0, 7, 9, 10, 99, 100, 4_194_304, 10**12, 10**17 + 1, 123_456_789_012_345], dtype=np.int64)
    assert render._bjoin([render._b(values), b"\n"], values.size).decode().split() == [str(v) for v in values]


@pytest.mark.parametrize("fmt", ["csv", "md", "json"])
def test_block_without_keys(fmt: str) -> None:
    """widen(rows, key=False): block writes the keys from their parts, the same text."""
    spec = spec_of({"channels": "16:64:16", "family": "igc1,igc2,igc3,dwsep,group,conv,lego", "stride": "2"})
    for c in chunks(spec):
        assert "key" not in widen(dict(c), key=False)
        assert render.block(widen(dict(c), key=False), ROW_FIELDS, fmt, "\n") == render.block(
            widen(dict(c)), ROW_FIELDS, fmt, "\n"
        )


def test_factorize_by_bits() -> None:
    """render._factorize: every row maps back to its value; distinct bit patterns only once."""
    rng = np.random.default_rng(0)
    cases = [
        np.array([1.5, np.nan, 1.5, np.inf, -np.inf, 0.1, np.nan]),
        rng.integers(0, 5000, 100_000) / 7.0,
        rng.random(1000),
        np.arange(300_000, dtype=np.int64) * 3,
        np.array([2.0]),
    ]
    for values in cases:
        uniq, codes = render._factorize(values)
        assert np.array_equal(uniq[codes], values, equal_nan=True)
        assert len(set(uniq.view(np.uint64).tolist())) == uniq.size


def test_keys_match_configs() -> None:
    import igcsearch

    rows = _wide(stride="2", in_channels="16,48", out_channels="32,48")
    for key in rows["key"][:: max(1, rows["key"].size // 300)]:
        assert igcsearch.parse_key(key).key == key


def test_parquet_equals_json(cli: Any, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    args = ["space", "-c", "16:128:16", "--family", "igc1,igc2,igc3,dwsep,group,conv", "--balance-tol", "inf"]
    out = tmp_path / "rows.parquet"
    result = cli(*args, "--format", "parquet", "--out", out)
    assert result.exit_code == 0, result.stderr
    expected = json.loads(cli(*args, "--format", "json").stdout)
    got = pq.read_table(out).to_pylist()
    assert len(got) == len(expected) > 100

    def same(a: Any, b: Any) -> bool:
        return (a is None and b is None) or a == b or (isinstance(a, float) and math.isclose(a, b, rel_tol=0))

    for row, want in zip(got, expected, strict=True):
        assert list(row) == list(want)
        assert all(same(row[k], want[k]) for k in want), (row, want)


def test_parquet_needs_a_file(cli: Any, tmp_path: Path) -> None:
    for extra in ([], ["--out", str(tmp_path / "x.csv")]):
        result = cli("space", "-c", "64", "--format", "parquet", *extra)
        assert result.exit_code == 1
        assert "give --out FILE.parquet" in result.stderr
