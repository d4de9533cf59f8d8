"""data/sources.py: folders (formats, bad files, order), samples, selection, shuffle/skip, tfds."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import tensorflow as tf
import tensorflow_datasets as tfds

from data import sources, tfds_source
from data.sources import SAMPLE_TEST_PHOTOS, SAMPLE_TRAIN_PHOTOS, open_source
from errors import UserError

RNG = np.random.default_rng(0)
ROOT = Path(__file__).resolve().parents[1]


def _write(path, rgb_or_grey, *params):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = rgb_or_grey
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[..., ::-1]  # OpenCV writes BGR
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), arr, list(params))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder of real photo crops in every format, plus a corrupt file and non-images.

    Returns (root, {relative path: expected uint8 RGB or None for the corrupt file}).
    """
    root = tmp_path_factory.mktemp("images")
    astro, coffee = skimage.data.astronaut()[100:124, 200:232], skimage.data.coffee()[50:74, 60:92]
    chelsea, rocket = skimage.data.chelsea()[80:104, 150:182], skimage.data.rocket()[200:224, 300:332]
    camera = skimage.data.camera()[200:224, 200:232]
    alpha = RNG.integers(0, 256, chelsea.shape[:2], dtype=np.uint8)
    rocket16 = np.clip(rocket.astype(np.int64) * 257 + RNG.integers(-128, 129, rocket.shape), 0, 65535)
    grey16 = RNG.integers(0, 65536, (24, 32), dtype=np.uint16)
    expected = {
        "a_astronaut.png": astro,
        "b_coffee.jpg": coffee,                                    # lossy: compared loosely
        "c_camera_grey.png": np.repeat(camera[..., None], 3, 2),   # grey -> RGB
        "d_chelsea_rgba.png": chelsea,                             # alpha dropped
        "e_rocket16.png": np.rint(rocket16 / 257).astype(np.uint8),  # 16 -> 8 bits, rounded
        "f_corrupt.jpg": None,
        "sub/deeper/h_astronaut.bmp": astro,
        "sub/deeper/i_coffee.webp": coffee,                        # lossless WebP
        "sub/deeper/j_grey16.png": np.repeat(np.rint(grey16 / 257).astype(np.uint8)[..., None], 3, 2),
        "sub/g_chelsea.JPG": chelsea,                              # upper-case extension, lossy
    }
    _write(root / "a_astronaut.png", astro)
    _write(root / "b_coffee.jpg", coffee, cv2.IMWRITE_JPEG_QUALITY, 95)
    _write(root / "c_camera_grey.png", camera)
    _write(root / "d_chelsea_rgba.png", np.dstack([chelsea, alpha]))
    _write(root / "e_rocket16.png", rocket16.astype(np.uint16))
    (root / "f_corrupt.jpg").write_bytes(RNG.bytes(2000))
    _write(root / "sub/deeper/h_astronaut.bmp", astro)
    _write(root / "sub/deeper/i_coffee.webp", coffee, cv2.IMWRITE_WEBP_QUALITY, 101)
    _write(root / "sub/deeper/j_grey16.png", grey16)
    _write(root / "sub/g_chelsea.JPG", chelsea, cv2.IMWRITE_JPEG_QUALITY, 95)
    (root / "notes.txt").write_text("not an image")
    (root / "._a_astronaut.png").write_bytes(RNG.bytes(100))  # macOS resource fork: ignored
    return root, expected


@pytest.fixture
def numbered(tmp_path):
    """10 tiny PNGs whose constant pixel value (10 * k) names them: 00.png .. 09.png."""
    for k in range(10):
        _write(tmp_path / f"{k:02d}.png", np.full((4, 5, 3), 10 * k, np.uint8))
    return tmp_path


