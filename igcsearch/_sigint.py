"""Ctrl-C while the command line starts (imports, argument parsing): one line, exit 130.

Installed from the package's ``__init__`` (the first igcsearch code that runs) for
``python -m igcsearch`` and the ``igcsearch`` console script, and again by ``igcsearch.cli.app``'s
first lines (the console script imports it); a command's
error boundary (``igcsearch.cli.app.handles_errors``) puts Python's own handler back, so that
Ctrl-C during a search keeps the files of what finished. Only the C ``_signal`` module is
used: ``signal`` builds enums, which takes long enough to be interrupted itself.
"""

from __future__ import annotations

import _signal
import os
import sys

SCRIPT_NAMES = ("igcsearch", "igcsearch.exe", "igcsearch-script.py")


def early_interrupt(signum: int, frame: object) -> None:
    """The early handler: no traceback, nothing flushed, exit 130 (128 + SIGINT)."""
    os.write(2, b"error: interrupted\n")
    os._exit(130)


def install() -> object | None:
    """Route SIGINT to :func:`early_interrupt`; return the handler it replaced (None: left alone)."""
    try:
        previous = _signal.getsignal(_signal.SIGINT)
        if previous is not _signal.default_int_handler:  # someone else (a test runner, an app) owns it
            return None
        _signal.signal(_signal.SIGINT, early_interrupt)  # ValueError outside the main thread
    except ValueError:
        return None
    return previous


def run_as_module() -> bool:
    """This process is ``python [options] -m igcsearch …``."""
    argv = list(getattr(sys, "orig_argv", []))
    return "-m" in argv[1:-1] and argv[argv.index("-m", 1) + 1] == "igcsearch"


def run_as_script() -> bool:
    """This process is the ``igcsearch`` console script (its file is the program, before any import)."""
    return os.path.basename(sys.argv[0] if sys.argv else "") in SCRIPT_NAMES
