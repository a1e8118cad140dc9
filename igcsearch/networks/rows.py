"""Network-level search rows: every family setting of a whole reference network, analytically.

``network_rows(spec)`` is what ``igcsearch search --network NAME`` measures. For each
requested family it enumerates the first-stage prototype blocks (the family's own
enumerator at square base widths, so the same conditions and ``--balance-tol`` apply), turns
each into a whole network by the width rule (:func:`igcsearch.networks.zoo.stage_block`:
for igc1, L fixed and M doubling per stage), prices all of them in one vectorised walk of
the layer list, and keeps those within the network budget.

- Widths: with a budget (``--params-max``, ``--macs-max`` or ``--budget network``) the base
  width is free: every width whose cheapest conceivable network fits is enumerated (``-c``
  then names the reference network's width). Without one, the base widths are ``-c`` (or
  the network's default). The MobileNetV2 layouts keep their published widths (``-c`` other
  than 32 is refused).
- ``--budget network`` (``--budget conv`` is an alias): the params of the reference network
  (:func:`igcsearch.networks.zoo.reference`): the same network built with regular convs at
  the reference base width, or MobileNetV2-1.0 for both MobileNetV2 layouts.
  ``params_ratio``/``macs_ratio`` are against that network; ``baseline`` marks it.
- Rows: ``in_channels`` 3, ``out_channels`` = classes, the kernel, stride 1, the input
  size, the prototype's knobs (igc1: L and the first-stage M), whole-network ``params``,
  ``macs``, ``acts``, and ``width`` (the base width). Condition columns: booleans hold for
  every family block of the network; ``balance`` is the first-stage (prototype) block's.
- igc1 width rules: the network's ``rules`` (ResNet-18: both "M doubles" and "L doubles",
  whose keys end in ``-Lx2``; every other network: "M doubles").
- ``--widest``: per family structure and rule (igc1: per L) only the widest network that fits.
- Lego's network-level knobs are o and m = n/d for d | n, 2 <= d <= 64 (LegoNet's
  m = 0.5·n is d = 2); m/n stays fixed across stages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..cost import out_size, totals
from ..errors import ConfigError, SpecError
from ..numtheory import divisors_of
from ..registry import get_family
from ..render import keys as block_keys
from ..space import FILTERS, Chunk, Options, blocks, concat
from ..spec import Spec
from .layers import Block, Residual, walk
from .layers import blocks as family_blocks
from .zoo import NETWORK_PREFIX, NetConfig, Network, Proto, get_network, network_layers, reference

MAX_BASE_WIDTH = 4096  # a budget admitting wider base widths is refused (it would not finish)
LEGO_RATIOS = 64  # lego at network level: m = n/d for d = 2 .. 64
NETWORK_BUDGETS = ("network", "conv")  # --budget values meaning the reference network ("conv": alias)


def network_rows(spec: Spec) -> Iterator[Chunk]:
    """One-family row chunks (with precomputed ``net-…`` keys) for ``spec.network``."""
    net = check_network_spec(spec)
    families = [f for f in spec.families if f in net.families]
    budgeted = _budgeted(spec)
    opts = Options(spec.balance_tol, spec.expansion)
    for kernel in spec.kernel:
        ref = reference_for(spec, kernel)
        ref_params, ref_macs, _ = ref.cost(spec.input_size)
        pmax = np.inf if spec.params_max is None else spec.params_max
        mmax = np.inf if spec.macs_max is None else spec.macs_max
        if spec.budget in NETWORK_BUDGETS:
            pmax = min(pmax, ref_params)
        for name in families:
            family = get_family(name)
            widths = _widths(net, spec, name, kernel, pmax, mmax, budgeted)
            for rule in net.rules if name == "igc1" else ("M",):
                parts = []
                for geo in _geometries(widths, kernel, spec.input_size, family, opts):
                    rows = _rows(net, name, geo, kernel, spec.input_size, opts, pmax, mmax, rule)
                    if rows["params"].size:
                        parts.append(rows)
                rows = concat(parts)
                if rows is None:
                    continue
                if spec.widest:
                    rows = _widest(name, rows)
                rows["params_ratio"] = rows["params"] / ref_params
                rows["macs_ratio"] = rows["macs"] / ref_macs
                rows["baseline"] = rows["key"] == ref.key
                yield rows


def reference_for(spec: Spec, kernel: int) -> NetConfig:
    """The reference network of a network spec at one kernel size (budget and ratios)."""
    net = _network(spec.network)
    return reference(net.name, spec.channels[0] if len(spec.channels) == 1 else net.width, kernel)


def _budgeted(spec: Spec) -> bool:
    return spec.params_max is not None or spec.macs_max is not None or spec.budget in NETWORK_BUDGETS


def check_network_spec(spec: Spec) -> Network:
    """The spec's network; space options with no meaning for it are refused (``--stride``: make_spec)."""
    net = _network(spec.network)
    unsupported = [f for f in spec.family if f not in net.families]
    if unsupported:
        raise SpecError(
            f"network {net.name} takes the block families {', '.join(net.families)}; --family asked for {', '.join(unsupported)}"
        )
    if spec.in_channels or spec.out_channels:
        raise SpecError("--network takes base widths with -c/--channels, not --in-channels/--out-channels")
    if net.fixed_width and spec.channels not in ((), (net.width,)):
        raise SpecError(
            f"network {net.name} keeps MobileNetV2-1.0's published widths (base width {net.width}); drop -c"
        )
    if _budgeted(spec) and len(spec.channels) > 1:
        raise SpecError("with a budget the base width is free; give at most one -c (the reference network's width)")
    return net


