"""Reference networks (docs/networks.md) built from a block family config and a width rule.

- :class:`NetConfig` / :func:`parse_network_key`: a network as a config and its ``net-…`` key;
- :func:`network_cost`: exact analytic (params, macs, acts), walking the same layer list the
  module is built from (pycls style; fvcore agrees exactly);
- :func:`build_network` / :func:`build_network_key`: the torch module (imports torch);
- :func:`network_rows`: whole-network rows for ``igcsearch search --network NAME``;
- :data:`MODELS`: the papers' named networks (``igc-l24m2``, ``resnet18``, ``igcv3-d``, …).

Importing this package does not import torch.
"""

from __future__ import annotations

from typing import Any

from .models import MODELS, model_config
from .rows import network_rows
from .zoo import (
    EXAMPLES,
    NETWORK_PREFIX,
    NetConfig,
    Network,
    get_network,
    parse_network_key,
    reference,
)


def network_config(spec: Any) -> NetConfig:
    """A NetConfig from a NetConfig, a ``net-…`` key or a model name (``igc-l24m2-d20``, …)."""
    if isinstance(spec, NetConfig):
        return spec
    if isinstance(spec, str) and spec.startswith(NETWORK_PREFIX):
        return parse_network_key(spec)
    return model_config(spec)


def network_cost(spec: Any, input_size: int | None = None) -> tuple[int, int, int]:
    """(params, macs, acts) of a whole network (default input size: the network's native one)."""
    return network_config(spec).cost(input_size)


def build_network(spec: Any, **opts: Any) -> Any:
    """The torch module of a network (NetConfig, key or model name); ``opts`` go to every block."""
    from .modules import build_layers

    cfg = network_config(spec)
    return build_layers(cfg.key, cfg.layers(), **opts)


def build_network_key(key: str, **opts: Any) -> Any:
    """The module of a ``net-…`` row key (what ``igcsearch search --network`` builds and counts)."""
    return build_network(parse_network_key(key), **opts)


def network_input_size(name: str) -> int:
    """The native input side of a network (32 for CIFAR and VGG16, 224 for ImageNet)."""
    return get_network(name).input_size


__all__ = [
    "EXAMPLES",
    "MODELS",
    "NETWORK_PREFIX",
    "NetConfig",
    "Network",
    "build_network",
    "build_network_key",
    "get_network",
    "model_config",
    "network_config",
    "network_cost",
    "network_input_size",
    "network_rows",
    "parse_network_key",
    "reference",
]
