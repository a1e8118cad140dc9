"""`igcsearch search` end to end on tiny specs: files, fields, counts, ranking, bad options."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import igcsearch
from igcsearch.cli import app
from igcsearch.results import MEASURED_FIELDS, RESULT_FIELDS
from igcsearch.space import ROW_FIELDS

FAST = ["--rounds", "2", "--min-time", "0.001", "--warmup", "1"]


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("search")
    result = run(
        "search", "-c", "16", "--family", "conv,igc1,igc2,dwsep,lego", "--params-max", "1.5K", *FAST, "--out", str(out)
    )
    return result, out


def test_search_writes_every_file(results: tuple[Any, Path]) -> None:
    result, out = results
    assert result.exit_code == 0, result.output
    for name in ("results.csv", "results.md", "results.json", "results.sqlite"):
        assert (out / name).is_file()
    assert not list(out.glob(".*.tmp"))
    rows = json.loads((out / "results.json").read_text())
    configs = sorted(p.stem for p in (out / "configs").glob("*.json"))
    assert configs == sorted(r["key"] for r in rows)


def test_json_rows_have_every_field_and_exact_counts(results: tuple[Any, Path]) -> None:
    _, out = results
    rows = json.loads((out / "results.json").read_text())
    expected = igcsearch.enumerate(channels=16, family="conv,igc1,igc2,dwsep,lego", params_max="1.5K")
    assert sorted(r["key"] for r in rows) == sorted(expected["key"])
    for row in rows:
        assert list(row) == list(RESULT_FIELDS)
        assert row["count_ok"] is True
        assert row["params_measured"] == row["params"]
        assert row["params"] <= 1500 or row["key"] == "conv-c16k3"  # the baseline is listed whatever the budget
        assert row["macs_measured"] == row["macs"]
        assert row["error"] == ""
        for name in ("latency_ms", "latency_iqr_ms", "latency_min_ms"):
            assert math.isfinite(row[name]) and row[name] >= 0
        assert 0 < row["latency_min_ms"] <= row["latency_ms"]
        assert row["peak_mem_bytes"] > 0
        assert row["threads"] == 1 and row["batch"] == 1 and row["memory_format"] == "nchw"
        assert row["impl"] == "auto" and row["latency_rounds"] == 2
        assert row["peak_mem_method"] == "estimated"  # CPU: labelled in every row, not only the header


def test_ranking_is_by_latency_with_a_pareto_front(results: tuple[Any, Path]) -> None:
    _, out = results
    rows = json.loads((out / "results.json").read_text())
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    latency = [r["latency_ms"] for r in rows]
    assert latency == sorted(latency)
    front = [r for r in rows if r["pareto"]]
    assert rows[0]["pareto"] is True  # the fastest row is never dominated on latency
    for a in front:  # no front row is dominated by any row
        for b in rows:
            dominated = all(b[k] <= a[k] for k in ("params", "macs", "latency_ms")) and any(
                b[k] < a[k] for k in ("params", "macs", "latency_ms")
            )
            assert not dominated


def test_exported_configs_build_the_row(results: tuple[Any, Path]) -> None:
    _, out = results
    from igcsearch.counting import count

    for path in sorted((out / "configs").glob("*.json"))[:6]:
        record = json.loads(path.read_text())
        module = igcsearch.build(path)
        params, macs = count(module, record["config"]["in_channels"], record["input_size"])
        assert (params, macs) == (record["counts"]["params"], record["counts"]["macs"])


def test_markdown_header_states_spec_convention_environment(results: tuple[Any, Path]) -> None:
    _, out = results
    text = (out / "results.md").read_text()
    assert "Spec: C=16" in text and "Convention: params = weights + BN" in text
    assert "Environment: device=cpu" in text and "torch_version=" in text


def test_terminal_table_and_stdout_formats(tmp_path: Path) -> None:
    result = run(
        "search", "-c", "8", "--family", "conv,igc1", "--balance-tol", "inf", *FAST, "--out", str(tmp_path / "a")
    )
    assert result.exit_code == 0, result.output
    assert "counts verified against fvcore: 4 of 4 exact" in result.output
    assert "conv-c8k3" in result.output
    result = run("search", "-c", "8", "--family", "conv,igc1", "--balance-tol", "inf", *FAST, "--format", "json",
                 "--out", str(tmp_path / "b"))  # fmt: skip
    rows = json.loads(result.stdout)
    assert {r["key"] for r in rows} == {"conv-c8k3", "igc1-L2M4-c8k3", "igc1-L4M2-c8k3", "igc1-L8M1-c8k3"}
    assert set(MEASURED_FIELDS) <= set(rows[0]) and set(ROW_FIELDS) <= set(rows[0])


def test_no_latency_counts_only(tmp_path: Path) -> None:
    result = run("search", "-c", "8", "--family", "igc1", "--balance-tol", "inf", "--no-latency", "--format", "json",
                 "--out", str(tmp_path))  # fmt: skip
    rows = json.loads(result.stdout)
    # ranked by params: L8M1 9*8*1 + 8*8 + 16 = 152; L4M2 9*8*2 + 8*4 + 16 = 192; L2M4 9*8*4 + 8*2 + 16 = 320
    assert [r["key"] for r in rows] == ["igc1-L8M1-c8k3", "igc1-L4M2-c8k3", "igc1-L2M4-c8k3"]
    assert [r["params"] for r in rows] == [9 * 8 * 1 + 8 * 8 + 16, 9 * 8 * 2 + 8 * 4 + 16, 9 * 8 * 4 + 8 * 2 + 16]
    assert all(r["latency_ms"] is None and r["count_ok"] and r["latency_rounds"] == 0 for r in rows)


def test_analytic_sort_with_top_preselects(tmp_path: Path) -> None:
    result = run("search", "-c", "32", "--family", "lego", "--sort", "params", "--top", "3", *FAST, "--format", "json",
                 "--out", str(tmp_path))  # fmt: skip
    rows = json.loads(result.stdout)
    expected = igcsearch.enumerate(channels=32, family="lego", sort="params", top=3)
    assert [r["key"] for r in rows] == list(expected["key"])


def test_channels_last_and_fused_impl(tmp_path: Path) -> None:
    result = run("search", "-c", "16", "--family", "igc1", "--channels-last", "--impl", "fused", *FAST, "--format", "json",
                 "--out", str(tmp_path))  # fmt: skip
    rows = json.loads(result.stdout)
    assert rows and all(r["count_ok"] and r["memory_format"] == "channels_last" for r in rows)
    assert {r["impl"] for r in rows} == {"fused"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "--device must be cpu or cuda"),
        (["--threads", "0"], "must be >= 1"),
        (["--rounds", "0"], "must be >= 1"),
        (["--batch", "0"], "must be >= 1"),
        (["--min-time", "0"], "--min-time must be a finite number of seconds > 0"),
        (["--impl", "turbo"], "--impl must be auto, fused or naive"),
        (["--sort", "speed"], "unknown sort key 'speed'"),
        (["--backend", "slurm"], "--backend must be local or ray"),
    ],
)
def test_bad_measurement_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = run("search", "-c", "8", "--family", "conv", *args, "--out", str(tmp_path))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_cuda_unavailable_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run("search", "-c", "8", "--family", "conv", "--device", "cuda", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "no CUDA device" in result.output


def test_python_api_search_returns_ranked_frame(tmp_path: Path) -> None:
    import igcsearch.pipeline

    df = igcsearch.search(channels=8, family="conv,igc1", balance_tol="inf", measure={"rounds": 2, "min_time": 0.001})
    assert list(df["rank"]) == [1, 2, 3, 4]
    assert bool(df["count_ok"].all())
    assert set(df["key"]) == {"conv-c8k3", "igc1-L2M4-c8k3", "igc1-L4M2-c8k3", "igc1-L8M1-c8k3"}


def test_show_prints_breakdown_conditions_module() -> None:
    result = run("show", "igc1-L32M2-c64k3")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "1,152" in text  # primary: 9 * 64 * 2
    assert "2,048" in text  # secondary: 64 * 32
    assert "3,328" in text  # total with BN: 1152 + 2048 + 128
    assert "36,992" in text  # the regular conv-BN-ReLU
    assert "wider" in text and "balance" in text
    assert "Conv2d(64, 64, kernel_size=(3, 3)" in text
    bad = run("show", "igc1-L3M8-c64k3")
    assert bad.exit_code == 1 and "L*M=24" in bad.output


# ---------------------------------------------------------------- failures, formats, API


def _failing_builder(monkeypatch: pytest.MonkeyPatch, bad: str, *, at_build: bool = False) -> None:
    """Make candidate ``bad`` fail to build, or run at batch 1 (so it counts) and fail when batched."""
    import torch

    import igcsearch.measure as measure

    class FailsWhenBatched(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] > 1:  # like running out of memory at a large --batch
                raise RuntimeError("out of memory at this batch (simulated)\nsecond line")
            return self.inner(x)

    real = measure.build_key

    def build_key(key: str, impl: str = "auto") -> tuple[Any, int]:
        module, cin = real(key, impl)
        if key == bad:
            if at_build:
                raise ValueError("cannot build (simulated)")
            return FailsWhenBatched(module), cin
        return module, cin

    monkeypatch.setattr(measure, "build_key", build_key)


def test_a_candidate_failing_while_timed_is_reported_and_the_search_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_builder(monkeypatch, "igc1-L4M2-c8k3")
    result = run("search", "-c", "8", "--family", "conv,igc1", "--balance-tol", "inf", "--batch", "2", *FAST,
                 "--format", "json", "--out", str(tmp_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    rows = json.loads(result.stdout)
    assert [r["key"] for r in rows][-1] == "igc1-L4M2-c8k3"  # failures rank last
    bad = rows[-1]
    assert bad["error"] == "RuntimeError: out of memory at this batch (simulated)"
    assert bad["count_ok"] is True  # counted at batch 1 before the timed batch failed
    assert bad["latency_ms"] is None and bad["pareto"] is False and bad["latency_rounds"] == 0
    good = rows[:-1]
    assert len(good) == 3 and all(r["error"] == "" and r["latency_ms"] > 0 for r in good)
    for name in ("results.csv", "results.md", "results.json"):
        assert (tmp_path / name).is_file()
    assert "1 candidate(s) failed" in result.stderr
    # the failure is stored: a rerun measures nothing again and reports the same error
    again = run("search", "-c", "8", "--family", "conv,igc1", "--balance-tol", "inf", "--batch", "2", *FAST,
                "--format", "json", "--out", str(tmp_path))  # fmt: skip
    assert "counted 0 candidates, timed 0 latency samples; 4 candidates' counts and 6 samples taken" in again.stderr
    assert json.loads(again.stdout)[-1]["error"] == bad["error"]


def test_a_candidate_failing_to_build_is_not_called_a_count_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_builder(monkeypatch, "igc1-L2M4-c8k3", at_build=True)
    result = run("search", "-c", "8", "--family", "conv,igc1", "--balance-tol", "inf", "--no-latency",
                 "--sort", "params", "--out", str(tmp_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "MISMATCH" not in result.output
    assert "counts verified against fvcore: 3 of 3 exact; 1 candidate(s) failed" in result.output
    rows = json.loads((tmp_path / "results.json").read_text())
    assert rows[-1]["key"] == "igc1-L2M4-c8k3" and rows[-1]["count_ok"] is None
    assert rows[-1]["error"] == "ValueError: cannot build (simulated)"


def test_channels_last_counts_the_variant_that_is_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    """IGC-V1 L4M4 runs bcast in NCHW and matmul in channels_last: fvcore must trace the timed one."""
    import torch

    import igcsearch.interleave as interleave
    from igcsearch.measure import MeasureOptions, measure_counts

    assert interleave.auto_variant(4, 4, False) == "bcast" and interleave.auto_variant(4, 4, True) == "matmul"
    calls: list[str] = []
    for name in ("bcast", "matmul"):
        real = interleave.MIX[name]
        monkeypatch.setitem(interleave.MIX, name, lambda y, w, cl, _n=name, _f=real: calls.append(_n) or _f(y, w, cl))
    for channels_last, variant in ((False, "bcast"), (True, "matmul")):
        calls.clear()
        opts = MeasureOptions(channels_last=channels_last)
        (_, x), counted = measure_counts("igc1-L4M4-c16k3", 8, opts, True)
        assert set(calls) == {variant}  # the count traced the timed code path
        assert counted == (9 * 4 * 16 + 16 * 4 + 32, 64 * (9 * 4 * 16 + 16 * 4))
        assert x.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_stdout_markdown_has_the_results_header(tmp_path: Path) -> None:
    result = run("search", "-c", "8", "--family", "igc1", "--balance-tol", "inf", "--no-latency", "--format", "md",
                 "--out", str(tmp_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("# igcsearch search: custom")
    assert "Spec: C=8" in text and "Convention: params = weights" in text and "Environment: device=cpu" in text
    assert "IGC implementation auto" in text
    assert text.count("| igc1-") == 3


def test_empty_search_says_so_and_prints_an_empty_json_list(tmp_path: Path) -> None:
    result = run("search", "-c", "7", "--family", "igc1", "--balance-tol", "1.0", "--format", "json",
                 "--out", str(tmp_path / "r"))  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "meets balance <= 1" in result.stderr and "no files written" in result.stderr
    assert not (tmp_path / "r").exists()


def test_bad_backend_fails_before_the_progress_bar(tmp_path: Path) -> None:
    result = run("search", "-c", "8", "--family", "conv", "--backend", "slurm", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --backend must be local or ray, got 'slurm'"


def test_default_preset_is_found_whatever_the_current_directory_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from igcsearch.spec import load_preset

    (tmp_path / "default").mkdir()  # e.g. ./igcsearch-results/default from an earlier run
    monkeypatch.chdir(tmp_path)
    assert load_preset("default")["name"] == "default"
    (tmp_path / "mine.toml").write_text('name = "mine"\nchannels = 8\n')
    assert load_preset("mine.toml")["channels"] == 8
    result = run("space", "--preset", "./default")
    assert result.exit_code == 1 and "is a directory" in result.output


def test_python_api_frame_matches_the_results_files(tmp_path: Path) -> None:
    import pandas as pd

    df = igcsearch.search(channels=8, family="conv,igc1", balance_tol="inf",
                          measure={"rounds": 2, "min_time": 0.001, "impl": "naive"}, out=str(tmp_path))  # fmt: skip
    assert list(df.columns) == list(RESULT_FIELDS)
    assert df["count_ok"].dtype == "boolean" and df["pareto"].dtype == "boolean"
    assert df["threads"].tolist() == [1] * 4 and df["batch"].tolist() == [1] * 4
    assert set(df["impl"]) == {"naive"}
    saved = pd.read_csv(tmp_path / "results.csv")
    assert list(saved.columns) == list(df.columns) and saved["key"].tolist() == df["key"].tolist()
    empty = igcsearch.search(channels=7, family="igc1", balance_tol=1.0, measure={"latency": False})
    assert empty.empty and list(empty.columns) == list(RESULT_FIELDS)
    with pytest.raises(igcsearch.errors.SpecError, match="unknown measure option"):
        igcsearch.search(channels=8, family="conv", measure={"turbo": True})


def test_show_validates_options_and_prints_formulas() -> None:
    for args, message in (
        (["--input-size", "abc"], "--input-size must be an integer"),
        (["--input-size", "0"], "--input-size must be >= 1"),
        (["--impl", "bogus"], "--impl must be auto, fused or naive"),
    ):
        result = run("show", "igc1-L16M4-c64k3", *args)
        assert result.exit_code == 1, args
        assert message in result.output and "Traceback" not in result.output
        assert "per-layer cost" not in result.output  # nothing printed before the error
    text = run("show", "lego-o2m32-c64k3").output
    assert "3²·(64/2)·32" in text  # Lego filters: k²·(c/o)·m = 9216
    assert "9,216" in text and "2·64" in text
    assert "lego filters: 32 x 32 x 3x3" in text and "gathers o=2 maps" in text  # the module print shows them


def test_pareto_front_is_over_dense_rows_unless_pareto_all(tmp_path: Path) -> None:
    """A depthwise conv (group g = C, not dense) is ranked but off the front; --pareto-all puts it back."""
    args = ["-c", "8", "--family", "conv,group,dwsep,igc1", "--budget", "conv", "--no-latency"]
    runs = {}
    for flag in ((), ("--pareto-all",)):
        out = tmp_path / ("all" if flag else "dense")
        result = CliRunner().invoke(app, ["search", *args, *flag, "--format", "json", "--out", str(out)])
        assert result.exit_code == 0, result.output
        runs[bool(flag)] = {r["key"]: r for r in json.loads((out / "results.json").read_text())}
    dense, every = runs[False], runs[True]
    assert [r["rank"] for r in dense.values()] == list(range(1, len(dense) + 1))
    assert {k: r["rank"] for k, r in dense.items()} == {k: r["rank"] for k, r in every.items()}  # rank order kept
    assert dense["group-g8-c8k3"]["dense"] is False and dense["group-g8-c8k3"]["pareto"] is False
    assert every["group-g8-c8k3"]["pareto"] is True  # fewest params and MACs of all
    assert all(r["dense"] for r in dense.values() if r["pareto"]) and any(r["pareto"] for r in dense.values())
    assert all(r["dense"] is (r["family"] != "group") for r in dense.values())
    frame = igcsearch.search(channels="8", family="conv,group,dwsep,igc1", budget="conv", pareto_all=True,
                             measure={"latency": False}, store=str(tmp_path / "all" / "results.sqlite"))  # fmt: skip
    assert bool(frame.set_index("key").loc["group-g8-c8k3", "pareto"])
    table = CliRunner().invoke(app, ["search", *args, "--out", str(tmp_path / "t")])
    assert "group-g8-c8k3 †" in table.output and "†: not dense" in table.output
