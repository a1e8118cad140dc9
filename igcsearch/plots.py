"""Trade-off plots of measured rows (matplotlib, the optional ``plot`` extra).

Two panels, MACs vs latency and params vs MACs (one panel, params vs MACs, when nothing was
timed), points coloured by family. Each panel's own 2-D Pareto front is a black dashed step
line (black is no family's colour); with latency, the rows on the Pareto front over (params,
MACs, latency) are ringed in black. The top rows are labelled where a label does not collide
with another one, and log axes carry only major tick labels (1, 2, 5 × 10^k as needed), so
tick labels never run into each other. One legend below the panels. Written as PNG and SVG,
atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IgcSearchError

COLORS = {"conv": "tab:purple", "group": "tab:gray", "dwsep": "tab:brown", "igc1": "tab:blue", "igc2": "tab:orange",
          "igc3": "tab:green", "lego": "tab:red"}  # fmt: skip
FRONT = {"color": "black", "ls": "--", "lw": 1.2}  # the Pareto front: a colour no family uses
ALT_TEXT = "MACs vs latency and params vs MACs by family; Pareto fronts as black dashed lines, 3-D front ringed"
ALT_TEXT_COUNTS = "params vs MACs by family (no latency measured); Pareto front as a black dashed line"
LABEL_OFFSETS = (
    (5, 4, "left", "bottom"), (7, 0, "left", "center"), (5, -4, "left", "top"),
    (-5, 4, "right", "bottom"), (-7, 0, "right", "center"), (-5, -4, "right", "top"),
)  # fmt: skip
TICK_SUBS = ((1.0,), (1.0, 2.0, 5.0))
WIDE, NARROW, HEIGHT, DPI = 13.0, 6.5, 5.6, 110


def require_matplotlib() -> None:
    """Raise a one-line IgcSearchError when matplotlib is missing (checked before measuring)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise IgcSearchError("--plot needs matplotlib: pip install 'igcsearch[plot]'") from None


def has_latency(rows: dict[str, Any]) -> bool:
    """Whether any row without an error has a latency (else the figure is params vs MACs only)."""
    if not rows:
        return False
    lat = np.asarray(rows.get("latency_ms", np.full(rows["key"].size, np.nan)), dtype=float)
    return bool(np.isfinite(lat[_ok(rows)]).any())


def alt_text(rows: dict[str, Any]) -> str:
    """The alt text of the figure ``plot_results`` draws for these rows."""
    return ALT_TEXT if has_latency(rows) else ALT_TEXT_COUNTS


def _ok(rows: dict[str, Any]) -> np.ndarray:
    return rows["error"] == "" if "error" in rows else np.ones(rows["key"].size, dtype=bool)


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
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays text (searchable, smaller)
        fig = draw(rows, title, label_top)
        paths = _save(fig, out)
    plt.close(fig)
    return paths


def draw(rows: dict[str, Any], title: str, label_top: int = 5) -> Any:
    """The matplotlib Figure of the rows (see the module docstring); the caller closes it."""
    import matplotlib.pyplot as plt

    latency = has_latency(rows)
    panels = [("macs", "latency_ms", "MACs", "latency (ms, median of rounds)")] if latency else []
    panels.append(("params", "macs", "params", "MACs"))
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDE if latency else NARROW, HEIGHT), dpi=DPI, squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        _panel(ax, rows, panel, ring=latency)
    legend_rows = _legend(fig, axes[0][0], latency)
    fig.suptitle(title, fontsize=10, wrap=True)
    fig.tight_layout(rect=(0, 0.02 + 0.04 * legend_rows, 1, 1))
    renderer = fig.canvas.get_renderer()
    for ax, (xk, yk, _, _) in zip(axes[0], panels, strict=True):
        _label(ax, rows, xk, yk, label_top, renderer)
    return fig


