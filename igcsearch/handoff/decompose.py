"""Depthwise decomposition, DWD (docs/families.md#dwd): regular convs -> depthwise + pointwise.

A trained regular conv W (n, c, k, k) becomes a depthwise conv D with depth multiplier r
(c·r outputs, output i·r + j sees input channel i) followed by a pointwise conv P
(n, c·r); the composite kernel is W'[o, i] = Σ_j P[o, i·r + j]·D[i·r + j]. Stride, padding,
dilation and padding mode stay on the depthwise conv, the bias moves to the pointwise conv,
so the output shape is unchanged.

- **Weights-only** (Eckart–Young): per input channel i, the n×k² slice W_i = UΣVᵀ keeps r
  singular triplets: P columns σ_j·u_j, D rows v_j. Exact at r = min(n, k²).
- **Data-driven** (with calibration inputs): layer by layer in forward order, the inputs X̂
  come from the network with every earlier layer already decomposed and the targets Y from
  the original network (the conv's response before its bias). Each layer minimises
  ‖Y − Σ_i X̂_i A_i‖ with rank(A_i) <= r (A_i = W'_iᵀ, k²×n), starting from the weights-only
  solution, by block coordinate descent over the input channels (the paper's inter-channel
  compensation): each channel's A_i is the exact reduced-rank regression against the
  residual of the others. Every step can only lower the objective (checked, in float64), so
  on the calibration data the data-driven error is never worse than weights-only.

Errors reported per layer: weights ‖W − W'‖/‖W‖, outputs ‖Y − Ŷ‖/‖Y‖ on the calibration
inputs (random N(0, 1) images without them), both for the method used and for weights-only
on the same inputs.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import IgcSearchError
from .model import (
    channels_origin,
    check_example,
    example_input,
    input_channels,
    probe_convs,
    run_model,
    set_module,
    shape_of,
    too_large,
)

RIDGE = 1e-4  # relative ridge of the per-channel regressions (see refine)
MAX_GRAM = 8192  # c·k² above this: the data-driven Gram matrix would be too large; weights-only
MAX_SWEEPS = 1000  # data-driven passes over the input channels (each pass can only lower the error)
CALIB_BATCH = 16  # images per forward (bounds the float64 patch matrix)


# ---------------------------------------------------------------- weights-only factors


def svd_factors(weight: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """(depthwise (c·r, 1, kh, kw), pointwise (n, c·r, 1, 1)) keeping r triplets per input channel."""
    n, c, kh, kw = weight.shape
    W = weight.detach().double().permute(1, 0, 2, 3).reshape(c, n, kh * kw)  # W_i: n × k²
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)  # U (c, n, q), S (c, q), Vh (c, q, k²)
    r = min(rank, S.shape[1])
    P = U[:, :, :r] * S[:, None, :r]  # (c, n, r): p_ij = σ_j u_j
    D = Vh[:, :r, :]  # (c, r, k²): d_ij = v_j
    return _modules_form(D, P, (kh, kw), weight.dtype)


def _modules_form(D: Tensor, P: Tensor, kernel: tuple[int, int], dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """D (c, r, k²), P (c, n, r) -> conv weights (c·r, 1, kh, kw) and (n, c·r, 1, 1)."""
    c, r, _ = D.shape
    n = P.shape[1]
    depthwise = D.reshape(c * r, 1, *kernel).to(dtype)
    pointwise = P.permute(1, 0, 2).reshape(n, c * r, 1, 1).to(dtype)
    return depthwise, pointwise


def composite(depthwise: Tensor, pointwise: Tensor, c: int) -> Tensor:
    """The regular kernel W' (n, c, kh, kw) the depthwise + pointwise pair computes."""
    cr, _, kh, kw = depthwise.shape
    r = cr // c
    n = pointwise.shape[0]
    D = depthwise.double().reshape(c, r, kh * kw)
    P = pointwise.double().reshape(n, c, r)
    return torch.einsum("oij,ijk->oik", P, D).reshape(n, c, kh, kw)