def _network(name: Any) -> Network:
    if not name:
        raise SpecError("no network given: use --network NAME (see `igcsearch networks`)")
    try:
        return get_network(str(name))
    except ConfigError as exc:
        raise SpecError(str(exc)) from None


# ---------------------------------------------------------------- widths


def _widths(net: Network, spec: Spec, family: str, kernel: int, pmax: float, mmax: float, budgeted: bool) -> np.ndarray:
    """Base widths to enumerate (see the module docstring)."""
    if net.fixed_width:
        return np.array([net.width], dtype=np.int64)
    if not budgeted:
        return np.array(spec.channels or (net.width,), dtype=np.int64)
    widths = np.arange(1, MAX_BASE_WIDTH + 2, dtype=np.int64)
    pmin, mmin = lower_bound(net, family, widths, kernel, spec.input_size)
    fits = (pmin <= pmax) & (mmin <= mmax)
    if fits.all():
        raise SpecError(
            f"the budget admits {family} base widths above {MAX_BASE_WIDTH} for {net.name}; "
            f"add or lower --macs-max/--params-max, or leave {family} out of --family"
        )
    return widths[: int(np.argmin(fits))]


def lower_bound(net: Network, family: str, widths: np.ndarray, kernel: int, size: int) -> tuple[Any, Any]:
    """(params, macs) no network of ``family`` at these base widths can go below.

    Stem, plain convs and the head at their exact cost; each square block at the family's
    ``min_weights`` (its cheapest knobs) plus one BN; projections and width-changing blocks
    at 0. Every term grows with the width, so the bound is monotone.
    """
    min_weights = _lego_min_weights if family == "lego" else get_family(family).min_weights
    layers = network_layers(net, Proto("conv", widths, kernel, {}))
    params: Any = 0
    macs: Any = 0

    def visit(items: Any, s: int) -> int:
        nonlocal params, macs
        for layer in items:
            if isinstance(layer, Block):
                o = int(out_size(s, kernel, layer.cols["stride"]))
                cin, cout = layer.cols["in_channels"], layer.cols["out_channels"]
                if np.array_equal(cin, cout):  # square block (structural: all rows or none)
                    w = min_weights(np.asarray(cout), kernel * kernel)
                    params = params + w + 2 * cout
                    macs = macs + w * o * o
                s = o
            elif isinstance(layer, Residual):
                s = visit(layer.body, s)
            else:
                costs, s = layer.cost(s)
                p, m, _ = totals(costs) if costs else (0, 0, 0)
                params, macs = params + p, macs + m
        return s

    visit(layers, size)
    return np.broadcast_to(params, widths.shape), np.broadcast_to(macs, widths.shape)


def _lego_min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """Lego weights k²(C/o)·m + o·C with m >= C/64 (the network-level knob): >= 2·sqrt(S·C³/64) by AM-GM over o."""
    return np.floor(2 * np.sqrt(area * width.astype(float) ** 3 / LEGO_RATIOS)).astype(np.int64)


def _geometries(
    widths: np.ndarray, kernel: int, size: int, family: Any, opts: Options
) -> Iterator[dict[str, np.ndarray]]:
    """Square stride-1 geometries at the base widths, in blocks of bounded row counts."""
    n = widths.size
    geo = {
        "in_channels": widths,
        "out_channels": widths,
        "kernel": np.full(n, kernel, dtype=np.int64),
        "stride": np.ones(n, dtype=np.int64),
        "input_size": np.full(n, size, dtype=np.int64),
        "out_size": np.full(n, size, dtype=np.int64),
        "params_max": np.full(n, np.inf),
        "macs_max": np.full(n, np.inf),
    }
    for idx in blocks(family, geo, opts):
        yield {k: v[idx] for k, v in geo.items()}


