"""Bad-input corpus: the search pipeline, the SQLite store, `runs`, measurement options, Ray (see tests/badinput.py).

Single commands are :class:`Case` rows, grouped by category; what needs more than one
command (two searches at once, signals, a closed or full stdout, read-only files, the
Python API) is a plain test below them.
"""

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

import pytest
from badinput import Case, cases_by_id, check, error_line, snapshot

from igcsearch.errors import IgcSearchError, SpecError
from igcsearch.store import _V1, Store

FAST = ("--rounds", "2", "--min-time", "0.001", "--warmup", "1")
TINY = ("search", "-c", "8", "--family", "conv", "--no-latency")


# ---------------------------------------------------------------- stores made by hand (no torch, fast)


def make_store(path: Path, version: int = 2, runs: int = 1) -> Path:
    """A small store of the given schema version: runs, candidates, measurements (and samples for v2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if version == 2:
        with Store(path) as store:
            for r in range(runs):
                run = store.begin_run(f"run{r}", {"channels": [8 + r]}, {"min_time": 0.001}, {"device": "cpu"})
                store.add_candidates(run, [(f"conv-c{8 + r}k3", 32, "conv", "{}", 592, 589824, 8192)])
                values = {"params_measured": 592, "macs_measured": 589824, "count_ok": 1, "peak_mem_bytes": 100,
                          "error": ""}  # fmt: skip
                store.put_counts(f"conv-c{8 + r}k3", 32, "s", "e", {}, {}, values)
                store.put_sample(f"conv-c{8 + r}k3", 32, "s", "e", 0, 0.5)
        return path
    con = sqlite3.connect(path)
    con.executescript(_V1)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for r in range(runs):
        con.execute(
            "INSERT INTO runs (name, spec, settings, env, started, ended, status) VALUES (?, ?, ?, ?, ?, ?, 'done')",
            (f"old{r}", json.dumps({"channels": [8 + r]}), "{}", json.dumps({"device": "cpu"}), 1000.0 + r, 1001.0),
        )
        con.execute("INSERT INTO candidates VALUES (?, 32, 'conv', '{}', 592, 589824, 8192)", (f"conv-c{8 + r}k3",))
        con.execute("INSERT INTO run_candidates VALUES (?, ?, 32)", (r + 1, f"conv-c{8 + r}k3"))
        con.execute(
            "INSERT INTO measurements (key, input_size, settings_hash, env_hash, settings, env, params_measured, "
            "macs_measured, count_ok, peak_mem_bytes, latency_ms, error, created) "
            "VALUES (?, 32, 's', 'e', '{}', '{}', 592, 589824, 1, 100, 0.5, '', 0)",
            (f"conv-c{8 + r}k3",),
        )
    con.commit()
    con.close()
    return path


def _sql(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()


def store_with(name: str, *statements: str, version: int = 2) -> object:
    """A setup: a store named ``name`` in the working directory, then the SQL statements run on it."""

    def setup(work: Path) -> None:
        make_store(work / name, version)
        if statements:
            _sql(work / name, *statements)

    return setup


def corrupt_store(name: str) -> object:
    def setup(work: Path) -> None:
        path = make_store(work / name, runs=30)
        data = bytearray(path.read_bytes())
        assert len(data) > 3 * 4096
        data[4096 + 16 : 3 * 4096] = b"\xa5" * (2 * 4096 - 16)  # pages 2 and 3: garbage
        path.write_bytes(bytes(data))

    return setup


def both(*setups: object) -> object:
    def setup(work: Path) -> None:
        for s in setups:
            s(work)  # type: ignore[operator]

    return setup


def preset(name: str) -> dict[str, str]:
    return {"p.toml": f'name = "{name}"\nchannels = 8\nkernel = 3\nfamily = ["conv"]\n'}


CASES = cases_by_id([
    # ------------------------------------------------------------ security: --out and the default directory
    Case("preset-name-dotdot", "security", ("search", "--preset", "p.toml", "--no-latency"), 1,
         r"\.\./\.\./\.\./X", files=preset("../../../X")),
    Case("preset-name-absolute", "security", ("search", "--preset", "p.toml", "--no-latency"), 1,
         r"/X", files=preset("{tmp}/X")),
    Case("preset-name-separator", "security", ("search", "--preset", "p.toml", "--no-latency"), 1,
         r"a/b", files=preset("a/b")),
    Case("preset-name-empty", "security", ("search", "--preset", "p.toml", "--no-latency"), 1,
         r"name", files=preset("")),
    Case("preset-name-nul", "security", ("search", "--preset", "p.toml", "--no-latency"), 1,
         r"name", files=preset("a\\u0000b")),
    Case("out-file-suffix", "security", (*TINY, "--out", "x.csv"), 1,
         r"--out 'x.csv' looks like a file name; search writes a directory"),
    Case("out-is-a-file", "security", (*TINY, "--out", "x"), 1,
         r"--out 'x' is a file; search writes a directory", files={"x": "not a directory\n"}),
    Case("out-trailing-slash-is-a-directory", "security", (*TINY, "--out", "d/"), 0, allowed=("d", "d/*")),
    # ------------------------------------------------------------ integrity: merge, damaged stores, reading
    Case("merge-corrupt-source", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 1,
         r"results store 's.sqlite' is damaged", setup=corrupt_store("s.sqlite")),
    Case("merge-source-missing-table", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 1,
         r"results store 's.sqlite' is damaged: table 'samples' is missing",
         setup=store_with("s.sqlite", "DROP TABLE samples")),
    Case("merge-source-non-integer-version", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 1,
         r"schema_version 'two' is not an integer",
         setup=store_with("s.sqlite", "UPDATE meta SET value = 'two' WHERE name = 'schema_version'")),
    Case("merge-source-newer-schema", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 1,
         r"has schema 99, newer than this igcsearch",
         setup=store_with("s.sqlite", "UPDATE meta SET value = '99' WHERE name = 'schema_version'")),
    Case("merge-source-empty-file", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 1,
         r"'s.sqlite' is not an igcsearch results store \(an empty file\)", files={"s.sqlite": b""}),
    Case("merge-source-foreign-database", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 1,
         r"'s.sqlite' is not an igcsearch results store \(no meta table",
         setup=lambda w: _sql(w / "s.sqlite", "CREATE TABLE users (name TEXT)")),
    Case("merge-into-target-missing-table", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 1,
         r"results store 't.sqlite' is damaged: table 'samples' is missing",
         setup=both(store_with("s.sqlite"), store_with("t.sqlite", "DROP TABLE samples"))),
    Case("merge-into-corrupt-target", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 1,
         r"results store 't.sqlite' is damaged", setup=both(store_with("s.sqlite"), corrupt_store("t.sqlite"))),
    Case("merge-into-itself", "integrity", ("runs", "merge", "s.sqlite", "--store", "s.sqlite"), 1,
         r"cannot merge 's.sqlite' into itself", setup=store_with("s.sqlite")),
    Case("merge-v1-source-works", "integrity", ("runs", "merge", "s.sqlite", "--store", "t.sqlite"), 0,
         setup=store_with("s.sqlite", version=1), allowed=("t.sqlite", "t.sqlite.lock")),
    Case("list-empty-file", "integrity", ("runs", "list", "--store", "s.sqlite"), 1,
         r"'s.sqlite' is not an igcsearch results store \(an empty file\)", files={"s.sqlite": b""}),
    Case("list-v1-store-reads-without-writing", "integrity", ("runs", "list", "--store", "s.sqlite"), 0,
         setup=store_with("s.sqlite", version=1)),
    Case("show-v1-store-reads-without-writing", "integrity", ("runs", "show", "1", "--store", "s.sqlite"), 0,
         setup=store_with("s.sqlite", version=1)),
    Case("search-into-foreign-database", "integrity", (*TINY, "--store", "s.sqlite", "--out", "o"), 1,
         r"'s.sqlite' is not an igcsearch results store",
         setup=lambda w: _sql(w / "s.sqlite", "CREATE TABLE users (name TEXT)"), allowed=("s.sqlite.lock", "o", "o/*")),
    Case("search-into-damaged-store", "integrity", (*TINY, "--out", "o"), 1,
         r"results store 'o/results.sqlite' is damaged: table 'samples' is missing",
         setup=store_with("o/results.sqlite", "DROP TABLE samples"), allowed=("o/results.sqlite.lock",)),
    # ------------------------------------------------------------ validation: measurement options
    Case("min-time-nan", "validation", ("search", "-c", "8", "--family", "conv", "--min-time", "nan"), 1,
         r"--min-time must be a finite number of seconds > 0 and <= 60, got nan"),
    Case("min-time-inf", "validation", ("search", "-c", "8", "--family", "conv", "--min-time", "inf"), 1,
         r"--min-time must be a finite number of seconds > 0 and <= 60, got inf"),
    Case("min-time-negative", "validation", ("search", "-c", "8", "--family", "conv", "--min-time", "-1"), 1,
         r"--min-time must be a finite number of seconds > 0"),
    Case("rounds-huge", "validation", ("search", "-c", "8", "--family", "conv", "--rounds", "100000"), 1,
         r"--rounds must be >= 1 and <= 1,000, got 100000"),
    Case("batch-huge", "validation", ("search", "-c", "8", "--family", "conv", "--batch", "100000"), 1,
         r"--batch must be >= 1 and <= 4,096, got 100000"),
    Case("warmup-negative", "validation", ("search", "-c", "8", "--family", "conv", "--warmup", "-1"), 1,
         r"--warmup must be >= 0 and <= 10,000, got -1"),
    Case("threads-zero", "validation", ("search", "-c", "8", "--family", "conv", "--threads", "0"), 1,
         r"--threads must be >= 1, got 0"),
    Case("threads-above-cpus", "validation", ("search", "-c", "8", "--family", "conv", "--threads", "1000"), 1,
         r"--threads 1000 is more than the \d+ CPU core\(s\) this process can use"),
    Case("input-too-large-for-memory", "resources",
         ("search", "-c", "8", "--family", "conv", "--input-size", "4096", "--batch", "4096"), 1,
         r"candidate conv-c8k3 at --input-size 4096 and --batch 4096 needs about [\d,.]+ GiB"),
    Case("address-without-ray", "validation", ("search", "-c", "8", "--address", "127.0.0.1:1"), 1,
         r"--address '127.0.0.1:1' is a Ray cluster address: add --backend ray"),
    # ------------------------------------------------------------ tracebacks: store errors after opening
    Case("list-garbage-file", "tracebacks", ("runs", "list", "--store", "s.sqlite"), 1,
         r"'s.sqlite' is damaged \(file is not a database\)", files={"s.sqlite": b"garbage" * 1000}),
    Case("list-non-integer-version", "tracebacks", ("runs", "list", "--store", "s.sqlite"), 1,
         r"schema_version 'x' is not an integer",
         setup=store_with("s.sqlite", "UPDATE meta SET value = 'x' WHERE name = 'schema_version'")),
    Case("list-missing-runs-table", "tracebacks", ("runs", "list", "--store", "s.sqlite"), 1,
         r"table 'runs' is missing", setup=store_with("s.sqlite", "DROP TABLE runs")),
    Case("show-bad-run-json", "tracebacks", ("runs", "show", "1", "--store", "s.sqlite"), 1,
         r"run 1 has no valid spec JSON", setup=store_with("s.sqlite", "UPDATE runs SET spec = '{not json'")),
    Case("report-corrupt-store", "tracebacks", ("runs", "report", "1", "--store", "s.sqlite", "--out", "r"), 1,
         r"'s.sqlite' is damaged", setup=corrupt_store("s.sqlite")),
    Case("list-store-is-a-directory", "tracebacks", ("runs", "list", "--store", "d"), 1,
         r"--store 'd' is a directory", setup=lambda w: (w / "d").mkdir()),
])  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_corpus(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


# ---------------------------------------------------------------- more than one command


def igc(*args: str, cwd: Path | None = None, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "igcsearch", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, **kw)  # fmt: skip


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "candidates", "run_candidates", "measurements", "samples")}  # fmt: skip


def test_two_searches_on_one_store_never_measure_together(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "igcsearch", "search", "-c", "8", "--family", "conv,group", *FAST,
            "--out", str(tmp_path / "o")]  # fmt: skip
    procs = [subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    line = r"counted (\d+) candidates, timed (\d+) latency samples; (\d+) candidates' counts and (\d+) samples taken"
    summaries = sorted(tuple(int(g) for g in re.search(line, e).groups()) for e in errs)  # type: ignore[union-attr]
    n = counts(tmp_path / "o" / "results.sqlite")
    total = n["measurements"]
    # one measured everything; the other (waiting if it came while the first measured) took it all from the store
    assert summaries == [(0, 0, total, 2 * total), (total, 2 * total, 0, 0)], errs
    assert n == {"runs": 1, "candidates": total, "run_candidates": total, "measurements": total, "samples": 2 * total}


def test_a_search_waits_for_the_store_lock_and_says_so(tmp_path: Path) -> None:
    """The test holds the store's lock: the search waits (with one stderr line) and measures only after release."""
    import fcntl
    import time

    out = tmp_path / "o"
    out.mkdir()
    fd = os.open(out / "results.sqlite.lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    args = [sys.executable, "-m", "igcsearch", "search", "-c", "8", "--family", "conv", *FAST, "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "results.sqlite").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # it must not open the store while the lock is held
            if time.monotonic() > deadline - 110:
                break  # 10 s without touching the store: it is waiting
        assert proc.poll() is None and not (out / "results.sqlite").exists()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    assert "waiting: another igcsearch process is writing this store" in err
    assert counts(out / "results.sqlite")["measurements"] == 1


