"""Every shipped preset loads, validates and lists at least one row; `igcsearch presets` lists them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

import igcsearch
from igcsearch.errors import PresetError
from igcsearch.spec import SPEC_KEYS, load_preset, make_spec

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
PRESET_FILES = sorted(PRESET_DIR.glob("*.toml"))
# presets with a `network` key ask `search --network` questions; tests/test_network_search.py covers them
BLOCK_PRESET_FILES = [p for p in PRESET_FILES if "network" not in tomllib.loads(p.read_text())]


def test_there_are_presets() -> None:
    assert {p.stem for p in PRESET_FILES} >= {"default", "igcv1-width", "igcv2-chains", "lego-budget"}


@pytest.mark.parametrize("path", BLOCK_PRESET_FILES, ids=lambda p: p.stem)
def test_preset_loads_and_enumerates(path: Path) -> None:
    raw = tomllib.loads(path.read_text())
    assert set(raw) <= set(SPEC_KEYS)
    assert raw.get("question"), "every preset asks one question"
    by_path = load_preset(str(path))
    by_name = load_preset(path.stem)
    assert by_path == by_name
    assert by_name["name"] == raw.get("name", path.stem)
    spec = make_spec(by_name)
    df = igcsearch.enumerate(spec=spec)
    assert len(df) >= 1
    assert df["key"].is_unique
    assert (df["params"] > 0).all()
    if spec.family:
        assert set(df["family"]) <= set(spec.family)
    candidates = df[~df["baseline"]]  # the budget filters the candidates; the baseline is the reference
    if spec.params_max is not None:
        assert (candidates["params"] <= spec.params_max).all()
    if spec.macs_max is not None:
        assert (candidates["macs"] <= spec.macs_max).all()
    if "conv" in spec.families and not spec.widest:
        assert df.loc[df["baseline"], "key"].tolist() == [f"conv-c{c}k{k}" for c in spec.channels for k in spec.kernel]
    assert igcsearch.enumerate(preset=path.stem)["key"].tolist() == df["key"].tolist()


@pytest.mark.parametrize("path", BLOCK_PRESET_FILES, ids=lambda p: p.stem)
def test_cli_preset_matches_api(cli: Any, path: Path) -> None:
    result = cli("space", "--preset", path.stem, "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["key"] for r in rows] == igcsearch.enumerate(preset=path.stem)["key"].tolist()


def test_default_preset_is_the_64_channel_conv_budget() -> None:
    df = igcsearch.enumerate(preset="default")
    conv_params = 9 * 64 * 64 + 2 * 64
    assert (df["params"] <= conv_params).all()
    assert "conv-c64k3" in set(df["key"])
    assert set(df["family"]) == {"conv", "group", "dwsep", "igc1", "igc2", "igc3", "lego"}


def test_cli_options_override_preset() -> None:
    df = igcsearch.enumerate(preset="default", channels=32, family="conv")
    assert df["key"].tolist() == ["conv-c32k3"]


def test_presets_command_lists_them(cli: Any) -> None:
    result = cli("presets", "--format", "json")
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [p["name"] for p in listed] == [tomllib.loads(p.read_text()).get("name", p.stem) for p in PRESET_FILES]
    for entry, path in zip(listed, PRESET_FILES, strict=True):
        assert list(entry) == ["name", "question", "command", "file"]
        assert entry["command"] == "space, search"  # network presets list with space too
        assert Path(entry["file"]).name == path.name
        assert Path(entry["file"]).read_text() == path.read_text()
        assert entry["question"] == tomllib.loads(path.read_text())["question"]


def test_presets_table_and_csv(cli: Any) -> None:
    table = cli("presets")
    assert table.exit_code == 0
    for path in PRESET_FILES:
        assert path.stem in table.stdout
    csv = cli("presets", "--format", "csv")
    assert csv.exit_code == 0
    assert csv.stdout.splitlines()[0] == "name,question,command,file"
    assert len(csv.stdout.strip().splitlines()) == len(PRESET_FILES) + 1


def test_unknown_preset_lists_choices() -> None:
    with pytest.raises(PresetError) as err:
        load_preset("no-such-preset")
    for path in PRESET_FILES:
        assert path.stem in str(err.value)


def test_preset_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('question = "q"\nchannels = "16,32"\nfamily = ["igc1"]\nbalance_tol = "inf"\n')
    df = igcsearch.enumerate(preset=str(path))
    expected = [f"igc1-L{L}M{C // L}-c{C}k3" for C in (16, 32) for L in range(2, C + 1) if C % L == 0]
    assert df["key"].tolist() == expected
    assert load_preset(str(path))["name"] == "mine"
