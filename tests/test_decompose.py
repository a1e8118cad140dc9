"""Depthwise decomposition: exactness at full rank, Eckart–Young errors, data-driven never worse, reload, CLI."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from igcsearch.errors import IgcSearchError

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small tensors time steadier on one thread


def make_net() -> nn.Sequential:
    """Regular convs of several shapes (n < k², n > k², 5x5, stride 2, bias, reflect and 'same' padding)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(16, 16, 5, padding=2, padding_mode="reflect"), nn.ReLU(),
        nn.Conv2d(16, 4, 3, padding="same"), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, groups=2, padding=1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).eval()  # fmt: skip


def images(n: int = 24, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 12, 12, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("n", "c", "k"), [(8, 3, 3), (4, 16, 3), (16, 16, 5), (2, 5, 3)])
def test_full_rank_factors_are_exact(n: int, c: int, k: int) -> None:
    from igcsearch.handoff.decompose import composite, svd_factors

    w = torch.randn(n, c, k, k, dtype=torch.float64)
    dw, pw = svd_factors(w, min(n, k * k))
    assert dw.shape == (c * min(n, k * k), 1, k, k) and pw.shape == (n, c * min(n, k * k), 1, 1)
    assert torch.allclose(composite(dw, pw, c), w, atol=1e-12)


def test_weight_error_is_eckart_young() -> None:
    from igcsearch.handoff.decompose import composite, svd_factors

    w = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    for r in range(1, 7):
        dw, pw = svd_factors(w, r)
        err2 = float(((composite(dw, pw, 4) - w) ** 2).sum())
        # independent reference: numpy SVD of each input channel's n×k² slice, discarded σ²
        ref = sum(
            float((np.linalg.svd(w[:, i].reshape(6, 9).numpy(), compute_uv=False)[r:] ** 2).sum()) for i in range(4)
        )
        assert err2 == pytest.approx(ref, rel=1e-9, abs=1e-18)


def test_decompose_at_full_rank_is_exact_and_reloads(tmp_path: Path) -> None:
    from igcsearch.handoff.decompose import decompose
    from igcsearch.handoff.model import save_model

    model, x = make_net(), images()
    with torch.no_grad():
        ref = model(x)
    result = decompose(model, 25, in_channels=3, input_size=12)  # 25 >= min(C_out, k²) for every layer
    assert [(r.name, r.rank) for r in result.layers] == [("0", 8), ("3", 9), ("5", 16), ("7", 4)]
    assert [r for _, r in result.skipped] == [
        "1x1 conv: already pointwise",
        "grouped conv (groups=2): not a regular conv",
    ]
    for r in result.layers:
        assert r.weight_err < 1e-6 and r.output_err < 1e-5
    pair = model[3]
    assert pair.depthwise.groups == 8 and pair.depthwise.stride == (2, 2) and pair.pointwise.bias is None
    assert model[5].depthwise.padding_mode == "reflect" and model[0].pointwise.bias is not None
    with torch.no_grad():
        assert torch.allclose(model(x), ref, atol=1e-5)
    # params: r·(c·k² + n·c) (+ bias)
    assert [r.params_after for r in result.layers] == [
        8 * (27 + 24) + 8,
        9 * (72 + 128),
        16 * (400 + 256) + 16,
        4 * (144 + 64) + 4,
    ]
    loaded = torch.load(save_model(model, tmp_path / "dwd.pt"), weights_only=False)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_weights_only_error_falls_with_rank() -> None:
    from igcsearch.handoff.decompose import decompose

    errors = [[r.weight_err for r in decompose(make_net(), rank, input_size=12).layers] for rank in (1, 2, 4, 9)]
    for low, high in itertools.pairwise(errors):
        assert all(b <= a + 1e-12 for a, b in zip(low, high, strict=True))


@pytest.mark.parametrize("rank", [1, 2])
def test_data_driven_is_never_worse_on_the_calibration_data(rank: int) -> None:
    from igcsearch.handoff.decompose import decompose

    x = images(32)
    with torch.no_grad():
        ref = make_net()(x)
    weights_model, data_model = make_net(), make_net()
    weights = decompose(weights_model, rank, x, refine=False)  # the SVD, its errors measured on x
    data = decompose(data_model, rank, x)
    assert data.calibrated and not weights.calibrated
    assert [r.method for r in data.layers] == ["data"] * 4 and [r.method for r in weights.layers] == ["weights"] * 4
    for r in data.layers:
        assert r.output_err <= r.output_err_weights  # per layer, on the same (approximated) inputs
    assert data.layers[0].output_err_weights == pytest.approx(weights.layers[0].output_err, rel=1e-12)
    assert data.layers[0].output_err < weights.layers[0].output_err
    for d, w in zip(data.layers, weights.layers, strict=True):
        assert d.output_err < w.output_err  # each layer, with every earlier layer decomposed its own way

    def net_err(model: nn.Module) -> float:
        with torch.no_grad():
            return float((model(x) - ref).norm() / ref.norm())

    assert net_err(data_model) < net_err(weights_model)


def test_bad_rank() -> None:
    from igcsearch.handoff.decompose import decompose

    with pytest.raises(IgcSearchError, match="--rank must be an integer >= 1"):
        decompose(make_net(), 0)


