"""Measured counts (igcsearch.counting): fvcore MACs and numel params == analytic, exactly.

Every registered family, every impl of the IGC blocks, at small sizes with stride 2; the
module that is counted is the module that runs (fused variants included). Unit tests pin the
handles: one fvcore "flop" per MAC, BN 0, exact matmul/einsum, the fused op's handle.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest
import torch
from conftest import ref_cost
from hypothesis import given, settings
from hypothesis import strategies as st
from test_blocks import CASES, KEYS, analytic
from torch import nn

import igcsearch
from igcsearch.builder import build
from igcsearch.config import parse_key
from igcsearch.counting import CountError, count, count_config, flop_count_analysis, handles, input_shape
from igcsearch.errors import ConfigError
from igcsearch.interleave import IMPLS, mix_bcast

FlopCountAnalysis = flop_count_analysis()


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small tensors time steadier on one thread


def impls_of(key: str) -> tuple[str, ...]:
    return IMPLS if parse_key(key).family in ("igc1", "igc2") else ("auto",)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("size", [8, 7])
def test_fvcore_equals_analytic_every_impl(key: str, size: int) -> None:
    cfg = parse_key(key)
    ref_params, ref_macs, _ = ref_cost(cfg.family, cfg.in_channels, cfg.out_channels, cfg.kernel, cfg.stride, size,
                                       **cfg.knobs())  # fmt: skip
    for impl in impls_of(key):
        result = count_config(cfg, size, impl=impl)
        assert result == {
            "params_measured": ref_params,
            "macs_measured": ref_macs,
            "count_ok": True,
            "params": ref_params,
            "macs": ref_macs,
        }, impl


def test_count_known_values() -> None:
    """igc1 L4M2, C=8, 3×3 at 8×8: 9·2·8 + 8·4 weights + 16 BN; 64·(9·8·2 + 8·4) MACs."""
    assert count(build("igc1-L4M2-c8k3", impl="bcast"), 8, 8) == (192, 11_264)
    assert count(build("igc1-L4M2-c8k3", impl="matmul"), 8, 8) == (192, 11_264)
    # conv 8->12, 3×3, stride 2 at 7×7 (output 4×4): 864 weights + 24 BN; 864·16 MACs
    assert count(build("conv-i8o12k3s2"), 8, 7) == (888, 13_824)
    # lego o=2, m=3, 8->12, 5×5 at 8×8: 25·4·3 + 2·12 + 24; 64·(25·8·3 + 2·12)
    assert count(build("lego-o2m3-i8o12k5"), parse_key("lego-o2m3-i8o12k5"), 8) == (348, 39_936)


def test_count_forms_and_errors() -> None:
    cfg = parse_key("conv-c8k3")
    module = build(cfg)
    expected = count(module, cfg, 6)
    assert count(module, 8, 6) == expected
    assert count(module, (8, 6, 6)) == expected
    assert count(module, (5, 8, 6, 6)) == expected  # the batch is ignored: per-sample MACs
    assert input_shape(cfg, 6) == (1, 8, 6, 6)
    with pytest.raises(ConfigError, match="needs input_size"):
        count(module, cfg)
    with pytest.raises(ConfigError, match="cannot count"):
        count(module, "conv-c8k3", 6)
    with pytest.raises(ConfigError, match="only with a config"):
        count(module, (8, 6, 6), 6)


def test_count_restores_mode_and_handles_dtype() -> None:
    module = build("igc2-K1x2x4-c8k3", impl="bcast").double().train()
    assert count(module, 8, 6) == analytic(parse_key("igc2-K1x2x4-c8k3"), 6)
    assert module.training


def test_count_is_silent(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for key in ("igc3-t2G2x2-c8k3", "lego-o2m3-i8o12k5", "igc1-L4M2-c8k3"):
            for impl in impls_of(key) if key.startswith("igc1") else ("auto",):
                count(build(key, impl=impl), parse_key(key), 5)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert [r for r in caplog.records if r.name.startswith("fvcore")] == []
    assert caught == []


# ---------------------------------------------------------------- handles


def fvcore_total(module: nn.Module, x: torch.Tensor, ours: bool = True) -> float:
    analysis = FlopCountAnalysis(module.eval(), (x,))
    if ours:
        analysis.set_op_handle(**handles())
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis.total()


def test_fvcore_counts_one_per_mac() -> None:
    """conv, linear and matmul: one fvcore "flop" per multiply-accumulate (MACs, not 2×)."""
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    assert fvcore_total(conv, torch.randn(1, 4, 5, 5), ours=False) == 4 * 6 * 9 * 25
    assert fvcore_total(nn.Linear(7, 3), torch.randn(1, 7), ours=False) == 21

    class Mm(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ torch.ones(5, 2)

    assert fvcore_total(Mm(), torch.randn(3, 5), ours=False) == 30


def test_batch_norm_handle_and_the_none_pitfall() -> None:
    bn = nn.BatchNorm2d(4)
    x = torch.randn(1, 4, 5, 5)
    assert fvcore_total(bn, x, ours=False) == 200  # fvcore counts BN by default
    analysis = FlopCountAnalysis(bn.eval(), (x,))
    analysis.set_op_handle("aten::batch_norm", None)  # the documented form does NOT drop it
    assert analysis.total() == 200
    assert fvcore_total(bn, x) == 0
    assert count(bn, (4, 5, 5)) == (8, 0)


class Broadcast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (1, 4, 5, 6) -> (1, 4, 3, 6)
        return torch.matmul(torch.ones(3, 5), x)


def test_matmul_handle_is_exact_under_broadcasting() -> None:
    x = torch.randn(1, 4, 5, 6)
    assert fvcore_total(Broadcast(), x) == 4 * 3 * 6 * 5
    assert fvcore_total(Broadcast(), x, ours=False) == 3 * 5 * 6  # fvcore's own: the batch is lost


class Einsum(nn.Module):
    def __init__(self, equation: str, *shapes: tuple[int, ...]) -> None:
        super().__init__()
        self.equation, self.others = equation, [torch.randn(*s) for s in shapes]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum(self.equation, x, *self.others)


def test_einsum_handle_is_exact() -> None:
    """fvcore's einsum handle reads numpy's rounded report; ours multiplies index sizes."""
    x = torch.randn(1, 2, 32, 1024)
    module = Einsum("nlmx,mpl->npmx", (32, 2, 2))
    exact = 1 * 2 * 32 * 1024 * 2  # n·l·m·x·p
    assert fvcore_total(module, x) == exact
    assert fvcore_total(module, x, ours=False) != exact
    chain = Einsum("ij,jk,kl->il", (4, 5), (5, 7))
    assert fvcore_total(chain, torch.randn(3, 4)) == 3 * 4 * 5 + 3 * 5 * 7  # optimal order


class Mix(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mix_bcast(x, self.w, False)


def test_interleaved_mix_handle() -> None:
    """The fused broadcast op: (N, L, M, X) -> (N, L', M, X), L MACs per output element."""
    x = torch.randn(1, 2, 5, 7)
    assert fvcore_total(Mix(), x) == 3 * 5 * 7 * 2
    assert count(Mix(), (2, 5, 7)) == (30, 210)


def test_padding_same_conv_is_counted_exactly() -> None:
    """padding='same' traces to aten::_convolution_mode, which fvcore alone cannot count."""
    same = nn.Sequential(nn.Conv2d(6, 8, 3, padding="same", bias=False), nn.Conv2d(8, 4, 5, padding="same", groups=2))
    # per output position: C_in/g · kh · kw MACs for each of C_out channels, at 7x7
    hand = 7 * 7 * (8 * 6 * 3 * 3 + 4 * (8 // 2) * 5 * 5)
    assert hand == 40_768
    assert count(same, (6, 7, 7)) == (6 * 8 * 9 + 4 * 4 * 25 + 4, hand)
    valid = nn.Conv2d(6, 8, 3, padding="valid", bias=False)  # the same op, 5x5 output
    assert count(valid, (6, 7, 7)) == (432, 5 * 5 * 8 * 6 * 9)
    assert fvcore_total(same, torch.randn(1, 6, 7, 7), ours=False) == 0  # fvcore's own: skipped


def test_strict_rejects_ops_without_handle() -> None:
    class Cumsum(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(x, dim=1)

    with pytest.raises(CountError, match="aten::cumsum"):
        count(Cumsum(), (3, 4, 4))
    assert count(Cumsum(), (3, 4, 4), strict=False) == (0, 0)


def test_count_config_reports_mismatch() -> None:
    cfg = parse_key("igc1-L4M2-c8k3")
    result = count_config(cfg, 8)
    assert result["count_ok"] is True and result["macs"] == 11_264


# ---------------------------------------------------------------- property test


def _pool() -> list[tuple[str, int]]:
    """(key, stride) of small enumerated spaces of every family, square and not, k = 1, 3, 5."""
    keys: list[str] = []
    families = ",".join(CASES)
    for stride in (1, 2):
        common: dict[str, Any] = {"family": families, "balance_tol": "inf", "expansion": "1,2", "stride": stride}
        keys += igcsearch.enumerate(channels="4,6,8,12", kernel="1,3,5", **common)["key"].tolist()
        keys += igcsearch.enumerate(in_channels="4,8", out_channels="6,12", kernel="3", **common)["key"].tolist()
    return sorted(set(keys))


POOL = _pool()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(key=st.sampled_from(POOL), size=st.sampled_from([1, 2, 5, 7, 8]), impl=st.sampled_from(IMPLS))
def test_property_analytic_equals_fvcore(key: str, size: int, impl: str) -> None:
    cfg = parse_key(key)
    result = count_config(cfg, size, impl=impl)
    assert result["count_ok"], result
    assert (result["params"], result["macs"]) == analytic(cfg, size)
