"""Damage an image as a transmission error would (paper D's use case), for inpaint.py to repair.

    python damage.py --image photo.jpg --kind burst --seed 3 --resize 128 --out damaged.png
    python inpaint.py --model runs/train_context_encoder --image damaged.png \\
        --mask damaged_mask.png --out repaired.png

A lost packet of a block-coded image or video frame takes whole 16x16 macroblocks with it:
`macroblock` loses blocks independently (each with probability --rate), `burst` loses runs of
consecutive blocks along a row (raster order, as one packet carries them), `center` removes the
centre square the paper trains on. The lost pixels are painted --fill (white: the paper's
training input) and the mask is written as a PNG, white = lost. Both files are lossless PNGs.
The masks come from data/masks.py, so they are the ones the model trains on.
"""
import argparse
from pathlib import Path

import numpy as np

from errors import UserError, cli
import cliargs
from cliargs import fraction, image_side, positive_int, seed_int
from imagefiles import read_image, write_png
from quiet_tf import import_tensorflow

FILLS = {"white": 255, "black": 0, "gray": 128}


def parse_args(argv=None):
    p = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, verbose=True)
    p.add_argument("--image", required=True, help="the image to damage (JPEG, PNG, BMP, WebP)")
    p.add_argument("--out", required=True, help="the damaged image, a .png")
    p.add_argument("--mask-out", default=None, help="the mask .png, white = lost (default: <out>_mask.png)")
    p.add_argument("--kind", choices=("macroblock", "burst", "center"), default="macroblock",
                   help="what is lost (default: %(default)s)")
    p.add_argument("--seed", type=seed_int, default=0, help="which random loss pattern (default: %(default)s)")
    p.add_argument("--block", type=positive_int, default=16, help="macroblock side in pixels (default: %(default)s)")
    p.add_argument("--rate", type=fraction, default=0.25,
                   help="--kind macroblock: probability that a block is lost (default: %(default)s)")
    p.add_argument("--resize", type=image_side, default=None, metavar="N",
                   help="first crop the largest centred square and resize it to N x N (128 = what the "
                        "model sees, so the blocks match its training) (default: keep the image as is)")
    p.add_argument("--fill", choices=tuple(FILLS), default="white",
                   help="colour of the lost pixels (default: %(default)s)")
    return p.parse_args(argv)


def damage(image, kind="macroblock", seed=0, block=16, rate=0.25, fill=255):
    """(damaged uint8 [H,W,3], mask uint8 [H,W] 255 = lost) for an image uint8 [H, W, 3]."""
    from data.masks import make_mask

    h, w = image.shape[:2]
    kw = {"macroblock": dict(block=block, rate=rate), "burst": dict(block=block), "center": {}}[kind]
    mask, _ = make_mask(kind, seed, h, w, **kw)
    hole = mask.numpy()[..., 0] > 0.5
    damaged = image.copy()
    damaged[hole] = fill
    return damaged, hole.astype(np.uint8) * 255


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    mask_out = Path(args.mask_out) if args.mask_out else out.with_name(out.stem + "_mask.png")
    if out.resolve() == mask_out.resolve():
        raise UserError(f"--out and --mask-out are the same file {out}: the mask would overwrite the damaged image; "
                        f"give --mask-out another name")
    for path, flag in ((out, "--out"), (mask_out, "--mask-out")):
        if path.suffix.lower() != ".png":
            raise UserError(f"{flag} {path} must end in .png (lossless, so the lost pixels keep their exact value)")
    if args.block < 1 or not 0.0 <= args.rate <= 1.0:
        raise UserError(f"--block must be >= 1 and --rate in [0, 1], got {args.block} and {args.rate}")
    image = read_image(args.image)
    if args.resize is not None and args.resize < 2:
        raise UserError(f"--resize must be >= 2, got {args.resize}")
    import_tensorflow()           # the inputs checked; TensorFlow's start-up lines stay off stderr
    if args.resize is not None:
        from data.preprocess import center_crop_resize

        image = center_crop_resize(image, args.resize).numpy()
    h, w = image.shape[:2]
    need = 2 if args.kind == "center" else args.block
    if min(h, w) < need:
        raise UserError(f"{args.image} is {w}x{h} pixels: too small to lose "
                        f"{'a centre square' if args.kind == 'center' else f'{need}x{need} macroblocks'} "
                        f"(needs at least {need} on each side); use a larger image or a smaller --block")
    damaged, mask = damage(image, args.kind, args.seed, args.block, args.rate, FILLS[args.fill])
    write_png(out, damaged)
    write_png(mask_out, mask[..., None])
    what = "the centre square" if args.kind == "center" else (
        f"{int(mask[::args.block, ::args.block].astype(bool).sum())} macroblocks of {args.block}x{args.block}")
    print(f"lost {what} ({(mask > 0).mean():.1%} of the pixels); wrote {out} and {mask_out}")
    print(f"repair: python inpaint.py --model RUN_DIR --image {out} --mask {mask_out} --out repaired.png")
    return 0


if __name__ == "__main__":
    cli(main)
