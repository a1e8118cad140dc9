"""`igcsearch export` and building from export records: search -> export -> build -> same counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from igcsearch.errors import ConfigError

MEASURE = {"rounds": 1, "batch": 1, "min_time": 0.001, "warmup": 1}
RECORD_KEYS = ["schema_version", "igcsearch_version", "key", "family", "config", "input_size", "counts", "spec"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small tensors time steadier on one thread


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A tiny measured search: igc1 and dwsep at C = 16 (every balance), its results directory and rows."""
    from igcsearch.api import search

    out = tmp_path_factory.mktemp("search")
    frame = search(channels=16, family="igc1,dwsep", balance_tol="inf", measure=MEASURE, out=str(out))
    return out, frame


def test_top_round_trip_builds_with_the_rows_counts(results: tuple[Path, Any], tmp_path: Path) -> None:
    import igcsearch
    from igcsearch.config import parse_key
    from igcsearch.counting import count
    from igcsearch.handoff.export import build_record, export_configs

    out, frame = results
    written = export_configs(out, tmp_path, top=3)
    assert [r["key"] for r, _ in written] == frame["key"].head(3).tolist()
    for record, path in written:
        assert path == tmp_path / f"{record['key']}.json"
        data = json.loads(path.read_text())
        assert list(data) == RECORD_KEYS
        assert data["schema_version"] == 1 and data["igcsearch_version"] == igcsearch.__version__
        row = frame[frame["key"] == record["key"]].iloc[0]
        assert data["counts"] == {"params": int(row["params"]), "macs": int(row["macs"]), "acts": int(row["acts"])}
        assert data["config"] == parse_key(record["key"]).to_dict()
        assert data["spec"]["channels"] == [16] and data["spec"]["balance_tol"] == "inf"  # standard JSON
        module = build_record(path)
        measured = count(module, parse_key(record["key"]), data["input_size"])
        assert measured == (int(row["params"]), int(row["macs"]))
        assert (int(row["params_measured"]), int(row["macs_measured"])) == measured


def test_pareto_exports_exactly_the_pareto_rows(results: tuple[Path, Any], tmp_path: Path) -> None:
    from igcsearch.handoff.export import export_configs

    out, frame = results
    written = export_configs(out, tmp_path, pareto=True)
    expected = frame[frame["pareto"] == 1].sort_values("rank")["key"].tolist()
    assert [r["key"] for r, _ in written] == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k}.json" for k in expected)
    first = export_configs(out, tmp_path / "one", pareto=True, top=1)
    assert [r["key"] for r, _ in first] == expected[:1]


def test_keys_and_build_record(results: tuple[Path, Any], tmp_path: Path) -> None:
    from igcsearch.counting import count
    from igcsearch.handoff.export import build_record, export_configs, read_record

    out, _ = results
    keys = ["dwsep-r3-c16k3", "igc1-L4M4-c16k3"]
    written = export_configs(out, tmp_path, keys=keys)
    assert [r["key"] for r, _ in written] == keys
    record = read_record(tmp_path / "dwsep-r3-c16k3.json")
    params, macs = count(build_record(record), 16, 32)
    # depthwise 9·3·16 + pointwise 48·16 + BN 2·16
    assert params == 9 * 48 + 48 * 16 + 32 == record["counts"]["params"]
    assert macs == (9 * 48 + 48 * 16) * 32 * 32 == record["counts"]["macs"]


def test_unknown_schema_version_and_bad_records_fail_clearly(tmp_path: Path) -> None:
    from igcsearch.handoff.export import build_record, read_record

    path = tmp_path / "future.json"
    path.write_text(
        json.dumps({"schema_version": 99, "config": {"family": "conv", "in_channels": 8, "out_channels": 8}})
    )
    with pytest.raises(ConfigError, match="schema_version 99 is not supported"):
        build_record(path)
    with pytest.raises(ConfigError, match="does not exist"):
        read_record(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_record(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="unknown block family 'igc9'"):
        build_record({"schema_version": 1, "config": {"family": "igc9", "in_channels": 8, "out_channels": 8}})
    bare = read_record({"family": "conv", "in_channels": 8, "out_channels": 8})
    assert bare == {"config": {"family": "conv", "in_channels": 8, "out_channels": 8}}


NET_KEY = "net-cifar-resnet-8-conv-c16k3"


def net_record(**changes: Any) -> dict[str, Any]:
    """A network export record, as `igcsearch export` writes it, with some fields changed."""
    record = {"schema_version": 1, "key": NET_KEY, "family": "conv", "config": {"network_key": NET_KEY}}
    return {**record, **changes}


@pytest.mark.parametrize("form", ["dict", "path", "str"])
def test_network_record_with_unknown_schema_version_is_refused(tmp_path: Path, form: str) -> None:
    import igcsearch

    record = net_record(schema_version=99)
    path = tmp_path / "net.json"
    path.write_text(json.dumps(record))
    source = {"dict": record, "path": path, "str": str(path)}[form]
    with pytest.raises(ConfigError, match="schema_version 99 is not supported \\(this igcsearch reads 1\\)"):
        igcsearch.build(source)
    assert sum(p.numel() for p in igcsearch.build(net_record()).parameters()) > 0


BLOCK_CONFIG = {"family": "igc1", "in_channels": 32, "out_channels": 32, "kernel": 3, "stride": 1, "L": 16, "M": 2}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"key": "garbage"}, "key 'garbage' does not match its config, whose key is 'igc1-L16M2-c32k3'"),
        (
            {"key": "igc1-L3M2-c32k3"},
            "key 'igc1-L3M2-c32k3' does not match its config, whose key is 'igc1-L16M2-c32k3'",
        ),
        ({"family": "lego"}, "family 'lego' does not match its config's family 'igc1'"),
        ({"schema_version": None}, "schema_version None is not supported"),
        ({"schema_version": "1"}, "schema_version '1' is not supported"),
    ],
)
def test_record_key_family_and_version_must_match_the_config(tmp_path: Path, record: dict, message: str) -> None:
    import igcsearch
    from igcsearch.handoff.export import build_record

    full = {"schema_version": 1, "key": "igc1-L16M2-c32k3", "family": "igc1", "config": BLOCK_CONFIG, **record}
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(full))
    for build in (igcsearch.build, build_record):
        for source in (full, path):
            with pytest.raises(ConfigError) as info:
                build(source)
            assert message in str(info.value) and "\n" not in str(info.value)
    assert build_record({k: v for k, v in full.items() if k not in record} | {"schema_version": 1}).cfg.key == (
        "igc1-L16M2-c32k3"
    )


