"""Layer-by-layer analytic cost, pycls style: a family's ``layers(c)`` reads like its module.

Every helper works on Python ints and on numpy int64 arrays alike, so one formula serves a
single config (``igcsearch show``) and a million enumerated rows. Convention (docs/counting.md):
params = weights + BN gamma/beta (no biases: every block conv is bias-free); macs = conv and
linear multiply-accumulates at each conv's own output size; acts = conv/linear output elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer; fields are ints or int64 arrays (one entry per row)."""

    name: str  # what the layer is, e.g. "primary 3x3 group conv (L groups)"
    params: Any
    macs: Any
    acts: Any
    formula: str = ""  # the params/MACs arithmetic with the numbers in, for a single config (show)


def scalar(*values: Any) -> list[int] | None:
    """The values as Python ints when each holds exactly one number (a single config), else None."""
    if any(np.size(v) != 1 for v in values):
        return None
    return [int(np.asarray(v).ravel()[0]) for v in values]


def out_size(size: Any, kernel: Any, stride: Any) -> Any:
    """Spatial output size of a conv with padding k//2."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def conv(name: str, cin: Any, cout: Any, kernel: Any, groups: Any, hw: Any) -> LayerCost:
    """Bias-free conv: k²·(C_in/groups)·C_out weights, applied at hw output positions."""
    weights = kernel * kernel * (cin // groups) * cout
    one = scalar(kernel, cin, groups, cout, hw)
    formula = ""
    if one:
        k, ci, g, co, n = one
        per = f"({ci}/{g})" if g > 1 else f"{ci}"
        formula = f"params k²·(C_in/g)·C_out = {k}²·{per}·{co}; MACs params·H'W' = ·{n}"
    return LayerCost(name, weights, weights * hw, cout * hw, formula)


def bn(name: str, channels: Any) -> LayerCost:
    """BatchNorm: gamma and beta learnable (running stats are buffers); 0 MACs."""
    one = scalar(channels)
    formula = f"params 2·C (gamma, beta) = 2·{one[0]}; 0 MACs" if one else ""
    return LayerCost(name, 2 * channels, 0 * channels, 0 * channels, formula)


def linear(name: str, fin: Any, fout: Any, bias: bool = True) -> LayerCost:
    """Fully connected layer on one vector per sample."""
    one = scalar(fin, fout)
    formula = (
        (f"params {one[0]}·{one[1]}" + (f" + {one[1]} (bias)" if bias else "") + "; MACs = weights") if one else ""
    )
    return LayerCost(name, fin * fout + (fout if bias else 0), fin * fout, fout, formula)


def totals(layers: list[LayerCost]) -> tuple[Any, Any, Any]:
    """(params, macs, acts) summed over layers."""
    return (
        sum(layer.params for layer in layers),
        sum(layer.macs for layer in layers),
        sum(layer.acts for layer in layers),
    )


def columns(cfg: Any, input_size: int) -> dict[str, np.ndarray]:
    """One config as a one-row column dict, the form ``layers``/``check`` take."""
    cols: dict[str, np.ndarray] = {
        "in_channels": np.array([cfg.in_channels], dtype=np.int64),
        "out_channels": np.array([cfg.out_channels], dtype=np.int64),
        "kernel": np.array([cfg.kernel], dtype=np.int64),
        "stride": np.array([cfg.stride], dtype=np.int64),
        "input_size": np.array([input_size], dtype=np.int64),
    }
    cols["out_size"] = out_size(cols["input_size"], cols["kernel"], cols["stride"])
    for name, value in cfg.knobs().items():
        cols[name] = np.array([list(value) if isinstance(value, tuple) else value], dtype=np.int64)
    return cols
