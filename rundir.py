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
    return checked_config(config, path)


# The type of every config.json value a model is built from or a run resumes with (one schema, not
# key by key): a hand-edited `"image_size": "abc"` ends in one line naming the key, the value and
# the type expected, not a TypeError deep inside. None is allowed where a flag's default is None.
SCHEMA = dict(
    paper=str, image_size=int, batch_size=int, width=int, filters=int, blocks=int, d_filters=int, d_dense=int,
    z_dim=int, code_dim=int, bottleneck=int, local_size=int, fc_units=int, stage=int, variant=str, mask=str,
    loss=str, dataset=str, residual=bool, global_residual=bool, rec_only=bool, gp=bool,
    steps=(int, None), seed=int, lr=(float, None), d_lr=(float, None), alpha=float, beta=float, sharp_fraction=float,
)


def _type_ok(value, kind):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if value is None:
        return None in kinds
    if isinstance(value, bool):
        return bool in kinds
    return any(k is not None and (isinstance(value, k) or (k is float and isinstance(value, int))) for k in kinds)


def checked_config(config, path="config.json"):
    """`config` with every SCHEMA key it holds checked for its type; a wrong one -> one-line UserError."""
    for key, kind in SCHEMA.items():
        if key in config and not _type_ok(config[key], kind):
            names = " or ".join("null" if k is None else k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise UserError(f"{path}: {key} must be {names}, got {config[key]!r}; fix or delete that file, "
                            f"or use another run directory")
    return config


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
