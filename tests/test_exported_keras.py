"""An exported .keras file loads with plain Keras after one `import models` (docs/USAGE.md says so),
in a fresh process, and computes what the Keras model computed."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import papers

ROOT = Path(__file__).resolve().parents[1]
LOAD = '''
import sys
import keras, numpy as np
import models                      # registers this repository's custom layers
inputs = [np.load(p) for p in sys.argv[2:]]
out = keras.models.load_model(sys.argv[1])(inputs if len(inputs) > 1 else inputs[0])
np.save(sys.argv[1] + ".out.npy", np.asarray(out))
'''


def _exports():
    """(name, keras.Model, inputs) for the inference networks papers A, B, D and E export."""
    from models import context_encoder as ce
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    mask = np.zeros((2, 32, 32, 1), np.float32)
    mask[:, 8:24, 8:24] = 1
    a = papers.networks(dict(paper="A", image_size=32, width=4, residual=True))["generator"]
    b = papers.networks(dict(paper="B", image_size=32, width=4, code_dim=8, residual=True))["generator"]
    d = papers.networks(dict(paper="D", image_size=32, width=4, bottleneck=8, mask="center", rec_only=True))
    e = papers.networks(dict(paper="E", variant="nonbn_res", filters=4, blocks=1, image_size=32, d_filters=4,
                             d_dense=8, global_residual=True))["generator"]
    return [("A", a, [image, mask]), ("B", b, [image, mask]),
            ("D", ce.inpainter(d["encoder"], d["decoder"], 32), [image, mask]), ("E", e, [image])]


def test_exports_load_with_plain_keras_after_import_models(tmp_path):
    for name, model, inputs in _exports():
        path = tmp_path / f"{name}.keras"
        model.save(path)
        files = []
        for i, x in enumerate(inputs):
            files.append(tmp_path / f"{name}_{i}.npy")
            np.save(files[-1], x)
        proc = subprocess.run([sys.executable, "-c", LOAD, str(path), *map(str, files)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
        expected = np.asarray(model(inputs if len(inputs) > 1 else inputs[0], training=False))
        np.testing.assert_allclose(np.load(str(path) + ".out.npy"), expected, atol=1e-5, err_msg=name)


def test_without_import_models_plain_keras_cannot_load_them(tmp_path):
    """Why the line is needed: the custom layers are this repository's."""
    name, model, _ = _exports()[0]
    path = tmp_path / "a.keras"
    model.save(path)
    proc = subprocess.run([sys.executable, "-c", "import sys, keras; keras.models.load_model(sys.argv[1])", str(path)],
                          cwd=ROOT / "docs", capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "MeanFill" in proc.stderr, json.dumps(proc.stderr[-500:])
