"""`igcsearch train`: one short epoch on synthetic data, exact resume, data checks, converted and Lego models."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from igcsearch.errors import IgcSearchError
from igcsearch.handoff.model import PICKLE_WARNING
from igcsearch.handoff.train import METRIC_FIELDS, TrainOptions, train

SHORT = TrainOptions(epochs=1, batch=16, crop_pad=1, lr=0.05)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small tensors time steadier on one thread


def stripes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n uint8 images 3x8x8 (NCHW), 4 classes: horizontal/vertical stripes, checkerboard, flat."""
    i, j = np.mgrid[0:8, 0:8]
    patterns = np.stack([(i // 2) % 2, (j // 2) % 2, (i // 2 + j // 2) % 2, np.ones((8, 8))])
    y = rng.integers(0, 4, n)
    x = 40 * rng.random((n, 3, 8, 8)) + 180 * patterns[y][:, None]
    return x.astype(np.uint8), y


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    x_train, y_train = stripes(64, rng)
    x_test, y_test = stripes(16, rng)
    path = tmp_path_factory.mktemp("data") / "toy.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def write_config(folder: Path, key: str) -> Path:
    """An export record of a block config (what `igcsearch export` writes, without spec)."""
    from igcsearch.config import parse_key

    cfg = parse_key(key)
    record = {
        "schema_version": 1,
        "igcsearch_version": "0.1.0",
        "key": key,
        "family": cfg.family,
        "config": cfg.to_dict(),
    }
    path = folder / f"{key}.json"
    path.write_text(json.dumps(record))
    return path


def read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_epoch_of_a_block_config(data: Path, tmp_path: Path) -> None:
    from igcsearch.families.igc1_block import Igc1Block
    from igcsearch.handoff.data import load_data
    from igcsearch.handoff.train import evaluate

    cfg = write_config(tmp_path, "igc1-L4M2-c8k3")
    result = train(str(cfg), data, tmp_path / "run", SHORT)
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "metrics.csv", "model.pt", "result.json"]
    rows = read_metrics(run / "metrics.csv")
    assert list(rows[0]) == list(METRIC_FIELDS) and [r["epoch"] for r in rows] == ["1"]
    assert float(rows[0]["lr"]) == 0.05
    beside = json.loads((tmp_path / "igc1-L4M2-c8k3.train.json").read_text())
    assert beside == json.loads((run / "result.json").read_text())
    assert beside["test_acc"] == result.test_acc and beside["epochs"] == 1 and beside["kind"] == "block"
    # stem 3->8 conv + BN, the igc1 block (9·2·8 + 8·4 + BN 16), FC 8->4
    assert beside["params"] == 9 * 3 * 8 + 16 + (9 * 2 * 8 + 8 * 4 + 16) + (8 * 4 + 4)
    model = torch.load(run / "model.pt", weights_only=False)
    assert isinstance(model.block, Igc1Block)
    d = load_data(data)
    assert evaluate(model, d.x_test, d.y_test, 16, "cpu")[1] == result.test_acc
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["options"]["batch"] == 16


class StopAfterFirstEpoch:
    """A progress sink that interrupts the run once epoch 1 is checkpointed (like Ctrl-C)."""

    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def log(self, text: str) -> None:
        if text.startswith("epoch 1/"):
            raise KeyboardInterrupt


def test_resume_continues_exactly(data: Path, tmp_path: Path) -> None:
    opts = TrainOptions(epochs=2, batch=16, crop_pad=1, lr=0.05)
    straight = train("igc1-L4M2-c8k3", data, tmp_path / "a", opts)
    with pytest.raises(KeyboardInterrupt):
        train("igc1-L4M2-c8k3", data, tmp_path / "b", opts, progress=StopAfterFirstEpoch())
    assert [r["epoch"] for r in read_metrics(tmp_path / "b" / "metrics.csv")] == ["1"]
    resumed = train("igc1-L4M2-c8k3", data, tmp_path / "b", opts, resume=True)
    assert resumed.resumed_from == 1 and len(resumed.metrics) == 2
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(read_metrics(tmp_path / "a" / "metrics.csv")) == drop(read_metrics(tmp_path / "b" / "metrics.csv"))
    with pytest.raises(IgcSearchError, match="already holds a checkpoint: pass --resume"):
        train("igc1-L4M2-c8k3", data, tmp_path / "a", opts)
    with pytest.raises(IgcSearchError, match=r"trained with --lr 0.05 \(now 0.1\)"):
        train("igc1-L4M2-c8k3", data, tmp_path / "a", TrainOptions(epochs=2, batch=16, crop_pad=1), resume=True)
    with pytest.raises(IgcSearchError, match="--resume: no checkpoint at"):
        train("igc1-L4M2-c8k3", data, tmp_path / "c", opts, resume=True)


def test_train_a_converted_model_file(data: Path, tmp_path: Path) -> None:
    from torch import nn

    from igcsearch.handoff.convert import convert
    from igcsearch.handoff.model import save_model

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    )  # fmt: skip
    converted = convert(model, "igc1", input_size=8).model
    path = save_model(converted, tmp_path / "conv.pt")
    with pytest.raises(IgcSearchError, match=r"is a pickled module .*--trust-pickle"):
        train(str(path), data, tmp_path / "refused", SHORT)  # igcsearch's own outputs are pickles too
    assert not (tmp_path / "refused").exists()
    warned: list[str] = []
    result = train(str(path), data, tmp_path / "run", SHORT, trust_pickle=True, warn=warned.append)
    assert warned == [PICKLE_WARNING]
    assert result.source.kind == "model" and 0.0 <= result.test_acc <= 1.0
    assert not (tmp_path / "conv.train.json").exists()  # only configs get a result beside them


def test_lego_learns_its_combination_and_ends_sparse(data: Path, tmp_path: Path) -> None:
    from igcsearch.families.lego_block import LegoBlock

    cfg = write_config(tmp_path, "lego-o2m4-c8k3")
    opts = TrainOptions(epochs=2, batch=16, crop_pad=1, lego="learn", lego_freeze=1, lego_balance=0.01)
    result = train(str(cfg), data, tmp_path / "run", opts)
    assert type(result.model.block) is LegoBlock
    assert result.params == 9 * 3 * 8 + 16 + (9 * 4 * 4 + 2 * 8 + 16) + (8 * 4 + 4)  # no proxy counted
    model = torch.load(tmp_path / "run" / "model.pt", weights_only=False)
    assert type(model.block) is LegoBlock and not any("proxy" in n for n, _ in model.named_parameters())


def test_network_key_trains(data: Path, tmp_path: Path) -> None:
    result = train("net-cifar-resnet-8-conv-c16k3", data, tmp_path / "run", SHORT)
    assert result.source.kind == "network" and len(result.metrics) == 1


# ---------------------------------------------------------------- CLI and bad input


def test_cli_train(data: Path, tmp_path: Path, cli: Any) -> None:
    cfg = write_config(tmp_path, "dwsep-r1-c8k3")
    res = cli(
        "train", cfg, "--data", data, "--epochs", "1", "--batch", "16", "--crop-pad", "1", "--out", tmp_path / "r"
    )
    assert res.exit_code == 0, res.output
    assert "dwsep-r1-c8k3" in res.stdout and "final test accuracy" in res.stdout
    assert "epoch 1/1: train loss" in res.stderr
    assert (tmp_path / "dwsep-r1-c8k3.train.json").is_file()


def bad_files(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    x, y = stripes(8, rng)
    cases = {
        "missing_key": {"x_train": x, "y_train": y, "x_test": x},
        "nhwc": {"x_train": x.transpose(0, 2, 3, 1).repeat(2, axis=1), "y_train": y, "x_test": x, "y_test": y},
        "three_d": {"x_train": x[:, 0], "y_train": y, "x_test": x, "y_test": y},
        "float_labels": {"x_train": x, "y_train": y.astype(np.float32), "x_test": x, "y_test": y},
        "short_labels": {"x_train": x, "y_train": y[:5], "x_test": x, "y_test": y},
        "test_label": {"x_train": x, "y_train": y % 3, "x_test": x, "y_test": np.full(8, 7)},
        "negative": {"x_train": x, "y_train": y - 1, "x_test": x, "y_test": y},
        "sizes": {"x_train": x, "y_train": y, "x_test": x[:, :, :4], "y_test": y},
        "ints": {"x_train": x.astype(np.int32), "y_train": y, "x_test": x, "y_test": y},
        "many_classes": {"x_train": x, "y_train": y + 20, "x_test": x, "y_test": y},
    }
    out = {}
    for name, arrays in cases.items():
        out[name] = folder / f"{name}.npz"
        np.savez(out[name], **arrays)
    (folder / "garbage.npz").write_text("not a zip")
    out["garbage"] = folder / "garbage.npz"
    (folder / "text.txt").write_text("1 2 3\n")
    out["text"] = folder / "text.txt"
    np.save(folder / "single.npy", x)
    out["npy"] = folder / "single.npy"
    np.savez(folder / "objects.npz", x_train=np.array([x, None], dtype=object), y_train=y, x_test=x, y_test=y)
    out["objects"] = folder / "objects.npz"
    out["absent"] = folder / "absent.npz"
    return out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("absent", "absent.npz' does not exist"),
        ("garbage", "garbage.npz' is not an .npz archive (numpy.savez): it is not a zip archive"),
        ("text", "text.txt' is not an .npz archive (numpy.savez): it is not a zip archive"),
        ("npy", "single.npy' is not an .npz archive (numpy.savez): it holds a single array (numpy.save)"),
        ("objects", "array 'x_train' of '"),
        ("missing_key", "missing array(s) y_test (it has: x_test, x_train, y_train)"),
        ("nhwc", "looks like NHWC; store images as NCHW"),
        ("three_d", "x_train must be 4-D images (N, C, H, W), got shape (8, 8, 8)"),
        ("float_labels", "y_train must hold integer class ids 0..K-1, got dtype float32"),
        ("short_labels", "y_train has 5 labels but x_train has 8 images"),
        ("test_label", "y_test has label 7 but y_train's labels are 0..2"),
        ("negative", "y_train has a negative label -1"),
        ("sizes", "x_train images are (3, 8, 8) but x_test images are (3, 4, 8)"),
        ("ints", "x_train must be uint8 or float images, got dtype int32"),
        ("many_classes", "the model predicts 10 classes but the labels go up to 23"),
    ],
)
def test_cli_bad_data(tmp_path: Path, cli: Any, case: str, message: str) -> None:
    files = bad_files(tmp_path)
    res = cli("train", "net-cifar-resnet-8-conv-c16k3", "--data", files[case], "--epochs", "1", "--out", tmp_path / "r")
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr
    assert "allow_pickle" not in res.stderr and "Traceback" not in res.output  # never points at unsafe loading
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("text", "calibration file '{}' is not an .npz archive (numpy.savez): it is not a zip archive"),
        (
            "npy",
            "calibration file '{}' is not an .npz archive (numpy.savez): it holds a single array (numpy.save), not named arrays",
        ),
        ("objects", "array 'x_train' of '{}' holds Python objects (pickled data), which igcsearch does not load"),
    ],
)
def test_cli_decompose_bad_calibration_file(tmp_path: Path, cli: Any, case: str, message: str) -> None:
    files = bad_files(tmp_path)
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1)), tmp_path / "m.pt")
    res = cli("decompose", tmp_path / "m.pt", "--rank", "1", "--calib", files[case], "--out", tmp_path / "x.pt")
    assert res.exit_code == 1, res.output
    assert res.stderr == f"error: {message.format(files[case])}" + (
        "; store numeric arrays\n" if case == "objects" else "\n"
    )
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["igc1-L3M3-c8k3"], "igc1: L*M=9 is invalid; must be equal to out_channels=8"),
        (["nope.json"], "config file 'nope.json' does not exist"),
        (["igc1-L4M2-c8k3", "--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
        (["igc1-L4M2-c8k3", "--lr", "-1"], "--lr must be a finite number > 0, got -1.0"),
        (["igc1-L4M2-c8k3", "--lego", "learn"], "--lego learn: the model has no LegoBlock"),
        (["igc1-L4M2-c8k3", "--device", "tpu"], "--device must be cpu or cuda"),
        (["igc1-L4M2-c8k3", "--resume"], "--resume: no checkpoint at"),
    ],
)
def test_cli_bad_options(data: Path, tmp_path: Path, cli: Any, args: list, message: str) -> None:
    res = cli("train", *args, "--data", data, "--out", tmp_path / "r")
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("error:") and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr


def test_cli_unknown_schema_version(data: Path, tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "future.json"
    path.write_text(
        json.dumps({"schema_version": 2, "config": {"family": "conv", "in_channels": 8, "out_channels": 8}})
    )
    res = cli("train", path, "--data", data)
    assert res.exit_code == 1 and "schema_version 2 is not supported" in res.stderr
