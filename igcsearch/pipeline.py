"""`igcsearch search`: request -> candidates -> measure -> rank -> result files.

The orchestration only: the request (:mod:`igcsearch.request`) says what to list, how to
measure and where to write; the target (:mod:`igcsearch.target`) lists the rows; the runner
(:mod:`igcsearch.runner`) measures them through the run's ledger (:mod:`igcsearch.ledger`);
:mod:`igcsearch.rank` ranks them; :mod:`igcsearch.results` writes the files. Domain code: it
never prints. Progress goes to an optional object with ``stage(name, total)`` and
``advance(n)``; the CLI passes a rich progress bar.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError, physical_memory
from .ledger import Ledger
from .measure import MeasureOptions, check_device, environment, threads
from .rank import rank
from .report import select
from .request import SearchRequest, check_run
from .results import ENV_FIELDS, SEARCH_SORT_FIELDS, SearchResult, check_out, write_results
from .runner import Progress, Quiet, Runner
from .space import Chunk
from .spec import SORT_ROW_FIELDS, Spec
from .target import target_of

MAX_CANDIDATES = 20_000


def candidates(spec: Spec) -> tuple[Chunk, int]:
    """The rows to measure: the whole space, or the top N by an analytic sort key."""
    analytic = spec.sort is not None and spec.sort.lstrip("-") in SORT_ROW_FIELDS
    top = spec.top if analytic else None
    kept, total = select(target_of(spec).rows(spec), spec.sort if analytic else None, top)
    if not kept:
        return {}, total
    rows = kept[0]
    if rows["key"].size > MAX_CANDIDATES:
        raise SpecError(
            f"{rows['key'].size:,} candidates to build and time (limit {MAX_CANDIDATES:,}); "
            "narrow the spec or preselect with an analytic --sort (e.g. --sort params) and --top N"
        )
    return rows, total


def check_search(request: SearchRequest) -> None:
    """Refuse bad measurement options, backend, address, sort key or a --plot that cannot be drawn, before anything is built."""
    spec, opts, run = request.spec, request.measure, request.run
    check_device(opts)
    check_run(run)
    if run.backend == "local":
        check_threads(opts.threads)
    if run.address:
        from .ray_backend import check_reachable

        check_reachable(run.address)  # within CONNECT_TIMEOUT, before ray is imported or anything is built
    if spec.sort is not None and spec.sort.lstrip("-") not in SEARCH_SORT_FIELDS:
        raise SpecError(f"unknown sort key {spec.sort!r}; choose from: {', '.join(SEARCH_SORT_FIELDS)}")
    if run.plot:
        from .plots import require_matplotlib

        require_matplotlib()


def measurement_settings(opts: MeasureOptions, backend: str) -> dict[str, Any]:
    """What a stored measurement depends on besides the environment: the options (not rounds), backend.

    ``rounds`` is left out (more rounds later extend the same measurement). ``backend`` is
    recorded when it is not the local process (``"ray"``: each candidate timed alone on its
    worker, not interleaved), so local and Ray measurements never mix, and local stores
    written before the backend was recorded keep their hashes.
    """
    settings = dataclasses.asdict(opts)
    settings.pop("rounds")
    if backend != "local":
        settings["backend"] = backend
    return settings


def run_search(
    request: SearchRequest, progress: Progress | None = None, notify: Callable[[str], None] | None = None
) -> SearchResult:
    """Measure every candidate of the request and rank them; write the results directory (``run.out``).

    Measurements go to the SQLite store (``run.store``, default ``out/results.sqlite``) as
    they are taken; a rerun of the same spec reuses every stored measurement with the same
    settings and environment (unless ``run.fresh``) and measures only what is missing.

    One writer per store: the search holds an exclusive lock on ``<store>.lock`` (and on
    ``out/results.sqlite.lock``, the results directory's) while it measures and writes; a
    second search on the same store or directory waits for it (``notify`` is told) and then
    reuses what it measured. SIGTERM and SIGHUP stop it like Ctrl-C: the run is marked
    interrupted and the files of what finished are written.
    """
    from .store import Store, lock_path, locked

    spec, opts, run = request.spec, request.measure, request.run
    out = check_out(run.out) if run.out is not None else None
    check_search(request)
    rows, total = candidates(spec)
    env = environment(opts, spec.input_size)
    result = SearchResult(rows={}, env=env, total_space=total, backend=run.backend)
    if not rows:
        return result
    check_memory(rows, opts)
    settings = measurement_settings(opts, run.backend)
    store_path = Path(run.store) if run.store else (out / "results.sqlite" if out is not None else None)
    locks = [lock_path(p) for p in (store_path, out / "results.sqlite" if out is not None else None) if p is not None]
    with locked(locks, notify), _stop_signals() as stop:
        store = Store(store_path) if store_path is not None else None
        try:
            with threads(opts.threads):  # fvcore tracing too: 7x faster than oversubscribed on 2 cores
                ledger = Ledger(store, settings, env)
                ledger.begin(spec, rows)
                runner = Runner(rows, opts, ledger, result, progress or Quiet())
                runner.measure(runner.reuse(run.fresh), run.backend, run.address)
                result.rows = ranked(runner.finish(), spec, opts, settings, env)
                ledger.end("interrupted" if result.interrupted else "done")
        finally:
            if store is not None:
                store.close()
        stop["defer"] = True  # a signal while the files are written stops the command after them
        if out is not None:
            result.files = write_results(result, request, out)
    if stop["pending"]:
        raise KeyboardInterrupt
    return result


def ranked(rows: Chunk, spec: Spec, opts: MeasureOptions, settings: dict[str, Any], env: dict[str, Any]) -> Chunk:
    """The measured rows with the run-wide columns, ranked by the spec's sort key (latency by default)."""
    n = rows["key"].size
    values = {k: env[k] for k in ENV_FIELDS if k in env}  # impl and backend are not in env: set below
    values["impl"] = settings.get("impl") or "auto"
    values["backend"] = settings.get("backend") or "local"
    values["peak_mem_method"] = "measured" if str(env["device"]).startswith("cuda") else "estimated"
    cols = {k: np.full(n, v, dtype=object if isinstance(v, str) else np.int64) for k, v in values.items()}
    by = spec.sort or ("latency_ms" if opts.latency else "params")
    return rank({**rows, **cols}, by, opts.latency, spec.pareto_all)


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
