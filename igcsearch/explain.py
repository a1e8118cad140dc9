"""Why a spec listed nothing: one line per family naming the filter that removed it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .registry import get_family
from .render import keys
from .space import Options, family_rows, geometry
from .spec import Spec


def explain_empty(spec: Spec) -> list[str]:
    """Reasons, per requested family, that no row survived (empty when rows exist)."""
    if spec.network:
        families = ", ".join(spec.families)
        return [f"no {families} setting of network {spec.network} meets the conditions and the budget"]
    if spec.widest:
        return [_widest_reason(spec, name) for name in spec.families]
    geo = geometry(spec.pairs(), spec)
    loose = dataclasses.replace(spec, params_max=None, macs_max=None, budget=None)
    free = geometry(spec.pairs(), loose)
    where = _where(spec)
    out = []
    for name in spec.families:
        family = get_family(name)
        if family.square_only and not (geo["in_channels"] == geo["out_channels"]).any():
            out.append(f"{name} needs C_in = C_out (square blocks); this spec has none")
            continue
        rows = family_rows(family, free, Options(math.inf, spec.expansion))
        n = rows["params"].size
        if n == 0:
            knobs = "; ".join(f"{k}: {v}" for k, v in family.knobs.items())
            out.append(f"no valid {name} setting exists for {where} ({knobs})")
            continue
        if "balance" in rows and not (rows["balance"] <= spec.balance_tol).any():
            best = int(np.argmin(rows["balance"]))
            out.append(
                f"no {name} setting for {where} meets balance <= {spec.balance_tol:g} "
                f"(closest: {_knobs(rows, best)} at {rows['balance'][best]:.3g}); try --balance-tol inf"
            )
            continue
        within = (
            rows
            if "balance" not in rows
            else {
                k: (v[rows["balance"] <= spec.balance_tol] if isinstance(v, np.ndarray) else v) for k, v in rows.items()
            }
        )
        best = int(np.argmin(within["params"]))
        budget = []
        if np.isfinite(geo["params_max"]).any():
            budget.append(f"params <= {float(geo['params_max'].max()):g}")
        if np.isfinite(geo["macs_max"]).any():
            budget.append(f"macs <= {float(geo['macs_max'].max()):g}")
        out.append(
            f"no {name} setting for {where} fits {' and '.join(budget) or 'the budget'} "
            f"(smallest: {_knobs(within, best)} with {int(within['params'][best])} params, {int(within['macs'][best])} macs)"
        )
    return out


def _widest_reason(spec: Spec, name: str) -> str:
    """Why --widest kept no row of one family: the balance filter (naming the closest) or the budget."""
    from .render import keys
    from .space import chunks

    if math.isfinite(spec.balance_tol) and "balance" in get_family(name).conditions:
        loose = dataclasses.replace(spec, family=(name,), balance_tol=math.inf)
        best = min(
            ((float(b), str(k)) for c in chunks(loose) for b, k in zip(c["balance"], keys(c), strict=True)),
            default=None,
        )
        if best is not None:
            knobs = best[1].split("-")[1]
            return (
                f"no {name} setting meets balance <= {spec.balance_tol:g} at any width within the budget "
                f"(closest: {knobs} at {best[0]:.3g}); try --balance-tol inf"
            )
    return f"no setting of {name} fits the budget at any width"


def _where(spec: Spec) -> str:
    pairs = spec.pairs()
    ch = (
        f"C={pairs[0][0]}"
        if len(pairs) == 1 and pairs[0][0] == pairs[0][1]
        else (f"C_in={pairs[0][0]}, C_out={pairs[0][1]}" if len(pairs) == 1 else f"{len(pairs)} channel pairs")
    )
    return f"{ch}, k={','.join(map(str, spec.kernel))}"


def _knobs(rows: dict, i: int) -> str:
    one = {k: (v[i : i + 1] if isinstance(v, np.ndarray) else v) for k, v in rows.items()}
    key = str(keys(one)[0])
    return key.split("-")[1] if key.count("-") >= 2 else key
