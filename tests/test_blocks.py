"""Torch modules of every family (igcsearch/families/*_block.py) and build() (igcsearch.build).

Parametrized over the family registry: every registered family must have cases in CASES.
Checks shapes, params == analytic, memory formats, fused == naive, state_dict transfer,
and the connectivity of every IGC design of small enumerated spaces, from the module itself.
"""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import out_size, path_counts
from torch import nn

import igcsearch
from igcsearch.builder import build, resolve
from igcsearch.config import parse_key
from igcsearch.cost import columns, totals
from igcsearch.errors import ConfigError
from igcsearch.families.igc1_block import Igc1Block
from igcsearch.families.igc2_block import Igc2Block
from igcsearch.families.lego_block import LegoBlock
from igcsearch.interleave import IMPLS, auto_variant, channel_shuffle, is_channels_last
from igcsearch.registry import block_class, families, get_family

# Several configs per family: stride 2, C_in != C_out where allowed, k = 1, 3, 5, igc1 M = 1,
# igc3 with and without residual, lego o = 1 and o = c.
CASES: dict[str, list[str]] = {
    "conv": ["conv-c8k3", "conv-i8o12k3s2", "conv-i4o6k1", "conv-c6k5"],
    "group": ["group-g4-c8k3", "group-g2-i4o6k5s2", "group-g8-c8k1"],
    "dwsep": ["dwsep-r1-c8k3", "dwsep-r2-i8o12k5s2", "dwsep-r1-i4o6k1"],
    "igc1": [
        "igc1-L4M2-c8k3",
        "igc1-L8M1-c8k3",
        "igc1-L2M4-i4o8k3s2",
        "igc1-L2M6-c12k5",
        "igc1-L3M4-i6o12k1",
        "igc1-L4M4-c16k3s2",
    ],
    "igc2": ["igc2-K1x2x4-c8k3", "igc2-K2x2x2-c8k3s2", "igc2-K3x2x2-c12k5", "igc2-K1x2x2x3-c12k1", "igc2-K1x4x4-c16k3"],
    "igc3": ["igc3-t2G2x2-c8k3", "igc3-t1G2x2-i8o12k3", "igc3-t3G4x3-c12k5s2", "igc3-t1G1x1-c8k1"],
    "lego": ["lego-o1m4-c8k3", "lego-o8m4-c8k3s2", "lego-o2m3-i8o12k5", "lego-o4m2-i8o6k1"],
}
KEYS = [key for name in CASES for key in CASES[name]]
IGC_KEYS = CASES["igc1"] + CASES["igc2"]
FUSED = ("bcast", "matmul", "einsum", "fused", "auto")
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small tensors time steadier on one thread


def analytic(cfg: Any, size: int) -> tuple[int, int]:
    """(params, macs) from the family's layers (the reference counts)."""
    params, macs, _ = totals(get_family(cfg.family).layers(columns(cfg, size)))
    return int(params[0]), int(macs[0])


def randomize_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so eval() outputs are not just ReLU(x)."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return module


def test_every_family_has_cases() -> None:
    assert set(CASES) == {f.name for f in families()}
    for name, keys in CASES.items():
        assert all(parse_key(k).family == name for k in keys)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("size", [8, 9])
def test_forward_shape_and_finite(key: str, size: int) -> None:
    cfg = parse_key(key)
    module = build(cfg)
    assert isinstance(module, block_class(cfg.family))
    side = out_size(size, cfg.kernel, cfg.stride)
    for train in (True, False):
        module.train(train)
        y = module(torch.randn(2, cfg.in_channels, size, size))
        assert y.shape == (2, cfg.out_channels, side, side)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("key", KEYS)
def test_params_equal_analytic(key: str) -> None:
    cfg = parse_key(key)
    for impl in IMPLS:
        module = build(cfg, impl=impl)
        assert sum(p.numel() for p in module.parameters()) == analytic(cfg, 8)[0]
    assert all(not b.is_floating_point() or b.dim() <= 1 for b in module.buffers())  # no hidden weights


@pytest.mark.parametrize("key", KEYS)
def test_channels_last_in_channels_last_out(key: str) -> None:
    cfg = parse_key(key)
    for impl in IMPLS if cfg.family in ("igc1", "igc2") else ("auto",):
        module = randomize_bn(build(cfg, impl=impl)).eval()
        x = torch.randn(2, cfg.in_channels, 9, 9)
        ref = module(x)
        y = module(x.contiguous(memory_format=torch.channels_last))
        assert is_channels_last(y), (impl, y.stride())
        torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
        y = module.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        assert is_channels_last(y)
        torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", KEYS)
