"""Rebuilding a run's results from the store (``igcsearch runs report``, ``load_results`` of a
store file): the same rows, ranking and files as the search that measured them, measuring nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .errors import SpecError
from .ledger import Ledger
from .measure import MeasureOptions
from .pipeline import candidates, ranked
from .request import RunOptions, SearchRequest
from .results import SearchResult, read_results_json, write_results
from .runner import Quiet, Runner
from .spec import spec_from_dict


def report_run(store_path: Path, run_id: int, out: Path | None, plot: bool = False) -> SearchResult:
    """Rebuild a run's ranked rows (and files under ``out``) from the store, measuring nothing."""
    from .store import Store, digest, lock_path, locked

    with Store(store_path, readonly=True) as store:
        stored = store.run(run_id)
        spec = spec_from_dict(stored["spec"])
        settings, env = stored["settings"], stored["env"]
        known = {f.name for f in dataclasses.fields(MeasureOptions)}
        rounds = max((len(v) for v in store.samples(digest(settings), digest(env)).values()), default=1)
        opts = MeasureOptions(**{k: v for k, v in settings.items() if k in known}, rounds=max(rounds, 1))
        backend = settings.get("backend") or "local"
        request = SearchRequest(spec, opts, RunOptions(backend=backend, plot=plot))
        rows, total = candidates(spec)
        result = SearchResult(rows={}, env=env, total_space=total, backend=backend)
        if rows:
            runner = Runner(rows, opts, Ledger(store, settings, env, readonly=True), result, Quiet())
            runner.reuse(fresh=False, offline=True)
            result.rows = ranked(runner.finish(), spec, opts, settings, env)
    if out is not None and result.rows:
        with locked([lock_path(Path(out) / "results.sqlite")]):
            result.files = write_results(result, request, Path(out))
    return result


def load_results(path: Path | str) -> Any:
    """DataFrame of a run: a results directory (its results.json) or a store file (every run's rows)."""
    import pandas as pd

    from .store import Store

    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.exists():
        raise SpecError(f"no results at {str(path)!r}")
    if path.suffix == ".json":
        import io

        return pd.read_json(io.StringIO(read_results_json(path)), orient="records", dtype=False)
    with Store(path, readonly=True) as store:
        run_ids = [r["id"] for r in store.runs()]
    frames = []
    for run_id in run_ids:
        df = report_run(path, run_id, None).frame()
        df.insert(0, "run", run_id)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
