"""`igcsearch --help`, `space`, `families`, `presets` and `reproduce` never import torch;
`space` does not import pandas either (half of its start-up time otherwise)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import sys
from typer.testing import CliRunner
from igcsearch.cli import app
result = CliRunner().invoke(app, {args!r})
assert result.exit_code == 0, result.output
print("torch" in sys.modules, "pandas" in sys.modules)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["space", "-c", "64", "--format", "csv"],
        ["space", "--preset", "igcv1-width"],
        ["space", "--preset", "igcv1-cifar-net"],
        ["families"],
        ["presets"],
        ["reproduce", "igcv1-cifar", "--format", "json"],
    ],
    ids=lambda a: " ".join(a),
)
def test_light_commands_never_import_torch(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-c", CHECK.format(args=args)], capture_output=True, text=True, check=True)
    torch, pandas = out.stdout.strip().splitlines()[-1].split()
    assert torch == "False"
    if args[0] == "space":
        assert pandas == "False"
