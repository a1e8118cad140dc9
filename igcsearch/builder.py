"""``build(spec, **opts)``: a block config in any form -> its family's torch module."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import BlockConfig, from_dict, parse_key
from .errors import ConfigError, is_allocation_error, physical_memory


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
    """The config dict of an export record (checked by :func:`check_record`), or ``data`` itself."""
    if not (isinstance(data, dict) and isinstance(data.get("config"), dict)):
        return data
    return check_record(data, where)


def check_record(record: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``config`` of an export record after checking its schema_version, key and family.

    ``schema_version`` must be present and be the one this igcsearch writes; ``key`` and
    ``family``, where given, must be the config's own canonical key and family.
    """
    from .record import RECORD_SCHEMA_VERSION

    if "schema_version" not in record:
        raise ConfigError(
            f'{where}: no schema_version (an `igcsearch export` record holds "schema_version": {RECORD_SCHEMA_VERSION}); '
            "re-export it with this version"
        )
    version = record["schema_version"]
    if type(version) is not int or version != RECORD_SCHEMA_VERSION:
        raise ConfigError(
            f"{where}: schema_version {version!r} is not supported (this igcsearch reads {RECORD_SCHEMA_VERSION}); "
            "re-export it with this version"
        )
    config = record["config"]
    key, family = canonical(config, where)
    if "key" in record and record["key"] != key:
        raise ConfigError(f"{where}: key {record['key']!r} does not match its config, whose key is {key!r}")
    if "family" in record and family is not None and record["family"] != family:
        raise ConfigError(f"{where}: family {record['family']!r} does not match its config's family {family!r}")
    return config


def canonical(config: dict[str, Any], where: str) -> tuple[str, str | None]:
    """(canonical key, family) of a config dict: a block config, or ``{"network_key": …}``.

    A network's family is its blocks' family (None for MobileNetV2's own ``ref`` units).
    """
    try:
        if "network_key" in config:
            from .networks import parse_network_key

            net = parse_network_key(config["network_key"])
            return net.key, (net.block.family if net.block is not None else None)
        cfg = from_dict(config)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return cfg.key, cfg.family


def network_key(spec: Any) -> str | None:
    """The ``net-…`` key when ``spec`` names a network (its key, a record or a dict), else None.

    A record is checked (:func:`check_record`) on the way, so a network record with an
    unknown schema_version fails like a block record does.
    """
    if isinstance(spec, str) and spec.strip().startswith("net-") and not _looks_like_path(spec):
        return spec.strip()
    data, where = spec, "config"
    if isinstance(spec, Path) or (isinstance(spec, str) and _looks_like_path(spec)):
        where = f"config file {str(spec)!r}"
        try:
            data = json.loads(Path(spec).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None  # resolve() reports the problem
    data = unwrap(data, where)
    if isinstance(data, dict) and "network_key" in data:
        return str(data["network_key"])
    return None


KEY_SHAPE = re.compile(r"(?P<family>[a-z][a-z0-9]*)-[A-Za-z0-9-]+")


def looks_like_key(text: str) -> bool:
    """Text shaped like a config or network key whose prefix is a family (or ``net``): always a key.

    A file that merely has that name never changes its meaning (issue: no pickle, no file read,
    by surprise).
    """
    from .registry import names

    m = KEY_SHAPE.fullmatch(text.strip())
    return m is not None and (m["family"] == "net" or m["family"] in names())


def _looks_like_path(text: str) -> bool:
    if text.endswith(".json") or "/" in text or "\\" in text:
        return True
    return not looks_like_key(text) and Path(text).is_file()


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
    (see :mod:`igcsearch.interleave`); an unknown option is a ConfigError. A block config is
    size-checked, then built by :func:`igcsearch.registry.create_block`.
    """
    from .registry import create_block

    net = network_key(spec)
    if net is not None:
        from .config import NETWORK_PREFIX

        if not net.startswith(NETWORK_PREFIX):
            raise ConfigError(f"network_key {net!r} must start with {NETWORK_PREFIX!r}")
        from .networks import build_network_key, parse_network_key

        check_network_size(parse_network_key(net))
        with allocating(net):
            return build_network_key(net, **opts)
    try:
        cfg = resolve(spec)
    except ConfigError:
        raise
    except (TypeError, KeyError, ValueError, AttributeError) as exc:  # malformed input, e.g. unhashable values
        raise ConfigError(f"cannot build from {spec!r}: {type(exc).__name__}: {exc}") from None
    check_size(cfg)
    with allocating(cfg.key):
        return create_block(cfg, **opts)


# A module is refused before it is allocated when its analytic parameter count is above
# MAX_PARAMS (2^31 parameters = 8 GiB as float32) or when its float32 weights alone would
# not fit in this machine's physical memory, whichever is smaller. Never clamped.
MAX_PARAMS = 1 << 31


def param_limit() -> tuple[int, str]:
    """(largest parameter count allowed, why): 2^31, or fewer when float32 weights exceed the RAM."""
    ram = physical_memory()
    if 0 < ram // 4 < MAX_PARAMS:
        return ram // 4, f"{ram / 2**30:.1f} GiB of memory on this machine as float32"
    return MAX_PARAMS, "the limit of 2^31 = 2,147,483,648 parameters (8 GiB as float32)"


def check_size(cfg: BlockConfig) -> int:
    """The analytic parameter count of a block config; a ConfigError if it is too large to build."""
    import numpy as np

    from .cost import columns, totals
    from .registry import get_family

    params = int(np.asarray(totals(get_family(cfg.family).layers(columns(cfg, 1)))[0]).ravel()[0])
    refuse_params(cfg.key, params)
    return params


def check_network_size(net: Any) -> int:
    """The analytic parameter count of a network config; ConfigError if too large to build.

    (Its depth is bounded where the network is named: ``networks.zoo.get_network``.)
    """
    params = int(net.cost()[0])
    refuse_params(net.key, params)
    return params


def refuse_params(key: str, params: int) -> None:
    """A ConfigError when ``params`` parameters are more than this machine may build (see param_limit)."""
    limit, why = param_limit()
    if params > limit:
        raise ConfigError(
            f"{key} has {params:,} parameters ({params * 4 / 2**30:,.1f} GiB as float32), too large to build: "
            f"more than {why}"
        )


@contextlib.contextmanager
def allocating(what: str) -> Iterator[None]:
    """A failed torch allocation while building ``what`` becomes one ConfigError naming it."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not is_allocation_error(exc):
            raise
        text = str(exc)
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise ConfigError(f"out of memory building {what}: {first}") from None
