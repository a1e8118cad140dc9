"""A search's result and its files: the row fields, results.csv/md/json, configs/<key>.json
(export records), the plots, and the results directory they go to.

Every file is written atomically; a rerun into the same directory leaves exactly one record per
row. The Markdown header says what was asked, how it was counted and how it was measured.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError
from .measure import MeasureOptions, error_text, reraise_interrupt
from .record import RECORD_KEYS, export_record
from .report import atomic_open, clean_stale_tmp, md_header, to_frame, write
from .request import SearchRequest
from .space import ROW_FIELDS, Chunk
from .spec import SORT_ROW_FIELDS, Spec, check_name
from .target import target_of

MEASURED_FIELDS = (
    "params_measured", "macs_measured", "count_ok", "latency_ms", "latency_iqr_ms", "latency_min_ms",
    "latency_rounds", "peak_mem_bytes", "peak_mem_method", "rank", "pareto",
)  # fmt: skip
ENV_FIELDS = ("device", "torch_version", "threads", "dtype", "memory_format", "batch", "impl", "backend")
RESULT_FIELDS = (*ROW_FIELDS, *MEASURED_FIELDS, "error", *ENV_FIELDS)
SEARCH_SORT_FIELDS = (*SORT_ROW_FIELDS, "latency_ms", "latency_min_ms", "peak_mem_bytes")


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


def write_results(result: SearchResult, request: SearchRequest, out: Path) -> list[Path]:
    """results.csv, results.md, results.json, configs/<key>.json, then the plots; each written atomically.

    The tables come first: a plot that fails raises (naming the files already written) but
    never loses them.
    """
    files = _write_tables(result, request, out)
    if request.run.plot:
        files += _write_plots(result, request.spec, out)
    return files


def _write_tables(result: SearchResult, request: SearchRequest, out: Path) -> list[Path]:
    spec = request.spec
    header, fields = results_header(result, request), result_fields(spec)
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


def results_header(result: SearchResult, request: SearchRequest) -> str:
    """The Markdown paragraph above the results table: spec, convention, environment, protocol."""
    spec, opts = request.spec, request.measure
    env_line = ", ".join(f"{k}={v}" for k, v in result.env.items())
    impl = (result.rows.get("impl", ["auto"])[0]) if result.rows else "auto"
    notes = [f"Environment: {env_line}.", f"Measurement: {describe(opts, result.backend)}; IGC implementation {impl}."]
    if request.run.plot:
        from .plots import alt_text

        notes.append(f"![{alt_text(result.rows)}](tradeoff.png)")
    if result.interrupted:
        notes.append(
            f"**Interrupted**: latency_rounds says how many of the {opts.rounds} rounds each row has; "
            "rows with 0 were not timed."
        )
    target = target_of(spec)
    notes += [f"{n[0].upper()}{n[1:]}." for n in target.notes(spec)]
    return md_header(f"igcsearch search: {spec.name}", spec.describe(), notes, target.convention)


def result_fields(spec: Spec) -> tuple[str, ...]:
    """The columns of a search's results: RESULT_FIELDS, with the knob and width columns of networks."""
    return target_of(spec).fields(RESULT_FIELDS)


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
