"""Models for the hand-off commands (``convert``, ``decompose``, ``train``): load, save, probe.

Loading a model (shared with ``decompose`` and ``train``): a pickled full module
(``torch.save(model)``; loading it RUNS CODE FROM THE FILE), a TorchScript file (safe: no
code runs; rebuilt into eager torch.nn layers, which works for ``torch.jit.script`` of models
made of torch.nn containers and layers, e.g. an ``nn.Sequential``; a ``torch.jit.trace`` file
keeps no layer settings and is refused), or an import path
``package.module:factory`` (safe; ``weights=`` a state_dict file loaded with
``weights_only=True``).

Saving (:func:`save_model`) writes ``torch.save(model)`` atomically; probing runs the model once
on a seeded example input and records what every ``nn.Conv2d`` saw (:func:`probe_convs`).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
import sys
import tempfile
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IgcSearchError, is_allocation_error
from ..report import file_mode

PICKLE_WARNING = (
    "Loading a pickled module (torch.save(model)) runs code stored in the file: only load files you trust. "
    "Safe routes: a TorchScript file, or package.module:factory with --weights STATE_DICT (weights_only=True)."
)


# ---------------------------------------------------------------- loading and saving models


IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
PICKLE_REFUSED = (
    "is a pickled module (torch.save(model)): loading it runs code stored in the file, so igcsearch loads it only "
    "with --trust-pickle (trust_pickle=True in Python); safe routes: a TorchScript file (torch.jit.script), or "
    "package.module:factory with --weights STATE_DICT"
)
MAX_INPUT_SIZE = 4096  # side of an example input (the same cap as the search's --input-size)
MAX_INPUT_CHANNELS = 1 << 16  # channels of an example input (the configs' MAX_CHANNELS)
MAX_INPUT_ELEMENTS = 1 << 30  # values in one example image (4 GiB as float32)


def load_model(
    source: str | Path,
    weights: str | Path | None = None,
    *,
    trust_pickle: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Any:
    """An eager ``nn.Module`` from ``package.module:factory``, a TorchScript file or a pickled module file.

    The argument is read as what it looks like first: text shaped like ``package.module:factory``
    is always an import path, even if a file of that name exists. A pickled module
    (``torch.save(model)``) runs code from the file when loaded: it is refused unless
    ``trust_pickle`` is True (then ``warn`` gets :data:`PICKLE_WARNING`).
    """
    if not isinstance(source, (str, Path)):
        raise TypeError(f"load_model: source must be a str or Path, got {type(source).__name__}")
    if weights is not None and not isinstance(weights, (str, Path)):
        raise TypeError(f"load_model: weights must be a str, Path or None, got {type(weights).__name__}")
    text = str(source)
    path = Path(text)
    if isinstance(source, str) and IMPORT_PATH.fullmatch(text):
        model = _from_import_path(text)
    elif path.is_dir():
        raise IgcSearchError(f"MODEL {text!r} is a directory, not a model file")
    elif path.is_file():
        if _is_torchscript(path):
            model = _from_torchscript(path)
        else:
            model = _load_module_file(path, trust_pickle, warn)
    else:
        raise IgcSearchError(
            f"MODEL {text!r} is neither a file (a TorchScript or torch.save'd module) "
            "nor an import path package.module:factory"
        )
    if weights is not None:
        load_weights(model, weights)
    return model


def _from_torchscript(path: Path) -> Any:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load warns since torch 2.9
            scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise IgcSearchError(f"cannot load TorchScript file {str(path)!r}: {_first_line(exc)}") from None
    return eager_from_script(scripted)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files holding compiled code (``<name>/code/``)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in name or name.endswith("constants.pkl") for name in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def safe_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)``: tensors, dicts and lists only, no code run.

    Raises :class:`pickle.UnpicklingError` when the file needs more (a pickled object: code);
    any other failure is one IgcSearchError.
    """
    import pickle

    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise
    except (OSError, RuntimeError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise IgcSearchError(f"cannot read {str(path)!r} as a torch file: {_first_line(exc)}") from None


def is_pickle(path: str | Path) -> bool:
    """True when a file is a torch/pickle file that cannot load without running its code (never unpickles it)."""
    import pickle

    try:
        safe_load(Path(path))
    except pickle.UnpicklingError:
        return _parses_as_pickle(Path(path))
    except IgcSearchError:
        return False
    return False


def _parses_as_pickle(path: Path) -> bool:
    """Whether the file's pickle stream (a torch archive's ``data.pkl``, or the file itself) is a
    well-formed pickle: read opcode by opcode with :func:`pickletools.genops`, nothing executed."""
    import pickletools

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                if not names:
                    return False
                with zf.open(names[0]) as fh:
                    ops = [op.name for op, _, _ in pickletools.genops(fh)]
        else:
            with open(path, "rb") as fh:
                ops = [op.name for op, _, _ in pickletools.genops(fh)]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError, UnicodeDecodeError):
        return False
    return bool(ops) and ops[-1] == "STOP"


