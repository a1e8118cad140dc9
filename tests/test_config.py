"""Configs: canonical keys, strict dict round trip, validation at construction."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from conftest import FAMILY_ORDER, configs, make_config
from hypothesis import given, settings
from hypothesis import strategies as st

import igcsearch
from igcsearch.config import from_dict, parse_key
from igcsearch.errors import ConfigError
from igcsearch.registry import get_family, names

# ---------------------------------------------------------------- round trips (property)


@pytest.mark.parametrize("family", FAMILY_ORDER)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_key_and_dict_round_trip(family: str, data: st.DataObject) -> None:
    cfg, _ = data.draw(configs(family))
    assert parse_key(cfg.key) == cfg
    assert from_dict(cfg.to_dict()) == cfg
    assert from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.to_dict()["family"] == family
    assert next(iter(cfg.to_dict())) == "family"


def test_registry_lists_every_family_once() -> None:
    assert names() == list(FAMILY_ORDER)
    with pytest.raises(ConfigError, match="choose from: conv, dwsep, group, igc1, igc2, igc3, lego"):
        get_family("igc9")


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("family", "geometry", "knobs", "key"),
    [
        ("conv", (64, 64, 3, 1), {}, "conv-c64k3"),
        ("group", (32, 64, 3, 2), {"g": 4}, "group-g4-i32o64k3s2"),
        ("dwsep", (64, 64, 5, 1), {"r": 2}, "dwsep-r2-c64k5"),
        ("igc1", (64, 64, 3, 1), {"L": 8, "M": 8}, "igc1-L8M8-c64k3"),
        ("igc2", (64, 64, 3, 1), {"K": (1, 4, 4, 4)}, "igc2-K1x4x4x4-c64k3"),
        ("igc2", (64, 64, 1, 2), {"K": (1, 8, 8)}, "igc2-K1x8x8-c64k1s2"),
        ("igc3", (32, 64, 3, 1), {"t": 6, "G1": 2, "G2": 2}, "igc3-t6G2x2-i32o64k3"),
        ("lego", (32, 64, 3, 2), {"o": 2, "m": 32}, "lego-o2m32-i32o64k3s2"),
    ],
)
def test_canonical_keys(family: str, geometry: tuple[int, ...], knobs: dict[str, Any], key: str) -> None:
    cfg = make_config(family, *geometry, **knobs)
    assert cfg.key == key
    assert parse_key(key) == cfg


def test_igc2_row_keys_are_config_keys() -> None:
    """The key column (vectorised) and config.key agree, so every listed key parses back."""
    df = igcsearch.enumerate(channels="24,64", family="igc2,igc3,igc1,lego,group,dwsep,conv", balance_tol="inf")
    for key in df["key"]:
        cfg = parse_key(key)
        assert cfg.key == key


@pytest.mark.parametrize(
    "key",
    [
        "nonsense",
        "igc9-c64k3",
        "igc1-LxM8-c64k3",
        "igc1-L8M8-c64",
        "conv-L2-c64k3",
        "conv-c64k3s1",  # stride 1 is not written
        "igc1-L08M8-c64k3",  # leading zero
        "igc1-L8M8-i64o64k3",  # square written as c64
        "igc1-L3M8-c64k3",  # L·M != C_out
        "igc1-L8M8-c64k4",  # even kernel
        "igc2-K8x8-c64k3",  # n = 2 is igc1
        "igc2-K1x8x4-c64k3",  # product 32 != 64
        "group-g3-c64k3",
        "dwsep-r0-c8k3",
        "igc3-t1G4x2-c12k3",  # G1·G2 = 8 does not divide E = 12
        "lego-o3m4-c64k3",
        "conv-c0k3",
    ],
)
def test_parse_key_rejects(key: str) -> None:
    with pytest.raises(ConfigError):
        parse_key(key)


@pytest.mark.parametrize("key", [None, 123, ["igc1-L8M8-c64k3"]])
def test_parse_key_rejects_non_strings(key: Any) -> None:
    with pytest.raises(ConfigError, match="malformed key"):
        parse_key(key)


# ---------------------------------------------------------------- from_dict


def test_from_dict_rejects_unknown_key_listing_valid_fields() -> None:
    with pytest.raises(ConfigError) as err:
        from_dict({"family": "igc1", "in_channels": 64, "out_channels": 64, "L": 8, "M": 8, "groups": 2})
    message = str(err.value)
    assert "groups" in message
    for name in ("in_channels", "out_channels", "kernel", "stride", "L", "M"):
        assert name in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"in_channels": 8, "out_channels": 8}, "family"),
        ({"family": "igc9", "in_channels": 8, "out_channels": 8}, "igc9"),
        ({"family": "igc1", "in_channels": 8}, "missing"),
        ({"family": ["igc1"], "in_channels": 8, "out_channels": 8}, "family"),
        ({"family": "conv", "in_channels": 8, "out_channels": 8, "kernel": "3"}, "kernel"),
        ({"family": "igc2", "in_channels": 8, "out_channels": 8, "K": 8}, "K"),
    ],
)
def test_from_dict_rejects(data: Any, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        from_dict(data)


@pytest.mark.parametrize("data", [[], "igc1-L8M8-c64k3", None])
def test_from_dict_rejects_non_objects(data: Any) -> None:
    with pytest.raises(ConfigError, match="JSON object"):
        from_dict(data)


def test_configs_are_frozen() -> None:
    cfg = make_config("igc1", 64, 64, 3, 1, L=8, M=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.L = 4  # type: ignore[misc]


# ---------------------------------------------------------------- validation at construction

BAD = [
    ("igc1", {"in_channels": 30, "out_channels": 64, "L": 8, "M": 8}, "L"),  # L does not divide C_in
    ("igc1", {"in_channels": 64, "out_channels": 64, "L": 8, "M": 4}, "L*M"),  # L·M != C_out
    ("igc1", {"in_channels": 64, "out_channels": 64, "L": 0, "M": 8}, "L"),
    ("igc2", {"in_channels": 16, "out_channels": 16, "K": (1, 2, 4)}, "K"),  # product 8 != 16
    ("igc2", {"in_channels": 16, "out_channels": 16, "K": (2, 4, 4)}, "K"),  # product 32 != 16
    ("igc2", {"in_channels": 16, "out_channels": 16, "K": (4, 4)}, "K"),  # n = 2
    ("igc2", {"in_channels": 16, "out_channels": 16, "K": (16, 1, 1)}, "K"),  # K_i >= 2 for i >= 2
    ("igc2", {"in_channels": 16, "out_channels": 16, "K": (True, 4, 4)}, "K"),
    ("igc2", {"in_channels": 16, "out_channels": 16, "K": None}, "K"),
    ("igc2", {"in_channels": 8, "out_channels": 16, "K": (2, 2, 4)}, "out_channels"),  # not square
    ("igc3", {"in_channels": 12, "out_channels": 12, "t": 1, "G1": 4, "G2": 2}, "G1*G2"),  # 8 does not divide E = 12
    ("igc3", {"in_channels": 12, "out_channels": 12, "t": 1, "G1": 5, "G2": 1}, "G1"),
    ("igc3", {"in_channels": 12, "out_channels": 10, "t": 1, "G1": 1, "G2": 4}, "G2"),
    ("igc3", {"in_channels": 12, "out_channels": 12, "t": 0, "G1": 1, "G2": 1}, "t"),
    ("group", {"in_channels": 64, "out_channels": 48, "g": 32}, "g"),
    ("dwsep", {"in_channels": 8, "out_channels": 8, "r": 0}, "r"),
    ("lego", {"in_channels": 64, "out_channels": 64, "o": 3, "m": 4}, "o"),
    ("lego", {"in_channels": 64, "out_channels": 64, "o": 2, "m": 0}, "m"),
    ("conv", {"in_channels": 64, "out_channels": 64, "kernel": 4}, "kernel"),  # even kernel
    ("conv", {"in_channels": 64, "out_channels": 64, "kernel": 0}, "kernel"),
    ("conv", {"in_channels": 0, "out_channels": 64}, "in_channels"),  # zero channels
    ("conv", {"in_channels": 64, "out_channels": -1}, "out_channels"),
    ("conv", {"in_channels": True, "out_channels": 64}, "in_channels"),  # bool is not an int here
    ("conv", {"in_channels": 64, "out_channels": 64, "stride": False}, "stride"),
    ("conv", {"in_channels": 64.0, "out_channels": 64}, "in_channels"),
    ("conv", {"in_channels": "64", "out_channels": 64}, "in_channels"),
    ("conv", {"in_channels": 64, "out_channels": 64, "stride": 0}, "stride"),
    ("group", {"in_channels": 64, "out_channels": 64, "g": True}, "g"),
]


@pytest.mark.parametrize(("family", "kwargs", "field"), BAD, ids=[f"{f}-{k}" for f, _, k in BAD])
def test_invalid_configs_raise_config_error_naming_the_field(family: str, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        get_family(family).config(**kwargs)
    message = str(err.value)
    assert message.startswith(f"{family}: {field}="), message
    assert "must be" in message


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        get_family("conv").config(in_channels=0, out_channels=1)
