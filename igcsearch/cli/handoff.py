"""`igcsearch export | convert | decompose | train`: the hand-off to training.

Registered on the shared typer app by importing this module. torch is imported inside the
commands only, so ``igcsearch --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import IgcSearchError
from .app import app, check_format, handles_errors, print_records

PICKLE_NOTE = (
    "MODEL: package.module:factory (safe; with --weights STATE_DICT loaded with weights_only=True), a TorchScript "
    "file (safe; torch.jit.script of a model made of torch.nn layers, e.g. nn.Sequential; traced files are refused), "
    "or a saved module (torch.save(model); loading it RUNS CODE FROM THE FILE, so it loads only with --trust-pickle: "
    "only for files you trust). A key or an import path is read as one even if a file of that name exists."
)
SAVED = (
    "a pickled module: reload with torch.load({path!r}, weights_only=False) in Python, or pass it to igcsearch "
    "train/convert/decompose with --trust-pickle"
)

Model = Annotated[
    str,
    typer.Argument(
        help="package.module:factory, TorchScript file, or saved module (.pt; runs code, needs --trust-pickle)."
    ),
]
Weights = Annotated[
    Path | None, typer.Option("--weights", help="state_dict file for MODEL (loaded safely, weights_only=True).")
]
TrustPickle = Annotated[
    bool,
    typer.Option(
        "--trust-pickle", help="Load a pickled module file (torch.save(model)): this RUNS CODE FROM THE FILE."
    ),
]


def _warn(text: str) -> None:
    typer.echo(f"warning: {text}", err=True)


LayerFormat = Annotated[
    str,
    typer.Option(
        "--format",
        help="table (terminal); json (one object: layers, totals, skipped, notes); csv or md (the layer rows; "
        "totals, notes and skipped layers on stderr).",
    ),
]
InChannels = Annotated[
    int | None,
    typer.Option(
        "--in-channels",
        help="Channels of the example input. [default: the in_channels of the model's first nn.Conv2d, "
        "the first one registered (model.modules() order)]",
    ),
]
InputSize = Annotated[int, typer.Option("--input-size", help="Side of the example input (finds each layer's size).")]


def _num(value: float) -> str:
    from ..units import humanize

    return humanize(value)


def _ratio(after: float, before: float) -> str:
    return f"{after / before:.3f}" if before else ""


def _console() -> Any:
    from rich.console import Console

    return Console()  # the terminal's width: names fold, numbers stay whole (app.add_column)


# ---------------------------------------------------------------- export


@app.command()
@handles_errors
def export(
    results: Annotated[Path, typer.Argument(help="A results directory written by `igcsearch search`.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the JSON configs (<key>.json).")],
    top: Annotated[int | None, typer.Option("--top", help="The first N rows in rank order.")] = None,
    pareto: Annotated[
        bool, typer.Option("--pareto", help="The Pareto rows (with --top: the first N of them).")
    ] = False,
    keys: Annotated[str | None, typer.Option("--keys", help="Given keys, comma-separated.")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, or json, csv or md: one record per written file on stdout.")
    ] = "table",
) -> None:
    """Write JSON configs for training from search results: top N, Pareto rows or given keys.

    Each file holds schema_version, igcsearch_version, key, family, config, input_size,
    counts and the spec; igcsearch.build(path) returns its block (or network).
    """
    from ..handoff.export import export_configs

    key_list = [k.strip() for k in keys.split(",") if k.strip()] if keys is not None else None
    if keys is not None and not key_list:
        raise IgcSearchError("--keys is empty")
    check_format(fmt)
    written = export_configs(results, out, top=top, pareto=pareto, keys=key_list)
    records = [
        {"key": r["key"], "family": r["family"], "params": r["counts"]["params"], "macs": r["counts"]["macs"],
         "file": str(path)}
        for r, path in written
    ]  # fmt: skip
    if fmt != "table":
        print_records(records, fmt, title="", fields=EXPORT_FIELDS)
        return
    console = _console()
    title = f"igcsearch export: {len(written)} config(s) from {results}"
    rows = [[r["key"], r["family"], _num(r["params"]), _num(r["macs"]), r["file"]] for r in records]
    console.print(_grid(console, title, "", ("key", "family", "params", "MACs", "file"), {"params", "MACs"}, rows, []))


EXPORT_FIELDS = ("key", "family", "params", "macs", "file")


# ---------------------------------------------------------------- convert


@app.command(
    help=f"""Replace every eligible Conv2d of a model by the best block of a family under that layer's own budget.

