"""Exact measured counts of a built module: params by numel, MACs by fvcore (docs/counting.md).

``count(module, ...)`` traces the module in ``eval()`` on one batch-1 input with fvcore's
``FlopCountAnalysis`` (one "flop" per multiply-accumulate for conv/linear/matmul/einsum, so
its total is MACs), with BatchNorm counted 0 (``set_op_handle("aten::batch_norm", lambda
inputs, outputs: 0)``: the documented ``None`` form does not drop it), 0 for every
data-movement, activation, elementwise and pooling op, an exact broadcasting ``matmul``
handle, a handle for convs with string padding (``aten::_convolution_mode``, e.g.
``padding="same"``) and one for the fused IGC op ``igcsearch::interleaved_mix``. Any other op
fvcore cannot count is an error (it would silently count 0), never a warning: fvcore's
warnings and log output are silenced.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator
from typing import Any

from .errors import ConfigError


class CountError(RuntimeError):
    """fvcore met an op with no handle: its MACs would silently count as 0."""


def flop_count_analysis() -> type:
    """fvcore's FlopCountAnalysis, imported quietly (importing fvcore.nn warns on torch >= 2.9)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis
    return FlopCountAnalysis


def _shape(value: Any) -> list[int]:
    return list(value.type().sizes())


def zero_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """0 MACs: BN, activations, permutations, residual adds, pooling (the convention)."""
    return 0


def matmul_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """aten::matmul with broadcasting: output elements × contraction length.

    fvcore's own handle multiplies the FIRST operand's size by the last dimension of the
    second, which undercounts when only the second operand carries batch dimensions.
    """
    a = _shape(inputs[0])
    out = _shape(outputs[0])
    return math.prod(out) * a[-1]


def einsum_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """aten::einsum, exactly: the product of the index sizes of each pairwise contraction.

    fvcore's own handle parses numpy's einsum_path report, which prints the FLOP count
    rounded to 4 significant digits (off by up to 0.05 %).
    """
    import numpy as np

    equation = inputs[0].toIValue().replace(" ", "")
    shapes = [_shape(v) for v in inputs[1].node().inputs()]
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    if not rhs:  # implicit output: indices seen once, sorted
        rhs = "".join(sorted(c for c in set(lhs) if c.isalpha() and lhs.count(c) == 1))
    sizes = {c: n for term, shape in zip(terms, shapes, strict=True) for c, n in zip(term, shape, strict=True)}
    if len(terms) <= 2:
        return math.prod(sizes[c] for c in set("".join(terms)))
    path = np.einsum_path(equation, *[np.empty(s) for s in shapes], optimize="optimal")[0][1:]
    total = 0
    for step in path:
        picked = [terms[i] for i in step]
        terms = [t for i, t in enumerate(terms) if i not in step]
        union = set("".join(picked))
        total += math.prod(sizes[c] for c in union)
        keep = set(rhs + "".join(terms))
        terms.append("".join(sorted(c for c in union if c in keep)))
    return total


def convolution_mode_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """aten::_convolution_mode (a conv with padding='same'/'valid'): output elements × (C_in/g)·kh·kw.

    fvcore has no handle for it; the weight (C_out, C_in/g, kh, kw) gives the MACs per output.
    """
    weight = _shape(inputs[1])
    return math.prod(_shape(outputs[0])) * math.prod(weight[1:])


def interleaved_mix_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """igcsearch::interleaved_mix: y (N, L, M, X), out (N, L', M, X); L MACs per output."""
    y = _shape(inputs[0])
    return math.prod(_shape(outputs[0])) * y[1]


# Ops our blocks (and ordinary networks) trace to that carry no MACs by the convention.
ZERO_OPS = (
    "aten::batch_norm",
    "aten::add",
    "aten::add_",
    "aten::sub",
    "aten::mul",
    "aten::mul_",
    "aten::div",
    "aten::floordiv",
    "aten::hardtanh",
    "aten::hardtanh_",
    "aten::relu6",
    "aten::sigmoid",
    "aten::hardswish",
    "aten::hardswish_",
    "aten::hardsigmoid",
    "aten::silu",
    "aten::silu_",
    "aten::gelu",
    "aten::index_select",
    "aten::channel_shuffle",
    "aten::pixel_shuffle",
    "aten::addcmul_",
    "aten::zero_",
    "aten::mean",
    "aten::sum",
    "aten::max_pool2d",
    "aten::avg_pool2d",
    "aten::adaptive_avg_pool2d",
    "aten::adaptive_max_pool2d",
    "aten::linalg_vector_norm",
    "aten::empty_like",
    "aten::clone",
    "aten::alias",
    "aten::dropout_",
    "aten::feature_dropout",
    "prim::PythonOp",
)