def test_any_batch_size(key: str) -> None:
    cfg = parse_key(key)
    module = build(cfg).eval()
    x = torch.randn(3, cfg.in_channels, 7, 7)
    full = module(x)
    assert module(x[:0]).shape[0] == 0
    torch.testing.assert_close(module(x[1:2]), full[1:2], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- fused IGC == naive


@pytest.mark.parametrize("key", IGC_KEYS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_fused_equals_naive(key: str, fmt: str, train: bool) -> None:
    cfg = parse_key(key)
    torch.manual_seed(0)
    naive = randomize_bn(build(cfg, impl="naive")).train(train)
    x = torch.randn(2, cfg.in_channels, 9, 9).contiguous(memory_format=FORMATS[fmt])
    xr = x.clone().requires_grad_(True)
    ref = naive(xr)
    ref.square().sum().backward()
    for impl in FUSED:
        fused = build(cfg, impl=impl).train(train)
        fused.load_state_dict(naive.state_dict())
        xf = x.clone().requires_grad_(True)
        y = fused(xf)
        torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
        y.square().sum().backward()
        torch.testing.assert_close(xf.grad, xr.grad, rtol=1e-4, atol=1e-4)
        grads = {n: p.grad for n, p in fused.named_parameters()}
        for name, p in naive.named_parameters():
            torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("key", IGC_KEYS)
def test_state_dict_moves_between_impls(key: str) -> None:
    cfg = parse_key(key)
    x = torch.randn(2, cfg.in_channels, 8, 8)
    states = {impl: randomize_bn(build(cfg, impl=impl), seed=i).state_dict() for i, impl in enumerate(IMPLS)}
    assert all({k: v.shape for k, v in s.items()} == {k: v.shape for k, v in states["naive"].items()}
               for s in states.values())  # fmt: skip
    for src in IMPLS:
        ref = build(cfg, impl=src).eval()
        ref.load_state_dict(states[src])
        expected = ref(x)
        for dst in IMPLS:
            module = build(cfg, impl=dst).eval()
            module.load_state_dict(states[src])
            torch.testing.assert_close(module(x), expected, rtol=1e-5, atol=1e-5)


def test_impl_resolution() -> None:
    cfg = parse_key("igc1-L2M32-c64k3")
    assert build(cfg).variants == {False: "bcast", True: "bcast"}
    assert build(cfg, impl="naive").variants == {False: "naive", True: "naive"}
    assert build(parse_key("igc1-L16M4-c64k3"), impl="fused").variants == {False: "matmul", True: "matmul"}
    assert build(parse_key("igc1-L64M1-c64k3"), impl="fused").variants == {False: "naive", True: "naive"}
    assert build(parse_key("igc2-K1x2x4x8-c64k3")).variants == {
        False: ("bcast", "matmul", "matmul"),
        True: ("bcast", "bcast", "matmul"),
    }
    assert build(parse_key("igc2-K1x4x16-c64k3")).variants[True] == ("bcast", "matmul")


@pytest.mark.parametrize(
    ("L", "M", "channels_last", "stage", "expected"),
    [
        (2, 32, False, "igc1", "bcast"),
        (4, 16, False, "igc1", "bcast"),
        (8, 8, False, "igc1", "matmul"),
        (32, 2, False, "igc1", "matmul"),
        (64, 1, False, "igc1", "naive"),
        (1, 64, True, "igc1", "naive"),
        (2, 32, True, "igc1", "bcast"),
        (4, 16, True, "igc1", "bcast"),
        (4, 8, True, "igc1", "matmul"),
        (8, 16, True, "igc1", "bcast"),
        (8, 8, True, "igc1", "matmul"),
        (4, 16, False, "igc2", "matmul"),
        (2, 32, False, "igc2", "bcast"),
        (8, 16, True, "igc2", "matmul"),
        (4, 16, True, "igc2", "bcast"),
    ],
)
def test_auto_rule(L: int, M: int, channels_last: bool, stage: str, expected: str) -> None:
    assert auto_variant(L, M, channels_last, stage) == expected


def test_channel_shuffle_keeps_format_and_order() -> None:
    x = torch.arange(12.0).reshape(1, 12, 1, 1).expand(2, 12, 3, 3).contiguous()
    y = channel_shuffle(x, 3)  # (3, 4) -> (4, 3): channel a·4 + b -> b·3 + a
    assert y[0, :, 0, 0].tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    ycl = channel_shuffle(x.contiguous(memory_format=torch.channels_last), 3)
    assert is_channels_last(ycl)
    assert torch.equal(ycl, y)
    assert channel_shuffle(x, 12) is x and channel_shuffle(x, 1) is x


# ---------------------------------------------------------------- structure of single families


def test_igc1_naive_is_the_paper_block() -> None:
    """P: view (L, M), transpose; secondary 1×1 conv with M groups; Pᵀ; written out by hand."""
    cfg = parse_key("igc1-L3M2-c6k3")
    block = randomize_bn(build(cfg, impl="naive")).eval()
    x = torch.randn(2, 6, 5, 5)
    y = block.primary(x)
    n, c, h, w = y.shape
    z = y.view(n, 3, 2, h, w).transpose(1, 2).reshape(n, c, h, w)
    z = nn.functional.conv2d(z, block.secondary.weight, groups=2)
    z = z.view(n, 2, 3, h, w).transpose(1, 2).reshape(n, c, h, w)
    torch.testing.assert_close(block(x), block.act(block.bn(z)))


def test_igc3_residual_only_when_shapes_match() -> None:
    assert build("igc3-t2G2x2-c8k3").residual is True
    assert build("igc3-t1G2x2-i8o12k3").residual is False
    assert build("igc3-t3G4x3-c12k5s2").residual is False
    block = build("igc3-t2G2x2-c8k3").eval()
    x = torch.randn(2, 8, 6, 6)
    without = copy.deepcopy(block)
    without.residual = False
    torch.testing.assert_close(block(x), x + without(x))
    assert isinstance(block.act, nn.ReLU6)


def test_lego_merge_equals_composed_filters() -> None:
    """Output i = conv with F_i = concat_j α(i,j)·B_π(i,j) (LegoNet's composed filter)."""
    cfg = parse_key("lego-o2m3-i8o12k5")
    block = build(cfg, seed=3).eval()
    n, o, m, cs = 12, 2, 3, 4
    pi = block.choice
    assert pi.dtype == torch.int64 and pi.shape == (n, o) and int(pi.min()) >= 0 and int(pi.max()) < m
    composed = torch.stack(
        [torch.cat([block.alpha[i, j] * block.lego[pi[i, j]] for j in range(o)], dim=0) for i in range(n)]
    )
    assert composed.shape == (n, o * cs, 5, 5)
    x = torch.randn(2, 8, 7, 7)
    expected = nn.functional.conv2d(x, composed, padding=2)
    torch.testing.assert_close(block.merge(block.split_transform(x)), expected, rtol=1e-5, atol=1e-5)


def test_lego_index_is_a_buffer_and_round_robin() -> None:
    block = build("lego-o2m3-i8o12k5")
    assert "index" in dict(block.named_buffers()) and "index" not in dict(block.named_parameters())
    assert block.choice.tolist() == [[(i * 2 + j) % 3 for j in range(2)] for i in range(12)]
    assert block.index.tolist()[1] == [2, 3 + 0]  # flat j·m + π(i, j)
    assert torch.equal(build("lego-o2m3-i8o12k5", seed=5).index, build("lego-o2m3-i8o12k5", seed=5).index)
    assert isinstance(build("lego-o8m4-c8k3s2"), LegoBlock)


def test_no_bn_between_inner_convs() -> None:
    for name in ("conv", "group", "dwsep", "igc1", "igc2", "lego"):
        for key in CASES[name]:
            bns = [m for m in build(key).modules() if isinstance(m, nn.BatchNorm2d)]
            assert len(bns) == 1 and bns[0].num_features == parse_key(key).out_channels
    assert sum(isinstance(m, nn.BatchNorm2d) for m in build("igc3-t2G2x2-c8k3").modules()) == 3
    assert all(m.bias is None for m in build("igc2-K1x2x4-c8k3").modules() if isinstance(m, nn.Conv2d))


# ---------------------------------------------------------------- connectivity, from the module


def space(family: str, **extra: Any) -> list[str]:
    rows = igcsearch.enumerate(channels="8,12,16,24", family=family, balance_tol="inf", **extra)
    return rows["key"].tolist()


@pytest.mark.parametrize("family", ["igc1", "igc2"])
def test_igc_connectivity_exactly_one_path(family: str) -> None:
    keys = space(family)
    assert len(keys) >= 19
    for key in keys:
        cfg = parse_key(key)
        for impl in ("naive", "auto"):
            counts = path_counts(build(cfg, impl=impl), cfg.in_channels)
            assert counts.shape == (cfg.in_channels, cfg.out_channels)
            assert torch.equal(counts, torch.ones_like(counts)), (key, impl)


def test_igc1_igc2_connectivity_fails_without_permutation() -> None:
    """The test above can fail: dropping the permutation leaves pairs with 0 paths."""

    class NoShuffle(Igc1Block):
        def interleave(self, y: torch.Tensor) -> torch.Tensor:
            return self.secondary(y)

    cfg = parse_key("igc1-L4M2-c8k3")
    counts = path_counts(NoShuffle(cfg), 8)
    assert int((counts == 0).sum()) > 0 and counts.sum() == 8 * 8


def test_igc3_connectivity_loose_complementary() -> None:
    keys = igcsearch.enumerate(channels="8,12", family="igc3", expansion="1,2,3")["key"].tolist()
    assert len(keys) == 99
    for key in keys:
        cfg = parse_key(key)
        paths = cfg.t * cfg.in_channels // (cfg.G1 * cfg.G2)
        counts = path_counts(build(cfg), cfg.in_channels)
        assert torch.equal(counts, torch.full_like(counts, paths)), key


def test_igc3_connectivity_non_square() -> None:
    rows = igcsearch.enumerate(in_channels="8", out_channels="12", family="igc3", expansion="1,2")
    for key in rows["key"]:
        cfg = parse_key(key)
        counts = path_counts(build(cfg), 8)
        assert counts.shape == (8, 12)
        assert torch.equal(counts, torch.full_like(counts, cfg.t * 8 // (cfg.G1 * cfg.G2))), key


# ---------------------------------------------------------------- build()


def test_build_accepts_every_form(tmp_path: Path) -> None:
    cfg = parse_key("igc1-L4M2-c8k3")
    (tmp_path / "plain.json").write_text(json.dumps(cfg.to_dict()))
    (tmp_path / "wrapped.json").write_text(json.dumps({"schema_version": 1, "key": cfg.key, "config": cfg.to_dict()}))
    specs = [cfg, cfg.to_dict(), cfg.key, tmp_path / "plain.json", str(tmp_path / "wrapped.json")]
    for spec in specs:
        assert resolve(spec) == cfg
        module = build(spec, impl="naive")
        assert isinstance(module, Igc1Block) and module.impl == "naive"
    assert isinstance(igcsearch.build("igc2-K1x2x4-c8k3"), Igc2Block)
    importlib.import_module("igcsearch.builder")  # importing the module must not shadow the function

    assert isinstance(igcsearch.build("conv-c8k3"), nn.Module)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("igc9-L4M2-c8k3", "unknown block family 'igc9'"),
        ("igc1-L4M2", "malformed key"),
        ("igc1-L3M2-c8k3", "L*M"),
        ({"family": "igc1", "in_channels": 8}, "missing field"),
        ({"family": "igc1", "in_channels": 8, "out_channels": 8, "L": 4, "M": 2, "x": 1}, "unknown field"),
        ({"family": "igc1", "in_channels": "8", "out_channels": 8, "L": 4, "M": 2}, "in_channels='8'"),
        ({"family": ["igc1"]}, "unknown block family"),
        ({"L": 4}, "no 'family' field"),
        (42, "cannot build from int"),
        (None, "cannot build from NoneType"),
        ("missing/config.json", "does not exist"),
    ],
)
def test_build_errors_are_config_errors(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        build(spec)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_build_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"schema_version": 1, "config": {"family": "igc1", "in_channels": 8}}))
    for path, message in ((bad, "not valid JSON"), (listed, "must hold a config"), (wrong, "missing field")):
        with pytest.raises(ConfigError, match=message):
            build(path)


def test_build_option_errors() -> None:
    with pytest.raises(ConfigError, match="impl='fast' is invalid"):
        build("igc1-L4M2-c8k3", impl="fast")
    with pytest.raises(ConfigError, match="unknown build option"):
        build("conv-c8k3", bogus=1)
    with pytest.raises(ConfigError, match="unknown build option"):
        build("igc1-L4M2-c8k3", seed=1)
    assert build("conv-c8k3", impl="naive") is not None  # every family takes impl (search passes it)
    assert build("igc1-L4M2-c8k3", impl=None).impl == "auto"
