"""Image files: read any user image as RGB uint8, write PNG (or the format of the extension).

Every command line tool, evaluate.py, the fixed evaluation sets and the training summaries read
and write images here, so an unreadable or unwritable file always ends in the same one-line
UserError, and a PNG is always encoded the same way.
"""
import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from errors import UserError

FORMATS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def read_image(path, what="image"):
    """uint8 RGB [H, W, 3] from a JPEG/PNG/BMP/WebP/GIF/TIFF file (grey copied to 3 channels, alpha
    dropped, 16 bits reduced to 8 as round(x / 257)); a missing or undecodable file -> UserError
    naming `what`. Decoded by OpenCV, without TensorFlow, so a command checks its inputs in well under
    a second; for JPEG and PNG the pixels equal the training pipeline's (data/decode.py:
    libjpeg's accurate integer IDCT, the same 16-bit rounding; tests/test_bad_inputs.py)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not an image file; pass one image")
    if not path.is_file():
        raise UserError(f"no {what} at {path}: the file does not exist")
    data = np.frombuffer(path.read_bytes(), np.uint8)
    with decoder_messages() as said:
        try:
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        except cv2.error:
            image = None
    image = _rgb8(image)
    if image is None:
        raise UserError(f"cannot read {what} {path}: damaged, or not a JPEG/PNG/BMP/WebP/GIF/TIFF image"
                        + (f" ({said[0]})" if said else "")) from None
    if said:
        print(f"warning: {what} {path} is damaged ({said[0]}); using what could be decoded", file=sys.stderr)
    return image


def _rgb8(image):
    """OpenCV's decoded array (BGR[A], grey, 8 or 16 bits) -> uint8 RGB [H, W, 3], None if it is none of those."""
    if image is None or image.ndim not in (2, 3) or image.size == 0:
        return None
    if image.dtype == np.uint16:
        image = np.round(image.astype(np.float32) / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    if image.ndim == 2 or image.shape[2] in (1, 2):          # grey (with alpha)
        return np.repeat(image.reshape(image.shape[0], image.shape[1], -1)[..., :1], 3, axis=2)
    if image.shape[2] not in (3, 4):
        return None
    return np.ascontiguousarray(image[..., 2::-1])            # BGR(A) -> RGB, alpha dropped


@contextlib.contextmanager
def decoder_messages():
    """Capture what C decoders (libjpeg, libpng) print on file descriptor 2 while decoding, so a
    damaged file gives our one line instead of their several; yields the list of lines it read."""
    lines = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):          # no real fd 2 (some embedded interpreters): nothing to hide
        yield lines
        return
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            buffer.seek(0)
            text = buffer.read().decode("utf-8", "replace")
            for line in text.splitlines():         # TensorFlow's log prefix dropped: the message stays
                line = _TF_LOG.sub("", line).strip()
                if line:
                    lines.append(line)


_TF_LOG = re.compile(r"^[IWEF]\d{4} \S+\s+\d+ \S+\] ")


def _encode(image, ext):
    """uint8 [H, W, 3] RGB or [H, W(, 1)] grey -> the bytes of a file of that extension."""
    image = np.asarray(image, np.uint8)
    import cv2                              # PNG too: 10x faster than TensorFlow's encoder (0.1 s against
                                            # 1.2 s for 3 MP, OpenCV's compression level 1), the same pixels
    bgr = image[..., ::-1] if image.ndim == 3 and image.shape[-1] == 3 else image
    ok, data = cv2.imencode(ext, np.ascontiguousarray(bgr))
    if not ok:
        raise OSError("encoding failed")
    return data.tobytes()


def write_image(path, image):
    """uint8 image -> file, in the format of its extension (.png lossless, .jpg, .bmp, .webp, .tif);
    creates the folder; returns the path. An unknown extension or an unwritable path -> UserError."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise UserError(f"unknown image format {path.suffix!r} for {path}: use .png, .jpg, .bmp, .webp or .tif")
    try:
        data = _encode(image, ext)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror or e}); choose another path") from None
    return path


def write_image_atomic(path, image):
    """write_image through a temporary file renamed into place: a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    write_image(tmp, image)
    tmp.replace(path)
    return path


def write_png(path, image):
    """uint8 [H, W, 3] (or grey [H, W, 1]) -> a PNG file at `path` (the folder is created)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError(f"{path} must end in .png")
    return write_image(path, image)
