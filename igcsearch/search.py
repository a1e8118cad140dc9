"""`igcsearch search`: space -> build -> count (fvcore) -> latency -> rank -> report files.

Domain code: it never prints. Progress is reported through an optional callback object with
``stage(name, total)`` and ``advance(n)``; the CLI passes a rich progress bar.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import __version__
from .config import parse_key
from .errors import SpecError
from .measure import MeasureOptions, check_device, environment, latency, peak_memory, prepare
from .report import atomic_open, md_header, select, to_frame, write
from .space import ROW_FIELDS, Chunk, chunks, sort_rows, take
from .spec import SORT_ROW_FIELDS, Spec

MEASURED_FIELDS = (
    "params_measured", "macs_measured", "count_ok", "latency_ms", "latency_iqr_ms", "latency_min_ms",
    "peak_mem_bytes", "rank", "pareto",
)  # fmt: skip
ENV_FIELDS = ("device", "torch_version", "threads", "dtype", "memory_format", "batch")
RESULT_FIELDS = (*ROW_FIELDS, *MEASURED_FIELDS, "error", *ENV_FIELDS)
SEARCH_SORT_FIELDS = (*SORT_ROW_FIELDS, "latency_ms", "latency_min_ms", "peak_mem_bytes")
MAX_CANDIDATES = 20_000
SCHEMA_VERSION = 1


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

    def frame(self) -> Any:
        """The rows as a pandas DataFrame (RESULT_FIELDS columns)."""
        return to_frame([self.rows])


def default_out(spec: Spec) -> Path:
    """./igcsearch-results/<preset or spec name>/"""
    return Path("igcsearch-results") / spec.name


def candidates(spec: Spec) -> tuple[Chunk, int]:
    """The rows to measure: the whole space, or the top N by an analytic sort key."""
    analytic = spec.sort is not None and spec.sort.lstrip("-") in SORT_ROW_FIELDS
    top = spec.top if analytic else None
    kept, total = select(chunks(spec), spec.sort if analytic else None, top)
    if not kept:
        return {}, total
    rows = kept[0]
    if rows["key"].size > MAX_CANDIDATES:
        raise SpecError(
            f"{rows['key'].size:,} candidates to build and time (limit {MAX_CANDIDATES:,}); "
            "narrow the spec or preselect with an analytic --sort (e.g. --sort params) and --top N"
        )
    return rows, total


def run_search(
    spec: Spec,
    opts: MeasureOptions,
    out: Path | None = None,
    progress: Progress | None = None,
    build_opts: dict[str, Any] | None = None,
) -> SearchResult:
    """Measure every candidate of the spec and rank them; write the results directory."""
    from .build import build
    from .counting import count

    check_device(opts)
    if spec.sort is not None and spec.sort.lstrip("-") not in SEARCH_SORT_FIELDS:
        raise SpecError(f"unknown sort key {spec.sort!r}; choose from: {', '.join(SEARCH_SORT_FIELDS)}")
    progress = progress or _Quiet()
    rows, total = candidates(spec)
    env = environment(opts, spec.input_size)
    result = SearchResult(rows={}, env=env, total_space=total)
    if not rows:
        return result
    n = rows["key"].size
    cols = _empty_measurements(n)
    modules: list[Any] = [None] * n
    try:
        progress.stage("build + count (fvcore)", n)
        for i, key in enumerate(rows["key"].tolist()):
            try:
                cfg = parse_key(key)
                module = build(cfg, **(build_opts or {}))
                params, macs = count(module, cfg.in_channels, int(rows["input_size"][i]))
                cols["params_measured"][i], cols["macs_measured"][i] = params, macs
                cols["count_ok"][i] = int(params == rows["params"][i] and macs == rows["macs"][i])
                modules[i] = module
            except Exception as exc:  # a candidate that fails is reported, the search goes on
                cols["error"][i] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            progress.advance()
        ok = [i for i in range(n) if modules[i] is not None]
        prepared = []
        for i in ok:
            prepared.append(prepare(modules[i], int(rows["in_channels"][i]), int(rows["input_size"][i]), opts))
            mem, _ = peak_memory(*prepared[-1], opts, int(rows["acts"][i]))
            cols["peak_mem_bytes"][i] = mem
        if opts.latency and prepared:
            progress.stage(f"latency ({opts.rounds} interleaved rounds)", opts.rounds * len(prepared))
            for i, stats in zip(ok, latency(prepared, opts, progress.advance), strict=True):
                for name, value in stats.items():
                    cols[name][i] = value
    except KeyboardInterrupt:
        result.interrupted = True
    rows = {**rows, **cols, **{k: np.full(n, v, dtype=object) for k, v in _env_cols(env).items()}}
    result.rows = rank(rows, spec.sort or ("latency_ms" if opts.latency else "params"), opts.latency)
    if spec.top is not None and not (spec.sort and spec.sort.lstrip("-") in SORT_ROW_FIELDS):
        result.rows = take(result.rows, np.arange(min(spec.top, n)))
    if out is not None:
        result.files = write_results(result, spec, opts, out)
    return result


def _empty_measurements(n: int) -> dict[str, np.ndarray]:
    nan = np.full(n, np.nan)
    return {
        "params_measured": np.full(n, -1, dtype=np.int64),
        "macs_measured": np.full(n, -1, dtype=np.int64),
        "count_ok": np.zeros(n, dtype=np.int8),
        "latency_ms": nan.copy(),
        "latency_iqr_ms": nan.copy(),
        "latency_min_ms": nan.copy(),
        "peak_mem_bytes": np.full(n, -1, dtype=np.int64),
        "error": np.full(n, "", dtype=object),
    }


def _env_cols(env: dict[str, Any]) -> dict[str, Any]:
    return {k: str(env[k]) for k in ENV_FIELDS}


def rank(rows: Chunk, by: str, with_latency: bool) -> Chunk:
    """Sort (ties by key, failures last), number the rows, and mark the Pareto front."""
    rows = sort_rows(rows, by)
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


def write_results(result: SearchResult, spec: Spec, opts: MeasureOptions, out: Path) -> list[Path]:
    """results.csv, results.md, results.json and configs/<key>.json, each written atomically."""
    files = []
    env_line = ", ".join(f"{k}={v}" for k, v in result.env.items())
    notes = [f"Environment: {env_line}.", f"Measurement: {describe(opts)}."]
    if result.interrupted:
        notes.append("**Interrupted**: rows without latency were not measured.")
    header = md_header(f"igcsearch search: {spec.name}", spec.describe(), notes)
    try:
        for fmt in ("csv", "md", "json"):
            path = out / f"results.{fmt}"
            with atomic_open(path) as fh:
                write([result.rows], fh, fmt, fields=RESULT_FIELDS, header=header)
            files.append(path)
        for key in result.rows["key"].tolist():
            path = out / "configs" / f"{key}.json"
            with atomic_open(path) as fh:
                json.dump(export_record(key, result.rows, spec), fh, indent=2)
                fh.write("\n")
        files.append(out / "configs")
    except OSError as exc:
        raise SpecError(f"cannot write results to {str(out)!r}: {exc.strerror}") from None
    return files


def export_record(key: str, rows: Chunk, spec: Spec) -> dict[str, Any]:
    """The JSON config a training script loads with ``igcsearch.build(path)``."""
    i = int(np.flatnonzero(rows["key"] == key)[0])
    cfg = parse_key(key)
    return {
        "schema_version": SCHEMA_VERSION,
        "igcsearch_version": __version__,
        "key": key,
        "family": cfg.family,
        "config": cfg.to_dict(),
        "input_size": int(rows["input_size"][i]),
        "counts": {name: int(rows[name][i]) for name in ("params", "macs", "acts")},
        "spec": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(spec).items() if k != "extra"
        },
    }


def describe(opts: MeasureOptions) -> str:
    """One line on how latency was measured."""
    if not opts.latency:
        return "counts only (--no-latency)"
    return (
        f"{opts.device}, {opts.threads} thread(s), batch {opts.batch}, {opts.memory_format}, {opts.dtype}; "
        f"{opts.warmup} warm-up calls, {opts.rounds} interleaved rounds of blocked_autorange "
        f"(min {opts.min_time * 1e3:g} ms each); latency = median of round medians, IQR and min of them"
    )
