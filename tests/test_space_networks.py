"""`igcsearch space` lists whole networks analytically (``--network``, the network presets):
the same rows, keys, counts and budget rules as ``search --network``, with no torch."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import igcsearch
from igcsearch.cli import app

NETWORK_PRESETS = ("igcv1-cifar-net", "igcv1-imagenet-net", "igcv3-imagenet-net", "lego-vgg16-net")
# what `space` and `search --no-latency` share: the analytic columns of a network row
ANALYTIC = ("key", "family", "in_channels", "out_channels", "kernel", "stride", "input_size")
ANALYTIC += ("g", "r", "L", "M", "K", "t", "G1", "G2", "o", "m", "width", "params", "macs", "acts")
ANALYTIC += ("params_ratio", "macs_ratio", "baseline", "complementary", "balance", "wider")
ANALYTIC += ("acceleration", "compression", "divisible")


def cli_json(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9)
    return a == b or (a is None and b != b) or (b is None and a != a)


def analytic(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["key"]: {k: r.get(k) for k in ANALYTIC} for r in rows}


def assert_same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    a, b = analytic(got), analytic(want)
    assert list(a) == list(b) or sorted(a) == sorted(b)
    for key in a:
        bad = {k: (a[key][k], b[key][k]) for k in ANALYTIC if not same(a[key][k], b[key][k])}
        assert not bad, f"{key}: {bad}"


@pytest.mark.parametrize("preset", NETWORK_PRESETS)
def test_space_lists_every_network_preset_as_enumerate_does(preset: str) -> None:
    rows = cli_json("space", "--preset", preset)
    assert rows and all(r["key"].startswith("net-") for r in rows)
    assert "width" in rows[0] and list(rows[0]).index("width") < list(rows[0]).index("params")
    frame = igcsearch.enumerate(preset=preset)  # the rows search measures (target_of(spec).rows)
    expected = json.loads(frame.to_json(orient="records", double_precision=15))
    assert [r["key"] for r in rows] == frame["key"].tolist()
    assert_same_rows(rows, expected)


def test_space_network_rows_equal_search_no_latency_rows(tmp_path: Path) -> None:
    args = ["--network", "cifar-plain-8", "-c", "8", "--family", "conv,igc1,lego", "--balance-tol", "inf"]
    listed = cli_json("space", *args)
    searched = cli_json("search", *args, "--no-latency", "--out", str(tmp_path / "out"))
    assert len(listed) == len(searched) > 3
    assert_same_rows(listed, searched)


def test_space_network_budget_rules_match_search() -> None:
    rows = cli_json("space", "--network", "cifar-plain-8", "--family", "igc1", "--budget", "network")
    assert rows and len({r["width"] for r in rows}) > 1  # the base width is free within the budget
    ref = cli_json("space", "--network", "cifar-plain-8", "--family", "conv", "-c", "18")[0]
    assert all(r["params"] <= ref["params"] for r in rows)
    assert all(r["key"].startswith("net-cifar-plain-8-igc1-") for r in rows)


def test_space_network_table_csv_md_and_out_files(tmp_path: Path) -> None:
    args = ["space", "--network", "cifar-plain-8", "-c", "8", "--family", "igc1"]
    table = CliRunner().invoke(app, [*args, "--top", "3"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "width" in table.output and "net-cifar-plain-8-igc1-" in table.output
    assert "reference network" in table.output
    csv = CliRunner().invoke(app, [*args, "--format", "csv"])
    header = csv.stdout.splitlines()[0].split(",")
    assert header.index("width") < header.index("params") and "L" in header
    md = CliRunner().invoke(app, [*args, "--format", "md"])
    assert "| width |" in md.stdout and "reference network" in md.stdout
    out = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "d") + "/"])
    assert out.exit_code == 0, out.output
    written = json.loads((tmp_path / "d" / "space.json").read_text())
    assert written == cli_json(*args)
    assert "width" in (tmp_path / "d" / "space.csv").read_text().splitlines()[0].split(",")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--network", "cifar-plain-8", "--stride", "2"], "--stride has no meaning with --network"),
        (["--network", "cifar-plain-8", "--in-channels", "8", "--out-channels", "8"], "not --in-channels"),
        (["--network", "nope"], "unknown network 'nope'"),
    ],
)
def test_space_refuses_what_search_refuses(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["space", *args])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
