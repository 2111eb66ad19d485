"""Start real fleetcost processes on loopback for tests.

Servers run as child processes of the test session (`python -m
fleetcost.cli.main ...`), on a free port, and are stopped when the context
exits. Nothing is mocked: tests talk to them over TCP.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} not healthy after {timeout}s")


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, and SIGKILL after 15 s: a graceful stop drains the ledger writer,
    but a wedged server must never hang the test session."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def fleetcost_process(
    args: list[str], port: int, *, cwd: Path | None = None, env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Run `fleetcost ARGS` (which must listen on `port`); yield its base URL."""
    full_env = {**os.environ, **(env or {})}
    # Output goes to a file, not a pipe: nobody reads a pipe while the test
    # runs, and a chatty server would block once its buffer filled.
    # (closed in the finally below)
    log = log_path.open("w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetcost.cli.main", *args],
        cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(base + "/healthz", proc=proc)
        except RuntimeError as exc:
            log.seek(0)
            raise RuntimeError(f"{exc}\n{log.read().decode(errors='replace')[-3000:]}") from None
        yield base
    finally:
        stop_process(proc)
        log.close()
