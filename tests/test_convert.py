"""`igcsearch convert` on a model defined here and on our ResNet: shapes, counts, rules, reload, loading routes."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from igcsearch.errors import IgcSearchError
from igcsearch.registry import families

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small tensors time steadier on one thread


class TinyNet(nn.Module):
    """A model igcsearch knows nothing about: a stem, a stride-2 conv with bias, a 1x1 and a dilated conv."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.body = nn.Sequential(
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 1), nn.Conv2d(32, 32, 3, padding=2, dilation=2), nn.Conv2d(32, 32, 3, groups=2, padding=1),
        )  # fmt: skip
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(torch.relu(self.bn(self.stem(x))))
        return self.head(x.mean((2, 3)))


def out_shape(model: nn.Module, size: int) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(model.eval()(torch.randn(2, 3, size, size)).shape)


def test_convert_custom_model_counts_shapes_and_reasons() -> None:
    from igcsearch.handoff.convert import convert

    model = TinyNet()
    before = out_shape(model, 16)
    result = convert(model, "igc1", input_size=16)
    assert out_shape(result.model, 16) == before == (2, 10)
    # body.0: 16->32 stride 2, 8x8 output; body.3: 32->32 at 8x8 (balance <= 2 leaves L = 16/16, M = 2)
    assert [(c.name, c.key, c.input_size) for c in result.changes] == [
        ("body.0", "igc1-L16M2-i16o32k3s2", 16),
        ("body.3", "igc1-L16M2-c32k3", 8),
    ]
    c0, c1 = result.changes
    assert (c0.params_before, c0.macs_before) == (9 * 16 * 32 + 32, 9 * 16 * 32 * 64)
    # bare block: primary 9·1·32 + secondary 32·16 (no BN), plus the conv's bias 32
    assert (c0.params_after, c0.macs_after) == (9 * 32 + 32 * 16 + 32, (9 * 32 + 32 * 16) * 64)
    assert (c1.params_after, c1.macs_after) == (9 * 2 * 32 + 32 * 16, (9 * 2 * 32 + 32 * 16) * 64)
    t = result.totals
    assert t["params_before"] - t["params_after"] == sum(c.params_before - c.params_after for c in result.changes)
    assert t["macs_before"] - t["macs_after"] == sum(c.macs_before - c.macs_after for c in result.changes)
    assert t["params_before"] == sum(p.numel() for p in TinyNet().parameters())
    reasons = dict(result.skipped)
    assert reasons["stem"].startswith("no valid igc1 config for C_in=3, C_out=16, k=3 within params <= 464")
    assert reasons["body.6"] == "kernel 1 < --min-kernel 3"
    assert reasons["body.7"] == "dilation (2, 2): blocks use dilation 1"
    assert reasons["body.8"] == "grouped conv (groups=2): not a regular conv"


@pytest.mark.parametrize("family", ["conv", "group", "dwsep", "igc1", "igc2", "igc3", "lego"])
def test_every_family_keeps_the_output_shape(family: str) -> None:
    from igcsearch.handoff.convert import convert

    model = TinyNet()
    result = convert(model, family, input_size=8, balance_tol=float("inf"))
    assert out_shape(result.model, 8) == (2, 10)
    for c in result.changes:
        assert c.key.startswith(family + "-")
        if family != "igc3":  # igc3 units keep their three BNs
            assert c.params_after <= c.params_before and c.macs_after <= c.macs_before


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_budget(model: nn.Module, family: str, size: int, block_bn: bool = False) -> Any:
    """Convert, then: whole-model params never grow, each layer's params and MACs never grow."""
    from igcsearch.handoff.convert import convert

    before = n_params(model)
    result = convert(model, family, input_size=size, balance_tol=float("inf"), block_bn=block_bn)
    assert n_params(result.model) <= before == result.totals["params_before"]
    assert result.totals["params_after"] == n_params(result.model)
    for c in result.changes:
        assert c.params_after <= c.params_before and c.macs_after <= c.macs_before, c
    return result


