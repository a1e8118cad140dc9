"""The typed search request: one constructor for the CLI, presets and Python; equality over every field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from igcsearch.errors import SpecError
from igcsearch.measure import MeasureOptions
from igcsearch.request import SEARCH_KEYS, RunOptions, SearchRequest, make_request
from igcsearch.spec import Spec
from igcsearch.target import BLOCKS, NETWORKS, target_of


def test_specs_that_differ_only_in_their_network_are_different() -> None:
    a, b = Spec(network="cifar-plain-20"), Spec(network="cifar-plain-8")
    assert a != b and hash(a) != hash(b)
    assert Spec() != a and len({Spec(), a, b}) == 3


@pytest.mark.parametrize(
    ("part", "change"),
    [
        ("spec", {"balance_tol": 3.0}),
        ("measure", {"impl": "naive"}),
        ("measure", {"rounds": 3}),
        ("run", {"store": "x.sqlite"}),
        ("run", {"fresh": True}),
        ("run", {"backend": "ray"}),
        ("run", {"plot": True}),
        ("run", {"out": "elsewhere"}),
    ],
)
def test_every_field_takes_part_in_equality_and_hashing(part: str, change: dict) -> None:
    base = SearchRequest(Spec(channels=(8,)))
    other = dataclasses.replace(base, **{part: dataclasses.replace(getattr(base, part), **change)})
    assert base != other and hash(base) != hash(other)
    assert other == dataclasses.replace(base, **{part: dataclasses.replace(getattr(base, part), **change)})


def test_cli_options_a_preset_and_python_keywords_make_the_same_request(tmp_path: Path) -> None:
    """The CLI passes every option (None when not given); Python passes what it names; a preset the rest."""
    cli = dict.fromkeys([*SEARCH_KEYS, "channels", "family", "balance_tol", "sort"])
    cli.update(channels="8", family="conv,igc1", balance_tol="inf", threads=1, rounds=3, impl="naive", store="s.db")
    from_cli = make_request(cli, out="out")
    from_python = make_request(
        {"channels": 8, "family": "conv,igc1", "balance_tol": "inf", "store": "s.db"},
        measure={"threads": 1, "rounds": 3, "impl": "naive"},
        out="out",
    )
    preset = tmp_path / "p.toml"
    preset.write_text('name = "custom"\nchannels = 8\nfamily = ["conv", "igc1"]\nbalance_tol = "inf"\nimpl = "naive"\n')
    from_preset = make_request({"rounds": 3, "store": "s.db"}, preset=str(preset), out="out")
    assert from_cli == from_python == from_preset
    assert from_cli.measure == MeasureOptions(threads=1, rounds=3, impl="naive")
    assert from_cli.run == RunOptions(out="out", store="s.db")
    assert from_cli.spec.channels == (8,) and from_cli.spec.family == ("conv", "igc1")


def test_nothing_asked_is_the_default_question() -> None:
    request = make_request({})
    assert request.spec.name == "default" and request.spec.channels == (64,) and request.spec.budget == "conv"
    assert request == make_request(dict.fromkeys(SEARCH_KEYS))


def test_a_network_is_a_field_and_picks_the_network_target() -> None:
    request = make_request({"network": "cifar-plain-8", "family": "igc1"})
    assert request.spec.network == "cifar-plain-8" and request.spec.input_size == 32  # the network's own size
    assert target_of(request.spec) is NETWORKS and target_of(Spec(channels=(8,))) is BLOCKS
    with pytest.raises(SpecError, match="takes the block families"):
        make_request({"network": "mobilenetv2", "family": "igc1"})  # the target's check, before anything runs


def test_measure_options_are_checked_with_the_name_the_caller_used() -> None:
    with pytest.raises(SpecError, match="--impl must be auto, fused or naive, got 'x'"):
        make_request({"channels": 8, "impl": "x"})
    with pytest.raises(SpecError, match="measure impl must be auto, fused or naive, got 'x'"):
        make_request({"channels": 8}, measure={"impl": "x"})
    with pytest.raises(TypeError, match=r"measure\['rounds'\] must be int, got str"):
        make_request({"channels": 8}, measure={"rounds": "3"})
    with pytest.raises(TypeError, match="give either spec= or preset=/options, not both"):
        make_request({"channels": 8}, spec=Spec(channels=(8,)))
