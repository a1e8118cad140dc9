"""What a search lists and measures: single blocks, or whole networks built from them.

The two targets differ in a few operations only, chosen once by :func:`target_of` from the
spec's ``network`` field: where the rows come from, what the spec must satisfy, the columns
and the notes of the reports. Everything else (building a row's key, measuring, ranking,
writing) is the same code for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .report import CONVENTION
from .space import Chunk, chunks
from .spec import Spec

Column = tuple[str, str, Callable[[Any], str]]


class BlockTarget:
    """Blocks: every setting of every requested family at the spec's geometries."""

    kind = "block"
    convention = CONVENTION
    table_width = 100  # the terminal table's minimum width

    def check(self, spec: Spec) -> None:
        """Nothing beyond the spec's own checks."""

    def rows(self, spec: Spec) -> Iterator[Chunk]:
        """Every listed row (igcsearch.space)."""
        return chunks(spec)

    def fields(self, fields: tuple[str, ...]) -> tuple[str, ...]:
        """The columns of the result files."""
        return fields

    def notes(self, spec: Spec) -> list[str]:
        """Lines for report headers beside the spec line."""
        return []

    def columns(self, columns: list[Column]) -> list[Column]:
        """The terminal table's columns."""
        return columns


class NetworkTarget(BlockTarget):
    """Whole networks (``--network NAME``): one row per block setting and base width of the layout."""

    kind = "network"
    table_width = 140  # the knob and width columns

    @property
    def convention(self) -> str:  # type: ignore[override]
        from .networks.report import NETWORK_CONVENTION

        return NETWORK_CONVENTION

    def check(self, spec: Spec) -> None:
        """The network exists and takes the spec's families and widths (before anything starts)."""
        from .networks.rows import check_network_spec

        check_network_spec(spec)

    def rows(self, spec: Spec) -> Iterator[Chunk]:
        """One-family chunks with ``net-…`` keys (igcsearch.networks)."""
        from .networks import network_rows

        return network_rows(spec)

    def fields(self, fields: tuple[str, ...]) -> tuple[str, ...]:
        """The knob and base-width columns of network rows."""
        from .networks.report import network_fields

        return network_fields(fields)

    def notes(self, spec: Spec) -> list[str]:
        """The reference network behind ``--budget network`` and the ratios, per kernel size."""
        from .networks.report import network_notes

        return network_notes(spec)

    def columns(self, columns: list[Column]) -> list[Column]:
        """The knob and width columns before the counts."""
        from .networks.report import network_columns

        return network_columns(columns)


BLOCKS, NETWORKS = BlockTarget(), NetworkTarget()


def target_of(spec: Spec) -> BlockTarget:
    """The spec's target: networks when it names one, else blocks."""
    return NETWORKS if spec.network else BLOCKS
