"""Enumeration completeness against brute force, default order, uniqueness, --widest."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from conftest import (
    DEFAULT_EXPANSION,
    FAMILY_ORDER,
    brute_keys,
    brute_settings,
    divisors,
    igc1_balance,
    igc2_balance,
    lego_ok,
    make_config,
    ref_cost,
)

import igcsearch
from igcsearch.families.lego import WIDEST_RATIOS
from igcsearch.registry import get_family

INF = math.inf

# (spec options, brute-force geometry): primes, 1, non-square pairs, k = 1 and 5, stride 2
GEOMETRIES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"channels": 1}, {"pairs": [(1, 1)]}),
    ({"channels": 7}, {"pairs": [(7, 7)]}),
    ({"channels": 13, "kernel": 5}, {"pairs": [(13, 13)], "kernels": (5,)}),
    ({"channels": 12}, {"pairs": [(12, 12)]}),
    ({"channels": 16, "kernel": 1}, {"pairs": [(16, 16)], "kernels": (1,)}),
    ({"channels": 24, "stride": 2}, {"pairs": [(24, 24)], "stride": 2}),
    (
        {"channels": 36, "kernel": 5, "stride": 2, "input_size": 7},
        {"pairs": [(36, 36)], "kernels": (5,), "stride": 2, "input_size": 7},
    ),
    ({"in_channels": 6, "out_channels": 4}, {"pairs": [(6, 4)]}),
    ({"in_channels": 12, "out_channels": 18, "stride": 2}, {"pairs": [(12, 18)], "stride": 2}),
    ({"in_channels": 8, "out_channels": 20, "kernel": 1}, {"pairs": [(8, 20)], "kernels": (1,)}),
    (
        {"in_channels": "4,9", "out_channels": "6,8", "kernel": "1,3"},
        {"pairs": [(4, 6), (4, 8), (9, 6), (9, 8)], "kernels": (1, 3)},
    ),
    ({"channels": "8,9,10", "kernel": "3,1"}, {"pairs": [(8, 8), (9, 9), (10, 10)], "kernels": (1, 3)}),
    ({"in_channels": "8,16", "out_channels": 16, "stride": 2}, {"pairs": [(8, 16), (16, 16)], "stride": 2}),
]
BUDGETS: list[dict[str, Any]] = [
    {},
    {"params_max": 400},
    {"macs_max": 50_000},
    {"budget": "conv"},
    {"budget": "conv", "macs_max": 30_000, "params_max": "1.5K"},
]


def _brute_budget(b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "params_max" in b:
        out["params_max"] = {"1.5K": 1500}.get(b["params_max"], b["params_max"])
    if "macs_max" in b:
        out["macs_max"] = b["macs_max"]
    if b.get("budget") == "conv":
        out["budget_conv"] = True
    return out


def listed(**spec: Any) -> list[str]:
    return igcsearch.enumerate(**spec)["key"].tolist()


@pytest.mark.parametrize("budget", BUDGETS, ids=lambda b: ",".join(f"{k}={v}" for k, v in b.items()) or "none")
@pytest.mark.parametrize("tol", ["inf", "2.0"])
@pytest.mark.parametrize(
    ("spec", "geo"), GEOMETRIES, ids=[",".join(f"{k}={v}" for k, v in spec.items()) for spec, _ in GEOMETRIES]
)
def test_enumeration_matches_brute_force(
    spec: dict[str, Any], geo: dict[str, Any], tol: str, budget: dict[str, Any]
) -> None:
    got = listed(**spec, **budget, balance_tol=tol)
    expected = brute_keys(**geo, balance_tol=float(tol), **_brute_budget(budget))
    assert sorted(set(got)) == sorted(set(expected))
    assert len(got) == len(set(got)), "rows are unique by key"
    assert got == expected, "default order: family, (C_in, C_out, k), knobs ascending"


@pytest.mark.parametrize("expansion", ["1:3", "2,5", "4"])
def test_igc3_expansion_matches_brute_force(expansion: str) -> None:
    ts = {"1:3": (1, 2, 3), "2,5": (2, 5), "4": (4,)}[expansion]
    for spec, geo in GEOMETRIES[2::3]:
        got = listed(**spec, family="igc3", expansion=expansion)
        assert got == brute_keys(**geo, families=("igc3",), expansion=ts)


@pytest.mark.parametrize("family", FAMILY_ORDER)
def test_single_family_matches_brute_force(family: str) -> None:
    got = listed(channels="30,32", family=family, balance_tol="inf")
    assert got == brute_keys([(30, 30), (32, 32)], families=(family,), balance_tol=INF)


@pytest.mark.parametrize(("o", "m", "what"), [(1, 5, "params"), (4, 17, "params"), (2, 30, "macs"), (8, 3, "macs")])
def test_lego_budget_boundary_is_inclusive(o: int, m: int, what: str) -> None:
    """A budget equal to one Lego row's cost keeps that row and exactly the brute-force set."""
    params, macs, _ = ref_cost("lego", 64, 96, 3, 1, 16, o=o, m=m)
    budget = {"params_max": params} if what == "params" else {"macs_max": macs}
    got = listed(in_channels=64, out_channels=96, input_size=16, family="lego", **budget)
    assert make_config("lego", 64, 96, 3, 1, o=o, m=m).key in got
    assert got == brute_keys([(64, 96)], input_size=16, families=("lego",), **budget)