Eligible: a regular conv (groups 1, dilation 1), square odd kernel k >= --min-kernel, padding k//2 with zeros, square stride, channels the family can factor. Each becomes the config the --rule picks among the family's valid configs with at most the conv's params and MACs at the layer's real input size (--fraction F: F times both), counting the whole module put in its place (a block's BN, an igc3 unit's three BNs), so the model never grows; a layer no config fits stays as it is; strides are kept, so output shapes do not change. Rules: widest-balanced = most params within the budget among configs within --balance-tol (ties: closer to balanced, fewer MACs); most-balanced = balance closest to 1, then most params; fewest-macs; fewest-params. By default a conv becomes the bare block (no final BN/ReLU; the conv's bias kept) so the model's own BN/activation follow once; --block-bn keeps the block's BN+ReLU. igc3 units stay whole. Converted layers are freshly initialised: train the result (igcsearch train NEW --trust-pickle --data ...).

{PICKLE_NOTE} The output is saved with torch.save, a pickled module (reload with torch.load(NEW, weights_only=False), or give it to igcsearch with --trust-pickle); --out DIR/ writes DIR/<model>-<family>.pt.
"""
)
@handles_errors
def convert(
    model: Model,
    family: Annotated[str, typer.Option("--family", help="Block family: conv, group, dwsep, igc1, igc2, igc3, lego.")],
    out: Annotated[  # text, not Path: keeps a trailing slash (``--out DIR/`` writes into DIR)
        str, typer.Option("--out", help="Where to save the converted model (torch.save); DIR/ writes into DIR.")
    ],
    rule: Annotated[
        str, typer.Option("--rule", help="widest-balanced, most-balanced, fewest-macs or fewest-params.")
    ] = "widest-balanced",
    min_kernel: Annotated[int, typer.Option("--min-kernel", help="Convert only convs with k >= this.")] = 3,
    balance_tol: Annotated[
        str, typer.Option("--balance-tol", help="igc1/igc2 configs need balance <= T (or inf).")
    ] = "2",
    fraction: Annotated[
        float, typer.Option("--fraction", help="Budget per layer: this fraction of the conv's params and MACs.")
    ] = 1.0,
    block_bn: Annotated[
        bool, typer.Option("--block-bn/--bare", help="Keep each block's own BN+ReLU (default: bare block).")
    ] = False,
    in_channels: InChannels = None,
    input_size: InputSize = 224,
    weights: Weights = None,
    trust_pickle: TrustPickle = False,
    fmt: LayerFormat = "table",
) -> None:
    from ..handoff.convert import convert as run_convert
    from ..handoff.model import check_example, load_model, output_path, save_model
    from ..handoff.train import _stem

    check_format(fmt)
    tol = _tolerance(balance_tol)
    check_example(1 if in_channels is None else in_channels, input_size)  # C itself: once the model is loaded
    target = output_path(out, f"{_stem(model)}-{family}.pt")
    net = load_model(model, weights, trust_pickle=trust_pickle, warn=_warn)
    result = run_convert(
        net, family, rule, min_kernel=min_kernel, in_channels=in_channels, input_size=input_size,
        balance_tol=tol, fraction=fraction, block_bn=block_bn,
    )  # fmt: skip
    path = save_model(result.model, target)  # before the table: a reader that stops early (| head) costs no file
    if fmt == "table":
        print_convert(result, model, input_size)
    else:
        print_document(convert_document(result, input_size), fmt, CONVERT_FIELDS, "not converted")
    if not result.changes:
        typer.echo(f"note: no layer fits a {family} block within its budget; {path} is the model unchanged", err=True)
    typer.echo(f"wrote {path} ({SAVED.format(path=str(path))})", err=True)


def _tolerance(text: str) -> float:
    from ..spec import _tolerance as parse

    return parse(text)


CONVERT_FIELDS = (
    "name", "in_channels", "out_channels", "kernel", "stride", "input_size", "key",
    "params_before", "macs_before", "params_after", "macs_after", "params_ratio", "macs_ratio",
)  # fmt: skip
DECOMPOSE_FIELDS = (
    "name", "in_channels", "out_channels", "kernel", "stride", "rank", "method", "params_before", "params_after",
    "params_ratio", "weight_err", "output_err", "output_err_weights",
)  # fmt: skip


def _exact_ratio(after: int, before: int) -> float | None:
    return after / before if before else None


def _sums(counts: dict[str, int]) -> dict[str, Any]:
    """Counts before/after with their ratios (after / before)."""
    out: dict[str, Any] = dict(counts)
    for what in ("params", "macs"):
        if f"{what}_before" in counts:
            out[f"{what}_ratio"] = _exact_ratio(counts[f"{what}_after"], counts[f"{what}_before"])
    return out


def convert_document(result: Any, input_size: int) -> dict[str, Any]:
    """`convert --format json`: the per-layer rows, the converted layers' sums, the whole model, the rest."""
    layers = []
    for c in result.changes:
        row = {f: getattr(c, f) for f in CONVERT_FIELDS if not f.endswith("_ratio")}
        layers.append(_sums(row))
    keys = ("params_before", "macs_before", "params_after", "macs_after")
    converted = {k: sum(row[k] for row in layers) for k in keys}
    return {
        "family": result.family,
        "rule": result.rule,
        "input_size": input_size,
        "layers": [{f: row[f] for f in CONVERT_FIELDS} for row in layers],
        "converted": {"layers": len(layers), **_sums(converted)},
        "totals": _sums({k: int(result.totals[k]) for k in keys}),
        "skipped": [{"name": name, "reason": reason} for name, reason in result.skipped],
        "notes": list(result.notes),
    }


