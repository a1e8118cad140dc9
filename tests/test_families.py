"""Every registered family, checked from its own ``Family.examples``: a new family is tested
here with no new test code.

For each example key: the key round-trips (parse_key, to_dict, from_dict, JSON);
``registry.create_block`` builds its family's module and refuses bad options; the analytic
counts (the family's ``layers``) equal the measured ones (params by numel, MACs by fvcore for
every impl and memory format, and by PyTorch's own ``FlopCounterMode`` likewise); the output shape is
right; and the family's conditions hold numerically on the module: where it claims
complementary, every output channel reaches every input channel by the same number (> 0) of
paths, and its acceleration/compression conditions say exactly whether the block has fewer
MACs/weights than the regular conv it replaces.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import torch
from conftest import out_size, path_counts
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from igcsearch.config import BlockConfig, from_dict, parse_key
from igcsearch.cost import columns, totals
from igcsearch.counting import count
from igcsearch.errors import ConfigError
from igcsearch.interleave import IMPLS
from igcsearch.registry import (
    Family,
    block_class,
    block_options,
    create_block,
    families,
    get_family,
    knob_fields,
    scalar_knobs,
)

EXAMPLES = [(f.name, key) for f in families() for key in f.examples]
IDS = [key for _, key in EXAMPLES]

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small tensors time steadier on one thread


def analytic(cfg: BlockConfig, size: int) -> tuple[int, int]:
    """(params, macs) from the family's layers (the counts igcsearch reports)."""
    params, macs, _ = totals(get_family(cfg.family).layers(columns(cfg, size)))
    return int(params[0]), int(macs[0])


def conv_of(cfg: BlockConfig) -> BlockConfig:
    """The regular conv the block replaces (same geometry)."""
    return get_family("conv").config(
        in_channels=cfg.in_channels, out_channels=cfg.out_channels, kernel=cfg.kernel, stride=cfg.stride
    )


