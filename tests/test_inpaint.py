"""inpaint.py and inpainters.py: a user's own photo and mask, end to end, and every error case."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import skimage.data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inpaint  # noqa: E402
import inpainters  # noqa: E402
from models import iizuka  # noqa: E402
from errors import UserError, main_guard  # noqa: E402
from training import export  # noqa: E402


def _write(path, rgb_or_grey):
    a = np.asarray(rgb_or_grey)
    assert cv2.imwrite(str(path), a[..., ::-1] if a.ndim == 3 else a)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny exported completion network, a run directory holding it, a bundled photo with a
    white-painted hole and its drawn mask (non-square, so resizing back is tested)."""
    tmp = tmp_path_factory.mktemp("inpaint")
    model = export.export_model(iizuka.completion_network(32, width=4, mean=(0.1, 0.0, -0.1)), tmp / "g.keras")
    run_dir = tmp / "run"
    (run_dir / "export").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"paper": "A"}))
    (run_dir / "export" / "inpainter.keras").write_bytes(model.read_bytes())
    photo = skimage.data.chelsea().copy()                      # 300 x 451 RGB
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.circle(mask, (200, 120), 35, 255, -1)
    cv2.rectangle(mask, (300, 200), (360, 240), 255, -1)
    mask = cv2.GaussianBlur(mask, (5, 5), 0)                   # soft edge: not binary, threshold at 128
    hole = mask >= 128
    damaged = photo.copy()
    damaged[hole] = 255                                        # the hole holds white paint
    rgb_mask = np.repeat(mask[..., None], 3, axis=-1)
    return dict(tmp=tmp, model=model, run_dir=run_dir, hole=hole, damaged=damaged,
                image=_write(tmp / "photo.png", damaged), mask=_write(tmp / "mask.png", rgb_mask),
                grey_mask=_write(tmp / "mask_grey.png", mask))


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]


@pytest.mark.parametrize("blend", [True, False])
def test_end_to_end_keeps_size_and_every_known_pixel(files, blend):
    out = files["tmp"] / f"out_{blend}.png"
    argv = ["--model", str(files["model"]), "--image", str(files["image"]), "--mask", str(files["mask"]),
            "--out", str(out)] + ([] if blend else ["--no-blend"])
    assert inpaint.main(argv) == 0
    result, hole = _read(out), files["hole"]
    assert result.shape == files["damaged"].shape
    np.testing.assert_array_equal(result[~hole], files["damaged"][~hole])
    assert (result[hole] != 255).any()                         # the white paint was replaced


def test_run_directory_and_grey_mask(files):
    inp = inpainters.load_inpainter(files["run_dir"])
    assert inp.image_size == 32
    out = files["tmp"] / "out_run.bmp"          # lossless formats other than PNG are fine too
    assert inpaint.main(["--model", str(files["run_dir"]), "--image", str(files["image"]),
                         "--mask", str(files["grey_mask"]), "--out", str(out)]) == 0
    assert _read(out).shape == files["damaged"].shape


def test_hole_content_never_reaches_the_network(files):
    hole = files["hole"]
    a = files["damaged"]
    b = a.copy()
    b[hole] = 0
    small_a, small_hole = inpainters.to_model_size(a, hole, 32)
    small_b, _ = inpainters.to_model_size(b, hole, 32)
    np.testing.assert_array_equal(small_a, small_b)
    assert 0 < small_hole.mean() < 1 and small_a.min() >= -1 and small_a.max() <= 1


def test_predict_matches_the_model(files):
    inp = inpainters.load_inpainter(files["model"])
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    masks = (rng.uniform(size=(3, 32, 32, 1)) > 0.8).astype("float32")
    np.testing.assert_allclose(inp.predict(images, masks, batch_size=2),
                               inp.model([images, masks], training=False), atol=1e-6)


