"""tensorflow-datasets sources: a prepared tfds split kept encoded until decoding, and the offline
check that stops an unprepared one in seconds (one HEAD request) instead of a long download retry.
data/sources.py's open_source picks this for a tfds name.
"""
from __future__ import annotations

import logging
import re
import threading
import time

import tensorflow as tf

from data.imagesource import (SHUFFLE_WINDOW_BYTES, SHUFFLE_WINDOW_MAX, ImageSource, check_split, select,
                              shuffle_windows)
from errors import UserError

log = logging.getLogger(__name__)


class TfdsSource(ImageSource):
    """One image feature of a prepared tensorflow-datasets split, kept encoded until decoding."""

    def __init__(self, name, builder, split: str, image_key: str, count: int, window: int):
        super().__init__(name, count)
        self.builder, self.split, self.image_key = builder, split, image_key
        self.window = max(1, min(int(window), self._count))

    def _epochs(self, seed):
        """Epochs read tfds's order; shuffled, each window of `window` consecutive examples is
        permuted from (seed, epoch, window) -- the encoded bytes need no random access, and
        tfds already shuffled the examples globally when it prepared the dataset."""
        import tensorflow_datasets as tfds

        # Every image feature stays encoded (div2k's unused 'lr' is never decoded either).
        features = self.builder.info.features
        decoders = {k: tfds.decode.SkipDecoding() for k, f in features.items()
                    if isinstance(f, tfds.features.Image)}
        base = self.builder.as_dataset(split=self.split, shuffle_files=False, decoders=decoders)
        base = base.map(lambda ex: ex[self.image_key])
        if seed is None:
            return lambda e: base

        return lambda e: shuffle_windows(base, tf.random.experimental.stateless_fold_in(seed, e), self.window)


_TFDS_NAME = re.compile(r"^[a-z][a-z0-9_]*(/[\w.\-]+)?(:[\w.*\-]+)?$")


def is_tfds_name(spec: str) -> bool:
    if not _TFDS_NAME.match(spec):
        return False
    import tensorflow_datasets as tfds

    try:
        tfds.builder_cls(re.split(r"[/:]", spec)[0])
        return True
    except Exception:  # DatasetNotFoundError and friends: not a tfds name
        return False


def _manual_hint(name: str) -> str:
    if name.startswith("celeb_a"):
        return ("download img_align_celeba.zip by hand (CelebA site or a mirror, 'Align&Cropped "
                "Images'), unzip it and pass the folder: --dataset PATH/img_align_celeba")
    if name.startswith("div2k"):
        return ("download DIV2K_train_HR.zip (and DIV2K_valid_HR.zip for the evaluation set) by hand from "
                "data.vision.ee.ethz.ch/cvl/DIV2K, unzip it and pass the folder: --dataset PATH/DIV2K_train_HR")
    return "download the images by hand and pass their folder instead: --dataset PATH"


# [choice] How long an unprepared tfds dataset may take to show that its download hosts answer at all.
# Offline, tfds itself retries each download for minutes (urllib3, 10 tries per file) before failing.
PROBE_SECONDS = 3.0
TFDS_GCS_URL = "https://storage.googleapis.com/tfds-data/"   # tfds first tries its prepared copy there


def _probe_urls(builder) -> list:
    """One URL per host an unprepared tfds dataset would download from (tfds' GCS copy first); empty
    when the builder declares no downloads (it may then prepare offline, e.g. generated data)."""
    from urllib.parse import urlsplit
    try:
        infos = builder.url_infos or {}
    except Exception:          # no checksums file, an unreadable one: let tfds decide
        infos = {}
    if not infos:
        return []
    urls, hosts = [], set()
    for url in [TFDS_GCS_URL, *sorted(infos)]:
        host = urlsplit(url).hostname
        if host and host not in hosts:
            hosts.add(host)
            urls.append(url)
    return urls


def _any_reachable(urls, seconds=PROBE_SECONDS) -> bool:
    """True as soon as one URL's host answers an HTTP HEAD (any status: the network works); False when
    all fail, or none answers within `seconds` (a hanging DNS lookup included: the probes run in
    daemon threads that are left behind). Proxies come from the environment, as for tfds' downloads."""
    import queue

    import requests

    answers = queue.Queue()

    def probe(url):
        try:
            requests.head(url, timeout=seconds, allow_redirects=False)
            answers.put(True)
        except Exception:      # DNS, refused, timeout, proxy, TLS: this host cannot be used
            answers.put(False)

    for url in urls:
        threading.Thread(target=probe, args=(url,), daemon=True, name="tfds-probe").start()
    deadline = time.monotonic() + seconds
    for _ in urls:
        try:
            if answers.get(timeout=max(0.0, deadline - time.monotonic())):
                return True
        except queue.Empty:
            return False
    return False


