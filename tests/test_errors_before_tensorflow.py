"""Every mistake in a user command's inputs is reported before TensorFlow is imported.

Each command runs in a subprocess where importing tensorflow or keras raises at once, so a check
that comes after the import would show that marker instead of the one `error:` line (no timing:
the order is what is tested). Stderr must be exactly one line, the exit code 2.
"""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "TENSORFLOW WAS IMPORTED BEFORE THE INPUTS WERE CHECKED"
RUN_WITHOUT_TF = f'''
import os, runpy, sys
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras"):
            raise ImportError("{MARKER}")
sys.meta_path.insert(0, NoTensorFlow())
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))       # as `python script.py` does
runpy.run_path(sys.argv[0], run_name="__main__")
'''


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    photo = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(d / "photo.png"), photo)
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 10:30] = 255
    cv2.imwrite(str(d / "mask.png"), mask)
    cv2.imwrite(str(d / "small_mask.png"), mask[:24, :32])
    (d / "notes.txt").write_text("not an image")
    (d / "folder").mkdir()
    (d / "broken.keras").write_bytes(b"not a zip")
    for name, paper in (("deblur_run", "E"), ("inpaint_run", "D"), ("empty_run", "D")):
        (d / name).mkdir()
        (d / name / "config.json").write_text(json.dumps({"paper": paper, "image_size": 32}))
    (d / "inpaint_run" / "export").mkdir()
    (d / "inpaint_run" / "export" / "inpainter.keras").write_bytes(b"PK\x05\x06" + bytes(18))   # an empty zip
    (d / "bad_config").mkdir()
    (d / "bad_config" / "config.json").write_text(json.dumps({"paper": "D", "image_size": "abc"}))
    (d / "images").mkdir()
    return d


def run(script, *args, cwd):
    proc = subprocess.run([sys.executable, "-c", RUN_WITHOUT_TF, str(ROOT / script), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stderr


INPAINT = [  # (what is wrong, arguments relative to the inputs folder, words the line must hold)
    ("missing image", ["--image", "nope.jpg", "--mask", "mask.png"], "does not exist"),
    ("a folder as the image", ["--image", "folder", "--mask", "mask.png"], "is a folder"),
    ("a text file as the image", ["--image", "notes.txt", "--mask", "mask.png"], "cannot read image"),
    ("a mask of the wrong size", ["--image", "photo.png", "--mask", "small_mask.png"], "draw the mask"),
    ("a missing run directory", ["--image", "photo.png", "--mask", "mask.png", "--model", "no_run"], "no model at"),
    ("a run with no export", ["--image", "photo.png", "--mask", "mask.png", "--model", "empty_run"], "no export/"),
    ("a deblurring run", ["--image", "photo.png", "--mask", "mask.png", "--model", "deblur_run"], "does not inpaint"),
    ("a .keras that is no model", ["--image", "photo.png", "--mask", "mask.png", "--model", "broken.keras"],
     "is not a Keras model file"),
    ("an export without config", ["--image", "photo.png", "--mask", "mask.png", "--model", "inpaint_run"],
     "is not a Keras model file"),
    ("a hand-edited config.json", ["--image", "photo.png", "--mask", "mask.png", "--model", "bad_config"],
     "image_size must be int, got 'abc'"),
    ("a folder without images", ["--images", "images", "--masks", "folder", "--model", "inpaint_run"], "images"),
]
SHARPEN = [
    ("missing image", ["--image", "nope.jpg", "--model", "deblur_run"], "does not exist"),
    ("a text file as the image", ["--image", "notes.txt", "--model", "deblur_run"], "cannot read image"),
    ("a missing model", ["--image", "photo.png", "--model", "no_run"], "no model at"),
    ("a deblurring run not trained yet", ["--image", "photo.png", "--model", "deblur_run"], "no checkpoint"),
    ("an inpainting run", ["--image", "photo.png", "--model", "inpaint_run"], "not a deblurring run"),
    ("a .keras that is no model", ["--image", "photo.png", "--model", "broken.keras"], "is not a Keras model file"),
]


@pytest.mark.parametrize("script,case", [("inpaint.py", c) for c in INPAINT] + [("sharpen.py", c) for c in SHARPEN],
                         ids=lambda x: x if isinstance(x, str) else x[0])
def test_a_mistake_is_one_line_before_tensorflow(files, script, case):
    what, args, words = case
    if "--model" not in args:
        args = args + ["--model", "inpaint_run" if script == "inpaint.py" else "deblur_run"]
    code, err = run(script, *args, "--out", "out.png", cwd=files)
    assert MARKER not in err, f"{script}, {what}: TensorFlow was imported before the check\n{err}"
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], (what, code, err)


def test_the_blocker_catches_a_tensorflow_import(files, tmp_path):
    """The harness itself: a script that imports TensorFlow first shows the marker."""
    script = tmp_path / "imports_tf.py"
    script.write_text("import tensorflow\n")
    code, err = run(script, cwd=files)
    assert code != 0 and MARKER in err
