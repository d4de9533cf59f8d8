"""Where training images come from: a tensorflow-datasets name, a local folder, or `samples`.

Every source yields uint8 RGB tensors [H, W, 3] (H, W vary). Sources keep their examples as
cheap items -- file paths, or the encoded bytes tfds stores -- in a fixed order, and
`ImageSource.dataset` shuffles, repeats and skips those items BEFORE decoding: resuming a run
after a million examples reads paths (or bytes), it does not decode a million images.

Order and selection (`open_source(spec, split, first=N, n_train=K)`): examples are put in a
deterministic order -- sorted relative paths for a folder, tfds's own order with
`shuffle_files=False` for a tfds name (tfds shuffles examples when it prepares a dataset, so
for celeb_a this is NOT the order of CelebA's file names; a folder of img_align_celeba is) --
then the first K are "train" and examples K..N-1 are "test" (paper A: N=100000, K=80000).

Shuffling is stateless: epoch e is a permutation drawn from `(shuffle_seed, e)` with
`tf.random.stateless_*` ops, so one seed gives one order in every run and process, whatever
the global TF seed, and `skip` jumps over whole epochs arithmetically. Folders and samples get
a full permutation of their paths; tfds records cannot be read at random, so a tfds epoch
permutes windows of consecutive examples (up to 10,000 or 256 MiB of encoded images).

Unreadable files in a folder are dropped (never a crash), collected in `source.unreadable`,
and counted in ONE warning per source once a full pass has been read. `skip` and the
`with_index` positions count source items, unreadable ones included.
"""
from __future__ import annotations

import logging
import os
import threading

import numpy as np
import tensorflow as tf

from data.imagesource import ImageSource, check_split, decode_image, seed_pair, select
from data import tfds_source
from errors import UserError
from imagefiles import decoder_messages

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

# Photographs that ship inside scikit-image's wheel (skimage/data; no pooch download), as
# (name, file). All are >= 300 px on each side. The held-out photos are never trained on by
# `samples`, so a demo is scored on photos its model has not seen. clock_motion.png is left
# out on purpose: it is motion-blurred, a bad sharp target for paper E.
SAMPLE_TRAIN_PHOTOS = (
    ("rocket", "rocket.jpg"),                      # 427x640 colour
    ("hubble_deep_field", "hubble_deep_field.jpg"),  # 872x1000 colour
    ("immunohistochemistry", "ihc.png"),           # 512x512 colour
    ("retina", "retina.jpg"),                      # 1411x1411 colour
    ("motorcycle_left", "motorcycle_left.png"),    # 500x741 colour (stereo pair: both train)
    ("motorcycle_right", "motorcycle_right.png"),  # 500x741 colour
    ("camera", "camera.png"),                      # 512x512 grey -> RGB
    ("coins", "coins.png"),                        # 303x384 grey -> RGB
    ("moon", "moon.png"),                          # 512x512 grey -> RGB
    ("brick", "brick.png"),                        # 512x512 grey texture -> RGB
    ("grass", "grass.png"),                        # 512x512 grey texture -> RGB
    ("gravel", "gravel.png"),                      # 512x512 grey texture -> RGB
)
# [choice, demo scale] A shuffled `samples` train stream crops: random squares of side >= this (or
# the short side) at native resolution, so papers A-D see thousands of distinct examples, not 12
# fixed ones (docs/EXPERIMENTS.md). Paper E's 94-px training crops fit inside every such square.
SAMPLE_CROP_MIN = 128
SAMPLE_TEST_PHOTOS = (
    ("astronaut", "astronaut.png"),                # 512x512 colour, a face (paper A is faces)
    ("chelsea", "chelsea.png"),                    # 300x451 colour
    ("coffee", "coffee.png"),                      # 400x600 colour
)

_PROBE_FILES = 16


