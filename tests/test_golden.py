"""Golden outputs: what the commands print, recorded before the code was restructured.

Each case runs one command in a subprocess (``python -m igcsearch …``) and compares its
stdout with ``tests/golden/<case>.txt.gz`` byte for byte. Search rows drop only what depends on
the machine or the clock (latency columns, the CPU name, the torch version). To record the
files again after an intended change of output::

    IGCSEARCH_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
UPDATE = bool(os.environ.get("IGCSEARCH_UPDATE_GOLDEN"))
MACHINE_FIELDS = ("latency_ms", "latency_iqr_ms", "latency_min_ms", "latency_rounds", "device", "torch_version")

SPACE = {
    "space-default": ["space", "--preset", "default", "--format", "json"],
    "space-igcv1-width": ["space", "--preset", "igcv1-width", "--format", "json"],
    "space-igcv2-chains": ["space", "--preset", "igcv2-chains", "--format", "json"],
    "space-lego-budget": ["space", "--preset", "lego-budget", "--format", "json"],
    "space-nonsquare-stride2": [
        "space", "--in-channels", "16,32", "--out-channels", "32,48", "--kernel", "3,5", "--stride", "2",
        "--format", "json",
    ],
    "space-widest-params": ["space", "--params-max", "5K", "--widest", "--family", "igc1,igc2,igc3", "--format", "json"],
    "space-range-sorted": [
        "space", "-c", "16:128:16", "--family", "igc3,dwsep,group", "--expansion", "1,6", "--balance-tol", "inf",
        "--sort", "-params", "--top", "50", "--format", "json",
    ],
    "space-lego-macs-csv": ["space", "-c", "64", "--family", "lego", "--macs-max", "10M", "--format", "csv"],
    "space-budget-md": ["space", "-c", "48", "--kernel", "3,5", "--budget", "conv", "--sort", "macs", "--format", "md"],
    "space-igcv1-cifar-net": ["space", "--preset", "igcv1-cifar-net", "--format", "json"],
    "space-widest-budget-conv": ["space", "-c", "32", "--budget", "conv", "--widest", "--family", "conv,igc1,igc3,lego", "--format", "json"],
}  # fmt: skip
REPRODUCE = {
    f"reproduce-{name}": ["reproduce", name, "--format", "json"]
    for name in ("igcv1-cifar", "igcv1-imagenet", "igcv3-imagenet", "lego-cifar")
}
REPRODUCE["reproduce-list"] = ["reproduce", "--format", "json"]
LISTS = {
    "families": ["families", "--format", "json"],
    "presets": ["presets", "--format", "json"],
    "networks": ["networks", "--format", "json"],
}
SHOW = {
    f"show-{key}": ["show", key]
    for key in (
        "conv-c64k3", "group-g64-c64k3", "dwsep-r1-c64k3", "igc1-L32M2-c64k3", "igc2-K1x2x2x2x2x2x2-c64k3",
        "igc3-t6G2x2-c64k3", "lego-o2m32-c64k3", "igc1-L16M4-i32o64k5s2", "net-cifar-plain-20-igc1-L24M2-c48k3",
    )
}  # fmt: skip
SHOW["show-igc1-naive"] = ["show", "igc1-L32M2-c64k3", "--impl", "naive"]
SEARCH = {
    "search-block": [
        "search", "-c", "32", "--family", "conv,igc1,igc2,lego", "--no-latency", "--format", "json", "--out", "OUT",
    ],
    "search-network": ["search", "--preset", "igcv1-cifar-net", "--no-latency", "--format", "json", "--out", "OUT"],
}  # fmt: skip
CASES = {**SPACE, **REPRODUCE, **LISTS, **SHOW, **SEARCH}
RECORDS = {
    "search-block": ("igc1-L16M2-c32k3", "lego-o2m8-c32k3"),
    "search-network": ("net-cifar-plain-20-igc1-L24M2-c48k3",),
}


def run(argv: list[str], cwd: Path) -> str:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run(
        [sys.executable, "-m", "igcsearch", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stderr}"
    return proc.stdout


def normalise(case: str, text: str, out: Path) -> str:
    """Drop what depends on the machine: latency and environment columns, preset file paths."""
    if case == "presets":
        rows = json.loads(text)
        for row in rows:
            row["file"] = Path(row["file"]).name
        return json.dumps(rows, indent=2) + "\n"
    if case in SEARCH:
        rows = json.loads(text)
        lines = [json.dumps({k: v for k, v in row.items() if k not in MACHINE_FIELDS}) for row in rows]
        for key in RECORDS[case]:  # the export records beside the rows: config and spec serialisation
            lines.append((out / "configs" / f"{key}.json").read_text(encoding="utf-8").replace("\n", " "))
        return "\n".join(lines) + "\n"
    return text


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_output(case: str, tmp_path: Path) -> None:
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in CASES[case]]
    text = normalise(case, run(argv, tmp_path), tmp_path / "out")
    path = GOLDEN / f"{case}.txt.gz"
    if UPDATE:
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    assert path.exists(), f"no golden file {path.name}: record it with IGCSEARCH_UPDATE_GOLDEN=1"
    expected = gzip.decompress(path.read_bytes()).decode("utf-8")
    if text != expected:
        got, want = text.splitlines(), expected.splitlines()
        line = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        first = (got[line] if line < len(got) else "<end>")[:300], (want[line] if line < len(want) else "<end>")[:300]
        raise AssertionError(
            f"{case}: output differs from {path.name} at line {line + 1}:\n got: {first[0]}\nwant: {first[1]}"
        )