def _load_module_file(path: Path, trust_pickle: bool, warn: Callable[[str], None] | None) -> Any:
    """A module from a non-TorchScript file: safe contents are refused with a hint, pickles need trust."""
    import pickle

    try:
        obj = safe_load(path)
    except pickle.UnpicklingError:
        if not _parses_as_pickle(path):
            raise IgcSearchError(f"cannot read {str(path)!r} as a torch file: not a torch or pickle file") from None
        if not trust_pickle:
            raise IgcSearchError(f"{str(path)!r} {PICKLE_REFUSED}") from None
        if warn is not None:
            warn(PICKLE_WARNING)
        return _unpickle(path)
    return _module_of(obj, path)


def _unpickle(path: Path) -> Any:
    import torch

    cwd = os.getcwd()
    sys.path.insert(0, cwd)  # the model's classes usually live beside the user's scripts
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except ModuleNotFoundError as exc:
        raise IgcSearchError(
            f"cannot load {str(path)!r}: its classes come from module {exc.name!r}, which is not importable here; "
            "run from the directory holding that code, or use TorchScript or package.module:factory"
        ) from None
    except Exception as exc:
        raise IgcSearchError(f"cannot load {str(path)!r}: {_first_line(exc)}") from None
    finally:
        if cwd in sys.path:
            sys.path.remove(cwd)
    return _module_of(obj, path)


def _module_of(obj: Any, path: Path) -> Any:
    """The loaded object when it is an nn.Module; a state dict or anything else is one clear error."""
    from torch import nn

    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, dict):
        raise IgcSearchError(
            f"{str(path)!r} holds a state_dict (or checkpoint), not a module: give the architecture as "
            "package.module:factory and this file as --weights"
        )
    raise IgcSearchError(f"{str(path)!r} holds a {type(obj).__name__}, not a torch.nn.Module")


def _from_import_path(text: str) -> Any:
    from torch import nn

    module_name, _, attr = text.partition(":")
    if not module_name or not attr:
        raise IgcSearchError(f"import path {text!r} must look like package.module:factory")
    cwd = os.getcwd()
    sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise IgcSearchError(f"cannot import {module_name!r} (from {text!r}): {_first_line(exc)}") from None
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else module_name
        raise IgcSearchError(
            f"cannot import {module_name!r} (from {text!r}): syntax error at {where}: {exc.msg}"
        ) from None
    except (Exception, SystemExit) as exc:
        raise IgcSearchError(f"importing {module_name!r} (from {text!r}) failed: {_first_line(exc)}") from None
    finally:
        if cwd in sys.path:
            sys.path.remove(cwd)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise IgcSearchError(f"module {module_name!r} has no attribute {attr!r}") from None
        except Exception as exc:
            raise IgcSearchError(f"reading {text!r} failed: {_first_line(exc)}") from None
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise IgcSearchError(f"{text!r} is neither a torch.nn.Module nor a callable that returns one")
        try:
            with too_large(f"the model of {text}()"):
                obj = obj()
        except IgcSearchError:
            raise
        except (Exception, SystemExit) as exc:
            raise IgcSearchError(f"{text}() failed: {_first_line(exc)}") from None
    if not isinstance(obj, nn.Module):
        raise IgcSearchError(f"{text}() returned a {type(obj).__name__}, not a torch.nn.Module")
    return obj


