"""Bad-input corpus: the search spec, presets, space/show, networks, the CLI boundary and the
Python API (see tests/badinput.py).

Cases are one command each, grouped by category; what needs more than one command (a closed
or full stdout, a reader that goes away, an early Ctrl-C) is a plain test below them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from badinput import Case, cases_by_id, check, error_line

NAME_RULE = r"it names the results directory, so it must be a plain name"
SEARCH = ("search", "--preset", "p.toml", "--no-latency", "-c", "8", "--family", "conv")


def preset(name: str) -> dict[str, str]:
    """A preset file p.toml whose name is ``name`` (a TOML basic string: escapes allowed)."""
    return {"p.toml": f'name = "{name}"\n'}


SECURITY = [
    Case("preset-name-dotdot", "security", SEARCH, 1, r"name '\.\./\.\./\.\./X' is a path: " + NAME_RULE, preset("../../../X")),
    Case("preset-name-absolute", "security", SEARCH, 1, r"name '/.*/X' is a path", preset("{tmp}/X")),
    Case("preset-name-slash", "security", SEARCH, 1, r"name 'a/b' is a path", preset("a/b")),
    Case("preset-name-backslash", "security", SEARCH, 1, r"name 'a\\\\b' is a path", preset("a\\\\b")),
    Case("preset-name-nul", "security", SEARCH, 1, r"name 'a\\x00b' contains a control character", preset("a\\u0000b")),
    Case("preset-name-newline", "security", SEARCH, 1, r"contains a control character", preset("a\\nb")),
    Case("preset-name-empty", "security", SEARCH, 1, r"name '' is empty", preset("")),
    Case("preset-name-blank", "security", SEARCH, 1, r"name '  ' is empty", preset("  ")),
    Case("preset-name-dot", "security", SEARCH, 1, r"name '\.' starts with '\.'", preset(".")),
    Case("preset-name-dotdot-alone", "security", SEARCH, 1, r"name '\.\.' starts with '\.'", preset("..")),
    Case("preset-name-hidden", "security", SEARCH, 1, r"name '\.x' starts with '\.'", preset(".x")),
    Case("preset-name-bidi-override", "security", SEARCH, 1, r"contains an invisible formatting character", preset("ab\\u202ecd")),
    Case("preset-name-trailing-space", "security", SEARCH, 1, r"starts or ends with a space", preset("x ")),
    Case("preset-store-outside", "security", SEARCH, 1,
         r"store = '\.\./\.\./\.\./evil\.sqlite' must be a relative path inside the working directory",
         {"p.toml": 'store = "../../../evil.sqlite"\n'}),
    Case("preset-store-absolute", "security", SEARCH, 1, r"must be a relative path inside the working directory",
         {"p.toml": 'store = "{tmp}/evil.sqlite"\n'}),
    Case("preset-store-inside", "security", SEARCH, 0, files={"p.toml": 'store = "s/ok.sqlite"\n'},
         allowed=("s", "s/*", "igcsearch-results", "igcsearch-results/*")),
    Case("preset-name-too-long", "security", SEARCH, 1, r"is longer than 255 bytes", preset("x" * 256)),
    Case("preset-name-not-text", "security", SEARCH, 1, r"preset 'p.toml': name must be a string, got int 5", {"p.toml": "name = 5\n"}),
    Case("preset-name-path-in-space", "security", ("space", "--preset", "p.toml", "-c", "8"), 1, r"is a path", preset("../x")),
    # a plain name keeps working, and lands where it should
    Case("preset-name-plain", "security", (*SEARCH, "--format", "csv"), 0, files=preset("mine"), allowed=("igcsearch-results", "igcsearch-results/*")),
    Case("preset-file-hidden-stem", "security", ("space", "--preset", "./.p.toml", "--format", "csv"), 0, files={".p.toml": "channels = 8\n"}),
]  # fmt: skip

RESOURCES = [
    Case("kernel-too-large", "resources", ("show", "conv-c8k999"), 1, r"kernel=999 is invalid"),
    Case("channels-too-large", "resources", ("show", "conv-c70000k3"), 1, r"in_channels=70000 is invalid"),
    Case("show-huge-block", "resources", ("show", "conv-c60000k3"), 1, r"conv-c60000k3 has 32,400,120,000 parameters \(120\.7 GiB as float32\), too large to build: more than the limit of 2\^31 = 2,147,483,648"),
    Case("show-huge-network", "resources", ("show", "net-cifar-plain-20-conv-c9000k3"), 1, r"has 84,565,377,010 parameters .*too large to build: more than the limit of 2\^31 = 2,147,483,648"),
    Case("show-network-too-deep", "resources", ("show", "net-cifar-plain-30002-conv-c18k3"), 1, r"depth 30002 is too deep; at most 1202 layers"),
    Case("search-network-too-deep", "resources", ("search", "--network", "cifar-resnet-30002", "--no-latency", "--family", "conv"), 1, r"network 'cifar-resnet-30002': depth 30002 is too deep; at most 1202"),
    Case("show-network-too-wide", "resources", ("show", "net-cifar-plain-20-conv-c60000k3"), 1, r"out_channels=120000 is invalid"),
    Case("nonsquare-pairs", "resources", ("space", "--in-channels", "1:4096", "--out-channels", "1:4096"), 1, r"4,096 x 4,096 = 16,777,216 channel pairs: at most 65,536"),
    Case("nonsquare-pairs-search", "resources", ("search", "--in-channels", "1:512", "--out-channels", "1:512", "--no-latency"), 1, r"262,144 channel pairs: at most 65,536"),
    Case("square-rows", "resources", ("space", "-c", "1:65536"), 1, r"about 24,925,371,820 rows \(limit 50,000,000\)"),
    Case("channels-huge-number", "resources", ("space", "-c", "1:999999999999999999999"), 1, r"--channels 1e\+21 is too large: at most 65536 channels"),
    Case("channels-huge-float", "resources", ("space", "--preset", "q.toml"), 1, r"--channels 1e\+300 is too large: at most 65536", {"q.toml": "channels = [8, 1e300]\n"}),
    Case("space-kernel", "resources", ("space", "-c", "8", "-k", "999"), 1, r"--kernel 999 is too large: at most 31"),
    Case("space-channels", "resources", ("space", "-c", "70000"), 1, r"--channels 70000 is too large: at most 65536 channels"),
    Case("input-size", "resources", ("space", "-c", "8", "--input-size", "100000"), 1, r"--input-size 100000 is too large: at most 4096"),
    Case("search-input-size", "resources", ("search", "-c", "8", "--input-size", "100000", "--no-latency"), 1, r"--input-size 100000 is too large: at most 4096"),
    Case("show-input-size", "resources", ("show", "igc1-L2M4-c8k3", "--input-size", "100000"), 1, r"--input-size 100000 is too large: at most 4096"),
    Case("show-network-input-size", "resources", ("show", "net-cifar-plain-20-conv-c18k3", "--input-size", "100000"), 1, r"--input-size takes one value from 1 to 4096, got '100000'"),
    Case("widest-budget-too-wide", "resources", ("space", "--widest", "--params-max", "1e15", "--family", "conv"), 1, r"the budget admits conv widths above 65536"),
    Case("stride-too-large", "resources", ("space", "-c", "8", "--stride", "1000"), 1, r"--stride 1000 is too large: at most 31"),
]  # fmt: skip

VALIDATION = [
    Case("unknown-family", "validation", ("space", "--family", "igc9"), 1, r"unknown block family 'igc9'"),
    Case("balance-tol-nan", "validation", ("space", "-c", "8", "--balance-tol", "nan"), 1, r"--balance-tol must be >= 1 .* or inf, got 'nan'"),
    Case("balance-tol-below-1", "validation", ("space", "-c", "8", "--balance-tol", "0.5"), 1, r"--balance-tol must be >= 1"),
    Case("balance-tol-text", "validation", ("space", "-c", "8", "--balance-tol", "abc"), 1, r"--balance-tol must be a number >= 1 or inf, got 'abc'"),
    Case("params-max-nan", "validation", ("space", "-c", "8", "--params-max", "nan"), 1, r"--params-max must be a finite number >= 0, got 'nan'"),
    Case("params-max-inf", "validation", ("space", "-c", "8", "--params-max", "inf"), 1, r"--params-max must be finite \(leave it out for no limit\), got 'inf'"),
    Case("params-max-overflow", "validation", ("space", "-c", "8", "--params-max", "1e400"), 1, r"--params-max must be finite"),
    Case("params-max-negative", "validation", ("space", "-c", "8", "--params-max", "-1"), 1, r"--params-max must be >= 0, got '-1'"),
    Case("macs-max-negative", "validation", ("space", "-c", "8", "--macs-max", "-5"), 1, r"--macs-max must be >= 0, got '-5'"),
    Case("macs-max-unit", "validation", ("space", "-c", "8", "--macs-max", "1.5m"), 1, r"--macs-max must be a number such as 36\.9K, 1\.5M or 2G, got '1\.5m'"),
    Case("top-zero", "validation", ("space", "-c", "8", "--top", "0"), 1, r"--top must be >= 1, got 0"),
    Case("top-negative", "validation", ("space", "-c", "8", "--top", "-1"), 1, r"--top must be >= 1, got -1"),
    Case("top-fraction", "validation", ("space", "-c", "8", "--top", "1.5"), 1, r"--top must be an integer, got '1\.5'"),
    Case("top-inf", "validation", ("space", "-c", "8", "--top", "inf"), 1, r"--top must be an integer"),
    Case("top-two-values", "validation", ("space", "-c", "8", "--top", "1,2"), 1, r"--top takes one value, got '1,2'"),
    Case("expansion-zero", "validation", ("space", "-c", "8", "--expansion", "0"), 1, r"--expansion must be >= 1, got 0"),
    Case("expansion-too-large", "validation", ("space", "-c", "8", "--expansion", "65"), 1, r"--expansion values must be <= 64, got 65"),
    Case("stride-zero", "validation", ("space", "-c", "8", "--stride", "0"), 1, r"--stride must be >= 1, got 0"),
    Case("input-size-zero", "validation", ("space", "-c", "8", "--input-size", "0"), 1, r"--input-size must be >= 1, got 0"),
    Case("input-size-range", "validation", ("space", "-c", "8", "--input-size", "2:3"), 1, r"--input-size takes one value, got '2:3'"),
    Case("input-size-inf", "validation", ("space", "--preset", "q.toml"), 1, r"--input-size must be an integer", {"q.toml": "channels = 8\ninput_size = inf\n"}),
    Case("kernel-even", "validation", ("space", "-c", "8", "-k", "4"), 1, r"--kernel must be odd \(padding is k//2\), got 4"),
    Case("kernel-zero", "validation", ("space", "-c", "8", "-k", "0"), 1, r"--kernel must be >= 1, got 0"),
    Case("channels-zero", "validation", ("space", "-c", "0"), 1, r"--channels must be >= 1, got 0"),
    Case("channels-nan", "validation", ("space", "-c", "nan"), 1, r"--channels must be an integer, a list a,b,c or a range start:stop:step, got 'nan'"),
    Case("channels-backwards", "validation", ("space", "-c", "8:4"), 1, r"--channels range stop must be >= start, got '8:4'"),
    Case("channels-step-zero", "validation", ("space", "-c", "8:16:0"), 1, r"--channels range step must be > 0, got '8:16:0'"),
    Case("channels-nan-preset", "validation", ("space", "--preset", "q.toml"), 1, r"--channels must be an integer", {"q.toml": 'channels = "nan"\n'}),
    Case("balance-tol-nan-preset", "validation", ("space", "--preset", "q.toml"), 1, r"--balance-tol must be >= 1 .* got nan", {"q.toml": "channels = 8\nbalance_tol = nan\n"}),
    Case("top-fraction-preset", "validation", ("space", "--preset", "q.toml"), 1, r"--top must be an integer, got '2\.5'", {"q.toml": "channels = 8\ntop = 2.5\n"}),
    Case("sort-unknown", "validation", ("space", "-c", "8", "--sort", "nope"), 1, r"unknown sort key 'nope'; choose from: key, family"),
    Case("format-unknown", "validation", ("space", "-c", "8", "--format", "xml"), 1, r"unknown --format 'xml'; choose from: table, csv, md, json"),
    Case("family-empty", "validation", ("space", "-c", "8", "--family", ","), 1, r"--family is empty"),
    Case("budget-unknown", "validation", ("space", "-c", "8", "--budget", "bogus"), 1, r"--budget must be 'conv'"),
    Case("widest-without-budget", "validation", ("space", "--widest", "-c", "8"), 1, r"--widest needs a budget"),
    Case("show-impl", "validation", ("show", "igc1-L2M4-c8k3", "--impl", "bogus"), 1, r"--impl must be auto, fused or naive, got 'bogus'"),
    Case("out-not-a-directory", "validation", ("space", "-c", "8", "--out", "/dev/full"), 1, r"--out '/dev/full' exists and is not a directory"),
    Case("out-empty", "validation", ("space", "-c", "8", "--out", ""), 1, r"--out is empty"),
    Case("out-trailing-slash-is-a-directory", "validation", ("space", "-c", "8", "--family", "conv", "--out", "x.csv/"), 0, allowed=("x.csv", "x.csv/space.*")),
    Case("out-trailing-slash-on-a-file", "validation", ("space", "-c", "8", "--out", "f.csv/"), 1, r"--out 'f.csv' exists and is not a directory", {"f.csv": "keep\n"}),
    Case("zero-budget-is-empty", "validation", ("space", "--widest", "--params-max", "0"), 0),  # valid: an empty result, exit 0
]  # fmt: skip

TRACEBACKS = [
    Case("show-malformed-key", "tracebacks", ("show", "igc3-t6G1x1G2x2-c8k3"), 1, r"malformed key 'igc3-t6G1x1G2x2-c8k3'"),
    Case("preset-not-utf8", "tracebacks", ("space", "--preset", "q.toml"), 1, r"is not UTF-8 text", {"q.toml": b"channels = 8\nname = '\xff'\n"}),
    Case("preset-nested", "tracebacks", ("space", "--preset", "q.toml"), 1, r"a preset is a flat table", {"q.toml": "[x]\nchannels = 8\n"}),
]  # fmt: skip

CASES = cases_by_id(SECURITY + RESOURCES + VALIDATION + TRACEBACKS)


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_corpus(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


def test_plain_preset_name_writes_only_its_results_directory(tmp_path: Path) -> None:
    out = check(CASES["preset-name-plain"], tmp_path)
    results = out.work / "igcsearch-results" / "mine"
    assert sorted(p.name for p in results.iterdir()) == [
        "configs",
        "results.csv",
        "results.json",
        "results.md",
        "results.sqlite",
        "results.sqlite.lock",  # the store's writer lock (flock), kept: removing it would race a waiting writer
    ]
    assert not (tmp_path / "X").exists()


def test_out_with_a_trailing_slash_is_a_directory(tmp_path: Path) -> None:
    out = check(CASES["out-trailing-slash-is-a-directory"], tmp_path)
    assert sorted(p.name for p in (out.work / "x.csv").iterdir()) == ["space.csv", "space.json", "space.md"]


# ---------------------------------------------------------------- the CLI boundary: stdout, Ctrl-C

IGC = [sys.executable, "-m", "igcsearch"]


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "120", "PYTHONWARNINGS": "ignore"}


def _sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m igcsearch`` inside a shell command line (for redirections such as ``>&-``)."""
    script = command.replace("IGC", f"'{sys.executable}' -m igcsearch")
    return subprocess.run(["sh", "-c", script], cwd=cwd, capture_output=True, text=True, env=_env(), timeout=120)


