"""Hardening (issue 15): every bad input to a CLI ends in ONE `error:` line and exit code 2, run
in-process; nothing is written over a user's file."""
import os
from pathlib import Path

import numpy as np
import pytest

import damage
import evaluate
import inpaint
import sharpen
import train_context_encoder
import train_deblur
from errors import UserError, main_guard
from imagefiles import write_png


def _one_error_line(capsys, fn, argv):
    with pytest.raises(SystemExit) as e:
        main_guard(fn)(argv)
    assert e.value.code == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    write_png(path, np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8))
    return str(path)


@pytest.mark.parametrize("fn,argv,says", [
    (damage.main, ["--image", "P", "--out", "o.png", "--resize", "100000"], "--resize: expected an image side"),
    (damage.main, ["--image", "P", "--out", "o.png", "--seed", str(2**70)], "--seed: expected a seed"),
    (damage.main, ["--image", "P", "--out", "o.png", "--rate", "nan"], "--rate"),
    (damage.main, ["--image", "P", "--out", "o.png", "--nope"], "unrecognized arguments: --nope"),
    (train_deblur.main, ["--filters", "0"], "--filters: expected a positive integer, got 0"),
    (train_deblur.main, ["--lr", "-1"], "--lr: expected a positive number"),
    (train_context_encoder.main, ["--first", "0"], "--first: expected a positive integer"),
    (train_context_encoder.main, ["--image-size", "abc"], "--image-size: expected an image side"),
    (sharpen.main, ["--model", "m", "--image", "P", "--out", "o.png", "--tile", "-3"], "--tile"),
    (evaluate.main, ["--table", "E", "--limit", "0"], "--limit: expected a positive integer, got 0"),
    (evaluate.main, ["make-eval-set", "--out", "o", "--seed", "-1"], "--seed: expected a seed"),
    (inpaint.main, ["latent", "--iterations", "0"], "inpaint.py latent: argument --iterations: expected a positive"),
])
def test_bad_flags_give_one_line(capsys, photo, fn, argv, says):
    """argparse's usage block is gone: one `error: prog: ... (see --help)` line, exit 2."""
    line = _one_error_line(capsys, fn, [photo if a == "P" else a for a in argv])
    assert says in line and line.endswith("(see --help)")


def test_damage_refuses_to_write_the_mask_over_the_image(capsys, photo, tmp_path):
    out = tmp_path / "p.png"
    line = _one_error_line(capsys, damage.main, ["--image", photo, "--out", str(out), "--mask-out", str(out)])
    assert "same file" in line and not out.exists()


def test_damage_on_a_tiny_image_says_it_is_too_small(capsys, tmp_path):
    tiny = tmp_path / "tiny.png"
    write_png(tiny, np.zeros((1, 1, 3), np.uint8))
    line = _one_error_line(capsys, damage.main, ["--image", str(tiny), "--out", str(tmp_path / "o.png")])
    assert "is 1x1 pixels: too small" in line


def test_inpaint_refuses_a_lossy_output(capsys, photo, tmp_path):
    """JPEG changed 26,996 of 27,000 known pixels: "known pixels are never changed" needs a lossless file."""
    line = _one_error_line(capsys, inpaint.main, ["--model", "m", "--image", photo, "--mask", photo,
                                                  "--out", str(tmp_path / "x.jpg")])
    assert "not lossless" in line and ".png" in line


def test_a_folder_as_image_and_a_corrupt_keras_file_say_what_they_are(capsys, tmp_path, photo):
    line = _one_error_line(capsys, damage.main, ["--image", str(tmp_path), "--out", str(tmp_path / "o.png")])
    assert "is a folder" in line
    bad = tmp_path / "generator.keras"
    bad.write_bytes(b"not a zip")
    line = _one_error_line(capsys, sharpen.main, ["--model", str(bad), "--image", photo, "--out", str(tmp_path / "s.png")])
    assert "not a Keras model file" in line


@pytest.mark.parametrize("config", ["[1, 2]", "null", '{"paper": "E", "variant": "nonbn_res", "filters": "abc", "blocks": 5}',
                                    "{garbage"])
