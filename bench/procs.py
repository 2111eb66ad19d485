"""Start the emulator and the gateway as child processes and describe the machine.

Both servers run exactly as a user would run them (`python -m
fleetcost.cli.main emulate|serve`), on free loopback ports, with output
going to log files under the run's temporary directory, so a failure can be
read afterwards without a pipe filling up and stalling a server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        return round(psutil.Process(self.pid).memory_info().rss / 2**20, 2)


def _wait_healthy(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{tail}")
        with contextlib.suppress(OSError), urllib.request.urlopen(
            server.url + "/healthz", timeout=1
        ) as resp:
            if resp.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} on port {server.port} not healthy after {timeout:.0f}s")


@contextlib.contextmanager
def fleetcost(
    name: str, args: list[str], port: int, workdir: Path, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run `fleetcost ARGS`; stop it with SIGINT (graceful: the ledger drains)."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fleetcost.cli.main", *args],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(name, port, proc, log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def stack(workdir: Path, emulator_args: list[str]) -> Iterator[tuple[Server, Server]]:
    """The emulator at zero latency, and one gateway process in front of it."""
    eport, gport = free_port(), free_port()
    emu_args = ["emulate", "--port", str(eport), "--latency", "zero", "--seed", "1",
                *emulator_args]
    with fleetcost("emulator", emu_args, eport, workdir) as emu:
        up = f"http://127.0.0.1:{eport}"
        gw_args = ["serve", "--port", str(gport), "--upstream", f"openai={up}",
                   "--upstream", f"anthropic={up}"]
        env = {"FLEETCOST_DB": str(workdir / "bench.db")}
        with fleetcost("gateway", gw_args, gport, workdir, env) as gw:
            yield emu, gw


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "absent"


def _git() -> dict[str, Any]:
    """Which code was measured: the commit, and whether src/ differed from it."""
    def out(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10, check=False).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"commit": out("rev-parse", "HEAD") or None,
            "src_modified_files": len(out("status", "--porcelain", "src").splitlines())}


def machine() -> dict[str, Any]:
    """What the numbers were measured on; they mean little without it."""
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {m: _version(m) for m in
                     ("fleetcost", "uvicorn", "uvloop", "httptools", "aiohttp", "httpx", "orjson")},
        "wrk": shutil.which("wrk") is not None,
        "git": _git(),
    }
