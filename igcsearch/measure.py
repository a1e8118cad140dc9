"""Measure built candidates honestly: exact counts (fvcore), latency, peak memory.

Latency protocol (docs/measurement.md): every module in eval() under ``torch.inference_mode``, an
explicit thread count, warm-up calls, then ``rounds`` interleaved rounds — in each round
every candidate is timed once with ``torch.utils.benchmark.Timer.timeit(number)`` (which
synchronises CUDA), ``number`` calibrated once per candidate after warm-up so that one
measurement lasts about ``min_time``; the order rotates from round to round so that slow
phases of a noisy machine spread over all candidates. A candidate's latency is the median of
its round means, with the IQR and the minimum of them. Never two candidates at once.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

MEMORY_FORMATS = ("nchw", "channels_last")
MAX_MIN_TIME = 60.0  # seconds per candidate per round
MAX_ROUNDS = 1000
MAX_BATCH = 4096
MAX_WARMUP = 10_000
IMPL_CHOICES = ("auto", "fused", "naive")  # --impl: how IGC blocks run (auto: the fastest variant measured)


def check_impl(value: Any, what: str = "--impl") -> str:
    """The one check of an IGC implementation choice; ``what`` names it in the message."""
    if value not in IMPL_CHOICES:
        raise _spec_error(f"{what} must be {', '.join(IMPL_CHOICES[:-1])} or {IMPL_CHOICES[-1]}, got {value!r}")
    return value


def _spec_error(message: str) -> Exception:
    from .errors import SpecError

    return SpecError(message)


@dataclass(frozen=True)
class MeasureOptions:
    """How candidates are measured (the `search` measurement options)."""

    device: str = "cpu"  # cpu | cuda
    threads: int = 1  # torch intra-op threads while timing
    batch: int = 1  # single-sample inference latency: the default question (633 blocks) in < 2 min
    # 10 rounds of 5 ms: on a noisy 2-core machine the ranking of the default question's 633
    # candidates repeats across processes with Kendall tau 0.90-0.91 (5 rounds of 10 ms, the same
    # time: 0.86-0.88); see benchmarks/bench_latency_stability.py
    rounds: int = 10  # interleaved rounds (>= 1); the median of the round means is reported
    min_time: float = 0.005  # seconds of calls per candidate per round (number calibrated once)
    warmup: int = 2  # calls per candidate before timing
    channels_last: bool = False
    latency: bool = True  # False: counts only
    dtype: str = "float32"
    impl: str = "auto"  # IGC block implementation: auto, fused or naive (see IMPL_CHOICES)

    @property
    def memory_format(self) -> str:
        """nchw or channels_last."""
        return "channels_last" if self.channels_last else "nchw"


def environment(opts: MeasureOptions, input_size: int) -> dict[str, Any]:
    """The fingerprint stored with every measured row: device, versions, threads, format."""
    import torch

    if opts.device == "cuda":
        device = torch.cuda.get_device_name(0)
    else:
        device = _cpu_name()
    return {
        "device": f"{opts.device}: {device}",
        "torch_version": torch.__version__,
        "threads": opts.threads,
        "dtype": opts.dtype,
        "memory_format": opts.memory_format,
        "batch": opts.batch,
        "measured_input_size": input_size,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count() or 0,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def check_device(opts: MeasureOptions) -> None:
    """Fail early (one clear line) when the requested device cannot be used."""
    import torch

    from .errors import SpecError

    check_impl(opts.impl)
    if opts.device not in ("cpu", "cuda"):
        raise SpecError(f"--device must be cpu or cuda, got {opts.device!r}")
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise SpecError("--device cuda: no CUDA device is available to this torch build")
    for name in ("threads", "batch", "rounds", "warmup"):
        value = getattr(opts, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"measurement option {name} must be an int, got {type(value).__name__} {value!r}")
    if isinstance(opts.min_time, bool) or not isinstance(opts.min_time, (int, float, np.number)):
        raise TypeError(f"measurement option min_time must be a number, got {type(opts.min_time).__name__}")
    for option, value, low, top in (
        ("--threads", opts.threads, 1, None),
        ("--batch", opts.batch, 1, MAX_BATCH),
        ("--rounds", opts.rounds, 1, MAX_ROUNDS),
        ("--warmup", opts.warmup, 0, MAX_WARMUP),
    ):
        if value < low or (top is not None and value > top):
            bound = f">= {low}" + (f" and <= {top:,}" if top is not None else "")
            raise SpecError(f"{option} must be {bound}, got {value}")
    if not (math.isfinite(opts.min_time) and 0 < opts.min_time <= MAX_MIN_TIME):
        raise SpecError(
            f"--min-time must be a finite number of seconds > 0 and <= {MAX_MIN_TIME:g}, got {opts.min_time}"
        )


def build_key(key: str, impl: str = "auto") -> tuple[Any, int]:
    """(module, input channels) for a row key: a block config key or a network key (``net-…``)."""
    from .config import NETWORK_PREFIX, parse_key

    if key.startswith(NETWORK_PREFIX):
        from .networks import build_network_key

        return build_network_key(key, impl=impl), 3
    from .registry import create_block

    cfg = parse_key(key)
    return create_block(cfg, impl=impl), cfg.in_channels


def measure_counts(
    key: str, input_size: int, opts: MeasureOptions, with_counts: bool
) -> tuple[tuple[Any, Any], tuple[int, int] | None]:
    """Build a candidate as it will be timed (device, dtype, memory format) and count THAT module.

    Returns ((module, input batch), (params, MACs) or None when ``with_counts`` is False).
    Counting happens on the prepared module with an input in the timed memory format, so the
    fused variant an IGC block picks for that format is the one fvcore sees.
    """
    from .counting import count

    module, in_channels = build_key(key, opts.impl)
    prepared = prepare(module, in_channels, input_size, opts)
    counted = count(prepared[0], in_channels, input_size, channels_last=opts.channels_last) if with_counts else None
    return prepared, counted


def prepare(module: Any, in_channels: int, input_size: int, opts: MeasureOptions) -> tuple[Any, Any]:
    """(module in eval on the device and memory format, one input batch)."""
    import torch

    dtype = getattr(torch, opts.dtype)
    fmt = torch.channels_last if opts.channels_last else torch.contiguous_format
    module = module.eval().to(device=opts.device, dtype=dtype, memory_format=fmt)
    x = torch.randn(opts.batch, in_channels, input_size, input_size, device=opts.device, dtype=dtype)
    return module, x.contiguous(memory_format=fmt)


def latency(
    prepared: Sequence[tuple[Any, Any] | None],
    opts: MeasureOptions,
    progress: Callable[[int], None] | None = None,
    samples: np.ndarray | None = None,
    on_sample: Callable[[int, int, float], None] | None = None,
    on_error: Callable[[int, str], None] | None = None,
) -> np.ndarray:
    """Interleaved-round latency samples (ms), shape (candidates, rounds).

    ``samples`` holds rounds already measured (NaN where missing, e.g. from a resumed run);
    only the missing ones are taken, each reported to ``on_sample(i, round, ms)`` at once.
    Entries of ``prepared`` that are None (failed candidates) are skipped. A candidate that
    raises while it is warmed up or timed (e.g. out of memory at a large batch) is reported
    to ``on_error(i, message)`` and dropped; the others go on. Ctrl-C is never swallowed.
    """
    import torch
    from torch.utils.benchmark import Timer

    n = len(prepared)
    samples = np.full((n, opts.rounds), np.nan) if samples is None else samples.copy()
    todo = [i for i in range(n) if prepared[i] is not None and np.isnan(samples[i]).any()]
    number: dict[int, int] = {}
    failed: set[int] = set()

    def fail(i: int, exc: Exception) -> None:
        reraise_interrupt(exc)
        failed.add(i)
        if on_error:
            on_error(i, error_text(exc))
        if progress:
            progress(int(np.isnan(samples[i]).sum()))  # its rounds will not come

    def timer(i: int) -> Any:
        module, x = prepared[i]  # type: ignore[misc]
        return Timer(stmt="module(x)", globals={"module": module, "x": x}, num_threads=opts.threads)

    with threads(opts.threads), torch.inference_mode():
        for i in todo:  # warm up, then size each measurement to about min_time (calibrated once)
            try:
                module, x = prepared[i]  # type: ignore[misc]
                for _ in range(opts.warmup):
                    module(x)
                once = timer(i).timeit(1).mean
                number[i] = max(1, int(opts.min_time / max(once, 1e-7)))
            except Exception as exc:
                fail(i, exc)
        for r in range(opts.rounds):
            need = [i for i in todo if i not in failed and np.isnan(samples[i, r])]
            shift = (r * len(need)) // opts.rounds  # rotate the order from round to round
            for j in range(len(need)):
                i = need[(j + shift) % len(need)]
                try:
                    samples[i, r] = timer(i).timeit(number[i]).mean * 1e3
                except Exception as exc:
                    fail(i, exc)
                    continue
                if on_sample:
                    on_sample(i, r, float(samples[i, r]))
                if progress:
                    progress(1)
    for i in failed:
        samples[i] = np.nan
    return samples


def error_text(exc: BaseException) -> str:
    """One line naming a candidate's failure: ``Type: first line of the message``."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def reraise_interrupt(exc: BaseException) -> None:
    """A Ctrl-C that torch (e.g. its JIT tracer) wrapped in another exception stops the search."""
    if isinstance(exc.__context__, KeyboardInterrupt) or "KeyboardInterrupt" in str(exc):
        raise KeyboardInterrupt from exc


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run with exactly ``n`` torch intra-op threads (restored after)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def latency_stats(ms: np.ndarray) -> dict[str, float]:
    """Median, interquartile range and minimum of the round means (ms)."""
    ms = ms[np.isfinite(ms)]
    if ms.size == 0:
        return {"latency_ms": float("nan"), "latency_iqr_ms": float("nan"), "latency_min_ms": float("nan")}
    q1, q3 = np.percentile(ms, [25, 75])
    return {"latency_ms": float(np.median(ms)), "latency_iqr_ms": float(q3 - q1), "latency_min_ms": float(ms.min())}


def peak_memory(module: Any, x: Any, opts: MeasureOptions, acts_per_sample: int) -> tuple[int, str]:
    """(bytes, how): measured with max_memory_allocated on CUDA; estimated on CPU.

    The CPU estimate is parameters + input + every conv output of the batch, in the dtype's
    bytes: an upper bound on what inference holds when no buffer is freed early.
    """
    import torch

    if opts.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        with torch.inference_mode():
            module(x)
        torch.cuda.synchronize()
        return int(
            torch.cuda.max_memory_allocated() - base + _param_bytes(module) + x.numel() * x.element_size()
        ), "measured"
    size = x.element_size()
    return int(_param_bytes(module) + x.numel() * size + acts_per_sample * opts.batch * size), "estimated"


def _param_bytes(module: Any) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())
