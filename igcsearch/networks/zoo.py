"""Reference networks (docs/networks.md): names, network configs, keys and their layer lists.

A network config is a network name (``cifar-plain-20``, ``cifar100-resnet-56``,
``resnet18``, ``mobilenetv2``, ``mobilenetv2-d``, ``vgg16``) plus a *prototype block*: the
family config of the first stage's square, stride-1 block at the network's base width. A
width rule turns the prototype into every block of the network: widths double per stage
and each family's knobs follow its paper's rule (:func:`stage_block`). Keys read
``net-<name>-<prototype key>[-stem<S>][-Lx2]``, e.g. ``net-cifar-plain-20-igc1-L24M2-c48k3``
(the IGC-V1 paper's L24M2 network) or ``net-resnet18-igc1-L100M2-c200k3-stem100-Lx2``.

Conventions shared by every network here (docs/counting.md#networks): bias-free convs with padding k//2,
BN after every conv, the stem and the projection shortcuts are plain convs (not family
blocks), global average pooling, and an FC classifier with bias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import NETWORK_PREFIX, BlockConfig, parse_key
from ..cost import totals
from ..errors import ConfigError
from .layers import Block, ConvBN, Head, MaxPool, Residual, walk

ALL_FAMILIES = ("conv", "group", "dwsep", "igc1", "igc2", "igc3", "lego")
RULES = ("M", "L")  # igc1 width rule: "M" doubles M per stage (L fixed), "L" doubles L (M fixed)

# MobileNetV2's inverted-residual table (t, c, n, s) and IGCV3-D's deeper n (docs/networks.md#mobilenetv2).
MBV2_TABLE = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
MBV2_D_REPEATS = (1, 4, 6, 8, 6, 6, 1)
MBV2_STEM, MBV2_LAST = 32, 1280
# LegoNet's CIFAR "VGG16": 15 convs (widths as multiples of the base width; "M" = 2x2 max pool).
VGG16_PLAN = (1, 1, 1, "M", 2, 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M")


@dataclass(frozen=True)
class Network:
    """A network family by name: layout, depth, classes and defaults."""

    name: str  # what --network takes, e.g. "cifar-plain-20"
    arch: str  # cifar-plain | cifar-resnet | resnet18 | mobilenetv2 | vgg16
    depth: int  # layers with weights along the longest path (stem + blocks + FC)
    classes: int
    width: int  # default base width (the reference network's first-stage width)
    input_size: int  # native input side
    families: tuple[str, ...]  # block families the layout takes
    title: str
    rules: tuple[str, ...] = ("M",)  # igc1 width rules network search enumerates (see RULES)

    @property
    def fixed_width(self) -> bool:
        """MobileNetV2 layouts keep the published widths (base width 32 = multiplier 1.0)."""
        return self.arch == "mobilenetv2"


NETWORK_FORMS = (
    "cifar-plain-<3n+2>, cifar-resnet-<6n+2> (cifar100-… for 100 classes), resnet18, mobilenetv2, mobilenetv2-d, vgg16"
)
# Deeper CIFAR networks are refused before anything is built or costed: the deepest network of
# the papers is He et al.'s CIFAR ResNet-1202; 30,002 layers would take minutes just to list.
MAX_DEPTH = 1202
_CIFAR = re.compile(r"^(?P<data>cifar|cifar100)-(?P<kind>plain|resnet)-(?P<depth>\d+)$")
EXAMPLES = (
    "cifar-plain-20",
    "cifar-resnet-20",
    "cifar100-plain-20",
    "resnet18",
    "mobilenetv2",
    "mobilenetv2-d",
    "vgg16",
)


def get_network(name: str) -> Network:
    """The network called ``name``; a bad name lists the forms that exist."""
    if not isinstance(name, str):
        raise ConfigError(f"network name must be a string, got {name!r}")
    m = _CIFAR.match(name)
    if m:
        classes = 100 if m["data"] == "cifar100" else 10
        depth, kind = int(m["depth"]), m["kind"]
        per = 3 if kind == "plain" else 6
        if depth < per + 2 or (depth - 2) % per:
            form = "3n+2 (5, 8, …, 20, 38, 62)" if kind == "plain" else "6n+2 (8, 14, 20, 32, 44, 56, 110)"
            raise ConfigError(f"network {name!r}: depth {depth} is invalid; a CIFAR {kind} network has depth {form}")
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"network {name!r}: depth {depth} is too deep; at most {MAX_DEPTH} layers (CIFAR ResNet-1202, the deepest of the papers)"
            )
        if kind == "plain":
            title = f"IGC-V1 CIFAR plain network: 3x3 stem, 3 stages x (depth-2)/3 blocks (widths G, 2G, 4G), GAP, FC-{classes}"
            return Network(name, "cifar-plain", depth, classes, 18, 32, ALL_FAMILIES, title)
        title = f"CIFAR ResNet (+Ident.): 3x3 stem, 3 stages x (depth-2)/6 two-block units (widths G, 2G, 4G), GAP, FC-{classes}"
        return Network(name, "cifar-resnet", depth, classes, 16, 32, ALL_FAMILIES, title)
    if name == "resnet18":
        title = "ImageNet ResNet-18 family: 7x7/2 stem, max pool, 4 stages x 2 basic units, GAP, FC-1000"
        # the IGC-V1 paper's ImageNet networks use both igc1 rules: L4M32/L16M16 ("M") and L100M2 ("L")
        return Network(name, "resnet18", 18, 1000, 64, 224, ALL_FAMILIES, title, RULES)
    if name in ("mobilenetv2", "mobilenetv2-d"):
        deep = name.endswith("-d")
        n = "-".join(map(str, MBV2_D_REPEATS if deep else [r[2] for r in MBV2_TABLE]))
        title = f"MobileNetV2-1.0 layout (n = {n}){' as IGCV3-D' if deep else ''}: units are igc3, or 'ref' for MobileNetV2's own"
        units = sum(MBV2_D_REPEATS) if deep else sum(r[2] for r in MBV2_TABLE)
        depth = 1 + 3 * units + 2  # stem, 3 convs per igc3 unit (the t = 1 one too), last 1x1 conv, FC
        return Network(name, "mobilenetv2", depth, 1000, MBV2_STEM, 224, ("igc3",), title)
    if name == "vgg16":
        title = "LegoNet's CIFAR VGG16: 15 convs (the first regular), 5 max pools, GAP, FC-10"
        return Network(name, "vgg16", 16, 10, 64, 32, ALL_FAMILIES, title)
    raise ConfigError(f"unknown network {name!r}; choose from: {NETWORK_FORMS}")


# ---------------------------------------------------------------- network configs and keys


@dataclass(frozen=True)
class NetConfig:
    """One network: its name, the first-stage prototype block, and the width rule's options."""

    network: str  # network name, e.g. "cifar-plain-20"
    block: BlockConfig | None  # square stride-1 first-stage block at the base width; None: MobileNetV2's own
    stem: int | None = None  # stem width when it differs from the base width (IGC-L100M2+Ident.)
    rule: str = "M"  # igc1 only: "M" = M doubles per stage (L fixed), "L" = L doubles (M fixed)

    def __post_init__(self) -> None:
        net = get_network(self.network)
        b = self.block
        if b is None:
            if net.arch != "mobilenetv2":
                raise ConfigError(
                    f"network {self.network}: needs a block config (the 'ref' form is MobileNetV2's only)"
                )
        else:
            if b.family not in net.families:
                raise ConfigError(
                    f"network {self.network}: block family {b.family!r} is not supported; choose from: {', '.join(net.families)}"
                )
            if b.in_channels != b.out_channels or b.stride != 1:
                raise ConfigError(f"network {self.network}: the prototype block {b.key} must be square with stride 1")
            if net.fixed_width and b.out_channels != MBV2_STEM:
                raise ConfigError(
                    f"network {self.network}: base width must be {MBV2_STEM} (width multiplier 1.0), got {b.out_channels}"
                )
        if self.rule not in RULES:
            raise ConfigError(f"network rule {self.rule!r} is invalid; must be one of {', '.join(RULES)}")
        if self.rule != "M" and (b is None or b.family != "igc1"):
            raise ConfigError("rule 'L' (L doubles per stage) applies to igc1 networks only")
        if self.stem is not None:
            if net.arch not in ("cifar-plain", "cifar-resnet", "resnet18"):
                raise ConfigError(f"network {self.network}: a separate stem width is not supported")
            if isinstance(self.stem, bool) or not isinstance(self.stem, int) or self.stem < 1:
                raise ConfigError(f"stem={self.stem!r} is invalid; must be an integer >= 1")
            if b is not None and self.stem == b.out_channels:
                object.__setattr__(self, "stem", None)  # canonical: no stem token when it equals the width

    @property
    def net(self) -> Network:
        """The network this config instantiates."""
        return get_network(self.network)

    @property
    def depth(self) -> int:
        """Weight layers along the longest path; MobileNetV2's own t = 1 unit has no expansion conv."""
        return self.net.depth - (1 if self.block is None else 0)

    @property
    def width(self) -> int:
        """Base (first-stage) width."""
        return MBV2_STEM if self.block is None else self.block.out_channels

    @property
    def key(self) -> str:
        """``net-<name>-<prototype key>[-stem<S>][-Lx2]`` (``net-<name>-ref`` for MobileNetV2's own units)."""
        body = "ref" if self.block is None else self.block.key
        stem = f"-stem{self.stem}" if self.stem is not None else ""
        rule = "-Lx2" if self.rule == "L" else ""
        return f"{NETWORK_PREFIX}{self.network}-{body}{stem}{rule}"

    def layers(self) -> list[Any]:
        """This network's layer list (one-row columns)."""
        return network_layers(self.net, Proto.of(self))

    def cost(self, input_size: int | None = None) -> tuple[int, int, int]:
        """(params, macs, acts) of the whole network at ``input_size`` (default: the native size)."""
        size = self.net.input_size if input_size is None else input_size
        return tuple(int(np.asarray(v).ravel()[0]) for v in totals(walk(self.layers(), size)[0]))  # type: ignore[return-value]


