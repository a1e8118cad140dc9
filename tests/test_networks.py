"""Reference networks: exact counts from hand-written layer arithmetic, analytic == fvcore on the
built modules, forward shapes, keys, and the residual transition behaviour.

The ``ref_*`` helpers (tests/network_refs.py) are the reference: they add up each network's layers
from docs/counting.md, docs/families.md and docs/networks.md with plain integer arithmetic and never call igcsearch's cost code.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from network_refs import (
    Cost,
    add,
    conv_bn,
    fc,
    igc1,
    ref_mobilenet,
    ref_plain,
    ref_resnet18,
    ref_resnet20,
    ref_vgg16,
)
from torch import nn
from typer.testing import CliRunner

from igcsearch.cli import app
from igcsearch.counting import count
from igcsearch.errors import ConfigError
from igcsearch.networks import (
    MODELS,
    NetConfig,
    build_network,
    build_network_key,
    get_network,
    model_config,
    network_cost,
    parse_network_key,
)


def cost2(spec: object) -> Cost:
    params, macs, _ = network_cost(spec)
    return params, macs


# ---------------------------------------------------------------- exact counts at the native size


def test_resnet20_cifar_exact() -> None:
    assert cost2("net-cifar-resnet-20-conv-c16k3") == ref_resnet20()
    assert ref_resnet20()[0] == 272_474  # 269,722 with zero-padding (option A) shortcuts + 2 projections


def test_resnet18_exact() -> None:
    assert cost2("resnet18") == ref_resnet18(64, (64, 128, 256, 512))
    assert ref_resnet18(64, (64, 128, 256, 512)) == (11_689_512, 1_814_073_344)  # torchvision's figures


def test_mobilenetv2_exact() -> None:
    assert cost2("mobilenetv2-1.0") == ref_mobilenet()
    assert ref_mobilenet() == (3_504_872, 300_774_272)  # published MobileNetV2-1.0 counts


@pytest.mark.parametrize("depth", [20, 38, 62])
def test_igcv1_cifar_models_exact(depth: int) -> None:
    assert cost2(model_config("regconv-w18", depth)) == ref_plain(depth, 18, "conv")
    assert cost2(model_config("igc-l24m2", depth)) == ref_plain(depth, 48, "igc1", L=24)


def test_igcv1_cifar_depth20_by_hand() -> None:
    # stem 27·48 + 96; stage 1: 6 × (9·2·48 + 48·24 + 96); stage 2: (9·2·96 + 96·24 + 192) + 5 × (9·4·96 + 96·24 + 192);
    # stage 3: (9·4·192 + 192·24 + 384) + 5 × (9·8·192 + 192·24 + 384); FC 192·10 + 10
    assert network_cost("igc-l24m2")[0] == 1392 + 6 * 2112 + 4224 + 5 * 5952 + 11904 + 5 * 18816 + 1930 == 155_962
    assert network_cost("regconv-w18")[0] == 341_020


def test_resnet18_family_exact() -> None:
    assert cost2("resnet18-c69") == ref_resnet18(69, (69, 138, 276, 552))
    assert cost2("igc-l4m32") == ref_resnet18(128, (128, 256, 512, 1024), Ls=(4, 4, 4, 4))
    assert cost2("igc-l16m16") == ref_resnet18(256, (256, 512, 1024, 2048), Ls=(16, 16, 16, 16))
    assert cost2("igc-l100m2") == ref_resnet18(100, (200, 400, 800, 1600), Ls=(100, 200, 400, 800))


def test_igcv3d_and_vgg16_exact() -> None:
    assert cost2("igcv3-d") == ref_mobilenet(repeats=(1, 4, 6, 8, 6, 6, 1), groups=(2, 2))
    assert cost2("vgg16-lego") == ref_vgg16("lego")
    assert cost2("vgg16") == ref_vgg16("conv")


def test_cifar100_changes_only_the_classifier() -> None:
    p10, m10, _ = network_cost("net-cifar-plain-20-igc1-L24M2-c48k3")
    p100, m100, _ = network_cost("net-cifar100-plain-20-igc1-L24M2-c48k3")
    assert (p100 - p10, m100 - m10) == (192 * 90 + 90, 192 * 90)


# ---------------------------------------------------------------- analytic == fvcore, forward shapes


def small(cfg: NetConfig) -> int:
    return 32 if cfg.net.input_size == 32 else 64


def check_counts_and_shape(cfg: NetConfig, size: int, batch: int = 2) -> None:
    module = build_network(cfg)
    assert count(module, 3, size) == cfg.cost(size)[:2], cfg.key
    with torch.inference_mode():
        y = module.eval()(torch.randn(batch, 3, size, size))
    assert tuple(y.shape) == (batch, cfg.net.classes)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_named_model_counts_exactly(name: str) -> None:
    cfg = model_config(name)
    check_counts_and_shape(cfg, small(cfg))


FAMILY_NETS = [
    # every family on the CIFAR plain and residual backbones (small depth), 100 classes too
    "net-cifar-plain-5-conv-c8k3",
    "net-cifar-plain-5-group-g4-c8k3",
    "net-cifar-plain-5-dwsep-r2-c8k3",
    "net-cifar-plain-8-igc1-L4M2-c8k3",
    "net-cifar-plain-5-igc2-K1x2x4-c8k3",
    "net-cifar-plain-5-igc3-t2G2x2-c8k3",
    "net-cifar-plain-5-lego-o2m4-c8k3",
    "net-cifar100-resnet-8-conv-c8k3",
    "net-cifar-resnet-8-group-g2-c8k3",
    "net-cifar-resnet-8-dwsep-r1-c8k3",
    "net-cifar-resnet-14-igc1-L4M2-c8k3",
    "net-cifar-resnet-8-igc2-K1x2x4-c8k3",
    "net-cifar-resnet-8-igc3-t1G2x4-c8k3",
    "net-cifar-resnet-8-lego-o2m2-c8k3",
    "net-cifar-resnet-8-igc1-L2M4-c8k3-stem4",
    "net-cifar-plain-5-igc1-L4M2-c8k5",
    # ImageNet-style layouts with other families, at 32×32
    "net-resnet18-group-g4-c8k3",
    "net-resnet18-igc1-L4M2-c8k3-stem4-Lx2",
    "net-mobilenetv2-igc3-t2G1x1-c32k3",
    "net-mobilenetv2-ref",
    "net-vgg16-igc1-L4M2-c8k3",
    "net-vgg16-dwsep-r1-c8k3",
]


@pytest.mark.parametrize("key", FAMILY_NETS)
def test_family_networks_count_exactly(key: str) -> None:
    cfg = parse_network_key(key)
    assert cfg.key == key
    check_counts_and_shape(cfg, 32)


# one residual CIFAR network per family, the first of FAMILY_NETS (which covers them all)
FLOP_NETS: dict[str, str] = {}
for _key in FAMILY_NETS:
    if "-resnet-" in _key and _key.startswith("net-cifar"):
        FLOP_NETS.setdefault(parse_network_key(_key).block.family, _key)


@pytest.mark.parametrize("key", sorted(FLOP_NETS.values()))
def test_pytorch_flop_counter_agrees_on_networks(key: str) -> None:
    """FlopCounterMode on igcsearch.build(net key) is exactly 2 × the network's MACs."""
    from torch.utils.flop_counter import FlopCounterMode

    import igcsearch

    module = igcsearch.build(key).eval()
    with FlopCounterMode(display=False) as flops, torch.no_grad():
        module(torch.randn(1, 3, 32, 32))
    assert flops.get_total_flops() == 2 * network_cost(key)[1]


