"""Parsing of numbers with SI suffixes, integer lists and inclusive ranges."""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import SpecError

_SI = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_NUM = re.compile(r"^\s*([+-]?(?:[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|(?i:inf|infinity|nan)))\s*([kKMGT]?)\s*$")


def parse_si(text: str | float | int, what: str) -> float:
    """``'36.9K'`` -> 36900.0; ``'1.5M'``, ``'2G'``; plain numbers pass through."""
    if isinstance(text, bool):
        raise SpecError(f"{what} must be a number, got {text!r}")
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _NUM.match(str(text))
        if not m:
            raise SpecError(f"{what} must be a number such as 36.9K, 1.5M or 2G, got {text!r}")
        value = float(m.group(1)) * _SI[m.group(2)]
    if math.isnan(value):
        raise SpecError(f"{what} must be a finite number >= 0, got {text!r}")
    if value < 0:
        raise SpecError(f"{what} must be >= 0, got {text!r}")
    if math.isinf(value):
        raise SpecError(f"{what} must be finite (leave it out for no limit), got {text!r}")
    return value


MAX_VALUES = 1 << 16  # values one option may list: a longer list or range is refused unexpanded


def parse_int_list(
    text: str | int | list, what: str, *, minimum: int = 1, maximum: int | None = None, unit: str = ""
) -> list[int]:
    """``'64'``, ``'32,64,128'`` or ``'16:256:16'`` (stop included) -> sorted unique ints.

    Bounds and the number of values are checked on each range before it is expanded, so a
    huge range is refused at once, naming its size and the limit.
    """
    if isinstance(text, bool):
        raise SpecError(f"{what} must be integers, got {text!r}")
    if isinstance(text, int):
        parts: list[str] = [str(text)]
    elif isinstance(text, list | tuple):
        parts = [str(p) for p in text]
    else:
        parts = [p for p in str(text).split(",")]
    pieces = [_piece(p.strip(), what) for p in parts]
    for r in pieces:
        _check_bounds(r, what, minimum, maximum, unit)
    sizes = sum(_size(r) for r in pieces)
    if sizes > 4 * MAX_VALUES:
        raise SpecError(f"{what} lists {sizes:,} values: at most {MAX_VALUES:,}")
    values = sorted({v for r in pieces for v in r})
    if not values:
        raise SpecError(f"{what} is empty")
    if len(values) > MAX_VALUES:
        raise SpecError(f"{what} lists {len(values):,} values: at most {MAX_VALUES:,}")
    return values


def _piece(part: str, what: str) -> range:
    """One list item as a range: ``'64'`` -> range(64, 65); ``'16:256:16'`` -> its range."""
    if ":" in part:
        return _parse_range(part, what)
    value = _parse_int(part, what)
    return range(value, value + 1)


def _size(r: range) -> int:
    """Number of values of a range, without len() (which overflows above sys.maxsize)."""
    return 0 if r.stop <= r.start else (r.stop - 1 - r.start) // r.step + 1


def _check_bounds(r: range, what: str, minimum: int, maximum: int | None, unit: str) -> None:
    """Refuse a range below ``minimum``, above ``maximum`` or with more than MAX_VALUES values."""
    n = _size(r)
    if n == 0:
        return
    last = r.start + (n - 1) * r.step
    if r.start < minimum:
        raise SpecError(f"{what} must be >= {minimum}, got {r.start}")
    if maximum is not None and last > maximum:
        shown = f"{last:.3g}" if last > 10**18 else str(last)
        raise SpecError(f"{what} {shown} is too large: at most {maximum}{unit}")
    if n > MAX_VALUES:
        step = f":{r.step}" if r.step != 1 else ""
        raise SpecError(f"{what} range {r.start}:{last}{step} has {n:,} values: at most {MAX_VALUES:,}")


def _parse_int(part: str, what: str) -> int:
    try:
        return int(part)
    except ValueError:
        try:
            value = parse_si(part, what)
        except SpecError:
            raise SpecError(
                f"{what} must be an integer, a list a,b,c or a range start:stop:step, got {part!r}"
            ) from None
        if value != int(value):
            raise SpecError(f"{what} must be an integer, got {part!r}") from None
        return int(value)


def _parse_range(part: str, what: str) -> range:
    pieces = part.split(":")
    if len(pieces) not in (2, 3):
        raise SpecError(f"{what} range must be start:stop or start:stop:step, got {part!r}")
    start, stop = _parse_int(pieces[0], what), _parse_int(pieces[1], what)
    step = _parse_int(pieces[2], what) if len(pieces) == 3 else 1
    if step <= 0:
        raise SpecError(f"{what} range step must be > 0, got {part!r}")
    if stop < start:
        raise SpecError(f"{what} range stop must be >= start, got {part!r}")
    return range(start, stop + 1, step)


def humanize(value: float) -> str:
    """36992 -> '37.0K', 37748736 -> '37.7M' (terminal only; files carry raw numbers)."""
    value = float(value)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value:g}"


# ---------------------------------------------------------------- JSON numbers


NON_FINITE = {"inf": math.inf, "-inf": -math.inf}


def plain_json(data: Any) -> Any:
    """``data`` with every infinity as the string ``"inf"``/``"-inf"`` (NaN as null): standard JSON."""
    if isinstance(data, float) and not math.isfinite(data):
        return None if data != data else ("inf" if data > 0 else "-inf")
    if isinstance(data, dict):
        return {k: plain_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain_json(v) for v in data]
    return data
