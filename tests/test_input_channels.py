"""convert, decompose and train take the example input's channels from the model's first
nn.Conv2d when --in-channels is not given; a probe that still fails names the shape it tried
and the options that fix it, never torch's own text."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")

NET = """
import torch.nn as nn
def make(c={c}):
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4))
"""


@pytest.fixture
def nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``gray:make`` (first conv takes 1 channel), ``deep:make`` (16) and ``fixed:make`` (1, 16x16 only) in tmp_path/pkg."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "gray.py").write_text(textwrap.dedent(NET.format(c=1)))
    (tmp_path / "pkg" / "deep.py").write_text(textwrap.dedent(NET.format(c=16)))
    (tmp_path / "pkg" / "fixed.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 8, 3, padding=1)
                self.fc = nn.Linear(8 * 16 * 16, 4)  # needs 16x16 inputs
            def forward(self, x):
                return self.fc(self.conv(x).flatten(1))
        def make():
            return Net()
    """)
    )
    import sys

    for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
        monkeypatch.delitem(sys.modules, name)  # another test's tmp_path/pkg
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("module", "channels"), [("gray", 1), ("deep", 16)])
def test_convert_takes_channels_from_the_first_conv(nets: Path, cli: Any, module: str, channels: int) -> None:
    res = cli("convert", f"pkg.{module}:make", "--family", "group", "--input-size", "8", "--out", "new.pt")
    assert res.exit_code == 0, res.output
    model = torch.load(nets / "new.pt", weights_only=False).eval()
    assert model(torch.randn(2, channels, 8, 8)).shape == (2, 4)


def test_decompose_takes_channels_from_the_first_conv(nets: Path, cli: Any) -> None:
    res = cli("decompose", "pkg.gray:make", "--rank", "1", "--input-size", "8", "--out", "dec.pt")
    assert res.exit_code == 0, res.output
    model = torch.load(nets / "dec.pt", weights_only=False).eval()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 4)


def test_train_a_one_channel_model_on_one_channel_images(nets: Path, cli: Any) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (32, 1, 8, 8), dtype=np.uint8), rng.integers(0, 4, 32)
    np.savez(nets / "gray.npz", x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    args = ("--data", nets / "gray.npz", "--epochs", "1", "--batch", "16", "--crop-pad", "0")
    res = cli("train", "pkg.gray:make", *args, "--out", nets / "run")
    assert res.exit_code == 0, res.output
    assert "final test accuracy" in res.stdout
    block = cli("train", "conv-c8k3", *args, "--out", nets / "run2")  # a block config: stem from the images' C
    assert block.exit_code == 0, block.output
    net = cli("train", "net-cifar-plain-5-conv-c8k3", *args, "--out", nets / "run3")  # its stem takes 3
    assert net.exit_code == 1
    assert net.stderr.count("error:") == 1
    assert "have 1 channel(s) but the model's first conv" in net.stderr and "takes 3" in net.stderr


@pytest.mark.parametrize(
    ("args", "shape", "fix"),
    [
        (["--in-channels", "4"], ", 4, 8, 8) (N, C, H, W) (C = 4 from --in-channels)", "--in-channels"),
        ([], ", 1, 8, 8) (N, C, H, W) (C = 1 from its first conv 'conv')", "--input-size"),
    ],
)
def test_a_failing_probe_names_the_shape_and_the_options(
    nets: Path, cli: Any, args: list[str], shape: str, fix: str
) -> None:
    for command, extra in (("convert", ["--family", "group"]), ("decompose", ["--rank", "1"])):
        res = cli(command, "pkg.fixed:make", *extra, "--input-size", "8", *args, "--out", "x.pt")
        assert res.exit_code == 1, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the model does not run on an input of shape ")
        assert shape in lines[0] and fix in lines[0] and "--input-size" in lines[0]
        assert "mat1" not in lines[0] and "Given groups" not in lines[0] and "expected input" not in lines[0]
        assert not (nets / "x.pt").exists()
