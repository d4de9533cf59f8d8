"""One trainer per run directory: an exclusive lock on <run_dir>/trainer.lock while a trainer lives.

The lock is an fcntl.flock on an open file, so the kernel releases it when the process ends in any
way (exit, crash, SIGKILL): a lock left by a dead trainer is never "stale" for long, it is simply
free, and the next trainer takes it over with a note naming the one that left it. The file says
who holds the lock (host, PID, start time) for the message a second trainer prints. A process
holds each run directory's lock once and keeps it until it exits (re-entrant: paper A's three
stages, or the demo's runs, may open the same directory again in one process).
"""
import atexit
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from errors import UserError

LOCK_NAME = "trainer.lock"
_HELD = {}     # real path of the lock file -> open file object (kept open: the lock lives with it)


def _holder(text):
    try:
        info = json.loads(text)
        return f"host {info['host']}, PID {info['pid']}, since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return None


def acquire(run_dir, log=print):
    """Lock `run_dir` for this process, or raise UserError naming the trainer that holds it."""
    path = Path(run_dir) / LOCK_NAME
    key = os.path.realpath(path)
    if key in _HELD:
        return path
    f = open(path, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        who = _holder(f.read()) or "another process"
        f.close()
        raise UserError(f"{run_dir} is in use by another trainer ({who}): wait for it to finish, stop it, "
                        f"or use another --run-dir") from None
    f.seek(0)
    left = _holder(f.read())
    if left:
        log(f"note: took over the lock of {run_dir} left by a trainer that is gone ({left})")
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                        "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
    f.flush()
    if not _HELD:
        atexit.register(_release_all)           # a clean exit (Ctrl-C too) leaves an empty lock file
    _HELD[key] = f
    return path


def release(run_dir):
    """Give the lock back early (a process that goes on after training; exit releases it anyway).
    The file is emptied first, so the next trainer sees a clean hand-over, not a dead holder."""
    _release(os.path.realpath(Path(run_dir) / LOCK_NAME))


def _release(key):
    f = _HELD.pop(key, None)
    if f is not None:
        f.seek(0)
        f.truncate()
        f.flush()
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


def _release_all():
    for key in list(_HELD):
        _release(key)
