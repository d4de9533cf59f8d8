"""Complete your own image with your own mask, using any trained inpainting model.

    python inpaint.py --model runs/train_iizuka --image photo.jpg --mask mask.png --out done.png
    python inpaint.py latent --run-dir runs/train_wgan_completion --images samples --mask center --out completions

`latent`: paper C's batch command, latent search in a trained prior (inpainters/latent_command.py;
`python inpaint.py latent --help`); it writes real / masked / completed PNGs and figure.png.

--model: a run directory (its export/inpainter.keras, or paper C's latent search) or a .keras file.
--mask: a PNG of the image's size, white = hole (grey or RGB; thresholded at 128 on the mean of
its channels). The image is resized to the model's size (known pixels only, so the hole's content
never leaks into them), completed, and the prediction resized back to the original size; every
known pixel of the output is the input's own, and the hole is Poisson-blended into them
(GLCIC's post-processing) unless --no-blend.
"""
import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # a user-facing tool: no TensorFlow info lines

import numpy as np

from errors import UserError, cli
import cliargs
import folders
from imagefiles import read_image, write_image, write_image_atomic
from inpainters import RESOLUTIONS, check_hole, complete, load_inpainter, locate_inpainter   # inpainters/
from quiet_tf import import_tensorflow


def read_mask(path, shape):
    """bool [H, W] (True = hole) from a white-on-black PNG of the image's size."""
    mask = read_image(path, "mask")
    if mask.shape[:2] != tuple(shape):
        raise UserError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}: "
                        f"draw the mask at the image's size")
    return check_hole(mask.astype(np.float32).mean(axis=-1) >= 128, f"mask {path}")


LOSSLESS = (".png", ".bmp", ".tif", ".tiff")   # outputs that keep every known pixel exactly


def complete_folder(args):
    """--images DIR --masks DIR --out DIR: every image with its mask, as PNGs named after the images."""
    if not args.masks:
        raise UserError("--images needs --masks (a folder of masks named like the images, or <name>_mask.png)")
    images = folders.images_in(args.images)
    items, unpaired = [], 0
    for image in images:
        mask = folders.mask_for(image, args.masks)
        if mask is None:
            unpaired += 1
        else:
            items.append((image.stem, (image, mask)))
    if not items:
        raise UserError(f"no image in {args.images} has a mask in {args.masks} (x.png or x_mask.png for image x.*)")
    locate_inpainter(args.model)                     # every path checked before TensorFlow loads
    import_tensorflow()
    inpainter = load_inpainter(args.model)

    def one(paths, out):
        image = read_image(paths[0], "image")
        write_image_atomic(out, complete(inpainter, image, read_mask(paths[1], image.shape[:2]), blend=args.blend,
                                           resolution=args.resolution))

    folders.run_batch(items, args.out, one, f"inpainting with {inpainter.name}")
    if unpaired:
        print(f"{unpaired} image(s) without a mask in {args.masks} were left out")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "latent":
        # Only this subcommand needs it, and it imports TensorFlow (the single-image path loads it later).
        from inpainters import latent_command
        return latent_command.main(argv[1:])
    parser = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                    verbose=True)
    parser.add_argument("--model", required=True, help="trained run directory or exported .keras file")
    one = parser.add_mutually_exclusive_group(required=True)
    one.add_argument("--image", help="the image to complete")
    one.add_argument("--images", help="a folder of images to complete (with --masks; --out is then a folder)")
    parser.add_argument("--mask", help="PNG of the image's size, white = hole")
    parser.add_argument("--masks", help="with --images: a folder of masks, x.png or x_mask.png for image x.*")
    parser.add_argument("--out", required=True, help="where to write the result (.png keeps it lossless)")
    parser.add_argument("--resolution", choices=RESOLUTIONS, default="auto",
                        help="model: resize to the network's size and back; native: run a fully convolutional "
                             "network (paper A) at the photo's own size, on a crop around the hole; auto: native "
                             "where the network allows it, else model (default: %(default)s, measured: docs/papers/A.md)")
    parser.add_argument("--no-blend", dest="blend", action="store_false",
                        help="paste the network's hole as it is, without Poisson blending")
    args = parser.parse_args(argv)
    if args.images:
        return complete_folder(args)
    if not args.mask:
        raise UserError("--image needs --mask (a PNG of the image's size, white = hole)")
    if Path(args.out).suffix.lower() not in LOSSLESS:
        raise UserError(f"--out {args.out}: {Path(args.out).suffix or 'no extension'} is not lossless, so the known "
                        f"pixels would change (JPEG alters nearly all of them); use .png")
    image = read_image(args.image, "image")          # every input checked before TensorFlow loads
    hole = read_mask(args.mask, image.shape[:2])
    locate_inpainter(args.model)
    import_tensorflow()
    inpainter = load_inpainter(args.model)
    out = complete(inpainter, image, hole, blend=args.blend, resolution=args.resolution)
    path = write_image(args.out, out)
    native = args.resolution != "model" and hasattr(inpainter, "any_size") and inpainter.any_size() is not None
    size = "at the photo's own resolution" if native else f"at {inpainter.image_size}x{inpainter.image_size}"
    print(f"completed {int(hole.sum())} hole pixels of {args.image} with {inpainter.name} "
          f"({size}{', Poisson-blended' if args.blend else ''}) -> {path}")
    return 0


if __name__ == "__main__":
    cli(main)
