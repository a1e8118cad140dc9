"""`igcsearch train`: train the network of a config (or a converted model) on an ``.npz`` dataset.

Data: one ``.npz`` with ``x_train, y_train, x_test, y_test``; images NCHW, uint8 (scaled to
[0, 1]) or float (used as given); labels integer class ids 0..K−1. Everything is checked
before training starts; a problem is one clear IgcSearchError.

Model: an ``igcsearch export`` record or config file, a config key, a network key
(``net-…``), a saved module (``torch.save``; runs code from the file), a TorchScript file or
``package.module:factory``. A single block config is trained inside :class:`BlockNet`
(3×3 stem conv-BN-ReLU to the block's C_in, the block, global average pool, FC).

Training: SGD with momentum and weight decay, a cosine learning-rate schedule per step,
random crop with zero padding and horizontal flip; per-epoch metrics in ``metrics.csv``, a
checkpoint after every epoch (``checkpoint.pt``: state dicts only, loads with
``weights_only=True``), ``--resume`` continues it exactly. At the end: ``model.pt`` (the full
module) and ``result.json`` in the run directory, and ``<config>.train.json`` beside a config
file. Networks holding LegoBlocks can learn their combination (``lego="learn"``, straight-through
estimator, :mod:`igcsearch.lego_train`) and are converted back to LegoBlocks at the end.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from ..errors import IgcSearchError

DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")
METRIC_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds")
LEGO_MODES = ("fixed", "learn")
MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64-bit seeds
MAX_CLASSES = 1 << 16  # labels are class ids in [0, 65,536): the classifier has max label + 1 outputs


@dataclass(frozen=True)
class TrainOptions:
    """How to train; a resumed run must use the same options (the device may differ)."""

    epochs: int = 10
    batch: int = 128
    lr: float = 0.1  # peak learning rate (cosine decay to 0 over every step)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    crop_pad: int = 4  # random crop after zero padding by this many pixels (0: no crop)
    flip: bool = True  # random horizontal flip
    seed: int = 0
    lego: str = "fixed"  # LegoBlocks: "fixed" combination, or "learn" it (straight-through)
    lego_freeze: int = 1  # with lego="learn": freeze the combination after this many epochs (0: never)
    lego_balance: float = 0.0  # weight of the Lego usage-balance term

    def check(self) -> None:
        """Raise IgcSearchError naming the option and the allowed values (TypeError for a wrong type)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            want = {"int": int, "float": (int, float), "bool": bool, "str": str}[str(f.type)]
            if (isinstance(value, bool) and want is not bool) or not isinstance(value, want):
                raise TypeError(f"TrainOptions.{f.name} must be {f.type}, got {type(value).__name__} {value!r}")
        for name in ("epochs", "batch"):
            if getattr(self, name) < 1:
                raise IgcSearchError(f"--{name} must be an integer >= 1, got {getattr(self, name)}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise IgcSearchError(f"--lr must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise IgcSearchError(f"--momentum must be in [0, 1), got {self.momentum}")
        for name in ("weight_decay", "lego_balance"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise IgcSearchError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        for name in ("crop_pad", "lego_freeze"):
            if getattr(self, name) < 0:
                raise IgcSearchError(f"--{name.replace('_', '-')} must be an integer >= 0, got {getattr(self, name)}")
        if not 0 <= self.seed <= MAX_SEED:
            raise IgcSearchError(f"--seed must be an integer in [0, 2**64 - 1], got {self.seed}")
        if self.lego not in LEGO_MODES:
            raise IgcSearchError(f"--lego must be one of {', '.join(LEGO_MODES)}, got {self.lego!r}")


class Progress(Protocol):
    """What training reports to (the CLI passes a rich progress bar)."""

    def stage(self, name: str, total: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def log(self, text: str) -> None: ...


class _Quiet:
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def log(self, text: str) -> None:
        pass


# ---------------------------------------------------------------- data


@dataclass
class Dataset:
    """Train and test tensors: float32 images NCHW, int64 labels."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: int  # max label + 1

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def to_float(x: np.ndarray) -> Tensor:
    """Images as float32: uint8 scaled to [0, 1], floats as given."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.float() / 255.0 if x.dtype == np.uint8 else t.float()


def load_data(path: str | Path, required: tuple[str, ...] = DATA_KEYS) -> Dataset:
    """Read and check an ``.npz`` dataset; every problem is one IgcSearchError before training."""
    path = Path(path)
    with open_npz(path, "data file") as npz:
        arrays = {k: npz_array(npz, k, path) for k in npz.files}
    missing = [k for k in required if k not in arrays]
    if missing:
        have = ", ".join(sorted(arrays)) or "nothing"
        raise IgcSearchError(
            f"{path.name}: missing array(s) {', '.join(missing)} (it has: {have}); need {', '.join(required)}"
        )
    shapes = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        _check_images(f"x_{split}", x)
        _check_labels(f"y_{split}", y, len(x))
        shapes[split] = x.shape[1:]
    if shapes["train"] != shapes["test"]:
        raise IgcSearchError(f"x_train images are {shapes['train']} but x_test images are {shapes['test']} (C, H, W)")
    classes = int(arrays["y_train"].max()) + 1
    top = int(arrays["y_test"].max())
    if top >= classes:
        raise IgcSearchError(f"y_test has label {top} but y_train's labels are 0..{classes - 1}: mislabelled test set?")
    return Dataset(
        to_float(arrays["x_train"]), torch.from_numpy(arrays["y_train"].astype(np.int64)),
        to_float(arrays["x_test"]), torch.from_numpy(arrays["y_test"].astype(np.int64)), classes,
    )  # fmt: skip


@contextlib.contextmanager
def open_npz(path: Path, what: str) -> Iterator[Any]:
    """An ``.npz`` archive opened without pickles; a missing or non-.npz file is one clear IgcSearchError."""
    if path.is_dir():
        raise IgcSearchError(f"{what} {str(path)!r} is a directory, not an .npz file")
    if not path.is_file():
        raise IgcSearchError(f"{what} {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            single = fh.read(6) == b"\x93NUMPY"
        reason = "it holds a single array (numpy.save), not named arrays" if single else "it is not a zip archive"
        raise IgcSearchError(f"{what} {str(path)!r} is not an .npz archive (numpy.savez): {reason}")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise IgcSearchError(f"cannot read {what} {str(path)!r} as an .npz archive (numpy.savez): {exc}") from None
    with npz:
        yield npz


def npz_array(npz: Any, name: str, path: Path) -> np.ndarray:
    """One array of an open ``.npz``; object (pickled) arrays are refused, never unpickled."""
    try:
        return npz[name]
    except ValueError as exc:
        if "pickle" in str(exc) or "Object arrays" in str(exc):
            raise IgcSearchError(
                f"array {name!r} of {str(path)!r} holds Python objects (pickled data), which igcsearch does not "
                "load; store numeric arrays"
            ) from None
        raise IgcSearchError(f"cannot read array {name!r} of {str(path)!r}: {exc}") from None
    except Exception as exc:
        raise IgcSearchError(f"cannot read array {name!r} of {str(path)!r}: {type(exc).__name__}: {exc}") from None


def _check_images(name: str, x: np.ndarray) -> None:
    if x.ndim != 4:
        raise IgcSearchError(f"{name} must be 4-D images (N, C, H, W), got shape {x.shape}")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise IgcSearchError(f"{name} must be uint8 or float images, got dtype {x.dtype}")
    if len(x) == 0:
        raise IgcSearchError(f"{name} is empty")
    c, w = x.shape[1], x.shape[3]
    if c > 4 and w in (1, 3, 4):
        raise IgcSearchError(f"{name} has shape {x.shape}: that looks like NHWC; store images as NCHW (N, C, H, W)")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise IgcSearchError(f"{name} holds NaN or infinite values")


def _check_labels(name: str, y: np.ndarray, n: int) -> None:
    if y.ndim != 1:
        raise IgcSearchError(f"{name} must be 1-D class ids, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise IgcSearchError(f"{name} must hold integer class ids 0..K-1, got dtype {y.dtype}")
    if len(y) != n:
        raise IgcSearchError(f"{name} has {len(y)} labels but x_{name[2:]} has {n} images")
    if y.min() < 0:
        raise IgcSearchError(f"{name} has a negative label {int(y.min())}; labels are class ids 0..K-1")
    if y.max() >= MAX_CLASSES:
        raise IgcSearchError(
            f"{name} has label {int(y.max())}; labels must be integer class ids in [0, {MAX_CLASSES:,}) "
            "(the model gets max label + 1 outputs; labels are never remapped)"
        )


def augment(x: Tensor, pad: int, flip: bool, gen: torch.Generator) -> Tensor:
    """Random crop of the zero-padded batch (same size as x) and random horizontal flip."""
    n, _, h, w = x.shape
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)  # (n, h)
        cols = (dx[:, None] + torch.arange(w)[None, :]).to(x.device)  # (n, w)
        idx = torch.arange(n, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if flip:
        mask = (torch.rand(n, generator=gen) < 0.5).to(x.device)
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    return x.contiguous()


# ---------------------------------------------------------------- models


class BlockNet(nn.Module):
    """A small classifier around one block: 3×3 stem conv-BN-ReLU (C → C_in), the block, GAP, FC."""

    def __init__(self, block: nn.Module, cfg: Any, image_channels: int, classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(image_channels, cfg.in_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(cfg.in_channels),
            nn.ReLU(inplace=True),
        )
        self.block = block
        self.head = nn.Linear(cfg.out_channels, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.block(self.stem(x)).mean(dim=(2, 3)))


@dataclass
class Source:
    """Where the model came from: its name, and the config file (if any) to write the result beside."""

    name: str
    config_file: Path | None
    kind: str  # "block" | "network" | "model"


def make_model(
    source: str, data: Dataset, weights: str | None = None, *, trust_pickle: bool = False, warn: Any = None
) -> tuple[nn.Module, Source]:
    """The model to train from a key, network key, config file, import path or model file.

    The argument is read as what it looks like first: a key (``igc1-L8M1-c8k3``, ``net-…``) is
    a key and ``package.module:factory`` an import path even when a file of that name exists;
    a ``.json`` file (or a file starting with ``{``) is an export record or config.
    """
    from ..builder import looks_like_key
    from ..config import BlockConfig

    if not isinstance(source, (str, Path)):
        raise TypeError(f"train: source must be a str or Path, got {type(source).__name__}")
    source = str(source)
    path = Path(source)
    if looks_like_key(source) and ":" not in source and path.suffix != ".json":
        from ..builder import build

        built, key, where = build(source.strip()), source.strip(), None
    elif path.suffix == ".json" or (path.is_file() and _is_json(path)):
        from ..builder import build
        from .export import read_record, record_key

        record = read_record(path)
        built, key = build(record["config"]), record_key(record)
        where: Path | None = path
    else:
        from .model import load_model

        model = load_model(source, weights, trust_pickle=trust_pickle, warn=warn)
        return model, Source(_stem(source), None, "model")
    if weights is not None:
        raise IgcSearchError("--weights is for a model given as a file or import path, not a config")
    cfg = getattr(built, "cfg", None)
    if isinstance(cfg, BlockConfig) and not key.startswith("net-"):
        head = cfg.out_channels * data.classes + data.classes
        from ..builder import param_limit

        limit, why = param_limit()
        if head > limit:
            raise IgcSearchError(
                f"the classifier head ({cfg.out_channels} x {data.classes:,} classes) is too large: more than {why}"
            )
        return BlockNet(built, cfg, data.image_shape[0], data.classes), Source(key, where, "block")
    return built, Source(key, where, "network")


def _is_json(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(1) == b"{"
    except OSError:
        return False


def _stem(source: str) -> str:
    return re.sub(r"[^\w.-]+", "_", Path(source).stem if Path(source).is_file() else source).strip("_.") or "model"


def check_model(model: nn.Module, data: Dataset, device: str) -> int:
    """Run two test images through the model; returns its number of outputs (>= the classes)."""
    from .model import run_model

    x = data.x_test[:2].to(device)
    out = run_model(model, x, "check that the images (C, H, W) fit the model")
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != len(x):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise IgcSearchError(f"the model must return class scores (N, K); it returned {shape}")
    if out.shape[1] < data.classes:
        raise IgcSearchError(
            f"the model predicts {out.shape[1]} classes but the labels go up to {data.classes - 1}; "
            "use a model with enough outputs or relabel the data"
        )
    return int(out.shape[1])


# ---------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What a run did: the trained model, its per-epoch metrics and the files written."""

    model: nn.Module
    metrics: list[dict[str, Any]]
    out: Path
    files: list[Path]
    resumed_from: int  # epochs done before this call (0 for a fresh run)
    source: Source
    params: int

    @property
    def test_acc(self) -> float:
        """Test accuracy after the last epoch."""
        return float(self.metrics[-1]["test_acc"]) if self.metrics else float("nan")


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch: int, device: str) -> tuple[float, float]:
    """(mean loss, accuracy) on a split, eval mode, no grad."""
    model.eval()
    loss = correct = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb, yb = x[i : i + batch].to(device), y[i : i + batch].to(device)
            out = model(xb)
            loss += float(F.cross_entropy(out, yb, reduction="sum"))
            correct += float((out.argmax(1) == yb).sum())
    return loss / len(x), correct / len(x)


def train(
    source: str,
    data_path: str | Path,
    out: str | Path | None = None,
    opts: TrainOptions | None = None,
    *,
    resume: bool = False,
    device: str = "cpu",
    weights: str | None = None,
    progress: Progress | None = None,
    trust_pickle: bool = False,
    warn: Any = None,
) -> TrainResult:
    """Train the model of ``source`` on the dataset; see the module docstring.

    A pickled model file loads only with ``trust_pickle=True`` (it runs code from the file;
    ``warn`` then gets the warning text). Denormal floats are flushed to zero while it runs
    (tiny late-training gradients are otherwise very slow on CPUs).
    """
    from .model import too_large

    if opts is not None and not isinstance(opts, TrainOptions):
        raise TypeError(f"train: opts must be a TrainOptions, got {type(opts).__name__}")
    if not isinstance(data_path, (str, Path)):
        raise TypeError(f"train: data_path must be a str or Path, got {type(data_path).__name__}")
    if out is not None and not isinstance(out, (str, Path)):
        raise TypeError(f"train: out must be a str, Path or None, got {type(out).__name__}")
    flushed = torch.set_flush_denormal(True)
    try:
        with too_large("the model or a training batch"):
            return _train(source, data_path, out, opts, resume, device, weights, progress, trust_pickle, warn)
    finally:
        if flushed:
            torch.set_flush_denormal(False)


def _train(
    source: str, data_path: str | Path, out: str | Path | None, opts: TrainOptions | None, resume: bool, device: str,
    weights: str | None, progress: Progress | None, trust_pickle: bool = False, warn: Any = None,
) -> TrainResult:  # fmt: skip
    opts = opts or TrainOptions()
    opts.check()
    progress = progress or _Quiet()
    if device == "cuda" and not torch.cuda.is_available():
        raise IgcSearchError("--device cuda: no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise IgcSearchError(f"--device must be cpu or cuda, got {device!r}")
    data = load_data(data_path)
    _, _, h, w = data.x_train.shape
    if opts.crop_pad > min(h, w):
        raise IgcSearchError(
            f"--crop-pad {opts.crop_pad} is larger than the images ({h}x{w}); must be at most {min(h, w)}"
        )
    data_hash = file_sha256(Path(data_path))
    torch.manual_seed(opts.seed)
    model, src = make_model(source, data, weights, trust_pickle=trust_pickle, warn=warn)
    out = Path(out) if out is not None else Path("igcsearch-train") / src.name
    if out.exists() and not out.is_dir():
        raise IgcSearchError(f"--out {str(out)!r} is a file; the run directory must be a directory")
    model = model.to(device)
    check_model(model, data, device)
    lego_n = 0
    if opts.lego == "learn":
        from .lego_train import make_trainable

        lego_n = make_trainable(model)
        if lego_n == 0:
            raise IgcSearchError("--lego learn: the model has no LegoBlock")
    params = sum(p.numel() for p in model.parameters() if not _is_proxy(model, p))
    steps = math.ceil(len(data.x_train) / opts.batch)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=opts.lr,
        momentum=opts.momentum,
        weight_decay=opts.weight_decay,
        nesterov=opts.momentum > 0,
    )
    total = opts.epochs * steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    gen = torch.Generator().manual_seed(opts.seed)
    metrics: list[dict[str, Any]] = []
    ckpt = out / "checkpoint.pt"
    start = 0
    if resume:
        start, metrics = _restore(ckpt, model, optimizer, scheduler, gen, opts, source, data_hash)
    elif ckpt.exists():
        raise IgcSearchError(f"{str(out)!r} already holds a checkpoint: pass --resume to continue it, or another --out")
    _mkdir(out)
    for epoch in range(start + 1, opts.epochs + 1):
        if opts.lego == "learn" and opts.lego_freeze and epoch == opts.lego_freeze + 1:
            from .lego_train import freeze

            freeze(model)
            progress.log(f"epoch {epoch}: Lego combinations frozen")
        t0 = time.perf_counter()
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        order = torch.randperm(len(data.x_train), generator=gen)
        loss_sum = correct = 0.0
        progress.stage(f"epoch {epoch}/{opts.epochs}", steps)
        for i in range(steps):
            idx = order[i * opts.batch : (i + 1) * opts.batch]
            xb = augment(data.x_train[idx], opts.crop_pad, opts.flip, gen).to(device)
            yb = data.y_train[idx].to(device)
            outp = model(xb)
            loss = F.cross_entropy(outp, yb)
            if lego_n and opts.lego_balance > 0:
                from .lego_train import usage_penalty

                loss = loss + opts.lego_balance * usage_penalty(model).to(loss.device)
            if not torch.isfinite(loss.detach()):
                raise IgcSearchError(f"epoch {epoch}: the loss became {float(loss.detach())}; lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += float((outp.argmax(1) == yb).sum())
            progress.advance()
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test, max(opts.batch, 256), device)
        row = {
            "epoch": epoch, "lr": lr, "train_loss": loss_sum / len(data.x_train),
            "train_acc": correct / len(data.x_train), "test_loss": test_loss, "test_acc": test_acc,
            "seconds": time.perf_counter() - t0,
        }  # fmt: skip
        metrics.append(row)
        _write_metrics(out / "metrics.csv", metrics)
        _save_checkpoint(ckpt, model, optimizer, scheduler, gen, opts, source, epoch, metrics, data_hash)
        progress.log(
            f"epoch {epoch}/{opts.epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}, "
            f"test loss {test_loss:.4f} acc {test_acc:.4f} ({row['seconds']:.1f}s)"
        )
    if lego_n:
        from .lego_train import to_inference

        to_inference(model)
    files = _finish(model, metrics, out, src, source, data_path, opts, params)
    return TrainResult(model, metrics, out, files, start, src, params)


def _is_proxy(model: nn.Module, p: Tensor) -> bool:
    from .lego_train import lego_blocks

    return any(p is b.proxy for b in lego_blocks(model))


def _mkdir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IgcSearchError(f"cannot create {str(out)!r}: {exc.strerror}") from None


def _options_dict(opts: TrainOptions) -> dict[str, Any]:
    return dataclasses.asdict(opts)


def file_sha256(path: Path) -> str:
    """The sha256 of a file (the data a checkpoint was trained on), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise IgcSearchError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    return digest.hexdigest()


def _save_checkpoint(
    path: Path, model: nn.Module, optimizer: Any, scheduler: Any, gen: torch.Generator, opts: TrainOptions,
    source: str, epoch: int, metrics: list[dict[str, Any]], data_hash: str,
) -> None:  # fmt: skip
    state = {
        "igcsearch_version": __version__,
        "source": source,
        "epoch": epoch,
        "options": _options_dict(opts),
        "data_sha256": data_hash,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "metrics": metrics,
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch's zip writer reports a full disk as a RuntimeError
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise IgcSearchError(f"cannot write {str(path)!r}: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    from .model import _first_line

    return exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)


CHECKPOINT_KEYS = ("epoch", "options", "model", "optimizer", "scheduler", "generator", "torch_rng", "metrics")


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's dict (``weights_only=True``), checked for the keys a resume needs."""
    if not path.is_file():
        raise IgcSearchError(f"--resume: no checkpoint at {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        import pickle

        if isinstance(exc, pickle.UnpicklingError):  # torch's text would suggest weights_only=False: never here
            raise IgcSearchError(
                f"cannot read checkpoint {str(path)!r}: it is damaged or not a checkpoint written by igcsearch train "
                "(it holds more than tensors and plain values); start again with another --out"
            ) from None
        raise IgcSearchError(f"cannot read checkpoint {str(path)!r}: {_why(exc)}") from None
    if not isinstance(state, dict):
        raise IgcSearchError(f"checkpoint {str(path)!r} holds a {type(state).__name__}, not an igcsearch checkpoint")
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise IgcSearchError(
            f"checkpoint {str(path)!r} is not an igcsearch train checkpoint: missing {', '.join(missing)}"
        )
    if not isinstance(state["options"], dict) or not isinstance(state["metrics"], list):
        raise IgcSearchError(f"checkpoint {str(path)!r} is damaged: its options or metrics have the wrong type")
    return state


def _restore(
    path: Path, model: nn.Module, optimizer: Any, scheduler: Any, gen: torch.Generator, opts: TrainOptions, source: str,
    data_hash: str,
) -> tuple[int, list[dict[str, Any]]]:  # fmt: skip
    state = _read_checkpoint(path)
    saved = state["options"]
    diff = [
        f"--{k.replace('_', '-')} {saved.get(k)!r} (now {v!r})"
        for k, v in _options_dict(opts).items()
        if saved.get(k) != v
    ]
    if diff:
        raise IgcSearchError(
            f"--resume: the checkpoint was trained with {', '.join(diff)}; resume with the same options"
        )
    recorded = state.get("data_sha256")
    if recorded is None:
        raise IgcSearchError(
            f"--resume: checkpoint {str(path)!r} records no hash of its --data file (written by an older igcsearch), "
            "so the data cannot be checked; start a new run with another --out"
        )
    if recorded != data_hash:
        raise IgcSearchError(
            f"--resume: the checkpoint was trained on other data (--data sha256 {recorded[:12]}…, now "
            f"{data_hash[:12]}…); resume with the same --data file"
        )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        epoch = int(state["epoch"])
    except Exception as exc:
        raise IgcSearchError(f"--resume: the checkpoint does not fit this model and options ({_why(exc)})") from None
    if not 0 <= epoch <= opts.epochs:
        raise IgcSearchError(f"--resume: checkpoint epoch {epoch} is outside 0..{opts.epochs}")
    if any(getattr(m, "frozen", None) is not None and bool(m.frozen) for m in model.modules()):
        from .lego_train import freeze

        freeze(model)  # restore requires_grad=False on frozen proxies
    return epoch, list(state["metrics"])


def _write_metrics(path: Path, metrics: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in metrics:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise IgcSearchError(f"cannot write {str(path)!r}: {_why(exc)}") from None


def _finish(
    model: nn.Module, metrics: list[dict[str, Any]], out: Path, src: Source, source: str, data_path: Any,
    opts: TrainOptions, params: int,
) -> list[Path]:  # fmt: skip
    from .model import save_model

    files = [out / "metrics.csv", out / "checkpoint.pt", save_model(model.eval(), out / "model.pt")]
    last = metrics[-1] if metrics else {}
    result = {
        "igcsearch_version": __version__,
        "source": source,
        "name": src.name,
        "kind": src.kind,
        "data": str(data_path),
        "params": params,
        "epochs": len(metrics),
        "test_acc": last.get("test_acc"),
        "test_loss": last.get("test_loss"),
        "train_acc": last.get("train_acc"),
        "options": _options_dict(opts),
        "run_dir": str(out),
    }
    targets = [out / "result.json"]
    if src.config_file is not None:
        targets.append(src.config_file.with_name(src.config_file.stem + ".train.json"))
    for path in targets:
        try:
            path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise IgcSearchError(f"cannot write {str(path)!r}: {exc.strerror}") from None
        files.append(path)
    return files
