"""The exceptions igcsearch raises; the CLI prints them as one ``error:`` line."""

from __future__ import annotations


class IgcSearchError(Exception):
    """Base of every error that is the user's to fix (bad spec, config, preset, file)."""


class ConfigError(IgcSearchError, ValueError):
    """A block config is invalid: names the field, the bad value and what is allowed."""


class SpecError(IgcSearchError, ValueError):
    """A search spec (CLI options or preset) is invalid or contradictory."""


class PresetError(SpecError):
    """A preset is missing, malformed or has unknown keys."""


_ALLOCATION_TEXT = ("can't allocate", "cannot allocate", "not enough memory", "out of memory", "tried to allocate")


def is_allocation_error(exc: BaseException) -> bool:
    """A failed allocation: MemoryError, torch.OutOfMemoryError or an allocator's RuntimeError."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in _ALLOCATION_TEXT)


def physical_memory() -> int:
    """Bytes of physical memory on this machine (0 when the system does not say)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
