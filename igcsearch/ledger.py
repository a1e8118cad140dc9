"""One search run's ledger in the results store: the run row, what the store already has for
these measurement settings and this environment, and each measurement committed as it finishes.

A search without a store (the Python API with no ``out``) uses a ledger with ``store=None``:
it reuses nothing and records nothing, and the code that measures does not need to know.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .record import config_of
from .spec import Spec, spec_to_dict
from .store import Store, digest

COUNT_FIELDS = ("params_measured", "macs_measured", "count_ok", "peak_mem_bytes", "error")


class Ledger:
    """The store's side of one run (``store`` None: nothing kept)."""

    def __init__(
        self, store: Store | None, settings: dict[str, Any], env: dict[str, Any], *, readonly: bool = False
    ) -> None:
        self.store, self.settings, self.env = store, settings, env
        self.writes = store is not None and not readonly  # readonly: rebuilding a report reads only
        self.settings_hash, self.env_hash = digest(settings), digest(env)
        self.run_id: int | None = None

    def begin(self, spec: Spec, rows: dict[str, np.ndarray]) -> None:
        """Record the run and its candidates (status 'running'); Ctrl-C here leaves it 'interrupted'."""
        if not self.writes:
            return
        self.run_id = self.store.begin_run(spec.name, spec_to_dict(spec, network=True), self.settings, self.env)
        try:
            keys, sizes = rows["key"].tolist(), rows["input_size"].astype(int).tolist()
            counts = zip(rows["params"], rows["macs"], rows["acts"], strict=True)
            self.store.add_candidates(self.run_id, [
                (k, s, str(f), json.dumps(config_of(k)), int(p), int(m), int(a))
                for k, s, f, (p, m, a) in zip(keys, sizes, rows["family"], counts, strict=True)
            ])  # fmt: skip
        except KeyboardInterrupt:  # stopped before anything was measured: the run is not left 'running'
            self.end("interrupted")
            raise

    def stored(self) -> tuple[dict, dict]:
        """(counts by (key, input_size), latency samples by (key, input_size) then round) already stored."""
        if self.store is None:
            return {}, {}
        try:
            return self.store.counts(self.settings_hash, self.env_hash), self.store.samples(
                self.settings_hash, self.env_hash
            )
        except KeyboardInterrupt:
            self.end("interrupted")
            raise

    def put_counts(self, key: str, size: int, values: dict[str, Any]) -> None:
        """A candidate's counts, peak memory and error (numpy scalars as Python values)."""
        if self.writes:
            plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()}
            self.store.put_counts(key, size, self.settings_hash, self.env_hash, self.settings, self.env, plain)

    def put_sample(self, key: str, size: int, rnd: int, ms: float) -> None:
        """One timed round of a candidate."""
        if self.writes:
            self.store.put_sample(key, size, self.settings_hash, self.env_hash, rnd, ms)

    def put_latency(self, key: str, size: int, stats: dict[str, float]) -> None:
        """A candidate's latency statistics once every round is in."""
        if self.writes:
            self.store.put_latency(key, size, self.settings_hash, self.env_hash, stats)

    def end(self, status: str) -> None:
        """Close the run: 'done' or 'interrupted'."""
        if self.writes and self.run_id is not None:
            self.store.end_run(self.run_id, status)
            self.run_id = None
