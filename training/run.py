"""The run directory: config.json written once and checked on every rerun, plus the CLI guard.

Layout of a run directory:
    config.json   the resolved configuration (flags after paper defaults and --smoke)
    ckpt/         checkpoints (checkpoint.py)
    logs/         TensorBoard event files (summaries.py)
    images/       PNG image grids (summaries.py)

A rerun with the same --run-dir resumes. Settings that shape the model, the data or the
optimizer must not change in between (a changed one is refused, naming it); "runtime"
settings (RUNTIME_KEYS: --steps, --log-every, --xla, ...) may. A flag the user does not repeat
on the rerun takes its value from the saved config, so `--run-dir R --steps 40000` continues
run R whatever else it was started with.
"""
import functools
import json
import os
import sys
import tempfile
from pathlib import Path

from errors import UserError
from training import cluster, lock
from training.flags import config_of

CONFIG_NAME = "config.json"

# Settings that do not change the model, the optimizer or the batches it sees.
RUNTIME_KEYS = frozenset({
    "run_dir", "steps", "data_dir", "vgg_weights", "xla", "strategy", "deterministic",
    "log_every", "save_every", "image_every", "keep",
})


def write_json_atomic(path, data):
    """Write JSON so that a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _versions():
    import keras
    import tensorflow as tf
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "python": sys.version.split()[0]}


class Run:
    """An opened run directory: `dir`, `config` (dict), `resumed`, `adopted` (keys taken from disk)."""

    def __init__(self, directory, config, resumed, adopted):
        self.dir = Path(directory)
        self.config = config
        self.resumed = resumed
        self.adopted = adopted

    @property
    def ckpt_dir(self):
        return self.dir / "ckpt"

    @property
    def log_dir(self):
        return self.dir / "logs"

    @property
    def image_dir(self):
        return self.dir / "images"


def open_run(args, runtime_keys=(), log=print):
    """Create or reopen `args.run_dir`; write config.json; return a Run.

    A run directory with a config.json but no checkpoint yet is started afresh with the given
    settings. On a rerun, flags the user did not type (args._given, set by flags.parse) take their saved
    values (`args` is updated in place); a typed flag outside RUNTIME_KEYS | runtime_keys that
    differs from the saved value raises UserError listing every such difference. Under
    --strategy multiworker only the chief (TF_CONFIG, see cluster.py) creates the directory and
    writes config.json; the other workers only read it.
    """
    run_dir = Path(args.run_dir)
    typed = cluster.for_strategy(getattr(args, "strategy", "default"))
    if typed is not None and not typed.chief:
        log = None                   # a non-chief worker: the chief says it
    runtime = RUNTIME_KEYS | frozenset(runtime_keys)
    config = json.loads(json.dumps(config_of(args)))   # tuples -> lists, as they come back from disk
    path = run_dir / CONFIG_NAME
    resumed, adopted = False, []
    if path.exists() and not _has_checkpoints(run_dir):
        # Nothing was trained yet (e.g. the first try named a missing dataset): start afresh.
        if log:
            log(f"{run_dir} has a config.json but no checkpoint yet: starting it afresh")
    elif path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read {path} ({e}); fix or delete it, or use a new --run-dir") from None
        given = getattr(args, "_given", None)
        if given is not None:
            for key, value in saved.items():
                if key in config and key not in given and config[key] != value:
                    setattr(args, key, value)
                    config[key] = value
                    adopted.append(key)
        changed = [k for k in sorted(config) if k in saved and k not in runtime and config[k] != saved[k]]
        if changed:
            diffs = ", ".join(f"{k} {saved[k]!r} -> {config[k]!r}" for k in changed)
            raise UserError(f"{run_dir} was started with other settings ({diffs}); "
                            f"repeat the saved values or use a new --run-dir")
        resumed = True
    # --strategy multiworker: only the chief writes the run directory (the others read it).
    worker = cluster.for_strategy(getattr(args, "strategy", "default"))
    if worker is not None and not worker.chief:
        return Run(run_dir, config, resumed, adopted)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire(run_dir, log or print)        # one trainer per run directory (the chief's, here)
        write_json_atomic(path, {**config, "_versions": _versions()})
    except OSError as e:
        raise UserError(f"cannot write the run directory {run_dir} ({e.strerror}); choose another --run-dir") from None
    if resumed and log:
        note = f" (from its config.json: {', '.join(f'{k}={config[k]!r}' for k in adopted)})" if adopted else ""
        log(f"reopening run {run_dir}{note}")
    return Run(run_dir, config, resumed, adopted)


def _has_checkpoints(run_dir):
    """True once anything was saved under run_dir/ckpt (any stage, any layout)."""
    ckpt = Path(run_dir) / "ckpt"
    return ckpt.is_dir() and any(p.is_file() for p in ckpt.rglob("*"))


def main_guard(fn):
    """Decorate a CLI main: UserError -> one line on stderr + exit 2; Ctrl-C -> one line + exit 130.

    The train loop saves a checkpoint before it lets a Ctrl-C through (loop.Interrupted).
    """
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            print(f"error: {_one_line(e)}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt as e:
            print(_one_line(e) or "interrupted", file=sys.stderr)
            raise SystemExit(130) from None
    return guarded


def cli(main, argv=None):
    """`if __name__ == "__main__": cli(main)`: run main(argv) guarded and exit with its status."""
    result = main_guard(main)(sys.argv[1:] if argv is None else argv)
    raise SystemExit(result if isinstance(result, int) else 0)


def _one_line(e):
    return " ".join(str(e).splitlines()).strip()
