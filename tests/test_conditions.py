"""Complementary conditions checked by counting paths through the real block structure.

Each group conv is its block-diagonal 0/1 connection mask (rows: outputs, columns: inputs),
each permutation its permutation matrix, in the order of docs/families.md#igc1 to #igc3. The integer
product counts the paths from every input channel to every output channel. Written from the
paper's structure, independently of igcsearch's condition code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import igcsearch
from igcsearch.errors import ConfigError
from igcsearch.families.igc2 import Igc2
from igcsearch.families.igc3 import Igc3


def group_mask(cout: int, cin: int, groups: int) -> np.ndarray:
    """0/1 connections of a conv with `groups` groups: output o sees input i iff same group."""
    assert cout % groups == 0 and cin % groups == 0
    og = np.arange(cout) // (cout // groups)
    ig = np.arange(cin) // (cin // groups)
    return (og[:, None] == ig[None, :]).astype(np.int64)


def view_transpose(channels: int, rows: int) -> np.ndarray:
    """Permutation matrix of x.view(rows, channels // rows).transpose(0, 1).reshape(channels)."""
    cols = channels // rows
    source = np.arange(channels).reshape(rows, cols).T.reshape(-1)  # new position p reads source[p]
    P = np.zeros((channels, channels), dtype=np.int64)
    P[np.arange(channels), source] = 1
    return P


def channel_shuffle(channels: int, groups: int) -> np.ndarray:
    """ShuffleNet's channel_shuffle(groups): view (groups, C/groups), transpose, flatten."""
    return view_transpose(channels, groups)


def igc1_paths(cin: int, L: int, M: int) -> np.ndarray:
    """Primary L groups, view (L, M) transpose, secondary M groups, inverse permutation."""
    C = L * M
    primary = group_mask(C, cin, L)
    P = view_transpose(C, L)  # (L, M) -> (M, L)
    secondary = group_mask(C, C, M)
    return P.T @ secondary @ P @ primary


def igc2_paths(C: int, K: tuple[int, ...]) -> np.ndarray:
    """W_i with K_i channels per group (C/K_i groups), each followed by channel_shuffle(C/K_i)."""
    y = np.eye(C, dtype=np.int64)
    for k in K:
        y = channel_shuffle(C, C // k) @ group_mask(C, C, C // k) @ y
    return y


def igc3_paths(cin: int, cout: int, t: int, G1: int, G2: int) -> np.ndarray:
    """1x1 G1 groups C_in -> E, channel_shuffle(G1), depthwise (identity), 1x1 G2 groups E -> C_out."""
    E = t * cin
    expand = group_mask(E, cin, G1)
    shuffle = channel_shuffle(E, G1)
    depthwise = np.eye(E, dtype=np.int64)
    project = group_mask(cout, E, G2)
    return project @ depthwise @ shuffle @ expand


def test_permutation_helpers_are_permutations() -> None:
    P = view_transpose(6, 2)  # (2, 3) -> (3, 2): positions read 0, 3, 1, 4, 2, 5
    assert (P @ np.arange(6)).tolist() == [0, 3, 1, 4, 2, 5]
    assert (P.sum(axis=0) == 1).all() and (P.sum(axis=1) == 1).all()
    assert (group_mask(4, 6, 2) == np.array([[1, 1, 1, 0, 0, 0]] * 2 + [[0, 0, 0, 1, 1, 1]] * 2)).all()


# ---------------------------------------------------------------- every enumerated config


def configs(**spec: Any) -> list[dict[str, Any]]:
    return igcsearch.enumerate(**spec).to_dict("records")


def test_igc1_every_enumerated_config_has_one_path_per_pair() -> None:
    rows = configs(channels="4:36", family="igc1", balance_tol="inf")
    rows += configs(in_channels="4,6,9,12", out_channels="6,8,12,18", family="igc1", balance_tol="inf")
    # count independently: every L >= 2 dividing C_in and C_out
    squares = sum(sum(1 for L in range(2, c + 1) if c % L == 0) for c in range(4, 37))
    pairs = sum(
        sum(1 for L in range(2, o + 1) if i % L == 0 and o % L == 0) for i in (4, 6, 9, 12) for o in (6, 8, 12, 18)
    )
    assert len(rows) == squares + pairs
    for r in rows:
        paths = igc1_paths(r["in_channels"], r["L"], r["M"])
        assert paths.shape == (r["out_channels"], r["in_channels"])
        assert (paths == 1).all(), r["key"]
        assert r["complementary"] is True


def test_igc2_every_enumerated_config_has_one_path_per_pair() -> None:
    rows = configs(channels="8,12,16,24,27,32,36", family="igc2", balance_tol="inf")
    assert len(rows) > 100
    for r in rows:
        K = tuple(r["K"])
        assert math.prod(K) == r["out_channels"]
        paths = igc2_paths(r["out_channels"], K)
        assert (paths == 1).all(), r["key"]
        assert r["complementary"] is True


def test_igc3_every_enumerated_config_has_e_over_g1g2_paths() -> None:
    rows = configs(channels="4,6,8,12", family="igc3", expansion="1:3")
    rows += configs(in_channels="4,6", out_channels="8,9", family="igc3", expansion="1:3")
    assert len(rows) > 50
    for r in rows:
        E = r["t"] * r["in_channels"]
        paths = igc3_paths(r["in_channels"], r["out_channels"], r["t"], r["G1"], r["G2"])
        assert paths.shape == (r["out_channels"], r["in_channels"])
        assert (paths == E // (r["G1"] * r["G2"])).all(), r["key"]
        assert r["complementary"] is True


# ---------------------------------------------------------------- negatives


@pytest.mark.parametrize(("C", "K"), [(16, (1, 2, 4)), (16, (2, 2, 2))])
def test_igc2_product_below_c_leaves_pairs_unconnected(C: int, K: tuple[int, ...]) -> None:
    assert math.prod(K) < C
    paths = igc2_paths(C, K)
    assert (paths == 0).any()
    assert paths.sum() == C * math.prod(K)  # each output reaches prod(K) inputs
    with pytest.raises(ConfigError, match="K"):
        Igc2(in_channels=C, out_channels=C, K=K)


@pytest.mark.parametrize(("C", "K"), [(16, (2, 4, 4)), (8, (2, 4, 2)), (12, (3, 2, 6))])
def test_igc2_product_above_c_gives_several_paths(C: int, K: tuple[int, ...]) -> None:
    assert math.prod(K) > C
    paths = igc2_paths(C, K)
    assert paths.max() > 1
    assert paths.sum() == C * math.prod(K)
    with pytest.raises(ConfigError, match="K"):
        Igc2(in_channels=C, out_channels=C, K=K)


def test_igc1_without_permutation_is_not_complementary() -> None:
    # dropping the permutation: secondary groups see only one primary group's channels
    C, L, M = 12, 4, 3
    paths = group_mask(C, C, M) @ group_mask(C, C, L)
    assert not (paths == 1).all()
    assert (igc1_paths(C, L, M) == 1).all()


def test_igc3_counterexample_from_methods() -> None:
    """C = 12, t = 1, G1 = 4, G2 = 2: E = 12 >= G1·G2 = 8 but 8 does not divide 12."""
    C, t, G1, G2 = 12, 1, 4, 2
    E = t * C
    assert E >= G1 * G2 and E % (G1 * G2) != 0
    paths = igc3_paths(C, C, t, G1, G2)
    assert set(np.unique(paths).tolist()) == {1, 2}
    with pytest.raises(ConfigError, match="G1"):
        Igc3(in_channels=12, out_channels=12, t=1, G1=4, G2=2)
    keys = set(igcsearch.enumerate(channels=12, family="igc3", expansion=1)["key"])
    assert "igc3-t1G4x2-c12k3" not in keys
    assert "igc3-t1G4x3-c12k3" in keys  # 12 paths / (4·3) = 1: allowed


def test_igc3_loose_condition_admits_several_paths() -> None:
    # t = 2, C = 4, G1 = G2 = 2: E = 8, every pair joined by 8 / 4 = 2 paths
    paths = igc3_paths(4, 4, 2, 2, 2)
    assert (paths == 2).all()