def test_merge_of_a_schema_1_store_twice_is_idempotent_and_never_writes_the_source(tmp_path: Path) -> None:
    src = make_store(tmp_path / "old.sqlite", version=1, runs=2)
    os.utime(src, (1_000_000, 1_000_000))
    before = (src.read_bytes(), src.stat().st_mtime, sorted(p.name for p in tmp_path.iterdir()))
    target = tmp_path / "new.sqlite"
    first = igc("runs", "merge", str(src), "--store", str(target))
    assert first.returncode == 0, first.stderr
    assert first.stderr.endswith("1 measurements, 0 samples, 2 runs\n") or "2 runs" in first.stderr
    after_one = counts(target)
    second = igc("runs", "merge", str(src), "--store", str(target))
    assert second.returncode == 0, second.stderr
    assert "0 candidates, 0 measurements, 0 samples, 0 runs" in second.stderr
    assert counts(target) == after_one == {"runs": 2, "candidates": 2, "run_candidates": 2, "measurements": 2,
                                           "samples": 0}  # fmt: skip
    assert (src.read_bytes(), src.stat().st_mtime) == before[:2]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("new.sqlite")) == before[2]
    # a target migrated in place from the same v1 file recognises its runs too
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(before[0])
    with Store(copy) as store:  # opened for writing: migrated to schema 2
        assert store.version == 2
        assert store.merge_from(src) == {"candidates": 0, "measurements": 0, "samples": 0, "runs": 0}


