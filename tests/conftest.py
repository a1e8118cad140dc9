"""Independent references for the analytic tests: cost formulas written from docs/counting.md and docs/families.md,
brute-force enumerators written from the issue's conditions, and a CLI runner.

Nothing here calls igcsearch's cost or enumeration code; only the config classes are used to
turn a brute-force setting into its canonical key.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Small tensors: one torch thread is faster, and steady on a busy machine (torch restored after)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


FAMILY_ORDER = ("conv", "group", "dwsep", "igc1", "igc2", "igc3", "lego")
ALL_FAMILIES = ",".join(FAMILY_ORDER)
DEFAULT_EXPANSION = (1, 2, 3, 4, 5, 6)


def divisors(n: int) -> list[int]:
    """Every divisor of n, ascending (plain loop: this is the reference)."""
    return [d for d in range(1, n + 1) if n % d == 0]


def out_size(h: int, k: int, s: int) -> int:
    """Output side of a k×k conv with padding k//2 and stride s."""
    return (h + 2 * (k // 2) - k) // s + 1


def ref_cost(family: str, cin: int, cout: int, k: int = 3, s: int = 1, h: int = 32, **kn: Any) -> tuple[int, int, int]:
    """(params, macs, acts) of one block, docs/counting.md convention, written independently."""
    S = k * k
    hw = out_size(h, k, s) ** 2
    if family == "conv":
        w = S * cin * cout
        return w + 2 * cout, w * hw, cout * hw
    if family == "group":
        w = S * (cin // kn["g"]) * cout
        return w + 2 * cout, w * hw, cout * hw
    if family == "dwsep":
        r = kn["r"]
        depthwise = S * r * cin  # r·C_in outputs, each sees one input channel
        pointwise = r * cin * cout
        return depthwise + pointwise + 2 * cout, (depthwise + pointwise) * hw, (r * cin + cout) * hw
    if family == "igc1":
        L, M = kn["L"], kn["M"]
        weights = S * (cin // L) * cout + cout * L
        return weights + 2 * cout, hw * (S * cin * M + cout * L), 2 * cout * hw
    if family == "igc2":
        K = kn["K"]
        Q = cin * (S * K[0] + sum(K[1:]))
        return Q + 2 * cin, Q * hw, len(K) * cin * hw
    if family == "igc3":
        t, G1, G2 = kn["t"], kn["G1"], kn["G2"]
        E = t * cin
        params = cin * E // G1 + S * E + E * cout // G2 + (2 * E + 2 * E + 2 * cout)
        macs = h * h * cin * E // G1 + hw * (S * E + E * cout // G2)
        acts = E * h * h + E * hw + cout * hw
        return params, macs, acts
    if family == "lego":
        o, m = kn["o"], kn["m"]
        params = S * (cin // o) * m + o * cout + 2 * cout
        return params, hw * (S * cin * m + o * cout), (o * m + cout) * hw
    raise ValueError(family)


def chains(m: int, min_len: int) -> Iterator[tuple[int, ...]]:
    """Every ordered factorisation of m into >= min_len factors, each >= 2."""
    if m == 1:
        if min_len <= 0:
            yield ()
        return
    for d in range(2, m + 1):
        if m % d == 0:
            for rest in chains(m // d, min_len - 1):
                yield (d, *rest)


def igc1_balance(S: int, L: int, M: int) -> Fraction:
    """max/min of (S·M, L), exact."""
    return Fraction(max(S * M, L), min(S * M, L))


def igc2_balance(S: int, K: tuple[int, ...]) -> Fraction:
    """max/min of (S·K_1, K_2, …, K_n), exact."""
    f = [S * K[0], *K[1:]]
    return Fraction(max(f), min(f))


def lego_ok(S: int, c: int, n: int, o: int, m: int) -> bool:
    """Acceleration m < n(1 − o/(k²c)) and compression k²(c/o)m + o·n <= k²cn, exact."""
    acceleration = Fraction(m) < n * (1 - Fraction(o, S * c))
    compression = S * (c // o) * m + o * n <= S * c * n
    return acceleration and compression


def within(value: Fraction, tol: float) -> bool:
    return math.isinf(tol) or value <= Fraction(tol)


def brute_settings(
    family: str, cin: int, cout: int, k: int, *, balance_tol: float, expansion: tuple[int, ...]
) -> Iterator[dict[str, Any]]:
    """Every knob setting of a family meeting its filtering conditions (no budget)."""
    S = k * k
    if family == "conv":
        yield {}
    elif family == "group":
        for g in range(2, min(cin, cout) + 1):
            if cin % g == 0 and cout % g == 0:
                yield {"g": g}
    elif family == "dwsep":
        for r in range(1, min(cout, S) + 1):
            yield {"r": r}
    elif family == "igc1":
        for L in divisors(cout)[1:]:  # L >= 2, M = C_out / L
            M = cout // L
            if cin % L == 0 and within(igc1_balance(S, L, M), balance_tol):
                yield {"L": L, "M": M}
    elif family == "igc2":
        if cin != cout:
            return
        for K1 in range(1, cout + 1):
            if cout % K1:
                continue
            for tail in chains(cout // K1, 2):
                K = (K1, *tail)
                if within(igc2_balance(S, K), balance_tol):
                    yield {"K": K}
    elif family == "igc3":
        for t in expansion:
            E = t * cin
            for G1 in divisors(cin):
                for G2 in divisors(cout):
                    if E % G2 == 0 and E % (G1 * G2) == 0:
                        yield {"t": t, "G1": G1, "G2": G2}
    elif family == "lego":
        c, n = cin, cout
        for o in divisors(c):
            for m in range(1, n + 1):
                if lego_ok(S, c, n, o, m):
                    yield {"o": o, "m": m}
    else:
        raise ValueError(family)


def make_config(family: str, cin: int, cout: int, k: int, s: int, **knobs: Any) -> Any:
    """The package's config object for a brute-force setting (used for its key only)."""
    from igcsearch.registry import get_family

    return get_family(family).config(in_channels=cin, out_channels=cout, kernel=k, stride=s, **knobs)


def brute_keys(
    pairs: list[tuple[int, int]],
    kernels: tuple[int, ...] = (3,),
    *,
    stride: int = 1,
    input_size: int = 32,
    families: tuple[str, ...] = FAMILY_ORDER,
    balance_tol: float = 2.0,
    expansion: tuple[int, ...] = DEFAULT_EXPANSION,
    params_max: float = math.inf,
    macs_max: float = math.inf,
    budget_conv: bool = False,
) -> list[str]:
    """Keys of every valid setting within budget, plus the regular-conv baseline whatever the
    budget, in the documented order (family, then (C_in, C_out, k), then knobs ascending)."""
    out = []
    for family in FAMILY_ORDER:
        if family not in families:
            continue
        for cin, cout, k in sorted((i, o, k) for i, o in pairs for k in kernels):
            pmax = params_max
            if budget_conv:
                pmax = min(pmax, ref_cost("conv", cin, cout, k, stride, input_size)[0])
            for kn in brute_settings(family, cin, cout, k, balance_tol=balance_tol, expansion=expansion):
                params, macs, _ = ref_cost(family, cin, cout, k, stride, input_size, **kn)
                if family == "conv" or (params <= pmax and macs <= macs_max):  # the baseline ignores budgets
                    out.append(make_config(family, cin, cout, k, stride, **kn).key)
    return out


@pytest.fixture
def cli() -> Any:
    """Invoke the igcsearch app in-process; returns typer's Result (stdout and stderr apart)."""
    from igcsearch.cli import app

    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


# ---------------------------------------------------------------- hypothesis strategies


def _strategies() -> Any:
    from hypothesis import assume
    from hypothesis import strategies as st

    kernels = st.sampled_from([1, 3, 5, 7])
    strides = st.integers(1, 3)
    sizes = st.integers(1, 64)

    @st.composite
    def configs(draw: Any, family: str) -> tuple[Any, int]:
        """(a valid config of the family, an input size)."""
        k, s, h = draw(kernels), draw(strides), draw(sizes)
        if family == "conv":
            cin, cout, kn = draw(st.integers(1, 256)), draw(st.integers(1, 256)), {}
        elif family == "group":
            g = draw(st.integers(2, 16))  # g = 1 is the regular conv
            cin, cout, kn = g * draw(st.integers(1, 16)), g * draw(st.integers(1, 16)), {"g": g}
        elif family == "dwsep":
            cin, cout, kn = draw(st.integers(1, 128)), draw(st.integers(1, 128)), {"r": draw(st.integers(1, 9))}
        elif family == "igc1":
            L, M = draw(st.integers(2, 32)), draw(st.integers(1, 16))  # L = 1 is not IGC-V1
            cin, cout, kn = L * draw(st.integers(1, 8)), L * M, {"L": L, "M": M}
        elif family == "igc2":
            K = (draw(st.integers(1, 6)), *draw(st.lists(st.integers(2, 5), min_size=2, max_size=4)))
            cin = cout = math.prod(K)
            kn = {"K": K}
        elif family == "igc3":
            G1, G2, t = draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 6))
            cin = G1 * draw(st.integers(1, 8))
            cout = G2 * draw(st.integers(1, 8))
            assume((t * cin) % (G1 * G2) == 0)  # loose complementary condition
            kn = {"t": t, "G1": G1, "G2": G2}
        elif family == "lego":
            o = draw(st.integers(1, 8))
            cin, cout = o * draw(st.integers(1, 16)), draw(st.integers(1, 128))
            kn = {"o": o, "m": draw(st.integers(1, 64))}
        else:
            raise ValueError(family)
        return make_config(family, cin, cout, k, s, **kn), h

    return configs


configs = _strategies()


# ---------------------------------------------------------------- connectivity of a built block


def path_counts(module: Any, cin: int) -> Any:
    """counts[i, o]: paths from input channel i to output channel o through the block's convs.

    All weights 1, BN/ReLU/ReLU6 identities, a residual (if any) dropped, one-hot inputs of
    spatial size 1×1 (a k×k conv then sees only its kernel centre); float64, exact.
    """
    import copy

    import torch
    from torch import nn

    m = copy.deepcopy(module).double().eval()
    for parent in list(m.modules()):
        for name, child in parent.named_children():
            if isinstance(child, (nn.BatchNorm2d, nn.ReLU, nn.ReLU6)):
                setattr(parent, name, nn.Identity())
    if getattr(m, "residual", False):
        m.residual = False
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(1.0)
        out = m(torch.eye(cin, dtype=torch.float64).reshape(cin, cin, 1, 1))
    return out.reshape(cin, -1)
