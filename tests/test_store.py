"""Results store: resume after SIGKILL/SIGINT, reuse, schema migration, merge, reports, plots, Ray."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from igcsearch.store import _V1, SCHEMA_VERSION, Store

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
    match = re.search(r"measured (\d+) candidates", stderr)
    assert match, stderr
    return int(match.group(1))


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
    assert measured_line(again.stderr) == total - before  # only what was missing
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
    assert measured_line(more.stderr) == 0  # counts reused; only the second round is timed
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
        assert store.version == SCHEMA_VERSION == 2
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
    from igcsearch import load_results

    df = load_results(a / "results.sqlite")
    assert sorted(set(df["run"])) == [1, 2]
    assert set(df[df["run"] == 2]["key"]) == {"conv-c12k3", "igc1-L2M6-c12k3", "igc1-L3M4-c12k3",
                                              "igc1-L4M3-c12k3", "igc1-L6M2-c12k3", "igc1-L12M1-c12k3"}  # fmt: skip
    assert len(load_results(a)) == 4


def test_plot_is_written_and_linked(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    result = cli("search", "-c", "16", "--family", "conv,igc1,dwsep", "--rounds", "1", "--min-time", "0.001", "--plot",
                 "--out", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    image = matplotlib.image.imread(tmp_path / "tradeoff.png")
    assert image.shape[:2] == (572, 1430)  # 13 x 5.2 inches at 110 dpi
    assert (tmp_path / "tradeoff.svg").read_text().lstrip().startswith("<?xml")
    assert (
        "![MACs vs latency and params vs MACs, Pareto front in red](tradeoff.png)"
        in (tmp_path / "results.md").read_text()
    )


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
    assert all(r["latency_ms"] > 0 for r in json.loads(ray.stdout))


def _reject(name: str) -> None:
    raise AssertionError(f"non-standard JSON constant {name}")


def test_infinite_balance_tol_is_standard_json_everywhere(tmp_path: Path, cli: Any) -> None:
    import math

    from igcsearch.export import find_spec

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
