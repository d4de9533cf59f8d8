"""Sharpen (deblur) your own photo with a paper E generator.

    python sharpen.py --model runs/deblur_nonbn_res_l --image blurry.jpg --out sharp.png
    python sharpen.py --model generator.keras --image big.jpg --out sharp.png --tile 512

--model: a run directory of train_deblur.py (its export/generator.keras, else its newest
checkpoint) or an exported .keras generator. The output has the input's size. Images larger
than --tile pixels on a side are processed in overlapping tiles; each tile keeps only its centre,
at least --overlap pixels away from any tile edge inside the image. With --overlap at least the
generator's receptive-field radius (19 px for the paper's 5 blocks; the default), the tiled result
equals whole-image processing up to float rounding: no seams.
"""
import argparse
from pathlib import Path

import numpy as np

import folders
import imagefiles
import papers
import rundir
from errors import UserError, cli
import cliargs
from cliargs import nonnegative_int, positive_int
from quiet_tf import import_tensorflow

MIN_SIZE = 16          # [choice] smallest side accepted (see docs/PAPER_NOTES.md, paper E)
MIN_CENTRE = 64        # [choice] smallest centre a tile keeps: --tile 40 with a 19-px overlap kept 2 px
                       # and needed ~7,500 model calls on a 12 MP photo
DEFAULT_TILE = 512     # [choice] tile side; a 512x512 tile of the paper's G needs ~1 GiB of activations
PRECISIONS = ("float32", "bfloat16")   # float32: exact (the default); bfloat16: Keras' mixed_bfloat16, 1.7x
                                       # faster on a CPU with AVX512_BF16 (bench/sharpen_speed.py)


def read_image(path):
    """An image file -> uint8 RGB [H, W, 3]; unreadable -> UserError."""
    return imagefiles.read_image(path, "image file")


def _deblur_scripts():
    return " or ".join(f"{p.train_module}.py" for p in papers.PAPERS.values() if p.task == "deblur")


def locate_generator(path):
    """What load_generator(path) will load, checked without TensorFlow: an exported .keras file, or
    a run directory whose newest checkpoint is restored (then also its config). Mistakes -> one line."""
    from inpainters import check_keras_file
    path = Path(path)
    if path.is_dir():
        cfg = rundir.read_config(path)
        paper = papers.of(cfg or {})
        if cfg is not None and (paper is None or paper.task != "deblur"):
            raise UserError(f"{path} is a paper {cfg.get('paper')} run, not a deblurring run of {_deblur_scripts()}")
        export = paper.export if paper else papers.GENERATOR
        exported = rundir.export_path(path, export)
        if exported.is_file():
            return check_keras_file(exported), None
        if cfg is not None and rundir.has_checkpoints(path):
            return path, cfg
        raise UserError(f"{path} holds no {rundir.EXPORT}/{export} and no checkpoint; train it with "
                        f"{_deblur_scripts()} or pass an exported .keras file")
    if not path.exists():
        raise UserError(f"no model at {path}; pass a {_deblur_scripts()} run directory or an exported .keras file")
    return check_keras_file(path), None


def load_generator(path):
    """A run directory (its export, else its newest checkpoint restored into the networks its
    paper builds from config.json: papers.networks) or a .keras file -> keras.Model."""
    from inpainters import import_model_modules          # TensorFlow: only once the path is known to be good
    from training.export import load_exported
    path, cfg = locate_generator(path)
    import_model_modules()              # the custom layers of every paper's model module (AddInput)
    if cfg is None:
        return load_exported(path)
    from training.checkpoint import restore_from
    G = papers.networks(cfg)["generator"]
    restore_from(path, generator=G)
    return G


