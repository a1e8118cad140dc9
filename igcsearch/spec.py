"""The search spec: what the user asks, from CLI options or a TOML preset, validated once."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .config import MAX_CHANNELS, MAX_KERNEL, MAX_STRIDE
from .errors import PresetError, SpecError
from .registry import scalar_knobs
from .units import MAX_VALUES, NON_FINITE, parse_int_list, parse_si

MAX_INPUT_SIZE = 4096  # H = W of a block's input: 4096² activations per channel is already 64 MiB
MAX_NAME_BYTES = 255  # a name becomes a directory name: one path component on every file system

SORT_ROW_FIELDS = (
    "key", "family", "in_channels", "out_channels", "kernel", "stride", "input_size",
    "params", "macs", "acts", "params_ratio", "macs_ratio", "balance",
    *scalar_knobs(),  # every family's scalar knobs (not igc2's list K): g r L M t G1 G2 o m today
)  # fmt: skip


@dataclass(frozen=True)
class Spec:
    """A design question; field names are the long CLI option names (and preset keys)."""

    name: str = "custom"  # names the results directory
    question: str = ""  # one line: what the preset asks
    channels: tuple[int, ...] = ()  # C_in = C_out values (-c)
    in_channels: tuple[int, ...] = ()  # non-square: every C_in × C_out pair
    out_channels: tuple[int, ...] = ()
    kernel: tuple[int, ...] = (3,)  # k values
    stride: int = 1
    input_size: int = 32  # H = W of the block's input
    family: tuple[str, ...] = ()  # empty: every registered family
    params_max: float | None = None
    macs_max: float | None = None
    budget: str | None = None  # "conv": the regular conv-BN-ReLU replaced; "network": the network with regular convs
    widest: bool = False  # per structure, keep the widest width that fits the budget
    balance_tol: float = 2.0  # igc1/igc2 rows need balance <= this; inf keeps all
    expansion: tuple[int, ...] = (1, 2, 3, 4, 5, 6)  # igc3's t values
    sort: str | None = None
    top: int | None = None
    network: str | None = None  # search whole networks of this layout (see `igcsearch networks`); None: blocks
    pareto_all: bool = False  # search: the Pareto front over every row; False: over the dense rows only (rank.py)

    @property
    def families(self) -> list[str]:
        """Requested family names in registry order."""
        from .registry import names

        return [n for n in names() if not self.family or n in self.family]

    def pairs(self) -> list[tuple[int, int]]:
        """(C_in, C_out) pairs in ascending order."""
        if self.channels:
            return [(c, c) for c in self.channels]
        return [(i, o) for i in self.in_channels for o in self.out_channels]

    def describe(self) -> str:
        """One line for report headers."""
        if self.network:
            width = _span(self.channels, "C") if self.channels else "free"
            ch = f"network {self.network}, base width {width}"
        elif self.channels:
            ch = _span(self.channels, "C")
        elif not self.in_channels:
            ch = "C free (widest within the budget)"
        else:
            ch = f"{_span(self.in_channels, 'C_in')}, {_span(self.out_channels, 'C_out')}"
        parts = [
            ch,
            "k=" + ",".join(map(str, self.kernel)),
            f"stride {self.stride}",
            f"input {self.input_size}x{self.input_size}",
        ]
        parts.append("families " + ",".join(self.families))
        if self.budget:
            parts.append(f"budget {self.budget}")
        if self.params_max is not None:
            parts.append(f"params <= {self.params_max:g}")
        if self.macs_max is not None:
            parts.append(f"macs <= {self.macs_max:g}")
        if self.widest:
            parts.append("widest per structure")
        if self.pareto_all:
            parts.append("Pareto front over all rows")
        parts.append(f"balance <= {self.balance_tol:g}")
        return "; ".join(parts)


def _span(values: tuple[int, ...], name: str) -> str:
    if len(values) <= 4:
        return f"{name}=" + ",".join(map(str, values))
    return f"{name}={values[0]}..{values[-1]} ({len(values)} values)"


SPEC_KEYS = [f.name for f in dataclasses.fields(Spec) if f.name != "network"]  # a block search's options
NETWORK_KEY = "network"  # allowed where the caller searches networks too (``search``, not ``space``)


def make_spec(options: dict[str, Any], *, extra_keys: tuple[str, ...] = ()) -> Spec:
    """Validate raw options (CLI or preset values, strings allowed) into a Spec.

    ``extra_keys`` are option names the caller accepts besides the spec's own (the measurement
    and run options of ``search``, which :mod:`igcsearch.request` takes): they are allowed and
    left out of the Spec; ``"network"`` among them allows a network search. The network's own
    checks (its families, widths) are the search target's: :func:`igcsearch.request.make_spec`.
    """
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict of option values, got {type(options).__name__}")
    if not isinstance(extra_keys, tuple | list) or not all(isinstance(k, str) for k in extra_keys):
        raise TypeError(f"extra_keys must be a tuple of option names, got {extra_keys!r}")
    bad = [k for k in options if not isinstance(k, str)]
    if bad:
        raise TypeError(f"option names must be str, got {type(bad[0]).__name__} {bad[0]!r}")
    extra_keys = tuple(extra_keys)
    unknown = sorted(set(options) - set(SPEC_KEYS) - set(extra_keys))
    if unknown:
        raise SpecError(f"unknown option(s) {', '.join(unknown)}; valid: {', '.join(SPEC_KEYS + list(extra_keys))}")
    o = {k: v for k, v in options.items() if v is not None}
    kw: dict[str, Any] = {}
    if "name" in o:
        kw["name"] = check_name(o["name"], "name")
    if "question" in o:
        kw["question"] = str(o["question"])
    for key in ("channels", "in_channels", "out_channels"):
        if key in o:
            kw[key] = tuple(parse_int_list(o[key], _opt(key), maximum=MAX_CHANNELS, unit=" channels"))
    if "kernel" in o:
        kw["kernel"] = tuple(parse_int_list(o["kernel"], "--kernel", maximum=MAX_KERNEL))
        even = [k for k in kw["kernel"] if k % 2 == 0]
        if even:
            raise SpecError(f"--kernel must be odd (padding is k//2), got {even[0]}")
    for key, maximum in (("stride", MAX_STRIDE), ("input_size", MAX_INPUT_SIZE)):
        if key in o:
            values = parse_int_list(o[key], _opt(key), maximum=maximum)
            if len(values) != 1:
                raise SpecError(f"{_opt(key)} takes one value, got {o[key]!r}")
            kw[key] = values[0]
    if "family" in o:
        kw["family"] = tuple(_families(o["family"]))
    for key in ("params_max", "macs_max"):
        if key in o:
            kw[key] = parse_si(o[key], _opt(key))  # finite, >= 0 (0 admits nothing: an empty result)
    network = bool(o.get(NETWORK_KEY)) and NETWORK_KEY in extra_keys
    if network:
        kw["network"] = str(o[NETWORK_KEY])
    if "budget" in o:
        kw["budget"] = _budget(o["budget"], network)
    if network and "stride" in o:
        raise SpecError("--stride has no meaning with --network: the network's layout fixes every stride")
    if "widest" in o:
        kw["widest"] = _bool(o["widest"], "--widest")
    if "pareto_all" in o:
        kw["pareto_all"] = _bool(o["pareto_all"], "--pareto-all")
    if "balance_tol" in o:
        kw["balance_tol"] = _tolerance(o["balance_tol"])
    if "expansion" in o:
        kw["expansion"] = tuple(parse_int_list(o["expansion"], "--expansion"))
        if kw["expansion"][-1] > 64:
            raise SpecError(f"--expansion values must be <= 64, got {kw['expansion'][-1]}")
    if "sort" in o:
        kw["sort"] = str(o["sort"])
    if "top" in o:
        top = parse_int_list(o["top"], "--top")
        if len(top) != 1:
            raise SpecError(f"--top takes one value, got {o['top']!r}")
        kw["top"] = top[0]
    spec = Spec(**kw)
    _check_consistency(spec, sort_fields=SORT_ROW_FIELDS if not extra_keys else None)
    return spec


def check_name(value: Any, what: str = "name") -> str:
    """A name that becomes a file or directory name: one plain path component, never a path.

    Refused: empty, ``.``/``..`` or any name starting with ``.``, path separators (``/``,
    ``\\``), NUL and other control or invisible formatting characters (bidi overrides), leading or
    trailing spaces, absolute paths, more than 255 bytes.
    """
    if not isinstance(value, str):
        raise SpecError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    allowed = "a plain name such as 'my-search' (no '/' or '\\', no leading '.', no control characters)"
    problem = None
    if not value.strip():
        problem = "is empty"
    elif "/" in value or "\\" in value or Path(value).is_absolute():
        problem = "is a path"
    elif value.startswith("."):
        problem = "starts with '.'"
    elif any(unicodedata.category(ch) == "Cc" for ch in value):
        problem = "contains a control character"  # NUL, newlines, escapes
    elif any(unicodedata.category(ch) in ("Cf", "Cs") for ch in value):
        problem = "contains an invisible formatting character"  # bidi overrides, zero-width marks
    elif value != value.strip():
        problem = "starts or ends with a space"
    elif len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        problem = f"is longer than {MAX_NAME_BYTES} bytes"
    if problem:
        raise SpecError(f"{what} {value!r} {problem}: it names the results directory, so it must be {allowed}")
    return value


def is_plain_name(name: str) -> bool:
    """Whether ``name`` passes :func:`check_name`."""
    try:
        check_name(name)
    except SpecError:
        return False
    return True


def _budget(value: Any, network: bool) -> str:
    """'conv' (block search) or 'network' (with --network, where 'conv' is an alias of it)."""
    text = str(value)
    if text not in ("conv", "network"):
        raise SpecError(
            "--budget must be 'conv' (the regular conv being replaced) or 'network' "
            f"(with --network: the network built with regular convs), got {value!r}"
        )
    if text == "network" and not network:
        raise SpecError(
            "--budget network needs --network NAME (the network built with regular convs); "
            "for a block use --budget conv"
        )
    return "network" if network else "conv"


def _opt(key: str) -> str:
    return "--" + key.replace("_", "-")


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise SpecError(f"{what} must be true or false, got {value!r}")


def _tolerance(value: Any) -> float:
    text = str(value).strip().lower()
    try:
        tol = math.inf if text in ("inf", "infinity") else float(text)
    except ValueError:
        raise SpecError(f"--balance-tol must be a number >= 1 or inf, got {value!r}") from None
    if math.isnan(tol) or tol < 1:
        raise SpecError(f"--balance-tol must be >= 1 (1.0 is exactly balanced) or inf, got {value!r}")
    return tol


def _families(value: Any) -> list[str]:
    from .registry import get_family

    items = value if isinstance(value, list | tuple) else str(value).split(",")
    out = [str(i).strip() for i in items if str(i).strip()]
    if not out:
        raise SpecError("--family is empty")
    for name in out:
        try:
            get_family(name)
        except Exception as exc:
            raise SpecError(str(exc)) from None
    return out


def _check_consistency(spec: Spec, sort_fields: tuple[str, ...] | None) -> None:
    if spec.channels and (spec.in_channels or spec.out_channels):
        raise SpecError("give either -c/--channels or --in-channels with --out-channels, not both")
    if bool(spec.in_channels) != bool(spec.out_channels):
        raise SpecError("--in-channels and --out-channels go together (or use -c for square blocks)")
    pairs = len(spec.in_channels) * len(spec.out_channels)
    if pairs > MAX_VALUES:  # the same limit as a square -c range, checked before the pairs are made
        raise SpecError(
            f"--in-channels x --out-channels make {len(spec.in_channels):,} x {len(spec.out_channels):,} = "
            f"{pairs:,} channel pairs: at most {MAX_VALUES:,} (as for -c); narrow the ranges or add a step"
        )
    if (
        not spec.channels
        and not spec.in_channels
        and not spec.network
        and not (spec.widest and (spec.params_max is not None or spec.macs_max is not None))
    ):
        raise SpecError("no channels given: use -c/--channels N (or --in-channels with --out-channels)")
    if spec.sort is not None and sort_fields is not None and spec.sort.lstrip("-") not in sort_fields:
        raise SpecError(
            f"unknown sort key {spec.sort!r}; choose from: {', '.join(sort_fields)} (prefix - for descending)"
        )
    network = bool(spec.network)
    if spec.widest:
        if spec.budget is None and spec.params_max is None and spec.macs_max is None:
            raise SpecError(
                "--widest needs a budget: --budget conv (--budget network with --network), --params-max or --macs-max"
            )
        if spec.in_channels:
            raise SpecError("--widest searches square widths: use -c for the conv whose budget to match")
        if spec.channels and spec.budget is None:
            raise SpecError(
                "--widest: the width is free, so -c is only used with --budget conv (the conv whose params to match); drop -c or add --budget conv"
            )
        if spec.budget == "conv" and len(spec.channels) != 1 and not network:
            raise SpecError("--widest with --budget conv needs exactly one -c value (the conv being replaced)")
    elif spec.budget == "conv" and not spec.pairs() and not network:
        raise SpecError("--budget conv needs channels")


# ---------------------------------------------------------------- serialisation


def spec_to_dict(spec: Spec, *, network: bool = False) -> dict[str, Any]:
    """A Spec's fields as a JSON-able dict (tuples as lists).

    The ``network`` field is written only when asked and set (a run in the store keeps it to be
    rebuilt; an export record's ``spec`` never had it, and keeps its form). ``pareto_all`` is
    written only when set, so records and stored runs of a default search keep their form.
    """
    data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(spec).items()}
    if not (network and spec.network):
        data.pop("network")
    if not spec.pareto_all:
        data.pop("pareto_all")
    return data


def spec_from_dict(data: dict[str, Any]) -> Spec:
    """The Spec stored with a run or an export record ("inf" strings back to infinities)."""
    fields = {f.name for f in dataclasses.fields(Spec)}
    numbers = {f.name for f in dataclasses.fields(Spec) if "float" in str(f.type)}

    def value(k: str, v: Any) -> Any:
        if isinstance(v, list):
            return tuple(v)
        return NON_FINITE.get(v, v) if k in numbers and isinstance(v, str) else v

    values = {k: value(k, v) for k, v in data.items() if k in fields}
    if not values.get("network"):
        values.pop("network", None)  # an empty network never started a network search
    return Spec(**values)


# ---------------------------------------------------------------- presets


def preset_dir() -> Path:
    """The shipped presets (package data ``igcsearch.presets``; ``presets/`` in a checkout)."""
    try:
        return Path(str(resources.files("igcsearch.presets")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "presets"


def list_presets() -> list[tuple[str, str, Path]]:
    """(name, question, file) of every shipped preset."""
    out = []
    for path in sorted(preset_dir().glob("*.toml")):
        data = _read_toml(path)
        out.append((str(data.get("name", path.stem)), str(data.get("question", "")), path))
    return out


def preset_command(path: Path) -> str:
    """The commands a preset is for: every shipped preset, network presets included, lists with
    ``space`` and measures with ``search``."""
    _read_toml(path)  # an unreadable preset fails here, as before
    return "space, search"


def load_preset(name_or_path: str, *, extra_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """Raw options of a preset given by shipped name or by file path."""
    path = _preset_path(name_or_path)
    data = _read_toml(path)
    if "name" in data:
        try:
            check_name(data["name"], "name")
        except SpecError as exc:
            raise PresetError(f"preset {str(path)!r}: {exc}") from None
    else:  # the file's stem, when it is a plain name itself
        data["name"] = path.stem if is_plain_name(path.stem) else "custom"
    for key in PRESET_PATH_KEYS:
        if key in data:
            _check_preset_path(path, key, data[key])
    if "network" in data and "network" not in extra_keys:
        raise PresetError(f"preset {name_or_path!r} is a network preset: run igcsearch search --preset {name_or_path}")
    unknown = sorted(set(data) - set(SPEC_KEYS) - set(extra_keys))
    if unknown:
        raise PresetError(
            f"preset {str(path)!r}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(SPEC_KEYS + list(extra_keys))}"
        )
    return data


PRESET_PATH_KEYS = ("store",)  # preset keys that name files: kept inside the working directory


def _check_preset_path(preset: Path, key: str, value: Any) -> None:
    """A path in a preset stays inside the working directory: relative, no ``..``, no NUL.

    A preset may come from someone else; only the command line (``--store PATH``) names a place
    outside the directory igcsearch runs in.
    """
    text = value if isinstance(value, str) else ""
    parts = Path(text).parts
    if not text.strip() or "\0" in text or Path(text).is_absolute() or ".." in parts or text.startswith("~"):
        raise PresetError(
            f"preset {str(preset)!r}: {key} = {value!r} must be a relative path inside the working directory "
            f"(no '..', not absolute); give --{key} PATH on the command line for another place"
        )


def _preset_path(name_or_path: str) -> Path:
    """A shipped preset by name (first, whatever the current directory holds) or a file path.

    A name is a word without a path separator or ``.toml`` suffix; ``./default`` is a path.
    """
    path = Path(name_or_path)
    is_name = path.suffix != ".toml" and "/" not in name_or_path and "\\" not in name_or_path
    shipped = preset_dir() / f"{name_or_path}.toml"
    if is_name and shipped.is_file():
        return shipped
    if path.is_file():
        return path
    if is_name and not path.exists():
        choices = ", ".join(n for n, _, _ in list_presets())
        raise PresetError(f"unknown preset {name_or_path!r}; choose from: {choices} (or give a .toml path)")
    if path.is_dir():
        raise PresetError(f"preset {str(path)!r} is a directory, not a TOML file")
    raise PresetError(f"preset file {str(path)!r} does not exist")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"preset {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise PresetError(f"preset {str(path)!r} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise PresetError(f"cannot read preset {str(path)!r}: {exc.strerror}") from None
    nested = [k for k, v in data.items() if isinstance(v, dict)]
    if nested:
        raise PresetError(f"preset {str(path)!r}: a preset is a flat table; nested table(s) {', '.join(nested)}")
    return data
