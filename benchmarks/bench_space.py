"""igcsearch's analytic enumeration vs the naive way, on the same space, in one run.

The naive way is what a user does without igcsearch: loop in Python over the candidate
settings, build each block in torch and count it with fvcore. igcsearch lists the same
rows analytically (vectorised numpy). Both must give the same (key, params, macs) set;
the script checks that, then prints both times and the ratio. A second measurement times the
whole `igcsearch space ... --format csv` process on a large space (rows per second).

    python benchmarks/bench_space.py                      # -c 16:64:16, every family
    python benchmarks/bench_space.py --channels 32,64 --big "16:4096:16"
    python benchmarks/bench_space.py --baseline /tmp/old-checkout --repeat 3   # old vs new, interleaved

--baseline DIR runs the same whole-process command with PYTHONPATH=DIR (another checkout, e.g. a
`git worktree add --detach` of the previous commit) in turn with this one (old, new, old, new, ...),
checks that both print the same bytes, and reports each one's median rows/s and the pairwise ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

import igcsearch
from igcsearch.builder import build
from igcsearch.counting import count


def naive(df) -> tuple[float, set]:
    """Build + fvcore-count every candidate, one by one (what a user would do)."""
    torch.set_num_threads(1)
    seen = set()
    start = time.perf_counter()
    for key, size in zip(df["key"], df["input_size"], strict=True):
        cfg = igcsearch.parse_key(key)
        module = build(cfg)
        params, macs = count(module, cfg.in_channels, int(size))
        seen.add((key, params, macs))
    return time.perf_counter() - start, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="16:64:16")
    parser.add_argument("--big", default="16:4096:16", help="channels of the large whole-process run")
    parser.add_argument("--baseline", help="another checkout to time the same command with (PYTHONPATH)")
    parser.add_argument("--repeat", type=int, default=1, help="whole-process runs of each (median quoted)")
    args = parser.parse_args()

    start = time.perf_counter()
    df = igcsearch.enumerate(channels=args.channels)
    t_ours = time.perf_counter() - start
    t_naive, naive_rows = naive(df)
    ours = {(k, int(p), int(m)) for k, p, m in zip(df["key"], df["params"], df["macs"], strict=True)}
    agree = ours == naive_rows
    print(f"space -c {args.channels} (every family): {len(df)} rows")
    print(f"  igcsearch analytic enumeration : {t_ours * 1e3:10.1f} ms  ({len(df) / t_ours:,.0f} rows/s)")
    print(f"  naive build + fvcore per row   : {t_naive * 1e3:10.1f} ms  ({len(df) / t_naive:,.1f} rows/s)")
    print(f"  ratio naive / igcsearch        : {t_naive / t_ours:10.0f}x   counts agree: {agree}")

    cmd = [sys.executable, "-m", "igcsearch", "space", "-c", args.big, "--family", "igc1,igc2,igc3,dwsep,group",
           "--balance-tol", "inf", "--format", "csv"]  # fmt: skip
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def whole(path: str) -> tuple[float, bytes]:
        env = {**os.environ, "PYTHONPATH": path}
        start = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=path).stdout  # -m: cwd first
        return time.perf_counter() - start, out

    times: dict[str, list[float]] = {"new": [], "old": []}
    outputs: dict[str, bytes] = {}
    for _ in range(max(1, args.repeat)):
        for name, path in [("old", args.baseline), ("new", here)] if args.baseline else [("new", here)]:
            t, outputs[name] = whole(path)
            times[name].append(t)
    rows = outputs["new"].count(b"\n") - 1
    t_big = statistics.median(times["new"])
    print(
        f"whole process: igcsearch space -c {args.big} --family igc1,igc2,igc3,dwsep,group --balance-tol inf --format csv"
    )
    print(
        f"  {rows:,} rows in {t_big:.2f} s  ({rows / t_big:,.0f} rows/s, startup and CSV included; median of {len(times['new'])})"
    )
    if args.baseline:
        t_old = statistics.median(times["old"])
        ratios = [o / n for o, n in zip(times["old"], times["new"], strict=True)]
        same = outputs["old"] == outputs["new"]
        print(
            f"  baseline {args.baseline}: {t_old:.2f} s ({rows / t_old:,.0f} rows/s); old/new per pair: "
            f"{', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f}x); same bytes: {same}"
        )
        agree = agree and same
    print(f"  naive at its rate above would take about {rows / (len(df) / t_naive) / 3600:,.1f} hours")
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
