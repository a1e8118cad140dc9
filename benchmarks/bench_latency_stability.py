"""Is a latency ranking repeatable? igcsearch's protocol vs a naive mean-of-30 loop.

Runs the latency measurement of the default preset's candidates (all of them, or an evenly
spaced subset with --limit) in two separate processes and reports Kendall's tau between the
two rankings, for igcsearch's protocol exactly as `igcsearch search` runs it by default
(``igcsearch.measure.latency`` with search's defaults: warm-up, inference_mode, explicit
threads, 10 interleaved rounds of ``Timer.timeit(number)`` with ``number`` calibrated to 5 ms,
median of the round means) and for a naive loop (time.perf_counter around 30 calls per
candidate, one candidate after another, mean). With every candidate it also reports tau over
an evenly spaced 12-candidate subset of the same measurements (candidates far apart in
latency rank more stably than near ties). Optionally with another process keeping one core busy.

    python benchmarks/bench_latency_stability.py [--limit N] [--busy] [--threads 1] [--rounds R] [--min-time S]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import subprocess
import sys
import time

import numpy as np

from igcsearch.measure import MeasureOptions


def candidates(limit: int) -> list[str]:
    """The default preset's candidates, or an evenly spaced subset of ``limit`` (deterministic)."""
    import igcsearch

    keys = sorted(igcsearch.enumerate(preset="default")["key"])
    return [keys[i] for i in spaced(len(keys), limit)] if limit else keys


def spaced(n: int, limit: int) -> list[int]:
    """``limit`` evenly spaced indices of range(n)."""
    return sorted(set(np.linspace(0, n - 1, min(limit, n)).round().astype(int).tolist()))


def worker(method: str, keys: list[str], threads: int, rounds: int | None, min_time: float | None) -> list[float]:
    """One process: time every candidate with the given method; return ms per key."""
    import torch

    import igcsearch
    from igcsearch.measure import MeasureOptions, latency, latency_stats, prepare

    given = {"rounds": rounds, "min_time": min_time}
    opts = MeasureOptions(threads=threads, **{k: v for k, v in given.items() if v is not None})  # else search's
    prepared = [prepare(igcsearch.build(k), igcsearch.parse_key(k).in_channels, 32, opts) for k in keys]
    if method == "igcsearch":
        return [latency_stats(row)["latency_ms"] for row in latency(prepared, opts)]
    torch.set_num_threads(threads)
    out = []
    for module, x in prepared:  # the naive loop: no warm-up, no interleaving, mean of 30
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(30):
                module(x)
        out.append((time.perf_counter() - start) / 30 * 1e3)
    return out


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's tau-b between two score lists."""
    a_, b_ = np.asarray(a), np.asarray(b)
    i, j = np.triu_indices(len(a_), k=1)
    da, db = np.sign(a_[i] - a_[j]), np.sign(b_[i] - b_[j])
    n0 = len(i)
    ta, tb = (da == 0).sum(), (db == 0).sum()
    return float((da * db).sum() / np.sqrt((n0 - ta) * (n0 - tb)))


def busy() -> None:
    """Keep one core busy."""
    x = 0
    while True:
        x = (x * 7 + 1) % 1_000_003


def run_process(method: str, keys: list[str], threads: int, rounds: int | None, min_time: float | None) -> list[float]:
    code = (
        "import json,sys; sys.path.insert(0, 'benchmarks'); import bench_latency_stability as b; "
        f"print(json.dumps(b.worker({method!r}, {keys!r}, {threads}, {rounds}, {min_time})))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="an evenly spaced subset (default: every candidate)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default: search's)")
    parser.add_argument("--min-time", type=float, default=None, help="seconds per measurement (default: search's)")
    parser.add_argument("--busy", action="store_true", help="keep one core busy in another process")
    args = parser.parse_args()
    keys = candidates(args.limit)
    hog = None
    if args.busy:
        hog = mp.Process(target=busy, daemon=True)
        hog.start()
    try:
        print(f"{len(keys)} candidates of the default preset, {args.threads} thread(s), busy core: {args.busy}")
        for method in ("igcsearch", "naive"):
            first = run_process(method, keys, args.threads, args.rounds, args.min_time)
            second = run_process(method, keys, args.threads, args.rounds, args.min_time)
            label = (
                f"igcsearch ({args.rounds or MeasureOptions().rounds} interleaved rounds)"
                if method == "igcsearch"
                else "naive mean-of-30 loop"
            )
            line = f"  {label:38s} Kendall tau between two processes: {kendall_tau(first, second):.2f}"
            if len(keys) > 12:
                sub = spaced(len(keys), 12)
                line += f" (12 spaced candidates: {kendall_tau([first[i] for i in sub], [second[i] for i in sub]):.2f})"
            print(line)
    finally:
        if hog is not None:
            hog.terminate()


if __name__ == "__main__":
    main()