def test_reading_a_store_never_writes(tmp_path: Path) -> None:
    """runs list|show|report and load_results on a store in a read-only directory: nothing created or changed."""
    from igcsearch import load_results

    ro = tmp_path / "ro"
    search = igc(
        "search", "-c", "8", "--family", "conv,group", "--rounds", "1", "--min-time", "0.001", "--out", str(ro)
    )
    assert search.returncode == 0, search.stderr
    make_store(ro / "v1.sqlite", version=1)
    for path in (ro / "results.sqlite", ro / "v1.sqlite"):
        path.chmod(0o444)
    ro.chmod(0o555)
    try:
        before = snapshot(tmp_path)
        for db in ("results.sqlite", "v1.sqlite"):
            store = str(ro / db)
            assert igc("runs", "list", "--store", store).returncode == 0
            shown = igc("runs", "show", "1", "--store", store)
            assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == 1
            assert len(load_results(store)) >= 1
        assert snapshot(tmp_path) == before
        report = igc("runs", "report", "1", "--store", str(ro / "results.sqlite"), "--out", str(tmp_path / "rep"))
        assert report.returncode == 0, report.stderr
        assert {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*")} - {"ro"} == {"rep"}
        assert {k: v for k, v in snapshot(tmp_path).items() if k.startswith("ro")} == before
    finally:
        ro.chmod(0o755)


def test_load_results_refuses_what_is_not_a_store_or_a_results_file(tmp_path: Path) -> None:
    from igcsearch import load_results

    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(IgcSearchError, match=r"is not an igcsearch results store \(an empty file\)"):
        load_results(empty)
    assert empty.read_bytes() == b""  # no schema written into it
    for text, why in (("{}", "not a list of row objects"), ('[1, 2]', "not a list of row objects"),
                      ("[{", "is not valid JSON")):  # fmt: skip
        (tmp_path / "results.json").write_text(text)
        with pytest.raises(SpecError, match=why):
            load_results(tmp_path)
    with pytest.raises(TypeError, match=r"path must be a path \(str or os.PathLike\), got int"):
        load_results(123)  # type: ignore[arg-type]


def test_api_measure_options_of_the_wrong_type_or_range() -> None:
    import igcsearch

    with pytest.raises(TypeError, match=r"measure\['rounds'\] must be int, got str"):
        igcsearch.search(channels=8, family="conv", measure={"rounds": "3"})
    with pytest.raises(SpecError, match="--min-time must be a finite number of seconds > 0"):
        igcsearch.search(channels=8, family="conv", measure={"min_time": float("nan")})


def test_default_out_is_a_plain_name_inside_igcsearch_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from igcsearch.results import default_out
    from igcsearch.spec import make_spec

    monkeypatch.chdir(tmp_path)
    spec = make_spec({"channels": 8, "family": "conv"})
    assert default_out(dataclasses.replace(spec, name="my-run_1.2")) == Path("igcsearch-results/my-run_1.2")
    for bad in ("../x", "../../../X", "/abs/x", "a/b", "a\\b", "a\0b", "", " ", ".", "..", "a\nb", "x\u202e", "x "):
        with pytest.raises(SpecError, match="it names the results directory, so it must be a plain name"):
            default_out(dataclasses.replace(spec, name=bad))
    (tmp_path / "igcsearch-results").mkdir()
    (tmp_path / "igcsearch-results" / "link").symlink_to(tmp_path)
    with pytest.raises(SpecError, match="resolves outside"):
        default_out(dataclasses.replace(spec, name="link"))


def test_rerun_keeps_one_config_per_row_and_cleans_stale_temporaries(tmp_path: Path) -> None:
    out = tmp_path / "o"
    wide = igc("search", "-c", "8", "--family", "conv,group,dwsep", "--no-latency", "--out", str(out))
    assert wide.returncode == 0, wide.stderr
    foreign = out / "configs" / "notes.json"
    foreign.write_text('{"mine": true}\n')
    (out / "configs" / "readme.txt").write_text("kept\n")
    (out / ".results.csv.ab12_xyz.tmp").write_text("left by kill -9")
    (out / "configs" / ".conv-c8k3.json.q1w2e3r4.tmp").write_text("left by kill -9")
    (out / ".my.tmp").write_text("not ours")
    narrow = igc("search", "-c", "8", "--family", "conv", "--no-latency", "--out", str(out))
    assert narrow.returncode == 0, narrow.stderr
    keys = [r["key"] for r in json.loads((out / "results.json").read_text())]
    assert sorted(p.stem for p in (out / "configs").glob("*.json") if p != foreign) == sorted(keys) == ["conv-c8k3"]
    assert foreign.exists() and (out / "configs" / "readme.txt").exists() and (out / ".my.tmp").exists()
    assert not list(out.rglob(".*.????????.tmp"))
    assert (out / "results.sqlite").is_file() and not [p for p in (out / "configs").iterdir() if p.is_dir()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_a_search_like_ctrl_c(tmp_path: Path, sig: int) -> None:
    out = tmp_path / "o"
    args = [sys.executable, "-m", "igcsearch", "search", "-c", "16", "--family", "igc1,igc2,dwsep,group",
            "--balance-tol", "inf", "--rounds", "50", "--min-time", "0.002", "--warmup", "1", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = out / "results.sqlite"
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        try:
            if counts(db)["samples"] >= 3:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert error_line(err) == "error: interrupted" and "Traceback" not in err
    assert "interrupted: the files hold what finished" in err
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    assert "**Interrupted**" in (out / "results.md").read_text()
    assert json.loads((out / "results.json").read_text())


def test_kill_9_leaves_no_lock_behind(tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ["search", "-c", "8", "--family", "conv,group,dwsep", "--rounds", "20", "--min-time", "0.002",
            "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "igcsearch", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        try:
            if counts(out / "results.sqlite")["samples"] >= 1:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=60)
    again = igc(*args)
    assert again.returncode == 0, again.stderr
    assert "waiting" not in again.stderr  # the lock died with its process
    assert counts(out / "results.sqlite")["runs"] == 1


def test_closed_or_full_stdout_is_one_error_line(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "igcsearch", *TINY, "--format", "csv", "--out", str(tmp_path / "o")]
    with open("/dev/full", "w") as full:
        res = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert error_line(res.stderr) == "error: cannot write to stdout: No space left on device; the output is incomplete"
    closed = subprocess.run(args, stderr=subprocess.PIPE, text=True, timeout=300, preexec_fn=lambda: os.close(1))
    assert closed.returncode == 1 and "Traceback" not in closed.stderr
    assert error_line(closed.stderr).startswith("error: standard output is closed")
    head = subprocess.run(f"{' '.join(args)} | head -1", shell=True, capture_output=True, text=True, timeout=300)
    assert head.returncode == 0 and head.stdout.startswith("key,") and "Traceback" not in head.stderr


def test_unreachable_ray_address_fails_within_five_seconds(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    res = igc("search", "-c", "8", "--family", "conv", "--backend", "ray", "--address", f"127.0.0.1:{port}",
              "--out", str(tmp_path / "r"))  # fmt: skip
    assert res.returncode == 1 and time.monotonic() - start < 30  # startup included; the check itself is < 5 s
    assert error_line(res.stderr).startswith(f"error: cannot reach Ray at 127.0.0.1:{port}: Connection refused")
    assert not (tmp_path / "r").exists()  # refused before anything is written


def test_store_errors_after_opening_are_one_igcsearch_error(tmp_path: Path) -> None:
    """A store that turns read-only or fills up while a search writes: IgcSearchError naming the file, no sqlite3 error."""
    from igcsearch.store import describe_error

    with Store(make_store(tmp_path / "s.sqlite")) as store:
        store.db.execute("PRAGMA query_only = ON")  # every write now fails as on a read-only file
        with pytest.raises(IgcSearchError, match=r"results store '.*s.sqlite' is read-only"):
            store.put_sample("conv-c8k3", 32, "s", "e", 1, 0.5)
        with pytest.raises(IgcSearchError, match=r"is read-only"):
            store.begin_run("x", {}, {}, {})
    assert describe_error(sqlite3.OperationalError("database or disk is full")).startswith(
        "cannot be written: the disk is full"
    )
    assert describe_error(sqlite3.DatabaseError("database disk image is malformed")).startswith("is damaged")
    with Store(tmp_path / "s.sqlite", readonly=True) as store, pytest.raises(IgcSearchError, match="is read-only"):
        store.end_run(1, "done")