_KEY = re.compile(
    r"^net-(?P<name>cifar(?:100)?-(?:plain|resnet)-\d+|resnet18|mobilenetv2-d|mobilenetv2|vgg16)-(?P<body>.+)$"
)


def parse_network_key(key: str) -> NetConfig:
    """Inverse of ``NetConfig.key``; a malformed or non-canonical key is a ConfigError."""
    if not isinstance(key, str) or not key.startswith(NETWORK_PREFIX):
        raise ConfigError(f"malformed network key {key!r}; expected e.g. net-cifar-plain-20-igc1-L24M2-c48k3")
    m = _KEY.match(key)
    if m is None:
        raise ConfigError(
            f"malformed network key {key!r}: expected net-<network>-<block key>, e.g. net-resnet18-conv-c64k3, "
            f"with <network> one of {NETWORK_FORMS}"
        )
    parts = m["body"].split("-")
    rule, stem = "M", None
    if parts and parts[-1] == "Lx2":
        rule = "L"
        parts.pop()
    if parts and re.fullmatch(r"stem\d+", parts[-1]):
        stem = int(parts.pop()[4:])
    body = "-".join(parts)
    block = None if body == "ref" else parse_key(body)
    cfg = NetConfig(m["name"], block, stem, rule)
    if cfg.key != key:
        raise ConfigError(f"network key {key!r} is not canonical; did you mean {cfg.key!r}?")
    return cfg


