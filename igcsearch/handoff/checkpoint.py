"""Checkpoints of ``igcsearch train``: saving, reading and restoring them, exactly.

``checkpoint.pt`` (written after every epoch, atomically through ``checkpoint.pt.tmp``) holds
state dicts and plain values only, so it loads with ``weights_only=True``: the model,
optimizer, scheduler and data-order generator states, torch's RNG state, the epoch, the
per-epoch metrics, the training options (a dict) and the sha256 of the ``--data`` file
(:func:`file_sha256`). :func:`restore` (``--resume``) checks the options and the data hash
against the current run before loading anything into the model.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..errors import IgcSearchError

CHECKPOINT_KEYS = ("epoch", "options", "model", "optimizer", "scheduler", "generator", "torch_rng", "metrics")


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


def save_checkpoint(
    path: Path, model: nn.Module, optimizer: Any, scheduler: Any, gen: torch.Generator, options: dict[str, Any],
    source: str, epoch: int, metrics: list[dict[str, Any]], data_hash: str,
) -> None:  # fmt: skip
    """Write the run's state after ``epoch`` to ``path`` (through ``path.tmp``, then an atomic rename)."""
    state = {
        "igcsearch_version": __version__,
        "source": source,
        "epoch": epoch,
        "options": options,
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
        raise IgcSearchError(f"cannot write {str(path)!r}: {why(exc)}") from None


def why(exc: BaseException) -> str:
    """The reason an error gives, for a message: an OS error's text, else the exception's first line."""
    from .model import _first_line

    return exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)


def read_checkpoint(path: Path) -> dict[str, Any]:
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
        raise IgcSearchError(f"cannot read checkpoint {str(path)!r}: {why(exc)}") from None
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


def restore(
    path: Path, model: nn.Module, optimizer: Any, scheduler: Any, gen: torch.Generator, options: dict[str, Any],
    data_hash: str,
) -> tuple[int, list[dict[str, Any]]]:  # fmt: skip
    """Load the checkpoint at ``path`` into the run (``--resume``); returns (epochs done, their metrics).

    ``options`` (the run's TrainOptions as a dict) and ``data_hash`` (:func:`file_sha256` of ``--data``)
    must match the checkpoint's.
    """
    state = read_checkpoint(path)
    saved = state["options"]
    diff = [f"--{k.replace('_', '-')} {saved.get(k)!r} (now {v!r})" for k, v in options.items() if saved.get(k) != v]
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
        raise IgcSearchError(f"--resume: the checkpoint does not fit this model and options ({why(exc)})") from None
    epochs = options["epochs"]
    if not 0 <= epoch <= epochs:
        raise IgcSearchError(f"--resume: checkpoint epoch {epoch} is outside 0..{epochs}")
    if any(getattr(m, "frozen", None) is not None and bool(m.frozen) for m in model.modules()):
        from .lego_train import freeze

        freeze(model)  # restore requires_grad=False on frozen proxies
    return epoch, list(state["metrics"])