def _values(ds):
    """Image stream -> list of each image's (constant) pixel value / 10."""
    return [int(im[0, 0, 0]) // 10 for im in ds.as_numpy_iterator()]


def test_folder_order_formats_and_pixels(folder):
    root, expected = folder
    source = open_source(str(root))
    rel = [os.path.relpath(p, root).replace(os.sep, "/") for p in source.paths]
    assert rel == sorted(expected)  # recursive, sorted, .txt and dot-files ignored, .JPG kept
    assert len(source) == len(expected)
    images = list(source.dataset().as_numpy_iterator())
    good = [r for r in rel if expected[r] is not None]
    assert len(images) == len(good) == len(expected) - 1
    for r, image in zip(good, images):
        want = expected[r]
        assert image.dtype == np.uint8 and image.shape == want.shape, r
        if r.lower().endswith(".jpg"):
            # Bit-exact with OpenCV's decoder on the file, and close to the encoded photo.
            cv = cv2.imread(str(root / r))[..., ::-1]
            np.testing.assert_array_equal(image, cv, err_msg=r)
            assert np.abs(image.astype(float) - want).mean() < 3.0, r
        else:
            np.testing.assert_array_equal(image, want, err_msg=r)


def test_unreadable_file_skipped_and_reported_once(folder, caplog):
    root, expected = folder
    source = open_source(str(root))
    n = len(source)
    with caplog.at_level(logging.WARNING, logger="data.sources"):
        got = list(source.dataset(shuffle_seed=3, repeat=True, with_index=True).take(3 * (n - 1))
                   .as_numpy_iterator())
        list(source.dataset().as_numpy_iterator())  # another pass: no second report
    reports = [r for r in caplog.records if "could not be decoded" in r.getMessage()]
    assert len(reports) == 1
    assert f"1 of {n} files" in reports[0].getMessage() and "f_corrupt.jpg" in reports[0].getMessage()
    assert [os.path.basename(p) for p in source.unreadable] == ["f_corrupt.jpg"]
    # Each epoch lost exactly one index (the corrupt file's), and kept the rest in order.
    index = [int(i) for i, _ in got]
    assert index == sorted(index)
    for e in range(2):
        assert len([i for i in index if e * n <= i < (e + 1) * n]) == n - 1


def test_unreadable_last_file_is_found_at_the_end_of_a_pass(numbered, caplog):
    (numbered / "99.png").write_bytes(b"not a png" * 10)  # sorts last: no later image shows the gap
    source = open_source(str(numbered))
    with caplog.at_level(logging.WARNING, logger="data.sources"):
        assert _values(source.dataset()) == list(range(10))
    assert [r.getMessage().split(" files")[0] for r in caplog.records] == ["1 of 11"]
    assert [os.path.basename(p) for p in source.unreadable] == ["99.png"]


def test_user_errors_are_one_line(tmp_path, folder):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("x")
    (tmp_path / "bad").mkdir()
    for k in range(3):
        (tmp_path / "bad" / f"{k}.jpg").write_bytes(RNG.bytes(500))
    cases = {
        str(tmp_path / "missing"): "no such folder",
        str(tmp_path / "empty"): "no images",
        str(tmp_path / "text"): "no images",
        str(tmp_path / "bad"): "could be decoded",
        str(tmp_path / "text" / "a.txt"): "is a file",
    }
    for spec, words in cases.items():
        with pytest.raises(UserError) as err:
            open_source(spec)
        assert words in str(err.value) and "\n" not in str(err.value), spec
    with pytest.raises(UserError):
        open_source(str(folder[0]), split="validation")


def test_first_n_train_selection(numbered):
    train = open_source(str(numbered), "train", first=8, n_train=5)
    test = open_source(str(numbered), "test", first=8, n_train=5)
    assert (len(train), len(test)) == (5, 3)
    assert _values(train.dataset()) == [0, 1, 2, 3, 4]
    assert _values(test.dataset()) == [5, 6, 7]  # 8, 9 are beyond `first`
    again = open_source(str(numbered), "test", first=8, n_train=5)
    assert _values(again.dataset()) == [5, 6, 7]
    # Without a selection, a folder is all of its images for both splits.
    assert _values(open_source(str(numbered), "test").dataset()) == list(range(10))
    for kw in (dict(first=11, n_train=5), dict(first=8, n_train=9)):
        with pytest.raises(UserError):
            open_source(str(numbered), "train", **kw)


def test_shuffle_is_seeded_reshuffled_and_skip_matches(numbered):
    source = open_source(str(numbered))
    n = len(source)
    stream = _values(source.dataset(shuffle_seed=7, repeat=True).take(4 * n))
    tf.random.set_seed(1234)  # the global seed must not matter
    other = open_source(str(numbered))
    assert _values(other.dataset(shuffle_seed=7, repeat=True).take(4 * n)) == stream
    epochs = [stream[e * n:(e + 1) * n] for e in range(4)]
    assert all(sorted(e) == list(range(n)) for e in epochs)  # each epoch is a permutation
    assert len({tuple(e) for e in epochs}) == 4  # reshuffled every epoch
    assert epochs[0] != list(range(n))
    assert _values(source.dataset(shuffle_seed=8, repeat=True).take(n)) != epochs[0]
    for k in (3, 10, 25):  # inside epoch 0, at an epoch boundary, two epochs in
        pairs = list(source.dataset(shuffle_seed=7, repeat=True, skip=k, with_index=True)
                     .take(4 * n - k).as_numpy_iterator())
        assert [int(im[0, 0, 0]) // 10 for _, im in pairs] == stream[k:]
        assert [int(i) for i, _ in pairs] == list(range(k, 4 * n))
    assert _values(source.dataset(shuffle_seed=7, skip=4)) == epochs[0][4:]  # one epoch, no repeat
    assert _values(source.dataset(skip=n)) == []


def test_shuffle_order_is_the_same_in_another_process(numbered):
    code = ("import sys; sys.path.insert(0, %r); from data.sources import open_source; "
            "s = open_source(%r); print([int(x[0, 0, 0]) // 10 for x in "
            "s.dataset(shuffle_seed=7, repeat=True).take(20).as_numpy_iterator()])"
            % (os.getcwd(), str(numbered)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-2000:]
    here = _values(open_source(str(numbered)).dataset(shuffle_seed=7, repeat=True).take(20))
    assert out.stdout.strip().splitlines()[-1] == str(here)


def test_skip_does_not_decode_skipped_images(numbered, monkeypatch):
    calls = []
    real = sources.decode_image

    def counting(data):
        tick = tf.numpy_function(lambda: calls.append(1) or np.int64(0), [], tf.int64)
        with tf.control_dependencies([tick]):
            return real(tf.identity(data))

    monkeypatch.setattr(sources, "decode_image", counting)
    source = open_source(str(numbered))
    assert len(list(source.dataset(shuffle_seed=1, repeat=True, skip=1000).take(2))) == 2
    assert 2 <= len(calls) < 100  # decoding before skip would take >= 1002 decodes


def test_samples_source_yields_distinct_random_crops_across_epochs():
    """Issue 14: a shuffled samples train stream crops each photo at a random scale (square, side in
    [SAMPLE_CROP_MIN, short side], native pixels, random flip), a new crop at every stream position,
    the same for the same seed; unshuffled reads and the test split stay whole photos."""
    train = open_source("samples", "train")
    n = len(train)
    shorts = {p: min(cv2.imread(p).shape[:2]) for p in train.paths}
    crops = list(train.dataset(shuffle_seed=3, repeat=True, with_index=True).take(3 * n).as_numpy_iterator())
    assert [int(i) for i, _ in crops] == list(range(3 * n))
    sides = [im.shape[0] for _, im in crops]
    assert all(im.shape[0] == im.shape[1] and im.shape[2] == 3 for _, im in crops)
    assert min(sides) >= min(sources.SAMPLE_CROP_MIN, min(shorts.values())) and max(sides) <= max(shorts.values())
    assert len(set(sides)) > 2 * n                            # many scales, not one per photo
    again = list(train.dataset(shuffle_seed=3, repeat=True).take(n).as_numpy_iterator())
    assert all(np.array_equal(a, b) for a, (_, b) in zip(again, crops))
    resumed = next(iter(train.dataset(shuffle_seed=3, repeat=True, skip=n + 1)))
    np.testing.assert_array_equal(resumed.numpy(), crops[n + 1][1])
    whole = [im.shape for im in train.dataset().as_numpy_iterator()]
    assert [s[:2] for s in whole] == [cv2.imread(p).shape[:2] for p in train.paths]
    test = open_source("samples", "test")
    assert test.crop_min is None
    assert len({im.shape for im in test.dataset(shuffle_seed=3).as_numpy_iterator()}) == len(test)


def test_samples_split_by_photo_and_real():
    train, test = open_source("samples", "train"), open_source("samples", "test")
    assert train.photo_names == [name for name, _ in SAMPLE_TRAIN_PHOTOS]
    assert test.photo_names == [name for name, _ in SAMPLE_TEST_PHOTOS]
    assert not set(train.photo_names) & set(test.photo_names)
    assert not set(train.paths) & set(test.paths)
    assert len(test) >= 2 and len(train) > len(test)
    assert len(open_source("samples", "test", first=100000, n_train=80000)) == len(test)
    left, right, _ = skimage.data.stereo_motorcycle()
    loaders = {"motorcycle_left": lambda: left, "motorcycle_right": lambda: right}
    for source in (train, test):
        images = list(source.dataset().as_numpy_iterator())
        assert len(images) == len(source)
        for name, image in zip(source.photo_names, images):
            ref = loaders[name]() if name in loaders else getattr(skimage.data, name)()
            if ref.ndim == 2:
                ref = np.repeat(ref[..., None], 3, 2)
            assert image.dtype == np.uint8 and image.shape == ref.shape, name
            assert min(image.shape[:2]) >= 256, name
            # Bit-exact for PNG and for JPEG too (accurate IDCT, as scikit-image's PIL reader).
            np.testing.assert_array_equal(image, ref, err_msg=name)


# ----------------------------------------------------------------------------- tfds
class _FailingBuilder:
    url_infos = {"https://drive.google.com/uc?id=x": None}

    def __init__(self, name, data_dir=None, **kw):
        pass

    def is_prepared(self):
        return False

    def download_and_prepare(self, *a, **kw):
        raise RuntimeError("Google Drive quota exceeded\nToo many users have viewed this file")


@pytest.mark.parametrize("name,hint", [("celeb_a", "img_align_celeba"), ("cifar10", "--dataset PATH")])
def test_tfds_download_failure_is_a_user_error(monkeypatch, tmp_path, name, hint):
    monkeypatch.setattr(tfds, "builder", _FailingBuilder)
    monkeypatch.setattr(tfds_source, "_any_reachable", lambda urls, seconds=None: True)    # online, then quota
    with pytest.raises(UserError) as err:
        open_source(name, data_dir=str(tmp_path))
    msg = str(err.value)
    assert "\n" not in msg and hint in msg and "--dataset" in msg and "quota" in msg


def _no_download(*a, **kw):
    raise AssertionError("download_and_prepare must not be called offline")


@pytest.mark.parametrize("name,hint", [("celeb_a", "--dataset PATH/img_align_celeba"), ("cifar10", "--dataset PATH"),
                                       ("div2k", "--dataset PATH/DIV2K_train_HR")])
def test_tfds_offline_stops_at_once_with_one_line(monkeypatch, tmp_path, name, hint):
    """An unprepared tfds dataset whose download hosts do not answer is refused BEFORE tfds' download
    (which retries every file for minutes): one line naming the dataset, where tfds looked (the data
    dir and the dataset's folder in it) and how to pass a local copy; nothing is written there."""
    probed = []

    def unreachable(urls, seconds=None):
        probed.extend(urls)
        return False

    monkeypatch.setattr(tfds_source, "_any_reachable", unreachable)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", _no_download)
    empty = tmp_path / "tfds"
    empty.mkdir()
    with pytest.raises(UserError) as err:
        open_source(name, data_dir=str(empty))
    msg = str(err.value)
    assert "\n" not in msg and f"'{name}' is not prepared in {empty} (no {empty / name}" in msg
    assert "--data-dir DIR" in msg and hint in msg, msg
    # tfds' GCS copy and the dataset's own download host were asked, nothing else was touched
    assert probed[0] == tfds_source.TFDS_GCS_URL and len(probed) == 2, probed
    assert list(empty.iterdir()) == []


def test_tfds_prepared_or_download_free_datasets_never_probe(monkeypatch, tfds_dir, tmp_path):
    """A prepared dataset opens without any network access; a builder that downloads nothing (its
    data is generated) is prepared as before, offline."""
    def no_probe(urls, seconds=None):
        raise AssertionError(f"probed {urls}")

    monkeypatch.setattr(tfds_source, "_any_reachable", no_probe)
    assert len(open_source("sources_test_pairs", data_dir=tfds_dir)) == 7
    fresh = str(tmp_path / "fresh")
    assert len(open_source("sources_test_pairs", "test", data_dir=fresh)) == 3


def test_reachability_probe(monkeypatch):
    """Any HTTP answer (even an error status) means the network works; a refused connection or a host
    that never answers does not. Proxies come from the environment, as for tfds' own downloads."""
    import http.server
    import socket
    import threading

    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    class Forbidden(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(403)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    silent = socket.socket()                 # accepts connections (backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))            # bound, not listening: connections are refused
    try:
        answering = f"http://127.0.0.1:{server.server_address[1]}/x"
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        hanging = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        assert tfds_source._any_reachable([refused, answering], seconds=5)
        assert not tfds_source._any_reachable([refused], seconds=5)
        assert not tfds_source._any_reachable([hanging, refused], seconds=0.5)
        # an unreachable proxy makes every host unreachable
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.setenv("HTTP_PROXY", refused)
        assert not tfds_source._any_reachable([answering], seconds=5)
    finally:
        server.shutdown()
        silent.close()
        closed.close()


def test_train_script_offline_is_one_line_and_downloads_nothing(tmp_path):
    """`python train_unsupervised.py --data-dir EMPTY` offline: exit 2 and ONE stderr line (TensorFlow's
    start-up lines filtered by quiet_tf) naming cifar10 and EMPTY; tfds never started a download
    (no downloads/ or incomplete dataset folder in EMPTY). The proxy points at a closed port, so the
    host looks offline whatever this machine's network; the timeout is only a safety net."""
    closed = __import__("socket").socket()
    closed.bind(("127.0.0.1", 0))
    proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    empty = tmp_path / "tfds"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "tf_cpp_min_log_level")}
    env.update(HTTP_PROXY=proxy, HTTPS_PROXY=proxy, ALL_PROXY=proxy, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "train_unsupervised.py"), "--data-dir", str(empty),
                               "--run-dir", str(tmp_path / "run")], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        closed.close()
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f"error: tensorflow-datasets 'cifar10' is not prepared in {empty} "), lines[0]
    assert "--data-dir DIR" in lines[0] and "--dataset PATH" in lines[0]
    assert list(empty.iterdir()) == []


