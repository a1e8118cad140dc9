"""Trade-off plots of measured rows (matplotlib, the optional ``plot`` extra).

One figure with two panels: MACs vs latency and params vs MACs, points coloured by family,
the Pareto front (over params, MACs, latency) drawn as a line, the top rows labelled.
Written as PNG and SVG, atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IgcSearchError

COLORS = {"conv": "black", "group": "tab:gray", "dwsep": "tab:brown", "igc1": "tab:blue", "igc2": "tab:orange",
          "igc3": "tab:green", "lego": "tab:red"}  # fmt: skip


def front_2d(x: np.ndarray, y: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both x and y (lower is better), by x."""
    idx = np.flatnonzero(ok & np.isfinite(x) & np.isfinite(y))
    idx = idx[np.lexsort((y[idx], x[idx]))]
    front, best = [], np.inf
    for i in idx:
        if y[i] < best:
            front.append(i)
            best = y[i]
    return np.asarray(front, dtype=np.int64)


def plot_results(rows: dict[str, Any], out: Path, title: str, label_top: int = 5) -> list[Path]:
    """Write ``out/tradeoff.png`` and ``out/tradeoff.svg``; return their paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise IgcSearchError("--plot needs matplotlib: pip install 'igcsearch[plot]'") from None
    fam = rows["family"].astype(str)
    ok = rows["error"] == "" if "error" in rows else np.ones(fam.size, dtype=bool)
    lat = rows.get("latency_ms", np.full(fam.size, np.nan))
    has_latency = np.isfinite(lat[ok]).any()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), dpi=110)
    panels = [("macs", "latency_ms", "MACs", "latency (ms, median of rounds)")] if has_latency else []
    panels.append(("params", "macs", "params", "MACs"))
    if len(panels) == 1:
        axes[0].set_visible(False)
        axes = axes[1:]
    pareto = rows.get("pareto", np.zeros(fam.size)) == 1
    for ax, (xk, yk, xl, yl) in zip(axes, panels, strict=False):
        x, y = rows[xk].astype(float), rows[yk].astype(float)
        for name in sorted(set(fam[ok])):
            sel = ok & (fam == name)
            ax.scatter(x[sel], y[sel], s=14, alpha=0.7, color=COLORS.get(name), label=name)
        front = front_2d(x, y, ok)
        if front.size:
            ax.step(
                x[front],
                y[front],
                where="post",
                color="crimson",
                lw=1.2,
                label=f"Pareto front ({xl} vs {yl.split(' ')[0]})",
            )
        ring = np.flatnonzero(ok & pareto)
        ax.scatter(x[ring], y[ring], s=70, facecolors="none", edgecolors="crimson", lw=1.0,
                   label="Pareto front over params, MACs, latency")  # fmt: skip
        for i in np.flatnonzero(ok)[:label_top]:
            if np.isfinite(x[i]) and np.isfinite(y[i]):
                ax.annotate(str(rows["key"][i]), (x[i], y[i]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(True, which="both", alpha=0.25)
    for ax in axes:
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "svg"):
        path = out / f"tradeoff.{suffix}"
        tmp = out / f".tradeoff.{os.getpid()}.{suffix}"
        fig.savefig(tmp, format=suffix)
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths
