"""One module per block family; importing this package registers them all.

``<name>.py`` holds a family's config, cost, conditions and enumeration (numpy only) and
registers its :class:`~igcsearch.registry.Family`; ``<name>_block.py`` holds its torch module,
imported only when a block is built (:func:`igcsearch.registry.create_block`), so listing and
enumerating never import torch.

Conventions of every block module: every conv is bias-free with padding k//2 and the stride
on the block's k×k conv; every family ends in ONE BatchNorm2d over C_out then ReLU, with no
BN between its inner convs, except igc3 (the official IGC-V3 unit: BN after each conv, ReLU6,
linear output, residual). For every module ``sum(p.numel())`` equals the analytic params
exactly, and fvcore's MACs (see :mod:`igcsearch.counting`) equal the analytic MACs exactly,
for every impl (docs/counting.md).
"""

from __future__ import annotations

import importlib
import pkgutil

BLOCK_SUFFIX = "_block"  # torch modules: never imported here

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if not _info.name.startswith("_") and not _info.name.endswith(BLOCK_SUFFIX):
        importlib.import_module(f"{__name__}.{_info.name}")
