"""``build(spec, **opts)``: a block config in any form -> its family's torch module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import BlockConfig, from_dict, parse_key
from .errors import ConfigError


def resolve(spec: Any) -> BlockConfig:
    """A BlockConfig from a config, a dict, a key string or a JSON file path.

    A JSON file holds either a config dict or an object with a ``"config"`` field (the
    files ``igcsearch search`` writes). Bad input raises a one-line ConfigError.
    """
    if isinstance(spec, BlockConfig):
        return spec
    if isinstance(spec, dict):
        return from_dict(unwrap(spec, "config"))
    if isinstance(spec, Path) or (isinstance(spec, str) and _looks_like_path(spec)):
        return _from_file(Path(spec))
    if isinstance(spec, str):
        return parse_key(spec.strip())
    raise ConfigError(
        f"cannot build from {type(spec).__name__} {spec!r}: give a BlockConfig, a config dict, "
        "a key such as igc1-L8M8-c64k3 or a path to a .json config file"
    )


def unwrap(data: Any, where: str) -> Any:
    """The config dict of an export record (checking its ``schema_version``), or ``data`` itself."""
    if not (isinstance(data, dict) and isinstance(data.get("config"), dict)):
        return data
    from .pipeline import SCHEMA_VERSION

    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"{where}: schema_version {version!r} is not supported (this igcsearch reads {SCHEMA_VERSION}); "
            "re-export it with this version"
        )
    return data["config"]


def network_key(spec: Any) -> str | None:
    """The ``net-…`` key when ``spec`` names a network (its key, a record or a dict), else None."""
    if isinstance(spec, str) and spec.strip().startswith("net-") and not _looks_like_path(spec):
        return spec.strip()
    data = spec
    if isinstance(spec, Path) or (isinstance(spec, str) and _looks_like_path(spec)):
        try:
            data = json.loads(Path(spec).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None  # resolve() reports the problem
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    if isinstance(data, dict) and "network_key" in data:
        return str(data["network_key"])
    return None


def _looks_like_path(text: str) -> bool:
    return text.endswith(".json") or "/" in text or "\\" in text or Path(text).is_file()


def read_json(path: Path, where: str) -> Any:
    """Parsed JSON of a file, every failure a one-line ConfigError naming ``where``."""
    if not path.is_file():
        raise ConfigError(f"{where} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None


def _from_file(path: Path) -> BlockConfig:
    data = read_json(path, f"config file {str(path)!r}")
    data = unwrap(data, f"config file {str(path)!r}")
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a config object or an object with a 'config' field")
    try:
        return from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"config file {str(path)!r}: {exc}") from None


def build(spec: Any, **opts: Any) -> Any:
    """The torch module of a config (BlockConfig, dict, key or JSON path).

    ``opts`` go to the family's module, e.g. ``impl="naive"|"fused"|"auto"`` for IGC blocks
    (see :mod:`igcsearch.blocks`); an unknown option is a ConfigError.
    """
    from .registry import get_family

    net = network_key(spec)
    if net is not None:
        from .pipeline import NETWORK_PREFIX

        if not net.startswith(NETWORK_PREFIX):
            raise ConfigError(f"network_key {net!r} must start with {NETWORK_PREFIX!r}")
        from .networks import build_network_key

        return build_network_key(net, **opts)
    try:
        cfg = resolve(spec)
    except ConfigError:
        raise
    except (TypeError, KeyError, ValueError, AttributeError) as exc:  # malformed input, e.g. unhashable values
        raise ConfigError(f"cannot build from {spec!r}: {type(exc).__name__}: {exc}") from None
    family = get_family(cfg.family)
    if family.build is None:
        raise ConfigError(f"family {cfg.family!r} has no torch module")
    return family.build(cfg, **opts)
