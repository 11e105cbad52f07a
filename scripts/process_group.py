"""Run a command as a worker in a process group of its own, and leave nothing of that group behind.

The caller (scripts/demo.py, what `make demo` runs) stays in the terminal's
process group; the worker and everything it starts are in the worker's group,
which no terminal signal reaches. A SIGINT (Ctrl-C), SIGTERM or SIGHUP to the
caller, or the worker's own exit, ends in the same place: SIGTERM to the worker
(it stops what it started, in order), then, after a grace period or at a second
signal, SIGKILL to whatever is still in its group.

Why not one process: Ctrl-C in `make demo 2>&1 | tee log` kills tee too, so a
line printed while stopping raises BrokenPipeError, and a process cannot kill
the group it is in without killing make and tee with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    pass


def _stop(signum, frame) -> None:
    raise _Stop


def supervise(argv: list[str], env: dict[str, str], grace_s: float) -> int:
    """Run the worker until it exits or a stop signal comes; its exit status, or 130 when stopped."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    worker = subprocess.Popen(argv, env=env, process_group=0)
    stopped = False
    try:
        # Wait without reaping (WNOWAIT): while the worker is a zombie its pid still names
        # its group, so that no other process can take the number before the group is emptied.
        os.waitid(os.P_PID, worker.pid, os.WEXITED | os.WNOWAIT)
    except _Stop:
        stopped = True
    finally:
        stop_group(worker, grace_s)
    return 130 if stopped else worker.returncode % 256  # 130: as a shell reports a Ctrl-C


def stop_group(worker: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM to the worker, then SIGKILL to whatever is left in its group; a second
    Ctrl-C (or SIGTERM, SIGHUP) meanwhile cuts the wait short."""
    hurry: list[int] = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: hurry.append(signum))
    if _running(worker.pid):
        os.kill(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _running(worker.pid) and not hurry and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.wait()  # reaps it, at last


def _running(pid: int) -> bool:
    """Whether the child is still running, without reaping it (WNOWAIT) when it has exited."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
