"""Results store: resume after SIGKILL/SIGINT, reuse, schema migration, merge, reports, plots, Ray."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from igcsearch.store import _V1, STORE_SCHEMA_VERSION, Store

SEARCH = ["-c", "32", "--family", "lego", "--rounds", "2", "--min-time", "0.002", "--warmup", "1"]


def cli(*args: str, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "igcsearch", *args], capture_output=True, text=True, timeout=300, **kw)


def stored(db: Path, table: str = "measurements") -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def measured_line(stderr: str) -> int:
    """How many candidates this call counted (the summary line)."""
    return summary(stderr)[0]


def summary(stderr: str) -> tuple[int, ...]:
    """(counted, timed samples, counts from the store, samples from the store) of the summary line."""
    line = r"counted (\d+) candidates, timed (\d+) latency samples; (\d+) candidates' counts and (\d+) samples taken"
    match = re.search(line, stderr)
    assert match, stderr
    return tuple(int(g) for g in match.groups())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("reference")
    result = cli("search", *SEARCH, "--out", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads((out / "results.json").read_text())


def _interrupt(out: Path, sig: int, after: int) -> int:
    # default SIGINT handling in the child even when pytest runs in the background (where SIGINT is ignored)
    proc = subprocess.Popen([sys.executable, "-m", "igcsearch", "search", *SEARCH, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    db = out / "results.sqlite"
    deadline = time.time() + 120
    while stored(db) < after and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_interrupted_search_resumes_without_remeasuring(tmp_path: Path, reference: list[dict], sig: int) -> None:
    total = len(reference)
    code = _interrupt(tmp_path, sig, after=5)
    before = stored(tmp_path / "results.sqlite")
    samples = stored(tmp_path / "results.sqlite", "samples")
    # stopped part-way: while counting (some counts stored) or while timing (some samples missing)
    assert 0 < before <= total and (before < total or samples < 2 * total), (before, samples, total)
    if sig == signal.SIGINT:
        assert code == 130  # Ctrl-C stops cleanly and keeps the files of what finished
        partial = json.loads((tmp_path / "results.json").read_text())
        assert {r["key"] for r in partial} == {r["key"] for r in reference}
    else:
        assert code == -signal.SIGKILL
    again = cli("search", *SEARCH, "--out", str(tmp_path), "--format", "json")
    assert again.returncode == 0, again.stderr
    # only what was missing, candidates and latency samples apart
    assert summary(again.stderr) == (total - before, 2 * total - samples, before, samples)
    rows = json.loads((tmp_path / "results.json").read_text())
    key = lambda r: r["key"]  # noqa: E731
    fields = ("key", "params", "macs", "params_measured", "macs_measured", "count_ok")
    assert [tuple(r[f] for f in fields) for r in sorted(rows, key=key)] == [
        tuple(r[f] for f in fields) for r in sorted(reference, key=key)
    ]
    assert all(r["latency_ms"] is not None for r in rows)
    with sqlite3.connect(tmp_path / "results.sqlite") as con:
        dupes = con.execute("SELECT key, COUNT(*) c FROM measurements GROUP BY key HAVING c > 1").fetchall()
        assert dupes == []
        assert con.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == total
        assert con.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == total * 2
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


def test_rerun_reuses_and_fresh_remeasures(tmp_path: Path) -> None:
    args = ["search", "-c", "8", "--family", "conv,igc1", "--balance-tol", "inf", "--rounds", "1", "--min-time", "0.001",
            "--out", str(tmp_path)]  # fmt: skip
    first, second, third = cli(*args), cli(*args), cli(*args, "--fresh")
    assert [measured_line(r.stderr) for r in (first, second, third)] == [4, 0, 4]
    more = cli(*args[:-4], "--rounds", "2", "--min-time", "0.001", "--out", str(tmp_path))
    assert summary(more.stderr) == (0, 4, 4, 4)  # counts reused; only the second round is timed
    assert stored(tmp_path / "results.sqlite", "samples") == 8


def test_schema_migrates_from_version_1(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(_V1)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute(
        "INSERT INTO measurements (key, input_size, settings_hash, env_hash, settings, env, params_measured, "
        "macs_measured, count_ok, peak_mem_bytes, latency_ms, error, created) "
        "VALUES ('conv-c8k3', 32, 's', 'e', '{}', '{}', 592, 589824, 1, 100, 0.5, '', 0)"
    )
    con.commit()
    con.close()
    with Store(path) as store:
        assert store.version == STORE_SCHEMA_VERSION == 2
        assert store.counts("s", "e")[("conv-c8k3", 32)]["params_measured"] == 592
        store.put_sample("conv-c8k3", 32, "s", "e", 0, 0.5)
        assert store.samples("s", "e") == {("conv-c8k3", 32): {0: 0.5}}
        run = store.begin_run("x", {"a": 1}, {}, {})
        assert store.begin_run("x", {"a": 1}, {}, {}) == run  # same identity: resumed


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    result = cli("runs", "list", "--store", str(path))
    assert result.returncode == 1
    assert "schema 99, newer" in result.stderr and "Traceback" not in result.stderr


def test_runs_list_show_report_merge_and_load_results(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    base = ["search", "--family", "conv,igc1", "--balance-tol", "inf", "--rounds", "1", "--min-time", "0.001"]
    assert cli(*base, "-c", "8", "--out", str(a)).returncode == 0
    assert cli(*base, "-c", "12", "--out", str(b)).returncode == 0
    listing = cli("runs", "list", "--store", str(a / "results.sqlite"))
    assert listing.returncode == 0 and "done" in listing.stdout
    assert "C=8; k=3; stride 1; input 32x32;" in listing.stdout and "C=12;" not in listing.stdout
    shown = json.loads(cli("runs", "show", "1", "--store", str(a / "results.sqlite")).stdout)
    assert shown["spec"]["channels"] == [8] and shown["settings"]["threads"] == 1
    (a / "results.json").unlink()
    rebuilt = cli("runs", "report", "1", "--store", str(a / "results.sqlite"))
    assert rebuilt.returncode == 0, rebuilt.stderr
    rows = json.loads((a / "results.json").read_text())
    assert {r["key"] for r in rows} == {"conv-c8k3", "igc1-L2M4-c8k3", "igc1-L4M2-c8k3", "igc1-L8M1-c8k3"}
    assert all(r["count_ok"] and r["latency_ms"] is not None for r in rows)
    merged = cli("runs", "merge", str(b / "results.sqlite"), "--store", str(a / "results.sqlite"))
    assert merged.returncode == 0, merged.stderr
    with Store(a / "results.sqlite") as store:
        assert [r["spec"]["channels"] for r in store.runs()] == [[8], [12]]
    import torch

    listing = json.loads(cli("runs", "list", "--store", str(a / "results.sqlite"), "--format", "json").stdout)
    assert [(r["id"], r["spec"].split(";")[0], r["torch_version"], r["backend"]) for r in listing] == [
        (1, "C=8", torch.__version__, "local"),
        (2, "C=12", torch.__version__, "local"),
    ]
    from igcsearch import load_results

    df = load_results(a / "results.sqlite")
    assert sorted(set(df["run"])) == [1, 2]
    assert set(df[df["run"] == 2]["key"]) == {"conv-c12k3", "igc1-L2M6-c12k3", "igc1-L3M4-c12k3",
                                              "igc1-L4M3-c12k3", "igc1-L6M2-c12k3", "igc1-L12M1-c12k3"}  # fmt: skip
    assert len(load_results(a)) == 4


def test_runs_list_formats_match_the_store_and_the_table_reads_at_80_columns(tmp_path: Path) -> None:
    import csv
    import io

    from igcsearch.cli.runs import RUN_FIELDS, run_record

    base = ["search", "--family", "conv,igc1", "--balance-tol", "inf", "--rounds", "1", "--min-time", "0.001"]
    assert cli(*base, "-c", "8", "--out", str(tmp_path)).returncode == 0
    db = tmp_path / "results.sqlite"
    with Store(db, readonly=True) as store:
        runs = store.runs()
    expected = [run_record(r) for r in runs]
    assert [r["id"] for r in expected] == [r["id"] for r in runs] and expected[0]["candidates"] == 4
    assert list(expected[0]) == list(RUN_FIELDS)
    assert expected[0]["started"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(runs[0]["started"]))

    out = cli("runs", "list", "--store", str(db), "--format", "json")
    assert out.returncode == 0 and out.stderr == ""
    assert json.loads(out.stdout) == expected
    out = cli("runs", "list", "--store", str(db), "--format", "csv")
    assert out.returncode == 0 and out.stderr == ""
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == list(RUN_FIELDS)
    assert rows == [{k: "" if v is None else str(v) for k, v in r.items()} for r in expected]
    md = cli("runs", "list", "--store", str(db), "--format", "md").stdout
    assert md.splitlines()[0].split("|")[1].strip() == "id" and "| custom " in md

    table = cli("runs", "list", "--store", str(db), env={**os.environ, "COLUMNS": "80"}).stdout
    assert max(len(line) for line in table.splitlines()) <= 80
    cells = {c.strip() for line in table.splitlines() for c in line.split("│")}
    assert {str(r["id"]) for r in runs} | {str(r["candidates"]) for r in runs} <= cells  # numbers whole
    assert time.strftime("%Y-%m-%d %H:%M", time.localtime(runs[0]["started"])) in table
    assert f"run 1: {expected[0]['spec']}" in table.replace("\n", " ")


def test_plot_is_written_and_linked(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    from igcsearch.plots import ALT_TEXT

    result = cli("search", "-c", "16", "--family", "conv,igc1,dwsep", "--rounds", "1", "--min-time", "0.001", "--plot",
                 "--out", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    image = matplotlib.image.imread(tmp_path / "tradeoff.png")
    assert image.shape[:2] == (616, 1430)  # 13 x 5.6 inches at 110 dpi: two panels
    svg = (tmp_path / "tradeoff.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Pareto front over params, MACs, latency (ringed)" in svg
    assert f"![{ALT_TEXT}](tradeoff.png)" in (tmp_path / "results.md").read_text()
    assert "black dashed" in ALT_TEXT and "red" not in ALT_TEXT
    assert f"wrote {tmp_path}/results.csv, results.md, results.json, configs/, tradeoff.png, tradeoff.svg\n" in (
        result.stderr
    )


def test_plot_without_latency_is_one_panel(tmp_path: Path, cli: Any) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    from igcsearch.plots import ALT_TEXT_COUNTS

    res = cli("search", "-c", "16", "--family", "igc1,dwsep,lego", "--no-latency", "--plot", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert matplotlib.image.imread(tmp_path / "tradeoff.png").shape[:2] == (616, 715)  # 6.5 x 5.6 inches
    svg = (tmp_path / "tradeoff.svg").read_text()
    assert "Pareto front (params vs MACs)" in svg and "latency" not in svg
    assert f"![{ALT_TEXT_COUNTS}](tradeoff.png)" in (tmp_path / "results.md").read_text()


def _plot_rows(n: int, latency: bool) -> dict:
    """n rows crowded onto a few points (labels would pile up), every family."""
    import numpy as np

    families = np.array(["conv", "group", "dwsep", "igc1", "igc2", "igc3", "lego"], dtype=object)
    i = np.arange(n)
    return {
        "key": np.array([f"lego-o1m{k}-c32k3" for k in i], dtype=object),
        "family": families[i % 7],
        "params": 1000.0 + (i // 3),  # three rows on each point
        "macs": 3.0e5 + 1e3 * (i // 3),
        "latency_ms": 0.4 + 0.001 * (i // 3) if latency else np.full(n, np.nan),
        "pareto": (i < 4).astype(np.int8),
        "error": np.full(n, "", dtype=object),
    }


@pytest.mark.parametrize("latency", [True, False], ids=["latency", "counts"])
def test_plot_labels_ticks_and_front_never_collide(latency: bool) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba
    from matplotlib.ticker import NullFormatter

    from igcsearch.plots import COLORS, draw

    fig = draw(_plot_rows(12, latency), "t", label_top=5)
    try:
        renderer = fig.canvas.get_renderer()
        assert len(fig.axes) == (2 if latency else 1)
        for ax in fig.axes:
            labels = [t for t in ax.texts if t.get_text().startswith("lego-")]
            boxes = [t.get_window_extent(renderer) for t in labels]
            assert 1 <= len(boxes) <= 5
            assert not any(a.overlaps(b) for j, a in enumerate(boxes) for b in boxes[j + 1 :])  # no pile-up
            for axis in (ax.xaxis, ax.yaxis):
                assert isinstance(axis.get_minor_formatter(), NullFormatter)
                ticks = [t.label1 for t in axis.get_major_ticks() if t.label1.get_visible() and t.label1.get_text()]
                tick_boxes = [t.get_window_extent(renderer) for t in ticks]
                assert len(tick_boxes) >= 2
                assert not any(a.overlaps(b) for j, a in enumerate(tick_boxes) for b in tick_boxes[j + 1 :])
            front = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
            assert len(front) == 1 and to_rgba(front[0].get_color()) == to_rgba("black")
        assert to_rgba("black") not in {to_rgba(c) for c in COLORS.values()}  # no family looks like the front
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert legend[:7] == ["conv", "group", "dwsep", "igc1", "igc2", "igc3", "lego"]
        if latency:
            assert legend[7:] == [
                "Pareto front of each panel (2-D)",
                "Pareto front over params, MACs, latency (ringed)",
            ]
        else:
            assert legend[7:] == ["Pareto front (params vs MACs)"]
    finally:
        plt.close(fig)


def test_plot_without_matplotlib_fails_before_measuring(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    res = cli("search", "-c", "8", "--family", "conv", "--no-latency", "--plot", "--out", tmp_path / "r")
    assert res.exit_code == 1
    assert res.stderr == "error: --plot needs matplotlib: pip install 'igcsearch[plot]'\n"
    assert not (tmp_path / "r").exists()  # nothing measured, no store


def test_a_failing_plot_keeps_the_results_files(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from igcsearch import plots

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no display (simulated)")

    monkeypatch.setattr(plots, "plot_results", boom)
    res = cli("search", "-c", "8", "--family", "conv,igc1", "--no-latency", "--plot", "--out", tmp_path)
    assert res.exit_code == 1
    assert res.stderr.endswith(
        "error: the plot failed (RuntimeError: no display (simulated)); results.csv, results.md, results.json and "
        f"configs/ are written in {str(tmp_path)!r}\n"
    )
    assert "Traceback" not in res.output
    assert [r["key"] for r in json.loads((tmp_path / "results.json").read_text())] == ["igc1-L8M1-c8k3", "conv-c8k3"]
    for name in ("results.csv", "results.md", "configs/conv-c8k3.json"):
        assert (tmp_path / name).is_file()


def test_address_without_ray_backend_is_an_error(tmp_path: Path, cli: Any) -> None:
    res = cli("search", "-c", "8", "--family", "conv", "--address", "10.0.0.1:6379", "--out", tmp_path / "r")
    assert res.exit_code == 1
    assert res.stderr == (
        "error: --address '10.0.0.1:6379' is a Ray cluster address: add --backend ray, or drop --address\n"
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_ray_backend_gives_the_local_rows(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    args = [
        "search",
        "-c",
        "8",
        "--family",
        "conv,igc1,dwsep",
        "--rounds",
        "2",
        "--min-time",
        "0.001",
        "--format",
        "json",
    ]
    local = cli(*args, "--out", str(tmp_path / "local"))
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    ray = cli(*args, "--backend", "ray", "--out", str(tmp_path / "ray"), env=env)
    assert local.returncode == 0, local.stderr
    assert ray.returncode == 0, ray.stderr
    fields = ("key", "params", "macs", "params_measured", "macs_measured", "count_ok")
    pick = lambda out: sorted(tuple(r[f] for f in fields) for r in json.loads(out))  # noqa: E731
    assert pick(ray.stdout) == pick(local.stdout)
    assert all(r["latency_ms"] > 0 and r["backend"] == "ray" for r in json.loads(ray.stdout))
    assert {r["backend"] for r in json.loads(local.stdout)} == {"local"}
    assert "per candidate on its Ray worker, not interleaved" in (tmp_path / "ray" / "results.md").read_text()
    # the same search locally into the Ray results: Ray's measurements are not reused, and it is another run
    again = cli(*args, "--out", str(tmp_path / "ray"))
    assert again.returncode == 0, again.stderr
    n = len(json.loads(local.stdout))
    assert summary(again.stderr) == (n, 2 * n, 0, 0)
    with Store(tmp_path / "ray" / "results.sqlite") as store:
        assert [r["settings"].get("backend", "local") for r in store.runs()] == ["ray", "local"]


@pytest.mark.slow
def test_ray_refuses_more_threads_than_any_node_has(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    args = ["search", "-c", "8", "--family", "dwsep", "--rounds", "1", "--threads", "4096", "--backend", "ray"]
    res = cli(*args, "--out", str(tmp_path), env=env)  # used to wait forever for a node with 4096 CPUs
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --threads 4096 on Ray: no Ray node has 4096 CPUs (the largest of 1 has ")
    assert "Traceback" not in res.stderr and "measure on Ray" not in res.stderr  # no progress bar before the check


def _reject(name: str) -> None:
    raise AssertionError(f"non-standard JSON constant {name}")


def test_infinite_balance_tol_is_standard_json_everywhere(tmp_path: Path, cli: Any) -> None:
    import math

    from igcsearch.handoff.export import find_spec

    out = tmp_path / "res"
    res = cli("search", "-c", "8", "--family", "conv,igc1", "--balance-tol", "inf", "--no-latency", "--out", out)
    assert res.exit_code == 0, res.output
    assert cli("export", out, "--keys", "conv-c8k3,igc1-L2M4-c8k3", "--out", tmp_path / "cfg").exit_code == 0
    shown = cli("runs", "show", "1", "--store", out / "results.sqlite")
    assert shown.exit_code == 0, shown.output
    texts = [shown.stdout, (out / "results.json").read_text()]
    texts += [p.read_text() for p in [*(out / "configs").iterdir(), *(tmp_path / "cfg").iterdir()]]
    assert len(texts) == 2 + 4 + 2
    for text in texts:
        json.loads(text, parse_constant=_reject)
    assert json.loads(shown.stdout)["spec"]["balance_tol"] == "inf"
    record = json.loads((tmp_path / "cfg" / "igc1-L2M4-c8k3.json").read_text())
    assert record["spec"]["balance_tol"] == "inf"
    assert find_spec(out, "igc1-L2M4-c8k3").balance_tol == math.inf  # read back as a number
    (out / "results.json").unlink()
    rebuilt = cli("runs", "report", "1", "--store", out / "results.sqlite")
    assert rebuilt.exit_code == 0, rebuilt.output
    keys = {r["key"] for r in json.loads((out / "results.json").read_text())}
    assert keys == {"conv-c8k3", "igc1-L2M4-c8k3", "igc1-L4M2-c8k3", "igc1-L8M1-c8k3"}


def test_unreachable_ray_address_fails_at_once(tmp_path: Path, cli: Any) -> None:
    import importlib.util
    import socket

    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed")
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = cli("search", "-c", "8", "--family", "conv", "--backend", "ray", "--address", f"127.0.0.1:{port}",
              "--out", tmp_path / "r")  # fmt: skip
    assert res.exit_code == 1
    assert res.stderr == (
        f"error: cannot reach Ray at 127.0.0.1:{port}: Connection refused; start the head with `ray start --head` "
        "or fix --address\n"
    )


def test_check_reachable_and_check_resources() -> None:
    from igcsearch.errors import IgcSearchError
    from igcsearch.ray_backend import check_reachable, check_resources

    check_reachable("auto")  # resolved by Ray itself: nothing to check
    with socket_server(GRPC_REPLY) as port:
        check_reachable(f"127.0.0.1:{port}")  # a gRPC server answers: fine
        check_reachable(f"ray://localhost:{port}")
    with socket_server(None) as port:  # accepts, never answers (ray.init would wait ~24 s): refused in time
        start = time.monotonic()
        with pytest.raises(IgcSearchError, match=rf"cannot reach Ray at 127.0.0.1:{port}: no Ray server answered"):
            check_reachable(f"127.0.0.1:{port}", timeout=0.5)
        assert time.monotonic() - start < 5
    with (
        socket_server(PROXY_404) as port,
        pytest.raises(IgcSearchError, match=r"it answers HTTP 404: not a Ray server"),
    ):
        check_reachable(f"localhost:{port}", timeout=2)
    with pytest.raises(IgcSearchError, match=r"port 99999 is out of range"):
        check_reachable("127.0.0.1:99999")
    nodes = [
        {"Alive": True, "Resources": {"CPU": 2.0}},
        {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},  # a dead node counts for nothing
        {"Alive": True, "Resources": {"CPU": 4.0}},
    ]
    check_resources(nodes, "cpu", 4)
    with pytest.raises(IgcSearchError, match=r"--threads 5 on Ray: no Ray node has 5 CPUs \(the largest of 2 has 4\)"):
        check_resources(nodes, "cpu", 5)
    with pytest.raises(IgcSearchError, match="--device cuda on Ray: none of the 2 Ray node"):
        check_resources(nodes, "cuda", 1)
    check_resources([*nodes, {"Alive": True, "Resources": {"CPU": 1.0, "GPU": 1.0}}], "cuda", 1)


GRPC_REPLY = (
    b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + b"\x00\x00\x01\x01\x04\x00\x00\x00\x01\x88"
)  # SETTINGS, :status 200
PROXY_404 = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + b"\x00\x00\x01\x01\x04\x00\x00\x00\x01\x8d"  # :status 404


@contextlib.contextmanager
def socket_server(reply: bytes | None = None) -> Iterator[int]:
    """A localhost port that accepts connections and sends ``reply`` to each (None: says nothing)."""
    import socket
    import threading

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        held = []

        def serve() -> None:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                held.append(conn)
                if reply is not None:
                    with contextlib.suppress(OSError):
                        conn.recv(65536)
                        conn.sendall(reply)

        threading.Thread(target=serve, daemon=True).start()
        try:
            yield sock.getsockname()[1]
        finally:
            for conn in held:
                conn.close()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _fake_ray(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ray's backend without Ray: every job runs ray_backend.measure_one in this process."""
    import dataclasses

    from igcsearch import ray_backend

    calls: list[str] = []

    def run(jobs: list, opts: Any, address: Any, on_result: Any) -> None:
        for key, size, with_counts, acts in jobs:
            calls.append(key)
            on_result(ray_backend.measure_one(key, size, dataclasses.asdict(opts), with_counts, acts))

    monkeypatch.setattr(ray_backend, "connect", lambda address, opts: None)
    monkeypatch.setattr(ray_backend, "run", run)
    return calls


