"""Export a trained network for use outside Python: TF Serving, TFLite (LiteRT) or ONNX.

    python export.py --model runs/train_iizuka --format savedmodel --out served/iizuka/1
    python export.py --model runs/deblur_nonbn_res_l --format tflite --out deblur.tflite --float16
    python export.py --model results/runs/d/export/inpainter.keras --format onnx --out ce.onnx

--model: a run directory (its config.json names the paper) or an exported .keras file. Papers A,
B and D export their inpainter: inputs `image` [B,S,S,3] in [-1, 1] and `mask` [B,S,S,1]
(1 = hole), output the prediction [B,S,S,3] in [-1, 1] BEFORE compositing (keep the known pixels
yourself, as inpaint.py does). Paper E exports its generator: input `blurred` [B,H,W,3] in
[-1, 1] of any size, output the sharpened image. Paper C completes by a latent search (an
optimisation per image), which is no feed-forward network: it has nothing to export.

--format savedmodel: a SavedModel folder with a `serving_default` signature (TF Serving;
`tf.saved_model.load(out).signatures["serving_default"](image=..., mask=...)["output_0"]`).
tflite: a TFLite (LiteRT) flatbuffer, float32, or float16 weights with --float16 (half the
size). onnx: an ONNX model (opset 17) through tf2onnx, for onnxruntime.
"""
import argparse
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # a user-facing tool: no TensorFlow info lines

import papers
import rundir
from errors import UserError, cli
import cliargs
from quiet_tf import import_tensorflow

FORMATS = ("savedmodel", "tflite", "onnx")
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx"}
ONNX_OPSET = 17        # [choice] opset 17: onnxruntime >= 1.14 runs it; every op these networks use is in it
NO_EXPORT = ("paper {letter} ({name}) completes each image by a search, not a feed-forward network: there is "
             "nothing to export; export a run of paper {others}")


def load_network(path):
    """A run directory or a .keras file -> (keras.Model, what it is in words).

    A run's config.json names its paper (papers.py); paper C -> UserError (no feed-forward net).
    A .keras file is an inpainter when it has the inputs [image, mask], a deblurring generator when
    it has one image input [B,H,W,3]; anything else (e.g. a latent GAN's generator) is refused.
    """
    path = Path(path)
    if path.is_dir():
        config = rundir.read_config(path) or {}
        paper = papers.PAPERS.get(config.get("paper"))
        if paper is None:
            raise UserError(f"{path} has no {rundir.CONFIG_NAME} naming its paper: pass a run directory of a "
                            f"train script, or an exported .keras file")
        if not paper.export:
            others = ", ".join(p.letter for p in papers.PAPERS.values() if p.export)
            raise UserError(NO_EXPORT.format(letter=paper.letter, name=paper.name, others=others))
        if paper.task == "deblur":
            from sharpen import load_generator
            return load_generator(path), f"paper {paper.letter} generator"
        from inpainters import load_inpainter
        return load_inpainter(path).model, f"paper {paper.letter} inpainter"
    if not path.is_file():
        raise UserError(f"no model at {path}; pass a trained run directory or an exported .keras file")
    from inpainters import import_model_modules
    from training.export import load_exported
    import_model_modules()
    model = load_exported(path)
    shapes = [tuple(t.shape) for t in model.inputs]
    if len(shapes) == 2 and len(shapes[0]) == 4 and shapes[0][-1] == 3 and shapes[1][-1] == 1:
        return model, "inpainter"
    if len(shapes) == 1 and len(shapes[0]) == 4 and shapes[0][-1] == 3:
        return model, "image-to-image generator"
    raise UserError(f"{path} takes inputs {shapes}, neither an inpainter's [image, mask] nor an image: a latent "
                    f"GAN generator (paper C) is used by latent search, not exported")


def signature(model):
    """One tf.TensorSpec per model input, named as the input (the serving signature's argument names)."""
    import tensorflow as tf
    return [tf.TensorSpec(t.shape, tf.float32, name=t.name) for t in model.inputs]


def _saved_model(model, out):
    """model.export(): a SavedModel whose serving_default takes the named inputs, returns output_0."""
    model.export(str(out), format="tf_saved_model", verbose=False)


def tflite_bytes(model, float16=False):
    """A TFLite flatbuffer of the model (converted from a temporary SavedModel: Keras 3 models convert
    reliably that way). float16: weights stored as float16 and dequantized at load (half the size)."""
    import tensorflow as tf
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        _saved_model(model, Path(tmp) / "sm")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "sm"))
        if float16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def onnx_bytes(model):
    """An ONNX model (opset ONNX_OPSET) of the Keras model through tf2onnx; its inputs keep the model's names."""
    try:
        import tf2onnx
    except ImportError:
        raise UserError("--format onnx needs tf2onnx: pip install -r requirements.txt") from None
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature(model), opset=ONNX_OPSET)
    return proto.SerializeToString()


def export(model, fmt, out, float16=False):
    """Write `model` as `fmt` to `out` (a folder for savedmodel, a file otherwise), atomically: a
    failure leaves no half-written export. Returns the path."""
    out = Path(out)
    if fmt == "savedmodel":
        if out.is_file() or (out.is_dir() and any(out.iterdir()) and not (out / "saved_model.pb").is_file()):
            raise UserError(f"--out {out} exists and is not a SavedModel folder: choose a new folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
        try:
            _saved_model(model, tmp / "sm")
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp / "sm", out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out
    data = tflite_bytes(model, float16) if fmt == "tflite" else onnx_bytes(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, out)
    return out


def main(argv=None):
    p = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, verbose=True)
    p.add_argument("--model", required=True, help="trained run directory or exported .keras file")
    p.add_argument("--format", required=True, choices=FORMATS, help="savedmodel (TF Serving), tflite, onnx")
    p.add_argument("--out", required=True,
                   help="a folder for savedmodel (e.g. served/model/1 for TF Serving), a .tflite or .onnx file")
    p.add_argument("--float16", action="store_true", help="--format tflite: float16 weights (half the size)")
    a = p.parse_args(argv)
    if a.float16 and a.format != "tflite":
        raise UserError(f"--float16 applies to --format tflite only, not {a.format}")
    if a.format in SUFFIX and Path(a.out).suffix.lower() != SUFFIX[a.format]:
        raise UserError(f"--out {a.out} must end in {SUFFIX[a.format]} for --format {a.format}")
    import_tensorflow()           # after the flags are checked; its start-up lines stay off stderr
    model, what = load_network(a.model)
    path = export(model, a.format, a.out, a.float16)
    inputs = ", ".join(f"{t.name} {list(t.shape)}" for t in model.inputs)
    kind = f"{a.format}{' float16' if a.float16 else ''}"
    print(f"exported the {what} {model.name} (inputs {inputs}) as {kind} -> {path}")
    return 0


if __name__ == "__main__":
    cli(main)
