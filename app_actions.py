"""What the app does to a photo, without the page: check its size, cut the hole a model was trained
to fill (or a data.masks kind), inpaint, blur and sharpen it, score the result, and report each step
to the page's progress, where a Cancel stops it (app.py's tabs and its API endpoints call these;
tests call them directly).
"""
import threading
import time

import numpy as np

from errors import UserError

MIN_SIDE = 16          # [choice] smallest photo side accepted (sharpen.py's minimum; SSIM needs 11)
BLURS = ("the photo is blurred: sharpen it", "blur it with a Gaussian kernel", "blur it with a motion kernel")
MACROBLOCK_RATE = 0.25  # damage.py's default loss probability
PROGRESS_EVERY = 1.0   # [choice] seconds between progress updates on the page (a cancel is checked at every step)


class Cancelled(UserError):
    """The user pressed Cancel: the action stops at its next step (tile or stage)."""


class Cancels:
    """Cancel requests per browser session: the Cancel button asks, and the running action checks at
    each step it reports (a tile, a stage), so it stops there rather than at its end. Per session, so
    one person's Cancel never stops another's action when the app is shared (--host)."""

    def __init__(self):
        self._asked, self._lock = set(), threading.Lock()

    def ask(self, session):
        with self._lock:
            self._asked.add(session)

    def steps(self, session, progress):
        """A fresh action's progress(fraction, text): shown on the page; raises Cancelled once asked."""
        with self._lock:
            self._asked.discard(session)             # a Cancel pressed while nothing ran is forgotten

        shown = [0.0]

        def step(fraction, text):
            with self._lock:
                if session in self._asked:
                    self._asked.discard(session)
                    raise Cancelled(f"cancelled while {text}; nothing was changed")
            now = time.monotonic()
            if now - shown[0] >= PROGRESS_EVERY:     # each update re-renders the page: a browser without a
                shown[0] = now                        # GPU holding 12-MP images took 1 s per update
                progress(fraction, desc=text)
        return step


def session_of(request):
    """The browser session a request came from (None for a direct call without one)."""
    return getattr(request, "session_hash", None)


def _step(progress, fraction, text):
    """Report a step to the page (progress(fraction, text) may raise Cancelled); None: no page."""
    if progress is not None:
        progress(fraction, text)


def check_size(image, what="the photo"):
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UserError(f"{what} is {w}x{h} pixels: the app needs at least {MIN_SIDE}x{MIN_SIDE}")
    return image


