"""`python inpaint.py latent`: complete damaged images by latent search in a trained paper-C prior
(inpainters/latent.py) and write real / masked / composited / completed PNGs and figure.png
(Yeh's figure 1).

    python inpaint.py latent --run-dir runs/train_wgan_completion --images samples --mask center --out completions
"""
from pathlib import Path

import numpy as np

from quiet_tf import import_tensorflow
import_tensorflow()        # before the imports below load TensorFlow: its start-up INFO lines stay off stderr

import tensorflow as tf

import cliargs
from blend import blend_batch
from cliargs import positive_float, positive_int, seed_int
from data.masks import example_seed, make_mask
from data.preprocess import center_crop_resize, to_float, to_uint8
from data.sources import open_source
from errors import UserError
from imagefiles import write_png
from inpainters.latent import CARD, latent_inpainter, search_optimizer
from training.flags import print_config
from training.summaries import image_grid

PROG = "inpaint.py latent"


def build_parser():
    p = cliargs.ArgumentParser(prog=PROG,
                               description="Complete damaged images by latent search in a trained paper-C run.")
    p.add_argument("--run-dir", default="runs/train_wgan_completion", help="the trained run (default: %(default)s)")
    p.add_argument("--images", default="samples",
                   help="a folder of images, or 'samples' (scikit-image's held-out photos) (default: %(default)s)")
    p.add_argument("--mask", default=CARD["search_mask"],
                   help="center (S/2 square), rectangles (random, per image), or a PNG path (white = hole) "
                        "(default: %(default)s)")
    p.add_argument("--out", default=None, help="output folder (default: <run-dir>/completions)")
    p.add_argument("--iterations", type=positive_int, default=CARD["search_iterations"], help="(default: %(default)s)")
    p.add_argument("--lam", type=float, default=CARD["lam"], help="lambda of L_perceptual (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=CARD["search_lr"], help="Adam on z (default: %(default)s)")
    p.add_argument("--weighted-context", action="store_true", default=CARD["weighted_context"],
                   help="Yeh's weighting: each known pixel by the hole fraction of its 7x7 neighbourhood")
    p.add_argument("--batch-size", type=positive_int, default=CARD["batch_size"],
                   help="images searched at once (default: %(default)s)")
    p.add_argument("--limit", type=positive_int, default=64, help="at most this many images (default: %(default)s)")
    p.add_argument("--seed", type=seed_int, default=0, help="(default: %(default)s)")
    p.add_argument("--no-blend", action="store_true", default=not CARD["blend"], help="skip Poisson blending")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved settings as one JSON object and exit (loads no model)")
    return p


def load_images(spec, size, limit):
    """uint8 [N,S,S,3]: the held-out samples, or a folder's images (centre crop + resize)."""
    source = open_source(spec, "test" if spec == "samples" else "train")
    images = [center_crop_resize(im, size).numpy() for im in source.dataset().take(int(limit))]
    if not images:
        raise UserError(f"no readable images in {spec}")
    return np.stack(images)


def load_masks(spec, n, size, seed):
    """float32 [N,S,S,1] (1 = hole): centre square, random rectangles, or one PNG for every image."""
    if spec in ("center", "rectangles"):
        return np.stack([make_mask(spec, example_seed(seed, i), size, size)[0].numpy() for i in range(n)])
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"--mask {spec}: not 'center', 'rectangles' nor an existing PNG file")
    try:
        raw = tf.io.decode_image(tf.io.read_file(str(path)), channels=1, expand_animations=False)
    except tf.errors.OpError:
        raise UserError(f"cannot read mask {path}; pass a PNG with white = hole") from None
    m = tf.image.resize(tf.cast(raw, tf.float32), [size, size], method="nearest").numpy() > 127
    if not m.any() or m.all():
        raise UserError(f"mask {path} has {'no' if not m.any() else 'only'} hole pixels at {size}x{size}; "
                        f"white marks the hole, and some pixels must stay known")
    return np.repeat(m.astype(np.float32)[None], n, axis=0)


def main(argv=None):
    """`inpaint.py latent`: complete --images with --mask, write the PNGs and figure.png."""
    args = build_parser().parse_args(argv)
    if args.print_config:     # the latent search's optimizer: Adam on z, z clipped to [-1, 1] (Yeh)
        config = {k: v for k, v in vars(args).items() if k != "print_config"}
        return print_config(config, {"optimizer": {"z": {"name": "Adam", **search_optimizer(args.lr)}},
                                     "z_clip": [-1.0, 1.0], "blend": not args.no_blend})
    inpainter = latent_inpainter(args.run_dir, args.iterations, args.lam, args.weighted_context, args.seed,
                                 lr=args.lr, batch_size=args.batch_size)
    s = inpainter.image_size
    real = load_images(args.images, s, args.limit)
    masks = load_masks(args.mask, len(real), s, args.seed)
    y = to_float(real).numpy()
    damaged = y * (1.0 - masks)
    generated = inpainter.predict(damaged, masks)
    composited = to_uint8(masks * generated + (1.0 - masks) * y).numpy()      # paste G(z_hat) into the hole
    completed = composited if args.no_blend else blend_batch(composited, real, masks)
    masked = to_uint8(damaged + masks).numpy()                                # holes drawn white
    out = Path(args.out) if args.out else Path(args.run_dir) / "completions"
    for i in range(len(real)):
        write_png(out / f"real_{i:04d}.png", real[i])
        write_png(out / f"masked_{i:04d}.png", masked[i])
        write_png(out / f"composited_{i:04d}.png", composited[i])
        write_png(out / f"completed_{i:04d}.png", completed[i])
    write_png(out / "figure.png", image_grid({"real": real, "masked": masked, "completed": completed},
                                             max_examples=8))
    print(f"completed {len(real)} images ({inpainter.name}, {args.iterations} iterations, lambda {args.lam}"
          f"{', weighted context' if args.weighted_context else ''}) -> {out}")
    return 0
