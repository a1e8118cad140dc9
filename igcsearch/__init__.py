"""igcsearch: the design-space explorer for efficient convolution blocks."""

from __future__ import annotations

__version__ = "0.1.0"