@pytest.mark.parametrize("block_bn", [False, True], ids=["bare", "block-bn"])
@pytest.mark.parametrize("family", [f.name for f in families()])
def test_convert_budget_on_a_cifar_resnet(family: str, block_bn: bool) -> None:
    from igcsearch.networks import build_network

    result = check_budget(build_network("net-cifar-resnet-8-conv-c16k3"), family, 32, block_bn)
    if family == "conv" and block_bn:  # conv + its own BN is more than the conv: nothing fits, each says why
        assert not result.changes and all("no valid conv config" in r for _, r in result.skipped if "kernel 1" not in r)
    else:
        assert result.changes  # the 3x3 convs leave room for every family


@pytest.mark.parametrize("stride", [1, 2])
def test_convert_budget_on_a_stem_with_igc3(stride: int) -> None:
    """A 3->32 3x3 stem keeps its BN: the igc3 unit with its three BNs must fit in the 864 weights."""
    stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
    result = check_budget(stem, "igc3", 32)
    (change,) = result.changes
    assert change.params_before == 864 and change.params_after <= 864  # igc3-t6G3x1 (892) no longer fits
    assert isinstance(result.model[1], nn.BatchNorm2d)


@pytest.mark.parametrize("rule", ["widest-balanced", "most-balanced", "fewest-macs", "fewest-params"])
def test_rules_pick_what_they_say(rule: str) -> None:
    import igcsearch
    from igcsearch.handoff.convert import convert

    result = convert(TinyNet(), "igc1", rule, input_size=16, balance_tol=float("inf"))
    change = next(c for c in result.changes if c.name == "body.3")
    rows = igcsearch.enumerate(
        channels=32, kernel=3, input_size=8, family="igc1", params_max=9 * 32 * 32 + 64, macs_max=9 * 32 * 32 * 64,
        balance_tol="inf",
    )  # fmt: skip
    by_key = rows.set_index("key")
    if rule == "fewest-macs":
        assert by_key.loc[change.key, "macs"] == rows["macs"].min()
    elif rule == "fewest-params":
        assert by_key.loc[change.key, "params"] == rows["params"].min()
    elif rule == "most-balanced":
        assert by_key.loc[change.key, "balance"] == rows["balance"].min()
    else:
        assert by_key.loc[change.key, "params"] == rows["params"].max()
    assert change.key in {"widest-balanced": "igc1-L2M16-c32k3", "most-balanced": "igc1-L16M2-c32k3",
                          "fewest-macs": "igc1-L16M2-c32k3", "fewest-params": "igc1-L16M2-c32k3"}[rule]  # fmt: skip


def test_whole_model_totals_count_padding_same_convs() -> None:
    from igcsearch.handoff.convert import convert

    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.Conv2d(16, 16, 3, padding="same", bias=False),
        nn.Conv2d(16, 16, 1, padding="same", bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    )  # fmt: skip
    result = convert(model, "dwsep", input_size=8)
    assert result.totals["macs_before"] == 8 * 8 * (3 * 16 * 9 + 16 * 16 * 9 + 16 * 16) + 16 * 4 == 191_552
    assert result.notes == []  # nothing fvcore could not count
    assert [c.name for c in result.changes] == ["0", "1"]
    unchanged = 8 * 8 * 16 * 16 + 16 * 4  # the 1x1 'same' conv stays, and the FC
    assert result.totals["macs_after"] == sum(c.macs_after for c in result.changes) + unchanged


def test_fraction_and_block_bn() -> None:
    from igcsearch.handoff.convert import convert

    half = convert(TinyNet(), "dwsep", input_size=16, fraction=0.5)
    for c in half.changes:
        assert c.params_after - (32 if c.name == "body.0" else 0) <= 0.5 * (c.params_before + 2 * c.out_channels)
    whole = convert(TinyNet(), "igc1", input_size=16, block_bn=True)
    blk = whole.model.body[3]
    assert isinstance(blk.bn, nn.BatchNorm2d) and isinstance(blk.act, nn.ReLU)
    assert whole.changes[1].params_after == 9 * 2 * 32 + 32 * 16 + 2 * 32


