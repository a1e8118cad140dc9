"""SQLite results store: runs, candidates, measurements and latency samples.

Every measurement is committed the moment it is taken (WAL mode), so a search killed at any
moment resumes without re-measuring, and stores from several machines merge. A measurement
is identified by (key, input_size, settings hash, environment hash): the same candidate
measured with other settings or on another machine is another measurement. Latency samples
(one per interleaved round) are stored individually, so a resumed run only takes the rounds
it is missing.

Schema history: version 1 kept latency statistics only (no samples, no run identity);
version 2 adds the ``samples`` table and ``runs.identity``. Older files migrate forward when
they are opened for writing; a store opened for reading (``readonly=True``: ``runs list|show|
report``, ``load_results``, the sources of ``runs merge``) is never written, created or
migrated: a version-1 file is read as it is.

One writer per store: :func:`locked` takes an exclusive ``flock`` on ``<store>.lock`` (it dies
with its process, so a ``kill -9`` leaves nothing to clean); a second writer waits for it.

Every SQLite failure after opening (a damaged file, a missing table, a read-only file, a full
disk) is an :class:`IgcSearchError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import IgcSearchError
from .units import plain_json

STORE_SCHEMA_VERSION = 2

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


def dumps(data: Any, **kw: Any) -> str:
    """Standard JSON text of ``data`` (infinities as "inf", see :func:`plain_json`), sorted keys."""
    return json.dumps(plain_json(data), sort_keys=True, allow_nan=False, **kw)


def digest(data: dict[str, Any]) -> str:
    """Stable short hash of a JSON-able dict."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


TABLES = {  # the tables of each schema version and the columns the code reads
    1: {
        "meta": ("name", "value"),
        "runs": ("id", "name", "spec", "settings", "env", "started", "ended", "status"),
        "candidates": ("key", "input_size", "family", "config", "params", "macs", "acts"),
        "run_candidates": ("run_id", "key", "input_size"),
        "measurements": (
            "key", "input_size", "settings_hash", "env_hash", "settings", "env", "params_measured", "macs_measured",
            "count_ok", "peak_mem_bytes", "latency_ms", "latency_iqr_ms", "latency_min_ms", "error", "created",
        ),
    },
}  # fmt: skip
TABLES[2] = {
    **TABLES[1],
    "runs": (*TABLES[1]["runs"], "identity"),
    "samples": ("key", "input_size", "settings_hash", "env_hash", "round", "ms", "created"),
}
NOT_A_STORE = "is not an igcsearch results store"


def legacy_identity(name: str, spec: str, settings: str, env: str, started: float) -> str:
    """The identity of a run written before runs had one (schema 1): stable, from its stored text."""
    return "v1-" + digest({"name": name, "spec": spec, "settings": settings, "env": env, "started": started})


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """SQLite errors of a Store method as one IgcSearchError naming the file."""

    @functools.wraps(fn)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    return wrapper


def describe_error(exc: BaseException) -> str:
    """What an SQLite/OS error means for a store, in words."""
    text = str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))
    low = text.lower()
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return f"is damaged ({text})"
    if "readonly" in low or "read-only" in low:
        return f"is read-only ({text})"
    if "disk is full" in low or "no space" in low:
        return f"cannot be written: the disk is full ({text})"
    if "no such table" in low or "no such column" in low:
        return f"is damaged or not an igcsearch results store ({text})"
    return f"failed: {text}"


