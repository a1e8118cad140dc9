"""`igcsearch space` through typer's CliRunner: bad input, empty results, output formats."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from conftest import brute_keys, divisors, igc1_balance, ref_cost

ROW_FIELDS = [
    "key", "family", "in_channels", "out_channels", "kernel", "stride", "input_size",
    "g", "r", "L", "M", "K", "t", "G1", "G2", "o", "m",
    "params", "macs", "acts", "params_ratio", "macs_ratio", "baseline",
    "complementary", "balance", "wider", "acceleration", "compression", "divisible", "dense",
]  # fmt: skip
KNOBS = {"conv": [], "group": ["g"], "dwsep": ["r"], "igc1": ["L", "M"], "igc2": ["K"], "igc3": ["t", "G1", "G2"]}
KNOBS["lego"] = ["o", "m"]


def flat(text: str) -> str:
    """Whitespace and rich panel borders collapsed, so wrapped messages can be searched."""
    return " ".join(text.replace("│", " ").split())


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "bad.toml").write_text('name = "x"\nchannels = [\n')
    (tmp_path / "unknown.toml").write_text("channels = 64\nfoo = 1\n")
    (tmp_path / "nested.toml").write_text("channels = 64\n[sub]\na = 1\n")
    (tmp_path / "badvalue.toml").write_text('channels = "abc"\n')
    (tmp_path / "zero.toml").write_text("channels = 0\n")
    (tmp_path / "badtype.toml").write_text("channels = 64\nwidest = 3\n")
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "latin1.toml").write_bytes('name = "größe"\nchannels = 64\n'.encode("latin-1"))
    return tmp_path


# (arguments, exit code, fragment of the message); {tmp} is the fixture directory
BAD: list[tuple[list[str], int, str]] = [
    (["space", "-c", "abc"], 1, "--channels must be an integer"),
    (["space", "-c", "0"], 1, "--channels must be >= 1, got 0"),
    (["space", "-c", "-5"], 1, "--channels must be >= 1"),
    (["space", "-c", "0:8"], 1, "--channels must be >= 1, got 0"),
    (["space", "-c", "1.5"], 1, "--channels must be an integer"),
    (["space", "-c", "64:32"], 1, "stop must be >= start"),
    (["space", "-c", "8:64:0"], 1, "step must be > 0"),
    (["space", "-c", "1:2:3:4"], 1, "start:stop"),
    (["space", "-c", ","], 1, "--channels"),
    (["space", "-c", "64", "--family", "igc9"], 1, "unknown block family 'igc9'; choose from: conv, dwsep, group"),
    (["space", "-c", "64", "--family", ","], 1, "--family is empty"),
    (["space", "-c", "64", "--sort", "foo"], 1, "unknown sort key 'foo'; choose from: key"),
    (["space", "-c", "64", "--sort", "-foo"], 1, "unknown sort key"),
    (["space", "-c", "64", "-k", "4"], 1, "--kernel must be odd"),
    (["space", "-c", "64", "-k", "3,4"], 1, "--kernel must be odd"),
    (["space", "-c", "64", "-k", "0"], 1, "--kernel must be >= 1"),
    (["space", "-c", "64", "-k", "33"], 1, "--kernel 33 is too large"),
    (["space", "-c", "64", "--params-max", "-5"], 1, "--params-max"),
    (["space", "-c", "64", "--params-max", "abc"], 1, "--params-max must be a number"),
    (["space", "-c", "64", "--macs-max", "2X"], 1, "--macs-max must be a number"),
    (["space", "-c", "64", "--budget", "foo"], 1, "--budget must be 'conv'"),
    (["space", "-c", "64", "--balance-tol", "0.5"], 1, "--balance-tol must be >= 1"),
    (["space", "-c", "64", "--balance-tol", "abc"], 1, "--balance-tol must be a number"),
    (["space", "-c", "64", "--balance-tol", "nan"], 1, "--balance-tol"),
    (["space", "-c", "64", "--balance-tol", "-inf"], 1, "--balance-tol"),
    (["space", "--preset", "{tmp}/bad.toml"], 1, "is not valid TOML"),
    (["space", "--preset", "{tmp}/missing.toml"], 1, "does not exist"),
    (["space", "--preset", "nosuch"], 1, "unknown preset 'nosuch'; choose from: default"),
    (["space", "--preset", "{tmp}/unknown.toml"], 1, "unknown key(s) foo; valid keys: name, question, channels"),
    (["space", "--preset", "{tmp}/nested.toml"], 1, "a preset is a flat table; nested table(s) sub"),
    (["space", "--preset", "{tmp}/badvalue.toml"], 1, "--channels must be an integer"),
    (["space", "--preset", "{tmp}/zero.toml"], 1, "--channels must be >= 1"),
    (["space", "--preset", "{tmp}/badtype.toml"], 1, "--widest must be true or false"),
    (["space", "-c", "64", "--in-channels", "32", "--out-channels", "64"], 1, "not both"),
    (["space", "--in-channels", "32"], 1, "--in-channels and --out-channels go together"),
    (["space", "--out-channels", "32"], 1, "--in-channels and --out-channels go together"),
    (["space"], 1, "no channels given"),
    (["space", "-c", "64", "--widest"], 1, "--widest needs a budget"),
    (["space", "-c", "32,64", "--widest", "--budget", "conv"], 1, "exactly one -c value"),
    (["space", "--in-channels", "8", "--out-channels", "8", "--widest", "--params-max", "1K"], 1, "square widths"),
    (["space", "--widest", "--params-max", "1e12"], 1, "above 65536"),
    (["space", "-c", "64", "--widest", "--params-max", "40K"], 1, "-c is only used with --budget conv"),
    (["space", "-c", "64", "--params-max", "1e400"], 1, "must be finite"),
    (["space", "-c", "64", "--out", "{tmp}/results.txt"], 1, "give a .csv, .md, .json or .parquet file"),
    # conv fits below 65536 channels, group does not: the error must come before any row is streamed
    (["space", "--widest", "--params-max", "5e8", "--format", "json"], 1, "group widths above 65536"),
    (["space", "--widest", "--params-max", "5e8", "--format", "csv"], 1, "group widths above 65536"),
    (["space", "-c", "1:70000"], 1, "--channels 70000 is too large: at most 65536 channels"),
    (["space", "-c", "64", "--format", "xml"], 1, "unknown --format 'xml'; choose from: table, csv, md, json"),
    (["space", "-c", "64", "--out", "{tmp}/afile/x.csv"], 1, "cannot write"),
    (["space", "-c", "64", "--out", "{tmp}/afile"], 1, "exists and is not a directory"),
    (["space", "-c", "64", "--top", "0"], 1, "--top must be >= 1"),
    (["space", "-c", "64", "--top", "-1"], 1, "--top must be >= 1"),
    (["space", "-c", "64", "--top", "abc"], 1, "--top must be an integer"),
    (["space", "-c", "64", "--top", "1.5"], 1, "--top must be an integer"),
    (["space", "-c", "64", "--top", "1,2"], 1, "--top takes one value"),
    (["space", "-c", "64", "--stride", "0"], 1, "--stride must be >= 1"),
    (["space", "-c", "64", "--stride", "1,2"], 1, "--stride takes one value"),
    (["space", "-c", "64", "--input-size", "0"], 1, "--input-size must be >= 1"),
    (["space", "-c", "64", "--input-size", "5000"], 1, "--input-size 5000 is too large: at most 4096"),
    (["space", "-c", "64", "--expansion", "0"], 1, "--expansion must be >= 1"),
    (["space", "-c", "64", "--expansion", "65"], 1, "--expansion values must be <= 64"),
    # ranges are refused before they are expanded (a 1e11-value range would exhaust memory)
    (["space", "-c", "1:100000000000"], 1, "--channels 100000000000 is too large: at most 65536"),
    (["space", "-c", "64", "-k", "1:100000000001:2"], 1, "--kernel 100000000001 is too large: at most 31"),
    (["space", "-c", "64", "--expansion", "1:10000000000"], 1, "has 10,000,000,000 values: at most 65,536"),
    # igc2's row count is computed exactly (chains per width) before anything is enumerated
    (["space", "-c", "1:65536", "--family", "igc2", "--balance-tol", "1e9"], 1, "about 134,648,385 rows (limit"),
    (["space", "--preset", "{tmp}/latin1.toml"], 1, "is not UTF-8 text"),
    (["space", "--preset", "igcv1-cifar-net", "--stride", "2"], 1, "--stride has no meaning with --network"),
    (["show", "igc1-L1M64-c64k3"], 1, "igc1: L=1 is invalid; must be an integer >= 2"),
    (["show", "group-g1-c64k3"], 1, "group: g=1 is invalid; must be an integer >= 2"),
    (["show", "nonsense"], 1, "malformed key 'nonsense'"),
    (["show", "igc1-L3M8-c64k3"], 1, "igc1: L*M=24 is invalid"),
    (["families", "--format", "xml"], 1, "unknown --format 'xml'"),
    (["presets", "--format", "xml"], 1, "unknown --format 'xml'"),
    # usage errors: typer's panel, exit 2
    (["space", "-c", "64", "--unknown-opt", "1"], 2, "No such option: --unknown-opt"),
    (["space", "-c"], 2, "Option '-c' requires an argument"),
    (["space", "64"], 2, "unexpected extra argument"),
    (["show"], 2, "Missing argument 'key'"),
    (["nosuchcommand"], 2, "No such command 'nosuchcommand'"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_bad_input(cli: Any, files: Path, args: list[str], code: int, fragment: str) -> None:
    result = cli(*[a.replace("{tmp}", str(files)) for a in args])
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if code == 1:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert fragment.replace("{tmp}", str(files)) in lines[0]
    else:
        assert fragment in flat(result.stderr)


def test_failed_out_leaves_no_files(cli: Any, files: Path) -> None:
    before = sorted(p.name for p in files.iterdir())
    result = cli("space", "-c", "64", "--out", str(files / "afile" / "x.csv"))
    assert result.exit_code == 1
    assert sorted(p.name for p in files.iterdir()) == before


# ---------------------------------------------------------------- empty results: exit 0 and why


def _empty(result: Any) -> str:
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "no rows" in result.stderr
    return flat(result.stderr)


def test_empty_igc2_on_a_prime(cli: Any) -> None:
    message = _empty(cli("space", "-c", "7", "--family", "igc2"))
    assert "igc2" in message and "C=7" in message


def test_empty_igc1_names_closest_balance(cli: Any) -> None:
    message = _empty(cli("space", "-c", "7", "-k", "3", "--family", "igc1", "--balance-tol", "1.1"))
    # the only igc1 of C = 7 is L = 7, M = 1: balance max(9·1, 7) / min(9·1, 7)
    assert "L7M1" in message
    assert f"{9 / 7:.3g}" in message
    assert "--balance-tol inf" in message


def test_empty_budget_names_smallest(cli: Any) -> None:
    message = _empty(cli("space", "-c", "64", "--params-max", "10", "--family", "igc1"))
    # the default balance tolerance 2 keeps only some L; the message names the cheapest of them
    within = [L for L in divisors(64)[1:] if igc1_balance(9, L, 64 // L) <= 2]
    params, L = min((ref_cost("igc1", 64, 64, L=L, M=64 // L)[0], L) for L in within)
    assert f"L{L}M{64 // L}" in message and f"{params} params" in message


def test_empty_nonsquare_igc2(cli: Any) -> None:
    message = _empty(cli("space", "--in-channels", "8", "--out-channels", "16", "--family", "igc2"))
    assert "C_in = C_out" in message


def test_empty_widest(cli: Any) -> None:
    message = _empty(cli("space", "--widest", "--params-max", "0"))
    assert "fits the budget" in message


def test_empty_widest_names_the_balance_filter(cli: Any) -> None:
    # within 50 params the widest igc1 are L2M1 (C = 2, balance 4.5) and L3M1 (C = 3, balance 3)
    assert ref_cost("igc1", 3, 3, L=3, M=1)[0] <= 50 < ref_cost("igc1", 4, 4, L=4, M=1)[0]
    message = _empty(cli("space", "--widest", "--params-max", "50", "--family", "igc1", "--balance-tol", "1"))
    assert "no igc1 setting meets balance <= 1 at any width within the budget" in message
    assert f"closest: L3M1 at {float(igc1_balance(9, 3, 1)):.3g}" in message
    assert "--balance-tol inf" in message


def test_empty_json_is_an_empty_list(cli: Any) -> None:
    result = cli("space", "-c", "7", "--family", "igc2", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


# ---------------------------------------------------------------- formats


def rows_json(cli: Any, *args: str) -> list[dict[str, Any]]:
    result = cli("space", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_rows_have_the_design_fields(cli: Any) -> None:
    rows = rows_json(cli, "-c", "24", "--balance-tol", "inf", "--expansion", "1,2")
    rows += rows_json(cli, "--in-channels", "12", "--out-channels", "18", "--stride", "2")
    assert {r["family"] for r in rows} == set(KNOBS)
    for r in rows:
        assert list(r) == ROW_FIELDS
        for family, knobs in KNOBS.items():
            for knob in knobs:
                assert (r[knob] is None) == (r["family"] != family), (r["key"], knob)
        if r["family"] == "igc2":
            assert isinstance(r["K"], list) and all(isinstance(k, int) for k in r["K"])
            assert math.prod(r["K"]) == r["out_channels"]
        for name in ("params", "macs", "acts", "in_channels", "out_channels", "kernel", "stride", "input_size"):
            assert isinstance(r[name], int) and not isinstance(r[name], bool)
        conv_params, conv_macs, _ = ref_cost("conv", r["in_channels"], r["out_channels"], r["kernel"], r["stride"])
        assert r["params_ratio"] == r["params"] / conv_params
        assert r["macs_ratio"] == r["macs"] / conv_macs
        assert r["baseline"] is (r["family"] == "conv")
        if r["family"] == "conv":
            assert [r[c] for c in ROW_FIELDS[-7:-1]] == [None] * 6
        assert r["dense"] is (r["family"] != "group"), r["key"]  # only group g > 1 is not dense here


def test_csv_and_md_parse_back(cli: Any) -> None:
    args = ("-c", "16,24", "--balance-tol", "inf")
    keys = [r["key"] for r in rows_json(cli, *args)]
    assert len(keys) == len(brute_keys([(16, 16), (24, 24)], balance_tol=math.inf))
    result = cli("space", *args, "--format", "csv")
    assert result.exit_code == 0
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(table[0]) == ROW_FIELDS
    assert [r["key"] for r in table] == keys
    for r in table:
        if r["family"] == "igc2":
            assert math.prod(int(k) for k in r["K"].split("x")) == int(r["out_channels"])
        else:
            assert r["K"] == ""
    result = cli("space", *args, "--format", "md")
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ROW_FIELDS
    body = lines[2:]
    assert len(body) == len(keys)
    assert [line.strip("|").split("|")[0].strip() for line in body] == keys
    assert "Convention:" in result.stdout


def test_out_dir_writes_three_files_atomically(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = cli("space", "-c", "32", "--out", str(out), "--format", "json")
    assert result.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["space.csv", "space.json", "space.md"]  # no temp files
    keys = [r["key"] for r in json.loads(result.stdout)]
    assert [r["key"] for r in json.loads((out / "space.json").read_text())] == keys
    assert [r["key"] for r in csv.DictReader(io.StringIO((out / "space.csv").read_text()))] == keys
    md = (out / "space.md").read_text()
    assert sum(1 for line in md.splitlines() if line.startswith("| ")) == len(keys) + 1
    assert "Convention:" in md
    assert str(out) in result.stderr  # says what it wrote
    # again into the same directory: replaced, still no temp files
    again = cli("space", "-c", "32", "--out", str(out), "--format", "json")
    assert again.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["space.csv", "space.json", "space.md"]
    assert [r["key"] for r in json.loads((out / "space.json").read_text())] == keys


def test_out_single_file(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "one.csv"
    result = cli("space", "-c", "32", "--family", "igc1", "--out", str(out))
    assert result.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.csv"]
    keys = [r["key"] for r in csv.DictReader(io.StringIO(out.read_text()))]
    assert keys == [r["key"] for r in rows_json(cli, "-c", "32", "--family", "igc1")]


def test_out_files_get_the_umask_mode(cli: Any, tmp_path: Path) -> None:
    import os

    old = os.umask(0o027)
    try:
        result = cli("space", "-c", "16", "--out", str(tmp_path / "r"))
    finally:
        os.umask(old)
    assert result.exit_code == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "r").iterdir()}
    assert modes == dict.fromkeys(["space.csv", "space.json", "space.md"], 0o666 & ~0o027)


def test_top_limits_the_terminal_not_the_files(cli: Any, tmp_path: Path) -> None:
    everything = rows_json(cli, "-c", "64")
    result = cli("space", "-c", "64", "--top", "3", "--format", "json", "--out", str(tmp_path / "f.json"))
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 3
    assert [r["key"] for r in json.loads((tmp_path / "f.json").read_text())] == [r["key"] for r in everything]


def test_baseline_conv_is_listed_whatever_the_budget(cli: Any) -> None:
    rows = rows_json(cli, "-c", "64", "--params-max", "1000")
    conv = [r for r in rows if r["family"] == "conv"]
    assert [r["key"] for r in conv] == ["conv-c64k3"] and conv[0]["params"] > 1000 and conv[0]["baseline"]
    assert all(r["params"] <= 1000 for r in rows if r["family"] != "conv")


def _sorted_reference(rows: list[dict[str, Any]], field: str, descending: bool = False) -> list[str]:
    present = [r for r in rows if r[field] is not None]
    absent = [r for r in rows if r[field] is None]
    sign = -1 if descending else 1
    ordered = sorted(present, key=lambda r: (sign * r[field], r["key"])) + sorted(absent, key=lambda r: r["key"])
    return [r["key"] for r in ordered]


def test_sort_params_top5_ties_by_key(cli: Any) -> None:
    everything = rows_json(cli, "-c", "64")
    params = [r["params"] for r in everything]
    assert len(params) > len(set(params)), "the spec has ties (igc3 G1/G2 swaps at t = 1)"
    top = rows_json(cli, "-c", "64", "--sort", "params", "--top", "5")
    assert [r["key"] for r in top] == _sorted_reference(everything, "params")[:5]
    full = rows_json(cli, "-c", "64", "--sort", "params")
    assert [r["key"] for r in full] == _sorted_reference(everything, "params")


def test_sort_descending_and_nulls_last(cli: Any) -> None:
    everything = rows_json(cli, "-c", "48", "--balance-tol", "inf")
    desc = rows_json(cli, "-c", "48", "--balance-tol", "inf", "--sort", "-params", "--top", "12")
    assert [r["key"] for r in desc] == _sorted_reference(everything, "params", descending=True)[:12]
    by_balance = rows_json(cli, "-c", "48", "--balance-tol", "inf", "--sort", "balance")
    assert [r["key"] for r in by_balance] == _sorted_reference(everything, "balance")
    by_L = rows_json(cli, "-c", "48", "--balance-tol", "inf", "--sort", "L")
    assert [r["key"] for r in by_L] == _sorted_reference(everything, "L")
    # descending on a text field: ties (every row of a family) stay ascending by key
    by_family = rows_json(cli, "-c", "48", "--balance-tol", "inf", "--sort", "-family")
    expected = sorted(everything, key=lambda r: r["key"])
    expected = sorted(expected, key=lambda r: r["family"], reverse=True)  # stable: keys stay ascending
    assert [r["key"] for r in by_family] == [r["key"] for r in expected]
    by_key = rows_json(cli, "-c", "48", "--balance-tol", "inf", "--sort", "key", "--top", "7")
    assert [r["key"] for r in by_key] == sorted(r["key"] for r in everything)[:7]


def test_top_without_sort_keeps_the_default_order(cli: Any) -> None:
    everything = rows_json(cli, "-c", "64")
    top = rows_json(cli, "-c", "64", "--top", "9")
    assert [r["key"] for r in top] == [r["key"] for r in everything][:9]


def test_terminal_table_mentions_total_and_convention(cli: Any) -> None:
    result = cli("space", "-c", "64")
    assert result.exit_code == 0
    text = flat(result.stdout)
    total = len(brute_keys([(64, 64)]))
    assert f"of {total} rows" in text
    assert "convention:" in text
    assert "BN gamma/beta" in text and "multiply-accumulates" in text
    assert "conv-c64k3" in text


def test_si_suffix_budget(cli: Any) -> None:
    assert rows_json(cli, "-c", "64", "--params-max", "36.992K") == rows_json(cli, "-c", "64", "--budget", "conv")


@pytest.mark.parametrize("fmt", ["table", "csv", "md", "json"])
def test_output_is_byte_identical(cli: Any, fmt: str) -> None:
    args = ("space", "-c", "24,36", "-k", "1,3", "--balance-tol", "inf", "--format", fmt)
    first, second = cli(*args), cli(*args)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout
    assert len(first.stdout) > 1000


def test_families_lists_the_registry(cli: Any) -> None:
    result = cli("families", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["conv", "group", "dwsep", "igc1", "igc2", "igc3", "lego"]
    igc1 = rows[3]
    for condition in ("complementary", "balance", "wider", "divisible"):
        assert condition in igc1["conditions"]


def test_widest_without_channels_describes_its_spec(cli: Any) -> None:
    result = cli("space", "--widest", "--params-max", "3000", "--family", "igc1", "--balance-tol", "inf")
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert "igc1-L" in text
    assert "params <= 3000" in text
    # no empty channel assignment such as "C_in=, C_out=;" in the header
    for empty in ("C_in=,", "C_out=;", "C=;"):
        assert empty not in text, text[:300]


def test_huge_counts_are_exact_or_refused(cli: Any) -> None:
    """int64 holds 9.2e18; a 65536-channel 31x31 conv at 4096x4096 has 6.9e19 MACs."""
    result = cli("space", "-c", "65536", "-k", "31", "--input-size", "4096", "--family", "conv", "--format", "json")
    assert "Traceback" not in result.stderr
    if result.exit_code == 1:
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
    else:
        assert result.exit_code == 0
        row = json.loads(result.stdout)[0]
        assert row["params"] == 31 * 31 * 65536 * 65536 + 2 * 65536
        assert row["macs"] == 31 * 31 * 65536 * 65536 * 4096 * 4096


def test_large_counts_that_fit_int64_are_not_refused(cli: Any) -> None:
    """A 65536-channel 31x31 conv at 256x256 has 2.7e17 MACs: well inside int64 (9.2e18)."""
    macs = 31 * 31 * 65536 * 65536 * 256 * 256
    assert macs < 2**62
    result = cli("space", "-c", "65536", "-k", "31", "--input-size", "256", "--family", "conv", "--format", "json")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)[0]
    assert row["params"] == 31 * 31 * 65536 * 65536 + 2 * 65536
    assert row["macs"] == macs