def _errors(files):
    tmp = files["tmp"]
    h, w = files["hole"].shape
    bad_model = tmp / "bad.keras"
    bad_model.write_bytes(b"not a zip")
    not_image = tmp / "notes.png"
    not_image.write_text("hello")
    small = _write(tmp / "small_mask.png", np.full((h // 2, w // 2), 255, np.uint8))
    empty = _write(tmp / "empty_mask.png", np.zeros((h, w), np.uint8))
    full = _write(tmp / "full_mask.png", np.full((h, w), 200, np.uint8))
    empty_run = tmp / "empty_run"
    empty_run.mkdir(exist_ok=True)
    image, mask, model = str(files["image"]), str(files["mask"]), str(files["model"])
    return {
        "missing model": (str(tmp / "nope.keras"), image, mask, "no model at"),
        "unreadable model": (str(bad_model), image, mask, "is not a Keras model file"),
        "run dir without export": (str(empty_run), image, mask, "has no export/inpainter.keras"),
        "missing image": (model, str(tmp / "nope.png"), mask, "does not exist"),
        "unreadable image": (model, str(not_image), mask, "cannot read image"),
        "mask of another size": (model, image, str(small), "draw the mask at the image's size"),
        "mask without hole": (model, image, str(empty), "has no hole"),
        "mask all hole": (model, image, str(full), "is all hole"),
    }


def test_every_error_is_one_line_and_exit_2(files, capsys):
    for name, (model, image, mask, message) in _errors(files).items():
        out = files["tmp"] / "never.png"
        with pytest.raises(SystemExit) as e:
            main_guard(inpaint.main)(["--model", model, "--image", image, "--mask", mask, "--out", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2, name
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], (name, err)
        assert not out.exists(), name


def test_cli_exit_code(files):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    model, image, mask, _ = _errors(files)["mask all hole"]
    proc = subprocess.run([sys.executable, str(ROOT / "inpaint.py"), "--model", model, "--image", image,
                           "--mask", mask, "--out", str(files["tmp"] / "x.png")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.strip().splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "all hole" in lines[0]


def test_cli_completes_with_a_model_loaded_in_a_fresh_process(files):
    """The real script, a new Python: the exported .keras loads (custom layers registered by
    importing models/) and the output keeps the input's size and known pixels."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = files["tmp"] / "cli.png"
    proc = subprocess.run([sys.executable, str(ROOT / "inpaint.py"), "--model", str(files["model"]),
                           "--image", str(files["image"]), "--mask", str(files["mask"]), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120, cwd=files["tmp"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    result, hole = _read(out), files["hole"]
    np.testing.assert_array_equal(result[~hole], files["damaged"][~hole])


def test_folder_batch_pairs_by_name_skips_and_resumes(files, tmp_path, capsys):
    """--images DIR --masks DIR --out DIR: x.* pairs with x.png or x_mask.png; an unreadable image is
    skipped and counted; a second run skips what exists (an interrupted batch resumes)."""
    import inpaint
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir()
    masks.mkdir()
    for name in ("a", "b"):
        (images / f"{name}.png").write_bytes(files["image"].read_bytes())
    (masks / "a.png").write_bytes(files["mask"].read_bytes())
    (masks / "b_mask.png").write_bytes(files["grey_mask"].read_bytes())
    (images / "c.png").write_bytes(b"not an image")
    (masks / "c.png").write_bytes(files["mask"].read_bytes())
    (images / "d.png").write_bytes(files["image"].read_bytes())     # no mask: left out, said so
    argv = ["--model", str(files["model"]), "--images", str(images), "--masks", str(masks), "--out", str(out)]
    assert inpaint.main(argv) == 0
    text = capsys.readouterr().out
    assert "2 written" in text and "1 unreadable or unusable" in text and "1 image(s) without a mask" in text
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    done = cv2.imread(str(out / "a.png"))[..., ::-1]
    assert np.array_equal(done[~files["hole"]], files["damaged"][~files["hole"]])   # known pixels kept
    assert np.array_equal(cv2.imread(str(out / "a.png")), cv2.imread(str(out / "b.png")))
    stamp = (out / "a.png").stat().st_mtime_ns
    assert inpaint.main(argv) == 0                                   # resume: nothing redone
    assert "0 written" in capsys.readouterr().out and (out / "a.png").stat().st_mtime_ns == stamp


def test_native_resolution_runs_paper_a_at_the_photos_size(files, tmp_path, capsys):
    """--resolution native: paper A's fully convolutional network runs on a crop around the hole at the
    photo's own size (the same weights as at its training size); a network with a 1x1 code refuses."""
    inp = inpainters.load_inpainter(files["model"])
    native = inp.any_size()
    assert native is not None and native.inputs[0].shape[1] is None
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    m = np.zeros((1, 32, 32, 1), np.float32)
    m[:, 8:20, 10:22] = 1
    np.testing.assert_allclose(native([x, m]), inp.model([x, m]), atol=1e-5)   # same network at 32
    out = inpainters.complete(inp, files["damaged"], files["hole"], blend=False, resolution="native")
    assert out.shape == files["damaged"].shape
    known = ~files["hole"]
    assert np.array_equal(out[known], files["damaged"][known]) and not np.array_equal(out, files["damaged"])
    from models import context_encoder as ce
    enc, dec = ce.encoder(32, 4, 16), ce.decoder(32, 4, 16)
    image, mask = keras.Input((32, 32, 3)), keras.Input((32, 32, 1))
    squeezed = inpainters.Inpainter(keras.Model([image, mask], dec(enc(ce.fill_holes(image, mask)))))
    assert squeezed.any_size() is None
    with pytest.raises(UserError, match="only runs at its own 32x32"):
        inpainters.complete(squeezed, files["damaged"], files["hole"], resolution="native")
    # "auto", the default: native for the fully convolutional network, the resize for the other
    auto = inpainters.complete(inp, files["damaged"], files["hole"], blend=False)
    assert np.array_equal(auto, out)
    resized = inpainters.complete(squeezed, files["damaged"], files["hole"], blend=False)
    assert np.array_equal(resized, inpainters.complete(squeezed, files["damaged"], files["hole"], blend=False,
                                                    resolution="model"))
