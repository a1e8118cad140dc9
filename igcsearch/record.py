"""The export record: the JSON file per row that a training script loads with ``igcsearch.build(path)``.

Its ``schema_version`` (:data:`RECORD_SCHEMA_VERSION`) versions this file format; the results
store has its own, unrelated ``igcsearch.store.STORE_SCHEMA_VERSION``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import __version__
from .config import NETWORK_PREFIX, parse_key
from .spec import Spec, spec_to_dict
from .units import plain_json

RECORD_SCHEMA_VERSION = 1
RECORD_KEYS = ("schema_version", "igcsearch_version", "key", "config", "spec")  # what makes a file a record


def config_of(key: str) -> dict[str, Any]:
    """The ``config`` of a row key: the block config's dict, or ``{"network_key": key}`` for a network."""
    if key.startswith(NETWORK_PREFIX):
        return {"network_key": key}
    return parse_key(key).to_dict()


def export_record(key: str, rows: dict[str, np.ndarray], spec: Spec) -> dict[str, Any]:
    """The JSON config a training script loads with ``igcsearch.build(path)``."""
    i = int(np.flatnonzero(rows["key"] == key)[0])
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "igcsearch_version": __version__,
        "key": key,
        "family": str(rows["family"][i]),
        "config": config_of(key),
        "input_size": int(rows["input_size"][i]),
        "counts": {name: int(rows[name][i]) for name in ("params", "macs", "acts")},
        "spec": plain_json(spec_to_dict(spec)),
    }
