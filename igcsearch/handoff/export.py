"""`igcsearch export`: JSON configs for training scripts, from a results directory.

A results directory (what ``igcsearch search`` writes: ``results.json``, ``configs/``,
``results.sqlite``) is read back, rows are selected (the top N in rank order, the Pareto
rows, or given keys) and each is written as ``<out>/<key>.json`` in the record format of
:func:`igcsearch.record.export_record`: ``schema_version``, ``igcsearch_version``, ``key``,
``family``, ``config`` (the knobs and geometry, or ``{"network_key": …}`` for a network
row), ``input_size``, analytic ``counts`` and the ``spec`` the row came from.
``igcsearch.build(path)`` (or :func:`build_record` here) turns a record back into a module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, IgcSearchError
from ..record import export_record
from ..spec import spec_from_dict

RECORD_FIELDS = ("key", "family", "input_size", "params", "macs", "acts")


def select(frame: Any, top: int | None = None, pareto: bool = False, keys: list[str] | None = None) -> Any:
    """The rows to export, in rank order: given keys, or the Pareto rows and/or the first ``top``."""
    if "rank" in frame.columns:
        frame = frame.sort_values("rank", kind="stable")
    if keys:
        if top is not None or pareto:
            raise IgcSearchError("give --keys alone, or --top and/or --pareto")
        known = set(frame["key"])
        missing = [k for k in keys if k not in known]
        if missing:
            sample = ", ".join(frame["key"].head(5))
            raise IgcSearchError(
                f"key(s) not in the results: {', '.join(missing)}; the results hold {len(known)} rows, e.g. {sample}"
            )
        return frame.set_index("key", drop=False).loc[list(dict.fromkeys(keys))].reset_index(drop=True)
    if top is None and not pareto:
        raise IgcSearchError("choose the rows to export: --top N, --pareto (or both), or --keys k1,k2")
    if "error" in frame.columns:
        frame = frame[frame["error"].fillna("").astype(str) == ""]
    if pareto:
        if "pareto" not in frame.columns:
            raise IgcSearchError("these results have no pareto column (written by `igcsearch search`)")
        frame = frame[frame["pareto"].fillna(False).astype(bool)]
    if top is not None:
        if top < 1:
            raise IgcSearchError(f"--top must be >= 1, got {top}")
        frame = frame.head(top)
    return frame.reset_index(drop=True)


def find_spec(results_dir: Path, key: str) -> Any:
    """The Spec a row came from: its ``configs/<key>.json``, else the newest run in ``results.sqlite``."""
    record = results_dir / "configs" / f"{key}.json"
    if record.is_file():
        try:
            return spec_from_dict(json.loads(record.read_text(encoding="utf-8"))["spec"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable or foreign file: fall back to the store
    store_path = results_dir / "results.sqlite"
    if store_path.is_file():
        from ..store import Store

        with Store(store_path, readonly=True) as store:
            runs = store.runs()
            if runs:
                return spec_from_dict(store.run(max(r["id"] for r in runs))["spec"])
    raise IgcSearchError(
        f"cannot find the spec of {key!r} in {str(results_dir)!r}: neither configs/{key}.json nor results.sqlite; "
        "export from a directory written by `igcsearch search`"
    )


def export_configs(
    results_dir: str | Path,
    out: str | Path,
    *,
    top: int | None = None,
    pareto: bool = False,
    keys: list[str] | None = None,
) -> list[tuple[dict[str, Any], Path]]:
    """Write one ``<out>/<key>.json`` record per selected row; returns (record, path) pairs."""
    from ..rebuild import load_results
    from ..report import atomic_open

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise IgcSearchError(f"results directory {str(results_dir)!r} does not exist")
    where = str(results_dir / "results.json")
    try:
        frame = load_results(results_dir)
    except IgcSearchError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise IgcSearchError(f"cannot read {where!r}: {type(exc).__name__}: {exc}") from None
    if len(frame) == 0:
        raise IgcSearchError(f"{where!r} holds no rows")
    missing = [name for name in RECORD_FIELDS if name not in frame.columns]
    if missing:
        raise IgcSearchError(
            f"{where!r} is not a results file of `igcsearch search`: its rows lack {', '.join(missing)}"
        )
    chosen = select(frame, top, pareto, keys)
    if len(chosen) == 0:
        raise IgcSearchError("no rows match: nothing to export")
    try:
        rows = {name: np.asarray(chosen[name].tolist(), dtype=object if name in ("key", "family") else np.int64)
                for name in RECORD_FIELDS}  # fmt: skip
    except (ValueError, TypeError, OverflowError) as exc:
        raise IgcSearchError(f"{where!r} holds a malformed row: {type(exc).__name__}: {exc}") from None
    for key in rows["key"].tolist():
        safe_file_name(key, where)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise IgcSearchError(f"--out {str(out)!r} is a file; export writes <key>.json files into a directory")
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for key in rows["key"].tolist():
            record = export_record(key, rows, find_spec(results_dir, key))
            path = out / f"{key}.json"
            with atomic_open(path) as fh:
                json.dump(record, fh, indent=2, allow_nan=False)
                fh.write("\n")
            written.append((record, path))
    except OSError as exc:
        raise IgcSearchError(f"cannot write configs to {str(out)!r}: {exc.strerror}") from None
    return written


def safe_file_name(key: Any, where: str) -> str:
    """A row key that becomes a file name: a plain name, never a path (no separators, '..', NUL or empty)."""
    from ..spec import is_plain_name

    text = str(key)
    if not isinstance(key, str) or not is_plain_name(key):
        raise IgcSearchError(f"{where}: row key {text!r} cannot be a file name (a key is a name, never a path)")
    return text


# ---------------------------------------------------------------- reading records back


def read_record(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A record from a file or dict, checked (:func:`igcsearch.builder.check_record`).

    A bare config dict (``{"family": …, …}``) is wrapped as ``{"config": …}`` without counts.
    """
    from ..builder import check_record, read_json

    where = "config"
    if not isinstance(source, dict):
        path = Path(source)
        where = f"config file {str(path)!r}"
        source = read_json(path, where)
    if not isinstance(source, dict):
        raise ConfigError(f"{where} must hold a JSON object")
    if "family" in source and "config" not in source:
        return {"config": source}
    if not isinstance(source.get("config"), dict):
        raise ConfigError(f"{where} has no 'config' object (expected an `igcsearch export` record or a config)")
    check_record(source, where)
    return source


def record_key(record: dict[str, Any]) -> str:
    """The row key of a record (a block config key or a network key)."""
    from ..config import from_dict

    config = record["config"]
    if "network_key" in config:
        return str(config["network_key"])
    return from_dict(config).key


def build_record(source: str | Path | dict[str, Any], **opts: Any) -> Any:
    """The module of a record: the block of a block config, the network of a network row."""
    from ..builder import build

    return build(read_record(source)["config"], **opts)
