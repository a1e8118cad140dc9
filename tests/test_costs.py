"""Exact analytic counts (docs/counting.md): hand-computed per family, plus a property test.

Convention: params = conv weights + BN gamma/beta (no biases); every family ends with one BN
over C_out, igc3 keeps three BNs; macs at each conv's own output size (padding k//2), igc3's
expansion at the input size; acts = output elements of every conv.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import FAMILY_ORDER, configs, out_size, ref_cost
from hypothesis import given, settings
from hypothesis import strategies as st

import igcsearch
from igcsearch.cost import columns, totals
from igcsearch.registry import get_family


def records(**spec: Any) -> list[dict[str, Any]]:
    """Rows of a spec through the whole pipeline (enumerate -> DataFrame)."""
    spec.setdefault("balance_tol", "inf")
    return igcsearch.enumerate(**spec).to_dict("records")


def pick(rows: list[dict[str, Any]], family: str, **knobs: Any) -> dict[str, Any]:
    """The one row of a family with the given knobs (looked up by knob values, not by key)."""
    found = [
        r
        for r in rows
        if r["family"] == family and all((list(v) if isinstance(v, tuple) else v) == r[k] for k, v in knobs.items())
    ]
    assert len(found) == 1, (family, knobs, len(found))
    return found[0]


def assert_row(row: dict[str, Any], params: int, macs: int, acts: int, conv_params: int, conv_macs: int) -> None:
    assert row["params"] == params
    assert row["macs"] == macs
    assert row["acts"] == acts
    assert row["params_ratio"] == params / conv_params
    assert row["macs_ratio"] == macs / conv_macs


# ---------------------------------------------------------------- the regular conv


def test_conv_64_3x3_is_36992_params() -> None:
    row = pick(records(channels=64, family="conv"), "conv")
    assert row["params"] == 36_864 + 128 == 9 * 64 * 64 + 2 * 64 == 36_992
    assert row["macs"] == 9 * 64 * 64 * 32 * 32
    assert row["acts"] == 64 * 32 * 32
    assert row["params_ratio"] == 1.0
    assert row["macs_ratio"] == 1.0
    assert row["baseline"] is True
    assert row["key"] == "conv-c64k3"


@pytest.mark.parametrize(
    ("cin", "cout", "k", "s", "h", "h_out"),
    [
        (32, 64, 3, 2, 32, 16),  # (32 + 2 - 3) // 2 + 1
        (24, 40, 1, 2, 7, 4),  # (7 + 0 - 1) // 2 + 1
        (16, 16, 5, 2, 7, 4),  # (7 + 4 - 5) // 2 + 1
        (8, 8, 7, 3, 10, 4),  # (10 + 6 - 7) // 3 + 1
        (3, 5, 3, 1, 1, 1),
    ],
)
def test_conv_geometry(cin: int, cout: int, k: int, s: int, h: int, h_out: int) -> None:
    assert out_size(h, k, s) == h_out
    spec = {"in_channels": cin, "out_channels": cout} if cin != cout else {"channels": cin}
    row = pick(records(**spec, kernel=k, stride=s, input_size=h, family="conv"), "conv")
    assert row["params"] == k * k * cin * cout + 2 * cout
    assert row["macs"] == k * k * cin * cout * h_out * h_out
    assert row["acts"] == cout * h_out * h_out
    assert (row["kernel"], row["stride"], row["input_size"]) == (k, s, h)


# ---------------------------------------------------------------- square, 64 channels, 3x3, 32x32

C64 = 9 * 64 * 64 + 2 * 64  # regular conv params
C64_MACS = 9 * 64 * 64 * 32 * 32
HW = 32 * 32


@pytest.fixture(scope="module")
def rows64() -> list[dict[str, Any]]:
    return records(channels=64, expansion="1,6")


def test_group_c64(rows64: list[dict[str, Any]]) -> None:
    row = pick(rows64, "group", g=2)
    assert_row(row, 9 * 32 * 64 + 2 * 64, 9 * 32 * 64 * HW, 64 * HW, C64, C64_MACS)
    row = pick(rows64, "group", g=64)  # depthwise
    assert_row(row, 9 * 1 * 64 + 2 * 64, 9 * 64 * HW, 64 * HW, C64, C64_MACS)


def test_dwsep_c64(rows64: list[dict[str, Any]]) -> None:
    row = pick(rows64, "dwsep", r=1)
    assert_row(row, 9 * 64 + 64 * 64 + 2 * 64, (9 * 64 + 64 * 64) * HW, (64 + 64) * HW, C64, C64_MACS)
    row = pick(rows64, "dwsep", r=9)  # r = min(C_out, k²): the exact decomposition
    assert_row(
        row, 9 * 9 * 64 + 9 * 64 * 64 + 2 * 64, (9 * 9 * 64 + 9 * 64 * 64) * HW, (9 * 64 + 64) * HW, C64, C64_MACS
    )


def test_igc1_c64(rows64: list[dict[str, Any]]) -> None:
    row = pick(rows64, "igc1", L=32, M=2)
    assert_row(row, 9 * 64 * 2 + 64 * 32 + 2 * 64, HW * (9 * 64 * 2 + 64 * 32), 2 * 64 * HW, C64, C64_MACS)
    assert row["params"] == 3328
    row = pick(rows64, "igc1", L=8, M=8)
    assert_row(row, 9 * 8 * 64 + 64 * 8 + 2 * 64, HW * (9 * 64 * 8 + 64 * 8), 2 * 64 * HW, C64, C64_MACS)
    row = pick(rows64, "igc1", L=64, M=1)  # M = 1: Xception (depthwise + pointwise)
    assert_row(row, 9 * 1 * 64 + 64 * 64 + 2 * 64, HW * (9 * 64 + 64 * 64), 2 * 64 * HW, C64, C64_MACS)


def test_igc2_c64(rows64: list[dict[str, Any]]) -> None:
    row = pick(rows64, "igc2", K=(1, 8, 8))
    assert_row(row, 64 * (9 * 1 + 8 + 8) + 2 * 64, 64 * (9 + 8 + 8) * HW, 3 * 64 * HW, C64, C64_MACS)
    assert row["params"] == 1728
    row = pick(rows64, "igc2", K=(2, 4, 4, 2))
    assert_row(row, 64 * (9 * 2 + 4 + 4 + 2) + 2 * 64, 64 * (18 + 10) * HW, 4 * 64 * HW, C64, C64_MACS)


def test_igc3_c64(rows64: list[dict[str, Any]]) -> None:
    row = pick(rows64, "igc3", t=1, G1=2, G2=2)
    E = 64
    params = 64 * E // 2 + 9 * E + E * 64 // 2 + (2 * E + 2 * E + 2 * 64)
    assert params == 5056
    assert_row(row, params, HW * (64 * E // 2) + HW * (9 * E + E * 64 // 2), (E + E + 64) * HW, C64, C64_MACS)
    row = pick(rows64, "igc3", t=6, G1=1, G2=1)  # MobileNetV2's inverted residual
    E = 6 * 64
    params = 64 * E + 9 * E + E * 64 + (2 * E + 2 * E + 2 * 64)
    assert_row(row, params, HW * (64 * E + 9 * E + E * 64), (E + E + 64) * HW, C64, C64_MACS)


def test_lego_c64(rows64: list[dict[str, Any]]) -> None:
    row = pick(rows64, "lego", o=2, m=32)
    params = 9 * (64 // 2) * 32 + 2 * 64 + 2 * 64
    assert_row(row, params, HW * (9 * 64 * 32 + 2 * 64), (2 * 32 + 64) * HW, C64, C64_MACS)
    row = pick(rows64, "lego", o=1, m=1)
    assert_row(row, 9 * 64 * 1 + 1 * 64 + 2 * 64, HW * (9 * 64 + 64), (1 + 64) * HW, C64, C64_MACS)


# ---------------------------------------------------------------- non-square, stride 2: 32 -> 64, 3x3, 32x32 -> 16x16

N_CONV = 9 * 32 * 64 + 2 * 64
N_CONV_MACS = 9 * 32 * 64 * 16 * 16
HW2 = 16 * 16


@pytest.fixture(scope="module")
def rows_ns() -> list[dict[str, Any]]:
    return records(in_channels=32, out_channels=64, stride=2, expansion="6")


def test_nonsquare_stride2_conv(rows_ns: list[dict[str, Any]]) -> None:
    row = pick(rows_ns, "conv")
    assert_row(row, N_CONV, N_CONV_MACS, 64 * HW2, N_CONV, N_CONV_MACS)
    assert row["key"] == "conv-i32o64k3s2"


def test_nonsquare_stride2_group(rows_ns: list[dict[str, Any]]) -> None:
    row = pick(rows_ns, "group", g=4)
    assert_row(row, 9 * (32 // 4) * 64 + 2 * 64, 9 * 8 * 64 * HW2, 64 * HW2, N_CONV, N_CONV_MACS)
    assert row["key"] == "group-g4-i32o64k3s2"


def test_nonsquare_stride2_dwsep(rows_ns: list[dict[str, Any]]) -> None:
    row = pick(rows_ns, "dwsep", r=2)
    mid = 2 * 32
    assert_row(row, 9 * mid + mid * 64 + 2 * 64, (9 * mid + mid * 64) * HW2, (mid + 64) * HW2, N_CONV, N_CONV_MACS)


def test_nonsquare_stride2_igc1(rows_ns: list[dict[str, Any]]) -> None:
    row = pick(rows_ns, "igc1", L=8, M=8)
    params = 9 * (32 // 8) * 64 + 64 * 8 + 2 * 64
    assert_row(row, params, HW2 * (9 * 32 * 8 + 64 * 8), 2 * 64 * HW2, N_CONV, N_CONV_MACS)
    assert row["key"] == "igc1-L8M8-i32o64k3s2"


def test_nonsquare_has_no_igc2(rows_ns: list[dict[str, Any]]) -> None:
    assert [r for r in rows_ns if r["family"] == "igc2"] == []


def test_nonsquare_stride2_igc3(rows_ns: list[dict[str, Any]]) -> None:
    row = pick(rows_ns, "igc3", t=6, G1=2, G2=2)
    E = 6 * 32
    params = 32 * E // 2 + 9 * E + E * 64 // 2 + (2 * E + 2 * E + 2 * 64)
    assert params == 11_840
    macs = 32 * 32 * (32 * E // 2) + HW2 * (9 * E + E * 64 // 2)  # expansion at the input size
    acts = E * 32 * 32 + E * HW2 + 64 * HW2
    assert_row(row, params, macs, acts, N_CONV, N_CONV_MACS)
    assert row["key"] == "igc3-t6G2x2-i32o64k3s2"


def test_nonsquare_stride2_lego(rows_ns: list[dict[str, Any]]) -> None:
    row = pick(rows_ns, "lego", o=4, m=8)
    params = 9 * (32 // 4) * 8 + 4 * 64 + 2 * 64
    assert_row(row, params, HW2 * (9 * 32 * 8 + 4 * 64), (4 * 8 + 64) * HW2, N_CONV, N_CONV_MACS)
    assert row["key"] == "lego-o4m8-i32o64k3s2"


# ---------------------------------------------------------------- other kernels


def test_kernel1_and_kernel5() -> None:
    # k = 1, C = 8, 5x5 input: igc2 (2, 2, 2) is three 1x1 group convs of 2 channels per group
    rows = records(channels=8, kernel=1, input_size=5, family="conv,igc2,igc1")
    row = pick(rows, "igc2", K=(2, 2, 2))
    assert_row(row, 8 * (1 * 2 + 2 + 2) + 2 * 8, 8 * 6 * 25, 3 * 8 * 25, 8 * 8 + 16, 8 * 8 * 25)
    row = pick(rows, "igc1", L=4, M=2)
    assert_row(row, 1 * 2 * 8 + 8 * 4 + 2 * 8, 25 * (1 * 8 * 2 + 8 * 4), 2 * 8 * 25, 8 * 8 + 16, 8 * 8 * 25)
    # k = 5, C_in 16 -> C_out 24, 9x9 input, stride 2 -> 5x5 output
    rows = records(in_channels=16, out_channels=24, kernel=5, stride=2, input_size=9, family="conv,lego,igc1")
    hw = ((9 + 4 - 5) // 2 + 1) ** 2
    assert hw == 25
    conv_p, conv_m = 25 * 16 * 24 + 2 * 24, 25 * 16 * 24 * hw
    assert_row(pick(rows, "conv"), conv_p, conv_m, 24 * hw, conv_p, conv_m)
    row = pick(rows, "lego", o=2, m=4)
    assert_row(row, 25 * 8 * 4 + 2 * 24 + 2 * 24, hw * (25 * 16 * 4 + 2 * 24), (2 * 4 + 24) * hw, conv_p, conv_m)
    row = pick(rows, "igc1", L=4, M=6)
    assert_row(row, 25 * 4 * 24 + 24 * 4 + 2 * 24, hw * (25 * 16 * 6 + 24 * 4), 2 * 24 * hw, conv_p, conv_m)


# ---------------------------------------------------------------- layer structure


@pytest.mark.parametrize("family", FAMILY_ORDER)
def test_every_family_ends_with_one_bn_over_c_out(family: str) -> None:
    cfg = {
        "conv": {},
        "group": {"g": 4},
        "dwsep": {"r": 2},
        "igc1": {"L": 4, "M": 6},
        "igc2": {"K": (1, 4, 6)},
        "igc3": {"t": 2, "G1": 2, "G2": 4},
        "lego": {"o": 2, "m": 5},
    }[family]
    cin = 24
    cout = 24
    config = get_family(family).config(in_channels=cin, out_channels=cout, **cfg)
    layers = get_family(family).layers(columns(config, 8))
    norms = [layer for layer in layers if int(np.asarray(layer.macs).ravel()[0]) == 0]
    last = layers[-1]
    assert int(np.asarray(last.params).ravel()[0]) == 2 * cout
    assert int(np.asarray(last.macs).ravel()[0]) == 0
    assert int(np.asarray(last.acts).ravel()[0]) == 0
    if family == "igc3":  # BN after each of its three convs: 2E, 2E, 2 C_out
        E = 2 * cin
        assert [int(np.asarray(n.params).ravel()[0]) for n in norms] == [2 * E, 2 * E, 2 * cout]
    else:
        assert len(norms) == 1


# ---------------------------------------------------------------- property: analytic == independent formula


@pytest.mark.parametrize("family", FAMILY_ORDER)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_analytic_cost_matches_independent_formula(family: str, data: st.DataObject) -> None:
    cfg, h = data.draw(configs(family))
    params, macs, acts = totals(get_family(family).layers(columns(cfg, h)))
    got = tuple(int(np.asarray(v).ravel()[0]) for v in (params, macs, acts))
    expected = ref_cost(family, cfg.in_channels, cfg.out_channels, cfg.kernel, cfg.stride, h, **cfg.knobs())
    assert got == expected
