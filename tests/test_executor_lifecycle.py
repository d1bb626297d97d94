"""No orphan workers when the driver is interrupted (Ctrl-C) or killed outright."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DRIVER = """
import time
from evolve.execution.local import LocalExecutor
with LocalExecutor(time.sleep, n_workers=2, time_limit_s=120) as ex:
    assert ex.wait_ready(timeout=60)
    ex.submit("long", 60)
    list(ex.results(timeout=0.3))
    print(" ".join(map(str, ex.worker_pids())), flush=True)
    for _ in ex.results():
        pass
"""


def alive(pid: int) -> bool:
    """Running and not a zombie (a reparented zombie may linger where PID 1 does not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def start_driver() -> tuple[subprocess.Popen, list[int]]:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", DRIVER], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    pids = [int(p) for p in line.split()]
    assert len(pids) == 2, proc.stderr.read() if not line else line
    assert all(alive(p) for p in pids)
    return proc, pids


def wait_gone(pids: list[int], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_driver_interrupt_or_kill_leaves_no_workers(sig):
    proc, pids = start_driver()
    try:
        proc.send_signal(sig)
        proc.wait(timeout=20)
        assert wait_gone(pids, within_s=5.0), "workers outlived the driver"
        if sig == signal.SIGINT:
            assert "KeyboardInterrupt" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
