"""Bad-input corpus: the hand-off commands export, convert, decompose and train (see tests/badinput.py).

Every model file that would run code when unpickled writes ``PWNED`` into the working directory:
the harness fails a case that writes anything outside its allowed paths, so a pickle run by
surprise is caught even where the command itself succeeds.
"""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from badinput import Case, cases_by_id, check
from torch import nn

from igcsearch.errors import IgcSearchError

EVIL = "open('PWNED', 'w').write('code from a pickle ran')"
TRAIN = ("--data", "toy.npz", "--epochs", "1", "--batch", "16", "--crop-pad", "1")
FACTORY = (
    "import torch.nn as nn\n\n\ndef small():\n    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())\n"
)


class Evil:
    """A pickle that runs code when loaded (``torch.load(weights_only=False)``)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return exec, (EVIL,)


def _toy(path: Path, n: int = 32, top: int = 4, dtype: Any = np.int64) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (n, 3, 8, 8)).astype(np.uint8)
    y = (np.arange(n) % 4).astype(dtype)
    y[0] = top - 1  # the largest label
    np.savez(path, x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])


def toy(work: Path) -> None:
    _toy(work / "toy.npz")


def evil_at(name: str) -> Any:
    def setup(work: Path) -> None:
        toy(work)
        torch.save(Evil(), work / name)

    return setup


def model_pt(work: Path) -> None:
    toy(work)
    torch.save(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()), work / "m.pt")


def with_labels(top: int, dtype: Any = np.int64) -> Any:
    return lambda work: _toy(work / "toy.npz", top=top, dtype=dtype)


def finished_run(work: Path) -> None:
    """A finished one-epoch run in run/ (and a second data file other.npz)."""
    from igcsearch.handoff.train import TrainOptions, train

    toy(work)
    _toy(work / "other.npz", top=3)
    train("igc1-L4M2-c8k3", work / "toy.npz", work / "run", TrainOptions(epochs=1, batch=16, crop_pad=1))


def checkpoint(obj: Any) -> Any:
    def setup(work: Path) -> None:
        toy(work)
        (work / "run").mkdir()
        torch.save(obj, work / "run" / "checkpoint.pt")

    return setup


def results(rows: Any) -> Any:
    def setup(work: Path) -> None:
        (work / "res").mkdir()
        (work / "res" / "results.json").write_text(json.dumps(rows))

    return setup


def factory(text: str) -> Any:
    return lambda work: (work / "usermod.py").write_text(text)


ROW = {"key": "../../../evil", "family": "conv", "input_size": 8, "params": 1, "macs": 1, "acts": 1, "rank": 1}
PYC = ("__pycache__", "__pycache__/*")

CASES = cases_by_id([
    # ---- security: a file named like the argument never changes its meaning; pickles only on request
    Case("train-key-beside-a-pickle-of-that-name", "security", ("train", "igc1-L4M2-c8k3", *TRAIN, "--out", "run"), 0,
         setup=evil_at("igc1-L4M2-c8k3"), allowed=("run", "run/*")),
    Case("convert-import-path-beside-a-pickle-of-that-name", "security",
         ("convert", "usermod:small", "--family", "igc1", "--input-size", "8", "--out", "x.pt"), 0,
         setup=lambda w: (factory(FACTORY)(w), torch.save(Evil(), w / "usermod:small")), allowed=("x.pt", *PYC)),
    Case("convert-pickle-refused", "security", ("convert", "evil.pt", "--family", "igc1", "--out", "x.pt"), 1,
         r"'evil.pt' is a pickled module \(torch.save\(model\)\): loading it runs code .*--trust-pickle.*TorchScript"
         r".*package.module:factory with --weights", setup=evil_at("evil.pt")),
    Case("decompose-pickle-refused", "security", ("decompose", "evil.pt", "--rank", "1", "--out", "x.pt"), 1,
         r"'evil.pt' is a pickled module .*--trust-pickle", setup=evil_at("evil.pt")),
    Case("train-pickle-refused", "security", ("train", "evil.pt", *TRAIN, "--out", "run"), 1,
         r"'evil.pt' is a pickled module .*--trust-pickle", setup=evil_at("evil.pt")),
    Case("weights-pickle-never-run", "security",
         ("convert", "usermod:small", "--weights", "evil.pt", "--family", "igc1", "--out", "x.pt"), 1,
         r"cannot read weights 'evil.pt' as a state_dict \(it holds pickled objects",
         setup=lambda w: (evil_at("evil.pt")(w), factory(FACTORY)(w)), allowed=PYC),
    Case("convert-pickle-trusted", "security",
         ("convert", "m.pt", "--trust-pickle", "--family", "igc1", "--input-size", "8", "--out", "x.pt"), 0,
         setup=model_pt, allowed=("x.pt",)),
    Case("export-key-is-a-name-not-a-path", "security", ("export", "res", "--top", "1", "--out", "cfg"), 1,
         r"row key '\.\./\.\./\.\./evil' cannot be a file name", setup=results([ROW])),
    Case("convert-out-device-file", "security",
         ("convert", "usermod:small", "--family", "igc1", "--input-size", "8", "--out", "/dev/null"), 1,
         r"cannot write '/dev/null': it exists and is not a regular file", setup=factory(FACTORY), allowed=PYC),
    # ---- integrity: resume only the run's own data and options
    Case("resume-other-data", "integrity", ("train", "igc1-L4M2-c8k3", *TRAIN[2:], "--data", "other.npz", "--resume",
         "--out", "run"), 1, r"--resume: the checkpoint was trained on other data \(--data sha256", setup=finished_run),
    Case("resume-other-options", "integrity", ("train", "igc1-L4M2-c8k3", *TRAIN, "--lr", "0.01", "--resume", "--out",
         "run"), 1, r"--resume: the checkpoint was trained with --lr 0.1 \(now 0.01\)", setup=finished_run),
    Case("resume-same-finished-run", "integrity", ("train", "igc1-L4M2-c8k3", *TRAIN, "--resume", "--out", "run"), 0,
         setup=finished_run, allowed=("run/*",)),
    Case("resume-checkpoint-a-list", "integrity", ("train", "igc1-L4M2-c8k3", *TRAIN, "--resume", "--out", "run"), 1,
         r"checkpoint 'run/checkpoint.pt' holds a list, not an igcsearch checkpoint", setup=checkpoint([1, 2])),
    Case("resume-checkpoint-missing-keys", "integrity", ("train", "igc1-L4M2-c8k3", *TRAIN, "--resume", "--out",
         "run"), 1, r"is not an igcsearch train checkpoint: missing epoch, options", setup=checkpoint({"model": {}})),
    Case("resume-checkpoint-a-pickle", "security", ("train", "igc1-L4M2-c8k3", *TRAIN, "--resume", "--out", "run"), 1,
         r"cannot read checkpoint 'run/checkpoint.pt': it is damaged or not a checkpoint written by igcsearch train",
         setup=checkpoint({"model": Evil()})),
    Case("resume-checkpoint-garbage", "integrity", ("train", "igc1-L4M2-c8k3", *TRAIN, "--resume", "--out", "run"), 1,
         r"it is damaged or not a checkpoint written by igcsearch train",
         setup=lambda w: (toy(w), (w / "run").mkdir(), (w / "run" / "checkpoint.pt").write_bytes(bytes(range(256)) * 8))),
    Case("resume-checkpoint-a-tensor", "integrity", ("train", "igc1-L4M2-c8k3", *TRAIN, "--resume", "--out", "run"),
         1, r"holds a Tensor, not an igcsearch checkpoint", setup=checkpoint(torch.zeros(3))),
    # ---- resources: sizes refused before allocating, never clamped
    Case("label-1e8", "resources", ("train", "igc1-L4M2-c8k3", *TRAIN, "--out", "run"), 1,
         r"y_train has label 100000000; labels must be integer class ids in \[0, 65,536\)",
         setup=lambda w: _toy(w / "toy.npz", top=100_000_000 + 1)),
    Case("label-65536", "resources", ("train", "igc1-L4M2-c8k3", *TRAIN, "--out", "run"), 1,
         r"has label 65536; labels must be integer class ids in \[0, 65,536\)", setup=with_labels(65537)),
    Case("label-float", "resources", ("train", "igc1-L4M2-c8k3", *TRAIN, "--out", "run"), 1,
         r"y_train must hold integer class ids 0..K-1, got dtype float64", setup=with_labels(4, np.float64)),
    Case("kernel-999-json", "resources", ("train", "big.json", *TRAIN, "--out", "run"), 1, r"kernel=999 is invalid",
         files={"big.json": json.dumps({"family": "conv", "in_channels": 8, "out_channels": 8, "kernel": 999})},
         setup=toy),
    Case("show-conv-c60000k3", "resources", ("show", "conv-c60000k3"), 1,
         r"conv-c60000k3 has 32,400,120,000 parameters .* too large to build"),
    Case("train-conv-c60000k3", "resources", ("train", "conv-c60000k3", *TRAIN, "--out", "run"), 1,
         r"conv-c60000k3 has 32,400,120,000 parameters", setup=toy),
    Case("train-network-depth-30002", "resources", ("train", "net-cifar-plain-30002-conv-c16k3", *TRAIN, "--out",
         "run"), 1, r"depth 30002 is too deep; at most 1202 layers", setup=toy),
    Case("crop-pad-100000", "resources", ("train", "igc1-L4M2-c8k3", *TRAIN, "--crop-pad", "100000", "--out", "run"),
         1, r"--crop-pad 100000 is larger than the images \(8x8\); must be at most 8", setup=toy),
    Case("convert-input-size-100000", "resources",
         ("convert", "usermod:small", "--family", "igc1", "--input-size", "100000", "--out", "x.pt"), 1,
         r"--input-size must be an integer in \[1, 4,096\], got 100000", setup=factory(FACTORY)),
    Case("decompose-input-size-100000", "resources",
         ("decompose", "usermod:small", "--rank", "1", "--input-size", "100000", "--out", "x.pt"), 1,
         r"--input-size must be an integer in \[1, 4,096\], got 100000", setup=factory(FACTORY)),
    # ---- validation: every option checked
    Case("momentum-2", "validation", ("train", "igc1-L4M2-c8k3", *TRAIN, "--momentum", "2", "--out", "run"), 1,
         r"--momentum must be in \[0, 1\), got 2.0", setup=toy),
    Case("lr-nan", "validation", ("train", "igc1-L4M2-c8k3", *TRAIN, "--lr", "nan", "--out", "run"), 1,
         r"--lr must be a finite number > 0, got nan", setup=toy),
    Case("lr-0", "validation", ("train", "igc1-L4M2-c8k3", *TRAIN, "--lr", "0", "--out", "run"), 1,
         r"--lr must be a finite number > 0, got 0.0", setup=toy),
    Case("weight-decay-negative", "validation", ("train", "igc1-L4M2-c8k3", *TRAIN, "--weight-decay", "-1", "--out",
         "run"), 1, r"--weight-decay must be a finite number >= 0, got -1.0", setup=toy),
    Case("seed-1e23", "validation", ("train", "igc1-L4M2-c8k3", *TRAIN, "--seed", str(10**23), "--out", "run"), 1,
         r"--seed must be an integer in \[0, 2\*\*64 - 1\], got 100000000000000000000000", setup=toy),
    Case("batch-0", "validation", ("train", "igc1-L4M2-c8k3", *TRAIN, "--batch", "0", "--out", "run"), 1,
         r"--batch must be an integer >= 1, got 0", setup=toy),
    Case("data-a-directory", "validation", ("train", "igc1-L4M2-c8k3", "--data", "d", "--out", "run"), 1,
         r"data file 'd' is a directory, not an .npz file", setup=lambda w: (w / "d").mkdir()),
    Case("weights-a-directory", "validation",
         ("convert", "usermod:small", "--weights", "d", "--family", "igc1", "--out", "x.pt"), 1,
         r"--weights 'd' is a directory", setup=lambda w: (factory(FACTORY)(w), (w / "d").mkdir()), allowed=PYC),
    Case("convert-out-existing-directory", "validation",
         ("convert", "usermod:small", "--family", "igc1", "--input-size", "8", "--out", "d"), 1,
         r"--out 'd' is a directory; give a file name, or 'd/' to write 'usermod_small-igc1.pt' into it",
         setup=lambda w: (factory(FACTORY)(w), (w / "d").mkdir())),
    Case("decompose-out-trailing-slash", "validation",
         ("decompose", "usermod:small", "--rank", "1", "--input-size", "8", "--out", "dir/"), 0,
         setup=factory(FACTORY), allowed=("dir", "dir/usermod_small-r1.pt", *PYC)),
    Case("convert-out-trailing-slash", "validation",
         ("convert", "usermod:small", "--family", "igc1", "--input-size", "8", "--out", "a/b/"), 0,
         setup=factory(FACTORY), allowed=("a", "a/b", "a/b/usermod_small-igc1.pt", *PYC)),
    Case("decompose-out-existing-directory-with-slash", "validation",
         ("decompose", "usermod:small", "--rank", "1", "--input-size", "8", "--out", "d/"), 0,
         setup=lambda w: (factory(FACTORY)(w), (w / "d").mkdir()), allowed=("d/usermod_small-r1.pt", *PYC)),
    Case("decompose-sweeps-negative", "validation",
         ("decompose", "usermod:small", "--rank", "1", "--sweeps", "-1", "--out", "x.pt"), 1,
         r"--sweeps must be >= 0, got -1", setup=factory(FACTORY)),
    # ---- tracebacks: one error line instead
    Case("factory-syntax-error", "tracebacks", ("convert", "usermod:small", "--family", "igc1", "--out", "x.pt"), 1,
         r"cannot import 'usermod' \(from 'usermod:small'\): syntax error at .*usermod.py:1",
         setup=factory("def small(:\n")),
    Case("factory-raises-on-import", "tracebacks", ("train", "usermod:small", *TRAIN, "--out", "run"), 1,
         r"importing 'usermod' \(from 'usermod:small'\) failed: ZeroDivisionError",
         setup=lambda w: (toy(w), factory("1 / 0\n")(w))),
    Case("factory-returns-int", "tracebacks", ("decompose", "usermod:small", "--rank", "1", "--out", "x.pt"), 1,
         r"usermod:small\(\) returned a int, not a torch.nn.Module", setup=factory("def small():\n    return 3\n"),
         allowed=PYC),
    Case("model-file-a-tensor", "tracebacks", ("convert", "t.pt", "--family", "igc1", "--out", "x.pt"), 1,
         r"'t.pt' holds a Tensor, not a torch.nn.Module", setup=lambda w: torch.save(torch.zeros(2), w / "t.pt")),
    Case("model-file-text", "tracebacks", ("convert", "t.pt", "--family", "igc1", "--out", "x.pt"), 1,
         r"cannot read 't.pt' as a torch file", files={"t.pt": "not a model\n"}),
    Case("weights-a-list", "tracebacks",
         ("convert", "usermod:small", "--weights", "w.pt", "--family", "igc1", "--out", "x.pt"), 1,
         r"weights 'w.pt' hold a list, not a state_dict",
         setup=lambda w: (factory(FACTORY)(w), torch.save([1, 2], w / "w.pt")), allowed=PYC),
    Case("export-results-an-object", "tracebacks", ("export", "res", "--top", "1", "--out", "cfg"), 1,
         r"results.json' is not a list of row objects with a 'key': not a results.json written by igcsearch", setup=results({"a": 1})),
    Case("export-results-a-list-of-numbers", "tracebacks", ("export", "res", "--top", "1", "--out", "cfg"), 1,
         r"is not a list of row objects with a 'key'", setup=results([1, 2])),
    Case("export-results-rows-without-fields", "tracebacks", ("export", "res", "--top", "1", "--out", "cfg"), 1,
         r"is not a results file of `igcsearch search`: its rows lack family, input_size",
         setup=results([{"key": "conv-c8k3"}])),
])  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_corpus(case: Case, tmp_path: Path) -> None:
    out = check(case, tmp_path, env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert not (out.work / "PWNED").exists()


# ---------------------------------------------------------------- cases that need more than one command


@pytest.mark.parametrize(
    ("name", "written"),
    [("decompose-out-trailing-slash", "dir/usermod_small-r1.pt"), ("convert-out-trailing-slash", "a/b/usermod_small-igc1.pt"),
     ("decompose-out-existing-directory-with-slash", "d/usermod_small-r1.pt")],
)  # fmt: skip
def test_out_with_a_trailing_slash_writes_into_the_directory(name: str, written: str, tmp_path: Path) -> None:
    out = check(CASES[name], tmp_path)
    assert (out.work / written).is_file()
    assert (out.work / written).parent.is_dir()


def test_reader_that_stops_early_costs_no_model_file(tmp_path: Path) -> None:
    """`convert ... --out new.pt | head -1`: the model is saved before the table is printed."""
    import subprocess
    import sys

    factory(FACTORY)(tmp_path)
    cmd = f"{sys.executable} -m igcsearch convert usermod:small --family igc1 --input-size 8 --out new.pt | head -1"
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert torch.load(tmp_path / "new.pt", weights_only=False)[0].in_channels == 3


def test_layers_beyond_the_config_limits_are_kept_not_fatal() -> None:
    """A k=33 conv (configs stop at k=31) is listed as not replaced, with its reason; the rest converts."""
    from igcsearch.handoff.convert import convert

    net = nn.Sequential(nn.Conv2d(3, 8, 33, padding=16), nn.Conv2d(8, 16, 3, padding=1))
    result = convert(net, "igc1", "fewest-params", input_size=8, balance_tol=math.inf)
    assert dict(result.skipped) == {"0": "kernel 33 > 31, the largest a block config takes"}
    assert isinstance(result.model[0], nn.Conv2d) and result.model[0].kernel_size == (33, 33)
    assert [c.name for c in result.changes] == ["1"]


def test_full_disk_message_says_the_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    from igcsearch.handoff.model import save_model

    def fail(*a: Any, **k: Any) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", fail)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100, 100, 0))
    with pytest.raises(IgcSearchError, match=r"cannot write '.*m\.pt': the disk is full \(0 bytes free\)"):
        save_model(nn.ReLU(), tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_trusted_pickle_prints_the_warning(tmp_path: Path) -> None:
    """With --trust-pickle the file loads, and the warning that it runs code is printed once."""
    from igcsearch.handoff.model import PICKLE_WARNING

    out = check(CASES["convert-pickle-trusted"], tmp_path)
    assert out.stderr.count(f"warning: {PICKLE_WARNING}") == 1
    assert "a pickled module: reload with torch.load('x.pt', weights_only=False)" in out.stderr


def test_key_file_never_read_by_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """igcsearch.build(KEY) builds the key even if a JSON config file of that name is in the cwd."""
    import igcsearch

    monkeypatch.chdir(tmp_path)
    (tmp_path / "igc1-L4M2-c8k3").write_text(json.dumps({"family": "conv", "in_channels": 2, "out_channels": 2}))
    assert igcsearch.build("igc1-L4M2-c8k3").cfg.key == "igc1-L4M2-c8k3"
    (tmp_path / "myconfig").write_text(json.dumps({"family": "conv", "in_channels": 2, "out_channels": 2}))
    assert igcsearch.build("myconfig").cfg.key == "conv-c2k3"  # not key-shaped: still a file


def test_import_path_never_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from igcsearch.handoff.model import load_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "usermod2.py").write_text(FACTORY)
    torch.save(Evil(), tmp_path / "usermod2:small")
    assert isinstance(load_model("usermod2:small", trust_pickle=True), nn.Sequential)
    assert not (tmp_path / "PWNED").exists()


def test_api_trust_pickle(tmp_path: Path) -> None:
    from igcsearch.handoff.model import PICKLE_WARNING, is_pickle, load_model

    path = tmp_path / "m.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3)), path)
    assert is_pickle(path)
    with pytest.raises(IgcSearchError, match="is a pickled module"):
        load_model(path)
    warned: list[str] = []
    assert isinstance(load_model(path, trust_pickle=True, warn=warned.append), nn.Sequential)
    assert warned == [PICKLE_WARNING]
    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3)).state_dict(), tmp_path / "sd.pt")
    assert not is_pickle(tmp_path / "sd.pt")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: __import__("igcsearch.handoff.model").handoff.model.load_model(123),
            "source must be a str or Path, got int",
        ),
        (
            lambda: __import__("igcsearch.handoff.convert").handoff.convert.convert("x", "igc1"),
            "model must be a torch.nn.Module",
        ),
        (
            lambda: __import__("igcsearch.handoff.decompose").handoff.decompose.decompose(nn.Conv2d(1, 1, 1), "2"),
            "rank must be an int",
        ),
        (
            lambda: __import__("igcsearch.handoff.train").handoff.train.train("igc1-L4M2-c8k3", 5),
            "data_path must be a str or Path",
        ),
        (
            lambda: __import__("igcsearch.handoff.train").handoff.train.TrainOptions(lr="0.1").check(),
            "TrainOptions.lr must be float",
        ),
    ],
)
def test_api_wrong_types_are_type_errors(call: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        call()


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("file write failed")])
def test_full_disk_on_save_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    """A failed save (full disk) is one IgcSearchError and leaves no file, temporary or final."""
    from igcsearch.handoff.model import save_model

    def full(*args: Any, **kwargs: Any) -> None:
        raise exc

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(IgcSearchError, match=r"cannot write '.*x.pt': (No space left on device|RuntimeError)"):
        save_model(nn.Linear(1, 1), tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


def test_full_disk_on_checkpoint_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from igcsearch.handoff.train import TrainOptions, train

    _toy(tmp_path / "toy.npz")

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(IgcSearchError, match=r"cannot write '.*checkpoint.pt': No space left on device"):
        train("igc1-L4M2-c8k3", tmp_path / "toy.npz", tmp_path / "run", TrainOptions(epochs=1, batch=16, crop_pad=1))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["metrics.csv"]


def test_allocation_failure_names_what(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch allocation failure while building is one ConfigError naming the config."""
    import igcsearch
    import igcsearch.registry
    from igcsearch.errors import ConfigError

    def no_memory(cfg: Any, **opts: Any) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(igcsearch.registry, "create_block", no_memory)
    with pytest.raises(ConfigError, match=r"out of memory building conv-c8k3: .*can't allocate memory"):
        igcsearch.build("conv-c8k3")
