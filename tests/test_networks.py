"""Reference networks: exact counts from hand-written layer arithmetic, analytic == fvcore on the
built modules, forward shapes, keys, and the residual transition behaviour.

The ``ref_*`` helpers below are the reference: they add up each network's layers from
METHODS.md §0–§4 and §7 with plain integer arithmetic and never call igcsearch's cost code.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

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

Cost = tuple[int, int]  # (params, macs)


def add(*costs: Cost) -> Cost:
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


def conv_bn(cin: int, cout: int, k: int, hw: int, groups: int = 1) -> Cost:
    """Bias-free conv + BN: k²·(cin/g)·cout weights, 2·cout BN params, weights·H'W' MACs."""
    w = k * k * (cin // groups) * cout
    return w + 2 * cout, w * hw


def fc(cin: int, classes: int) -> Cost:
    return cin * classes + classes, cin * classes


def igc1(cin: int, cout: int, L: int, hw: int, k: int = 3) -> Cost:
    """Primary k×k (L groups) + secondary 1×1 (M groups, L channels each) + one BN."""
    M = cout // L
    return k * k * (cin // L) * cout + cout * L + 2 * cout, hw * (k * k * cin * M + cout * L)


def igc3(cin: int, cout: int, t: int, g1: int, g2: int, hw_in: int, hw: int) -> Cost:
    E = t * cin
    params = cin * E // g1 + 9 * E + E * cout // g2 + 2 * E + 2 * E + 2 * cout
    return params, hw_in * cin * E // g1 + hw * (9 * E + E * cout // g2)


def lego(cin: int, cout: int, o: int, m: int, hw: int) -> Cost:
    return 9 * (cin // o) * m + o * cout + 2 * cout, hw * (9 * cin * m + o * cout)


def ref_plain(depth: int, width: int, block: str, L: int = 0, classes: int = 10) -> Cost:
    """IGC-V1 plain CIFAR net at 32×32: stem, 3 stages of (depth−2)/3 blocks, FC."""
    n = (depth - 2) // 3
    total = conv_bn(3, width, 3, 32 * 32)
    cin = width
    for s in range(3):
        cout, hw = width << s, (32 >> s) ** 2
        for _ in range(n):
            total = add(total, conv_bn(cin, cout, 3, hw) if block == "conv" else igc1(cin, cout, L, hw))
            cin = cout
    return add(total, fc(cin, classes))


def ref_resnet20() -> Cost:
    """CIFAR ResNet-20, widths 16/32/64, 1×1 projection + BN where the width changes."""
    total = conv_bn(3, 16, 3, 32 * 32)
    cin = 16
    for s, cout in enumerate((16, 32, 64)):
        hw = (32 >> s) ** 2
        for _ in range(3):
            total = add(total, conv_bn(cin, cout, 3, hw), conv_bn(cout, cout, 3, hw))
            if cin != cout:
                total = add(total, conv_bn(cin, cout, 1, hw))
            cin = cout
    return add(total, fc(64, 10))


def ref_resnet18(stem: int, widths: tuple[int, ...], Ls: tuple[int, ...] | None = None, size: int = 224) -> Cost:
    """ImageNet ResNet-18 family: 7×7/2 stem, 3×3/2 max pool, 4 stages × 2 units, FC-1000.

    ``Ls``: IGC-V1 "+Ident." (every 3×3 conv an IGC block, projections 1×1 with L groups).
    """
    side = size // 2
    total = conv_bn(3, stem, 7, side * side)
    side = (side + 2 - 3) // 2 + 1  # max pool 3/2 pad 1
    cin = stem
    for s, cout in enumerate(widths):
        if s > 0:
            side = (side - 1) // 2 + 1
        hw = side * side
        for i in range(2):
            if Ls is None:
                total = add(total, conv_bn(cin, cout, 3, hw), conv_bn(cout, cout, 3, hw))
            else:
                total = add(total, igc1(cin, cout, Ls[s], hw), igc1(cout, cout, Ls[s], hw))
            if cin != cout or (s > 0 and i == 0):
                total = add(total, conv_bn(cin, cout, 1, hw, groups=1 if Ls is None else Ls[s]))
            cin = cout
    return add(total, fc(cin, 1000))


MBV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def ref_mobilenet(repeats: tuple[int, ...] | None = None, groups: tuple[int, int] | None = None) -> Cost:
    """MobileNetV2-1.0 (groups None: no expansion in the t = 1 unit) or IGCV3 units (G1, G2) at 224."""
    side = 112
    total = conv_bn(3, 32, 3, side * side)
    cin = 32
    for j, (t, c, n, s) in enumerate(MBV2):
        for i in range(repeats[j] if repeats else n):
            hw_in = side * side
            if i == 0 and s == 2:
                side //= 2
            hw = side * side
            if groups is not None:
                total = add(total, igc3(cin, c, t, groups[0], groups[1], hw_in, hw))
            else:
                E = t * cin
                if t != 1:
                    total = add(total, conv_bn(cin, E, 1, hw_in))
                total = add(total, conv_bn(E, E, 3, hw, groups=E), conv_bn(E, c, 1, hw))
            cin = c
    return add(total, conv_bn(320, 1280, 1, 49), fc(1280, 1000))


def ref_vgg16(family: str) -> Cost:
    """LegoNet CIFAR VGG16: first conv regular, 14 convs (Lego o = 2, m = n/2, or regular), FC-10."""
    total = conv_bn(3, 64, 3, 32 * 32)
    cin, side = 64, 32
    for item in (64, 64, "M", 128, 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if item == "M":
            side //= 2
            continue
        hw = side * side
        total = add(total, conv_bn(cin, item, 3, hw) if family == "conv" else lego(cin, item, 2, item // 2, hw))
        cin = item
    return add(total, fc(512, 10))


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
    # the official quirk would hold cout·2L secondary weights in those two blocks instead of cout·L
    ours = network_cost(key)[0]
    quirk = ours + 32 * 8 + 64 * 8
    assert (
        ours
        == add(
            conv_bn(3, 16, 3, 1024),
            igc1(16, 16, 8, 1024),
            igc1(16, 16, 8, 1024),
            igc1(16, 32, 8, 256),
            igc1(32, 32, 8, 256),
            conv_bn(16, 32, 1, 256, groups=8),
            igc1(32, 64, 8, 64),
            igc1(64, 64, 8, 64),
            conv_bn(32, 64, 1, 64, groups=8),
            fc(64, 10),
        )[0]
    )
    assert quirk != ours


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