def test_balance_tolerance_filters_exactly() -> None:
    # balance = max/min of (S·M, L) for igc1, of (S·K_1, K_2..K_n) for igc2 (n >= 3)
    S = 9
    for tol in ("1", "1.5", "2", "3", "9"):
        got = set(listed(channels="36,48,64,72", family="igc1,igc2", balance_tol=tol))
        expected = set()
        for C in (36, 48, 64, 72):
            for L in divisors(C)[1:]:
                if igc1_balance(S, L, C // L) <= Fraction(tol):
                    expected.add(f"igc1-L{L}M{C // L}-c{C}k3")
        expected |= set(brute_keys([(C, C) for C in (36, 48, 64, 72)], families=("igc2",), balance_tol=float(tol)))
        assert got == expected, tol


def test_default_balance_tolerance_is_2() -> None:
    assert listed(channels=64, family="igc1,igc2") == listed(channels=64, family="igc1,igc2", balance_tol=2.0)
    assert listed(channels=64, family="igc1") == ["igc1-L32M2-c64k3"]  # 9·2/32 = 1.78 <= 2; L16M4: 36/16 = 2.25


def test_condition_columns() -> None:
    df = igcsearch.enumerate(channels="12,16,18", balance_tol="inf", expansion="1,2")
    df2 = igcsearch.enumerate(in_channels=12, out_channels=18, balance_tol="inf", expansion="1,2")
    applies = {
        "conv": set(),
        "group": {"divisible"},
        "dwsep": set(),
        "igc1": {"complementary", "balance", "wider", "divisible"},
        "igc2": {"complementary", "balance"},
        "igc3": {"complementary"},
        "lego": {"acceleration", "compression", "divisible"},
    }
    never = {
        "conv": {"complementary", "balance", "wider", "acceleration", "compression", "divisible"},
        "group": {"complementary", "balance", "wider", "acceleration", "compression"},
        "dwsep": {"complementary", "balance", "wider", "acceleration", "compression", "divisible"},
        "igc1": {"acceleration", "compression"},
        "igc2": {"wider", "acceleration", "compression"},
        "igc3": {"balance", "wider", "acceleration", "compression"},
        "lego": {"complementary", "balance", "wider"},
    }
    for r in [*df.to_dict("records"), *df2.to_dict("records")]:
        fam = r["family"]
        for name in applies[fam]:
            assert not _null(r[name]), (r["key"], name)
        for name in never[fam]:
            assert _null(r[name]), (r["key"], name)
        for name in ("complementary", "divisible", "acceleration", "compression"):
            assert _null(r[name]) or r[name] is True, (r["key"], name)  # listed rows pass the filters
        S = r["kernel"] ** 2
        if fam == "igc1":
            L, M = r["L"], r["M"]
            assert r["balance"] == max(S * M, L) / min(S * M, L)
            assert r["wider"] == (Fraction(L, L - 1) < M * S)
        if fam == "igc2":
            assert r["balance"] == float(igc2_balance(S, tuple(r["K"])))
        assert r["baseline"] == (fam == "conv")


def _null(v: Any) -> bool:
    return v is None or v is np.nan or (isinstance(v, float) and math.isnan(v)) or str(v) == "<NA>"


def test_wider_matches_methods_rule() -> None:
    # L/(L-1) < M·S always holds for S = 9, L >= 2; with S = 1 it needs M >= 2 (or M = 1 never)
    df = igcsearch.enumerate(channels="12,16", kernel="1,3", family="igc1", balance_tol="inf")
    for r in df.to_dict("records"):
        S = r["kernel"] ** 2
        assert r["wider"] == (r["L"] * 1 < r["M"] * S * (r["L"] - 1))
        if S == 9:
            assert r["wider"] is True
    assert df[(df.kernel == 1) & (df.M == 1)]["wider"].tolist() == [False, False]


def test_order_is_deterministic_and_rows_unique() -> None:
    spec = {"channels": "6:48:6", "kernel": "1,3,5", "balance_tol": "inf", "expansion": "1,2"}
    a = igcsearch.enumerate(**spec)
    b = igcsearch.enumerate(**spec)
    assert a["key"].tolist() == b["key"].tolist()
    assert a.equals(b)
    assert a["key"].is_unique
    fam = {f: i for i, f in enumerate(FAMILY_ORDER)}
    sort_key = [(fam[f], i, o, k) for f, i, o, k in zip(a.family, a.in_channels, a.out_channels, a.kernel, strict=True)]
    assert sort_key == sorted(sort_key)


# ---------------------------------------------------------------- 16:4096:16, five families


def _count_wide_range() -> dict[str, int]:
    """Brute force with divisor lists: rows per family for C = 16, 32, …, 4096, balance inf."""
    top = 4096
    divs: list[list[int]] = [[] for _ in range(top + 1)]
    for d in range(1, top + 1):
        for m in range(d, top + 1, d):
            divs[m].append(d)
    # H[m]: ordered factorisations of m into factors >= 2 (H[1] = 1, the empty product)
    H = [0] * (top + 1)
    H[1] = 1
    for m in range(2, top + 1):
        H[m] = sum(H[m // d] for d in divs[m] if d >= 2)
    counts = dict.fromkeys(("igc1", "igc2", "igc3", "dwsep", "group"), 0)
    for C in range(16, top + 1, 16):
        dC = divs[C]
        counts["group"] += len(dC) - 1  # g > 1
        counts["dwsep"] += min(C, 9)  # r = 1 .. min(C, k²)
        counts["igc1"] += len(dC) - 1  # L >= 2, M = C / L
        # igc2: K_1 | C, then a tail of >= 2 factors >= 2 with product C / K_1: every ordered
        # factorisation minus the one-factor tail (m > 1) or the empty tail (m = 1)
        counts["igc2"] += sum(H[C // k1] - 1 for k1 in dC)
        for t in (1, 2, 3, 4, 5, 6):
            E = t * C
            counts["igc3"] += sum(1 for g1 in dC for g2 in dC if E % (g1 * g2) == 0)
    return counts


def test_wide_range_count() -> None:
    expected = _count_wide_range()
    assert sum(expected.values()) == 928_837
    df = igcsearch.enumerate(channels="16:4096:16", family="igc1,igc2,igc3,dwsep,group", balance_tol="inf")
    assert df["family"].value_counts().to_dict() == expected
    assert len(df) == 928_837
    assert df["out_channels"].nunique() == 256  # 16:4096:16 includes the stop


# ---------------------------------------------------------------- --widest


@pytest.fixture(scope="module")
def widest() -> list[dict[str, Any]]:
    return igcsearch.enumerate(channels=64, budget="conv", widest=True, balance_tol="inf").to_dict("records")


BUDGET = 9 * 64 * 64 + 2 * 64  # the regular 64-channel 3x3 conv-BN-ReLU being replaced


def _widest_by(fits: Any, step: int, limit: int = 5000) -> int:
    """Largest multiple of `step` up to `limit` with fits(width), 0 if none."""
    return max((width for width in range(step, limit + 1, step) if fits(width)), default=0)


def test_widest_conv_keeps_width_64(widest: list[dict[str, Any]]) -> None:
    convs = [r for r in widest if r["family"] == "conv"]
    assert [r["key"] for r in convs] == ["conv-c64k3"]
    assert convs[0]["params"] == BUDGET == 36_992


def test_widest_igc1_per_L_brute_force(widest: list[dict[str, Any]]) -> None:
    rows = {r["L"]: r for r in widest if r["family"] == "igc1"}
    expected = {}
    for L in range(2, 400):
        best = 0
        for M in range(1, 400):
            if ref_cost("igc1", L * M, L * M, 3, 1, 32, L=L, M=M)[0] <= BUDGET:
                best = M
        if best:
            expected[L] = best
    assert sorted(rows) == sorted(expected)
    for L, M in expected.items():
        r = rows[L]
        assert (r["M"], r["out_channels"], r["in_channels"]) == (M, L * M, L * M), L
        assert r["params"] == 9 * M * (L * M) + (L * M) * L + 2 * L * M <= BUDGET
        assert 9 * (M + 1) * (L * (M + 1)) + L * (M + 1) * L + 2 * L * (M + 1) > BUDGET


def test_widest_igc1_matches_gmax(widest: list[dict[str, Any]]) -> None:
    S, T = 9, 36_864  # T: weights of one 64-channel 3x3 conv
    g_max = (T / (2 * math.sqrt(S))) ** (2 / 3)
    assert g_max == pytest.approx(335.5, abs=0.05)
    width = max(r["out_channels"] for r in widest if r["family"] == "igc1")
    assert width <= g_max
    assert width >= 0.97 * g_max
    best = next(r for r in widest if r["family"] == "igc1" and r["out_channels"] == width)
    assert best["L"] / (S * best["M"]) == pytest.approx(1, abs=0.1)  # near balance S·M = L


def test_widest_group_and_dwsep_brute_force(widest: list[dict[str, Any]]) -> None:
    groups = {r["g"]: r["out_channels"] for r in widest if r["family"] == "group"}
    expected = {}
    for g in range(2, 4000):  # g = C (depthwise) fits up to C = 36992 / 11
        C = _widest_by(lambda C, g=g: 9 * (C // g) * C + 2 * C <= BUDGET, g, 4000)
        if C:
            expected[g] = C
    assert groups == expected
    ranks = {r["r"]: r["out_channels"] for r in widest if r["family"] == "dwsep"}
    expected = {}
    for rank in range(1, 10):
        # r <= min(C, k²) = 9 for every width >= 9
        C = _widest_by(lambda C, rank=rank: rank <= min(C, 9) and 9 * rank * C + rank * C * C + 2 * C <= BUDGET, 1)
        if C:
            expected[rank] = C
    assert ranks == expected


def test_widest_rows_fit_budget(widest: list[dict[str, Any]]) -> None:
    assert widest
    for r in widest:
        assert r["params"] <= BUDGET, r["key"]
        assert r["in_channels"] == r["out_channels"]
    sample = [r for r in widest if r["family"] != "igc2"][::97]
    for r in sample:
        knobs = {k: r[k] for k in get_family(r["family"]).knobs}
        assert ref_cost(r["family"], r["in_channels"], r["out_channels"], 3, 1, 32, **knobs)[0] == r["params"]


def _structure(family: str, C: int, kn: dict[str, Any]) -> tuple[Any, ...]:
    """What --widest holds fixed while the width grows (per structure: docs/families.md, each family's enumeration)."""
    return {
        "conv": (),
        "group": (kn.get("g"),),
        "dwsep": (kn.get("r"),),
        "igc1": (kn.get("L"),),
        "igc2": tuple(kn.get("K", ())[1:]),  # the tail K_2..K_n; K_1 grows
        "igc3": (kn.get("t"), kn.get("G1"), kn.get("G2")),
        "lego": (kn.get("o"), C // kn["m"] if "m" in kn else None),  # (o, n/m), m | n
    }[family]


def widest_brute(
    family: str, pmax: float, mmax: float, *, k: int = 3, s: int = 1, h: int = 32, tol: float = INF, limit: int = 420
) -> list[str]:
    """Per structure, the key of the widest square block within budget (plain loops over widths)."""
    best: dict[tuple[Any, ...], tuple[int, str]] = {}
    for C in range(1, limit + 1):
        if family == "lego":  # structures are integer ratios n/m (m | n) up to WIDEST_RATIOS
            ms = [m for m in divisors(C) if C // m <= WIDEST_RATIOS]
            settings = [{"o": o, "m": m} for o in divisors(C) for m in ms if lego_ok(k * k, C, C, o, m)]
        else:
            settings = list(brute_settings(family, C, C, k, balance_tol=tol, expansion=DEFAULT_EXPANSION))
        for kn in settings:
            params, macs, _ = ref_cost(family, C, C, k, s, h, **kn)
            if params <= pmax and macs <= mmax:
                best[_structure(family, C, kn)] = (C, make_config(family, C, C, k, s, **kn).key)
    assert max((width for width, _ in best.values()), default=0) < limit, "limit too small for this budget"
    return sorted(key for _, key in best.values())


@pytest.mark.parametrize("family", FAMILY_ORDER)
def test_widest_every_family_small_budget(family: str) -> None:
    got = igcsearch.enumerate(widest=True, params_max=3000, family=family, balance_tol="inf")
    assert sorted(got["key"]) == widest_brute(family, 3000, INF)
    assert (got["in_channels"] == got["out_channels"]).all()


@pytest.mark.parametrize("family", ["conv", "group", "igc1", "igc2", "igc3"])
def test_widest_macs_budget_stride2_kernel5(family: str) -> None:
    spec = {"widest": True, "macs_max": "100K", "kernel": 5, "stride": 2, "input_size": 8, "family": family}
    got = igcsearch.enumerate(**spec, balance_tol="2")
    assert sorted(got["key"]) == widest_brute(family, INF, 100_000, k=5, s=2, h=8, tol=2.0)


def test_widest_budget_conv_kernel1() -> None:
    # --budget conv at k = 1: the regular 1x1 conv of 16 channels, 16·16 + 2·16 params
    got = igcsearch.enumerate(channels=16, kernel=1, budget="conv", widest=True, family="conv,igc1,dwsep")
    expected = ["conv-c16k1"]
    expected += widest_brute("igc1", 16 * 16 + 2 * 16, INF, k=1, tol=2.0)
    expected += widest_brute("dwsep", 16 * 16 + 2 * 16, INF, k=1)
    assert sorted(got["key"]) == sorted(expected)


@pytest.mark.parametrize("tol", [1.0, 2.0, 4.0, float("inf")])
def test_igc2_chains_come_in_geo_then_k_order(tol: float) -> None:
    """The depth-first ranks put igc2's chains in the order a (geo, K) lexsort gives, chunked or not."""
    from types import SimpleNamespace

    from igcsearch.families import igc2

    C = np.array([16, 48, 60, 64, 96, 128, 360, 720])
    geo = {"in_channels": C, "out_channels": C, "kernel": np.array([3, 1, 5, 3, 3, 1, 3, 3])}
    opts = SimpleNamespace(balance_tol=tol)
    whole = igc2.enumerate_(geo, opts)
    g, K = whole["geo"], whole["K"]
    order = np.lexsort((*tuple(K[:, i] for i in range(K.shape[1] - 1, -1, -1)), g))
    assert (order == np.arange(g.size)).all()
    assert (np.where(K > 0, K, 1).prod(axis=1) == C[g]).all() and ((K > 0).sum(axis=1) >= 3).all()
    pieces = list(igc2.enumerate_chunks(geo, opts, 50))
    width = K.shape[1]
    assert (np.concatenate([p["geo"] for p in pieces]) == g).all() if pieces else g.size == 0
    if pieces:
        padded = [np.pad(p["K"], ((0, 0), (0, width - p["K"].shape[1]))) for p in pieces]
        assert (np.concatenate(padded) == K).all()
