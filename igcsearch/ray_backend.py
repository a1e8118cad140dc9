"""Measuring on a Ray cluster (``--backend ray``; the optional ``ray`` extra).

The driver enumerates and owns the results store; Ray tasks build, count and time one
candidate each. A CPU task reserves ``threads`` CPUs (the threads it times with), a CUDA task
one whole GPU, so no two measurements share a core or a device. Results stream back as tasks
finish and are committed at once; a task whose worker dies is retried (``max_retries``), a
candidate that fails is returned with its error. Without ``address`` a local Ray instance is
started; on a cluster, start it with ``ray start --head`` and pass ``--address``.

Latency on Ray is measured per candidate on its worker (warm-up, then ``rounds`` calibrated
``Timer.timeit`` measurements, as locally): candidates run on different cores, so
interleaving across them does not apply. Counts are taken on the module as it is timed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .errors import IgcSearchError


def measure_one(
    key: str, input_size: int, opts: dict[str, Any], build_opts: dict[str, Any], with_counts: bool, acts: int
) -> dict[str, Any]:
    """Build, count and time one candidate (runs inside a Ray task, or locally)."""
    from .measure import MeasureOptions, error_text, latency, peak_memory
    from .pipeline import measure_counts

    mo = MeasureOptions(**opts)
    out: dict[str, Any] = {"key": key, "input_size": input_size, "error": "", "samples": []}
    try:
        prepared, counted = measure_counts(key, input_size, mo, build_opts, with_counts)
        if counted is not None:
            out["params_measured"], out["macs_measured"] = counted
        out["peak_mem_bytes"] = peak_memory(*prepared, mo, acts)[0]
        if mo.latency:

            def on_error(_: int, message: str) -> None:
                out["error"] = message

            samples = latency([prepared], mo, on_error=on_error)[0]
            out["samples"] = [] if out["error"] else samples.tolist()
    except Exception as exc:  # reported in the row; the search goes on
        out["error"] = error_text(exc)
    return out


def run(
    jobs: list[tuple[str, int, bool, int]],
    opts: Any,
    build_opts: dict[str, Any],
    address: str | None,
    on_result: Callable[[dict[str, Any]], None],
) -> None:
    """Measure (key, input_size, with_counts, acts) jobs on Ray; call ``on_result`` as each finishes."""
    try:
        import ray
    except ImportError:
        raise IgcSearchError("--backend ray needs Ray: pip install 'igcsearch[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except Exception as exc:
            raise IgcSearchError(
                f"cannot connect to Ray{' at ' + address if address else ''}: {exc}".splitlines()[0]
            ) from None
    resources = {"num_gpus": 1, "num_cpus": 1} if opts.device == "cuda" else {"num_cpus": opts.threads}
    task = ray.remote(max_retries=3, **resources)(measure_one)
    od = dataclasses.asdict(opts)
    refs = {task.remote(k, s, od, build_opts, c, a): (k, s) for k, s, c, a in jobs}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            try:
                on_result(ray.get(ref))
            except ray.exceptions.RayError as exc:  # retries exhausted: record, go on
                key, size = refs[ref]
                on_result({"key": key, "input_size": size, "error": f"ray: {exc}".splitlines()[0], "samples": []})
