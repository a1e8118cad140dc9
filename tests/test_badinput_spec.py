"""Bad-input corpus: the search spec, presets and the space/show commands (see tests/badinput.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput import Case, cases_by_id, check

CASES = cases_by_id([
    Case("unknown-family", "validation", ("space", "--family", "igc9"), 1, r"unknown block family 'igc9'"),
    Case("kernel-too-large", "resources", ("show", "conv-c8k999"), 1, r"kernel=999 is invalid"),
    Case("channels-too-large", "resources", ("show", "conv-c70000k3"), 1, r"in_channels=70000 is invalid"),
])  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_corpus(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