def _panel(ax: Any, rows: dict[str, Any], panel: tuple[str, str, str, str], ring: bool) -> None:
    """Points by family, the panel's 2-D front, the ringed 3-D front, log axes."""
    xk, yk, xl, yl = panel
    fam, ok = rows["family"].astype(str), _ok(rows)
    x, y = rows[xk].astype(float), rows[yk].astype(float)
    for name in [f for f in COLORS if f in set(fam[ok])] + sorted(set(fam[ok]) - set(COLORS)):
        sel = ok & (fam == name)
        ax.scatter(x[sel], y[sel], s=14, alpha=0.7, color=COLORS.get(name), label=name, zorder=2)
    front = front_2d(x, y, ok)
    if front.size:
        ax.step(x[front], y[front], where="post", zorder=3, label="Pareto front of each panel (2-D)", **FRONT)
    if ring:
        on = np.flatnonzero(ok & (np.asarray(rows.get("pareto", np.zeros(fam.size))) == 1))
        ax.scatter(x[on], y[on], s=70, facecolors="none", edgecolors="black", lw=1.0, zorder=4,
                   label="Pareto front over params, MACs, latency (ringed)")  # fmt: skip
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    _log_axis(ax, "x", x[ok & np.isfinite(x)], xk)
    _log_axis(ax, "y", y[ok & np.isfinite(y)], yk)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)


def _log_axis(ax: Any, which: str, values: np.ndarray, key: str) -> None:
    """A log axis with labels at 1, 2, 5 × 10^k (round linear steps when the range is narrow), none on minor ticks."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    values = values[values > 0]
    if values.size == 0:
        return
    lo, hi = float(values.min()) / 1.15, float(values.max()) * 1.15
    (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
    ticks = _ticks(lo, hi)
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _short(v, key)))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10)), numticks=100))
    axis.set_minor_formatter(NullFormatter())


def _ticks(lo: float, hi: float) -> list[float]:
    """Ticks in [lo, hi]: 10^k, else 1, 2, 5 × 10^k, if that gives 3; else evenly spaced round numbers.

    A narrow range (under a factor of about 5) is close to linear on a log axis, so round
    linear steps are evenly spread there and their labels cannot collide.
    """
    from matplotlib.ticker import MaxNLocator

    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    for subs in TICK_SUBS:
        ticks = [s * 10.0**d for d in decades for s in subs if lo <= s * 10.0**d <= hi]
        if len(ticks) >= 3:
            return ticks
    return [float(t) for t in MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]


def _short(value: float, key: str) -> str:
    """Tick text: 300K, 1.5M for counts; 0.2, 1.5 for milliseconds."""
    if key == "latency_ms":
        return f"{value:g}"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:g}{unit}"
    return f"{value:g}"


def _label(ax: Any, rows: dict[str, Any], xk: str, yk: str, top: int, renderer: Any) -> None:
    """Label the first ``top`` rows, each at the first offset where it collides with no placed label."""
    x, y = rows[xk].astype(float), rows[yk].astype(float)
    frame = ax.get_window_extent(renderer)
    placed: list[Any] = []
    shown = [i for i in np.flatnonzero(_ok(rows)) if np.isfinite(x[i]) and np.isfinite(y[i])][:top]
    for i in shown:
        for dx, dy, ha, va in LABEL_OFFSETS:
            text = ax.annotate(str(rows["key"][i]), (x[i], y[i]), xytext=(dx, dy), textcoords="offset points",
                               fontsize=7, ha=ha, va=va, zorder=5)  # fmt: skip
            box = text.get_window_extent(renderer).expanded(1.04, 1.15)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(b) for b in placed):
                placed.append(box)
                break
            text.remove()  # collides: try the next offset; skipped if none is free


def _legend(fig: Any, ax: Any, latency: bool) -> int:
    """One legend for the figure, below the panels (it never covers points or labels); returns its rows."""
    handles, labels = ax.get_legend_handles_labels()
    if not latency:
        labels = [lab.replace(" of each panel (2-D)", " (params vs MACs)") for lab in labels]
    ncol = min(len(labels), 5 if latency else 4)
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.005), ncol=ncol, fontsize=8, frameon=False)
    return -(-len(labels) // ncol)


def _save(fig: Any, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "svg"):
        path = out / f"tradeoff.{suffix}"
        tmp = out / f".tradeoff.{os.getpid()}.{suffix}"
        fig.savefig(tmp, format=suffix)
        os.replace(tmp, path)
        paths.append(path)
    return paths