def _offline(builder, name):
    """None, or the one-line error for an unprepared tfds dataset whose download hosts do not answer
    (offline): which dataset, where tfds looked, and how to pass a local copy. Checked before
    download_and_prepare, which would retry every download for minutes. A prepared dataset passes
    without any network access."""
    if builder.is_prepared():
        return None
    urls = _probe_urls(builder)
    if not urls or _any_reachable(urls):
        return None
    from urllib.parse import urlsplit
    hosts = ", ".join(urlsplit(u).hostname for u in urls)
    return (f"tensorflow-datasets '{name}' is not prepared in {builder.data_dir_root} (no "
            f"{builder.data_dir}) and cannot be downloaded: its download hosts ({hosts}) did not answer "
            f"within {PROBE_SECONDS:g} s (offline?); pass --data-dir DIR of a copy prepared elsewhere "
            f"(`tfds build {name} --data_dir DIR`), or {_manual_hint(name)}")


class _quiet_absl:
    """Raise the 'absl' logger (tfds logs through it) to ERROR for a block; restore it after."""

    def __enter__(self):
        self.logger = logging.getLogger("absl")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)
        return False


def tfds_source(name, split="train", data_dir=None, first=None, n_train=None, image_key=None,
                shuffle_window=None) -> TfdsSource:
    """A tfds dataset (downloaded and prepared into data_dir on first use).

    Without first/n_train, `split` is the tfds split of that name; "test" falls back to
    "validation" where a builder has no test split (div2k). With first/n_train the examples
    come from the tfds "train" split in tfds order: "train" = [:n_train], "test" = [n_train:first].
    image_key: the image feature; default 'image', or 'hr' where there is none (div2k).
    """
    import tensorflow_datasets as tfds

    try:
        with _quiet_absl():        # tfds' "Variant folder ... has no dataset_info.json" for a missing dataset
            builder = tfds.builder(name, data_dir=data_dir)
            offline = _offline(builder, name)
        if offline is None:
            builder.download_and_prepare()
    except Exception as e:  # quota, offline, checksum, manual-download: all end the same way
        why = " ".join(str(e).split())[:160]
        raise UserError(f"could not download/prepare tensorflow-datasets '{name}' "
                        f"({type(e).__name__}: {why}); {_manual_hint(name)}") from e
    if offline is not None:
        raise UserError(offline)

    features = builder.info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    if image_key is None:
        image_key = "image" if "image" in images else "hr" if "hr" in images else (images or [None])[0]
    if image_key not in images:
        raise UserError(f"tensorflow-datasets '{name}' has no image feature {image_key!r} "
                        f"(image features: {images}); pass image_key=")

    splits = builder.info.splits
    if first is None and n_train is None:
        tfds_split = split
        if split == "test" and "test" not in splits:
            if "validation" not in splits:
                raise UserError(f"tensorflow-datasets '{name}' has no test or validation split "
                                f"(splits: {sorted(splits)}); use first/n_train to hold out images")
            tfds_split = "validation"
            log.info("%s has no test split; using its validation split as test", name)
        if tfds_split not in splits:
            raise UserError(f"tensorflow-datasets '{name}' has no split {tfds_split!r} "
                            f"(splits: {sorted(splits)})")
    else:
        check_split(split)
        if "train" not in splits:
            raise UserError(f"tensorflow-datasets '{name}' has no train split to select from")
        total = splits["train"].num_examples
        first_ = total if first is None else int(first)
        n_train_ = first_ if n_train is None else int(n_train)
        # Reuse the list logic on index ranges to get the same checks and messages.
        chosen = select(range(total), split, first_, n_train_, f"the train split of '{name}'")
        tfds_split = f"train[{chosen.start}:{chosen.stop}]"

    count = splits[tfds_split].num_examples
    if count == 0:
        raise UserError(f"split {tfds_split!r} of tensorflow-datasets '{name}' is empty")
    if shuffle_window is None:  # bound the encoded bytes held by one shuffle window
        whole = splits[tfds_split.split("[")[0]]
        per_example = max(1, whole.num_bytes // max(1, whole.num_examples))
        shuffle_window = min(SHUFFLE_WINDOW_MAX, SHUFFLE_WINDOW_BYTES // per_example)
    return TfdsSource(name, builder, tfds_split, image_key, count, shuffle_window)