def test_flop_nets_cover_every_family() -> None:
    from igcsearch.registry import families

    assert sorted(FLOP_NETS) == sorted(f.name for f in families())


def test_build_network_key_passes_block_options() -> None:
    naive = build_network_key("net-cifar-plain-5-igc1-L4M2-c8k3", impl="naive")
    fused = build_network_key("net-cifar-plain-5-igc1-L4M2-c8k3", impl="fused")
    assert count(naive, 3, 32) == count(fused, 3, 32)
    with pytest.raises(ConfigError, match="unknown build option"):
        build_network_key("net-cifar-plain-5-igc1-L4M2-c8k3", colour="red")


# ---------------------------------------------------------------- structure


def test_residual_transition_uses_the_new_stage_M() -> None:
    """The chosen transition behaviour: every block has its own stage's M = C_out / L.

    The official resnet_igc.py gives the first block of stages 2 and 3 a secondary conv with
    the old M (C_in / L groups); igcsearch does not. Stage widths 16/32/64 with L = 8: M = 2/4/8.
    """
    key = "net-cifar-resnet-8-igc1-L8M2-c16k3"
    net = build_network_key(key)
    units = [m for m in net if m.__class__.__name__ == "ResidualUnit"]
    assert len(units) == 3
    for unit, (cin, cout, M) in zip(units, [(16, 16, 2), (16, 32, 4), (32, 64, 8)], strict=True):
        first, second = unit.body
        assert (first.primary.in_channels, first.primary.out_channels) == (cin, cout)
        assert first.primary.groups == 8 and first.secondary.groups == M  # new M, not cin // 8
        assert second.secondary.groups == M
        assert first.primary.stride == ((1, 1) if cin == cout else (2, 2))
        assert isinstance(second.act, nn.Identity) and isinstance(first.act, nn.ReLU)
        if cin == cout:
            assert len(unit.shortcut) == 0
        else:  # projection: 1×1 stride-2 conv with the stage's L groups + BN
            proj = unit.shortcut[0].conv
            assert (proj.kernel_size, proj.stride, proj.groups) == ((1, 1), (2, 2), 8)
    for unit, cout in zip(units[1:], (32, 64), strict=True):  # transitions: cout·L secondary weights, not cout·2L
        assert unit.body[0].secondary.weight.numel() == cout * 8
    blocks = [
        conv_bn(3, 16, 3, 1024),
        igc1(16, 16, 8, 1024),
        igc1(16, 16, 8, 1024),
        igc1(32, 32, 8, 256),
        conv_bn(16, 32, 1, 256, groups=8),
        igc1(64, 64, 8, 64),
        conv_bn(32, 64, 1, 64, groups=8),
        fc(64, 10),
    ]
    ours = add(*blocks, igc1(16, 32, 8, 256), igc1(32, 64, 8, 64))
    quirk = add(*blocks, igc1_old_m(16, 32, 8, 256), igc1_old_m(32, 64, 8, 64))
    assert cost2(key) == ours
    assert cost2(key) != quirk
    assert quirk[0] - ours[0] == 32 * 8 + 64 * 8  # the quirk's extra secondary weights: cout·L per transition