def handles() -> dict[str, Any]:
    """Op handles set on top of fvcore's defaults (conv, linear, addmm, bmm)."""
    out: dict[str, Any] = dict.fromkeys(ZERO_OPS, zero_macs)
    out["aten::matmul"] = matmul_macs
    out["aten::einsum"] = einsum_macs
    out["aten::_convolution_mode"] = convolution_mode_macs
    out["igcsearch::interleaved_mix"] = interleaved_mix_macs
    return out


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence fvcore's logger and the JIT tracer's warnings."""
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def input_shape(spec: Any, input_size: int | None = None) -> tuple[int, int, int, int]:
    """(1, C_in, H, W) from a config (+ input_size), C_in (+ input_size) or a 3/4-tuple shape."""
    from .config import BlockConfig

    if isinstance(spec, BlockConfig):
        return (1, spec.in_channels, *_hw(input_size, spec))
    if isinstance(spec, int) and not isinstance(spec, bool):
        return (1, spec, *_hw(input_size, spec))
    if isinstance(spec, (tuple, list)) and len(spec) in (3, 4) and all(isinstance(v, int) for v in spec):
        if input_size is not None:
            raise ConfigError(f"give input_size only with a config or C_in, not with a shape {tuple(spec)}")
        c, h, w = spec[-3:]
        return (1, c, h, w)
    raise ConfigError(
        f"cannot count with {spec!r}: give a BlockConfig or C_in with input_size, or a shape (C, H, W) / (N, C, H, W)"
    )


def _hw(input_size: int | None, spec: Any) -> tuple[int, int]:
    if input_size is None:
        raise ConfigError(f"count({spec!r}, ...) needs input_size (the square input side)")
    return (int(input_size), int(input_size))


def count(
    module: Any, spec: Any, input_size: int | None = None, *, strict: bool = True, channels_last: bool = False
) -> tuple[int, int]:
    """(params, MACs) of a built module, both exact integers.

    ``spec``: a BlockConfig or C_in (with ``input_size``), or an input shape (C, H, W) or
    (N, C, H, W) (N is ignored: MACs are per sample, traced at batch 1). The module is
    traced in eval() (its mode is restored) on the device and dtype of its parameters, with a
    channels_last input when ``channels_last`` (so the code path that is timed in that format
    is the one counted: IGC blocks pick their fused variant per memory format).
    ``strict``: raise :class:`CountError` if fvcore meets an op with no handle (it would count it 0).
    """
    import torch

    analysis_cls = flop_count_analysis()
    shape = input_shape(spec, input_size)
    params = sum(p.numel() for p in module.parameters())
    first = next(module.parameters(), None)
    dtype = first.dtype if first is not None else torch.float32
    device = first.device if first is not None else "cpu"
    x = torch.randn(*shape, dtype=dtype, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    was_training = module.training
    module.eval()
    try:
        with _quiet(), torch.no_grad():
            analysis = analysis_cls(module, (x,))
            analysis.set_op_handle(**handles())
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
            total = analysis.total()
            unsupported = dict(analysis.unsupported_ops())
    finally:
        module.train(was_training)
    if strict and unsupported:
        ops = ", ".join(f"{k} (x{v})" for k, v in sorted(unsupported.items()))
        raise CountError(f"fvcore has no MAC handle for: {ops}; add one in igcsearch.counting.handles()")
    macs = round(total)
    if macs != total:
        raise CountError(f"fvcore returned a non-integer MAC count {total!r}")
    return int(params), macs


def count_config(cfg: Any, input_size: int, **opts: Any) -> dict[str, Any]:
    """Build ``cfg`` (``opts`` go to :func:`~igcsearch.registry.create_block`), count it, compare with the analytic counts.

    Returns params_measured, macs_measured, count_ok (both equal, exactly), params, macs
    (analytic, from the family's ``layers``).
    """
    from .cost import columns, totals
    from .registry import create_block, get_family

    analytic_params, analytic_macs, _ = totals(get_family(cfg.family).layers(columns(cfg, input_size)))
    params, macs = count(create_block(cfg, **opts), cfg, input_size)
    ap, am = int(analytic_params[0]), int(analytic_macs[0])
    return {
        "params_measured": params,
        "macs_measured": macs,
        "count_ok": params == ap and macs == am,
        "params": ap,
        "macs": am,
    }