def test_converted_model_saves_and_reloads(tmp_path: Path) -> None:
    from igcsearch.handoff.convert import convert
    from igcsearch.handoff.model import save_model

    result = convert(TinyNet(), "lego", input_size=16)
    path = save_model(result.model, tmp_path / "new.pt")
    loaded = torch.load(path, weights_only=False)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), result.model.eval()(x))


def test_convert_our_resnet(tmp_path: Path) -> None:
    from igcsearch.handoff.convert import convert
    from igcsearch.handoff.model import save_model
    from igcsearch.networks import build_network

    model = build_network("resnet20")
    result = convert(model, "igc1", input_size=32, balance_tol=float("inf"))
    assert out_shape(result.model, 32) == (2, 10)
    assert len(result.changes) == 18  # every 3x3 conv of the 9 residual units
    assert sorted(r for _, r in result.skipped) == [
        "kernel 1 < --min-kernel 3", "kernel 1 < --min-kernel 3",
        "no valid igc1 config for C_in=3, C_out=16, k=3 within params <= 464 and MACs <= 442,368",
    ]  # fmt: skip
    t = result.totals
    assert t["params_before"] == 272_474
    assert t["params_before"] - t["params_after"] == sum(c.params_before - c.params_after for c in result.changes)
    assert t["macs_before"] - t["macs_after"] == sum(c.macs_before - c.macs_after for c in result.changes)
    reloaded = torch.load(save_model(result.model, tmp_path / "r.pt"), weights_only=False)
    assert out_shape(reloaded, 32) == (2, 10)


# ---------------------------------------------------------------- loading routes


def test_torchscript_route(tmp_path: Path) -> None:
    from igcsearch.handoff.convert import convert
    from igcsearch.handoff.model import load_model

    seq = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.Conv2d(16, 16, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))  # fmt: skip
    seq.eval()
    torch.jit.script(seq).save(str(tmp_path / "seq.ts"))
    eager = load_model(tmp_path / "seq.ts")
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(eager.eval()(x), seq(x))
    assert [c.key for c in convert(eager, "dwsep", input_size=8).changes] == ["dwsep-r5-i3o16k3", "dwsep-r5-c16k3"]

    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) * 2

    torch.jit.script(Custom()).save(str(tmp_path / "custom.ts"))
    with pytest.raises(IgcSearchError, match="runs its own compiled forward"):
        load_model(tmp_path / "custom.ts")


def test_import_path_and_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from igcsearch.handoff.model import load_model

    (tmp_path / "usernet_routes.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn
        def make():
            return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
        NOT_A_MODEL = 3
    """)
    )
    monkeypatch.chdir(tmp_path)
    model = load_model("usernet_routes:make")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    again = load_model("usernet_routes:make", weights=tmp_path / "w.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
    with pytest.raises(IgcSearchError, match=r"neither a torch\.nn\.Module nor a callable"):
        load_model("usernet_routes:NOT_A_MODEL")
    with pytest.raises(IgcSearchError, match="has no attribute 'nope'"):
        load_model("usernet_routes:nope")
    with pytest.raises(IgcSearchError, match="holds a state_dict"):
        load_model(tmp_path / "w.pt")
    torch.save(nn.Linear(2, 2).state_dict(), tmp_path / "other.pt")
    with pytest.raises(IgcSearchError, match="do not fit the model"):
        load_model("usernet_routes:make", weights=tmp_path / "other.pt")


# ---------------------------------------------------------------- CLI


@pytest.fixture
def usernet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "usernet.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn
        def make():
            return nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    """)
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_convert(usernet: Path, cli: Any) -> None:
    from typer.testing import CliRunner

    from igcsearch.cli import app

    args = ["convert", "usernet:make", "--family", "igc1", "--input-size", "16", "--out", "new.pt"]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "120"})  # at 80 columns the key folds (tested below)
    assert res.exit_code == 0, res.output
    flat = " ".join(res.stdout.split())
    assert "igc1-L16M2-i16o32k3s2" in flat and "whole model" in flat and "not converted (1)" in flat
    assert "wrote new.pt" in res.stderr
    model = torch.load(usernet / "new.pt", weights_only=False)
    assert out_shape(model, 16) == (2, 10)


