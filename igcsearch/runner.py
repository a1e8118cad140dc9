"""Measuring every candidate of a search: counts, peak memory and latency columns, reusing what
the run's ledger already has and committing each measurement the moment it is taken.

Locally, every candidate is built and counted first, then timed in interleaved rounds
(:func:`igcsearch.measure.latency`); on Ray (``--backend ray``) each candidate is one task that
builds, counts and times it alone on its worker (:mod:`igcsearch.ray_backend`). The protocol is
in docs/measurement.md.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .ledger import COUNT_FIELDS, Ledger
from .measure import MeasureOptions, error_text, latency, latency_stats, measure_counts, peak_memory, reraise_interrupt
from .results import SearchResult
from .space import Chunk


class Progress(Protocol):
    """What a search reports progress to."""

    def stage(self, name: str, total: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...


class Quiet:
    """No progress shown."""

    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


class Runner:
    """The measurement columns of ``rows`` (one chunk), filled from the ledger and by measuring.

    ``tally`` (the search's result) counts what was measured now and what was reused.
    """

    def __init__(
        self, rows: Chunk, opts: MeasureOptions, ledger: Ledger, tally: SearchResult, progress: Progress
    ) -> None:
        self.rows, self.opts, self.ledger, self.tally, self.progress = rows, opts, ledger, tally, progress
        self.keys = rows["key"].tolist()
        self.sizes = rows["input_size"].astype(int).tolist()
        n = len(self.keys)
        self.cols = empty_measurements(n)
        self.samples = np.full((n, opts.rounds), np.nan)
        self.cached: dict = {}

    def reuse(self, fresh: bool, offline: bool = False) -> list[int]:
        """Take what the ledger has; the indices of the candidates still to measure.

        ``offline`` (rebuilding a report): measure nothing; a row the store lacks says so.
        """
        self.cached, stored = ({}, {}) if fresh else self.ledger.stored()
        for i, key in enumerate(self.keys):
            for rnd, ms in stored.get((key, self.sizes[i]), {}).items():
                if 0 <= rnd < self.opts.rounds:
                    self.samples[i, rnd] = ms
        self.tally.reused_samples = int(np.isfinite(self.samples).sum())
        todo = []
        for i, key in enumerate(self.keys):
            hit = self.cached.get((key, self.sizes[i]))
            if hit is not None:
                self.tally.reused += 1
                for name in COUNT_FIELDS:
                    self.cols[name][i] = hit[name] if hit[name] is not None else self.cols[name][i]
                if hit["error"] or not (self.opts.latency and np.isnan(self.samples[i]).any()):
                    continue
            if offline:
                self.cols["error"][i] = self.cols["error"][i] or ("not measured" if hit is None else "")
                continue
            todo.append(i)
        return todo

    def measure(self, todo: list[int], backend: str = "local", address: str | None = None) -> None:
        """Measure the candidates ``todo`` here or on Ray; Ctrl-C keeps what finished."""
        try:
            if backend == "ray" and todo:
                self._on_ray(todo, address)
            elif backend != "ray":
                self._locally(todo)
        except KeyboardInterrupt:
            self.tally.interrupted = True

    def finish(self) -> Chunk:
        """The rows with their measurement columns and latency statistics (stored once complete)."""
        cols, samples = self.cols, self.samples
        if self.opts.latency:
            cols["latency_rounds"] = np.isfinite(samples).sum(axis=1).astype(np.int64)
            for i in range(len(self.keys)):
                if not cols["error"][i]:
                    stats = latency_stats(samples[i])
                    for name, value in stats.items():
                        cols[name][i] = value
                    if not np.isnan(samples[i]).any():
                        self.ledger.put_latency(self.keys[i], self.sizes[i], stats)
        return {**self.rows, **cols}

    # ------------------------------------------------------------ commits

    def _commit_counts(self, i: int, again: bool = False) -> None:
        self.ledger.put_counts(self.keys[i], self.sizes[i], {k: self.cols[k][i] for k in COUNT_FIELDS})
        self.tally.measured += 0 if again else 1

    def _commit_sample(self, i: int, rnd: int, ms: float) -> None:
        if np.isfinite(self.samples[i, rnd]):  # re-timed (a Ray task times every round of its candidate)
            self.tally.reused_samples -= 1
        self.samples[i, rnd] = ms
        self.tally.timed += 1
        self.ledger.put_sample(self.keys[i], self.sizes[i], rnd, ms)

    def _counted(self, i: int, counted: tuple[int, int]) -> None:
        self.cols["params_measured"][i], self.cols["macs_measured"][i] = counted
        self.cols["count_ok"][i] = int(counted == (self.rows["params"][i], self.rows["macs"][i]))

    # ------------------------------------------------------------ where

    def _locally(self, todo: list[int]) -> None:
        """Build and count each candidate, then time all of them in interleaved rounds."""
        opts, cols, prepared = self.opts, self.cols, [None] * len(self.keys)
        self.progress.stage("build + count (fvcore)", len(todo))
        for i in todo:
            hit = self.cached.get((self.keys[i], self.sizes[i]))
            try:
                prepared[i], counted = measure_counts(self.keys[i], self.sizes[i], opts, hit is None)
                if counted is not None:
                    self._counted(i, counted)
                cols["peak_mem_bytes"][i] = peak_memory(*prepared[i], opts, int(self.rows["acts"][i]))[0]
            except Exception as exc:  # a candidate that fails is reported; the search goes on
                reraise_interrupt(exc)
                prepared[i] = None
                cols["error"][i] = error_text(exc)
            if hit is None:
                self._commit_counts(i)
            self.progress.advance()
        if not opts.latency:
            return

        def on_error(i: int, message: str) -> None:  # failed while timed: keep its reason
            cols["error"][i] = message
            self._commit_counts(i, again=True)

        missing = int(sum(np.isnan(self.samples[i]).sum() for i in todo if prepared[i] is not None))
        self.progress.stage(f"latency ({opts.rounds} interleaved rounds)", missing)
        latency(prepared, opts, self.progress.advance, self.samples, self._commit_sample, on_error)

    def _on_ray(self, todo: list[int], address: str | None) -> None:
        """One Ray task per candidate: built, counted and timed alone on its worker."""
        from . import ray_backend

        ray_backend.connect(address, self.opts)  # before the progress bar: a bad cluster is one error line
        where = {(self.keys[i], self.sizes[i]): i for i in todo}
        self.progress.stage("measure on Ray", len(todo))

        def on_result(res: dict[str, Any]) -> None:
            i = where[(res["key"], res["input_size"])]
            self.cols["error"][i] = res["error"]
            if "params_measured" in res:
                self._counted(i, (res["params_measured"], res["macs_measured"]))
            self.cols["peak_mem_bytes"][i] = res.get("peak_mem_bytes", -1)
            if self.cached.get((self.keys[i], self.sizes[i])) is None:
                self._commit_counts(i)
            for rnd, ms in enumerate(res["samples"]):
                self._commit_sample(i, rnd, ms)
            self.progress.advance()

        jobs = [
            (
                self.keys[i],
                self.sizes[i],
                self.cached.get((self.keys[i], self.sizes[i])) is None,
                int(self.rows["acts"][i]),
            )
            for i in todo
        ]
        ray_backend.run(jobs, self.opts, address, on_result)


def empty_measurements(n: int) -> dict[str, np.ndarray]:
    """The measurement columns of n rows before anything is measured."""
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
