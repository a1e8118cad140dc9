"""Block configs: frozen dataclasses, strict dict round trip and canonical keys.

Every family config extends :class:`BlockConfig` (the geometry of the regular conv it
replaces) with the paper's knobs. A config's ``key`` is readable, unique and parses back:
``igc1-L8M8-c64k3``, ``igc2-K1x4x4x4-c64k3``, ``lego-o2m32-i32o64k3s2``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import ConfigError

MAX_CHANNELS = 1 << 16  # C_in, C_out above this are refused everywhere (space, build, show, train, convert)
MAX_KERNEL = 31  # k above this is refused everywhere
MAX_STRIDE = MAX_KERNEL
NETWORK_PREFIX = "net-"  # a whole network's key: net-<network>-<block key>[-stem…] (docs/networks.md)

_GEOM = re.compile(r"^(?:c(?P<c>\d+)|i(?P<i>\d+)o(?P<o>\d+))k(?P<k>\d+)(?:s(?P<s>\d+))?$")


@dataclass(frozen=True, kw_only=True)
class BlockConfig:
    """Geometry shared by every family: the regular k×k conv the block replaces."""

    in_channels: int  # C_in
    out_channels: int  # C_out
    kernel: int = 3  # k, odd; the IGC papers write S = k² for the kernel area
    stride: int = 1  # applied by the block's spatial (k×k) conv

    family: ClassVar[str] = ""
    token: ClassVar[str] = ""  # knob part of the key, e.g. "L{L}M{M}"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                self._positive_int(f.name, value)
        if self.kernel % 2 == 0 or self.kernel > MAX_KERNEL:
            self.fail("kernel", self.kernel, f"an odd integer in [1, {MAX_KERNEL}] (padding is k//2)")
        for name in ("in_channels", "out_channels"):
            if getattr(self, name) > MAX_CHANNELS:
                self.fail(name, getattr(self, name), f"an integer in [1, {MAX_CHANNELS:,}]")
        if self.stride > MAX_STRIDE:
            self.fail("stride", self.stride, f"an integer in [1, {MAX_STRIDE}]")
        self.validate()

    def validate(self) -> None:
        """Family-specific structural checks (divisibility, products); raise ConfigError."""

    @classmethod
    def knob_fields(cls) -> dict[str, bool]:
        """The knob fields of the family's config (its fields beyond the geometry), in order: name -> list-valued."""
        base = {f.name for f in dataclasses.fields(BlockConfig)}
        return {f.name: _is_list(cls, f.name) for f in dataclasses.fields(cls) if f.name not in base}

    def fail(self, name: str, value: Any, allowed: str) -> None:
        """Raise a ConfigError naming the family, the field, the value and what is allowed."""
        raise ConfigError(f"{self.family}: {name}={value!r} is invalid; must be {allowed}")

    def _positive_int(self, name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(name, value, "an integer >= 1")

    @property
    def key(self) -> str:
        """Canonical key: family, knob token, geometry (stride only when not 1)."""
        return make_key(self.family, self.knob_token(), self.in_channels, self.out_channels, self.kernel, self.stride)

    def knob_token(self) -> str:
        """The knob part of the key (empty for the regular conv)."""
        knobs = {k: "x".join(map(str, v)) if isinstance(v, tuple) else v for k, v in self.knobs().items()}
        return self.token.format(**knobs)

    def knobs(self) -> dict[str, Any]:
        """The paper's knobs of this config, by name."""
        base = {f.name for f in dataclasses.fields(BlockConfig)}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in base}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict with ``family`` first; inverse of :func:`from_dict`."""
        out: dict[str, Any] = {"family": self.family}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def make_key(family: str, token: str, cin: int, cout: int, k: int, s: int) -> str:
    """Join the parts of a key; shared by configs and the vectorised row formatter."""
    geom = f"c{cin}" if cin == cout else f"i{cin}o{cout}"
    geom += f"k{k}" + (f"s{s}" if s != 1 else "")
    return f"{family}-{token}-{geom}" if token else f"{family}-{geom}"


def token_regex(token: str) -> re.Pattern[str]:
    """``"L{L}M{M}"`` -> a regex with one named group per knob (``x``-joined lists allowed)."""
    parts = re.split(r"\{(\w+)\}", token)
    pattern = ""
    for i, part in enumerate(parts):
        pattern += re.escape(part) if i % 2 == 0 else rf"(?P<{part}>\d+(?:x\d+)*)"
    return re.compile(f"^{pattern}$")


def parse_key(key: str) -> BlockConfig:
    """Inverse of ``config.key``: ``parse_key("igc1-L8M8-c64k3") == Igc1(...)``."""
    from .registry import get_family

    if not isinstance(key, str) or "-" not in key:
        raise ConfigError(f"malformed key {key!r}; expected e.g. igc1-L8M8-c64k3")
    family_name, _, rest = key.partition("-")
    family = get_family(family_name)
    token, _, geom = rest.rpartition("-")
    g = _GEOM.match(geom)
    if g is None:
        raise ConfigError(f"malformed key {key!r}: geometry part {geom!r} should look like c64k3, i32o64k3 or c64k3s2")
    cfg_cls = family.config
    knobs: dict[str, Any] = {}
    if cfg_cls.token:
        m = token_regex(cfg_cls.token).match(token)
        if m is None:
            raise ConfigError(f"malformed key {key!r}: knob part {token!r} should look like {cfg_cls.token}")
        for name, text in m.groupdict().items():
            knobs[name] = (
                tuple(int(v) for v in text.split("x")) if "x" in text or _is_list(cfg_cls, name) else int(text)
            )
    elif token:
        raise ConfigError(f"malformed key {key!r}: family {family_name} has no knobs")
    cin = int(g["c"] or g["i"])
    cout = int(g["c"] or g["o"])
    cfg = cfg_cls(in_channels=cin, out_channels=cout, kernel=int(g["k"]), stride=int(g["s"] or 1), **knobs)
    if cfg.key != key:
        raise ConfigError(f"key {key!r} is not canonical; did you mean {cfg.key!r}?")
    return cfg


def _is_list(cls: type, name: str) -> bool:
    return any(f.name == name and "tuple" in str(f.type) for f in dataclasses.fields(cls))


def from_dict(data: dict[str, Any]) -> BlockConfig:
    """Strict: ``family`` picks the config class; unknown or missing fields are errors."""
    from .registry import get_family

    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
    if "family" not in data:
        raise ConfigError("config has no 'family' field")
    cls = get_family(data["family"]).config
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields) - {"family"})
    if unknown:
        raise ConfigError(f"{cls.family}: unknown field(s) {', '.join(unknown)}; valid fields: {', '.join(fields)}")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k != "family"}
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{cls.family}: missing field(s) {', '.join(missing)}")
    return cls(**kwargs)
