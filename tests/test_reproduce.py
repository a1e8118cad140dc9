"""`igcsearch reproduce` and `igcsearch networks`: rows, JSON fields, formats, paper figures, errors."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from network_refs import ref_plain, ref_vgg16
from typer.testing import CliRunner

from igcsearch.cli import app
from igcsearch.networks import network_cost
from igcsearch.reproduce import REPRODUCTIONS, reproduce

JSON_FIELDS = {"table", "model", "depth", "params", "macs", "paper_params", "paper_macs"}


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_no_name_lists_the_reproductions() -> None:
    result = run("reproduce", "--format", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [r["name"] for r in listed] == ["igcv1-cifar", "igcv1-imagenet", "igcv3-imagenet", "lego-cifar"]
    assert listed[0]["models"] == "regconv-w18, igc-l24m2"
    table = run("reproduce")
    assert table.exit_code == 0 and "igcv1-imagenet" in table.stdout


def test_igcv1_cifar_json() -> None:
    result = run("reproduce", "igcv1-cifar", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert all(set(r) >= JSON_FIELDS for r in rows)
    assert [(r["model"], r["depth"]) for r in rows] == [
        (m, d) for d in (20, 38, 62) for m in ("regconv-w18", "igc-l24m2")
    ]
    assert {r["table"] for r in rows} == {"igcv1-cifar"}
    paper = {  # IGC-V1 paper/slides (ICCV 2017): params ×10⁶ and FLOPs ×10⁸ (MACs)
        ("regconv-w18", 20): (340_000, 51_000_000),
        ("igc-l24m2", 20): (150_000, 29_000_000),
        ("regconv-w18", 38): (710_000, 110_000_000),
        ("igc-l24m2", 38): (310_000, 57_000_000),
        ("regconv-w18", 62): (1_200_000, 170_000_000),
        ("igc-l24m2", 62): (520_000, 95_000_000),
    }
    for r in rows:
        assert (r["paper_params"], r["paper_macs"]) == paper[(r["model"], r["depth"])]
        assert (r["params"], r["macs"]) == network_cost(r["key"])[:2]
        assert r["params_diff_pct"] == round(100 * (r["params"] - r["paper_params"]) / r["paper_params"], 2)
        assert r["input_size"] == 32
    first = rows[0]
    assert (first["params"], first["macs"]) == (341_020, 51_260_112)
    assert rows[1]["params"] == 155_962
    assert "without BN" in rows[1]["note"] and "0.152 M" in rows[1]["note"]


def test_imagenet_rows_and_notes() -> None:
    rows = reproduce("igcv1-imagenet")
    by_model = {r["model"]: r for r in rows}
    assert list(by_model) == ["resnet18", "resnet18-c69", "igc-l4m32", "igc-l16m16", "igc-l100m2"]
    assert (by_model["resnet18"]["params"], by_model["resnet18"]["macs"]) == (11_689_512, 1_814_073_344)
    assert by_model["igc-l100m2"]["paper_params"] == 8_610_000 and by_model["igc-l100m2"]["paper_macs"] == 1_300_000_000
    assert all("no single counting rule" in r["note"] for r in rows)  # shown, not hidden
    assert all(abs(r["macs_diff_pct"]) < 4 for r in rows)  # the FLOPs are conv + FC MACs


def test_igcv3_and_lego_rows() -> None:
    igcv3 = {r["model"]: r for r in reproduce("igcv3-imagenet")}
    assert igcv3["mobilenetv2-1.0"]["params"] == 3_504_872
    assert igcv3["igcv3-d"]["paper_macs"] == 318_000_000 and "1.6 %" in igcv3["igcv3-d"]["note"]
    assert (igcv3["mobilenetv2-1.0"]["depth"], igcv3["igcv3-d"]["depth"]) == (53, 99)  # weight layers
    lego = {r["model"]: r for r in reproduce("lego-cifar")}
    assert lego["vgg16"]["paper_params"] is None and lego["vgg16"]["params_diff_pct"] is None
    assert lego["vgg16-lego"]["paper_macs"] is None
    assert "3.723 M" in lego["vgg16-lego"]["note"]  # Σ 9·(c/2)·(n/2) over the 14 Lego convs


# the 14 Lego convs (c, n) of [64,64,64,M,128,128,128,M,256,256,256,M,512,512,512,M,512,512,512,M]; conv 1 is regular
VGG16_LEGO_CONVS = [(64, 64), (64, 64), (64, 128), (128, 128), (128, 128), (128, 256), (256, 256), (256, 256)]
VGG16_LEGO_CONVS += [(256, 512)] + [(512, 512)] * 5


def test_lego_compares_lego_filters_with_the_readme() -> None:
    filters = sum(9 * (c // 2) * (n // 2) for c, n in VGG16_LEGO_CONVS)  # o = 2, m = n/2: k²·(c/o)·m each
    whole = ref_vgg16("lego")[0]
    row = next(r for r in reproduce("lego-cifar") if r["model"] == "vgg16-lego")
    assert (row["params"], row["network_params"], row["params_scope"]) == (filters, whole, "Lego filters only")
    assert filters == 3_723_264 and whole == 3_747_658
    assert row["params_diff_pct"] == round(100 * (filters - 3_800_000) / 3_800_000, 2) == -2.02  # not -1.38
    assert "3.748 M" in row["note"]
    original = next(r for r in reproduce("lego-cifar") if r["model"] == "vgg16")
    assert original["params"] == original["network_params"] == ref_vgg16("conv")[0]
    table = run("reproduce", "lego-cifar").stdout
    line = next(t for t in table.splitlines() if "vgg16-lego" in t)
    assert re.search(rf"{filters:,}.*3\.8 M.*-2\.02.*{whole:,}", line)
    assert "network params" in table


# the IGC-V1 CIFAR tables as printed (Zhang et al., ICCV 2017, slides; docs/networks.md#igcv1-cifar): params x10^6, FLOPs x10^8
PRINTED = {
    ("regconv-w18", 20): ("0.34", "0.51"),
    ("igc-l24m2", 20): ("0.15", "0.29"),
    ("regconv-w18", 38): ("0.71", "1.1"),
    ("igc-l24m2", 38): ("0.31", "0.57"),
    ("regconv-w18", 62): ("1.20", "1.7"),
    ("igc-l24m2", 62): ("0.52", "0.95"),
}


def rounds_to(ours: int, printed: str, unit: float) -> bool:
    """Whether ours, printed with the paper's decimals in its unit, is the paper's figure."""
    decimals = len(printed.split(".")[1])
    return f"{ours / unit:.{decimals}f}" == printed


def test_cifar_differences_beyond_rounding_carry_a_note() -> None:
    rows = {(r["model"], r["depth"]): r for r in reproduce("igcv1-cifar")}
    beyond = set()
    for (model, depth), (p, m) in PRINTED.items():
        row = rows[(model, depth)]
        if not (rounds_to(row["params"], p, 1e6) and rounds_to(row["macs"], m, 1e8)):
            beyond.add((model, depth))
            assert row["note"], (model, depth)
    # RegConv-18 at depth 62: 176,671,440 MACs print as 1.8, not the paper's 1.7
    assert beyond == {("igc-l24m2", 20), ("igc-l24m2", 38), ("igc-l24m2", 62), ("regconv-w18", 62)}
    deep = rows[("regconv-w18", 62)]
    assert deep["macs"] == ref_plain(62, 18, "conv")[1] == 176_671_440
    assert f"{deep['macs'] / 1e8:.3f}" in deep["note"] and "1.8" in deep["note"] and "plain.py" in deep["note"]
    mid = rows[("regconv-w18", 38)]  # -4.54 %, yet 1.050 x 10^8 prints as the paper's 1.1
    assert mid["macs_diff_pct"] == -4.54 and "rounding" in mid["note"] and "1.050" in mid["note"]


def test_json_nulls_and_csv_md() -> None:
    rows = json.loads(run("reproduce", "lego-cifar", "--format", "json").stdout)
    assert rows[1]["paper_params"] is None and rows[1]["paper_macs"] is None
    out = run("reproduce", "lego-cifar", "--format", "csv").stdout
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [r["model"] for r in parsed] == ["vgg16-lego", "vgg16"]
    assert parsed[1]["paper_params"] == ""
    assert (parsed[0]["paper_params"], parsed[0]["paper_macs"]) == ("3800000", "")  # integers, not 3800000.0
    assert parsed[0]["params"] == "3723264" and parsed[0]["params_diff_pct"] == "-2.02"
    cifar = list(csv.DictReader(io.StringIO(run("reproduce", "igcv1-cifar", "--format", "csv").stdout)))
    assert [(r["paper_params"], r["paper_macs"]) for r in cifar[:2]] == [("340000", "51000000"), ("150000", "29000000")]
    md = run("reproduce", "igcv3-imagenet", "--format", "md").stdout
    assert md.startswith("| table") and "igcv3-d" in md


def test_terminal_table_shows_paper_figures_and_notes() -> None:
    result = run("reproduce", "igcv1-cifar")
    assert result.exit_code == 0
    for text in ("341,020", "0.34 M", "155,962", "0.15 M", "+3.97", "[1]", "source:", "convention:"):
        assert text in result.stdout


def test_verify_counts_with_fvcore() -> None:
    result = run("reproduce", "lego-cifar", "--format", "json", "--verify")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["count_ok"] for r in rows] == [True, True]
    assert rows[0]["params_measured"] == rows[0]["network_params"] == ref_vgg16("lego")[0]  # the whole network


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reproduce", "igcv9"], "unknown reproduction 'igcv9'; choose from: igcv1-cifar"),
        (["reproduce", "igcv1-cifar", "--format", "xml"], "unknown --format 'xml'"),
    ],
)
def test_errors(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_every_reproduction_model_is_a_named_model() -> None:
    for rep in REPRODUCTIONS.values():
        assert reproduce(rep.name)  # every entry builds its analytic row


def test_networks_command() -> None:
    result = run("networks", "--format", "json")
    assert result.exit_code == 0
    names = [r["network"] for r in json.loads(result.stdout)]
    assert "cifar-plain-<3n+2>" in names and "resnet18" in names and "mobilenetv2" in names
    models = json.loads(run("networks", "--models", "--format", "json").stdout)
    by_name = {m["model"]: m for m in models}
    assert by_name["igc-l24m2"]["key"] == "net-cifar-plain-20-igc1-L24M2-c48k3"
    assert by_name["igc-l24m2"]["params"] == 155_962