def tile_windows(length, tile, overlap):
    """Split [0, length) for tiling -> list of (window_start, window_end, core_start, core_end).

    The cores partition [0, length) into the fewest pieces of at most tile - 2 * overlap, of equal
    length (the last may be shorter), so no window is wasted on a sliver; each window holds its core plus at
    least `overlap` pixels on every side that is not an image edge. Every window has the same
    length, at most `tile` (shifted inward at the image edges), so one traced graph runs them all.
    length <= tile: one window, the whole axis.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    most = tile - 2 * overlap
    if most < 1:
        raise UserError(f"--tile {tile} must be larger than twice --overlap {overlap}")
    pieces = -(-length // most)
    core = -(-length // pieces)
    window = min(core + 2 * overlap, length)
    out = []
    for cs in range(0, length, core):
        ce = min(cs + core, length)
        ws = min(max(cs - overlap, 0), length - window)
        out.append((ws, ws + window, cs, ce))
    return out


def receptive_radius(model):
    from models.deblur import receptive_radius as radius
    return radius(model)


def in_precision(model, precision="float32"):
    """The generator computing in `precision`: float32 -> the model itself; bfloat16 -> a copy whose
    layers compute in bfloat16 with float32 weights (Keras' "mixed_bfloat16" policy). Its output
    differs from float32's by about a grey level (docs/PERFORMANCE.md); it is fast only where the
    hardware has bfloat16 arithmetic (AVX512_BF16 or AMX CPUs, recent GPUs) and slow elsewhere."""
    if precision == "float32":
        return model
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision} is not one of {', '.join(PRECISIONS)}")
    import keras
    from models.layers import AddInput          # the global residual adds and clips in float32 (its own dtype)

    def clone(layer):
        config = layer.get_config()
        if not isinstance(layer, AddInput):
            config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


_COMPILED = {}


def compiled(model):
    """model(x, training=False) as one tf.function per model, its shapes relaxed after the second size:
    every tile (they share one size) runs the traced graph; eager calls cost 40% more (bench/sharpen_speed.py)."""
    import tensorflow as tf     # heavy: loaded once the inputs are checked (sharpen.py imports it late)
    if id(model) not in _COMPILED or _COMPILED[id(model)][0] is not model:
        _COMPILED[id(model)] = (model, tf.function(lambda x: tf.cast(model(x, training=False), tf.float32),
                                                   reduce_retracing=True))
    return _COMPILED[id(model)][1]


def mirrored(image, margin):
    """The image with `margin` px mirrored onto each side (reflect, no edge repeat), margin capped
    at the image's side - 1; returns (padded, margin used)."""
    margin = max(0, min(int(margin), image.shape[0] - 1, image.shape[1] - 1))
    return np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="reflect"), margin


def sharpen_float(model, image, tile=DEFAULT_TILE, overlap=None, pad=None, on_tile=None):
    """float32 [H, W, 3] in [-1, 1] -> float32 [H, W, 3]: whole image, or tiles when larger than `tile`.

    overlap None = the model's receptive-field radius (exact tiling). pad: [choice] the photo is
    first mirrored by this many px on each side (None: the receptive-field radius), so a border
    pixel sees mirrored neighbours, as a reflect-padded blur gave it, not the convolutions' zeros
    (at a 128-px tile's border the zeros cost 0.7 dB on the foreign photos; docs/EXPERIMENTS.md, issue 25).
    on_tile(done, total): called after each tile (the app's progress bar; it may raise to cancel).
    """
    image = np.asarray(image, np.float32)
    if overlap is None:
        overlap = receptive_radius(model)
    image, pad = mirrored(image, overlap if pad is None else pad)
    out = _sharpen_padded(model, image, tile, overlap, on_tile)
    return out[pad:out.shape[0] - pad, pad:out.shape[1] - pad]


def _sharpen_padded(model, image, tile, overlap, on_tile=None):
    h, w = image.shape[:2]
    run = compiled(model)
    if h <= tile and w <= tile:
        out = np.asarray(run(image[None]))[0]
        if on_tile is not None:
            on_tile(1, 1)
        return out
    out = np.empty_like(image)
    windows = [(r, c) for r in tile_windows(h, tile, overlap) for c in tile_windows(w, tile, overlap)]
    from tqdm import tqdm
    for k, ((ys, ye, cys, cye), (xs, xe, cxs, cxe)) in enumerate(
            tqdm(windows, desc="tiles", unit="tile", leave=False, disable=len(windows) < 4), 1):
        y = np.asarray(run(image[None, ys:ye, xs:xe]))[0]
        out[cys:cye, cxs:cxe] = y[cys - ys:cye - ys, cxs - xs:cxe - xs]
        if on_tile is not None:
            on_tile(k, len(windows))
    return out