# ---------------------------------------------------------------- rows


def prototypes(family: str, geo: dict[str, np.ndarray], opts: Options) -> dict[str, np.ndarray]:
    """First-stage prototype columns (geometry + knobs) of one family over square widths."""
    if family == "lego":
        i, o = divisors_of(geo["out_channels"])
        j, d = divisors_of(geo["out_channels"][i])
        keep = (d >= 2) & (d <= LEGO_RATIOS)
        j, d = j[keep], d[keep]
        idx = i[j]
        sel = {"o": o[j], "m": geo["out_channels"][idx] // d}
    else:
        sel = get_family(family).enumerate(geo, opts)
        idx = sel.pop("geo")
    cols = {k: geo[k][idx] for k in ("in_channels", "out_channels", "kernel", "stride", "input_size", "out_size")}
    cols.update(sel)
    return cols


def _rows(
    net: Network,
    family: str,
    geo: dict[str, np.ndarray],
    kernel: int,
    size: int,
    opts: Options,
    pmax: float,
    mmax: float,
    rule: str = "M",
) -> Chunk:
    """Price every prototype of one geometry block as a whole network (igc1: under ``rule``); keep what fits."""
    proto_cols = prototypes(family, geo, opts)
    knob_names = list(get_family(family).knobs)
    knobs = {k: proto_cols[k] for k in knob_names}
    width = proto_cols["out_channels"]
    n = width.size
    if n == 0:
        return {"params": np.zeros(0, dtype=np.int64)}
    layers = network_layers(net, Proto(family, width, kernel, knobs, rule=rule))
    params, macs, acts = (_column(v, n) for v in totals(walk(layers, size)[0]))
    proto_checks = get_family(family).check(proto_cols)
    checks = {k: np.broadcast_to(v, (n,)).copy() for k, v in proto_checks.items()}
    for block, bsize in family_blocks(layers, size):
        for name, value in block.check(bsize).items():
            if name in checks and name != "balance":
                checks[name] &= np.broadcast_to(value, (n,))
    keep = (params <= pmax) & (macs <= mmax)
    for name in FILTERS:
        if name in checks:
            keep &= checks[name]
    if "balance" in checks:
        keep &= checks["balance"] <= opts.balance_tol
    proto_cols["params"] = params
    rows: Chunk = {
        "key": network_keys(net.name, family, proto_cols, rule),
        "family": family,
        "in_channels": np.full(n, 3, dtype=np.int64),
        "out_channels": np.full(n, net.classes, dtype=np.int64),
        "kernel": np.full(n, kernel, dtype=np.int64),
        "stride": np.ones(n, dtype=np.int64),
        "input_size": np.full(n, size, dtype=np.int64),
        **knobs,
        "params": params,
        "macs": macs,
        "acts": acts,
        **checks,
        "width": width,
    }
    return {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in rows.items()}


def network_keys(network: str, family: str, proto_cols: dict[str, np.ndarray], rule: str = "M") -> np.ndarray:
    """``net-<network>-<prototype key>[-Lx2]`` for every row (the same text as ``NetConfig.key``)."""
    cols = dict(proto_cols)
    cols["family"] = family
    keys = np.char.add(f"{NETWORK_PREFIX}{network}-", block_keys(cols).astype(str))
    return (np.char.add(keys, "-Lx2") if rule == "L" else keys).astype(object)


def _column(value: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.int64), (n,)).copy()


def _widest(family: str, rows: Chunk) -> Chunk:
    """Per family structure (the knobs ``--widest`` holds fixed), the widest network."""
    fam = get_family(family)
    n = rows["params"].size
    cols = {**rows, "out_channels": rows["width"], "in_channels": rows["width"]}
    if fam.structure is None:
        skeys, ok = np.zeros((n, 0), dtype=np.int64), np.ones(n, dtype=bool)
    else:
        skeys, ok = fam.structure(cols)
    index = np.flatnonzero(ok)
    skeys, width = skeys[index], rows["width"][index]
    order = np.lexsort((width, *[skeys[:, i] for i in range(skeys.shape[1] - 1, -1, -1)]))
    last = np.ones(order.size, dtype=bool)
    if order.size > 1:
        last[:-1] = (skeys[order][1:] != skeys[order][:-1]).any(axis=1) if skeys.shape[1] else False
    pick = np.sort(index[order[last]])
    return {k: (v[pick] if isinstance(v, np.ndarray) else v) for k, v in rows.items()}
