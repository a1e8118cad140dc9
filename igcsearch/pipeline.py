"""`igcsearch search`: space -> build -> count (fvcore) -> latency -> rank -> report files.

Domain code: it never prints. Progress is reported through an optional callback object with
``stage(name, total)`` and ``advance(n)``; the CLI passes a rich progress bar.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .config import NETWORK_PREFIX, parse_key
from .errors import SpecError, physical_memory
from .measure import (
    MeasureOptions,
    check_device,
    environment,
    error_text,
    latency,
    latency_stats,
    peak_memory,
    prepare,
    reraise_interrupt,
    threads,
)
from .record import RECORD_KEYS, config_of, export_record
from .report import CONVENTION, atomic_open, clean_stale_tmp, md_header, select, to_frame, write
from .space import ROW_FIELDS, Chunk, chunks, sort_rows, take
from .spec import SORT_ROW_FIELDS, Spec, check_name, spec_from_dict, spec_to_dict

MEASURED_FIELDS = (
    "params_measured", "macs_measured", "count_ok", "latency_ms", "latency_iqr_ms", "latency_min_ms",
    "latency_rounds", "peak_mem_bytes", "peak_mem_method", "rank", "pareto",
)  # fmt: skip
ENV_FIELDS = ("device", "torch_version", "threads", "dtype", "memory_format", "batch", "impl", "backend")
RESULT_FIELDS = (*ROW_FIELDS, *MEASURED_FIELDS, "error", *ENV_FIELDS)
SEARCH_SORT_FIELDS = (*SORT_ROW_FIELDS, "latency_ms", "latency_min_ms", "peak_mem_bytes")
MAX_CANDIDATES = 20_000


class Progress(Protocol):
    """What search reports progress to."""

    def stage(self, name: str, total: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...


class _Quiet:
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


@dataclass
class SearchResult:
    """Ranked rows (a wide chunk), their environment, the files written, and whether Ctrl-C cut it."""

    rows: Chunk
    env: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    interrupted: bool = False
    total_space: int = 0
    measured: int = 0  # candidates built and counted in this call (not taken from the store)
    reused: int = 0  # candidates whose counts were taken from the store
    timed: int = 0  # latency samples (one candidate, one round) taken in this call
    reused_samples: int = 0  # latency samples taken from the store
    backend: str = "local"  # where it was measured: local (interleaved rounds) or ray (per candidate)

    def frame(self) -> Any:
        """The rows as a pandas DataFrame: the RESULT_FIELDS columns, in that order."""
        if not self.rows:
            import pandas as pd

            return pd.DataFrame({name: pd.Series(dtype=object) for name in RESULT_FIELDS})
        return to_frame([self.rows]).reindex(columns=list(RESULT_FIELDS))


RESULTS_ROOT = Path("igcsearch-results")
OUT_FILE_SUFFIXES = (".csv", ".md", ".markdown", ".json", ".sqlite", ".db", ".txt", ".png", ".svg")


def default_out(spec: Spec) -> Path:
    """./igcsearch-results/<preset or spec name>/: the name must be a plain file name, never a path."""
    name = check_name(spec.name, "spec name")
    root = RESULTS_ROOT.resolve()
    out = (RESULTS_ROOT / name).resolve()
    if out.parent != root:  # e.g. a symlink: the default directory stays inside ./igcsearch-results/
        raise SpecError(f"spec name {name!r} resolves outside ./{RESULTS_ROOT}/; pass --out")
    return RESULTS_ROOT / name


def check_out(out: Path | str) -> Path:
    """The results directory of an --out; refused when it is an existing file or a file name like x.csv.

    A trailing slash (``--out x.csv/``) says directory, whatever the suffix.
    """
    text = str(out)
    if not text.strip():
        raise SpecError("--out is empty: give the results directory")
    directory = text.endswith(("/", os.sep))
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {str(out)!r} is a file; search writes a directory (results.csv, results.md, …)")
    if not directory and not out.exists() and out.suffix.lower() in OUT_FILE_SUFFIXES:
        raise SpecError(
            f"--out {str(out)!r} looks like a file name; search writes a directory of files (results.csv, "
            "results.md, results.json, configs/): pass a directory, e.g. --out "
            f"{str(out.with_suffix('')) or 'results'!s} (or {out!s}/ for a directory of that name)"
        )
    return out


def candidates(spec: Spec) -> tuple[Chunk, int]:
    """The rows to measure: the whole space, or the top N by an analytic sort key.

    With ``network`` in the spec's options the rows are whole networks
    (``igcsearch.networks.network_rows(spec)``: one-family chunks with precomputed keys).
    """
    analytic = spec.sort is not None and spec.sort.lstrip("-") in SORT_ROW_FIELDS
    top = spec.top if analytic else None
    if spec.extra.get("network"):
        from .networks import network_rows

        source = network_rows(spec)
    else:
        source = chunks(spec)
    kept, total = select(source, spec.sort if analytic else None, top)
    if not kept:
        return {}, total
    rows = kept[0]
    if rows["key"].size > MAX_CANDIDATES:
        raise SpecError(
            f"{rows['key'].size:,} candidates to build and time (limit {MAX_CANDIDATES:,}); "
            "narrow the spec or preselect with an analytic --sort (e.g. --sort params) and --top N"
        )
    return rows, total


def check_search(
    spec: Spec, opts: MeasureOptions, backend: str = "local", address: str | None = None, plot: bool = False
) -> None:
    """Refuse bad measurement options, backend, address, sort key or a --plot that cannot be drawn, before anything is built."""
    check_device(opts)
    if backend not in ("local", "ray"):
        raise SpecError(f"--backend must be local or ray, got {backend!r}")
    if address is not None and not isinstance(address, str):
        raise TypeError(f"address must be a str, got {type(address).__name__}")
    if address and backend != "ray":
        raise SpecError(f"--address {address!r} is a Ray cluster address: add --backend ray, or drop --address")
    if backend == "local":
        check_threads(opts.threads)
    if address:
        from .ray_backend import check_reachable

        check_reachable(address)  # within CONNECT_TIMEOUT, before ray is imported or anything is built
    if spec.sort is not None and spec.sort.lstrip("-") not in SEARCH_SORT_FIELDS:
        raise SpecError(f"unknown sort key {spec.sort!r}; choose from: {', '.join(SEARCH_SORT_FIELDS)}")
    if plot:
        from .plots import require_matplotlib

        require_matplotlib()


def measurement_settings(opts: MeasureOptions, build_opts: dict[str, Any] | None, backend: str) -> dict[str, Any]:
    """What a stored measurement depends on besides the environment: the options (not rounds), impl, backend.

    ``rounds`` is left out (more rounds later extend the same measurement). ``backend`` is
    recorded when it is not the local process (``"ray"``: each candidate timed alone on its
    worker, not interleaved), so local and Ray measurements never mix, and local stores
    written before the backend was recorded keep their hashes.
    """
    settings = {**dataclasses.asdict(opts), "impl": (build_opts or {}).get("impl", "auto")}
    settings.pop("rounds")
    if backend != "local":
        settings["backend"] = backend
    return settings


def run_search(
    spec: Spec,
    opts: MeasureOptions,
    out: Path | str | None = None,
    progress: Progress | None = None,
    build_opts: dict[str, Any] | None = None,
    store_path: Path | None = None,
    fresh: bool = False,
    plot: bool = False,
    backend: str = "local",
    address: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> SearchResult:
    """Measure every candidate of the spec and rank them; write the results directory.

    Measurements go to the SQLite store (``store_path``, default ``out/results.sqlite``) as
    they are taken; a rerun of the same spec reuses every stored measurement with the same
    settings and environment (unless ``fresh``) and measures only what is missing.

    One writer per store: the search holds an exclusive lock on ``<store>.lock`` (and on
    ``out/results.sqlite.lock``, the results directory's) while it measures and writes; a
    second search on the same store or directory waits for it (``notify`` is told) and then
    reuses what it measured. SIGTERM and SIGHUP stop it like Ctrl-C: the run is marked
    interrupted and the files of what finished are written.
    """
    from .store import Store, digest, lock_path, locked

    if out is not None:
        out = check_out(out)
    check_search(spec, opts, backend, address, plot)
    progress = progress or _Quiet()
    rows, total = candidates(spec)
    env = environment(opts, spec.input_size)
    result = SearchResult(rows={}, env=env, total_space=total, backend=backend)
    if not rows:
        return result
    check_memory(rows, opts)
    settings = measurement_settings(opts, build_opts, backend)
    sh, eh = digest(settings), digest(env)
    store_path = store_path or (out / "results.sqlite" if out is not None else None)
    locks = [lock_path(p) for p in (store_path, out / "results.sqlite" if out is not None else None) if p is not None]
    with locked(locks, notify), _stop_signals() as stop:
        store = Store(store_path) if store_path is not None else None
        try:
            with threads(opts.threads):  # fvcore tracing too: 7x faster than oversubscribed on 2 cores
                result.rows = _measure(
                    spec, opts, rows, env, settings, sh, eh, store, fresh, progress, build_opts or {}, result,
                    backend=backend, address=address,
                )  # fmt: skip
        finally:
            if store is not None:
                store.close()
        stop["defer"] = True  # a signal while the files are written stops the command after them
        if out is not None:
            result.files = write_results(result, spec, opts, out, plot)
    if stop["pending"]:
        raise KeyboardInterrupt
    return result


@contextmanager
def _stop_signals() -> Iterator[dict[str, bool]]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt (like Ctrl-C) while measuring; deferred once ``defer`` is set."""
    import signal
    import threading

    state = {"defer": False, "pending": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: Any) -> None:
        if state["defer"]:
            state["pending"] = True
        else:
            raise KeyboardInterrupt

    previous = {}
    for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


def check_memory(rows: Chunk, opts: MeasureOptions) -> None:
    """Refuse, before anything is built, a candidate whose input and activations outgrow this machine's memory."""
    if opts.device != "cpu":
        return  # a GPU out-of-memory is that candidate's error
    limit = physical_memory()
    if not limit:
        return
    size = DTYPE_BYTES.get(opts.dtype, 4)
    sizes = rows["input_size"].astype(np.int64)
    channels = rows["in_channels"].astype(np.int64) if "in_channels" in rows else np.full(sizes.size, 3, np.int64)
    need = (channels * sizes * sizes + rows["acts"].astype(np.int64)) * opts.batch * size
    i = int(np.argmax(need))
    if need[i] > limit:
        raise SpecError(
            f"candidate {rows['key'][i]} at --input-size {int(sizes[i])} and --batch {opts.batch} needs about "
            f"{need[i] / 2**30:,.1f} GiB for its input and activations, more than this machine's "
            f"{limit / 2**30:,.1f} GiB; lower --input-size or --batch"
        )


def check_threads(n: int) -> None:
    """Refuse more --threads than the cores this process may run on: the timing would measure contention."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if n > cpus:
        raise SpecError(f"--threads {n} is more than the {cpus} CPU core(s) this process can use; use 1 to {cpus}")


def _measure(
    spec: Spec, opts: MeasureOptions, rows: Chunk, env: dict, settings: dict, sh: str, eh: str,
    store: Any, fresh: bool, progress: Progress, build_opts: dict, result: SearchResult, offline: bool = False,
    backend: str = "local", address: str | None = None,
) -> Chunk:  # fmt: skip
    """Counts, memory and latency for every row, reusing and committing to the store.

    ``offline``: take only what the store has (rebuilding a report); measure nothing.
    """
    n = rows["key"].size
    keys = rows["key"].tolist()
    sizes = rows["input_size"].astype(int).tolist()
    cols = _empty_measurements(n)
    run_id = None
    cached: dict = {}
    stored: dict = {}
    if store is not None:
        spec_dict = spec_to_dict(spec)
        if spec.extra.get("network"):
            spec_dict["network"] = spec.extra["network"]  # rebuilding the run needs it (spec_from_dict)
        run_id = store.begin_run(spec.name, spec_dict, settings, env) if not offline else None
        try:
            if run_id is not None:
                fams, counts = rows["family"], zip(rows["params"], rows["macs"], rows["acts"], strict=True)
                store.add_candidates(run_id, [
                    (k, s, str(f), json.dumps(config_of(k)), int(p), int(m), int(a))
                    for k, s, f, (p, m, a) in zip(keys, sizes, fams, counts, strict=True)
                ])  # fmt: skip
            if not fresh:
                cached, stored = store.counts(sh, eh), store.samples(sh, eh)
        except KeyboardInterrupt:  # stopped before anything was measured: the run is not left 'running'
            if run_id is not None:
                store.end_run(run_id, "interrupted")
            raise
    samples = np.full((n, opts.rounds), np.nan)
    for i, key in enumerate(keys):
        for rnd, ms in stored.get((key, sizes[i]), {}).items():
            if 0 <= rnd < opts.rounds:
                samples[i, rnd] = ms
    result.reused_samples = int(np.isfinite(samples).sum())
    prepared: list[Any] = [None] * n
    status = "done"

    def commit_counts(i: int, again: bool = False) -> None:
        if store is not None:
            store.put_counts(keys[i], sizes[i], sh, eh, settings, env, {k: _py(cols[k][i]) for k in _COUNT_FIELDS})
        result.measured += 0 if again else 1

    def commit_sample(i: int, rnd: int, ms: float) -> None:
        if np.isfinite(samples[i, rnd]):  # re-timed (a Ray task times every round of its candidate)
            result.reused_samples -= 1
        samples[i, rnd] = ms
        result.timed += 1
        if store is not None:
            store.put_sample(keys[i], sizes[i], sh, eh, rnd, ms)

    todo = []  # candidates to build: not in the store, or missing latency rounds
    for i, key in enumerate(keys):
        hit = cached.get((key, sizes[i]))
        if hit is not None:
            result.reused += 1
            for name in _COUNT_FIELDS:
                cols[name][i] = hit[name] if hit[name] is not None else cols[name][i]
            if hit["error"] or not (opts.latency and np.isnan(samples[i]).any()):
                continue
        if offline:
            cols["error"][i] = cols["error"][i] or ("not measured" if hit is None else "")
            continue
        todo.append(i)
    try:
        if backend == "ray" and todo:
            from . import ray_backend

            ray_backend.connect(address, opts)  # before the progress bar: a bad cluster is one error line
            where = {(keys[i], sizes[i]): i for i in todo}
            progress.stage("measure on Ray", len(todo))

            def on_result(res: dict[str, Any]) -> None:
                i = where[(res["key"], res["input_size"])]
                fresh_counts = cached.get((keys[i], sizes[i])) is None
                cols["error"][i] = res["error"]
                if "params_measured" in res:
                    cols["params_measured"][i], cols["macs_measured"][i] = res["params_measured"], res["macs_measured"]
                    cols["count_ok"][i] = int(
                        res["params_measured"] == rows["params"][i] and res["macs_measured"] == rows["macs"][i]
                    )
                cols["peak_mem_bytes"][i] = res.get("peak_mem_bytes", -1)
                if fresh_counts:
                    commit_counts(i)
                for rnd, ms in enumerate(res["samples"]):
                    commit_sample(i, rnd, ms)
                progress.advance()

            jobs = [(keys[i], sizes[i], cached.get((keys[i], sizes[i])) is None, int(rows["acts"][i])) for i in todo]
            ray_backend.run(jobs, opts, build_opts, address, on_result)
        elif backend != "ray":
            progress.stage("build + count (fvcore)", len(todo))
            for i in todo:
                hit = cached.get((keys[i], sizes[i]))
                try:
                    prepared[i], counted = measure_counts(keys[i], sizes[i], opts, build_opts, hit is None)
                    if counted is not None:
                        cols["params_measured"][i], cols["macs_measured"][i] = counted
                        cols["count_ok"][i] = int(counted == (rows["params"][i], rows["macs"][i]))
                    cols["peak_mem_bytes"][i] = peak_memory(*prepared[i], opts, int(rows["acts"][i]))[0]
                except Exception as exc:  # a candidate that fails is reported; the search goes on
                    reraise_interrupt(exc)
                    prepared[i] = None
                    cols["error"][i] = error_text(exc)
                if hit is None:
                    commit_counts(i)
                progress.advance()
            if opts.latency:

                def on_error(i: int, message: str) -> None:  # failed while timed: keep its reason
                    cols["error"][i] = message
                    commit_counts(i, again=True)

                missing = int(sum(np.isnan(samples[i]).sum() for i in todo if prepared[i] is not None))
                progress.stage(f"latency ({opts.rounds} interleaved rounds)", missing)
                samples = latency(prepared, opts, progress.advance, samples, commit_sample, on_error)
    except KeyboardInterrupt:
        result.interrupted = True
        status = "interrupted"
    if opts.latency:
        cols["latency_rounds"] = np.isfinite(samples).sum(axis=1).astype(np.int64)
        for i in range(n):
            if not cols["error"][i]:
                stats = latency_stats(samples[i])
                for name, value in stats.items():
                    cols[name][i] = value
                if store is not None and not offline and not np.isnan(samples[i]).any():
                    store.put_latency(keys[i], sizes[i], sh, eh, stats)
    if store is not None and run_id is not None and not offline:
        store.end_run(run_id, status)
    rows = {**rows, **cols, **_env_cols(env, settings, n)}
    return rank(rows, spec.sort or ("latency_ms" if opts.latency else "params"), opts.latency)


_COUNT_FIELDS = ("params_measured", "macs_measured", "count_ok", "peak_mem_bytes", "error")


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def build_key(key: str, build_opts: dict[str, Any]) -> tuple[Any, int]:
    """(module, input channels) for a row key: a block config key or a network key (``net-…``)."""
    if key.startswith(NETWORK_PREFIX):
        from .networks import build_network_key

        return build_network_key(key, **build_opts), 3
    from .builder import build

    cfg = parse_key(key)
    return build(cfg, **build_opts), cfg.in_channels


def measure_counts(
    key: str, input_size: int, opts: MeasureOptions, build_opts: dict[str, Any], with_counts: bool
) -> tuple[tuple[Any, Any], tuple[int, int] | None]:
    """Build a candidate as it will be timed (device, dtype, memory format) and count THAT module.

    Returns ((module, input batch), (params, MACs) or None when ``with_counts`` is False).
    Counting happens on the prepared module with an input in the timed memory format, so the
    fused variant an IGC block picks for that format is the one fvcore sees.
    """
    from .counting import count

    module, in_channels = build_key(key, build_opts)
    prepared = prepare(module, in_channels, input_size, opts)
    counted = count(prepared[0], in_channels, input_size, channels_last=opts.channels_last) if with_counts else None
    return prepared, counted


def _empty_measurements(n: int) -> dict[str, np.ndarray]:
    nan = np.full(n, np.nan)
    return {
        "params_measured": np.full(n, -1, dtype=np.int64),
        "macs_measured": np.full(n, -1, dtype=np.int64),
        "count_ok": np.full(n, -1, dtype=np.int8),  # -1: not counted (the candidate failed first)
        "latency_ms": nan.copy(),
        "latency_iqr_ms": nan.copy(),
        "latency_min_ms": nan.copy(),
        "latency_rounds": np.zeros(n, dtype=np.int64),
        "peak_mem_bytes": np.full(n, -1, dtype=np.int64),
        "error": np.full(n, "", dtype=object),
    }


def _env_cols(env: dict[str, Any], settings: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    """The run-wide columns of every row: environment, implementation, how memory was taken."""
    values = {k: env[k] for k in ENV_FIELDS if k in env}
    values["impl"] = settings.get("impl") or "auto"
    values["backend"] = settings.get("backend") or "local"
    values["peak_mem_method"] = "measured" if str(env["device"]).startswith("cuda") else "estimated"
    return {k: np.full(n, v, dtype=object if isinstance(v, str) else np.int64) for k, v in values.items()}


def rank(rows: Chunk, by: str, with_latency: bool) -> Chunk:
    """Sort (ties by key, failures last), number the rows, and mark the Pareto front."""
    rows = sort_rows(rows, by)
    failed = rows["error"] != ""
    if failed.any():  # stable: measured rows in sort order, then the failures in sort order
        rows = take(rows, np.concatenate([np.flatnonzero(~failed), np.flatnonzero(failed)]))
    n = rows["key"].size
    rows["rank"] = np.arange(1, n + 1, dtype=np.int64)
    rows["pareto"] = pareto(rows, ("params", "macs", "latency_ms") if with_latency else ("params", "macs")).astype(
        np.int8
    )
    return rows


def pareto(rows: Chunk, objectives: tuple[str, ...]) -> np.ndarray:
    """True where no other row is <= on every objective and < on one (NaN rows never count)."""
    values = np.stack([rows[o].astype(np.float64) for o in objectives], axis=1)
    valid = np.isfinite(values).all(axis=1) & (rows["error"] == "")
    front = np.zeros(values.shape[0], dtype=bool)
    v = values[valid]
    idx = np.flatnonzero(valid)
    for j in range(v.shape[0]):
        le = (v <= v[j]).all(axis=1)
        lt = (v < v[j]).any(axis=1)
        front[idx[j]] = not (le & lt).any()
    return front


# ---------------------------------------------------------------- files


def write_results(result: SearchResult, spec: Spec, opts: MeasureOptions, out: Path, plot: bool = False) -> list[Path]:
    """results.csv, results.md, results.json, configs/<key>.json, then the plots; each written atomically.

    The tables come first: a plot that fails raises (naming the files already written) but
    never loses them.
    """
    files = _write_tables(result, spec, opts, out, plot)
    if plot:
        files += _write_plots(result, spec, out)
    return files


def _write_tables(result: SearchResult, spec: Spec, opts: MeasureOptions, out: Path, plot: bool) -> list[Path]:
    header, fields = results_header(result, spec, opts, plot), result_fields(spec)
    files = []
    try:
        clean_stale_tmp(out)
        clean_stale_tmp(out / "configs")
        for fmt in ("csv", "md", "json"):
            path = out / f"results.{fmt}"
            with atomic_open(path) as fh:
                write([result.rows], fh, fmt, fields=fields, header=header)
            files.append(path)
        for key in result.rows["key"].tolist():
            path = out / "configs" / f"{key}.json"
            with atomic_open(path) as fh:
                json.dump(export_record(key, result.rows, spec), fh, indent=2, allow_nan=False)
                fh.write("\n")
        remove_stale_configs(out / "configs", set(result.rows["key"].tolist()))
        files.append(out / "configs")
    except OSError as exc:
        raise SpecError(f"cannot write results to {str(out)!r}: {exc.strerror or exc}") from None
    return files


def remove_stale_configs(configs: Path, keys: set[str]) -> None:
    """Delete the ``<key>.json`` records of rows this run does not have: only files igcsearch wrote.

    A file is removed only if it parses as an export record whose ``key`` is its name; any
    other file is left alone.
    """
    if not configs.is_dir():
        return
    for path in configs.glob("*.json"):
        if path.stem in keys or not path.is_file() or path.is_symlink():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and all(f in record for f in RECORD_KEYS) and record["key"] == path.stem:
            path.unlink(missing_ok=True)


def _write_plots(result: SearchResult, spec: Spec, out: Path) -> list[Path]:
    from .plots import plot_results

    try:
        return plot_results(result.rows, out, f"igcsearch search: {spec.name} — {spec.describe()}")
    except Exception as exc:  # the tables are written; say so
        reraise_interrupt(exc)
        raise SpecError(
            f"the plot failed ({error_text(exc)}); results.csv, results.md, results.json and configs/ are written "
            f"in {str(out)!r}"
        ) from None


def results_header(result: SearchResult, spec: Spec, opts: MeasureOptions, plot: bool = False) -> str:
    """The Markdown paragraph above the results table: spec, convention, environment, protocol."""
    env_line = ", ".join(f"{k}={v}" for k, v in result.env.items())
    impl = (result.rows.get("impl", ["auto"])[0]) if result.rows else "auto"
    notes = [f"Environment: {env_line}.", f"Measurement: {describe(opts, result.backend)}; IGC implementation {impl}."]
    if plot:
        from .plots import alt_text

        notes.append(f"![{alt_text(result.rows)}](tradeoff.png)")
    if result.interrupted:
        notes.append(
            f"**Interrupted**: latency_rounds says how many of the {opts.rounds} rounds each row has; "
            "rows with 0 were not timed."
        )
    convention = CONVENTION
    if spec.extra.get("network"):
        from .networks.report import NETWORK_CONVENTION, network_notes

        convention = NETWORK_CONVENTION
        notes += [f"{n[0].upper()}{n[1:]}." for n in network_notes(spec)]
    return md_header(f"igcsearch search: {spec.name}", spec.describe(), notes, convention)


def result_fields(spec: Spec) -> tuple[str, ...]:
    """The columns of a search's results: RESULT_FIELDS, with the knob and width columns of networks."""
    if spec.extra.get("network"):
        from .networks.report import network_fields

        return network_fields(RESULT_FIELDS)
    return RESULT_FIELDS


def describe(opts: MeasureOptions, backend: str = "local") -> str:
    """One line on how latency (and peak memory) was measured, locally or on Ray."""
    memory = (
        "peak_mem_bytes measured (max_memory_allocated)"
        if opts.device == "cuda"
        else "peak_mem_bytes ESTIMATED on CPU (params + input + every conv output of the batch)"
    )
    if not opts.latency:
        return f"counts only (--no-latency); {memory}"
    rounds = (
        f"{opts.rounds} rounds of Timer.timeit (about {opts.min_time * 1e3:g} ms each) per candidate on its Ray "
        "worker, not interleaved with other candidates"
        if backend == "ray"
        else f"{opts.rounds} interleaved rounds of Timer.timeit (about {opts.min_time * 1e3:g} ms each)"
    )
    return (
        f"{opts.device}, {opts.threads} thread(s), batch {opts.batch}, {opts.memory_format}, {opts.dtype}; "
        f"{opts.warmup} warm-up calls, {rounds}; latency = median of the round means, IQR and min of them; {memory}"
    )


# ---------------------------------------------------------------- rebuilding from the store


def report_run(store_path: Path, run_id: int, out: Path | None, plot: bool = False) -> SearchResult:
    """Rebuild a run's ranked rows (and files under ``out``) from the store, measuring nothing."""
    from .store import Store, digest, lock_path, locked

    with Store(store_path, readonly=True) as store:
        run = store.run(run_id)
        spec = spec_from_dict(run["spec"])
        settings, env = run["settings"], run["env"]
        known = {f.name for f in dataclasses.fields(MeasureOptions)}
        stored_rounds = max((len(v) for v in store.samples(digest(settings), digest(env)).values()), default=1)
        opts = MeasureOptions(**{k: v for k, v in settings.items() if k in known}, rounds=max(stored_rounds, 1))
        rows, total = candidates(spec)
        result = SearchResult(rows={}, env=env, total_space=total, backend=settings.get("backend") or "local")
        if rows:
            result.rows = _measure(spec, opts, rows, env, settings, digest(settings), digest(env), store, False,
                                   _Quiet(), {}, result, offline=True)  # fmt: skip
    if out is not None and result.rows:
        with locked([lock_path(Path(out) / "results.sqlite")]):
            result.files = write_results(result, spec, opts, Path(out), plot)
    return result


def load_results(path: Path | str) -> Any:
    """DataFrame of a run: a results directory (its results.json) or a store file (every run's rows)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.exists():
        raise SpecError(f"no results at {str(path)!r}")
    if path.suffix == ".json":
        import io

        return pd.read_json(io.StringIO(read_results_json(path)), orient="records", dtype=False)
    from .store import Store

    with Store(path, readonly=True) as store:
        run_ids = [r["id"] for r in store.runs()]
    frames = []
    for run_id in run_ids:
        df = report_run(path, run_id, None).frame()
        df.insert(0, "run", run_id)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_results_json(path: Path) -> str:
    """The text of a results.json, checked: a JSON list of row objects (each with a string ``key``), else SpecError."""
    try:
        text = path.read_text(encoding="utf-8")
        rows = json.loads(text)
    except OSError as exc:
        raise SpecError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{str(path)!r} is not UTF-8 text: not a results.json written by igcsearch") from None
    except ValueError as exc:
        raise SpecError(f"{str(path)!r} is not valid JSON ({exc}): not a results.json written by igcsearch") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("key"), str) for r in rows):
        raise SpecError(
            f"{str(path)!r} is not a list of row objects with a 'key': not a results.json written by igcsearch"
        )
    return text
