"""Hand-written layer arithmetic of the reference networks (docs/counting.md, docs/families.md, docs/networks.md).

The reference for the network tests: plain integer arithmetic over each network's layer
list, never igcsearch's cost code. Each helper returns (params, macs).
"""

from __future__ import annotations

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


def ref_plain(depth: int, width: int, block: str, L: int = 0, classes: int = 10, size: int = 32) -> Cost:
    """IGC-V1 plain CIFAR net at size×size (32): stem, 3 stages of (depth−2)/3 blocks, FC."""
    n = (depth - 2) // 3
    total = conv_bn(3, width, 3, size * size)
    cin = width
    for s in range(3):
        cout, hw = width << s, (size >> s) ** 2
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
