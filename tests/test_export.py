"""export.py: every exported format computes what the Keras model computes, on bundled photos.

Tolerances (outputs live in [-1, 1]; one grey level of 255 is 0.0078): float32 exports (SavedModel,
TFLite, ONNX) within 1e-4, i.e. identical up to float rounding and op reordering; TFLite with
float16 weights within 1e-2 (about one grey level). The models are small random-weight networks
of papers A, B, D and E, built directly (training adds nothing to what is checked here).
"""
import json
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import export  # noqa: E402
from errors import main_guard  # noqa: E402
from training.export import export_model  # noqa: E402

SIZE = 32
FLOAT32_ATOL = 1e-4
FLOAT16_ATOL = 1e-2


def _photos(height, width):
    """Three bundled scikit-image photos resized to height x width, in [-1, 1]."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    small = [cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA) for p in photos]
    return np.stack(small).astype(np.float32) / 127.5 - 1.0


def _masks():
    """A centre square, a corner rectangle and a thin stroke: float [3, S, S, 1], 1 = hole."""
    m = np.zeros((3, SIZE, SIZE, 1), np.float32)
    m[0, 8:24, 8:24] = 1
    m[1, 0:10, 18:32] = 1
    m[2, 14:17, 3:29] = 1
    return m


def _build(letter):
    """A small random-weight network of paper `letter` with its export's inputs."""
    if letter == "A":
        from models import iizuka
        return iizuka.completion_network(SIZE, width=4, mean=(0.1, 0.0, -0.1))
    if letter == "B":
        from models import unsupervised
        return unsupervised.inpainting_generator(SIZE, width=4, code_dim=8)
    if letter == "D":
        from models import context_encoder as ce
        return ce.inpainter(ce.encoder(SIZE, 4, 16), ce.decoder(SIZE // 2, 4, 16), SIZE, full_image=False)
    from models import deblur
    return deblur.generator("nonbn_res", filters=8, blocks=2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """letter -> (run directory holding its export, the Keras model loaded back from it)."""
    tmp = tmp_path_factory.mktemp("export")
    out = {}
    for letter in "ABDE":
        run = tmp / f"run_{letter}"
        export_model(_build(letter), run / "export" / ("generator.keras" if letter == "E" else "inpainter.keras"))
        (run / "config.json").write_text(json.dumps({"paper": letter}))
        out[letter] = (run, export.load_network(run)[0])
    (tmp / "run_C").mkdir()
    (tmp / "run_C" / "config.json").write_text(json.dumps({"paper": "C"}))
    out["tmp"] = tmp
    return out


def _feeds(letter):
    """Named inputs and the same list in the Keras model's order."""
    if letter == "E":
        x = _photos(40, 56)                                   # not square, not the training size
        return {"blurred": x}, [x]
    images, masks = _photos(SIZE, SIZE), _masks()
    return {"image": images, "mask": masks}, [images, masks]


def _tflite(data, feeds):
    """Run a TFLite flatbuffer on named inputs (resized to the batch's shape) -> its one output."""
    import tensorflow as tf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # tf.lite.Interpreter's "use ai_edge_litert" notice
        it = tf.lite.Interpreter(model_content=data)
    details = it.get_input_details()
    name = {d["index"]: next(k for k in feeds if f"_{k}:" in d["name"]) for d in details}
    for d in details:
        it.resize_tensor_input(d["index"], feeds[name[d["index"]]].shape)
    it.allocate_tensors()
    for d in details:
        it.set_tensor(d["index"], feeds[name[d["index"]]])
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


@pytest.mark.parametrize("letter", ["A", "B", "D", "E"])
def test_every_format_matches_keras(runs, letter, capsys):
    run, model = runs[letter]
    feeds, ordered = _feeds(letter)
    ref = np.asarray(model(ordered if len(ordered) > 1 else ordered[0], training=False))
    assert np.isfinite(ref).all() and ref.std() > 0

    # SavedModel through the command line and its serving signature (what TF Serving calls)
    import tensorflow as tf
    out = runs["tmp"] / f"served_{letter}" / "1"
    assert export.main(["--model", str(run), "--format", "savedmodel", "--out", str(out)]) == 0
    assert f"paper {letter}" in capsys.readouterr().out
    serving = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert set(serving.structured_input_signature[1]) == set(feeds)
    got = serving(**{k: tf.constant(v) for k, v in feeds.items()})["output_0"].numpy()
    np.testing.assert_allclose(got, ref, atol=FLOAT32_ATOL)

    # TFLite, float32 weights and float16 weights (smaller file)
    f32, f16 = export.tflite_bytes(model), export.tflite_bytes(model, float16=True)
    assert len(f16) < len(f32)
    np.testing.assert_allclose(_tflite(f32, feeds), ref, atol=FLOAT32_ATOL)
    np.testing.assert_allclose(_tflite(f16, feeds), ref, atol=FLOAT16_ATOL)

    # ONNX through onnxruntime
    import onnxruntime
    path = export.export(model, "onnx", runs["tmp"] / f"m_{letter}.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert {i.name for i in session.get_inputs()} == set(feeds)
    np.testing.assert_allclose(session.run(None, feeds)[0], ref, atol=FLOAT32_ATOL)


def test_tflite_file_from_the_command_line(runs):
    run, model = runs["E"]
    out = runs["tmp"] / "g16.tflite"
    assert export.main(["--model", str(run / "export" / "generator.keras"), "--format", "tflite",
                        "--out", str(out), "--float16"]) == 0
    feeds, ordered = _feeds("E")
    np.testing.assert_allclose(_tflite(out.read_bytes(), feeds), np.asarray(model(ordered[0])), atol=FLOAT16_ATOL)


def test_every_error_is_one_line_and_exit_2(runs, capsys):
    tmp = runs["tmp"]
    bad = tmp / "bad.keras"
    bad.write_bytes(b"not a zip")
    (tmp / "no_config").mkdir(exist_ok=True)
    d = str(runs["D"][0])
    cases = {
        "paper C": ([str(tmp / "run_C"), "onnx", str(tmp / "c.onnx")], "latent search"),
        "run without config": ([str(tmp / "no_config"), "tflite", str(tmp / "x.tflite")], "naming its paper"),
        "missing model": ([str(tmp / "nope.keras"), "tflite", str(tmp / "x.tflite")], "no model at"),
        "unreadable model": ([str(bad), "tflite", str(tmp / "x.tflite")], "is not a Keras model file"),
        "wrong suffix": ([d, "onnx", str(tmp / "x.tflite")], "must end in .onnx"),
        "float16 elsewhere": ([d, "onnx", str(tmp / "x.onnx"), "--float16"], "--float16 applies to --format tflite"),
        "out is a file": ([d, "savedmodel", str(bad)], "not a SavedModel folder"),
    }
    for name, (argv, message) in cases.items():
        with pytest.raises(SystemExit) as e:
            main_guard(export.main)(["--model", argv[0], "--format", argv[1], "--out", argv[2]] + argv[3:])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2, name
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], (name, err)
    assert not (tmp / "c.onnx").exists() and not (tmp / "x.tflite").exists()
