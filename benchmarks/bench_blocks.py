"""Fused vs naive IGC blocks (and a dense conv), NCHW and channels_last, as ratios from one run.

The IGC permutations cost no MACs but move every activation. This times, at C = 64, 32×32,
batch 8, one thread (the setting the ``impl="auto"`` rule in ``igcsearch.interleave`` was
derived from):

- IGC-V1 *stage* (P, secondary 1×1 group conv, Pᵀ: the part the fused variants replace) and
  the whole block, for every (L, M) with L·M = 64, L >= 2;
- IGC-V2 *stage* (one 1×1 group conv W_i with K_i channels per group and its shuffle P_i)
  for K_i = 2 … 32, and a few whole IGC-V2 blocks;
- a dense 3×3 conv-BN-ReLU block (the baseline the blocks replace);
- with the sweep (default), the IGC-V1 and IGC-V2 stages at C = 16, 32, 128, 256 (the
  rule's check at other widths).

Every candidate is timed with ``torch.utils.benchmark`` ``blocked_autorange`` in
``inference_mode``, in ``--rounds`` interleaved rounds (the order rotates every round, and
a row's variants are timed back to back). A ratio is the median over rounds of naive time /
variant time (> 1: the variant is faster); ms columns are medians over rounds. Every timed
IGC module is first counted with fvcore and checked against the analytic count, so what is
timed is what is counted. On a shared machine, prefer more rounds to longer ones.

    python benchmarks/bench_blocks.py [--rounds 9] [--min-time 0.05] [--threads 1] [--no-sweep]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.benchmark import Timer

import igcsearch
from igcsearch.counting import count_config
from igcsearch.interleave import MIX, auto_variant

C, SIZE, BATCH = 64, 32, 8
VARIANTS = ("naive", "bcast", "matmul", "einsum")
FORMATS = {"nchw": torch.contiguous_format, "cl": torch.channels_last}
IGC2_CHAINS = ((1, 8, 8), (1, 4, 16), (1, 16, 4), (1, 4, 4, 4), (1, 2, 4, 8), (4, 4, 4), (2, 4, 8))
SWEEP = ((16, 32, (2, 4, 8)), (32, 32, (2, 4, 8)), (128, 32, (2, 4, 8, 16)), (256, 16, (2, 4, 8, 16)))  # (C, size, Ls)


def candidates(sweep: bool) -> list[tuple[tuple[str, ...], Callable[[], Any]]]:
    """(label, callable) for everything timed; labels are (table, row, format, variant)."""
    out: list[tuple[tuple[str, ...], Callable[[], Any]]] = []
    for c, size, ls in SWEEP if sweep else ():  # the auto rule at other widths: IGC-V1 stage only
        for fmt, mf in FORMATS.items():
            x = torch.randn(BATCH, c, size, size).contiguous(memory_format=mf)
            for L in ls:
                for v in VARIANTS[:3]:
                    block = igcsearch.build(f"igc1-L{L}M{c // L}-c{c}k3", impl=v).eval().to(memory_format=mf)
                    out.append((("sweep1", f"C{c}L{L}M{c // L}", fmt, v), _call(block.interleave, x)))
                    block = igcsearch.build(f"igc2-K1x{L}x{c // L}-c{c}k3", impl=v).eval().to(memory_format=mf)
                    out.append((("sweep2", f"C{c}K{L}", fmt, v), _call(lambda t, b=block: b.stage(1, t), x)))
    for fmt, mf in FORMATS.items():
        x = torch.randn(BATCH, C, SIZE, SIZE).contiguous(memory_format=mf)
        conv = igcsearch.build(f"conv-c{C}k3").eval().to(memory_format=mf)
        out.append((("conv", "3x3", fmt, "conv"), _call(conv, x)))
        for L in (2, 4, 8, 16, 32, 64):
            M = C // L
            base = None
            for v in VARIANTS:
                block = igcsearch.build(f"igc1-L{L}M{M}-c{C}k3", impl=v).eval().to(memory_format=mf)
                if base is None:
                    base = block
                    with torch.inference_mode():
                        y = block.primary(x)
                block.load_state_dict(base.state_dict())
                out.append((("igc1-stage", f"L{L}M{M}", fmt, v), _call(block.interleave, y)))
                out.append((("igc1-block", f"L{L}M{M}", fmt, v), _call(block, x)))
        for k in (2, 4, 8, 16, 32):
            for v in VARIANTS:  # stage 1 of a (1, k, C/k) chain: W_2 with K = k, then P_2
                block = igcsearch.build(f"igc2-K1x{k}x{C // k}-c{C}k3", impl=v).eval().to(memory_format=mf)
                out.append((("igc2-stage", f"K{k}", fmt, v), _call(lambda t, b=block: b.stage(1, t), x)))
        for chain in IGC2_CHAINS:
            key = f"igc2-K{'x'.join(map(str, chain))}-c{C}k3"
            for v in (*VARIANTS, "auto"):
                block = igcsearch.build(key, impl=v).eval().to(memory_format=mf)
                out.append((("igc2-block", "x".join(map(str, chain)), fmt, v), _call(block, x)))
    return out


def _call(fn: Callable[[Any], Any], x: Any) -> Callable[[], Any]:
    return lambda: fn(x)


def measure(cands: list, rounds: int, min_time: float, threads: int) -> dict[tuple[str, ...], list[float]]:
    """Per-round blocked_autorange medians (seconds); rounds interleave all candidates."""
    samples: dict[tuple[str, ...], list[float]] = {label: [] for label, _ in cands}
    with torch.inference_mode():
        for _, fn in cands:  # warm-up
            fn()
        for r in range(rounds):
            shift = (r * len(cands)) // rounds  # rotate the order from round to round
            for label, fn in cands[shift:] + cands[:shift]:
                timer = Timer("fn()", globals={"fn": fn}, num_threads=threads)
                samples[label].append(timer.blocked_autorange(min_run_time=min_time).median)
    return samples


def ratio(t: dict, base: tuple[str, ...], other: tuple[str, ...]) -> float:
    """Median over rounds of base/other: each round's pair was timed back to back, so the
    ratio cancels slow drifts in machine load better than a ratio of medians."""
    if other not in t:
        return float("nan")
    return statistics.median(b / o for b, o in zip(t[base], t[other], strict=True))


def check_counts(sweep: bool) -> int:
    """Count every timed IGC module with fvcore; return how many matched the analytic counts."""
    keys = [(f"igc1-L{L}M{C // L}-c{C}k3", SIZE) for L in (2, 4, 8, 16, 32, 64)]
    keys += [(f"igc2-K1x{k}x{C // k}-c{C}k3", SIZE) for k in (2, 4, 8, 16, 32)]
    keys += [(f"igc2-K{'x'.join(map(str, c))}-c{C}k3", SIZE) for c in IGC2_CHAINS]
    for c, size, ls in SWEEP if sweep else ():
        keys += [(f"igc1-L{L}M{c // L}-c{c}k3", size) for L in ls] + [
            (f"igc2-K1x{L}x{c // L}-c{c}k3", size) for L in ls
        ]
    ok = total = 0
    for key, size in dict.fromkeys(keys):
        for v in (*VARIANTS, "auto"):
            total += 1
            ok += count_config(igcsearch.parse_key(key), size, impl=v)["count_ok"]
    if ok != total:
        raise SystemExit(f"count mismatch: {total - ok} of {total} modules")
    return total


def table(t: dict, name: str, rows: list[str], title: str, auto: Callable[[str, str], str] | None) -> None:
    """One table: per row and format, naive ms (median) and every variant's speed-up over naive."""
    print(f"\n{title}")
    head = f"{'':11s}" + "".join(f"| {fmt:5s} naive ms  bcast× matmul× einsum×  best    auto      " for fmt in FORMATS)
    print(head)
    for row in rows:
        line = f"{row:11s}"
        for fmt in FORMATS:
            base = (name, row, fmt, "naive")
            ratios = {v: ratio(t, base, (name, row, fmt, v)) for v in VARIANTS}
            best = max((v for v in ratios if ratios[v] == ratios[v]), key=ratios.__getitem__)
            pick = auto(row, fmt) if auto else "auto"
            got = ratios[pick] if pick in ratios else ratio(t, base, (name, row, fmt, pick))
            line += f"| {'':5s} {statistics.median(t[base]) * 1e3:8.3f} "
            line += "".join(f"{ratios[v]:7.2f} " for v in VARIANTS[1:]) + f" {best:7s} {pick:6s}{got:5.2f} "
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-sweep", action="store_true", help="skip the rule check at other widths")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    checked = check_counts(not args.no_sweep)
    cands = candidates(not args.no_sweep)
    t = measure(cands, args.rounds, args.min_time, args.threads)
    print(
        f"bench_blocks: C={C}, {SIZE}x{SIZE}, batch {BATCH}, {args.threads} thread(s), torch {torch.__version__}, "
        f"{args.rounds} interleaved rounds of blocked_autorange(min_run_time={args.min_time}), medians over rounds"
    )
    print(f"fvcore counts == analytic counts for all {checked} timed IGC modules (every impl)")
    print("ratios: naive time / variant time (> 1 = faster than naive); 'auto' = what impl='auto' runs")

    def lm(row: str) -> tuple[int, int]:
        L, M = row[1:].split("M")
        return int(L), int(M)

    igc1_rows = [f"L{L}M{C // L}" for L in (2, 4, 8, 16, 32, 64)]
    table(t, "igc1-stage", igc1_rows, "IGC-V1 stage (P, secondary 1x1 group conv, P^T)",
          lambda r, f: auto_variant(*lm(r), f == "cl"))  # fmt: skip
    table(t, "igc1-block", igc1_rows, "IGC-V1 whole block (primary 3x3 conv + stage + BN + ReLU)",
          lambda r, f: auto_variant(*lm(r), f == "cl"))  # fmt: skip
    k_rows = [f"K{k}" for k in (2, 4, 8, 16, 32)]
    table(t, "igc2-stage", k_rows, "IGC-V2 stage (1x1 group conv W_i, K_i per group, and its shuffle P_i)",
          lambda r, f: auto_variant(int(r[1:]), C // int(r[1:]), f == "cl", "igc2"))  # fmt: skip
    if not args.no_sweep:
        rows = [f"C{c}L{L}M{c // L}" for c, _, ls in SWEEP for L in ls]
        table(t, "sweep1", rows, "IGC-V1 stage at other widths (batch 8; 16x16 at C=256, else 32x32; no einsum)",
              lambda r, f: auto_variant(int(r.split("L")[1].split("M")[0]), int(r.split("M")[1]), f == "cl"))  # fmt: skip
        rows = [f"C{c}K{L}" for c, _, ls in SWEEP for L in ls]
        table(t, "sweep2", rows, "IGC-V2 stage (W_i + P_i) at other widths (as above)",
              lambda r, f: auto_variant(int(r.split("K")[1]), int(r[1:].split("K")[0]) // int(r.split("K")[1]),
                                        f == "cl", "igc2"))  # fmt: skip
    chains = ["x".join(map(str, c)) for c in IGC2_CHAINS]
    table(t, "igc2-block", chains, "IGC-V2 whole block (auto = per-stage rule)", None)
    print("\ndense 3x3 conv-BN-ReLU block vs IGC-V1 blocks (conv time / block time)")
    for fmt in FORMATS:
        conv = ("conv", "3x3", fmt, "conv")
        parts = []
        for row in igc1_rows:
            pick = auto_variant(*lm(row), fmt == "cl")
            naive = ratio(t, conv, ("igc1-block", row, fmt, "naive"))
            parts.append(f"{row} naive {naive:.2f} auto {ratio(t, conv, ('igc1-block', row, fmt, pick)):.2f}")
        print(f"{fmt:5s} conv {statistics.median(t[conv]) * 1e3:.3f} ms; " + "; ".join(parts))
    assert set(MIX) == set(VARIANTS[1:])


if __name__ == "__main__":
    main()