def trained_hole(inpainter, config, height, width):
    """(bool hole [H, W], what was cut) for "centre square": the hole the chosen model was trained to
    fill, relative to the region it sees. A model that runs at its own size S sees the whole photo
    resized to S x S, so the centre half of each side is its centre S/2 square (papers B, C, D); a
    fully convolutional one (paper A, native resolution) sees a crop around the hole at the photo's
    own scale, so the hole is the largest it was trained on, in pixels (config hole_max)."""
    hole = np.zeros((height, width), bool)
    native = hasattr(inpainter, "any_size") and inpainter.any_size() is not None
    s = inpainter.image_size
    if native:
        side = max(2, min(int((config or {}).get("hole_max") or s * 3 // 8), height - 2, width - 2))
        top, left = (height - side) // 2, (width - side) // 2
        hole[top:top + side, left:left + side] = True
        return hole, (f"cut a centre square of {side}x{side} px, the largest hole this model was trained to fill "
                      f"(it runs at the photo's own resolution)")
    th, tw = max(1, height // 2), max(1, width // 2)
    top, left = (height - th) // 2, (width - tw) // 2
    hole[top:top + th, left:left + tw] = True
    return hole, (f"cut the centre {tw}x{th} px: half of each side, which is the centre {s // 2}x{s // 2} square "
                  f"it was trained to fill in the {s}x{s} image it sees")


def generated_hole(kind, seed, height, width, block=16):
    """bool [H, W] hole of a data.masks kind (center, rectangles, macroblock, burst) at the photo's size."""
    from data.masks import make_mask
    if kind in ("macroblock", "burst") and not 1 <= block <= min(height, width):
        raise UserError(f"macroblocks of {block} px do not fit a {width}x{height} photo: choose a smaller side")
    kw = {"macroblock": dict(block=block, rate=MACROBLOCK_RATE), "burst": dict(block=block)}.get(kind, {})
    mask, _ = make_mask(kind, int(seed), height, width, **kw)
    return mask.numpy()[..., 0] > 0.5


SCORE_PIXELS = 2_000_000   # [choice] above this, an inpainted photo is scored around its hole (SSIM of 12 MP: 12 s)
SCORE_MARGIN = 32          # [choice] context kept around the hole's box when scoring a large photo


def scores(result, truth, hole=None, baseline=None, baseline_name="input"):
    """PSNR/SSIM of the result (and of the damaged input, to compare) against the clean photo. A large
    inpainted photo is scored on the hole's box and SCORE_MARGIN px around it: inpainting keeps every
    other pixel, so the rest adds only identical pixels (and 12 s of SSIM on 12 MP)."""
    import metrics
    where = ""
    if hole is not None and hole.size > SCORE_PIXELS:
        ys, xs = np.nonzero(hole)
        y0, y1 = max(ys.min() - SCORE_MARGIN, 0), min(ys.max() + 1 + SCORE_MARGIN, hole.shape[0])
        x0, x1 = max(xs.min() - SCORE_MARGIN, 0), min(xs.max() + 1 + SCORE_MARGIN, hole.shape[1])
        if min(y1 - y0, x1 - x0) >= 16:
            crop = (slice(y0, y1), slice(x0, x1))
            result, truth, hole = result[crop], truth[crop], hole[crop]
            baseline = baseline[crop] if baseline is not None else None
            where = f" (scored on the hole's {x1 - x0}x{y1 - y0}-px box with {SCORE_MARGIN} px around it)"
    elif hole is None and truth.shape[0] * truth.shape[1] > SCORE_PIXELS:     # a large sharpened photo
        side = int(SCORE_PIXELS ** 0.5)
        h, w = truth.shape[:2]
        y0, x0 = max((h - side) // 2, 0), max((w - side) // 2, 0)
        crop = (slice(y0, y0 + side), slice(x0, x0 + side))
        result, truth = result[crop], truth[crop]
        baseline = baseline[crop] if baseline is not None else None
        where = f" (scored on the centre {min(side, w)}x{min(side, h)} px of the {w}x{h} photo)"

    def line(image, name):
        text = f"{name}: PSNR {metrics.psnr(image, truth):.2f} dB, SSIM {metrics.ssim(image, truth):.4f}"
        if hole is not None:
            text += f"; in the hole: PSNR {metrics.psnr(image, truth, mask=hole):.2f} dB"
        return text
    lines = [line(result, "result")] + ([line(baseline, baseline_name)] if baseline is not None else [])
    return "\n".join(lines) + f"\n(against the photo you uploaded, the ground truth{where})"


def inpaint_photo(models, entry, photo, hole, blend=True, clean=True, iterations=300, progress=None):
    """uint8 photo [H, W, 3] + bool hole -> (input shown with the hole white, result, scores text).
    progress(fraction, text): told each stage, and may raise Cancelled between them."""
    from inpainters import check_hole, complete
    check_hole(hole, "the hole")
    _step(progress, 0.1, "filling the hole" + (f" ({iterations} search iterations)" if entry.search else ""))
    result = complete(models.get(entry, iterations), photo, hole, blend=blend)
    damaged = photo.copy()
    damaged[hole] = 255                                  # damage.py's white fill: what the hole looks like
    if clean:
        _step(progress, 0.9, "scoring")
    text = scores(result, photo, hole, damaged, "input (hole white)") if clean else \
        "no scores: the photo is not marked clean, so there is no ground truth"
    return damaged, result, text


def blur_photo(photo, how, sigma=1.5, seed=0):
    """The blurred photo for a BLURS choice (the photo itself for the first): data.degrade kernels."""
    if how == BLURS[0]:
        return photo
    from data import degrade
    from data.preprocess import to_float, to_uint8
    if how == BLURS[1]:
        if not 0.1 <= float(sigma) <= 10:
            raise UserError(f"sigma {sigma} is out of range: choose 0.1 to 10 pixels")
        kernel = degrade.gaussian_kernel(float(sigma))
    elif how == BLURS[2]:
        kernel = degrade.motion_kernel([0, int(seed)])
    else:
        raise UserError(f"unknown blur choice {how!r}: choose one of {', '.join(BLURS)}")
    return to_uint8(degrade.blur(to_float(photo), kernel)).numpy()


def sharpen_photo(models, entry, photo, how, sigma=1.5, seed=0, progress=None):
    """uint8 photo -> (the blurred input, the sharpened result, scores text).
    progress(fraction, text): told each stage and tile, and may raise Cancelled between them."""
    if how != BLURS[0]:
        _step(progress, 0.0, "blurring")
    blurred = blur_photo(photo, how, sigma, seed)
    result = models.sharpen(entry, blurred, on_tile=lambda k, n: _step(
        progress, 0.05 + 0.85 * k / n, f"sharpening: tile {k} of {n}"))
    if how != BLURS[0]:
        _step(progress, 0.95, "scoring")
    text = "no scores: the uploaded photo is the blurred input, there is no sharp ground truth" if how == BLURS[0] \
        else scores(result, photo, baseline=blurred, baseline_name="blurred input")
    return blurred, result, text


# ============================================================================ the page