def igc1_old_m(cin: int, cout: int, L: int, hw: int) -> Cost:
    """The official code's transition block: secondary 1×1 conv with the old M = cin/L groups (2L channels each)."""
    old_m = cin // L
    secondary = cout * (cout // old_m)
    return 9 * (cin // L) * cout + secondary + 2 * cout, hw * (9 * cin * (cout // L) + secondary)


def test_igc2_width_change_is_the_two_factor_chain() -> None:
    """IGC-V2 blocks are square: a block that doubles the width is igc1 with M = K_1, L = C_out/K_1."""
    net = build_network_key("net-cifar-plain-5-igc2-K2x2x4-c16k3")
    blocks = [m for m in net if "Block" in m.__class__.__name__]
    assert [b.cfg.key for b in blocks] == ["igc2-K2x2x4-c16k3", "igc1-L8M4-i16o32k3s2", "igc1-L8M8-i32o64k3s2"]


def test_lego_m_follows_the_width_and_first_conv_is_regular() -> None:
    net = build_network_key("net-vgg16-lego-o2m32-c64k3")
    blocks = [m for m in net if "Block" in m.__class__.__name__]
    assert len(blocks) == 14
    assert all(b.cfg.m * 2 == b.cfg.out_channels and b.cfg.o == 2 for b in blocks)
    assert isinstance(net[0].conv, nn.Conv2d) and net[0].conv.in_channels == 3


def test_igcv3d_layout() -> None:
    net = build_network_key("net-mobilenetv2-d-igc3-t6G2x2-c32k3")
    units = [m for m in net if m.__class__.__name__ == "Igc3Block"]
    assert len(units) == 1 + 4 + 6 + 8 + 6 + 6 + 1
    assert units[0].cfg.t == 1 and units[0].expand.groups == 2  # the t = 1 unit keeps its group conv
    assert {u.cfg.t for u in units[1:]} == {6}


# ---------------------------------------------------------------- names and keys


@pytest.mark.parametrize("name", list(MODELS))
def test_model_keys_round_trip(name: str) -> None:
    cfg = model_config(name)
    assert parse_network_key(cfg.key) == cfg


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("net-cifar-plain-21-conv-c16k3", "depth 21 is invalid"),
        ("net-cifar-resnet-20-conv-c16k3s2", "must be square with stride 1"),
        ("net-mobilenetv2-igc1-L4M8-c32k3", "not supported"),
        ("net-mobilenetv2-igc3-t6G2x2-c64k3", "base width must be 32"),
        ("net-cifar-plain-20-ref", "needs a block config"),
        ("net-cifar-plain-20-conv-c16k3-Lx2", "igc1 networks only"),
        ("net-resnet18-igc1-L4M16-c64k3-stem64", "not canonical"),
        ("net-alexnet-conv-c64k3", "malformed network key .* one of cifar-plain"),
        ("cifar-plain-20-conv-c16k3", "malformed network key"),
        ("net-cifar-plain-20-igc9-L4-c16k3", "unknown block family 'igc9'"),
    ],
)
def test_bad_network_keys(key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_network_key(key)


def test_invalid_stage_config_fails_at_build() -> None:
    # L = 3 divides the base width 6 but not the stem's 4 channels: the first block is invalid
    with pytest.raises(ConfigError, match="a divisor of in_channels=4"):
        build_network_key("net-cifar-plain-5-igc1-L3M2-c6k3-stem4")


def test_network_names() -> None:
    assert get_network("cifar100-resnet-56").classes == 100
    assert get_network("resnet18").input_size == 224
    assert get_network("mobilenetv2").families == ("igc3",)
    with pytest.raises(ConfigError, match="choose from"):
        get_network("resnet50")


# ---------------------------------------------------------------- depth


def weight_layers(module: nn.Module) -> int:
    """Convs and linear layers of a built network (one chain: MobileNetV2 has no projection shortcuts)."""
    return sum(isinstance(m, nn.Conv2d | nn.Linear) for m in module.modules())


@pytest.mark.parametrize(
    ("name", "units", "first_unit_convs"),
    [("mobilenetv2-1.0", (1, 2, 3, 4, 3, 3, 1), 2), ("igcv3-d", (1, 4, 6, 8, 6, 6, 1), 3)],
)
def test_mobilenet_depth_counts_weight_layers(name: str, units: tuple[int, ...], first_unit_convs: int) -> None:
    # stem + 3 convs per unit (MobileNetV2's t = 1 unit has no expansion conv; IGCV3-D's keeps it) + last 1x1 + FC
    depth = 1 + first_unit_convs + 3 * (sum(units) - 1) + 1 + 1
    cfg = model_config(name)
    assert cfg.depth == depth == weight_layers(build_network(cfg))
    assert MODELS[name].depth == depth
    assert (name, depth) in {("mobilenetv2-1.0", 53), ("igcv3-d", 99)}


# ---------------------------------------------------------------- igcsearch show net-…


def show(*args: str) -> Any:
    return CliRunner().invoke(app, ["show", *args])


def test_show_network_key() -> None:
    result = show("net-cifar-plain-20-igc1-L24M2-c48k3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    params, macs = ref_plain(20, 48, "igc1", L=24)
    ref_params, ref_macs = ref_plain(20, 18, "conv")
    layer_rows = [line for line in out.splitlines() if re.match(r"^│\s+\d+ │", line)]
    assert len(layer_rows) == 1 + 18 + 1  # stem, 18 blocks, head
    stem = conv_bn(3, 48, 3, 1024)
    assert f"{stem[0]:,}" in layer_rows[0] and f"{stem[1]:,}" in layer_rows[0]
    assert "igc1-L24M4-i48o96k3s2" in layer_rows[7] and "16x16" in layer_rows[7]  # stage 2's first block
    total = next(line for line in out.splitlines() if " total " in line)
    assert f"{params:,}" in total and f"{macs:,}" in total
    reference = next(line for line in out.splitlines() if "reference network (below)" in line)
    assert f"{ref_params:,}" in reference and f"{ref_macs:,}" in reference
    ratio = next(line for line in out.splitlines() if "ratio to the reference" in line)
    assert f"{params / ref_params:.4f}" in ratio and f"{macs / ref_macs:.4f}" in ratio
    assert "net-cifar-plain-20-conv-c18k3" in out
    assert re.search(r"L\s+24\n", out) and re.search(r"M\s+2\n", out) and "M doubles per stage" in out
    assert re.search(r"complementary\s+True", out) and re.search(r"balance\s+1\.333", out)
    assert "module:" in out and "(primary): Conv2d(48, 48, kernel_size=(3, 3)" in out


def test_show_network_input_size_and_errors() -> None:
    result = show("net-resnet18-conv-c64k3", "--input-size", "64")
    assert result.exit_code == 0, result.output
    params, macs = ref_resnet18(64, (64, 128, 256, 512), size=64)
    total = next(line for line in result.stdout.splitlines() if " total " in line)
    assert f"{params:,}" in total and f"{macs:,}" in total
    bad = show("net-cifar-plain-21-conv-c16k3")
    assert bad.exit_code == 1 and bad.output.strip() == (
        "error: network 'cifar-plain-21': depth 21 is invalid; a CIFAR plain network has depth 3n+2 (5, 8, …, 20, 38, 62)"
    )
    size = show("net-cifar-plain-5-conv-c8k3", "--input-size", "abc")
    assert size.exit_code == 1 and size.output.startswith("error: --input-size must be an integer")


def test_cli_networks_format_and_80_columns() -> None:
    import csv
    import io
    import json

    from igcsearch.cli import app
    from igcsearch.networks import MODELS, model_config

    runner = CliRunner()
    models = json.loads(runner.invoke(app, ["networks", "--models", "--format", "json"]).stdout)
    assert [tuple(m) for m in models] == [("model", "title", "key", "input_size", "params", "macs")] * len(MODELS)
    for m in models:
        params, macs, _ = model_config(m["model"]).cost()
        assert (m["params"], m["macs"]) == (params, macs)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["networks", "--format", "csv"]).stdout)))
    assert list(rows[0]) == ["network", "title", "base_width", "input_size", "classes", "families"]
    for args in (["networks"], ["networks", "--models"]):
        res = runner.invoke(app, args, env={"COLUMNS": "80"})
        assert res.exit_code == 0, res.output
        assert max(len(line) for line in res.stdout.splitlines()) <= 80 and "…" not in res.stdout
        tokens = set(res.stdout.replace("│", " ").split())
        for m in models if "--models" in args else rows:
            for name in ("params", "macs") if "--models" in args else ("base_width", "input_size", "classes"):
                assert str(m[name]) in tokens, (name, m[name])
        assert len(res.stdout.splitlines()) < 60  # titles under the table, not folded to a few characters