# ----------------------------------------------------------------------------- files
class FileSource(ImageSource):
    """Images from a list of files; unreadable files are skipped, counted, reported once."""

    def __init__(self, name: str, paths, where: str = "", crop_min=None):
        self.paths = [str(p) for p in paths]
        super().__init__(name, len(self.paths))
        self.crop_min = crop_min   # see dataset(): random square crops of shuffled streams
        self._paths = tf.constant(self.paths, tf.string)
        self._where = where or name
        self._lock = threading.Lock()
        self._bad: set = set()
        self._reported = False

    def subset(self, paths, name, where):
        """A FileSource of some of these paths, with the same crop setting (paper B's halves)."""
        return FileSource(name, paths, where, crop_min=self.crop_min)

    def dataset(self, shuffle_seed=None, repeat=False, skip=0, with_index=False) -> tf.data.Dataset:
        """ImageSource.dataset; with `crop_min` set (the samples train split), a SHUFFLED stream
        yields a random square crop of each photo instead of the whole photo: side uniform in
        [min(crop_min, short side), short side], position uniform, flipped left-right with
        probability 1/2, drawn from (shuffle_seed, stream position), so a dozen photos give a new
        example at every position of every epoch. Unshuffled reads (evaluation, means) stay whole."""
        images = super().dataset(shuffle_seed, repeat, skip, with_index=True)
        if self.crop_min is not None and shuffle_seed is not None:
            from data.preprocess import random_square_crop_flip
            base = tf.random.experimental.stateless_fold_in(seed_pair(shuffle_seed), 0xC809)
            fold = tf.random.experimental.stateless_fold_in
            images = images.map(lambda i, im: (i, random_square_crop_flip(im, self.crop_min, fold(base, i))),
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return images if with_index else images.map(lambda i, image: image)

    def smallest(self):
        """(path, width, height) of the image with the shortest side, from the file headers
        (PIL reads no pixels); None if no file can be read. Only asked for after a size error."""
        from PIL import Image
        best = None
        for path in self.paths:
            try:
                with Image.open(path) as im:
                    w, h = im.size
            except Exception:        # unreadable files are skipped by the stream too
                continue
            if best is None or min(w, h) < min(best[1], best[2]):
                best = (path, w, h)
        return best

    @property
    def unreadable(self) -> list:
        """Paths found unreadable so far, sorted."""
        with self._lock:
            return sorted(self._bad)

    def _epoch_paths(self, e, seed):
        if seed is None:
            return self._paths
        s = tf.random.experimental.stateless_fold_in(seed, e)
        return tf.random.experimental.stateless_shuffle(self._paths, seed=s, alg="philox")

    def _epochs(self, seed):
        return lambda e: tf.data.Dataset.from_tensor_slices(self._epoch_paths(e, seed))

    def _decode(self, item):
        return decode_image(tf.io.read_file(item))

    def _paths_at(self, js, seed):
        """Paths at stream positions `js` (a gap: consecutive, spanning at most two epochs,
        since the probe found a readable file). Recomputes those epochs' permutations."""
        n = tf.constant(self._count, tf.int64)
        first, last = js[0] // n, js[-1] // n
        return tf.where(js // n == first, tf.gather(self._epoch_paths(first, seed), js % n),
                        tf.gather(self._epoch_paths(last, seed), js % n))

    def _guard(self, images, start, end, seed):
        """Drop undecodable files; find them as gaps in the stream index and report them.

        Decode errors are dropped by ignore_errors(); a scan finds the gaps they leave in the
        index, looks up the missing paths (in-graph, only when there is a gap) and tells
        Python, which logs one warning per source once a whole pass has been read.
        """
        n = self._count
        empty = tf.zeros([0, 0, 3], tf.uint8)
        images = images.ignore_errors()
        if end is not None:  # a sentinel makes a gap at the very end visible too
            images = images.concatenate(tf.data.Dataset.from_tensors((tf.constant(end, tf.int64), empty)))
        images = images.scan(tf.constant(start, tf.int64), lambda expected, x: (x[0] + 1, (x[0], x[1], expected)))

        def account(i, image, gap_start):
            done_before, done_now = (gap_start - start) // n, (i + 1 - start) // n
            crossing = done_now > done_before  # a multiple of n items has now been read
            gap = i > gap_start

            def note():
                missing = tf.cond(gap, lambda: self._paths_at(tf.range(gap_start, i), seed),
                                  lambda: tf.constant([], tf.string))
                return tf.numpy_function(self._note, [missing, crossing], tf.int64)

            done = tf.cond(tf.logical_or(gap, crossing), note, lambda: tf.constant(0, tf.int64))
            with tf.control_dependencies([done]):
                return tf.identity(i), image

        images = images.map(account, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if end is not None:
            images = images.filter(lambda i, image: i < end)
        return images

    def _note(self, missing, crossing) -> np.int64:
        with self._lock:
            for p in missing:
                path = p.decode("utf-8", "surrogateescape")
                if path not in self._bad:
                    log.debug("skipping unreadable image %s", path)
                    self._bad.add(path)
            report = bool(crossing) and self._bad and not self._reported
            if report:
                self._reported = True
                bad = sorted(self._bad)
        if report:
            log.warning("%d of %d files in %s could not be decoded as images and were "
                        "skipped (first: %s)", len(bad), self._count, self._where, bad[0])
        return np.int64(0)

    def _probe(self):
        """Fail early, with one line, if the first files are all unreadable (not images)."""
        for path in self.paths[:_PROBE_FILES]:
            with decoder_messages():        # TF's "Local rendezvous is aborting" lines: our one line says it
                try:
                    decode_image(tf.io.read_file(path))
                    return
                except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnknownError):
                    continue
        raise UserError(f"none of the first {min(_PROBE_FILES, self._count)} image files in "
                        f"{self._where} could be decoded (e.g. {self.paths[0]}); "
                        "check that the folder holds JPEG/PNG/BMP/WebP images")


def list_images(folder: str) -> list:
    """Image files under `folder`, recursively, sorted by relative path ('/'-separated).

    Extensions IMAGE_EXTENSIONS, any case; names starting with '.' (hidden files, macOS
    '._x.jpg' resource forks) are ignored. Symlinked sub-folders are not followed.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS):
                rel = os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/")
                found.append(rel)
    return [os.path.join(folder, rel) for rel in sorted(found)]


def folder_source(folder: str, split="train", first=None, n_train=None, crop_min=None) -> FileSource:
    """All images under `folder` (sorted); without first/n_train both splits are all files.
    crop_min: shuffled streams yield random square crops (FileSource.dataset; --random-crops)."""
    check_split(split)
    if not os.path.isdir(folder):
        raise UserError(f"dataset folder {folder} does not exist")
    paths = list_images(folder)
    if not paths:
        raise UserError(f"no images ({' '.join(IMAGE_EXTENSIONS)}) found under {folder}; "
                        "pass a folder of images or a tensorflow-datasets name")
    paths = select(paths, split, first, n_train, f"folder {folder}")
    source = FileSource(os.path.basename(os.path.normpath(folder)) or folder, paths, where=folder,
                        crop_min=crop_min if split == "train" else None)
    source._probe()
    return source


def samples_source(split="train") -> FileSource:
    """scikit-image's bundled photographs, split by photo (SAMPLE_TRAIN/TEST_PHOTOS); shuffled
    streams of the train split yield random multi-scale crops (SAMPLE_CROP_MIN, FileSource.dataset)."""
    check_split(split)
    import skimage.data

    photos = SAMPLE_TRAIN_PHOTOS if split == "train" else SAMPLE_TEST_PHOTOS
    paths = [os.path.join(skimage.data.data_dir, f) for _, f in photos]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise UserError(f"scikit-image's bundled photo {missing[0]} is missing; "
                        "reinstall scikit-image (pip install scikit-image)")
    source = FileSource("samples", paths, where=f"samples/{split}",
                        crop_min=SAMPLE_CROP_MIN if split == "train" else None)
    source.photo_names = [name for name, _ in photos]
    return source


# ----------------------------------------------------------------------------- entry point
def open_source(spec: str, split: str = "train", data_dir=None, first=None, n_train=None,
                image_key=None, shuffle_window=None, crop_min=None) -> ImageSource:
    """"samples" | an existing folder (of images, or prepared by data.shards) | a tfds name
    ("celeb_a", "cifar10", "div2k/bicubic_x2").

    An existing folder wins over a tfds name of the same spelling. For a folder without
    first/n_train, "train" and "test" are both all its images (use a separate test folder, or
    first/n_train). "samples" always uses its fixed photo split and ignores first/n_train.
    crop_min (--random-crops): a folder's shuffled training stream yields random square crops of
    side >= crop_min, as `samples` does at SAMPLE_CROP_MIN; for images folders only.
    """
    spec = str(spec)
    if spec == "samples":
        if first is not None or n_train is not None:
            log.info("samples has a fixed photo split; first/n_train are ignored")
        return samples_source(split)
    path = os.path.expanduser(spec)
    if os.path.isdir(path):
        from data import records   # a folder written by `python -m data.shards`: decoded images
        if records.is_prepared(path):
            if crop_min is not None:
                raise UserError(f"--random-crops needs a folder of image files; {spec} holds prepared "
                                "records (already resized): drop --random-crops")
            return records.record_source(path, split, first, n_train)
        return folder_source(path, split, first, n_train, crop_min=crop_min)
    if os.path.exists(path):
        raise UserError(f"--dataset {spec} is a file; pass a folder of images, 'samples' "
                        "or a tensorflow-datasets name")
    if crop_min is not None:
        raise UserError(f"--random-crops needs a folder of image files, not the dataset {spec!r}: drop it")
    if tfds_source.is_tfds_name(spec):
        return tfds_source.tfds_source(spec, split, data_dir, first, n_train, image_key, shuffle_window)
    raise UserError(f"dataset {spec!r}: no such folder, and not a tensorflow-datasets name "
                    "(e.g. celeb_a, cifar10, div2k/bicubic_x4) nor 'samples'")