def decompose_document(result: Any) -> dict[str, Any]:
    """`decompose --format json`: the per-layer rows, the whole model's params, the layers left alone, notes."""
    layers = []
    for r in result.layers:
        row = {f: getattr(r, f) for f in DECOMPOSE_FIELDS if f != "params_ratio"}
        row["params_ratio"] = _exact_ratio(r.params_after, r.params_before)
        layers.append({f: row[f] for f in DECOMPOSE_FIELDS})
    return {
        "rank": result.rank,
        "calibrated": result.calibrated,
        "layers": layers,
        "totals": _sums({"params_before": result.params_before, "params_after": result.params_after}),
        "skipped": [{"name": name, "reason": reason} for name, reason in result.skipped],
        "notes": list(result.notes),
    }


def print_document(doc: dict[str, Any], fmt: str, fields: tuple[str, ...], left_alone: str) -> None:
    """JSON: the whole document on stdout. CSV/Markdown: the layer rows on stdout; totals, notes and the
    layers left alone on stderr (one line each)."""
    import json

    if fmt == "json":
        typer.echo(json.dumps(doc, indent=2))
        return
    print_records(doc["layers"], fmt, title="", fields=fields)
    for what in ("converted", "totals"):
        if what in doc:
            line = ", ".join(f"{k} {v}" for k, v in doc[what].items())
            typer.echo(f"{'whole model' if what == 'totals' else 'converted'}: {line}", err=True)
    for note in doc["notes"]:
        typer.echo(f"note: {note}", err=True)
    for s in doc["skipped"]:
        typer.echo(f"{left_alone}: {s['name']}: {s['reason']}", err=True)