def test_cli_convert_when_no_layer_fits(usernet: Path, cli: Any) -> None:
    """No config fits any layer: exit 0, --out written (the model unchanged), one line says so."""
    res = cli(
        "convert", "usernet:make", "--family", "igc3", "--input-size", "16", "--fraction", "0.01", "--out", "same.pt"
    )
    assert res.exit_code == 0, res.output
    assert "0 converted" in res.stdout and "not converted (2)" in res.stdout
    lines = [line for line in res.stderr.splitlines() if "no layer" in line]
    assert lines == ["note: no layer fits a igc3 block within its budget; same.pt is the model unchanged"]
    assert "wrote same.pt" in res.stderr
    model = torch.load(usernet / "same.pt", weights_only=False)
    assert [type(m).__name__ for m in model][:2] == ["Conv2d", "BatchNorm2d"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["usernet:make", "--family", "igc9"], "unknown block family 'igc9'"),
        (["usernet:make", "--family", "igc1", "--rule", "best"], "unknown --rule 'best'; choose from: widest-balanced"),
        (["missing.pt", "--family", "igc1"], "is neither a file"),
        (["nomodule:make", "--family", "igc1"], "cannot import 'nomodule'"),
        (
            ["usernet:make", "--family", "igc1", "--input-size", "0"],
            "--input-size must be an integer in [1, 4,096], got 0",
        ),
        (
            ["usernet:make", "--family", "igc1", "--in-channels", "4"],
            "does not run on an input of shape (1, 4, 224, 224)",
        ),
        (["usernet:make", "--family", "igc1", "--balance-tol", "0.5"], "--balance-tol must be >= 1"),
        (["usernet:make", "--family", "igc1", "--fraction", "2"], "--fraction must be in (0, 1]"),
    ],
)
def test_cli_convert_bad_input(usernet: Path, cli: Any, args: list, message: str) -> None:
    res = cli("convert", *args, "--out", "x.pt")
    assert res.exit_code == 1, res.output
    assert res.stderr.count("error:") == 1 and message in res.stderr
    assert not (usernet / "x.pt").exists()


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16, eps=1e-3), nn.ReLU(inplace=True),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    ).eval()  # fmt: skip


@pytest.mark.parametrize("command", ["convert", "decompose"])
def test_traced_torchscript_is_refused_clearly_and_scripted_works(
    tmp_path: Path, cli: Any, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from igcsearch.handoff.model import load_model

    monkeypatch.chdir(tmp_path)
    model, x = small_cnn(), torch.randn(2, 3, 16, 16)
    torch.jit.save(torch.jit.trace(model, x), "traced.ts")
    torch.jit.save(torch.jit.script(model), "scripted.ts")
    with pytest.raises(IgcSearchError, match="module '0' \\(Conv2d\\) has lost its settings") as info:
        load_model("traced.ts")
    assert "torch.jit.trace" in str(info.value) and "torch.jit.script(model)" in str(info.value)
    eager = load_model("scripted.ts")
    assert eager[1].eps == 1e-3 and eager[5].negative_slope == 0.2 and eager[3].stride == (2, 2)
    with torch.no_grad():
        assert torch.equal(eager.eval()(x), model(x))
    args = ["--family", "igc1", "--input-size", "16"] if command == "convert" else ["--rank", "1"]
    res = cli(command, "traced.ts", *args, "--out", "x.pt")
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("error: TorchScript: module '0' (Conv2d) has lost its settings")
    assert res.stderr.count("\n") == 1 and "torch.jit.script(model)" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "x.pt").exists()
    ok = cli(command, "scripted.ts", *args, "--out", "x.pt")
    assert ok.exit_code == 0, ok.output
    assert out_shape(torch.load(tmp_path / "x.pt", weights_only=False), 16) == (2, 10)


