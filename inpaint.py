"""Complete your own image with your own mask, using any trained inpainting model.

    python inpaint.py --model runs/train_iizuka --image photo.jpg --mask mask.png --out done.png

--model: a run directory (its export/inpainter.keras, or paper C's latent search) or a .keras file.
--mask: a PNG of the image's size, white = hole (grey or RGB; thresholded at 128 on the mean of
its channels). The image is resized to the model's size (known pixels only, so the hole's content
never leaks into them), completed, and the prediction resized back to the original size; every
known pixel of the output is the input's own, and the hole is Poisson-blended into them
(GLCIC's post-processing) unless --no-blend.
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # a user-facing tool: no TensorFlow info lines

import cv2
import numpy as np

from errors import UserError, cli
import cliargs
from imagefiles import read_image, write_image


def read_mask(path, shape):
    """bool [H, W] (True = hole) from a white-on-black PNG of the image's size."""
    mask = read_image(path, "mask")
    if mask.shape[:2] != tuple(shape):
        raise UserError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}: "
                        f"draw the mask at the image's size")
    return check_hole(mask.astype(np.float32).mean(axis=-1) >= 128, f"mask {path}")


def check_hole(hole, what="the mask"):
    """bool hole [H, W] -> itself; no hole or all hole -> UserError naming `what` (inpaint.py, app.py)."""
    if not hole.any():
        raise UserError(f"{what} has no hole (no white pixels): paint the region to fill in white")
    if hole.all():
        raise UserError(f"{what} is all hole: leave some of the image known (black in the mask)")
    return hole


def to_model_size(image, hole, size):
    """The image and mask at size x size. The image is averaged over KNOWN pixels only (area
    resampling of image * known, divided by that of known), and every small pixel that any hole
    pixel touches is a hole, so the hole's content never reaches the network."""
    known = (~hole).astype(np.float32)
    small_known = cv2.resize(known, (size, size), interpolation=cv2.INTER_AREA)
    weighted = cv2.resize(image.astype(np.float32) * known[..., None], (size, size), interpolation=cv2.INTER_AREA)
    small_hole = small_known < 1.0 - 1e-4
    small = weighted / np.maximum(small_known, 1e-6)[..., None]
    small[small_hole] = 0.0
    return small / 127.5 - 1.0, small_hole.astype(np.float32)[..., None]


NATIVE_MARGIN = 64   # [choice] native resolution: context kept around the hole's box, in pixels (at least)
RESOLUTIONS = ("auto", "model", "native")
# [choice, measured] "auto" (the default): native where the network is fully convolutional (paper A), model
# for B, C, D. On the 3 held-out photos at 256 and 384 px, 24 holes of the demo's training size (12-24 px),
# the demo's paper-A model (64 px, residual output) fills holes at 16.95 dB native against 14.48 dB model
# (python -m experiments.native; README "Native resolution").


def native_prediction(inpainter, image, hole):
    """uint8 [H,W,3] prediction of a fully convolutional network run at the photo's own resolution,
    on a crop around the hole (its box plus max(NATIVE_MARGIN, box side) of context), reflect-padded
    to a multiple of 4; pixels outside the crop are the input's own."""
    ys, xs = np.nonzero(hole)
    side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    margin = max(NATIVE_MARGIN, int(side))
    y0, y1 = max(ys.min() - margin, 0), min(ys.max() + 1 + margin, hole.shape[0])
    x0, x1 = max(xs.min() - margin, 0), min(xs.max() + 1 + margin, hole.shape[1])
    crop, crop_hole = image[y0:y1, x0:x1].astype(np.float32), hole[y0:y1, x0:x1]
    pad = ((0, -crop.shape[0] % 4), (0, -crop.shape[1] % 4))
    x = np.pad(crop / 127.5 - 1.0, pad + ((0, 0),), mode="reflect")
    m = np.pad(crop_hole, pad, mode="constant").astype(np.float32)[..., None]
    x[m[..., 0] > 0] = 0.0                           # the hole's content never reaches the network
    pred = inpainter.predict_any_size(x, m)[:crop.shape[0], :crop.shape[1]]
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint((pred + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return out


def complete(inpainter, image, hole, blend=True, resolution="auto"):
    """uint8 image [H, W, 3] + bool hole [H, W] -> uint8 [H, W, 3] with the known pixels unchanged.

    resolution "model": the photo goes to the network's size and the prediction comes back by a cubic
    resize; "native": a fully convolutional network (paper A) runs at the photo's own size on a crop
    around the hole (an inpainter without that ability -> UserError); "auto": native where possible."""
    from blend import poisson_blend

    height, width = hole.shape
    can = hasattr(inpainter, "any_size") and inpainter.any_size() is not None
    native = resolution in ("native", "auto") and can
    if resolution == "native" and not can:
        raise UserError(f"{inpainter.name} squeezes the image into a fixed-size code, so it only runs at its "
                        f"own {inpainter.image_size}x{inpainter.image_size}: use --resolution model")
    if native:
        big = native_prediction(inpainter, image, hole)
    else:
        small, small_hole = to_model_size(image, hole, inpainter.image_size)
        pred = inpainter.predict(small[None], small_hole[None])[0]
        big = cv2.resize(np.asarray(pred, np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        big = np.clip(np.rint((big + 1.0) * 127.5), 0, 255).astype(np.uint8)
    out = np.where(hole[..., None], big, image)
    if blend:
        out = poisson_blend(out, image, hole)
    return out


LOSSLESS = (".png", ".bmp", ".tif", ".tiff")   # outputs that keep every known pixel exactly


def complete_folder(args):
    """--images DIR --masks DIR --out DIR: every image with its mask, as PNGs named after the images."""
    import folders
    from imagefiles import write_image_atomic
    from inpainters import load_inpainter

    if not args.masks:
        raise UserError("--images needs --masks (a folder of masks named like the images, or <name>_mask.png)")
    images = folders.images_in(args.images)
    inpainter = load_inpainter(args.model)
    items, unpaired = [], 0
    for image in images:
        mask = folders.mask_for(image, args.masks)
        if mask is None:
            unpaired += 1
        else:
            items.append((image.stem, (image, mask)))
    if not items:
        raise UserError(f"no image in {args.images} has a mask in {args.masks} (x.png or x_mask.png for image x.*)")

    def one(paths, out):
        image = read_image(paths[0], "image")
        write_image_atomic(out, complete(inpainter, image, read_mask(paths[1], image.shape[:2]), blend=args.blend,
                                           resolution=args.resolution))

    folders.run_batch(items, args.out, one, f"inpainting with {inpainter.name}")
    if unpaired:
        print(f"{unpaired} image(s) without a mask in {args.masks} were left out")
    return 0


def main(argv=None):
    parser = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
                             "where the network allows it, else model (default: %(default)s, measured; README)")
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
    image = read_image(args.image, "image")
    hole = read_mask(args.mask, image.shape[:2])
    from inpainters import load_inpainter
    inpainter = load_inpainter(args.model)
    out = complete(inpainter, image, hole, blend=args.blend, resolution=args.resolution)
    path = write_image(args.out, out)
    print(f"completed {int(hole.sum())} hole pixels of {args.image} with {inpainter.name} "
          f"({inpainter.image_size}x{inpainter.image_size}{', Poisson-blended' if args.blend else ''}) -> {path}")
    return 0


if __name__ == "__main__":
    cli(main)