def reference(network: str, width: int | None = None, kernel: int = 3) -> NetConfig:
    """The network ``--budget network`` and the ratios of network rows are measured against.

    The network built with regular convs at ``width`` (default: the network's base width);
    for both MobileNetV2 layouts it is MobileNetV2-1.0 itself (``net-mobilenetv2-ref``), the
    network IGC-V3 units replace: IGCV3-D's paper compares with it, not with a deeper MobileNetV2.
    """
    net = get_network(network)
    if net.arch == "mobilenetv2":
        return NetConfig("mobilenetv2", None)
    from ..families.conv import Conv

    w = net.width if width is None else width
    return NetConfig(network, Conv(in_channels=w, out_channels=w, kernel=kernel))


def reference_title(network: str, width: int | None = None) -> str:
    """What :func:`reference` is, in words (report footers)."""
    net = get_network(network)
    if net.arch == "mobilenetv2":
        n = "-".join(str(r[2]) for r in MBV2_TABLE)
        return f"MobileNetV2-1.0 (its own inverted-residual units, n = {n}), the network IGC-V3 units replace"
    w = net.width if width is None else width
    return f"the same {network} network with regular conv-BN-ReLU blocks at base width {w}"


# ---------------------------------------------------------------- the width rule


@dataclass(frozen=True, eq=False)
class Proto:
    """Prototype blocks as columns (one entry per candidate network) plus the width rule."""

    family: str | None  # None: the MobileNetV2 layout's own units (ref)
    width: Any  # base width (int64 array)
    kernel: int
    knobs: dict[str, Any]  # the family's knobs at the first stage (arrays; igc2's K is 2-D)
    stem: Any = None  # stem width array when it differs from the base width
    rule: str = "M"

    @classmethod
    def of(cls, cfg: NetConfig) -> Proto:
        """One network config as a one-row prototype."""
        b = cfg.block
        if b is None:
            return cls(None, np.array([MBV2_STEM], dtype=np.int64), 3, {})
        knobs = {k: np.array([list(v) if isinstance(v, tuple) else v], dtype=np.int64) for k, v in b.knobs().items()}
        stem = None if cfg.stem is None else np.array([cfg.stem], dtype=np.int64)
        return cls(b.family, np.array([b.out_channels], dtype=np.int64), b.kernel, knobs, stem, cfg.rule)

    @property
    def stem_width(self) -> Any:
        """Channels out of the stem."""
        return self.width if self.stem is None else self.stem