def _grid(console: Any, title: str, caption: str, columns: tuple[str, ...], numeric: set[str],
          rows: list[list[str]], footer: list[list[str]]) -> Any:  # fmt: skip
    """A table whose numbers are never cut: numeric columns are as wide as their widest cell; on a
    narrow terminal the columns lose their padding (one space apart) before anything is cut."""
    from rich import box
    from rich.table import Table

    from .app import add_column

    # light rules and one space between columns: ten columns of whole numbers fit 80 characters
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    every = rows + footer
    for i, name in enumerate(columns):
        add_column(table, name, [r[i] for r in every], name in numeric)
    for r in rows:
        table.add_row(*r)
    if footer:
        table.add_section()
    for r in footer:
        table.add_row(*r)
    if sum(c.min_width or 1 for c in table.columns) + 3 * len(columns) > console.width:
        table.padding = (0, 0)
    return table


def _left_alone(console: Any, title: str, skipped: list[tuple[str, str]]) -> None:
    from rich.table import Table

    if skipped:
        left = Table(title=f"{title} ({len(skipped)})")
        left.add_column("layer", overflow="fold")
        left.add_column("reason", overflow="fold")
        for name, reason in skipped:
            left.add_row(name, reason)
        console.print(left)


def print_convert(result: Any, source: str, input_size: int) -> None:
    """The per-layer before/after table with totals, then the layers left alone."""
    console = _console()
    title = f"igcsearch convert: {source} -> {result.family} ({result.rule}), input {input_size}x{input_size}"
    columns = ("layer", "conv", "in", "params", "MACs", "new block", "params'", "MACs'", "params×", "MACs×")
    rows = []
    for c in result.changes:
        geom = f"{c.in_channels}->{c.out_channels} k{c.kernel}" + (f" s{c.stride}" if c.stride != 1 else "")
        rows.append([
            c.name, geom, f"{c.input_size}", _num(c.params_before), _num(c.macs_before), c.key,
            _num(c.params_after), _num(c.macs_after), _ratio(c.params_after, c.params_before),
            _ratio(c.macs_after, c.macs_before),
        ])  # fmt: skip
    doc = convert_document(result, input_size)
    footer = []
    for label, t in ((f"{len(result.changes)} converted", doc["converted"]), ("whole model", doc["totals"])):
        footer.append([label, "", "", _num(t["params_before"]), _num(t["macs_before"]), "",
                       _num(t["params_after"]), _num(t["macs_after"]), _ratio(t["params_after"], t["params_before"]),
                       _ratio(t["macs_after"], t["macs_before"])])  # fmt: skip
    numeric = set(columns) - {"layer", "conv", "new block"}
    caption = "params = weights + bias (+ BN of the new block); MACs per sample"
    console.print(_grid(console, title, caption, columns, numeric, rows, footer))
    for note in result.notes:
        console.print(f"note: {note}")
    _left_alone(console, "not converted", result.skipped)


# ---------------------------------------------------------------- decompose