# ---------------------------------------------------------------- CLI


@pytest.fixture
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "dwdnet.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn
        def make():
            return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    """)
    )
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.integers(0, 255, (16, 3, 8, 8), dtype=np.uint8))
    np.savez(tmp_path / "nox.npz", y=np.zeros(3))
    return tmp_path


def test_cli_decompose(trained: Path, cli: Any) -> None:
    from typer.testing import CliRunner

    from igcsearch.cli import app

    args = ["decompose", "dwdnet:make", "--rank", "1", "--calib", "calib.npz", "--out", "dwd.pt"]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "120"})  # at 80 columns long headers wrap (tested below)
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "data-driven" in text and "whole model" in text and "weight err" in text
    model = torch.load(trained / "dwd.pt", weights_only=False)
    assert model[0].depthwise.out_channels == 3 and model[2].pointwise.in_channels == 8
    res = cli("decompose", "dwdnet:make", "-r", "9", "--input-size", "8", "--out", "full.pt")
    assert res.exit_code == 0 and "weights-only (SVD)" in " ".join(res.stdout.split())


def test_cli_decompose_says_when_the_rank_is_clamped(trained: Path, cli: Any) -> None:
    res = cli("decompose", "dwdnet:make", "--rank", "100", "--input-size", "8", "--out", "big.pt")
    assert res.exit_code == 0, res.output
    rows = json.loads(cli("decompose", "dwdnet:make", "-r", "100", "--input-size", "8", "--out", "big.pt",
                          "--format", "json").stdout)["layers"]  # fmt: skip
    assert [(r["name"], r["in_channels"], r["out_channels"], r["kernel"], r["rank"]) for r in rows] == [
        ("0", 3, 8, "3x3", 8), ("2", 8, 8, "3x3", 8)
    ]  # r used  # fmt: skip
    text = " ".join(res.stdout.split())
    assert (
        "note: --rank 100 is more than min(C_out, k²) for 2 layer(s): 0 (r = 8), 2 (r = 8) use r = min(C_out, k²), "
        "where the decomposition is already exact" in text
    )
    assert "note: the decomposed model has more parameters than the original (826 -> 1,530)" in text
    model = torch.load(trained / "big.pt", weights_only=False)
    assert model[0].depthwise.out_channels == 3 * 8 and model[2].depthwise.out_channels == 8 * 8
    quiet = cli("decompose", "dwdnet:make", "--rank", "1", "--input-size", "8", "--out", "small.pt")
    assert quiet.exit_code == 0 and "note:" not in quiet.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rank", "0"], "--rank must be an integer >= 1, got 0"),
        (["--rank", "1", "--calib", "missing.npz"], "calibration file 'missing.npz' does not exist"),
        (["--rank", "1", "--calib", "nox.npz"], "no array 'x' or 'x_train'"),
        (["--rank", "1", "--samples", "0", "--calib", "calib.npz"], "--samples must be >= 1"),
        (["--rank", "1", "--sweeps", "-1"], "--sweeps must be >= 0"),
    ],
)
def test_cli_decompose_bad_input(trained: Path, cli: Any, args: list, message: str) -> None:
    res = cli("decompose", "dwdnet:make", *args, "--out", "x.pt")
    assert res.exit_code == 1, res.output
    assert res.stderr.count("error:") == 1 and message in res.stderr
    assert not (trained / "x.pt").exists()


def test_cli_decompose_json_csv_and_80_columns(trained: Path, cli: Any) -> None:
    import csv
    import io
    import json

    import dwdnet  # type: ignore[import-not-found]  # written by the fixture into the working directory
    from typer.testing import CliRunner

    from igcsearch.cli import app
    from igcsearch.cli.handoff import DECOMPOSE_FIELDS
    from igcsearch.handoff.decompose import decompose
    from igcsearch.units import humanize

    result = decompose(dwdnet.make(), 2, input_size=8)
    args = ["decompose", "dwdnet:make", "--rank", "2", "--input-size", "8", "--out", "d.pt"]
    res = cli(*args, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert "wrote d.pt" in res.stderr
    assert list(doc) == ["rank", "calibrated", "layers", "totals", "skipped", "notes"]
    assert doc["totals"]["params_before"] == result.params_before
    assert doc["totals"]["params_after"] == result.params_after
    for row, r in zip(doc["layers"], result.layers, strict=True):
        assert tuple(row) == DECOMPOSE_FIELDS
        for name in (
            "name",
            "in_channels",
            "out_channels",
            "kernel",
            "stride",
            "rank",
            "params_before",
            "params_after",
        ):
            assert row[name] == getattr(r, name), name
        assert isinstance(row["weight_err"], float)
    res = cli(*args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [int(r["params_after"]) for r in rows] == [r.params_after for r in result.layers]
    assert "whole model:" in res.stderr
    res = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.stdout.splitlines()) <= 80 and "…" not in res.stdout
    tokens = set(res.stdout.split())
    for r in result.layers:
        assert humanize(r.params_before) in tokens and humanize(r.params_after) in tokens
    assert humanize(result.params_before) in tokens and humanize(result.params_after) in tokens