def stage_block(
    p: Proto, cin: Any, cout: Any, stride: int, scale: int, square: bool, relu: bool = True, t: int | None = None
) -> Block:
    """The block at ``cin -> cout`` of a stage whose width is ``scale`` × the base width.

    Width rule per family (the paper's where there is one):
    - igc1: rule "M" keeps L and doubles M with the width (IGC-V1's CIFAR and L4M32/L16M16
      networks); rule "L" keeps M and doubles L (IGC-L100M2). Every block, the first of a
      stage included, uses its own stage's (L, M) with C_out = L·M (see ``cifar_resnet`` for
      the official code's transition quirk, which is not reproduced).
    - igc2: K_1 (the k×k conv's channels per group, IGC-V1's M) doubles, K_2…K_n stay; a
      block that changes width (IGC-V2 blocks are square) is the chain's two-factor case,
      igc1 with M = K_1 and L = C_out / K_1.
    - lego: o stays, m grows with the width (m/n fixed, LegoNet's m = 0.5·n).
    - every other family (conv, group g, dwsep r, igc3 t/G1/G2): knobs stay.
    ``t`` overrides igc3's expansion (MobileNetV2's t = 1 first unit).
    """
    geo = {"in_channels": cin, "out_channels": cout, "kernel": p.kernel, "stride": stride}
    k = p.knobs
    if p.family == "igc1":
        if p.rule == "L":
            return Block("igc1", {**geo, "L": cout // k["M"], "M": k["M"]}, relu)
        return Block("igc1", {**geo, "L": k["L"], "M": cout // k["L"]}, relu)
    if p.family == "igc2":
        k1 = k["K"][:, 0] * scale
        if not square:
            return Block("igc1", {**geo, "L": cout // k1, "M": k1}, relu)
        K = k["K"].copy()
        K[:, 0] = k1
        return Block("igc2", {**geo, "K": K}, relu)
    if p.family == "lego":
        return Block("lego", {**geo, "o": k["o"], "m": k["m"] * scale}, relu)
    if p.family == "igc3" and t is not None:
        return Block("igc3", {**geo, **k, "t": np.full_like(p.width, t)}, relu)
    return Block(p.family, {**geo, **k}, relu)  # type: ignore[arg-type]


def shortcut_groups(p: Proto, block: Block) -> Any:
    """Groups of a projection shortcut: the stage's L for igc1 (the official +Ident. code), else 1."""
    return block.cols["L"] if p.family == "igc1" and block.family == "igc1" else 1


# ---------------------------------------------------------------- layouts


def network_layers(net: Network, p: Proto) -> list[Any]:
    """The layer list of ``net`` built from prototype ``p``."""
    if net.arch == "cifar-plain":
        return cifar_plain(net, p)
    if net.arch == "cifar-resnet":
        return resnet(net, p, stages=3, units=(net.depth - 2) // 6, stem=ConvBN("stem", 3, p.stem_width, 3))
    if net.arch == "resnet18":
        stem = [ConvBN("stem", 3, p.stem_width, 7, 2), MaxPool(3, 2, 1)]
        return resnet(net, p, stages=4, units=2, stem=stem)
    if net.arch == "vgg16":
        return vgg16(net, p)
    return mobilenetv2(net, p)


def cifar_plain(net: Network, p: Proto) -> list[Any]:
    """IGC-V1 ``plain_igc.py``: 3×3 stem, 3 stages × (depth−2)/3 blocks of widths G, 2G, 4G,
    stride 2 on the first block of stages 2 and 3, GAP, FC."""
    n = (net.depth - 2) // 3
    layers: list[Any] = [ConvBN("stem", 3, p.stem_width, 3)]
    cin = p.stem_width
    for s in range(3):
        cout = p.width * 2**s
        for i in range(n):
            square = i > 0 or (s == 0 and p.stem is None)
            layers.append(stage_block(p, cin, cout, 2 if s > 0 and i == 0 else 1, 2**s, square))
            cin = cout
    return [*layers, Head(cin, net.classes)]


def resnet(net: Network, p: Proto, stages: int, units: int, stem: Any) -> list[Any]:
    """Residual ("+Ident.") stages of two-block units: block (BN, ReLU), block (BN), add, ReLU.

    The first unit of a stage that changes width or resolution has a projection shortcut:
    1×1 conv + BN, stride 2 where the unit downsamples, with the stage's L groups in igc1
    networks (the official ``resnet_igc.py`` / ImageNet symbol files). Other units add the
    identity.

    Transition quirk: the official CIFAR ``resnet_igc.py`` gives the FIRST block of the first
    unit of stages 2 and 3 a secondary conv with the OLD stage's M = C_in/L groups (groups of
    2L channels, twice the weights, no longer complementary). igcsearch does NOT reproduce it:
    every block uses its own stage's M = C_out/L, the IGC block of docs/families.md#igc1 (see docs/networks.md#cifar-resnet).
    """
    layers: list[Any] = stem if isinstance(stem, list) else [stem]
    cin = p.stem_width
    for s in range(stages):
        cout = p.width * 2**s
        for i in range(units):
            stride = 2 if s > 0 and i == 0 else 1
            square = i > 0 or (s == 0 and p.stem is None)
            first = stage_block(p, cin, cout, stride, 2**s, square)
            second = stage_block(p, cout, cout, 1, 2**s, True, relu=False)
            shortcut: tuple[Any, ...] = ()
            if not square or stride != 1:
                shortcut = (ConvBN("projection", cin, cout, 1, stride, shortcut_groups(p, first), act=None),)
            layers.append(Residual((first, second), shortcut))
            cin = cout
    return [*layers, Head(cin, net.classes)]


def vgg16(net: Network, p: Proto) -> list[Any]:
    """LegoNet's CIFAR VGG16: a regular 3×3 stem conv, 14 family blocks, 2×2 max pools, GAP, FC."""
    layers: list[Any] = [ConvBN("conv1", 3, p.stem_width, 3)]
    cin, prev = p.stem_width, (1 if p.stem is None else None)  # width multiple of cin (None: the stem's own)
    for item in VGG16_PLAN[1:]:
        if item == "M":
            layers.append(MaxPool(2, 2))
            continue
        cout = p.width * item
        layers.append(stage_block(p, cin, cout, 1, int(item), square=prev == item))
        cin, prev = cout, item
    return [*layers, Head(cin, net.classes)]


def mobilenetv2(net: Network, p: Proto) -> list[Any]:
    """MobileNetV2-1.0 layout: 3×3/2 stem 32 + BN + ReLU6, inverted-residual units, 1×1 conv
    to 1280 + BN + ReLU6, GAP, FC.

    With a prototype the units are igc3 blocks (IGC-V3: t from the prototype except the
    t = 1 first unit, which keeps its expansion group conv; G1, G2 everywhere). Without one
    (``ref``) they are MobileNetV2's own: [1×1 expansion + BN + ReLU6 (absent when t = 1)],
    3×3 depthwise + BN + ReLU6, 1×1 projection + BN, residual when stride 1 and C_in = C_out.
    """
    deep = net.name.endswith("-d")
    layers: list[Any] = [ConvBN("stem", 3, MBV2_STEM, 3, 2, act="relu6")]
    cin = MBV2_STEM
    for j, (t, c, n, s) in enumerate(MBV2_TABLE):
        for i in range(MBV2_D_REPEATS[j] if deep else n):
            stride = s if i == 0 else 1
            if p.family is None:
                layers += inverted_residual(cin, c, t, stride)
            else:
                layers.append(stage_block(p, cin, c, stride, 1, cin == c, t=1 if t == 1 else None))
            cin = c
    layers.append(ConvBN("last 1x1 conv", cin, MBV2_LAST, 1, act="relu6"))
    return [*layers, Head(MBV2_LAST, net.classes)]


def inverted_residual(cin: int, cout: int, t: int, stride: int) -> list[Any]:
    """MobileNetV2's unit as plain layers (wrapped in a linear residual when shapes allow)."""
    E = t * cin
    body: list[Any] = [] if t == 1 else [ConvBN("expansion", cin, E, 1, act="relu6")]
    body += [
        ConvBN("depthwise", E, E, 3, stride, groups=E, act="relu6"),
        ConvBN("projection", E, cout, 1, act=None),
    ]
    if stride == 1 and cin == cout:
        return [Residual(tuple(body), (), relu=False)]
    return body