def test_unknown_name_never_reaches_tfds(monkeypatch):
    def no_builder(*a, **kw):
        raise AssertionError("tfds.builder must not be called")

    monkeypatch.setattr(tfds, "builder", no_builder)
    with pytest.raises(UserError):
        open_source("no_such_dataset_xyz")


class SourcesTestPairs(tfds.core.GeneratorBasedBuilder):
    """A tiny div2k-like dataset ('hr', 'lr', no test split), built offline into tmp."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "hr": tfds.features.Image(shape=(None, None, 3)),
            "lr": tfds.features.Image(shape=(None, None, 3)),
            "id": np.int64}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, 7), "validation": self._generate_examples(7, 10)}

    def _generate_examples(self, a, b):
        for i in range(a, b):
            # Heights 10 + i make every example identifiable from its shape.
            hr = np.random.default_rng(i).integers(0, 256, (10 + i, 6, 3), dtype=np.uint8)
            yield i, {"hr": hr, "lr": hr[::2, ::2], "id": i}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder("sources_test_pairs", data_dir=d).download_and_prepare()
    return d


def _ids(ds):
    return [im.shape[0] - 10 for im in ds.as_numpy_iterator()]


def _tfds_reference(data_dir, split, key):
    ds = tfds.builder("sources_test_pairs", data_dir=data_dir).as_dataset(split=split, shuffle_files=False)
    return [ex[key] for ex in ds.as_numpy_iterator()]


def test_tfds_images_in_tfds_order(tfds_dir):
    source = open_source("sources_test_pairs", data_dir=tfds_dir)
    assert source.image_key == "hr" and len(source) == 7
    for key, src in (("hr", source), ("lr", open_source("sources_test_pairs", data_dir=tfds_dir, image_key="lr"))):
        got = list(src.dataset().as_numpy_iterator())
        ref = _tfds_reference(tfds_dir, "train", key)
        assert len(got) == len(ref) == 7
        for a, b in zip(got, ref):
            assert a.dtype == np.uint8
            np.testing.assert_array_equal(a, b)
    # No test split: "test" reads the validation split.
    test = open_source("sources_test_pairs", "test", data_dir=tfds_dir)
    assert sorted(_ids(test.dataset())) == [7, 8, 9]


def test_tfds_selection_shuffle_and_skip(tfds_dir):
    order = [int(ex["id"]) for ex in tfds.builder("sources_test_pairs", data_dir=tfds_dir)
             .as_dataset(split="train", shuffle_files=False).as_numpy_iterator()]
    train = open_source("sources_test_pairs", "train", data_dir=tfds_dir, first=6, n_train=4)
    test = open_source("sources_test_pairs", "test", data_dir=tfds_dir, first=6, n_train=4,
                       shuffle_window=3)
    assert _ids(train.dataset()) == order[:4]
    assert _ids(test.dataset()) == order[4:6]
    with pytest.raises(UserError):
        open_source("sources_test_pairs", data_dir=tfds_dir, first=8, n_train=4)
    source = open_source("sources_test_pairs", data_dir=tfds_dir, shuffle_window=3)
    stream = _ids(source.dataset(shuffle_seed=5, repeat=True).take(21))
    epochs = [stream[7 * e:7 * (e + 1)] for e in range(3)]
    assert all(sorted(e) == sorted(order) for e in epochs) and len({tuple(e) for e in epochs}) > 1
    # Windows of 3: each permutes 3 consecutive tfds examples.
    assert all(sorted(e[:3]) == sorted(order[:3]) for e in epochs)
    for k in (2, 7, 12):
        assert _ids(source.dataset(shuffle_seed=5, repeat=True, skip=k).take(21 - k)) == stream[k:]


def test_random_crops_of_a_folder_train_stream_only(tmp_path):
    """--random-crops: a folder's shuffled training stream yields random squares of side >= MIN (as
    `samples` does), seeded; its test split and unshuffled reads stay whole; tfds names refuse it."""
    for k in range(3):
        _write(tmp_path / f"{k}.png", RNG.integers(0, 255, (60 + 10 * k, 90, 3), dtype=np.uint8))
    train = open_source(str(tmp_path), "train", crop_min=32)
    crops = list(train.dataset(shuffle_seed=1, repeat=True).take(12).as_numpy_iterator())
    assert all(32 <= im.shape[0] == im.shape[1] <= 80 for im in crops) and len({im.shape for im in crops}) > 3
    again = list(train.dataset(shuffle_seed=1, repeat=True).take(12).as_numpy_iterator())
    assert all(np.array_equal(a, b) for a, b in zip(crops, again))
    assert [im.shape for im in train.dataset().as_numpy_iterator()] == [(60, 90, 3), (70, 90, 3), (80, 90, 3)]
    assert open_source(str(tmp_path), "test", crop_min=32).crop_min is None
    with pytest.raises(UserError, match="--random-crops needs a folder"):
        open_source("cifar10", crop_min=32)
