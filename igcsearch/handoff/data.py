"""The ``.npz`` dataset of ``igcsearch train``: loading, checking and augmentation.

Layout: one ``.npz`` archive (``numpy.savez``) with the arrays ``x_train, y_train, x_test,
y_test`` (:data:`DATA_KEYS`). Images are NCHW (N, C, H, W), uint8 (scaled to [0, 1]) or float
(used as given), the same (C, H, W) in both splits; labels are 1-D integer class ids 0..K−1
(K = max train label + 1, below :data:`MAX_CLASSES`; never remapped), one per image, and no
test label above the largest train label. The archive is read without pickles: an object array
is refused, never unpickled. Every problem is one clear IgcSearchError before any use.

- :func:`load_data`: read and check a dataset into a :class:`Dataset` (float32 images, int64 labels);
- :func:`open_npz`, :func:`npz_array`, :func:`check_images`, :func:`to_float`: the pieces, for other
  readers of image arrays (``decompose --calib``);
- :func:`augment`: random crop with zero padding and random horizontal flip of a batch.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import IgcSearchError

DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_CLASSES = 1 << 16  # labels are class ids in [0, 65,536): the classifier has max label + 1 outputs


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
        check_images(f"x_{split}", x)
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


def check_images(name: str, x: np.ndarray) -> None:
    """Images ``name`` are 4-D NCHW, uint8 or float, not empty and finite; else one IgcSearchError."""
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
