"""Network-level search: `network_rows(spec)` (budget, widths, knobs, completeness against a brute
force over (L, M)), the network presets, and whole-network search end to end."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from network_refs import ref_mobilenet, ref_plain, ref_resnet18
from typer.testing import CliRunner

from igcsearch.api import search as api_search
from igcsearch.cli import app
from igcsearch.cli.search import MEASURE_KEYS
from igcsearch.counting import count
from igcsearch.errors import ConfigError, SpecError
from igcsearch.measure import MeasureOptions
from igcsearch.networks import build_network_key, network_cost, network_rows, parse_network_key
from igcsearch.networks.report import network_notes
from igcsearch.pipeline import run_search
from igcsearch.report import to_frame
from igcsearch.space import widen
from igcsearch.spec import Spec, load_preset, make_spec

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
NETWORK_PRESETS = sorted(p for p in PRESET_DIR.glob("*.toml") if "network" in tomllib.loads(p.read_text()))
REGCONV_W18_D20 = 341_020  # params of RegConv-W18, depth 20 (test_networks.py derives it)
FAST = MeasureOptions(rounds=1, batch=1, min_time=0.001, warmup=1)


def frame(spec: Spec) -> Any:
    return to_frame(widen(c) for c in network_rows(spec))


def net_spec(network: str, **kw: Any) -> Spec:
    return Spec(extra={"network": network}, **kw)


def igcv1_rows(depth: int = 20) -> Any:
    return frame(net_spec(f"cifar-plain-{depth}", family=("conv", "igc1"), budget="network"))


# ---------------------------------------------------------------- the IGC-V1 paper's question


def test_l24m2_fits_the_regconv_w18_budget() -> None:
    df = igcv1_rows()
    assert "net-cifar-plain-20-igc1-L24M2-c48k3" in set(df["key"])
    assert (df["params"] <= REGCONV_W18_D20).all()
    row = df.set_index("key").loc["net-cifar-plain-20-igc1-L24M2-c48k3"]
    assert (row["L"], row["M"], row["width"]) == (24, 2, 48)  # first-stage M; M = 4, 8 in stages 2, 3
    assert (row["params"], row["macs"]) == (155_962, 28_755_840)
    assert row["params_ratio"] == pytest.approx(155_962 / REGCONV_W18_D20)
    assert row["macs_ratio"] == pytest.approx(28_755_840 / 51_260_112)
    assert (row["in_channels"], row["out_channels"], row["kernel"], row["stride"], row["input_size"]) == (
        3,
        10,
        3,
        1,
        32,
    )
    assert bool(row["complementary"]) and bool(row["wider"]) and row["balance"] == pytest.approx(24 / 18)


def test_reference_row_is_the_baseline() -> None:
    df = igcv1_rows()
    base = df[df["baseline"] == True]  # noqa: E712
    assert base["key"].tolist() == ["net-cifar-plain-20-conv-c18k3"]
    assert base["params_ratio"].tolist() == [1.0]
    conv = df[df["family"] == "conv"]
    assert conv["width"].tolist() == list(range(1, 19))  # every regular width up to the budget's own


def brute_force_igc1(depth: int, tol: float) -> set[str]:
    """Every (L, M), L >= 2, balance <= tol, whose whole network fits the RegConv-W18 budget."""
    budget = network_cost(f"net-cifar-plain-{depth}-conv-c18k3")[0]
    keys = set()
    for width in range(2, 200):
        for L in range(2, width + 1):
            M, rest = divmod(width, L)
            if rest or max(9 * M, L) / min(9 * M, L) > tol:
                continue
            key = f"net-cifar-plain-{depth}-igc1-L{L}M{M}-c{width}k3"
            if network_cost(key)[0] <= budget:
                keys.add(key)
    return keys


@pytest.mark.parametrize("tol", [2.0, math.inf])
def test_igc1_rows_are_complete(tol: float) -> None:
    df = frame(net_spec("cifar-plain-8", family=("igc1",), budget="network", balance_tol=tol))
    assert set(df["key"]) == brute_force_igc1(8, tol)
    assert df["key"].is_unique


def test_widest_keeps_the_widest_network_per_L() -> None:
    df = frame(net_spec("cifar-plain-20", family=("igc1",), budget="network", widest=True, balance_tol=math.inf))
    assert df["L"].is_unique
    budget = REGCONV_W18_D20
    for L, M in zip(df["L"], df["M"], strict=True):
        assert network_cost(f"net-cifar-plain-20-igc1-L{L}M{M}-c{L * M}k3")[0] <= budget
        assert network_cost(f"net-cifar-plain-20-igc1-L{L}M{M + 1}-c{L * (M + 1)}k3")[0] > budget


def test_macs_budget_and_explicit_widths() -> None:
    df = frame(net_spec("cifar-resnet-8", family=("igc1",), macs_max=2e6, balance_tol=math.inf))
    assert len(df) > 0 and (df["macs"] <= 2e6).all()
    fixed = frame(net_spec("cifar-resnet-8", family=("conv", "igc1"), channels=(16, 32)))
    assert set(fixed["width"]) == {16, 32}
    assert fixed[fixed["family"] == "conv"]["key"].tolist() == [
        "net-cifar-resnet-8-conv-c16k3",
        "net-cifar-resnet-8-conv-c32k3",
    ]


def test_imagenet_and_mobilenet_networks() -> None:
    df = frame(net_spec("resnet18", family=("igc1",), channels=(64,), input_size=224, balance_tol=math.inf))
    assert "net-resnet18-igc1-L4M16-c64k3" in set(df["key"])
    assert (df["out_channels"] == 1000).all() and (df["input_size"] == 224).all()
    mb = frame(net_spec("mobilenetv2-d", family=("igc3",), params_max=3.505e6, expansion=(6,), input_size=224))
    assert "net-mobilenetv2-d-igc3-t6G2x2-c32k3" in set(mb["key"])  # IGCV3-D fits MobileNetV2-1.0's params
    assert (mb["params"] <= 3.505e6).all() and (mb["t"] == 6).all()


def test_lego_network_knobs() -> None:
    df = frame(net_spec("vgg16", family=("lego",), channels=(64,)))
    assert "net-vgg16-lego-o2m32-c64k3" in set(df["key"])  # LegoNet's o = 2, m = 0.5·n
    assert set(64 // df["m"]) <= {2, 4, 8, 16, 32, 64}
    assert df["acceleration"].all() and df["compression"].all()


FAMILIES = ("conv", "group", "dwsep", "igc1", "igc2", "igc3", "lego")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_row_builds_to_its_counts(family: str) -> None:
    spec = net_spec("cifar-resnet-8", family=(family,), channels=(8,), balance_tol=math.inf)
    chunks = list(network_rows(spec))
    assert [c["family"] for c in chunks] == [family]
    rows = chunks[0]
    for i in sorted({0, rows["key"].size - 1}):
        key = str(rows["key"][i])
        assert parse_network_key(key).key == key
        assert key.startswith(f"net-cifar-resnet-8-{family}-")
        assert count(build_network_key(key), 3, 32) == (int(rows["params"][i]), int(rows["macs"][i]))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (net_spec("cifar-plain-21"), "depth 21 is invalid"),
        (net_spec("mobilenetv2", family=("igc1",)), "takes the block families igc3"),
        (net_spec("cifar-plain-20", budget="network", channels=(16, 18)), "at most one -c"),
        (net_spec("cifar-plain-20", in_channels=(16,), out_channels=(16,)), "not --in-channels"),
        (net_spec("vgg16", family=("group",), budget="network"), "base widths above 4096"),
        (Spec(extra={"network": ""}), "no network given"),
    ],
)
def test_spec_errors(spec: Spec, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        list(network_rows(spec))


def test_build_network_key_rejects_block_keys() -> None:
    with pytest.raises(ConfigError, match="malformed network key"):
        build_network_key("igc1-L8M8-c64k3")


# ---------------------------------------------------------------- presets


@pytest.mark.parametrize("path", NETWORK_PRESETS, ids=lambda p: p.stem)
def test_network_presets(path: Path) -> None:
    raw = tomllib.loads(path.read_text())
    assert raw.get("question")
    keys = (*MEASURE_KEYS, "network")
    spec = make_spec(load_preset(path.stem, extra_keys=keys), extra_keys=keys)
    df = frame(spec)
    assert len(df) >= 1 and df["key"].is_unique
    assert set(df["family"]) <= set(raw["family"])
    if spec.params_max is not None:
        assert (df["params"] <= spec.params_max).all()
    if spec.budget is not None:
        assert spec.budget == "network" and raw["budget"] == "network"
        assert (df["params_ratio"] <= 1.0).all()


def test_presets_ask_the_papers_questions() -> None:
    assert len(NETWORK_PRESETS) >= 4
    keys = (*MEASURE_KEYS, "network")
    spec = make_spec(load_preset("igcv1-cifar-net", extra_keys=keys), extra_keys=keys)
    assert "net-cifar-plain-20-igc1-L24M2-c48k3" in set(frame(spec)["key"])


# ---------------------------------------------------------------- end to end


def test_search_measures_whole_networks(tmp_path: Path) -> None:
    spec = net_spec("cifar-plain-5", name="net", family=("conv", "igc1"), budget="network", widest=True)
    result = run_search(spec, FAST, tmp_path)
    rows = result.rows
    n = rows["key"].size
    assert n >= 3
    assert rows["count_ok"].tolist() == [1] * n  # analytic == fvcore on every whole network
    assert (rows["params_measured"] == rows["params"]).all() and (rows["macs_measured"] == rows["macs"]).all()
    assert np.isfinite(rows["latency_ms"]).all()
    assert sorted(rows["rank"].tolist()) == list(range(1, n + 1))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {r["key"] for r in saved} == set(rows["key"].tolist())
    assert all(r["key"].startswith("net-cifar-plain-5-") and r["in_channels"] == 3 for r in saved)
    config = json.loads((tmp_path / "configs" / "net-cifar-plain-5-conv-c18k3.json").read_text())
    assert config["config"] == {"network_key": "net-cifar-plain-5-conv-c18k3"}


def test_api_search_on_a_network_spec() -> None:
    spec = net_spec("cifar-resnet-8", family=("igc1",), channels=(8,), balance_tol=math.inf)
    df = api_search(spec=spec, measure={"latency": False})
    assert set(df["key"]) == {
        "net-cifar-resnet-8-igc1-L2M4-c8k3",
        "net-cifar-resnet-8-igc1-L4M2-c8k3",
        "net-cifar-resnet-8-igc1-L8M1-c8k3",
    }
    assert df["count_ok"].all()


def test_cli_search_network(tmp_path: Path) -> None:
    # -c 18: the reference RegConv-W18 network whose params are the budget; the IGC width is free
    args = ["search", "--network", "cifar-plain-5", "-c", "18", "--family", "igc1", "--budget", "network", "--widest"]
    args += ["--rounds", "1", "--batch", "1", "--min-time", "0.001", "--format", "json", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and all(r["count_ok"] for r in rows)
    assert all(r["input_size"] == 32 and r["out_channels"] == 10 for r in rows)
    budget = ref_plain(5, 18, "conv")[0]
    assert all(r["params"] <= budget and r["key"].startswith("net-cifar-plain-5-igc1-") for r in rows)
    assert len({r["L"] for r in rows}) == len(rows)  # --widest: one network per L
    alias = CliRunner().invoke(app, [*args[:8], "conv", *args[9:]])  # --budget conv: the same with --network
    assert alias.exit_code == 0, alias.output
    assert [(r["key"], r["params"]) for r in json.loads(alias.stdout)] == [(r["key"], r["params"]) for r in rows]


def test_budget_network_means_the_regular_conv_network() -> None:
    keys = (*MEASURE_KEYS, "network")
    for budget in ("network", "conv"):
        spec = make_spec({"network": "cifar-plain-8", "budget": budget, "family": "igc1"}, extra_keys=keys)
        assert spec.budget == "network"
        df = frame(spec)
        budget_params = ref_plain(8, 18, "conv")[0]
        assert len(df) > 0 and (df["params"] <= budget_params).all()
        assert set(df["key"]) == brute_force_igc1(8, 2.0)


@pytest.mark.parametrize("command", ["space", "search"])
def test_budget_network_needs_a_network(command: str) -> None:
    result = CliRunner().invoke(app, [command, "-c", "64", "--budget", "network"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --budget network needs --network NAME (the network built with regular convs); for a block use --budget conv"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--network", "cifar-plain-8", "--stride", "2"], "--stride has no meaning with --network"),
        (["--network", "cifar-plain-8", "--stride", "1"], "--stride has no meaning with --network"),
        (["--network", "mobilenetv2-d", "-c", "64"], "keeps MobileNetV2-1.0's published widths (base width 32)"),
        (
            ["--network", "mobilenetv2", "--family", "conv,igc3"],
            "takes the block families igc3; --family asked for conv",
        ),
        (["--network", "cifar-plain-8", "--in-channels", "8", "--out-channels", "8"], "not --in-channels"),
    ],
)
def test_options_without_meaning_in_network_mode_are_refused(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["search", *args, "--no-latency", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "results.json").exists()


def test_network_mode_honours_kernel_input_size_and_expansion() -> None:
    k5 = frame(net_spec("cifar-plain-5", family=("igc1",), channels=(8,), kernel=(5,), balance_tol=math.inf))
    assert set(k5["key"]) == {f"net-cifar-plain-5-igc1-L{L}M{8 // L}-c8k5" for L in (2, 4, 8)}
    small = frame(net_spec("cifar-plain-5", family=("conv",), channels=(8,), input_size=16))
    assert small["macs"].tolist() == [ref_plain(5, 8, "conv", size=16)[1]]
    t3 = frame(net_spec("mobilenetv2", family=("igc3",), expansion=(3,), input_size=224))
    assert set(t3["t"]) == {3}


# ---------------------------------------------------------------- the reference network of MobileNetV2 layouts

IGCV3_D = (1, 4, 6, 8, 6, 6, 1)


def test_igcv3d_budget_and_ratios_are_against_mobilenetv2() -> None:
    spec = net_spec("mobilenetv2-d", family=("igc3",), budget="network", expansion=(6,), input_size=224)
    df = frame(spec).set_index("key")
    mbv2 = ref_mobilenet()  # MobileNetV2-1.0, not MobileNetV2 units at IGCV3-D depth
    igcv3d = ref_mobilenet(repeats=IGCV3_D, groups=(2, 2))
    row = df.loc["net-mobilenetv2-d-igc3-t6G2x2-c32k3"]
    assert (row["params"], row["macs"]) == igcv3d
    assert row["params_ratio"] == pytest.approx(igcv3d[0] / mbv2[0])  # 0.996
    assert row["macs_ratio"] == pytest.approx(igcv3d[1] / mbv2[1])  # 1.041
    assert (df["params"] <= mbv2[0]).all() and not df["baseline"].any()
    (note,) = network_notes(spec)
    assert note.startswith("reference network (ratios, --budget network): MobileNetV2-1.0 (")
    assert f"net-mobilenetv2-ref, {mbv2[0]:,} params, {mbv2[1]:,} MACs at 224x224" in note
    assert "regular conv" not in note


def test_igcv3_preset_asks_against_mobilenetv2() -> None:
    keys = (*MEASURE_KEYS, "network")
    spec = make_spec(load_preset("igcv3-imagenet-net", extra_keys=keys), extra_keys=keys)
    assert spec.budget == "network" and spec.params_max is None
    df = frame(spec)
    assert "net-mobilenetv2-d-igc3-t6G2x2-c32k3" in set(df["key"])
    assert (df["params"] <= ref_mobilenet()[0]).all()


# ---------------------------------------------------------------- igc1 width rules on ResNet-18


def test_resnet18_enumerates_both_igc1_rules() -> None:
    spec = net_spec("resnet18", family=("igc1",), channels=(8,), input_size=32, balance_tol=math.inf)
    df = frame(spec)

    def fits(L: int, rule: str) -> bool:  # every stage's first block needs C_in % L == 0
        Ls = [L * 2**s if rule == "L" else L for s in range(4)]
        return all((8 * 2 ** (s - 1)) % Ls[s] == 0 for s in range(1, 4))

    expected = {f"net-resnet18-igc1-L{L}M{8 // L}-c8k3" for L in (2, 4, 8) if fits(L, "M")}
    expected |= {f"net-resnet18-igc1-L{L}M{8 // L}-c8k3-Lx2" for L in (2, 4, 8) if fits(L, "L")}
    assert set(df["key"]) == expected
    assert "net-resnet18-igc1-L8M1-c8k3-Lx2" not in expected  # 8 % 16: stage 2 cannot take L = 16
    for key in sorted(k for k in expected if k.endswith("-Lx2")):
        L = int(re.search(r"-L(\d+)M", key)[1])
        ref = ref_resnet18(8, (8, 16, 32, 64), Ls=(L, 2 * L, 4 * L, 8 * L), size=32)
        row = df.set_index("key").loc[key]
        assert (row["params"], row["macs"]) == ref == count(build_network_key(key), 3, 32)


def test_imagenet_preset_reaches_igc_l100m2() -> None:
    keys = (*MEASURE_KEYS, "network")
    spec = make_spec(load_preset("igcv1-imagenet-net", extra_keys=keys), extra_keys=keys)
    df = frame(spec).set_index("key")
    key = "net-resnet18-igc1-L100M2-c200k3-Lx2"  # the paper's L100M2 rule and widths (stem 200 here, 100 there)
    assert (df.loc[key, "L"], df.loc[key, "M"], df.loc[key, "width"]) == (100, 2, 200)
    assert df.loc[key, "params"] == ref_resnet18(200, (200, 400, 800, 1600), Ls=(100, 200, 400, 800))[0]
    assert df.loc[key, "params"] <= ref_resnet18(64, (64, 128, 256, 512))[0]
    rule_l = df[df.index.str.endswith("-Lx2")]
    assert (rule_l.loc[rule_l["L"] == 100, "M"] == 2).all()  # --widest: per (rule, L) only the widest


# ---------------------------------------------------------------- what network search shows and writes


def key_knobs(key: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"net-cifar-plain-5-igc1-L(\d+)M(\d+)-c(\d+)k3", key)
    assert m is not None, key
    return int(m[1]), int(m[2]), int(m[3])


def test_width_and_knobs_in_every_output(tmp_path: Path) -> None:
    args = ["search", "--network", "cifar-plain-5", "-c", "18", "--family", "igc1", "--budget", "network"]
    args += ["--widest", "--no-latency", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows
    for r in rows:
        L, M, width = key_knobs(r["key"])
        assert (r["L"], r["M"], r["width"]) == (L, M, width) and width == L * M
        assert r["params"] == ref_plain(5, width, "igc1", L=L)[0]
    files = {
        "json": json.loads((tmp_path / "results.json").read_text()),
        "csv": list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text()))),
    }
    assert [r["width"] for r in files["json"]] == [key_knobs(r["key"])[2] for r in files["json"]]
    assert [int(r["width"]) for r in files["csv"]] == [key_knobs(r["key"])[2] for r in files["csv"]]
    md = (tmp_path / "results.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| key"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells.index("width") == cells.index("m") + 1 == cells.index("params") - 1
    table = CliRunner().invoke(app, args)  # terminal table (measurements from the store)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    head = next(line for line in lines if "key" in line and "params" in line)
    assert [c.strip() for c in head.strip("┃").split("┃")][:5] == ["#", "key", "L", "M", "width"]
    for r in rows:
        line = next(line for line in lines if f" {r['key']} " in line)
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert cells[2:5] == [str(x) for x in key_knobs(r["key"])]


def test_network_footer_and_convention(tmp_path: Path) -> None:
    args = ["search", "--network", "cifar-plain-5", "-c", "18", "--family", "conv", "--budget", "network"]
    result = CliRunner().invoke(app, [*args, "--widest", "--no-latency", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # the caption wraps
    ref_params, ref_macs = ref_plain(5, 18, "conv")
    assert (
        "reference network (ratios, --budget network): the same cifar-plain-5 network with regular conv-BN-ReLU "
        f"blocks at base width 18: net-cifar-plain-5-conv-c18k3, {ref_params:,} params, {ref_macs:,} MACs at 32x32"
    ) in text
    assert "the classifier's FC weights and bias" in text and "against the reference network" in text
    assert "no biases" not in text and "regular conv-BN-ReLU of the row's geometry" not in text
    md = (tmp_path / "results.md").read_text()
    convention = next(line for line in md.splitlines() if line.startswith("Convention:"))
    assert "FC weights and bias" in convention and "no biases" not in convention
    assert f"net-cifar-plain-5-conv-c18k3, {ref_params:,} params" in md
