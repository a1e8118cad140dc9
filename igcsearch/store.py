"""SQLite results store: runs, candidates, measurements and latency samples.

Every measurement is committed the moment it is taken (WAL mode), so a search killed at any
moment resumes without re-measuring, and stores from several machines merge. A measurement
is identified by (key, input_size, settings hash, environment hash): the same candidate
measured with other settings or on another machine is another measurement. Latency samples
(one per interleaved round) are stored individually, so a resumed run only takes the rounds
it is missing.

Schema history: version 1 kept latency statistics only (no samples, no run identity);
version 2 adds the ``samples`` table and ``runs.identity``. Older files migrate forward on open.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import IgcSearchError

SCHEMA_VERSION = 2

_V1 = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, spec TEXT NOT NULL,
    settings TEXT NOT NULL, env TEXT NOT NULL, started REAL NOT NULL, ended REAL,
    status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    key TEXT NOT NULL, input_size INTEGER NOT NULL, family TEXT NOT NULL, config TEXT NOT NULL,
    params INTEGER NOT NULL, macs INTEGER NOT NULL, acts INTEGER NOT NULL,
    PRIMARY KEY (key, input_size));
CREATE TABLE IF NOT EXISTS run_candidates (
    run_id INTEGER NOT NULL, key TEXT NOT NULL, input_size INTEGER NOT NULL,
    PRIMARY KEY (run_id, key, input_size));
CREATE TABLE IF NOT EXISTS measurements (
    key TEXT NOT NULL, input_size INTEGER NOT NULL, settings_hash TEXT NOT NULL, env_hash TEXT NOT NULL,
    settings TEXT NOT NULL, env TEXT NOT NULL,
    params_measured INTEGER, macs_measured INTEGER, count_ok INTEGER, peak_mem_bytes INTEGER,
    latency_ms REAL, latency_iqr_ms REAL, latency_min_ms REAL, error TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    PRIMARY KEY (key, input_size, settings_hash, env_hash));
"""

_V2 = """
ALTER TABLE runs ADD COLUMN identity TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS runs_identity ON runs(identity);
CREATE TABLE IF NOT EXISTS samples (
    key TEXT NOT NULL, input_size INTEGER NOT NULL, settings_hash TEXT NOT NULL, env_hash TEXT NOT NULL,
    round INTEGER NOT NULL, ms REAL NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (key, input_size, settings_hash, env_hash, round));
"""

MIGRATIONS = {1: _V1, 2: _V2}


NON_FINITE = {"inf": math.inf, "-inf": -math.inf}


def plain_json(data: Any) -> Any:
    """``data`` with every infinity as the string ``"inf"``/``"-inf"`` (NaN as null): standard JSON."""
    if isinstance(data, float) and not math.isfinite(data):
        return None if data != data else ("inf" if data > 0 else "-inf")
    if isinstance(data, dict):
        return {k: plain_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain_json(v) for v in data]
    return data


def dumps(data: Any, **kw: Any) -> str:
    """Standard JSON text of ``data`` (infinities as "inf", see :func:`plain_json`), sorted keys."""
    return json.dumps(plain_json(data), sort_keys=True, allow_nan=False, **kw)