def separable(conv: nn.Conv2d, depthwise: Tensor, pointwise: Tensor) -> nn.Sequential:
    """The depthwise + pointwise pair replacing ``conv`` (same stride, padding, dilation, bias)."""
    c = conv.in_channels
    dw = nn.Conv2d(
        c, depthwise.shape[0], conv.kernel_size, stride=conv.stride, padding=conv.padding,
        dilation=conv.dilation, groups=c, bias=False, padding_mode=conv.padding_mode,
    )  # fmt: skip
    pw = nn.Conv2d(depthwise.shape[0], conv.out_channels, 1, bias=conv.bias is not None)
    with torch.no_grad():
        dw.weight.copy_(depthwise)
        pw.weight.copy_(pointwise)
        if conv.bias is not None:
            pw.bias.copy_(conv.bias)
    pair = nn.Sequential(OrderedDict([("depthwise", dw), ("pointwise", pw)]))
    return pair.to(conv.weight.device, conv.weight.dtype).train(conv.training)


# ---------------------------------------------------------------- data-driven refinement


def patches(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """Input patches of a conv as rows (N·H'W', c·k²), channel-major like ``weight.reshape(n, -1)``."""
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    xp = F.pad(x, conv._reversed_padding_repeated_twice, mode=mode)
    cols = F.unfold(xp, conv.kernel_size, dilation=conv.dilation, stride=conv.stride)  # (N, c·k², L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def refine(G: Tensor, C: Tensor, A: Tensor, rank: int, sweeps: int, ridge: float = RIDGE) -> Tensor:
    """Block coordinate descent on f(A) = −2⟨A, C⟩ + ⟨A, G A⟩ + λ‖A‖² with rank(A_i) <= r per channel.

    ``G`` = X̂ᵀX̂ (c·k² × c·k²), ``C`` = X̂ᵀY (c·k² × n), ``A`` (c, k², n) the start. The block
    for channel i solves min ‖T_i − X̂_i A_i‖² + λ_i‖A_i‖² over rank-r A_i exactly (reduced-rank
    regression in the metric of G_ii + λ_i I); a step is kept only if it lowers that objective.
    λ_i = ``ridge`` × the mean diagonal of G_ii (tiny: it only tames directions the data never
    excites); the caller keeps the start if the plain objective did not fall.
    """
    c, k2, n = A.shape
    A = A.clone()
    GA = G @ A.reshape(c * k2, n)
    blocks = torch.stack([G[i * k2 : (i + 1) * k2, i * k2 : (i + 1) * k2] for i in range(c)])
    eye = torch.eye(k2, dtype=G.dtype)
    scale = blocks.diagonal(dim1=1, dim2=2).mean(dim=1)  # mean input energy per channel
    blocks = blocks + ridge * scale[:, None, None] * eye  # ridge: keeps weights finite off the data
    evals, evecs = torch.linalg.eigh(blocks)  # (c, k²), (c, k², k²)
    for _ in range(sweeps):
        for i in range(c):
            sl = slice(i * k2, (i + 1) * k2)
            Gii, Ai = blocks[i], A[i]
            B = C[sl] - GA[sl] + Gii @ Ai  # X̂_iᵀ T_i: target residual of the other channels
            lam, V = evals[i], evecs[i]
            keep = lam > lam.max().clamp(min=0) * 1e-10
            if not bool(keep.any()):
                continue
            lam, V = lam[keep], V[:, keep]
            M = (V.T @ B) / lam.sqrt()[:, None]  # Λ^{-1/2} Vᵀ B
            U, S, Vh = torch.linalg.svd(M, full_matrices=False)
            r = min(rank, S.shape[0])
            Z = (U[:, :r] * S[:r]) @ Vh[:r]
            new = V @ (Z / lam.sqrt()[:, None])
            old_q = (Ai * (Gii @ Ai)).sum() - 2 * (Ai * B).sum()
            new_q = (new * (Gii @ new)).sum() - 2 * (new * B).sum()
            if new_q < old_q:
                GA += G[:, sl] @ (new - Ai)
                A[i] = new
    return A


def objective(G: Tensor, C: Tensor, A: Tensor) -> float:
    """f(A) = −2⟨A, C⟩ + ⟨A, G A⟩ (‖Y − X̂A‖² without the constant ‖Y‖²)."""
    flat = A.reshape(-1, A.shape[-1])
    return float((flat * (G @ flat)).sum() - 2 * (flat * C).sum())


def factors_from(A: Tensor, rank: int, kernel: tuple[int, int], dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Split each A_i (k²×n, rank <= r) into D rows (unit norm) and P columns, as conv weights."""
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)  # A_i = U S Vh; W'_i = A_iᵀ = (Vh^T S) U^T
    r = min(rank, S.shape[1])
    D = U[:, :, :r].transpose(1, 2)  # (c, r, k²)
    P = Vh[:, :r, :].transpose(1, 2) * S[:, None, :r]  # (c, n, r)
    return _modules_form(D, P, kernel, dtype)


# ---------------------------------------------------------------- the model walk


class _Stop(Exception):
    """Raised by a hook once the layer of interest has run (the rest of the forward is skipped)."""


def _capture(model: nn.Module, module: nn.Module, x: Tensor, want: str) -> Tensor:
    """The input (``want="in"``) or output of ``module`` during ``model(x)``, stopping right after it."""
    got: list[Tensor] = []

    def hook(mod: Any, inputs: Any, output: Any) -> None:
        got.append(inputs[0] if want == "in" else output)
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not got:
        raise AssertionError("the layer did not run")
    return got[0]


def layer_io(
    original: nn.Module, approx: nn.Module, name: str, batches: list[Tensor]
) -> Iterator[tuple[Tensor, Tensor]]:
    """(X̂, Y) per batch: the approximated network's input to layer ``name``, the original conv's response (no bias)."""
    conv = original.get_submodule(name)
    target = approx.get_submodule(name)
    for x in batches:
        y = _capture(original, conv, x, "out")
        if conv.bias is not None:
            y = y - conv.bias.view(1, -1, 1, 1)
        yield _capture(approx, target, x, "in"), y


@dataclass
class LayerReport:
    """One decomposed conv and how well the pair reproduces it."""

    name: str
    in_channels: int
    out_channels: int
    kernel: str  # "3x3"
    stride: int
    rank: int  # depth multiplier used: min(r, C_out, k²)
    method: str  # "weights" | "data" | "weights (c·k² too large for data)"
    params_before: int
    params_after: int
    weight_err: float  # ‖W − W'‖ / ‖W‖
    output_err: float  # ‖Y − Ŷ‖ / ‖Y‖ on the calibration (or random) inputs
    output_err_weights: float  # the weights-only solution on the same inputs


@dataclass
class DecomposeResult:
    """The decomposed model, per-layer reports, layers left alone (and why)."""

    model: nn.Module
    rank: int
    calibrated: bool  # True: the data-driven solution
    layers: list[LayerReport]
    skipped: list[tuple[str, str]]
    params_before: int
    params_after: int
    notes: list[str] = field(default_factory=list)  # e.g. the rank clamped to min(C_out, k²)


def ineligible(site: Any) -> str | None:
    """Why a conv is left alone (None if it is decomposed)."""
    conv = site.conv
    if type(conv).forward is not nn.Conv2d.forward:
        return f"{type(conv).__name__} overrides forward (not a plain nn.Conv2d)"
    if conv.groups != 1:
        return f"grouped conv (groups={conv.groups}): not a regular conv"
    if conv.kernel_size == (1, 1):
        return "1x1 conv: already pointwise"
    if site.calls == 0:
        return "not run by the forward on the inputs"
    if site.calls > 1:
        return f"shared: runs {site.calls} times per forward"
    return None


def _error(ys: Tensor, yhat: Tensor) -> tuple[float, float]:
    return float(((ys - yhat) ** 2).sum()), float((ys**2).sum())


def decompose(
    model: nn.Module,
    rank: int,
    calib: Tensor | None = None,
    *,
    refine: bool = True,
    in_channels: int | None = None,
    input_size: int = 32,
    sweeps: int = 4,
) -> DecomposeResult:
    """Replace every regular k×k conv of ``model`` (in place) by depthwise (multiplier r) + pointwise.

    ``calib`` (N, C, H, W) float inputs: the data-driven solution per layer (``refine=False``:
    the weights-only SVD, its errors measured on ``calib``); without it the weights-only SVD,
    with output errors measured on 8 random N(0, 1) inputs of ``in_channels`` × ``input_size``²
    (``in_channels=None``: the in_channels of the model's first nn.Conv2d, the first registered).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"decompose: model must be a torch.nn.Module, got {type(model).__name__}")
    check_options(rank, in_channels, input_size, sweeps)
    if calib is not None and not isinstance(calib, Tensor):
        raise TypeError(f"decompose: calib must be a torch.Tensor or None, got {type(calib).__name__}")
    origin = channels_origin(model, in_channels) if calib is None else "C from the calibration images"
    in_channels = input_channels(model, in_channels)
    if calib is not None and (calib.dim() != 4 or len(calib) == 0):
        raise IgcSearchError(
            f"calibration images must be a non-empty (N, C, H, W) batch, got shape {tuple(calib.shape)}"
        )
    if calib is None:
        check_example(in_channels, input_size)
    with torch.no_grad(), too_large("decomposing the model (its layers or the calibration batch)"):
        return _decompose(model, rank, calib, refine, in_channels, input_size, sweeps, origin)


def check_options(rank: int, in_channels: int | None, input_size: int, sweeps: int) -> None:
    """Types and ranges of decompose's numeric options (TypeError for a wrong type, else IgcSearchError)."""
    for name, value in (("rank", rank), ("in_channels", in_channels), ("input_size", input_size), ("sweeps", sweeps)):
        if name == "in_channels" and value is None:
            continue  # the model's first conv says
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"decompose: {name} must be an int, got {type(value).__name__} {value!r}")
    if rank < 1:
        raise IgcSearchError(f"--rank must be an integer >= 1, got {rank!r}")
    if sweeps < 0:
        raise IgcSearchError(f"--sweeps must be >= 0, got {sweeps}")
    if sweeps > MAX_SWEEPS:
        raise IgcSearchError(f"--sweeps must be at most {MAX_SWEEPS}, got {sweeps}")


def _decompose(
    model: nn.Module,
    rank: int,
    calib: Tensor | None,
    refine: bool,
    in_channels: int,
    input_size: int,
    sweeps: int,
    origin: str = "",
) -> DecomposeResult:
    model.eval()
    data = calib if calib is not None else example_input(model, in_channels, input_size, batch=8)
    first = next(model.parameters(), None)
    if first is not None:
        data = data.to(first.device, first.dtype)
    batches = list(data.split(CALIB_BATCH))
    before_shape = shape_of(run_model(model, batches[0], origin=origin))
    params_before = sum(p.numel() for p in model.parameters())
    original = copy.deepcopy(model)
    sites = probe_convs(model, batches[0], origin)
    reports: list[LayerReport] = []
    skipped: list[tuple[str, str]] = []
    for site in sites:
        reason = ineligible(site)
        if reason is not None:
            skipped.append((site.name, reason))
            continue
        reports.append(_decompose_layer(original, model, site, rank, calib is not None and refine, batches, sweeps))
    after_shape = shape_of(run_model(model, batches[0]))
    if after_shape != before_shape:  # an invariant: stride and padding stay on the depthwise conv
        raise AssertionError(f"output shape changed from {before_shape} to {after_shape}")
    params_after = sum(p.numel() for p in model.parameters())
    notes = notes_for(reports, rank, params_before, params_after)
    return DecomposeResult(
        model, rank, calib is not None and refine, reports, skipped, params_before, params_after, notes
    )


def notes_for(reports: list[LayerReport], rank: int, params_before: int, params_after: int) -> list[str]:
    """What the user should know: layers whose r was clamped to min(C_out, k²), a model that grew."""
    notes = []
    clamped = [r for r in reports if r.rank < rank]
    if clamped:
        names = ", ".join(f"{r.name} (r = {r.rank})" for r in clamped[:6]) + (", …" if len(clamped) > 6 else "")
        notes.append(
            f"--rank {rank} is more than min(C_out, k²) for {len(clamped)} layer(s): {names} use r = min(C_out, k²), "
            "where the decomposition is already exact"
        )
    if params_after > params_before:
        notes.append(
            f"the decomposed model has more parameters than the original ({params_before:,} -> {params_after:,}): "
            "r·(C_in·k² + C_out·C_in) > C_out·C_in·k² at this rank; a smaller --rank compresses"
        )
    return notes


def _decompose_layer(
    original: nn.Module, model: nn.Module, site: Any, rank: int, data_driven: bool, batches: list[Tensor], sweeps: int
) -> LayerReport:
    conv: nn.Conv2d = site.conv
    n, c, kh, kw = conv.weight.shape
    k2 = kh * kw
    r = min(rank, n, k2)
    W = conv.weight.detach().double()
    dw0, pw0 = svd_factors(conv.weight, r)
    method = "weights"
    if data_driven and c * k2 > MAX_GRAM:
        method = f"weights (c·k²={c * k2} > {MAX_GRAM}: too large for data)"
    use_data = data_driven and c * k2 <= MAX_GRAM
    G = torch.zeros(c * k2, c * k2, dtype=torch.float64)
    C = torch.zeros(c * k2, n, dtype=torch.float64)
    err0 = norm = 0.0
    W0 = composite(dw0, pw0, c)
    for xh, y in layer_io(original, model, site.name, batches):
        xh64, y64 = xh.double(), y.double()
        e, s = _error(y64, _conv_any(conv, xh64, W0))
        err0, norm = err0 + e, norm + s
        if use_data:
            X = patches(conv, xh64)
            G += X.T @ X
            C += X.T @ y64.permute(0, 2, 3, 1).reshape(-1, n)
    dw, pw, err = dw0, pw0, err0
    if use_data:
        method = "data"
        A0 = W0.reshape(n, c, k2).permute(1, 2, 0).contiguous()  # A_i = W'_iᵀ: (c, k², n)
        A = refine(G, C, A0, r, sweeps)
        if objective(G, C, A) < objective(G, C, A0):
            dw, pw = factors_from(A, r, (kh, kw), conv.weight.dtype)
            Wd = composite(dw, pw, c)
            err = 0.0
            for xh, y in layer_io(original, model, site.name, batches):
                err += _error(y.double(), _conv_any(conv, xh.double(), Wd))[0]
            if err > err0:  # float rounding of the factors: keep the weights-only solution
                dw, pw, err = dw0, pw0, err0
    Wn = composite(dw, pw, c)
    pair = separable(conv, dw, pw)
    set_module(model, site.name, pair)
    rel = lambda e: math.sqrt(e / norm) if norm > 0 else 0.0  # noqa: E731
    return LayerReport(
        name=site.name, in_channels=c, out_channels=n, kernel=f"{kh}x{kw}", stride=conv.stride[0], rank=r,
        method=method, params_before=sum(p.numel() for p in conv.parameters()),
        params_after=sum(p.numel() for p in pair.parameters()),
        weight_err=float((W - Wn).norm() / W.norm()) if W.norm() > 0 else 0.0,
        output_err=rel(err), output_err_weights=rel(err0),
    )  # fmt: skip


def _conv_any(conv: nn.Conv2d, x: Tensor, weight: Tensor) -> Tensor:
    """The conv's bias-free response with another kernel, any padding mode (float64 allowed)."""
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    xp = F.pad(x, conv._reversed_padding_repeated_twice, mode=mode)
    return F.conv2d(xp, weight, None, conv.stride, 0, conv.dilation)