@app.command(
    help=f"""Depthwise decomposition: every regular conv becomes depthwise (multiplier r) + pointwise.

Initialised from the trained weights: per input channel, the best rank-r approximation of its n×k² kernel slice (SVD; exact at r = min(C_out, k²)). With --calib DATA.npz (x or x_train, NCHW uint8 or float) each layer is refined on the data instead: the approximated network's inputs, the original outputs, reduced-rank regression channel by channel (never worse than the SVD on that data). Reports per-layer relative errors of weights and outputs (on the calibration images, or random inputs without them).

{PICKLE_NOTE} The output is saved with torch.save, a pickled module (reload with torch.load(NEW, weights_only=False), or give it to igcsearch with --trust-pickle); --out DIR/ writes DIR/<model>-r<rank>.pt.
"""
)
@handles_errors
def decompose(
    model: Model,
    rank: Annotated[int, typer.Option("--rank", "-r", help="Depth multiplier r (kept singular triplets per channel).")],
    out: Annotated[  # text, not Path: keeps a trailing slash (``--out DIR/`` writes into DIR)
        str, typer.Option("--out", help="Where to save the decomposed model (torch.save); DIR/ writes into DIR.")
    ],
    calib: Annotated[
        Path | None, typer.Option("--calib", help=".npz with calibration images x (or x_train), NCHW.")
    ] = None,
    samples: Annotated[int, typer.Option("--samples", help="Calibration images used (the first N).")] = 256,
    refine: Annotated[
        bool,
        typer.Option("--refine/--no-refine", help="With --calib: refine on the data, or only measure the SVD on it."),
    ] = True,
    sweeps: Annotated[int, typer.Option("--sweeps", help="Data-driven passes over the input channels.")] = 4,
    in_channels: InChannels = None,
    input_size: Annotated[int, typer.Option("--input-size", help="Side of the random inputs (without --calib).")] = 32,
    weights: Weights = None,
    trust_pickle: TrustPickle = False,
    fmt: LayerFormat = "table",
) -> None:
    from ..handoff.decompose import check_options
    from ..handoff.decompose import decompose as run_decompose
    from ..handoff.model import check_example, load_model, output_path, save_model
    from ..handoff.train import _stem

    check_format(fmt)
    check_options(rank, in_channels, input_size, sweeps)
    target = output_path(out, f"{_stem(model)}-r{rank}.pt")
    if calib is None:
        check_example(1 if in_channels is None else in_channels, input_size)  # C itself: once the model is loaded
    data = load_calibration(calib, samples) if calib is not None else None
    net = load_model(model, weights, trust_pickle=trust_pickle, warn=_warn)
    result = run_decompose(
        net, rank, data, refine=refine, in_channels=in_channels, input_size=input_size, sweeps=sweeps
    )
    path = save_model(result.model, target)  # before the table: a reader that stops early (| head) costs no file
    if fmt == "table":
        print_decompose(result, model, calib)
    else:
        print_document(decompose_document(result), fmt, DECOMPOSE_FIELDS, "not decomposed")
    typer.echo(f"wrote {path} ({SAVED.format(path=str(path))})", err=True)


def load_calibration(path: Path, samples: int) -> Any:
    """Calibration images from an .npz (``x`` or ``x_train``), as float32 NCHW."""
    from ..handoff.data import check_images, npz_array, open_npz, to_float

    if samples < 1:
        raise IgcSearchError(f"--samples must be >= 1, got {samples}")
    with open_npz(path, "calibration file") as npz:
        name = "x" if "x" in npz.files else "x_train" if "x_train" in npz.files else None
        if name is None:
            raise IgcSearchError(
                f"{path.name}: no array 'x' or 'x_train' (it has: {', '.join(npz.files) or 'nothing'})"
            )
        x = npz_array(npz, name, path)[:samples]
    check_images(name, x)
    return to_float(x)


def print_decompose(result: Any, source: str, calib: Path | None) -> None:
    """Per-layer errors and params, then the layers left alone."""
    console = _console()
    on = f"calibration images {calib}" if calib else "random N(0,1) inputs"
    title = f"igcsearch decompose: {source}, rank {result.rank}, {'data-driven' if result.calibrated else 'weights-only (SVD)'}"
    caption = (
        f"errors are relative Frobenius norms; outputs: the conv's response before bias on {on}, "
        "with every earlier layer decomposed"
    )
    columns = ("layer", "conv", "r", "method", "params", "params'", "weight err", "output err", "output err (SVD)")
    rows = []
    for r in result.layers:
        geom = f"{r.in_channels}->{r.out_channels} {r.kernel}" + (f" s{r.stride}" if r.stride != 1 else "")
        rows.append([
            r.name, geom, str(r.rank), r.method, _num(r.params_before), _num(r.params_after), f"{r.weight_err:.3g}",
            f"{r.output_err:.3g}", f"{r.output_err_weights:.3g}",
        ])  # fmt: skip
    footer = [["whole model", "", "", "", _num(result.params_before), _num(result.params_after), "", "", ""]]
    numeric = set(columns) - {"layer", "conv", "method"}
    console.print(_grid(console, title, caption, columns, numeric, rows, footer))
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    _left_alone(console, "not decomposed", result.skipped)


