"""`igcsearch train`: train the network of a config (or a converted model) on an ``.npz`` dataset.

Data: one ``.npz`` with ``x_train, y_train, x_test, y_test``, read and checked by
:mod:`igcsearch.handoff.data` before training starts; a problem is one clear IgcSearchError.

Model: an ``igcsearch export`` record or config file, a config key, a network key
(``net-…``), a saved module (``torch.save``; runs code from the file), a TorchScript file or
``package.module:factory``. A single block config is trained inside :class:`BlockNet`
(3×3 stem conv-BN-ReLU to the block's C_in, the block, global average pool, FC).

Training: SGD with momentum and weight decay, a cosine learning-rate schedule per step,
random crop with zero padding and horizontal flip; per-epoch metrics in ``metrics.csv``, a
checkpoint after every epoch (``checkpoint.pt``, :mod:`igcsearch.handoff.checkpoint`: state
dicts only, loads with ``weights_only=True``), ``--resume`` continues it exactly. At the end:
``model.pt`` (the full module) and ``result.json`` in the run directory, and
``<config>.train.json`` beside a config file. Networks holding LegoBlocks can learn their
combination (``lego="learn"``, straight-through estimator, :mod:`igcsearch.lego_train`) and are
converted back to LegoBlocks at the end.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from ..errors import IgcSearchError
from .checkpoint import file_sha256, restore, save_checkpoint, why
from .data import Dataset, augment, load_data

METRIC_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds")
LEGO_MODES = ("fixed", "learn")
MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64-bit seeds


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
    from .model import first_conv, run_model

    x = data.x_test[:2].to(device)
    try:
        out = run_model(model, x, "check that the images (C, H, W) fit the model", "the images of --data")
    except IgcSearchError:
        found = first_conv(model)  # the likely cause, said plainly: the images' channels
        if found is None or found[1].in_channels == x.shape[1]:
            raise
        name, conv = found
        raise IgcSearchError(
            f"the model does not run on the images of --data, shape {tuple(x.shape)} (N, C, H, W): they have "
            f"{x.shape[1]} channel(s) but the model's first conv {name or '(the model)'!r} takes {conv.in_channels}; "
            f"give images with {conv.in_channels} channel(s), or a model whose first conv takes {x.shape[1]}"
        ) from None
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
        start, metrics = restore(ckpt, model, optimizer, scheduler, gen, _options_dict(opts), data_hash)
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
        save_checkpoint(ckpt, model, optimizer, scheduler, gen, _options_dict(opts), source, epoch, metrics, data_hash)
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
        raise IgcSearchError(f"cannot write {str(path)!r}: {why(exc)}") from None


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