def sharpen_array(model, image_uint8, tile=DEFAULT_TILE, overlap=None, on_tile=None):
    """uint8 [H, W, 3] -> sharpened uint8 [H, W, 3] (rounded, clipped); on_tile as sharpen_float's."""
    from data.preprocess import to_float, to_uint8
    image_uint8 = np.asarray(image_uint8)
    h, w = image_uint8.shape[:2]
    if min(h, w) < MIN_SIZE:
        raise UserError(f"the image is {w}x{h}; sharpen.py needs at least {MIN_SIZE}x{MIN_SIZE} pixels")
    x = to_float(image_uint8).numpy()
    return to_uint8(sharpen_float(model, x, tile, overlap, on_tile=on_tile)).numpy()


def check_tile(tile, overlap, h, w):
    """A tile must keep a centre of at least MIN_CENTRE px once the overlap is cut from both sides."""
    if max(h, w) > tile and tile - 2 * overlap < MIN_CENTRE:
        raise UserError(f"--tile {tile} keeps a centre of only {max(tile - 2 * overlap, 0)} px per tile "
                        f"(the overlap is {overlap} px on each side): use --tile {2 * overlap + MIN_CENTRE} or more")


def sharpen_folder(a):
    """--images DIR --out DIR: every photo sharpened into DIR/<name>.png (progress, skip, resume)."""
    files = folders.images_in(a.images)
    locate_generator(a.model)                        # every path checked before TensorFlow loads
    import_tensorflow()
    G = in_precision(load_generator(a.model), a.precision)
    overlap = receptive_radius(G) if a.overlap is None else a.overlap

    def one(path, out):
        image = read_image(path)
        check_tile(a.tile, overlap, *image.shape[:2])
        imagefiles.write_image_atomic(out, sharpen_array(G, image, a.tile, overlap))

    folders.run_batch([(f.stem, f) for f in files], a.out, one, "sharpening")
    return 0


def main(argv=None):
    p = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, verbose=True)
    p.add_argument("--model", required=True, help="train_deblur.py run directory or exported .keras generator")
    one = p.add_mutually_exclusive_group(required=True)
    one.add_argument("--image", help="the blurry photo")
    one.add_argument("--images", help="a folder of blurry photos (--out is then a folder of PNGs)")
    p.add_argument("--out", required=True, help="where to write the result (.png, .jpg, ...)")
    p.add_argument("--tile", type=positive_int, default=DEFAULT_TILE,
                   help="process images larger than this in tiles of this side (default: %(default)s)")
    p.add_argument("--overlap", type=nonnegative_int, default=None,
                   help="context kept around each tile's centre (default: the model's receptive-field radius)")
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="float32 (default): exact; bfloat16: about 1.7x faster on a CPU with AVX512_BF16 or AMX "
                        "(and recent GPUs), slower elsewhere; the result differs by about one grey level")
    a = p.parse_args(argv)
    if a.tile < MIN_SIZE:
        raise UserError(f"--tile must be at least {MIN_SIZE}, got {a.tile}")
    if a.overlap is not None and a.overlap < 0:
        raise UserError(f"--overlap must be >= 0, got {a.overlap}")
    if a.images:
        return sharpen_folder(a)
    image = read_image(a.image)
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIZE:
        raise UserError(f"{a.image} is {w}x{h}; sharpen.py needs at least {MIN_SIZE}x{MIN_SIZE} pixels")
    locate_generator(a.model)                        # every input checked before TensorFlow loads
    import_tensorflow()
    G = in_precision(load_generator(a.model), a.precision)
    overlap = receptive_radius(G) if a.overlap is None else a.overlap
    check_tile(a.tile, overlap, h, w)
    out = sharpen_array(G, image, a.tile, overlap)
    imagefiles.write_image(a.out, out)
    print(f"wrote {a.out} ({w}x{h})")
    return 0


if __name__ == "__main__":
    cli(main)
