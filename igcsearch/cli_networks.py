"""`igcsearch` commands for networks (registered on the shared typer app by importing this module)."""

from __future__ import annotations

from .cli import app  # noqa: F401
