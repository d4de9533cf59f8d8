"""Export a trained network as a standalone `.keras` file, loadable without the training state."""
import os
import tempfile
from pathlib import Path

import keras

from errors import UserError
from training import cluster


def export_model(model, path):
    """Save `model` to `path` (.keras) atomically: a crash leaves the old file or the new one.

    --strategy multiworker: call it on every worker (reading ON_READ variables would need all of
    them); a non-chief saves into a local temporary folder that is deleted at once, only the
    chief writes `path`. Returns `path` on every worker.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise UserError(f"an exported model must end in .keras, got {path}")
    if not cluster.is_chief():
        with cluster.throwaway_dir("export-") as temp:
            model.save(os.path.join(temp, path.name))
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_exported(path):
    """Load an exported `.keras` model for inference; a missing or unreadable file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no model file at {path}; pass a trained run directory or an exported .keras file")
    import zipfile
    if not zipfile.is_zipfile(path):                 # a .keras file is a zip archive
        raise UserError(f"{path} is not a Keras model file (damaged or another format); re-export it from "
                        f"its run directory")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # a truncated zip, a foreign file, an unregistered custom layer
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load model {path} ({first[:160]}); re-export it from its run directory") from None
