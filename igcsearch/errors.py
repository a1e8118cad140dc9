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