def test_sharpen_on_a_run_with_a_garbled_config(capsys, tmp_path, photo, config):
    run = tmp_path / "run"
    (run / "ckpt").mkdir(parents=True)
    (run / "config.json").write_text(config)
    line = _one_error_line(capsys, sharpen.main, ["--model", str(run), "--image", photo, "--out", str(tmp_path / "s.png")])
    assert "config.json" in line


def test_sharpen_refuses_a_tile_that_keeps_almost_nothing(capsys, tmp_path):
    """--tile 40 kept a 2-px centre per tile (~7,500 model calls on a large photo, no progress shown)."""
    import keras
    from models import deblur
    G = deblur.generator("nonbn_res", filters=4, blocks=1)
    model = tmp_path / "g.keras"
    G.save(model)
    big = tmp_path / "big.png"
    write_png(big, np.zeros((300, 300, 3), np.uint8))
    line = _one_error_line(capsys, sharpen.main, ["--model", str(model), "--image", str(big), "--out",
                                                  str(tmp_path / "s.png"), "--tile", "40"])
    assert "keeps a centre of only" in line and "--tile" in line
    assert keras.saving.load_model(model, compile=False) is not None


def _small_folder(tmp_path, sides=((40, 50), (60, 50), (70, 80))):
    folder = tmp_path / "small"
    folder.mkdir()
    for i, (h, w) in enumerate(sides):
        write_png(folder / f"{i}.png", np.full((h, w, 3), 40 * i, np.uint8))
    return folder


def test_training_images_smaller_than_the_crop_name_the_smallest(capsys, tmp_path):
    """Was a TF assertion traceback from inside tf.data; now one line naming the smallest image."""
    folder = _small_folder(tmp_path)
    line = _one_error_line(capsys, train_deblur.main, [
        "--smoke", "--dataset", str(folder), "--image-size", "64", "--steps", "1", "--vgg-weights", "none",
        "--run-dir", str(tmp_path / "run")])
    assert "at least 94 px" in line and "0.png (50x40)" in line and "--image-size" in line


def test_a_batch_larger_than_the_dataset_is_warned_once(capsys, tmp_path):
    from data.pipeline import inpainting_batches
    from data.sources import folder_source
    source = folder_source(str(_small_folder(tmp_path)))
    for _ in range(2):                              # a restarted stream does not repeat the warning
        inpainting_batches(source, 32, 8, "center", seed=0)
    inpainting_batches(source, 32, 2, "center", seed=0)
    err = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert err == ["warning: batch size 8 is larger than the 3 training images of small: every batch repeats "
                   "images; lower --batch-size or add images"]


def test_a_damaged_jpeg_gives_our_line_not_libjpegs(capfd, tmp_path):
    """libjpeg printed its own lines on file descriptor 2 before ours; now only ours is left."""
    import re
    from skimage import data as skdata
    import imagefiles
    good = tmp_path / "a.jpg"
    imagefiles.write_image(good, skdata.astronaut())
    raw = good.read_bytes()
    truncated, corrupt = tmp_path / "t.jpg", tmp_path / "c.jpg"
    truncated.write_bytes(raw[:len(raw) // 2])
    corrupt.write_bytes(raw[:5000] + bytes(200) + raw[5200:])
    capfd.readouterr()

    def err_lines():
        tf_log = re.compile(r"^[IWEF]\d{4} ")        # TensorFlow's own start-up log, not the decoder's
        return [x for x in capfd.readouterr().err.splitlines() if x.strip() and not tf_log.match(x)]

    with pytest.raises(SystemExit) as e:
        main_guard(damage.main)(["--image", str(truncated), "--out", str(tmp_path / "o.png")])
    assert e.value.code == 2
    err = err_lines()
    assert len(err) == 1 and err[0].startswith("error: cannot read image") and "damaged" in err[0], err
    image = imagefiles.read_image(corrupt)
    err = err_lines()
    assert image.shape == (512, 512, 3)
    assert len(err) == 1 and err[0].startswith("warning: image") and "Corrupt JPEG data" in err[0], err


def _one_line_run(args, cwd):
    import subprocess
    import sys
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")       # what a user's shell has: no level set -> 2
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=env)
    return proc.returncode, [x for x in proc.stderr.splitlines() if x.strip()]


def test_a_folder_of_corrupt_images_is_one_stderr_line(tmp_path):
    """Training on, or scoring, a folder whose images are all corrupt: one `error:` line, nothing of
    TensorFlow's (its start-up lines, its tf.data "Local rendezvous is aborting" warnings)."""
    root = Path(__file__).resolve().parents[1]
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"img{i}.jpg").write_bytes(b"not a jpeg %d" % i)
    for args in ([root / "train_context_encoder.py", "--smoke", "--dataset", bad, "--run-dir", tmp_path / "run"],
                 [root / "evaluate.py", "--table", "D", "--set5", bad, "--out", tmp_path / "table"]):
        code, err = _one_line_run(args, tmp_path)
        assert code == 2 and len(err) == 1 and err[0].startswith("error: none of the first 3 image files"), err