def test_the_backend_is_part_of_the_measurement_settings(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_ray(monkeypatch)
    args = ["search", "-c", "8", "--family", "conv,igc1", "--rounds", "2", "--min-time", "0.001", "--format", "json",
            "--out", tmp_path]  # fmt: skip
    on_ray = cli(*args, "--backend", "ray")
    assert on_ray.exit_code == 0, on_ray.output
    assert sorted(calls) == ["conv-c8k3", "igc1-L8M1-c8k3"]
    assert {r["backend"] for r in json.loads(on_ray.stdout)} == {"ray"}
    assert summary(on_ray.stderr) == (2, 4, 0, 0)
    md = (tmp_path / "results.md").read_text()
    assert "2 rounds of Timer.timeit (about 1 ms each) per candidate on its Ray worker, not interleaved" in md
    local = cli(*args)  # same spec, same --out: the Ray samples are not reused
    assert local.exit_code == 0, local.output
    assert summary(local.stderr) == (2, 4, 0, 0)
    assert {r["backend"] for r in json.loads(local.stdout)} == {"local"}
    assert "2 interleaved rounds of Timer.timeit" in (tmp_path / "results.md").read_text()
    again = cli(*args, "--backend", "ray")
    assert summary(again.stderr) == (0, 0, 2, 4) and len(calls) == 2  # Ray reuses Ray's own
    with Store(tmp_path / "results.sqlite") as store:
        runs = store.runs()
    assert [(r["id"], r["settings"].get("backend", "local")) for r in runs] == [(1, "ray"), (2, "local")]


def test_measure_one_times_on_exactly_its_threads_cores() -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no sched_setaffinity here: Ray's CPU reservation only")
    from igcsearch.ray_backend import measure_one

    before = os.sched_getaffinity(0)
    opts = {"threads": 1, "rounds": 1, "min_time": 0.001, "warmup": 1}
    out = measure_one("conv-c8k3", 8, opts, True, 8 * 8 * 8)
    assert out["error"] == "" and len(out["samples"]) == 1
    assert (out["params_measured"], out["macs_measured"]) == (592, 8 * 8 * 72 * 8)
    assert len(out["cores"]) == 1 and set(out["cores"]) <= before
    assert os.sched_getaffinity(0) == before  # restored after the measurement


HOLDER = """
import os, sys, time
from pathlib import Path
from igcsearch.ray_backend import cpu_slot

locks, tag = Path(sys.argv[1]), sys.argv[2]
with cpu_slot(1, locks) as cores:
    pinned = sorted(os.sched_getaffinity(0))
    (locks / f"{tag}.tmp").write_text(f"{cores} {pinned}")
    (locks / f"{tag}.tmp").rename(locks / f"{tag}.held")
    while not (locks / "release").exists():
        time.sleep(0.01)
print(sorted(os.sched_getaffinity(0)))
"""


def test_two_concurrent_cpu_slots_get_disjoint_cores(tmp_path: Path) -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no sched_setaffinity here: Ray's CPU reservation only")
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores")
    procs = [
        subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), tag], stdout=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    try:
        deadline = time.time() + 120  # a guard against a hang, not a timing check
        while not all((tmp_path / f"{t}.held").exists() for t in "ab") and time.time() < deadline:
            time.sleep(0.01)
        held = [(tmp_path / f"{t}.held").read_text() for t in "ab"]  # both hold a slot at the same time
    finally:
        (tmp_path / "release").touch()
        outs = [p.communicate(timeout=60)[0] for p in procs]
    got = [tuple(json.loads(part) for part in text.split(" ", 1)) for text in held]
    assert all(slot == pinned and len(slot) == 1 for slot, pinned in got)  # pinned to exactly its one core
    assert got[0][0] != got[1][0] and {got[0][0][0], got[1][0][0]} <= set(cores)  # disjoint
    assert [json.loads(o) for o in outs] == [cores, cores]  # the affinity is restored after
    assert all(p.returncode == 0 for p in procs)
