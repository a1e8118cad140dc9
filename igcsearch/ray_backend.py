"""Measuring on a Ray cluster (``--backend ray``; the optional ``ray`` extra).

The driver enumerates and owns the results store; Ray tasks build, count and time one
candidate each. A CPU task reserves ``threads`` CPUs (the threads it times with) and, on
Linux, pins its process to ``threads`` cores of its node that no other measurement holds
(:func:`cpu_slot`: a per-core file lock, then ``sched_setaffinity``), so no two measurements
share a core; a CUDA task reserves one whole GPU. Results stream back as tasks finish and are
committed at once; a task whose worker dies is retried (``max_retries``), a candidate that
fails is returned with its error. Without ``address`` a local Ray instance is started; on a
cluster, start it with ``ray start --head`` and pass ``--address``. A request no node can
meet (more ``--threads`` than any node's CPUs, CUDA without a GPU) and an address that does
not answer are refused at once instead of waiting forever.

Latency on Ray is measured per candidate on its worker (warm-up, then ``rounds`` calibrated
``Timer.timeit`` measurements, as locally): candidates run on different cores, so
interleaving across them does not apply. Counts are taken on the module as it is timed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import IgcSearchError

LOCK_NAME = "igcsearch-cpu-{}.lock"  # one per core of a node, in its temp directory
CONNECT_TIMEOUT = 5.0  # seconds for an explicit HOST:PORT to accept a TCP connection


# ---------------------------------------------------------------- cores of one node


@contextlib.contextmanager
def cpu_slot(threads: int, lock_dir: Path | None = None, poll: float = 0.05) -> Iterator[list[int]]:
    """Hold ``threads`` cores of this node for one measurement: locked, and this process pinned to them.

    Slot j is cores [j·threads, (j+1)·threads) of the process's CPU affinity; each core is
    claimed with an exclusive ``flock`` on ``<lock_dir>/igcsearch-cpu-<core>.lock`` (released
    when the holder exits, even by ``kill -9``), so measurements of any igcsearch run on the
    node never share a core. Every thread of the process (torch's pool too) is pinned to the
    slot while the block runs and restored after. Waits while every slot is held (Ray's
    ``num_cpus`` accounting keeps that short). Yields the cores. Where ``sched_setaffinity``
    does not exist (not Linux) it pins nothing and yields []: only Ray's CPU reservation keeps
    measurements apart there.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield []
        return
    cores = sorted(os.sched_getaffinity(os.getpid()))
    if not 1 <= threads <= len(cores):
        raise IgcSearchError(f"--threads {threads}: this node lets the measurement use {len(cores)} core(s)")
    slots = [cores[j * threads : (j + 1) * threads] for j in range(len(cores) // threads)]
    lock_dir = Path(lock_dir) if lock_dir is not None else Path(tempfile.gettempdir())
    held, slot = _claim(slots, lock_dir, poll)
    try:
        previous = _pin(slot)
        try:
            yield slot
        finally:
            _restore(previous)
    finally:
        for fd in held:
            os.close(fd)  # releases the flock


def _claim(slots: list[list[int]], lock_dir: Path, poll: float) -> tuple[list[int], list[int]]:
    """(open lock fds, cores) of the first slot whose every core lock is free; waits until one is."""
    while True:
        for slot in slots:
            held = _lock_all(slot, lock_dir)
            if held is not None:
                return held, slot
        time.sleep(poll)


def _lock_all(cores: list[int], lock_dir: Path) -> list[int] | None:
    """Non-blocking exclusive locks on every core of a slot, or None (and nothing held) if one is taken."""
    import fcntl  # POSIX; only reached where sched_setaffinity exists

    held: list[int] = []
    for core in cores:
        fd = os.open(lock_dir / LOCK_NAME.format(core), os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            for other in held:
                os.close(other)
            return None
        held.append(fd)
    return held


def _threads() -> list[int]:
    """Ids of every thread of this process (the process id alone where /proc is missing)."""
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def _pin(cores: list[int]) -> dict[int, set[int]]:
    """Pin every thread of the process to ``cores``; returns each thread's previous affinity."""
    previous = {}
    for tid in _threads():
        try:
            previous[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cores)
        except OSError:  # the thread ended meanwhile
            previous.pop(tid, None)
    return previous


def _restore(previous: dict[int, set[int]]) -> None:
    for tid, mask in previous.items():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, mask)


# ---------------------------------------------------------------- one task


def measure_one(key: str, input_size: int, opts: dict[str, Any], with_counts: bool, acts: int) -> dict[str, Any]:
    """Build, count and time one candidate (runs inside a Ray task); on CPU on a core slot of its own."""
    from .measure import MeasureOptions

    mo = MeasureOptions(**opts)
    slot = cpu_slot(mo.threads) if mo.device == "cpu" else contextlib.nullcontext([])
    with slot as cores:
        out = _measure(key, input_size, mo, with_counts, acts)
    out["cores"] = cores
    return out


def _measure(key: str, input_size: int, mo: Any, with_counts: bool, acts: int) -> dict:
    from .measure import error_text, latency, measure_counts, peak_memory

    out: dict[str, Any] = {"key": key, "input_size": input_size, "error": "", "samples": []}
    try:
        prepared, counted = measure_counts(key, input_size, mo, with_counts)
        if counted is not None:
            out["params_measured"], out["macs_measured"] = counted
        out["peak_mem_bytes"] = peak_memory(*prepared, mo, acts)[0]
        if mo.latency:

            def on_error(_: int, message: str) -> None:
                out["error"] = message

            samples = latency([prepared], mo, on_error=on_error)[0]
            out["samples"] = [] if out["error"] else samples.tolist()
    except Exception as exc:  # reported in the row; the search goes on
        out["error"] = error_text(exc)
    return out


# ---------------------------------------------------------------- the cluster


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse an explicit ``[ray://]HOST:PORT`` that does not accept a TCP connection (ray.init would hang)."""
    match = re.fullmatch(r"(?:ray://)?(\[[^\]]+\]|[^:/\[\]]+):(\d+)", address.strip())
    if match is None:
        return  # "auto", "local", …: Ray resolves those itself
    host, port = match[1].strip("[]"), int(match[2])
    deadline = time.monotonic() + timeout
    try:
        if not 0 < port < 65536:
            raise OSError(0, f"port {port} is out of range")
        addresses = _resolve(host, port, timeout)  # name resolution counts against the same 5 s
        last: OSError = OSError(0, "no address")
        for family, kind, proto, _, sockaddr in addresses:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(0, f"no answer within {timeout:g} s")
            try:
                with socket.socket(family, kind, proto) as sock:
                    sock.settimeout(left)
                    sock.connect(sockaddr)
                    if not _tls():  # a TLS cluster answers only after a handshake: the TCP connect must do
                        _answers(sock, deadline, f"{host}:{port}")
                return
            except TimeoutError:
                raise TimeoutError(0, f"no Ray server answered within {timeout:g} s") from None
            except OSError as exc:
                last = exc
        raise last
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise IgcSearchError(
            f"cannot reach Ray at {address}: {reason}; start the head with `ray start --head` or fix --address"
        ) from None


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
GRPC_PATH = "/ray.rpc.NodeInfoGcsService/GetClusterId"  # any path: a gRPC server answers HTTP 200 to all


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def _literal(name_index: int, value: str) -> bytes:  # HPACK literal without indexing, indexed name (< 15)
    data = value.encode()
    return bytes([name_index, len(data)]) + data


def _request(authority: str) -> bytes:
    """The HTTP/2 preface, SETTINGS, and one gRPC call (HEADERS + an empty message)."""
    block = (
        b"\x83\x86"  # :method POST, :scheme http
        + _literal(4, GRPC_PATH)
        + _literal(1, authority)
        + b"\x0f\x10" + bytes([16]) + b"application/grpc"  # content-type (static index 31)
        + b"\x00\x02te\x08trailers"
    )  # fmt: skip
    return (
        H2_PREFACE
        + _frame(4, 0, 0, b"")
        + _frame(1, 4, 1, block)  # END_HEADERS
        + _frame(0, 1, 1, b"\x00\x00\x00\x00\x00")  # END_STREAM
    )


def _tls() -> bool:
    """Whether Ray is set to talk TLS (``RAY_USE_TLS``), where a plain HTTP/2 probe cannot be answered."""
    return os.environ.get("RAY_USE_TLS", "0").strip().lower() in ("1", "true", "yes")


def _answers(sock: socket.socket, deadline: float, authority: str) -> None:
    """A gRPC server (Ray's GCS or Ray Client) must answer on the port, within the deadline.

    A port that accepts the connection but never answers, or answers as something else (a
    proxy's HTTP 404, a closed connection), would make ``ray.init`` wait far longer than the
    5 s promised: one HTTP/2 request tells them apart. gRPC answers every call with HTTP
    status 200 (HPACK static entry 8), even for a method it does not have.
    """
    sock.sendall(_request(authority))
    buffer = b""
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(0, "the connection was closed without an answer (no Ray server there)")
        buffer += chunk
        while len(buffer) >= 9:
            size = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + size:
                break
            kind, flags, stream = buffer[3], buffer[4], int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
            payload, buffer = buffer[9 : 9 + size], buffer[9 + size :]
            if kind == 7:  # GOAWAY
                raise ConnectionError(0, "the server refused the call (not a Ray server)")
            if kind == 1 and stream == 1:
                start = (1 if flags & 0x08 else 0) + (5 if flags & 0x20 else 0)
                first = payload[start] if len(payload) > start else 0
                if first & 0x80 and 9 <= first & 0x7F <= 14:  # :status 204, 206, 304, 400, 404 or 500
                    status = {9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}[first & 0x7F]
                    raise ConnectionError(0, f"it answers HTTP {status}: not a Ray server")
                return


def _resolve(host: str, port: int, timeout: float) -> list[tuple]:
    """getaddrinfo with a time limit (it has none of its own); OSError when it fails or takes longer."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(0, f"{host} did not resolve within {timeout:g} s") from None
    finally:
        pool.shutdown(wait=False)


def check_resources(nodes: list[dict[str, Any]], device: str, threads: int) -> None:
    """Refuse a per-task request that no alive node can ever meet (Ray would queue it forever)."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", False)]
    cpus = max((float(r.get("CPU", 0)) for r in alive), default=0.0)
    if device == "cuda":
        gpus = max((float(r.get("GPU", 0)) for r in alive if float(r.get("CPU", 0)) >= 1), default=0.0)
        if gpus < 1:
            raise IgcSearchError(
                f"--device cuda on Ray: none of the {len(alive)} Ray node(s) has a GPU (and a CPU) for a task"
            )
    elif cpus < threads:
        raise IgcSearchError(
            f"--threads {threads} on Ray: no Ray node has {threads} CPUs (the largest of {len(alive)} has {cpus:g}); "
            "lower --threads or add a bigger node"
        )


def connect(address: str | None, opts: Any) -> Any:
    """The ``ray`` module, initialised (a local instance, or the cluster at ``address``) and checked."""
    try:
        import ray
    except ImportError:
        raise IgcSearchError("--backend ray needs Ray: pip install 'igcsearch[ray]'") from None
    if not ray.is_initialized():
        if address:
            check_reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except Exception as exc:
            raise IgcSearchError(
                f"cannot connect to Ray{' at ' + address if address else ''}: {exc}".splitlines()[0]
            ) from None
    check_resources(ray.nodes(), opts.device, opts.threads)
    return ray


def run(
    jobs: list[tuple[str, int, bool, int]],
    opts: Any,
    address: str | None,
    on_result: Callable[[dict[str, Any]], None],
) -> None:
    """Measure (key, input_size, with_counts, acts) jobs on Ray; call ``on_result`` as each finishes."""
    ray = connect(address, opts)
    resources = {"num_gpus": 1, "num_cpus": 1} if opts.device == "cuda" else {"num_cpus": opts.threads}
    task = ray.remote(max_retries=3, **resources)(measure_one)
    od = dataclasses.asdict(opts)
    refs = {task.remote(k, s, od, c, a): (k, s) for k, s, c, a in jobs}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            try:
                on_result(ray.get(ref))
            except ray.exceptions.RayError as exc:  # retries exhausted: record, go on
                key, size = refs[ref]
                on_result({"key": key, "input_size": size, "error": f"ray: {exc}".splitlines()[0], "samples": []})
