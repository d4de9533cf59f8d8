"""What every image source shares (data/sources.py's and data/shards.py's): the ImageSource base
class, decoding, the first-N-then-split selection and the windowed shuffle of record streams.

Both source modules import this one, so neither imports the other's internals.
"""
import tensorflow as tf

from errors import UserError
from data.decode import decode_image  # noqa: F401  (data.sources and the pipelines decode with it)

# Byte budget of one shuffle window of a tfds or data.shards source (the records held in memory at once).
SHUFFLE_WINDOW_BYTES = 256 * 2**20
SHUFFLE_WINDOW_MAX = 10_000


def seed_pair(seed):
    """An int seed -> the [2] int64 tensor stateless ops take."""
    return tf.constant([int(seed) % 2**63, 0x5EED], tf.int64)


class ImageSource:
    """A fixed, ordered list of images; `dataset()` streams them as uint8 [H, W, 3]."""

    name: str

    def __init__(self, name: str, count: int):
        self.name = name
        self._count = int(count)

    def __len__(self) -> int:
        return self._count

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, {self._count} images)"

    def _epochs(self, seed):
        """A function e -> the cheap items of epoch e: source order, or permuted from (seed, e)."""
        raise NotImplementedError

    def _decode(self, item):
        """A cheap item -> uint8 [H, W, 3]; here the item is the encoded bytes."""
        return decode_image(item)

    def _guard(self, images, start, end, seed):
        """Hook between decoding and output (FileSource drops and counts unreadable files)."""
        return images

    def dataset(self, shuffle_seed=None, repeat=False, skip=0, with_index=False) -> tf.data.Dataset:
        """uint8 [H, W, 3] RGB images (or (index, image) pairs with `with_index=True`).

        shuffle_seed: None keeps the source order; an int draws a new permutation per epoch
            from (seed, epoch) with stateless ops -- same seed, same order in every run and
            process, whatever the global TF seed.
        repeat: loop forever (epochs 0, 1, 2, ...) instead of stopping after one.
        skip: drop the first `skip` items of that stream before decoding (resume). Whole
            epochs are skipped arithmetically, so this costs at most one epoch of cheap reads.
        with_index: also yield the int64 position of each image in the undecoded stream
            (`skip`, `skip` + 1, ...; an unreadable file leaves a gap instead of shifting the
            rest), so a pipeline can derive per-example seeds from it that survive a resume.
        """
        n = self._count
        skip = int(skip)
        if skip < 0:
            raise ValueError(f"skip must be >= 0, got {skip}")
        first_epoch, offset = divmod(skip, n)
        last_epoch = 2**62 if repeat else max(first_epoch, 1)
        seed = None if shuffle_seed is None else seed_pair(shuffle_seed)
        items = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(self._epochs(seed))
        items = items.enumerate(start=first_epoch * n).skip(offset)
        images = items.map(lambda i, item: (i, self._decode(item)),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        images = self._guard(images, start=skip, end=None if repeat else max(skip, n), seed=seed)
        if not with_index:
            images = images.map(lambda i, image: image)
        return images




def select(items: list, split: str, first, n_train, what: str) -> list:
    """First-N-then-split selection on an ordered list (see module docstring)."""
    if first is None and n_train is None:
        return items
    first = len(items) if first is None else int(first)
    n_train = first if n_train is None else int(n_train)
    if first > len(items):
        raise UserError(f"asked for the first {first} images but {what} has only {len(items)}; "
                        "lower first/n_train")
    if not 0 <= n_train <= first:
        raise UserError(f"n_train={n_train} must be between 0 and first={first}")
    if split == "train":
        chosen = items[:n_train]
    elif n_train == first:  # no held-out part: "test" is the same first N, like no selection
        chosen = items[:first]
    else:
        chosen = items[n_train:first]
    if not chosen:
        raise UserError(f"the {split} part of {what} is empty with first={first}, n_train={n_train}")
    return chosen


def check_split(split):
    if split not in ("train", "test"):
        raise UserError(f"split must be 'train' or 'test', got {split!r}")


def shuffle_windows(items, seed, window, first=0):
    """Permute each run of `window` consecutive items; run w from fold_in(seed, first + w).

    For records without random access (tfds, data.shards): memory is bounded by one window."""
    def permute(w, chunk):
        s = tf.random.experimental.stateless_fold_in(seed, w + first)
        return tf.random.experimental.stateless_shuffle(chunk, seed=s, alg="philox")

    return items.batch(window).enumerate().map(permute).unbatch()