def test_record_without_schema_version_is_refused(tmp_path: Path) -> None:
    import igcsearch
    from igcsearch.handoff.export import build_record

    for record in ({"key": "igc1-L16M2-c32k3", "config": BLOCK_CONFIG}, {"config": {"network_key": NET_KEY}}):
        for build in (igcsearch.build, build_record):
            with pytest.raises(
                ConfigError, match='no schema_version \\(an `igcsearch export` record holds "schema_version": 1\\)'
            ):
                build(record)
    with pytest.raises(ConfigError, match="family 'igc1' does not match its config's family 'conv'"):
        igcsearch.build(net_record(family="igc1"))
    with pytest.raises(ConfigError, match="key 'net-x' does not match its config"):
        igcsearch.build(net_record(key="net-x"))


def test_cli_train_refuses_a_mismatched_record(tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "rec.json"
    path.write_text(
        json.dumps({"schema_version": 1, "key": "igc1-L8M4-c32k3", "family": "igc1", "config": BLOCK_CONFIG})
    )
    import numpy as np

    x, y = np.zeros((4, 3, 8, 8), np.uint8), np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    res = cli("train", path, "--data", tmp_path / "d.npz", "--out", tmp_path / "run")
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "key 'igc1-L8M4-c32k3' does not match its config, whose key is 'igc1-L16M2-c32k3'" in res.stderr


def test_network_record_builds_the_network() -> None:
    from igcsearch.handoff.export import build_record
    from igcsearch.networks import network_cost

    key = "net-cifar-resnet-8-conv-c16k3"
    model = build_record({"schema_version": 1, "key": key, "family": "conv", "config": {"network_key": key}})
    assert sum(p.numel() for p in model.parameters()) == network_cost(key)[0]


def test_cli_export(results: tuple[Path, Any], tmp_path: Path, cli: Any) -> None:
    out, frame = results
    res = cli("export", out, "--top", "2", "--out", tmp_path / "cfg")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == sorted(f"{k}.json" for k in frame["key"].head(2))
    assert frame["key"].iloc[0] in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "choose the rows to export: --top N, --pareto"),
        (["--keys", "igc1-L3M3-c9k3"], "key(s) not in the results: igc1-L3M3-c9k3"),
        (["--keys", ","], "--keys is empty"),
        (["--top", "0"], "--top must be >= 1"),
        (["--keys", "igc1-L4M4-c16k3", "--top", "1"], "give --keys alone"),
    ],
)
def test_cli_export_bad_selection(
    results: tuple[Path, Any], tmp_path: Path, cli: Any, args: list, message: str
) -> None:
    res = cli("export", results[0], "--out", tmp_path, *args)
    assert res.exit_code == 1
    assert res.stderr.count("error:") == 1 and message in res.stderr
    assert "Traceback" not in res.output


def test_cli_export_missing_directory(tmp_path: Path, cli: Any) -> None:
    res = cli("export", tmp_path / "nope", "--top", "1", "--out", tmp_path / "o")
    assert res.exit_code == 1 and "does not exist" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("export", empty, "--top", "1", "--out", tmp_path / "o")
    assert res.exit_code == 1 and "no results at" in res.stderr


def test_cli_export_format_json_and_csv(results: tuple[Path, Any], tmp_path: Path, cli: Any) -> None:
    import csv
    import io

    out, _ = results
    res = cli("export", out, "--top", "2", "--out", tmp_path / "cfg", "--format", "json")
    assert res.exit_code == 0, res.output
    records = json.loads(res.stdout)
    assert [tuple(r) for r in records] == [("key", "family", "params", "macs", "file")] * 2
    for r in records:
        saved = json.loads(Path(r["file"]).read_text())
        assert (r["key"], r["params"], r["macs"]) == (saved["key"], saved["counts"]["params"], saved["counts"]["macs"])
    res = cli("export", out, "--top", "2", "--out", tmp_path / "cfg", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [int(r["params"]) for r in rows] == [r["params"] for r in records]