# ---------------------------------------------------------------- train


@app.command(
    help=f"""Train the network of a config (or a converted model) on an .npz dataset.

CONFIG: an `igcsearch export` JSON (a block is trained inside a small classifier: stem conv, the block, pooling, FC; a network row builds its network), a config or network key, or a model (see below). DATA: .npz with x_train, y_train, x_test, y_test; images NCHW uint8 (scaled to [0, 1]) or float; labels integer class ids. SGD + momentum, cosine schedule, random crop with padding and horizontal flip. Writes OUT/metrics.csv, OUT/checkpoint.pt (every epoch; --resume continues it), OUT/model.pt, OUT/result.json and, for a config file, <config>.train.json beside it with the final accuracy.

{PICKLE_NOTE}
"""
)
@handles_errors
def train(
    config: Annotated[
        str,
        typer.Argument(
            help="Export JSON, config/network key, import path, TorchScript or saved model (--trust-pickle)."
        ),
    ],
    data: Annotated[Path, typer.Option("--data", help=".npz with x_train, y_train, x_test, y_test (NCHW).")],
    out: Annotated[Path | None, typer.Option("--out", help="Run directory. [default: igcsearch-train/<name>]")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs.")] = 10,
    batch: Annotated[int, typer.Option("--batch", help="Batch size.")] = 128,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (cosine decay).")] = 0.1,
    momentum: Annotated[float, typer.Option("--momentum", help="SGD momentum (Nesterov).")] = 0.9,
    weight_decay: Annotated[float, typer.Option("--weight-decay", help="L2 weight decay.")] = 5e-4,
    crop_pad: Annotated[int, typer.Option("--crop-pad", help="Random-crop padding in pixels (0: none).")] = 4,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Random horizontal flip.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed of init, shuffling and augmentation.")] = 0,
    lego: Annotated[
        str, typer.Option("--lego", help="LegoBlocks: 'fixed' combination or 'learn' it (straight-through).")
    ] = "fixed",
    lego_freeze: Annotated[
        int, typer.Option("--lego-freeze", help="With --lego learn: freeze the combination after N epochs (0: never).")
    ] = 1,
    lego_balance: Annotated[
        float, typer.Option("--lego-balance", help="With --lego learn: weight of the usage-balance term.")
    ] = 0.0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    weights: Weights = None,
    trust_pickle: TrustPickle = False,
) -> None:
    from ..handoff.train import TrainOptions
    from ..handoff.train import train as run_train

    opts = TrainOptions(
        epochs=epochs, batch=batch, lr=lr, momentum=momentum, weight_decay=weight_decay, crop_pad=crop_pad,
        flip=flip, seed=seed, lego=lego, lego_freeze=lego_freeze, lego_balance=lego_balance,
    )  # fmt: skip
    with _TrainProgress() as progress:
        result = run_train(
            config, data, out, opts, resume=resume, device=device,
            weights=str(weights) if weights else None, progress=progress, trust_pickle=trust_pickle, warn=_warn,
        )  # fmt: skip
    done = f"{result.source.name}: {result.params:,} params, {len(result.metrics)} epochs"
    if result.resumed_from:
        done += f" (resumed after epoch {result.resumed_from})"
    typer.echo(f"{done}; final test accuracy {result.test_acc:.4f}")
    typer.echo("wrote " + ", ".join(str(p) for p in result.files), err=True)


class _TrainProgress:
    """A rich progress bar on stderr with epoch lines printed above it."""

    def __enter__(self) -> _TrainProgress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=False,
        )  # fmt: skip
        self.task: Any = None  # the bar starts with the first epoch: errors before it print alone
        return self

    def stage(self, name: str, total: int) -> None:
        if self.task is None:
            self.bar.start()
        self.task = self.bar.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)

    def log(self, text: str) -> None:
        self.bar.console.print(text)

    def __exit__(self, *exc: Any) -> None:
        if self.task is not None:
            self.bar.stop()
