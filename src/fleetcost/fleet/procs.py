"""Running fleetcost servers as child processes on loopback.

The demo runs the emulator and the gateway exactly as a user would (`python
-m fleetcost.cli.main ...`), each on a free port, so it exercises the real
servers over TCP. A child's output goes to a log file rather than a pipe:
nobody reads a pipe while the demo runs, and a full pipe would stall the
server. When a child dies before it is ready, the error quotes its log.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from fleetcost.errors import FleetcostError

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class ChildFailed(FleetcostError):
    """A child server did not come up; the message carries the end of its log."""


@dataclass(slots=True)
class Child:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""


def free_port() -> int:
    """A port free right now; another process could take it before the child binds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    name: str, args: list[str], port: int, *, log_dir: Path,
    env: Mapping[str, str] | None = None,
) -> Child:
    """Start `fleetcost ARGS` (which must listen on `port`); `env` replaces the environment."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fleetcost.cli.main", *args],
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            # Own process group: Ctrl-C reaches the demo, which then stops
            # the children in order (the gateway drains its ledger first).
            start_new_session=True,
        )
    return Child(name, f"http://127.0.0.1:{port}", proc, log_path)


def wait_healthy(child: Child, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise ChildFailed(
                f"the {child.name} exited with code {child.proc.returncode} before it was "
                f"ready; its log ends with:\n{child.log_tail()}"
            )
        try:
            with urllib.request.urlopen(child.url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise ChildFailed(
        f"the {child.name} at {child.url} was not healthy after {timeout:.0f}s; "
        f"its log ends with:\n{child.log_tail()}"
    )


def stop(child: Child, timeout: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM (a graceful shutdown that drains the ledger), then SIGKILL if it hangs."""
    if child.proc.poll() is None:
        child.proc.send_signal(signal.SIGTERM)
        try:
            child.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
    return child.proc.returncode


@contextlib.contextmanager
def running(child: Child) -> Iterator[Child]:
    """Stop `child` when the block exits, however it exits."""
    try:
        yield child
    finally:
        stop(child)