@contextlib.contextmanager
def too_large(what: str) -> Iterator[None]:
    """Turn a failed allocation (MemoryError, torch's out-of-memory errors) into one IgcSearchError naming ``what``."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not is_allocation_error(exc):
            raise
        raise IgcSearchError(f"out of memory: {what} is too large for this machine ({_first_line(exc)})") from None


def load_weights(model: Any, weights: str | Path) -> None:
    """Load a state_dict file (``weights_only=True``; a train checkpoint's ``model`` entry works too)."""
    import pickle

    path = Path(weights)
    if path.is_dir():
        raise IgcSearchError(f"--weights {str(path)!r} is a directory, not a state_dict file")
    if not path.is_file():
        raise IgcSearchError(f"weights file {str(path)!r} does not exist")
    try:
        state = safe_load(path)
    except pickle.UnpicklingError as exc:
        raise IgcSearchError(
            f"cannot read weights {str(path)!r} as a state_dict (it holds pickled objects, which are not loaded "
            f"here): {_first_line(exc)}"
        ) from None
    except IgcSearchError as exc:
        raise IgcSearchError(f"cannot read weights {str(path)!r} as a state_dict: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise IgcSearchError(f"weights {str(path)!r} hold a {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise IgcSearchError(f"weights {str(path)!r} do not fit the model: {_first_line(exc)}") from None


def eager_from_script(sm: Any, name: str = "") -> Any:
    """Rebuild a TorchScript module made of torch.nn containers and layers as eager modules.

    A scripted model cannot have its layers swapped (its compiled code fixes every type), so
    each ``torch.nn`` layer is re-created from its attributes and state, and ``nn.Sequential``
    keeps its order. A module with its own compiled ``forward`` cannot be rebuilt.
    """
    from torch import nn

    qualified = sm._c._type().qualified_name()
    cls = getattr(nn, getattr(sm, "original_name", ""), None)
    where = f"module {name!r}" if name else "the model"
    if not qualified.startswith("__torch__.torch.nn.modules.") or not isinstance(cls, type):
        raise IgcSearchError(
            f"TorchScript: {where} ({qualified.removeprefix('__torch__.')}) runs its own compiled forward, which cannot "
            "be rebuilt with new layers; load the model from its source instead: package.module:factory --weights FILE"
        )
    children = list(sm.named_children())
    if cls is nn.Sequential:
        prefix = f"{name}." if name else ""
        return nn.Sequential(OrderedDict((n, eager_from_script(c, prefix + n)) for n, c in children))
    if children:
        raise IgcSearchError(f"TorchScript: {where} ({cls.__name__}) has submodules and cannot be rebuilt")
    kwargs: dict[str, Any] = {}
    for param in _settings(sm, cls, where):
        if param == "bias":
            kwargs["bias"] = getattr(sm, "bias", None) is not None
        elif hasattr(sm, param):
            value = getattr(sm, param)
            kwargs[param] = tuple(value) if isinstance(value, list) else value
    try:
        module = cls(**kwargs)
        module.load_state_dict(sm.state_dict())
    except Exception as exc:
        raise IgcSearchError(f"TorchScript: cannot rebuild {where} ({cls.__name__}): {_first_line(exc)}") from None
    module.train(sm.training)
    return module


TRACED = (
    "the file was made with torch.jit.trace, which keeps only the weights and a fixed graph, not the layers' "
    "settings; save the model with torch.jit.script(model) instead, or load it from its source: "
    "package.module:factory --weights FILE"
)


def _settings(sm: Any, cls: type, where: str) -> list[str]:
    """The constructor arguments of a torch.nn layer to read from a scripted module's attributes.

    A scripted layer keeps them (``in_channels``, ``stride``, ``eps``, …); a traced one keeps
    none, so rebuilding it would silently use defaults: it is refused with a clear message.
    """
    signature = inspect.signature(cls.__init__).parameters.values()
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    names = [p.name for p in list(signature)[1:] if p.kind not in variadic and p.name not in ("device", "dtype")]
    tensors = {n for n, _ in sm.named_parameters(recurse=False)} | {n for n, _ in sm.named_buffers(recurse=False)}
    settings = [n for n in names if n not in tensors]
    if settings and not any(hasattr(sm, n) for n in settings):
        lost = ", ".join(settings[:3]) + (", …" if len(settings) > 3 else "")
        raise IgcSearchError(f"TorchScript: {where} ({cls.__name__}) has lost its settings ({lost}): {TRACED}")
    return names


def output_path(out: str | Path, name: str) -> Path:
    """Where to write a file: ``out`` itself, or ``out/name`` when ``out`` ends with a slash.

    An existing directory given without the slash is refused (a file is expected there).
    """
    text = str(out)
    if text.endswith(("/", os.sep)):
        return Path(text) / name
    path = Path(text)
    if path.is_dir():
        raise IgcSearchError(
            f"--out {text!r} is a directory; give a file name, or {text.rstrip('/') + '/'!r} to write {name!r} into it"
        )
    return path


def save_model(model: Any, path: str | Path) -> Path:
    """``torch.save(model)`` atomically; the file loads with ``torch.load(path, weights_only=False)``."""
    import pickle

    import torch

    path = Path(path)
    if path.exists() and not path.is_file():
        raise IgcSearchError(f"cannot write {str(path)!r}: it exists and is not a regular file")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        torch.save(model, tmp)
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; give the file open()'s usual mode
        os.replace(tmp, path)
    except OSError as exc:
        raise IgcSearchError(f"cannot write {str(path)!r}: {exc.strerror or _first_line(exc)}") from None
    except RuntimeError as exc:  # torch's zip writer reports a full disk as a RuntimeError
        raise IgcSearchError(f"cannot write {str(path)!r}: {_full_disk(path.parent) or _first_line(exc)}") from None
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise IgcSearchError(f"cannot save the model to {str(path)!r}: {_first_line(exc)}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return path


def _full_disk(directory: Path) -> str:
    """'the disk is full (N bytes free)' when the directory's file system has (almost) no room left, else ''."""
    import shutil

    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return ""
    return f"the disk is full ({free:,} bytes free)" if free < (1 << 20) else ""


# ---------------------------------------------------------------- probing a model


@dataclass
class ConvSite:
    """One nn.Conv2d of a model and what the example forward showed about it."""

    name: str  # dotted module name
    conv: Any
    calls: int = 0
    in_hw: tuple[int, int] | None = None
    out_hw: tuple[int, int] | None = None
    shapes: set = field(default_factory=set)  # distinct input (H, W) seen


def example_input(model: Any, in_channels: int, input_size: int, batch: int = 1) -> Any:
    """A seeded N(0, 1) input on the model's device and dtype."""
    import torch

    first = next(model.parameters(), None)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, in_channels, input_size, input_size, generator=gen)
    return x.to(first.device, first.dtype) if first is not None else x


INPUT_HINT = "set --in-channels (C) and --input-size (H = W) to what it expects"
INPUT_RULE = (
    "Default: the in_channels of the model's first nn.Conv2d (the first one registered, in model.modules() order)"
)


def first_conv(model: Any) -> tuple[str, Any] | None:
    """The model's first nn.Conv2d: the first one registered (``model.named_modules()`` order), or None."""
    from torch import nn

    return next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def input_channels(model: Any, given: int | None) -> int:
    """The example input's channels: ``given`` (``--in-channels``), else the first conv's in_channels, else 3."""
    if given is not None:
        return given
    found = first_conv(model)
    return int(found[1].in_channels) if found is not None else 3


def channels_origin(model: Any, given: int | None) -> str:
    """Where the example input's C came from, for error messages."""
    if given is not None:
        return f"C = {given} from --in-channels"
    found = first_conv(model)
    if found is None:
        return "C = 3: the model has no nn.Conv2d to take it from"
    return f"C = {found[1].in_channels} from its first conv {found[0] or '(the model)'!r}"


def run_model(model: Any, x: Any, hint: str = INPUT_HINT, origin: str = "") -> Any:
    """Forward in eval mode without grad; a failure is the user's (wrong input size or channels).

    The error names the shape tried (N, C, H, W), where C came from (``origin``) and the options
    that fix it; torch's own text only with IGCSEARCH_DEBUG set.
    """
    import torch

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    except Exception as exc:
        if is_allocation_error(exc):
            raise  # too_large() names what was too large
        why = f" ({origin})" if origin else ""
        debug = f" [torch: {_first_line(exc)}]" if os.environ.get("IGCSEARCH_DEBUG") else ""
        raise IgcSearchError(
            f"the model does not run on an input of shape {tuple(x.shape)} (N, C, H, W){why}; {hint}{debug}"
        ) from None
    finally:
        model.train(was)


def probe_convs(model: Any, x: Any, origin: str = "") -> list[ConvSite]:
    """Every nn.Conv2d in module order, with the input/output sizes the forward gave it."""
    from torch import nn

    sites = [ConvSite(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    hooks = []
    for site in sites:

        def hook(mod: Any, inputs: Any, output: Any, site: ConvSite = site) -> None:
            site.calls += 1
            site.in_hw = tuple(inputs[0].shape[-2:])
            site.out_hw = tuple(output.shape[-2:])
            site.shapes.add(site.in_hw)

        hooks.append(site.conv.register_forward_hook(hook))
    try:
        run_model(model, x, origin=origin)
    finally:
        for h in hooks:
            h.remove()
    return sites


def set_module(model: Any, name: str, new: Any) -> None:
    """Replace the submodule at dotted ``name`` (works inside Sequential/ModuleList too)."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def shape_of(output: Any) -> Any:
    """Shapes of a model output (a tensor, or nested tuples/lists/dicts of tensors)."""
    if hasattr(output, "shape"):
        return tuple(output.shape)
    if isinstance(output, dict):
        return {k: shape_of(v) for k, v in output.items()}
    if isinstance(output, (tuple, list)):
        return tuple(shape_of(v) for v in output)
    return type(output).__name__


def check_example(in_channels: int, input_size: int) -> None:
    """The example input's size: integers in [1, MAX_INPUT_CHANNELS] and [1, MAX_INPUT_SIZE]; refused, never clamped."""
    for name, value, top in (
        ("--in-channels", in_channels, MAX_INPUT_CHANNELS),
        ("--input-size", input_size, MAX_INPUT_SIZE),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name.lstrip('-').replace('-', '_')} must be an int, got {type(value).__name__}")
        if not 1 <= value <= top:
            raise IgcSearchError(f"{name} must be an integer in [1, {top:,}], got {value}")
    if in_channels * input_size * input_size > MAX_INPUT_ELEMENTS:
        raise IgcSearchError(
            f"--in-channels {in_channels} x --input-size {input_size}² is {in_channels * input_size**2:,} values per "
            f"image, more than {MAX_INPUT_ELEMENTS:,} (4 GiB as float32): lower --input-size or --in-channels"
        )
