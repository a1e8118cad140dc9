"""The papers' named networks, as network keys (docs/networks.md#named-models)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .zoo import NetConfig, parse_network_key


@dataclass(frozen=True)
class Model:
    """A named network; ``{depth}`` in the key template takes the depth (CIFAR models)."""

    title: str
    key: str  # network key, or a template with {depth}
    depth: int  # default depth (weight layers along the longest path; the network config's own depth)


MODELS: dict[str, Model] = {
    "regconv-w18": Model(
        "IGC-V1 CIFAR plain RegConv-18: conv-BN-ReLU blocks of widths 18/36/72",
        "net-cifar-plain-{depth}-conv-c18k3",
        20,
    ),
    "igc-l24m2": Model(
        "IGC-V1 CIFAR plain IGC-L24M2: G = 48, L = 24, M = 2/4/8", "net-cifar-plain-{depth}-igc1-L24M2-c48k3", 20
    ),
    "resnet20": Model("CIFAR ResNet-20 (1x1 projection shortcuts)", "net-cifar-resnet-{depth}-conv-c16k3", 20),
    "resnet18": Model("ImageNet ResNet-18, C = 64", "net-resnet18-conv-c64k3", 18),
    "resnet18-c69": Model("ImageNet ResNet-18, C = 69", "net-resnet18-conv-c69k3", 18),
    "igc-l4m32": Model("IGC-L4M32+Ident.: widths 128-1024, L = 4, M = 32-256", "net-resnet18-igc1-L4M32-c128k3", 18),
    "igc-l16m16": Model(
        "IGC-L16M16+Ident.: widths 256-2048, L = 16, M = 16-128", "net-resnet18-igc1-L16M16-c256k3", 18
    ),
    "igc-l100m2": Model(
        "IGC-L100M2+Ident.: stem 100, widths 200-1600, L = 100-800, M = 2",
        "net-resnet18-igc1-L100M2-c200k3-stem100-Lx2",
        18,
    ),
    "mobilenetv2-1.0": Model("MobileNetV2-1.0", "net-mobilenetv2-ref", 53),
    "igcv3-d": Model(
        "IGCV3-D: MobileNetV2 widths, n = 1-4-6-8-6-6-1, G1 = G2 = 2", "net-mobilenetv2-d-igc3-t6G2x2-c32k3", 99
    ),
    "vgg16-lego": Model("LegoNet CIFAR VGG16, Lego convs o = 2, m = 0.5·n", "net-vgg16-lego-o2m32-c64k3", 16),
    "vgg16": Model("LegoNet CIFAR VGG16 with regular convs (the original)", "net-vgg16-conv-c64k3", 16),
}


def model_key(name: str, depth: int | None = None) -> str:
    """The network key of a named model (CIFAR models take a depth)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose from: {', '.join(MODELS)} (or give a net-… key)")
    model = MODELS[name]
    if "{depth}" not in model.key and depth not in (None, model.depth):
        raise ConfigError(f"model {name!r} has a fixed depth of {model.depth}")
    return model.key.format(depth=model.depth if depth is None else depth)


def model_config(name: str, depth: int | None = None) -> NetConfig:
    """The NetConfig of a named model."""
    if not isinstance(name, str):
        raise ConfigError(f"cannot build a network from {type(name).__name__} {name!r}")
    return parse_network_key(model_key(name, depth))
