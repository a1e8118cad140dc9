"""igcsearch: the design-space explorer for efficient convolution blocks.

Public API (imported lazily so that ``import igcsearch`` stays light and never pulls in torch
until a module is built): ``enumerate``, ``build``, ``parse_key``, ``from_dict``,
``get_family``, ``make_spec``.
"""

from __future__ import annotations

import sys as _sys

# The command line (`python -m igcsearch`, the `igcsearch` console script): from this first line
# of igcsearch on, Ctrl-C is one line and exit 130; `import igcsearch` elsewhere leaves SIGINT alone.
if _sys.argv[:1] == ["-m"] or _sys.argv[0].replace("\\", "/").rsplit("/", 1)[-1].startswith("igcsearch"):
    from . import _sigint

    if _sigint.run_as_module() or _sigint.run_as_script():
        _sigint.install()

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_API = {  # every name checks its arguments' types (TypeError naming the argument) in igcsearch.api
    "enumerate": ("igcsearch.api", "enumerate_space"),
    "enumerate_space": ("igcsearch.api", "enumerate_space"),
    "build": ("igcsearch.api", "build"),
    "parse_key": ("igcsearch.api", "parse_key"),
    "from_dict": ("igcsearch.api", "from_dict"),
    "get_family": ("igcsearch.api", "get_family"),
    "make_spec": ("igcsearch.request", "make_spec"),
    "search": ("igcsearch.api", "search"),
    "load_results": ("igcsearch.api", "load_results"),
}


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        module, attr = _API[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'igcsearch' has no attribute {name!r}")


__all__ = ["__version__", *_API]
