"""data/selection.py: which images a (dataset, split, first, n_train) selection reads, and overlaps,
by the same rules as data.sources.open_source."""
from data.selection import ALL, Selection, of_config, overlaps, selection


def test_paper_a_split_train_and_test_never_overlap():
    train = selection("celeb_a", "train", 100_000, 80_000)
    test = selection("celeb_a", "test", 100_000, 80_000)
    assert (train.part, train.lo, train.hi) == ("train", 0, 80_000)
    assert (test.part, test.lo, test.hi) == ("train", 80_000, 100_000)     # ranges of the tfds train split
    assert not overlaps(train, test)
    # paper C trained on the whole tfds train split (its old default) saw table A's test images
    assert overlaps(selection("celeb_a", "train"), test)
    assert overlaps(selection("celeb_a", "train", 80_001), test)           # one image too many
    assert not overlaps(selection("celeb_a", "train", 80_000), test)       # paper D's --first 80000


def test_tfds_native_splits_are_disjoint_and_datasets_differ():
    assert not overlaps(selection("div2k", "train"), selection("div2k", "test"))
    assert not overlaps(selection("cifar10", "train"), selection("celeb_a", "test", 100_000, 80_000))


def test_folders_samples_and_configs(tmp_path):
    assert overlaps(selection(str(tmp_path), "train"), selection(str(tmp_path), "test"))   # both: every image
    assert overlaps(selection(str(tmp_path / "."), "train"), selection(str(tmp_path), "test"))  # same real path
    assert not overlaps(selection(str(tmp_path), "train", 10, 8), selection(str(tmp_path), "test", 10, 8))
    assert not overlaps(selection("samples", "train"), selection("samples", "test"))
    assert overlaps(selection("samples", "test"), selection("samples", "test"))
    assert of_config({"dataset": "celeb_a", "first": 100_000, "n_train": 80_000}) == Selection("celeb_a", "train", 0, 80_000)
    assert of_config({"paper": "A"}) is None and of_config(None) is None
    assert selection(str(tmp_path), "test").describe().endswith("(every image)")
    assert selection("celeb_a", "test", 100_000, 80_000).describe() == "celeb_a train[80000:100000]"
    assert Selection("x", "all", 0, ALL).describe() == "x (every image)"
