"""Decode encoded image bytes to uint8 RGB in the TensorFlow graph: one decoder for the training
pipelines (data/) and for every user image (imagefiles.read_image), so both see the same pixels.
TensorFlow is imported when an image is decoded, not when a tool starts.
"""


def decode_image(data):
    """Encoded JPEG/PNG/BMP/WebP/GIF bytes (string tensor) -> uint8 RGB [H, W, 3].

    Grey is replicated to 3 channels and alpha dropped (channels=3). JPEG uses libjpeg's
    accurate integer IDCT, which matches OpenCV and PIL bit for bit (TF's default fast IDCT
    is off by up to ~15 levels). A 16-bit PNG (bit depth at byte 24, in IHDR) is decoded at
    16 bits and scaled with round(x / 257), so 65535 -> 255 exactly (TF's own uint16 -> uint8
    conversion truncates). In-graph TF decoders: about half the CPU of OpenCV inside
    tf.numpy_function, and no GIL. EXIF orientation is not applied. Shared by the training
    pipelines (data/) and read_image.
    """
    import tensorflow as tf     # heavy: imported when an image is decoded, not when a tool starts

    def jpeg():
        return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")

    def png16():
        wide = tf.io.decode_png(data, channels=3, dtype=tf.uint16)
        return tf.cast(tf.round(tf.cast(wide, tf.float32) / 257.0), tf.uint8)

    def other():
        return tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)

    is_jpeg = tf.strings.substr(data, 0, 3) == _JPEG_SIGNATURE
    is_png16 = tf.logical_and(tf.strings.substr(data, 0, 8) == _PNG_SIGNATURE,
                              tf.strings.substr(data, 24, 1) == b"\x10")
    image = tf.cond(is_jpeg, jpeg, lambda: tf.cond(is_png16, png16, other))
    image.set_shape([None, None, 3])
    return image


_JPEG_SIGNATURE = b"\xff\xd8\xff"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