class Store:
    """One SQLite file; open it, use it, close it (or use it as a context manager).

    ``readonly=True`` opens an existing store for reading only: nothing is created, migrated
    or written (read-only files and directories work); a file that is not an igcsearch store
    (empty, another database, damaged) is refused.
    """

    def __init__(self, path: Path | str, readonly: bool = False) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"store path must be a str or Path, got {type(path).__name__}")
        self.path = Path(path)
        self.readonly = readonly
        self.db: sqlite3.Connection | None = None
        try:
            if readonly:
                self._open_readonly()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30)
                self.check(new_ok=True)  # before anything is written
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.migrate()
        except sqlite3.Error as exc:
            self._drop()
            raise self.error(exc) from None
        except OSError as exc:
            self._drop()
            raise IgcSearchError(f"cannot open results store {str(self.path)!r}: {exc.strerror or exc}") from None
        except BaseException:
            self._drop()
            raise

    def _open_readonly(self) -> None:
        if not self.path.is_file():
            raise IgcSearchError(f"no results store at {str(self.path)!r}")
        if self.path.stat().st_size == 0:
            raise IgcSearchError(f"{str(self.path)!r} {NOT_A_STORE} (an empty file)")
        # mode=ro where a writer's WAL exists (its rows are read, nothing is created); otherwise
        # immutable=1: SQLite creates no -wal/-shm file beside a store it only reads.
        wal = Path(f"{self.path}-wal").exists()
        uri = self.path.absolute().as_uri() + ("?mode=ro" if wal else "?immutable=1")
        self.db = sqlite3.connect(uri, uri=True, timeout=30)
        self.check(new_ok=False)

    def _drop(self) -> None:
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
            self.db = None

    def error(self, exc: BaseException) -> IgcSearchError:
        """An IgcSearchError for an SQLite failure on this file: ``results store X is damaged (…)``."""
        return IgcSearchError(f"results store {str(self.path)!r} {describe_error(exc)}")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        if self.db is not None:
            try:
                self.db.close()
            except sqlite3.Error as exc:
                raise self.error(exc) from None
            finally:
                self.db = None

    # ------------------------------------------------------------ schema

    def _tables(self) -> dict[str, set[str]]:
        names = [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: {r[1] for r in self.db.execute(f"PRAGMA table_info({n!r})")} for n in names}

    @property
    def version(self) -> int:
        """The file's schema version (0 for a new file)."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        except sqlite3.OperationalError:
            return 0
        if not row:
            return 0
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise IgcSearchError(
                f"results store {str(self.path)!r} is damaged: schema_version {row[0]!r} is not an integer"
            ) from None

    def check(self, new_ok: bool = False) -> int:
        """Refuse a file that is not a store this igcsearch can use (before anything is written); its version.

        ``new_ok``: a database with no table at all is a new store (version 0).
        """
        tables = self._tables()  # raises "file is not a database" on a foreign or damaged file
        if not tables and new_ok:
            return 0
        if "meta" not in tables:
            raise IgcSearchError(f"{str(self.path)!r} {NOT_A_STORE} (no meta table with a schema_version)")
        version = self.version
        if version > STORE_SCHEMA_VERSION:
            raise IgcSearchError(
                f"results store {str(self.path)!r} has schema {version}, newer than this igcsearch ({STORE_SCHEMA_VERSION})"
            )
        if version < 1:
            raise IgcSearchError(f"{str(self.path)!r} {NOT_A_STORE} (no schema_version in its meta table)")
        for table, cols in TABLES[version].items():
            if table not in tables:
                raise IgcSearchError(f"results store {str(self.path)!r} is damaged: table {table!r} is missing")
            missing = [c for c in cols if c not in tables[table]]
            if missing:
                raise IgcSearchError(
                    f"results store {str(self.path)!r} is damaged: table {table!r} lacks column(s) {', '.join(missing)}"
                )
        return version

    @_guarded
    def check_integrity(self) -> None:
        """Refuse a file with damaged pages (SQLite's quick_check)."""
        problems = [r[0] for r in self.db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise IgcSearchError(f"results store {str(self.path)!r} is damaged: {problems[0]}")

    def migrate(self) -> None:
        """Bring the file to STORE_SCHEMA_VERSION, one version at a time, each in a transaction."""
        current = self.version
        if current > STORE_SCHEMA_VERSION:
            raise IgcSearchError(
                f"results store {str(self.path)!r} has schema {current}, newer than this igcsearch ({STORE_SCHEMA_VERSION})"
            )
        for version in range(current + 1, STORE_SCHEMA_VERSION + 1):
            with self.db:
                for statement in MIGRATIONS[version].strip().split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
        legacy = self.db.execute(
            "SELECT id, name, spec, settings, env, started FROM runs WHERE identity IS NULL"
        ).fetchall()
        if legacy:  # runs of schema 1 get a stable identity: merging them again finds them
            with self.db:
                self.db.executemany(
                    "UPDATE runs SET identity = ? WHERE id = ?", [(legacy_identity(*r[1:]), r[0]) for r in legacy]
                )

    # ------------------------------------------------------------ runs

    @_guarded
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

    @_guarded
    def end_run(self, run_id: int, status: str) -> None:
        """Mark a run done or interrupted."""
        with self.db:
            self.db.execute("UPDATE runs SET status = ?, ended = ? WHERE id = ?", (status, time.time(), run_id))

    @_guarded
    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, with its number of candidates and measurements."""
        cols = ["id", "name", "spec", "settings", "env", "started", "ended", "status"]
        out = []
        for row in self.db.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY id").fetchall():
            run = dict(zip(cols, row, strict=True))
            for k in ("spec", "settings", "env"):
                try:
                    run[k] = json.loads(run[k])
                except (TypeError, ValueError):
                    raise IgcSearchError(
                        f"results store {str(self.path)!r} is damaged: run {run['id']} has no valid {k} JSON"
                    ) from None
                if not isinstance(run[k], dict):
                    raise IgcSearchError(
                        f"results store {str(self.path)!r} is damaged: run {run['id']}'s {k} is not a JSON object"
                    )
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

    @_guarded
    def add_candidates(self, run_id: int, rows: Iterable[tuple[str, int, str, str, int, int, int]]) -> None:
        """(key, input_size, family, config json, params, macs, acts) rows, linked to the run."""
        rows = list(rows)
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self.db.executemany(
                "INSERT OR IGNORE INTO run_candidates VALUES (?, ?, ?)", [(run_id, r[0], r[1]) for r in rows]
            )

    @_guarded
    def counts(self, sh: str, eh: str) -> dict[tuple[str, int], dict[str, Any]]:
        """Stored count measurements for the settings/environment: (key, size) -> fields."""
        cols = ["key", "input_size", "params_measured", "macs_measured", "count_ok", "peak_mem_bytes", "error"]
        rows = self.db.execute(
            f"SELECT {', '.join(cols)} FROM measurements WHERE settings_hash = ? AND env_hash = ?", (sh, eh)
        ).fetchall()
        return {(r[0], r[1]): dict(zip(cols[2:], r[2:], strict=True)) for r in rows}

    @_guarded
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

    @_guarded
    def samples(self, sh: str, eh: str) -> dict[tuple[str, int], dict[int, float]]:
        """Stored latency samples: (key, size) -> {round: ms} (none in a schema-1 file read as it is)."""
        out: dict[tuple[str, int], dict[int, float]] = {}
        if self.version < 2:
            return out
        rows = self.db.execute(
            "SELECT key, input_size, round, ms FROM samples WHERE settings_hash = ? AND env_hash = ?", (sh, eh)
        ).fetchall()
        for key, size, rnd, ms in rows:
            out.setdefault((key, size), {})[rnd] = ms
        return out

    @_guarded
    def put_sample(self, key: str, size: int, sh: str, eh: str, rnd: int, ms: float) -> None:
        """Commit one latency sample (one candidate, one round)."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?)", (key, size, sh, eh, rnd, ms, time.time())
            )

    @_guarded
    def put_latency(self, key: str, size: int, sh: str, eh: str, stats: dict[str, float]) -> None:
        """Store the latency summary next to the counts."""
        with self.db:
            self.db.execute(
                "UPDATE measurements SET latency_ms = ?, latency_iqr_ms = ?, latency_min_ms = ? "
                "WHERE key = ? AND input_size = ? AND settings_hash = ? AND env_hash = ?",
                (stats["latency_ms"], stats["latency_iqr_ms"], stats["latency_min_ms"], key, size, sh, eh),
            )

    @_guarded
    def measurement_count(self) -> int:
        """Number of stored count measurements (one per measured candidate)."""
        return int(self.db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])

    # ------------------------------------------------------------ merge

    @_guarded
    def dump(self) -> dict[str, list[tuple]]:
        """Every row of the store, table by table, in the columns of the current schema (schema 1 read as it is)."""
        version = self.version
        out: dict[str, list[tuple]] = {}
        for table in ("candidates", "measurements", "run_candidates"):
            cols = ", ".join(TABLES[2][table])
            out[table] = self.db.execute(f"SELECT {cols} FROM {table}").fetchall()
        cols = ", ".join(TABLES[1]["runs"])
        identity = "identity" if version >= 2 else "NULL"
        runs = self.db.execute(f"SELECT {cols}, {identity} FROM runs ORDER BY id").fetchall()
        out["runs"] = [(*r[:8], r[8] or legacy_identity(*r[1:6])) for r in runs]
        out["samples"] = (
            self.db.execute(f"SELECT {', '.join(TABLES[2]['samples'])} FROM samples").fetchall() if version >= 2 else []
        )
        return out

    @staticmethod
    def read_source(path: Path | str) -> dict[str, list[tuple]]:
        """Every row of another store, opened read-only and checked whole (never modified)."""
        with Store(path, readonly=True) as src:
            src.check_integrity()
            return src.dump()

    def merge_from(self, other: Path | str | dict[str, list[tuple]]) -> dict[str, int]:
        """Copy every run, candidate, measurement and sample of another store into this one.

        The source is opened read-only and never changed (a schema-1 source is read as it is);
        a damaged source or target is refused before anything is written; merging the same
        source again adds nothing. ``other`` may be the rows :meth:`read_source` returned.
        """
        data = other if isinstance(other, dict) else self.read_source(other)
        self.check_integrity()
        try:
            return self._merge(data)
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    def _merge(self, data: dict[str, list[tuple]]) -> dict[str, int]:
        added: dict[str, int] = {}
        with self.db:  # one transaction: all or nothing
            for table in ("candidates", "measurements", "samples"):
                before = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                cols = TABLES[2][table]
                self.db.executemany(
                    f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    data[table],
                )
                added[table] = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] - before
            links: dict[int, list[tuple]] = {}
            for run_id, key, size in data["run_candidates"]:
                links.setdefault(run_id, []).append((key, size))
            added["runs"] = 0
            for run in data["runs"]:
                if self.db.execute("SELECT 1 FROM runs WHERE identity = ?", (run[8],)).fetchone():
                    continue
                cur = self.db.execute(
                    "INSERT INTO runs (name, spec, settings, env, started, ended, status, identity) VALUES (?,?,?,?,?,?,?,?)",
                    run[1:],
                )
                self.db.executemany(
                    "INSERT OR IGNORE INTO run_candidates VALUES (?, ?, ?)",
                    [(cur.lastrowid, k, s) for k, s in links.get(run[0], [])],
                )
                added["runs"] += 1
        return added


# ---------------------------------------------------------------- one writer per store


def lock_path(store: Path | str) -> Path:
    """The lock file of a store: ``<store>.lock`` beside it."""
    return Path(f"{store}.lock")


@contextlib.contextmanager
def locked(paths: Iterable[Path | str], notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on each lock file (sorted, so two holders never deadlock).

    A lock another process holds is waited for (``notify`` is told once, with the file); the
    OS releases it when its holder exits, ``kill -9`` included.
    """
    import fcntl

    fds: list[int] = []
    try:
        for path in sorted({Path(os.path.abspath(p)) for p in paths}):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise IgcSearchError(f"cannot create the lock file {str(path)!r}: {exc.strerror or exc}") from None
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if notify is not None:
                    notify(
                        f"waiting: another igcsearch process is writing this store (lock {str(path)!r}); "
                        "it goes on when that one ends"
                    )
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # releases the flock