def weights(module: nn.Module) -> int:
    """Parameters outside BatchNorm layers: the conv weights of a block."""
    bn = sum(p.numel() for m in module.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    return sum(p.numel() for p in module.parameters()) - bn


def test_every_family_has_examples_covering_its_geometry() -> None:
    for family in families():
        assert family.examples, family.name
        cfgs = [parse_key(key) for key in family.examples]
        assert all(cfg.family == family.name for cfg in cfgs)
        assert any(cfg.stride == 2 for cfg in cfgs), f"{family.name}: no stride-2 example"
        if not family.square_only:
            assert any(cfg.in_channels != cfg.out_channels for cfg in cfgs), f"{family.name}: no non-square example"
        module, _, name = family.block.partition(":")
        assert module == f"igcsearch.families.{family.name}_block" and name


def test_knob_fields_come_from_the_families() -> None:
    knobs = knob_fields()
    assert len(set(knobs)) == len(knobs)
    listed = [k for family in families() for k in family.knobs]
    assert knobs == tuple(dict.fromkeys(listed))
    assert set(knobs) - set(scalar_knobs()) == {
        f.name for family in families() for f in _fields(family) if "tuple" in str(f.type)
    }


def _fields(family: Family) -> list[Any]:
    import dataclasses

    base = {f.name for f in dataclasses.fields(BlockConfig)}
    return [f for f in dataclasses.fields(family.config) if f.name not in base]


def test_listing_families_never_imports_torch() -> None:
    """families/__init__ registers the family modules, never their ``_block`` (torch) modules."""
    code = "import sys; import igcsearch.registry as r; r.families(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("name", "key"), EXAMPLES, ids=IDS)
def test_key_round_trips(name: str, key: str) -> None:
    cfg = parse_key(key)
    assert isinstance(cfg, get_family(name).config)
    assert cfg.key == key
    assert from_dict(cfg.to_dict()) == cfg
    assert from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.to_dict()["family"] == name
    assert set(cfg.knobs()) == set(get_family(name).knobs)


@pytest.mark.parametrize(("name", "key"), EXAMPLES, ids=IDS)
def test_create_block(name: str, key: str) -> None:
    cfg = parse_key(key)
    cls = block_class(name)
    assert issubclass(cls, nn.Module) and "impl" in block_options(cls)
    module = create_block(cfg)
    assert type(module) is cls and module.cfg == cfg
    with pytest.raises(ConfigError, match=f"^{name}: unknown build option\\(s\\) bogus; valid options: impl"):
        create_block(cfg, bogus=1)
    with pytest.raises(ConfigError, match=f"^{name}: impl='fast' is invalid"):
        create_block(cfg, impl="fast")
    with pytest.raises(ConfigError, match="needs a BlockConfig"):
        create_block(cfg.to_dict())


@pytest.mark.parametrize(("name", "key"), EXAMPLES, ids=IDS)
@pytest.mark.parametrize("size", [8, 7])
def test_analytic_counts_equal_measured(name: str, key: str, size: int) -> None:
    cfg = parse_key(key)
    params, macs = analytic(cfg, size)
    for impl in IMPLS:
        module = create_block(cfg, impl=impl)
        assert sum(p.numel() for p in module.parameters()) == params, impl
        for channels_last in (False, True):
            assert count(module, cfg, size, channels_last=channels_last) == (params, macs), (impl, channels_last)
            x = torch.randn(1, cfg.in_channels, size, size)
            if channels_last:
                x = x.to(memory_format=torch.channels_last)
            with FlopCounterMode(display=False) as flops, torch.no_grad():
                module.eval()(x)
            # PyTorch counts 2 FLOPs per MAC; the fused op has its formula (interleave.py)
            assert flops.get_total_flops() == 2 * macs, (impl, channels_last)


@pytest.mark.parametrize(("name", "key"), EXAMPLES, ids=IDS)
def test_output_shape_and_impls_agree(name: str, key: str) -> None:
    cfg = parse_key(key)
    torch.manual_seed(0)
    ref = create_block(cfg).eval()
    for size in (8, 9):
        side = out_size(size, cfg.kernel, cfg.stride)
        x = torch.randn(2, cfg.in_channels, size, size)
        for train in (True, False):
            y = ref.train(train)(x)
            assert y.shape == (2, cfg.out_channels, side, side)
            assert torch.isfinite(y).all()
        ref.eval()
        expected = ref(x)
        for impl in IMPLS:
            module = create_block(cfg, impl=impl).eval()
            module.load_state_dict(ref.state_dict())
            torch.testing.assert_close(module(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "key"), EXAMPLES, ids=IDS)
def test_dense_is_every_path_count_positive(name: str, key: str) -> None:
    """The row's ``dense`` is what the built module does: every output reaches every input."""
    cfg = parse_key(key)
    dense = get_family(name).check(columns(cfg, 8))["dense"]
    assert dense.dtype == bool and dense.shape == (1,)
    opts = [{}] + ([{"seed": s} for s in (0, 1)] if "seed" in block_options(block_class(name)) else [])
    for opt in opts:  # lego: any choice π of Lego filters
        paths = path_counts(create_block(cfg, **opt), cfg.in_channels)
        assert paths.shape == (cfg.in_channels, cfg.out_channels)
        assert bool(dense[0]) == bool((paths > 0).all()), (key, opt)


def test_examples_hold_dense_and_not_dense_rows() -> None:
    """The examples exercise both answers (group g > 1: not dense)."""
    values = {bool(get_family(n).check(columns(parse_key(k), 8))["dense"][0]) for n, k in EXAMPLES}
    assert values == {True, False}


@pytest.mark.parametrize(("name", "key"), EXAMPLES, ids=IDS)
def test_conditions_hold_numerically(name: str, key: str) -> None:
    cfg = parse_key(key)
    family = get_family(name)
    claims = {k: bool(v[0]) for k, v in family.check(columns(cfg, 8)).items() if k != "balance"}
    assert set(claims) <= set(family.conditions)
    if "divisible" in claims:
        assert claims["divisible"], "a valid config is divisible"
    module = create_block(cfg)
    if claims.get("complementary"):
        paths = path_counts(module, cfg.in_channels)
        assert paths.shape == (cfg.in_channels, cfg.out_channels)
        assert paths.min() > 0 and torch.equal(paths, torch.full_like(paths, paths[0, 0].item()))
    conv = create_block(conv_of(cfg))
    if "acceleration" in claims:  # fewer MACs than the regular conv
        assert claims["acceleration"] == (count(module, cfg, 8)[1] < count(conv, cfg, 8)[1])
    if "compression" in claims:  # no more weights than the regular conv
        assert claims["compression"] == (weights(module) <= weights(conv))
