"""Which process of a multi-worker run this is (`--strategy multiworker`), read from TF_CONFIG.

Pure Python (no TensorFlow op runs here), so run.open_run can ask before the strategy exists.
The chief is TF's: the task of type "chief", else worker 0 (tensorflow/python/distribute/
multi_worker_util.py is_chief). Only the chief writes config.json, checkpoints, TensorBoard
logs, image grids and exports; the other workers compute the same steps and write nothing into
--run-dir (checkpoint.py lets them save to a local temporary folder, deleted at once, so that
every worker takes part in a save).

`activate(worker)` is called by setup.make_strategy("multiworker"); `is_chief()` then answers
for the running process (True for every other strategy, and before any strategy exists).
"""
import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass

from errors import UserError

EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
           '"task": {"type": "worker", "index": 0}}\' (index = this machine\'s place in the list)')
TASK_TYPES = ("chief", "worker")


@dataclass(frozen=True)
class Worker:
    task_type: str
    task_id: int
    num_workers: int          # tasks that train: chief + workers
    has_chief_task: bool

    @property
    def chief(self):
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_id == 0
                                              and not self.has_chief_task)

    @property
    def name(self):
        return f"{self.task_type} {self.task_id}"


def from_env(environ=None):
    """The Worker that TF_CONFIG describes; UserError (one line, says what to set) if it is unusable."""
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        raise UserError(f"--strategy multiworker needs TF_CONFIG on every worker, e.g. {EXAMPLE}; "
                        f"or use --strategy default / mirrored on one machine")
    try:
        config = json.loads(text)
    except ValueError as e:
        raise UserError(f"TF_CONFIG is not valid JSON ({e}); set it like {EXAMPLE}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UserError(f"TF_CONFIG needs a \"cluster\" and a \"task\" object; set it like {EXAMPLE}")
    for kind, hosts in cluster.items():
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and ":" in h for h in hosts):
            raise UserError(f"TF_CONFIG cluster.{kind} must be a list of \"host:port\" strings, got {hosts!r}; "
                            f"set it like {EXAMPLE}")
    if "worker" not in cluster and "chief" not in cluster:
        raise UserError(f"TF_CONFIG cluster lists no \"worker\" (or \"chief\"); set it like {EXAMPLE}")
    if len(cluster.get("chief", [])) > 1:
        raise UserError(f"TF_CONFIG cluster.chief must hold one address, got {len(cluster['chief'])}")
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in TASK_TYPES:
        raise UserError(f"TF_CONFIG task.type must be \"worker\" or \"chief\" for training, got {task_type!r}; "
                        f"set it like {EXAMPLE}")
    if task_type not in cluster:
        raise UserError(f"TF_CONFIG task.type {task_type!r} is not in its cluster ({', '.join(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise UserError(f"TF_CONFIG task.index must be 0..{len(cluster[task_type]) - 1} "
                        f"(a place in cluster.{task_type}), got {index!r}")
    return Worker(task_type, index, sum(len(cluster.get(k, [])) for k in TASK_TYPES), "chief" in cluster)


def for_strategy(name, environ=None):
    """The Worker of this process if `name` is "multiworker" (TF_CONFIG checked), else None."""
    return from_env(environ) if name == "multiworker" else None


_ACTIVE = None     # the Worker of the running multi-worker strategy, None otherwise


def activate(worker):
    """Record the Worker of the strategy just created (None: not a multi-worker run)."""
    global _ACTIVE
    _ACTIVE = worker


def active():
    return _ACTIVE


def is_chief():
    """True unless this process is a non-chief worker of a --strategy multiworker run."""
    return _ACTIVE is None or _ACTIVE.chief


@contextlib.contextmanager
def throwaway_dir(prefix):
    """A fresh local folder, deleted on exit: where a non-chief worker makes the saves that every
    worker must take part in (checkpoints, exports) without writing into the shared run dir."""
    temp = tempfile.mkdtemp(prefix=prefix)
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)
