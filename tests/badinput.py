"""The bad-input corpus: commands a hostile or unlucky user runs, and what each must give.

A :class:`Case` is one command line with the files it needs. :func:`check` runs it as a user
does (a separate ``python -m igcsearch`` process, in a fresh working directory nested three
levels inside ``tmp_path`` so that ``../../../X`` still lands where the test can see it) and
asserts:

- the exit code;
- no traceback on stdout or stderr;
- for a failure, exactly one ``error:`` line on stderr, matching ``message`` (a regex);
- that nothing was created or changed anywhere under ``tmp_path`` except the paths the case
  allows (globs relative to the working directory).

Every argument and file text may say ``{tmp}`` (the root the test watches), ``{work}`` (the
working directory) or ``{python}`` (this interpreter); they are filled in before the run.
Cases are grouped by category: security, integrity, resources, validation, tracebacks.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES = ("security", "integrity", "resources", "validation", "tracebacks")


@dataclass(frozen=True)
class Case:
    """One bad input and the clean result it must give."""

    id: str
    category: str
    argv: tuple[str, ...]  # arguments after ``igcsearch``
    code: int = 1  # expected exit code
    message: str = ""  # regex the single ``error:`` line must match (code != 0)
    files: dict[str, str | bytes] = field(default_factory=dict)  # relative path -> content, made first
    setup: Callable[[Path], None] | None = None  # more preparation in the working directory
    allowed: tuple[str, ...] = ()  # globs (relative to the working directory) the run may write
    stdin: str = ""
    timeout: float = 120.0

    def __post_init__(self) -> None:
        assert self.category in CATEGORIES, self.category


@dataclass
class Outcome:
    """What one run gave."""

    code: int
    stdout: str
    stderr: str
    work: Path
    changed: list[str]  # paths under the watched root, relative to it, created or modified


def _fill(text: str, tmp: Path, work: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{work}", str(work)).replace("{python}", sys.executable)


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> content hash (or 'dir') of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            try:
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
            except OSError:
                out[os.path.relpath(p, root)] = "unreadable"
    return out


def run(case: Case, tmp: Path, env: dict[str, str] | None = None) -> Outcome:
    """Prepare the working directory, run the command, and report what changed."""
    work = tmp / "a" / "b" / "work"
    work.mkdir(parents=True, exist_ok=True)
    for rel, content in case.files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(_fill(content, tmp, work))
    if case.setup is not None:
        case.setup(work)
    before = snapshot(tmp)
    argv = [sys.executable, "-m", "igcsearch", *(_fill(a, tmp, work) for a in case.argv)]
    full_env = {**os.environ, "COLUMNS": "120", "PYTHONWARNINGS": "ignore", **(env or {})}
    proc = subprocess.run(
        argv, cwd=work, input=case.stdin, capture_output=True, text=True, timeout=case.timeout, env=full_env
    )
    after = snapshot(tmp)
    changed = sorted(p for p, h in after.items() if before.get(p) != h)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, work, changed)


def check(case: Case, tmp: Path, env: dict[str, str] | None = None) -> Outcome:
    """Run a case and assert its exit code, message, no traceback and nothing written elsewhere."""
    out = run(case, tmp, env)
    context = f"{case.id}: exit {out.code}\nstdout: {out.stdout[-2000:]}\nstderr: {out.stderr[-2000:]}"
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout, context
    assert out.code == case.code, context
    if case.code != 0:
        errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, context
        assert re.search(case.message, errors[0]), f"{context}\nexpected: {case.message}"
    work_rel = os.path.relpath(out.work, tmp)
    for path in out.changed:
        rel = os.path.relpath(os.path.join(tmp, path), out.work)
        inside = not rel.startswith("..") and path.startswith(work_rel)
        ok = inside and (
            rel == "." or any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(rel, g.rstrip("/*")) for g in case.allowed)
        )
        assert ok, f"{context}\nwrote {path!r} (allowed under the working directory: {case.allowed})"
    return out


def cases_by_id(cases: list[Case]) -> dict[str, Case]:
    """Cases keyed by id; an id used twice is a mistake in the corpus."""
    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, dupes
    return {c.id: c for c in cases}


def error_line(text: str) -> str:
    """The single ``error:`` line of a stderr text (assert there is exactly one)."""
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    return lines[0]


def matches(pattern: str) -> Callable[[str], bool]:
    """A predicate for a message regex (helper for API tests)."""
    return lambda text: re.search(pattern, text) is not None
