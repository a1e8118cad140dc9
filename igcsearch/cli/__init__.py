"""The ``igcsearch`` command line (console script ``igcsearch.cli:app``, ``python -m igcsearch``).

- ``app``: the typer app, the error boundary, ``--version``, the shared options and checks;
- ``explore``: ``families``, ``presets``, ``space`` (analytic, no torch);
- ``search``: ``search`` (build, count, time, rank);
- ``show``: ``show KEY`` (one block config or one network);
- ``networks``: ``reproduce``, ``networks``;
- ``runs``: ``runs list|show|report|merge`` (the results store);
- ``handoff``: ``export``, ``convert``, ``decompose``, ``train`` (the hand-off to training);
- ``emit``: what ``space`` and ``search`` print and write (tables, stdout formats, files).

Each command module registers its commands on ``app`` when imported: the order of the imports
below is the order of the commands in ``igcsearch --help``.
"""

from .app import app

# isort: off
from . import explore  # noqa: F401  families, presets, space
from . import search  # noqa: F401  search
from . import show  # noqa: F401  show
from . import networks  # noqa: F401  reproduce, networks
from . import runs  # noqa: F401  runs
from . import handoff  # noqa: F401  export, convert, decompose, train
# isort: on

__all__ = ["app"]