@pytest.mark.parametrize(
    "args",
    [
        "space -c 8 --format csv",
        "show igc1-L2M4-c8k3",
        "families",
        "--version",
        "--help",
    ],
)
def test_closed_stdout_is_one_error_line(args: str, tmp_path: Path) -> None:
    proc = _sh(f"IGC {args} >&-", tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert error_line(proc.stderr) == (
        "error: standard output is closed; redirect it to a file or to /dev/null instead of closing it"
    )
    assert list(tmp_path.iterdir()) == []  # nothing took fd 1's place


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        "space -c 8 --format csv",  # a few KB: seen only at the final flush
        "space -c 8:512:8 --format csv",  # larger than the buffer: seen while writing
        "space -c 8",
        "show igc1-L2M4-c8k3",
        "families",
        "presets --format json",
        "--version",
        "--help",
    ],
)
def test_full_disk_on_stdout_is_one_error_line(args: str, tmp_path: Path) -> None:
    proc = _sh(f"IGC {args} > /dev/full", tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert error_line(proc.stderr) == (
        "error: cannot write (standard output): No space left on device; free some space or write elsewhere"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["show", "igc1-L2M4-c8k3"],  # rich's console: its own broken-pipe exit
        ["show", "net-cifar-plain-20-conv-c18k3"],
        ["space", "-c", "8:1024:8", "--format", "csv"],  # streamed rows
        ["space", "-c", "8:64:8"],
        ["families"],
    ],
    ids=" ".join,
)
def test_reader_gone_ends_quietly(args: list[str], tmp_path: Path) -> None:
    """`igcsearch ... | head -1`: the reader closes the pipe after one line; exit 0, no message."""
    proc = subprocess.Popen(
        [*IGC, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # head -1 exits
    err = proc.stderr.read()
    code = proc.wait(timeout=120)
    assert first.strip()
    assert code == 0, err
    assert err == ""


def test_show_piped_to_head_exits_0(tmp_path: Path) -> None:
    script = f"'{sys.executable}' -m igcsearch show igc1-L2M4-c8k3 | head -1; echo \"status=${{PIPESTATUS[0]}}\" >&2"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.stdout.startswith("igc1-L2M4-c8k3")
    assert proc.stderr == "status=0\n"


# A launcher that runs igcsearch's __main__ with ARGS and sends itself SIGINT when a given
# module is first imported: Ctrl-C at a chosen point of the start-up, deterministically.
LAUNCHER = """
import importlib.abc, os, signal, sys, runpy
trigger, args = sys.argv[1], sys.argv[2:]

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == trigger:
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Hook())
sys.argv = ["igcsearch", *args]
runpy.run_module("igcsearch", run_name="__main__", alter_sys=True)
"""


def _interrupted(trigger: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, trigger, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )


@pytest.mark.parametrize(
    ("trigger", "args"),
    [
        ("typer", ["space", "-c", "8"]),  # while the CLI module imports its dependencies
        ("igcsearch.cli.handoff", ["space", "-c", "8"]),  # the CLI's last import
        ("igcsearch.cli.emit", ["space", "-c", "8"]),  # inside the command
        ("torch", ["show", "igc1-L2M4-c8k3"]),  # while a command imports torch
    ],
)
def test_early_ctrl_c_is_one_line_and_exit_130(trigger: str, args: list[str], tmp_path: Path) -> None:
    proc = _interrupted(trigger, args, tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 130, proc.stderr
    assert error_line(proc.stderr) == "error: interrupted"


# Started by site.py once the interpreter is up: the clock of "the first 50 ms" starts when
# `python -m igcsearch` starts running, not while Python itself initialises.
SITECUSTOMIZE = """
import os, signal, threading
threading.Timer(float(os.environ["IGC_TEST_SIGINT_AFTER"]), os.kill, (os.getpid(), signal.SIGINT)).start()
"""


@pytest.mark.parametrize("delay", [0.01, 0.02, 0.035, 0.05])
def test_ctrl_c_in_the_first_50_ms(delay: float, tmp_path: Path) -> None:
    """`python -m igcsearch space …` and SIGINT ~20 ms after it starts: exit 130, one line, no traceback."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**_env(), "IGC_TEST_SIGINT_AFTER": str(delay)}
    env["PYTHONPATH"] = os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run(
        [*IGC, "space", "-c", "8:2048:8", "--format", "csv"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 130, proc.stderr
    assert error_line(proc.stderr) == "error: interrupted"


def test_ctrl_c_during_a_real_start(tmp_path: Path) -> None:
    """The real command, interrupted once it is past the interpreter's start-up."""
    proc = subprocess.Popen(
        [*IGC, "space", "-c", "8:4096:8", "--format", "csv"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
    )
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    assert proc.returncode in (0, 130), err  # 0 only if it had already finished
    if proc.returncode == 130:
        assert error_line(err) == "error: interrupted"


def test_importing_the_cli_leaves_ctrl_c_alone() -> None:
    code = "import signal, igcsearch.cli; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True)
    assert out.stdout.strip() == "True"


# ---------------------------------------------------------------- the CLI boundary: unexpected errors


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `igcsearch space -c 8` in process with emit_space replaced by ``fail``."""
    from typer.testing import CliRunner

    from igcsearch.cli import app
    from igcsearch.cli import emit as output

    def run(exc: BaseException, env: dict[str, str] | None = None) -> Any:
        def fail(*args: Any, **kwargs: Any) -> None:
            raise exc

        monkeypatch.setattr(output, "emit_space", fail)
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        return CliRunner().invoke(app, ["space", "-c", "8"])

    monkeypatch.delenv("IGCSEARCH_DEBUG", raising=False)
    return run


def _stderr(result: Any) -> str:
    return result.stderr if hasattr(result, "stderr") else result.output


def test_cpu_allocation_failure_names_the_size(invoke: Any) -> None:
    message = (
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 129600000000 bytes. Error code 12 (Cannot allocate memory)"
    )
    result = invoke(RuntimeError(message))
    assert result.exit_code == 1
    assert error_line(_stderr(result)) == (
        "error: out of memory: a tensor of 129.6 GB could not be allocated; "
        "narrow the spec (fewer or narrower channels, a smaller input) and retry"
    )


def test_cuda_out_of_memory_names_the_size(invoke: Any) -> None:
    class OutOfMemoryError(RuntimeError):  # torch.OutOfMemoryError's name and text
        pass

    result = invoke(OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.1 GiB total)"))
    assert result.exit_code == 1
    assert error_line(_stderr(result)).startswith("error: out of memory: a tensor of 20.00 GiB could not be allocated;")


def test_memory_error(invoke: Any) -> None:
    result = invoke(MemoryError())
    assert result.exit_code == 1
    assert error_line(_stderr(result)).startswith("error: out of memory:")


def test_full_disk_anywhere_is_one_line(invoke: Any) -> None:
    result = invoke(OSError(28, "No space left on device", "out/results.csv"))
    assert result.exit_code == 1
    assert error_line(_stderr(result)) == (
        "error: cannot write 'out/results.csv': No space left on device; free some space or write elsewhere"
    )


def test_unexpected_exception_is_one_internal_error_line(invoke: Any) -> None:
    result = invoke(ZeroDivisionError("division by zero"))
    assert result.exit_code == 1
    err = _stderr(result)
    assert "Traceback" not in err
    assert error_line(err) == (
        "error: internal error: ZeroDivisionError: division by zero (set IGCSEARCH_DEBUG=1 for the traceback)"
    )


def test_igcsearch_debug_shows_the_traceback(invoke: Any) -> None:
    result = invoke(ZeroDivisionError("division by zero"), {"IGCSEARCH_DEBUG": "1"})
    assert result.exit_code == 1
    err = _stderr(result)
    assert "Traceback" in err and "ZeroDivisionError: division by zero" in err
    assert error_line(err) == "error: internal error: ZeroDivisionError: division by zero"


def test_usage_error_inside_a_command_keeps_exit_2(invoke: Any) -> None:
    import typer

    result = invoke(typer.BadParameter("bad value", param_hint="'--channels'"))
    assert result.exit_code == 2
    assert "internal error" not in _stderr(result)


def test_ctrl_c_inside_a_command(invoke: Any) -> None:
    result = invoke(KeyboardInterrupt())
    assert result.exit_code == 130
    assert error_line(_stderr(result)) == "error: interrupted"


# ---------------------------------------------------------------- the Python API


def _api() -> Any:
    import igcsearch

    return igcsearch


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ig: ig.enumerate(spec="x"), "spec must be a Spec or None, got str"),
        (lambda ig: ig.enumerate(preset=5), "preset must be a preset name or a path or None, got int"),
        (lambda ig: ig.search(measure="rounds=3", channels=8), "measure must be a dict of measurement options or None, got str"),
        (lambda ig: ig.search(out=5, channels=8), "out must be a directory path or None, got int"),
        (lambda ig: ig.search(measure={"rounds": "3"}, channels=8), "measure['rounds'] must be int, got str"),
        (lambda ig: ig.search(measure={"latency": "no"}, channels=8), "measure['latency'] must be bool, got str"),
        (lambda ig: ig.make_spec("x"), "options must be a dict of option values, got str"),
        (lambda ig: ig.make_spec({1: 2}), "option names must be str, got int 1"),
        (lambda ig: ig.parse_key(5), "key must be a config key (str), got int"),
        (lambda ig: ig.from_dict("x"), "data must be a dict, got str"),
        (lambda ig: ig.get_family(5), "name must be a family name (str), got int"),
        (lambda ig: ig.build(5), "spec must be a BlockConfig, a config dict, a key or a path, got int"),
        (lambda ig: ig.load_results(123), "path must be a path (str or os.PathLike), got int"),
    ],
)  # fmt: skip
def test_api_wrong_type_is_a_type_error(call: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        call(_api())
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda ig: ig.enumerate(channels="abc"), "SpecError", "--channels must be an integer"),
        (lambda ig: ig.enumerate(channels=8, name="../x"), "SpecError", "name '../x' is a path"),
        (lambda ig: ig.enumerate(in_channels="1:4096", out_channels="1:4096"), "SpecError", "16,777,216 channel pairs"),
        (lambda ig: ig.search(channels=8, measure={"bogus": 1}), "SpecError", "unknown measure option(s) bogus"),
        (lambda ig: ig.search(channels=8, measure={"impl": "x"}), "SpecError", "measure impl must be auto, fused or naive"),
        (lambda ig: ig.make_spec({"channels": 8, "balance_tol": "nan"}), "SpecError", "--balance-tol must be >= 1"),
        (lambda ig: ig.parse_key("igc9-x"), "ConfigError", "unknown block family 'igc9'"),
        (lambda ig: ig.from_dict({}), "ConfigError", "config has no 'family' field"),
        (lambda ig: ig.get_family("x"), "ConfigError", "unknown block family 'x'"),
        (lambda ig: ig.build("nope"), "ConfigError", "malformed key 'nope'"),
        (lambda ig: ig.load_results("nope.sqlite"), "SpecError", "no results at 'nope.sqlite'"),
    ],
)  # fmt: skip
def test_api_bad_value_is_the_documented_error(
    call: Any, error: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from igcsearch import errors

    monkeypatch.chdir(tmp_path)
    with pytest.raises(getattr(errors, error)) as info:
        call(_api())
    assert message in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_spec_names() -> None:
    from igcsearch.errors import SpecError
    from igcsearch.spec import check_name

    for good in ("mine", "a b", "v1.2", "igc-L8", "x" * 255, "é"):
        assert check_name(good) == good
    for bad in ("", " ", ".", "..", ".x", "a/b", "/abs", "a\\b", "a\x00b", "a\nb", "x" * 256, "../../../X"):
        with pytest.raises(SpecError, match="it names the results directory"):
            check_name(bad)