@pytest.mark.parametrize("key,value,expected", [("image_size", "abc", "int"), ("steps", "fast", "int or null"),
                                                ("residual", "yes", "bool"), ("lr", [1], "float or null")])
def test_config_json_values_of_the_wrong_type_are_one_line(tmp_path, key, value, expected):
    """Every value a model is built from is checked through rundir.SCHEMA when config.json is read."""
    import json
    import rundir
    (tmp_path / "config.json").write_text(json.dumps({"paper": "D", key: value}))
    with pytest.raises(UserError) as e:
        rundir.read_config(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'config.json'}: {key} must be {expected}, got {value!r}")
    assert "\n" not in str(e.value)


def test_a_hand_edited_config_stops_a_resumed_run_in_one_line(tmp_path):
    import json
    root = Path(__file__).resolve().parents[1]
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"paper": "D", "steps": "fast"}))
    (run / "ckpt").mkdir()
    (run / "ckpt" / "checkpoint").write_text("saved")         # a run that trained: its config.json is read
    code, err = _one_line_run([root / "train_context_encoder.py", "--smoke", "--run-dir", run], tmp_path)
    assert code == 2 and len(err) == 1 and "steps must be int or null, got 'fast'" in err[0], err


def test_user_images_decode_as_the_training_pipeline_does(tmp_path):
    """imagefiles.read_image (OpenCV, no TensorFlow) gives the pixels of data/decode.py (the training
    pipeline's TensorFlow decoder) for JPEG (baseline, progressive, grey), 16-bit, RGBA, grey and
    palette PNG, WebP, BMP and GIF; and it reads TIFF, which the TensorFlow decoder cannot."""
    import cv2
    import tensorflow as tf
    from PIL import Image
    from skimage import data as skdata
    import imagefiles
    from data.decode import decode_image
    img = skdata.astronaut()[:96, :128]
    cv2.imwrite(str(tmp_path / "a.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    cv2.imwrite(str(tmp_path / "p.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    cv2.imwrite(str(tmp_path / "g.jpg"), img[..., 0])
    wide = img.astype(np.uint16) * 257 + np.arange(128, dtype=np.uint16)[None, :, None]
    cv2.imwrite(str(tmp_path / "a16.png"), wide[..., ::-1])
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 128, np.uint8)], -1)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba[..., [2, 1, 0, 3]])
    cv2.imwrite(str(tmp_path / "grey.png"), img[..., 1])
    Image.fromarray(img).convert("P").save(tmp_path / "pal.png")
    Image.fromarray(img).save(tmp_path / "a.webp", quality=80)
    Image.fromarray(img).save(tmp_path / "a.bmp")
    Image.fromarray(img).convert("P").save(tmp_path / "a.gif")
    for path in sorted(tmp_path.iterdir()):
        ours = imagefiles.read_image(path)
        theirs = decode_image(tf.constant(path.read_bytes())).numpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=path.name)
    Image.fromarray(img).save(tmp_path / "a.tif")
    np.testing.assert_array_equal(imagefiles.read_image(tmp_path / "a.tif"), img)