def test_cli_help_warns_about_pickles(cli: Any) -> None:
    for command in ("convert", "decompose", "train"):
        text = " ".join(cli(command, "--help").stdout.split())
        assert "RUNS CODE FROM THE FILE" in text and "TorchScript" in text and "package.module:factory" in text


# ---------------------------------------------------------------- --format and 80 columns


@pytest.fixture
def longnet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model whose converted layer has a long dotted name (the name that used to push the numbers off)."""
    (tmp_path / "longnet.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn
        def make():
            stage = nn.Sequential()
            stage.add_module("residual_block_with_a_rather_long_name", nn.Sequential(
                nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()))
            encoder = nn.Sequential()
            encoder.add_module("encoder_stage_number_one", stage)
            return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                 encoder, nn.Conv2d(32, 64, 3, padding=1), nn.Conv2d(64, 64, 1),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    """)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _python_convert() -> Any:
    import longnet  # type: ignore[import-not-found]

    from igcsearch.handoff.convert import convert

    return convert(longnet.make(), "igc1", input_size=16)


def test_cli_convert_json_and_csv_hold_the_exact_per_layer_counts(longnet: Path) -> None:
    import csv
    import io
    import json

    from typer.testing import CliRunner

    from igcsearch.cli import app
    from igcsearch.cli.handoff import CONVERT_FIELDS

    result = _python_convert()
    args = ["convert", "longnet:make", "--family", "igc1", "--input-size", "16", "--out", "new.pt"]
    res = CliRunner().invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # stdout is the document alone; `wrote` goes to stderr
    assert "wrote new.pt" in res.stderr and (longnet / "new.pt").exists()
    assert list(doc) == ["family", "rule", "input_size", "layers", "converted", "totals", "skipped", "notes"]
    assert [tuple(row) for row in doc["layers"]] == [CONVERT_FIELDS] * len(result.changes)
    for row, c in zip(doc["layers"], result.changes, strict=True):
        for name in CONVERT_FIELDS[:-2]:
            assert row[name] == getattr(c, name), name
        assert row["params_ratio"] == c.params_after / c.params_before
    assert {k: doc["totals"][k] for k in result.totals} == result.totals
    assert doc["converted"]["layers"] == len(result.changes)
    assert doc["converted"]["params_after"] == sum(c.params_after for c in result.changes)
    assert doc["skipped"] == [{"name": n, "reason": r} for n, r in result.skipped]
    res = CliRunner().invoke(app, [*args, "--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert tuple(rows[0]) == CONVERT_FIELDS
    assert [int(r["macs_after"]) for r in rows] == [c.macs_after for c in result.changes]
    assert "whole model:" in res.stderr and "not converted:" in res.stderr
    res = CliRunner().invoke(app, [*args, "--format", "md"])
    assert res.exit_code == 0 and res.stdout.startswith("| name ")
    res = CliRunner().invoke(app, [*args, "--format", "xml"])
    assert res.exit_code == 1 and "unknown --format 'xml'" in res.stderr


def test_cli_convert_table_reads_at_80_columns(longnet: Path) -> None:
    from typer.testing import CliRunner

    from igcsearch.cli import app
    from igcsearch.units import humanize

    result = _python_convert()
    args = ["convert", "longnet:make", "--family", "igc1", "--input-size", "16", "--out", "new.pt"]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    tokens = set(res.stdout.split())
    for c in result.changes:  # every number whole, in its own cell
        for v in (c.params_before, c.macs_before, c.params_after, c.macs_after):
            assert humanize(v) in tokens, (humanize(v), res.stdout)
        assert f"{c.params_after / c.params_before:.3f}" in tokens
    for v in result.totals.values():
        assert humanize(v) in tokens
    assert "…" not in res.stdout
