"""Opening a run directory: config.json written once and checked on every rerun.

The layout of a run directory (config.json, ckpt/, logs/, images/, export/) is in rundir.py.

A rerun with the same --run-dir resumes. Settings that shape the model, the data or the
optimizer must not change in between (a changed one is refused, naming it); "runtime"
settings (RUNTIME_KEYS: --steps, --log-every, --xla, ...) may. A flag the user does not repeat
on the rerun takes its value from the saved config, so `--run-dir R --steps 40000` continues
run R whatever else it was started with.
"""
import json
import sys
from pathlib import Path

import rundir
from errors import UserError
from training import cluster, lock
from training.flags import config_of

# Settings that do not change the model, the optimizer or the batches it sees.
RUNTIME_KEYS = frozenset({
    "run_dir", "steps", "data_dir", "vgg_weights", "xla", "strategy", "deterministic",
    "log_every", "save_every", "image_every", "keep",
})


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
        return rundir.ckpt_dir(self.dir)

    @property
    def log_dir(self):
        return rundir.log_dir(self.dir)

    @property
    def image_dir(self):
        return rundir.image_dir(self.dir)

    def export_path(self, file):
        return rundir.export_path(self.dir, file)


def open_run(args, runtime_keys=(), log=print, legacy=None):
    """Create or reopen `args.run_dir`; write config.json; return a Run.

    A run directory with a config.json but no checkpoint yet is started afresh with the given
    settings. On a rerun, flags the user did not type (args._given, set by flags.parse) take their saved
    values (`args` is updated in place); a typed flag outside RUNTIME_KEYS | runtime_keys that
    differs from the saved value raises UserError listing every such difference. Under
    --strategy multiworker only the chief (TF_CONFIG, see cluster.py) creates the directory and
    writes config.json; the other workers only read it.

    legacy: {key: value or fn(saved config) -> value} for settings added after a run may have
    started: a resumed run whose config.json lacks `key` keeps the behaviour it was started with
    (e.g. paper D's --d-lr: such runs trained D at --lr) unless the flag is typed.
    """
    run_dir = Path(args.run_dir)
    typed = cluster.for_strategy(getattr(args, "strategy", "default"))
    if typed is not None and not typed.chief:
        log = None                   # a non-chief worker: the chief says it
    config, resumed, adopted = _merge(args, runtime_keys, legacy, log)
    # --strategy multiworker: only the chief writes the run directory (the others read it).
    worker = cluster.for_strategy(getattr(args, "strategy", "default"))
    if worker is not None and not worker.chief:
        return Run(run_dir, config, resumed, adopted)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire(run_dir, log or print)        # one trainer per run directory (the chief's, here)
        rundir.write_json_atomic(rundir.config_path(run_dir), {**config, "_versions": _versions()})
    except OSError as e:
        raise UserError(f"cannot write the run directory {run_dir} ({e.strerror}); choose another --run-dir") from None
    if resumed and log:
        note = f" (from its config.json: {', '.join(f'{k}={config[k]!r}' for k in adopted)})" if adopted else ""
        log(f"reopening run {run_dir}{note}")
    return Run(run_dir, config, resumed, adopted)


def preview(args, runtime_keys=(), legacy=None):
    """The configuration open_run(args) would train with (a resumed run's saved settings adopted,
    changed settings refused), writing nothing: --print-config."""
    return _merge(args, runtime_keys, legacy, None)[0]


def _merge(args, runtime_keys, legacy, log):
    """(config, resumed, adopted): args' configuration merged with a resumable run's config.json."""
    run_dir = Path(args.run_dir)
    runtime = RUNTIME_KEYS | frozenset(runtime_keys)
    config = json.loads(json.dumps(config_of(args)))   # tuples -> lists, as they come back from disk
    path = rundir.config_path(run_dir)
    resumed, adopted = False, []
    if path.exists() and not rundir.has_checkpoints(run_dir):
        # Nothing was trained yet (e.g. the first try named a missing dataset): start afresh.
        if log:
            log(f"{run_dir} has a config.json but no checkpoint yet: starting it afresh")
    elif path.exists():
        saved = rundir.read_config(run_dir)
        given = getattr(args, "_given", None)
        for key, old in (legacy or {}).items():
            if key in config and key not in saved and key not in (given or ()):
                value = old(saved) if callable(old) else old
                setattr(args, key, value)
                config[key] = value
                adopted.append(key)
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
    return config, resumed, adopted
