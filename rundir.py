"""The layout of a run directory, in one place: what training writes and what inference reads.

    <run>/config.json            the resolved configuration, written once (training/run.py)
    <run>/ckpt/                  checkpoints (paper A: ckpt/stage<N>/, one folder per stage)
    <run>/logs/                  TensorBoard event files
    <run>/images/                PNG image grids
    <run>/export/<file>.keras    the exported networks (papers.py names each paper's file)
    <run>/trainer.lock           held by the one trainer of the run while it lives (training/lock.py)

Free of TensorFlow, so that the command line tools read a run without loading the training code.
"""
import json
import os
import tempfile
from pathlib import Path

from errors import UserError

CONFIG_NAME = "config.json"
CKPT, LOGS, IMAGES, EXPORT = "ckpt", "logs", "images", "export"
LOCK = "trainer.lock"


def config_path(run_dir):
    return Path(run_dir) / CONFIG_NAME


def ckpt_dir(run_dir):
    return Path(run_dir) / CKPT


def log_dir(run_dir):
    return Path(run_dir) / LOGS


def image_dir(run_dir):
    return Path(run_dir) / IMAGES


def export_path(run_dir, file):
    """<run_dir>/export/<file>, e.g. export_path(run, "inpainter.keras")."""
    return Path(run_dir) / EXPORT / file


def has_checkpoints(run_dir):
    """True once anything was saved under run_dir/ckpt (any stage, any layout)."""
    ckpt = ckpt_dir(run_dir)
    return ckpt.is_dir() and any(p.is_file() for p in ckpt.rglob("*"))


def read_config(run_dir):
    """The run's config.json as a dict, None when there is none; unreadable -> UserError."""
    path = config_path(run_dir)
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path} ({' '.join(str(e).split())[:120]}); fix or delete it, "
                        f"or use another run directory") from None
    if not isinstance(config, dict):
        raise UserError(f"{path} holds a {type(config).__name__}, not the settings of a run; fix or delete it, "
                        f"or use another run directory")
    return config


def config_value(config, key, kind, path="config.json"):
    """config[key] checked to be of `kind` (int, str, ...; bool is not an int): a hand-edited value like
    `"image_size": "abc"` or null ends in one line naming the key, not a TypeError deep inside."""
    value = config.get(key)
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if not ok:
        raise UserError(f"{path}: {key} must be {getattr(kind, '__name__', kind)}, got {value!r}; fix or delete "
                        f"that file, or use another run directory")
    return value


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
