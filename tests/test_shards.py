"""data/shards.py: the one-time conversion to decoded-image TFRecord shards and its source."""
import os

import numpy as np
import pytest
import tensorflow as tf

from data import shards
from data.pipeline import inpainting_batches
from data.preprocess import center_crop_resize
from data.sources import open_source
from errors import UserError

SIZE = 24


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The 12 bundled training photos, cropped to 24x24, in shards of 5 (5 + 5 + 2)."""
    out = tmp_path_factory.mktemp("shards") / "samples24"
    shards.convert("samples", out, SIZE, shard_images=5, progress=False)
    return str(out)


def _images(ds):
    return [x.numpy() for x in ds]


def test_unshuffled_source_is_the_converted_images_in_order(prepared):
    source = open_source(prepared)
    assert type(source).__name__ == "RecordSource" and len(source) == 12
    expected = [center_crop_resize(im, SIZE).numpy() for im in open_source("samples").dataset()]
    got = _images(source.dataset())
    assert len(got) == 12
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_training_batches_from_shards_equal_those_from_the_jpegs(prepared):
    # Resizing a 24x24 image to 24x24 is exact, so unshuffled batches are identical.
    kw = dict(image_size=SIZE, batch_size=4, mask_kind="center", seed=3, shuffle=False, repeat=False)
    a = list(inpainting_batches(open_source("samples"), **kw))
    b = list(inpainting_batches(open_source(prepared), **kw))
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        for key in x:
            np.testing.assert_array_equal(x[key].numpy(), y[key].numpy())


def _key(image):
    return image.tobytes()


def test_shuffled_epochs_are_seeded_permutations_and_resume_exactly(prepared):
    source = open_source(prepared)
    everything = sorted(_key(x) for x in _images(source.dataset()))
    stream = _images(source.dataset(shuffle_seed=7, repeat=True).take(36))
    epochs = [stream[i * 12:(i + 1) * 12] for i in range(3)]
    for epoch in epochs:
        assert sorted(_key(x) for x in epoch) == everything          # each epoch: every image once
    orders = [[_key(x) for x in e] for e in epochs]
    assert orders[0] != orders[1] != orders[2]                       # reshuffled per epoch
    again = _images(source.dataset(shuffle_seed=7, repeat=True).take(12))
    assert [_key(x) for x in again] == orders[0]                     # same seed, same order
    other = _images(source.dataset(shuffle_seed=8, repeat=True).take(12))
    assert [_key(x) for x in other] != orders[0]
    resumed = _images(source.dataset(shuffle_seed=7, repeat=True, skip=17).take(19))
    assert [_key(x) for x in resumed] == [_key(x) for x in stream[17:36]]


def test_first_and_n_train_select_across_shard_boundaries(prepared):
    whole = _images(open_source(prepared).dataset())
    train = open_source(prepared, "train", first=11, n_train=7)       # [0, 7): shard 0 + 2 of shard 1
    test = open_source(prepared, "test", first=11, n_train=7)         # [7, 11): 3 of shard 1 + 1 of shard 2
    assert (len(train), len(test)) == (7, 4)
    for got, want in ((_images(train.dataset()), whole[:7]), (_images(test.dataset()), whole[7:11])):
        assert [_key(x) for x in got] == [_key(x) for x in want]
    shuffled = _images(test.dataset(shuffle_seed=1, repeat=True).take(8))
    assert sorted(_key(x) for x in shuffled[:4]) == sorted(_key(x) for x in whole[7:11])
    with pytest.raises(UserError, match="only 12"):
        open_source(prepared, "train", first=13)


def test_an_interrupted_conversion_resumes_to_the_same_files(prepared, tmp_path, monkeypatch):
    out = tmp_path / "again"
    real_replace, renamed = os.replace, []

    def stop_at_second_shard(src, dst):
        if str(dst).endswith(".tfrecord"):
            renamed.append(dst)
            if len(renamed) == 2:
                raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(shards.os, "replace", stop_at_second_shard)
    with pytest.raises(KeyboardInterrupt):
        shards.convert("samples", out, SIZE, shard_images=5, progress=False)
    monkeypatch.setattr(shards.os, "replace", real_replace)
    assert not (out / shards.MANIFEST).exists() and (out / shards.PARTIAL).exists()
    with pytest.raises(UserError, match="partial conversion with other settings"):
        shards.convert("samples", out, SIZE + 8, shard_images=5, progress=False)
    manifest = shards.convert("samples", out, SIZE, shard_images=5, progress=False)
    assert manifest["count"] == 12 and not (out / shards.PARTIAL).exists()
    for s in manifest["shards"]:
        assert (out / s["file"]).read_bytes() == open(os.path.join(prepared, s["file"]), "rb").read()
    assert not list(out.glob("*.tmp"))


def test_conversion_errors_are_one_line(prepared, tmp_path):
    with pytest.raises(UserError, match="already holds a dataset converted with"):
        shards.convert("samples", prepared, SIZE + 1, progress=False)
    with pytest.raises(UserError, match="needs --size"):
        shards.convert("samples", tmp_path / "x", None, resize="crop", progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / shards.MANIFEST).write_text(open(os.path.join(prepared, shards.MANIFEST)).read())
    with pytest.raises(UserError, match="lacks 3 shard file"):
        open_source(str(broken))


def test_full_size_images_keep_their_shape(tmp_path):
    manifest = shards.convert("samples", tmp_path / "full", resize="none", split="test", progress=False)
    got = _images(open_source(str(tmp_path / "full")).dataset())
    want = _images(open_source("samples", "test").dataset())
    assert manifest["count"] == len(want) == 3
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert tf.io.gfile.exists(str(tmp_path / "full" / "images-00000.tfrecord"))