def digest(data: dict[str, Any]) -> str:
    """Stable short hash of a JSON-able dict."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class Store:
    """One SQLite file; open it, use it, close it (or use it as a context manager)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise IgcSearchError(f"cannot open results store {str(self.path)!r}: {exc}") from None
        except OSError as exc:
            raise IgcSearchError(f"cannot open results store {str(self.path)!r}: {exc.strerror}") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # ------------------------------------------------------------ schema

    @property
    def version(self) -> int:
        """The file's schema version (0 for a new file)."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        """Bring the file to SCHEMA_VERSION, one version at a time, each in a transaction."""
        current = self.version
        if current > SCHEMA_VERSION:
            raise IgcSearchError(
                f"results store {str(self.path)!r} has schema {current}, newer than this igcsearch ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.db:
                for statement in MIGRATIONS[version].strip().split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))

    # ------------------------------------------------------------ runs

    def begin_run(self, name: str, spec: dict[str, Any], settings: dict[str, Any], env: dict[str, Any]) -> int:
        """The run of this (spec, settings, environment): resumed if it exists, else new.

        The identity hashes the dicts as given (stable across versions); the stored text is
        standard JSON (an infinite balance_tol is written "inf").
        """
        identity = digest({"spec": spec, "settings": settings, "env": env})
        row = self.db.execute("SELECT id FROM runs WHERE identity = ?", (identity,)).fetchone()
        with self.db:
            if row:
                self.db.execute("UPDATE runs SET status = 'running', ended = NULL WHERE id = ?", (row[0],))
                return int(row[0])
            cur = self.db.execute(
                "INSERT INTO runs (name, spec, settings, env, started, status, identity) VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (
                    name,
                    dumps(spec),
                    dumps(settings),
                    dumps(env),
                    time.time(),
                    identity,
                ),
            )
            return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, status: str) -> None:
        """Mark a run done or interrupted."""
        with self.db:
            self.db.execute("UPDATE runs SET status = ?, ended = ? WHERE id = ?", (status, time.time(), run_id))

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, with its number of candidates and measurements."""
        cols = ["id", "name", "spec", "settings", "env", "started", "ended", "status"]
        out = []
        for row in self.db.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY id"):
            run = dict(zip(cols, row, strict=True))
            for k in ("spec", "settings", "env"):
                run[k] = json.loads(run[k])
            run["candidates"] = self.db.execute(
                "SELECT COUNT(*) FROM run_candidates WHERE run_id = ?", (run["id"],)
            ).fetchone()[0]
            out.append(run)
        return out

    def run(self, run_id: int) -> dict[str, Any]:
        """One run by id."""
        for run in self.runs():
            if run["id"] == run_id:
                return run
        raise IgcSearchError(f"no run {run_id} in {str(self.path)!r}; see `igcsearch runs list`")

    # ------------------------------------------------------------ candidates and measurements

    def add_candidates(self, run_id: int, rows: Iterable[tuple[str, int, str, str, int, int, int]]) -> None:
        """(key, input_size, family, config json, params, macs, acts) rows, linked to the run."""
        rows = list(rows)
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self.db.executemany(
                "INSERT OR IGNORE INTO run_candidates VALUES (?, ?, ?)", [(run_id, r[0], r[1]) for r in rows]
            )

    def counts(self, sh: str, eh: str) -> dict[tuple[str, int], dict[str, Any]]:
        """Stored count measurements for the settings/environment: (key, size) -> fields."""
        cols = ["key", "input_size", "params_measured", "macs_measured", "count_ok", "peak_mem_bytes", "error"]
        rows = self.db.execute(
            f"SELECT {', '.join(cols)} FROM measurements WHERE settings_hash = ? AND env_hash = ?", (sh, eh)
        )
        return {(r[0], r[1]): dict(zip(cols[2:], r[2:], strict=True)) for r in rows}

    def put_counts(
        self, key: str, size: int, sh: str, eh: str, settings: dict, env: dict, values: dict[str, Any]
    ) -> None:
        """Commit one candidate's count measurement (params, macs, count_ok, memory, error)."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO measurements (key, input_size, settings_hash, env_hash, settings, env, "
                "params_measured, macs_measured, count_ok, peak_mem_bytes, error, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (key, size, sh, eh, dumps(settings), dumps(env),
                 values["params_measured"], values["macs_measured"], values["count_ok"], values["peak_mem_bytes"],
                 values["error"], time.time()),
            )  # fmt: skip

    def samples(self, sh: str, eh: str) -> dict[tuple[str, int], dict[int, float]]:
        """Stored latency samples: (key, size) -> {round: ms}."""
        out: dict[tuple[str, int], dict[int, float]] = {}
        rows = self.db.execute(
            "SELECT key, input_size, round, ms FROM samples WHERE settings_hash = ? AND env_hash = ?", (sh, eh)
        )
        for key, size, rnd, ms in rows:
            out.setdefault((key, size), {})[rnd] = ms
        return out

    def put_sample(self, key: str, size: int, sh: str, eh: str, rnd: int, ms: float) -> None:
        """Commit one latency sample (one candidate, one round)."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?)", (key, size, sh, eh, rnd, ms, time.time())
            )

    def put_latency(self, key: str, size: int, sh: str, eh: str, stats: dict[str, float]) -> None:
        """Store the latency summary next to the counts."""
        with self.db:
            self.db.execute(
                "UPDATE measurements SET latency_ms = ?, latency_iqr_ms = ?, latency_min_ms = ? "
                "WHERE key = ? AND input_size = ? AND settings_hash = ? AND env_hash = ?",
                (stats["latency_ms"], stats["latency_iqr_ms"], stats["latency_min_ms"], key, size, sh, eh),
            )

    def measurement_count(self) -> int:
        """Number of stored count measurements (one per measured candidate)."""
        return int(self.db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])

    def merge_from(self, other: Path) -> dict[str, int]:
        """Copy every run, candidate, measurement and sample of another store into this one."""
        src = Store(other)
        src.close()
        added: dict[str, int] = {}
        with self.db:
            self.db.execute("ATTACH DATABASE ? AS src", (str(other),))
            try:
                for table in ("candidates", "measurements", "samples"):
                    before = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                    self.db.execute(f"INSERT OR IGNORE INTO {table} SELECT * FROM src.{table}")
                    added[table] = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] - before
                runs = self.db.execute(
                    "SELECT id, name, spec, settings, env, started, ended, status, identity FROM src.runs"
                ).fetchall()
                added["runs"] = 0
                for run in runs:
                    if self.db.execute("SELECT 1 FROM runs WHERE identity = ?", (run[8],)).fetchone():
                        continue
                    cur = self.db.execute(
                        "INSERT INTO runs (name, spec, settings, env, started, ended, status, identity) VALUES (?,?,?,?,?,?,?,?)",
                        run[1:],
                    )
                    self.db.execute(
                        "INSERT OR IGNORE INTO run_candidates SELECT ?, key, input_size FROM src.run_candidates WHERE run_id = ?",
                        (cur.lastrowid, run[0]),
                    )
                    added["runs"] += 1
            finally:
                pass
        self.db.execute("DETACH DATABASE src")
        return added
