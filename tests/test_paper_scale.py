"""Every full-scale command of docs/papers/, at the paper's image size and batch size, on stand-in data.

What runs is each command's REAL path: the tfds builder and split (celeb_a with paper A's
first-N-then-split selection, cifar10, div2k), data/sources.py, the input pipeline, the train step,
the checkpoint, a resume (the same command again with a higher --steps must continue from the saved
step, and its input stream from there), the export, and evaluate.py's table of the paper. Only the
downloaded files are faked: `tensorflow_datasets.testing.mock_data` with metadata written into a
temporary tfds data_dir (so the builder finds the dataset prepared there, with the split sizes below)
and a generator that yields, for "split[a:b]", exactly the examples a..b-1 of that split (each image
is a function of its split and index, so a test can tell which images a command read). Paper D's
Open Images folder and Set5 / Set14 / BSD100 are generated as docs/papers/D.md lays them out.

Scale: the paper's image size and batch size (A 128 px, 96; B 64, 64; C 64, 64; D 128, 50; E 96, 16),
and 2 steps per command: 1, then the same command resumed to 2 (the extra runs of one script, such as
D's --rec-only or two of E's variants, train their 2 steps in one run: a resume costs a rebuild and a
retrace of the step, ~10 s each on this CPU). What is reduced, and why, is said at each command: only
network widths, where this 2-core CPU cannot hold the paper's in seconds (paper A's completion
network alone is ~7.5 GMAC per 128-px image, x3 passes x96 images a step). Dataset sizes are the fake
datasets' (a few dozen images; the first-N selections are scaled with them: A's 100,000 / 80,000
becomes 125 / 100).

VGG19 (papers A and E): its layers, names and taps exactly, at 1/8 of its channels (`narrow_vgg19`
stands in for keras.applications.VGG19), its weights read from a small file made here in Keras'
legacy .h5 layout of vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 and passed as --vgg-weights
PATH, so the weights-loading path is the real one and nothing falls back to random weights. Full
VGG19 at paper A's batch is ~1.4 TFLOP and ~9 GB per step here (minutes for the four steps);
tests/test_losses.py loads a full-size legacy file.
"""
import functools
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

pytestmark = pytest.mark.paper_scale

# Fake tfds datasets: examples per split. celeb_a keeps more than A's first 125 images so that the
# selection, not the dataset's end, bounds what is read.
SPLITS = {
    "celeb_a": {"train": 150, "validation": 4, "test": 4},
    "cifar10": {"train": 130, "test": 20},
    "div2k": {"train": 20, "validation": 6},
}
FIRST, N_TRAIN = 125, 100           # paper A's --first 100000 --n-train 80000, scaled to the fake celeb_a
SELECT = ["--first", str(FIRST), "--n-train", str(N_TRAIN)]
STEPS = ("1", "2")                  # every run: 1 step, then the same command resumed to 2


# ----------------------------------------------------------------------------- fake downloaded data

def fake_image(name, split, index):
    """uint8 [H, W, 3] of example `index` of `split`: 8x8 blocks of seeded colours (JPEG-friendly), at
    the dataset's own image size (CelebA aligned 218x178, CIFAR-10 32x32; DIV2K's ~2K-px photos at
    130-210 px: 96-px crops plus the blur margin fit, and whole-image evaluation stays cheap)."""
    rng = np.random.default_rng([zlib.crc32(name.encode()), zlib.crc32(split.encode()), index])
    h, w = {"celeb_a": (218, 178), "cifar10": (32, 32)}.get(name, (130 + 7 * index % 80, 130 + 13 * index % 80))
    blocks = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((8, 8, 1), np.uint8))[:h, :w]


def _fake_as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False, **_):
    """mock_data's `as_dataset_fn`: the examples of `split` ("train", "train[100:125]", ...) in order,
    encoded and decoded by the dataset's own features (so tfds' SkipDecoding gives the encoded bytes)."""
    from tensorflow_datasets.core import splits as splits_lib
    features = self.info.features
    parts = splits_lib.AbstractSplit.from_spec(split).to_absolute(self.info.splits)
    filler = tfds.testing.mocking.RandomFakeGenerator(features, 1)       # the non-image features
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]

    def examples():
        for part in parts:
            total = self.info.splits[part.splitname].num_examples
            for i in range(part.from_ or 0, total if part.to is None else part.to):
                ex = filler[i]
                ex.update({k: fake_image(self.name, part.splitname, i) for k in image_keys})
                yield features.encode_example(ex)

    specs = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), features.get_serialized_info())
    ds = tf.data.Dataset.from_generator(examples, output_signature=specs)
    return ds.map(functools.partial(features.decode_example, decoders=decoders))


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
    """A tfds data_dir in which celeb_a, cifar10 and div2k look prepared: their dataset_info.json and
    features.json with the split sizes of SPLITS (what builder.is_prepared() and the splits read)."""
    from tensorflow_datasets.core import splits as splits_lib
    root = tmp_path_factory.mktemp("tfds")
    for name, counts in SPLITS.items():
        builder = tfds.builder(name, data_dir=str(root))
        builder.info.set_splits(splits_lib.SplitDict([
            splits_lib.SplitInfo(name=s, shard_lengths=[n], num_bytes=n * 10_000) for s, n in counts.items()]))
        os.makedirs(builder.data_dir, exist_ok=True)
        builder.info.write_to_directory(builder.data_dir)
    return root


@pytest.fixture
def offline_tfds(tfds_dir, tmp_path, monkeypatch, fast_graphs):
    """Run a test in its own working directory (the README's relative runs/, datasets/ and results/
    land there) with tfds mocked onto `tfds_dir`: mock_data sends every builder there whatever
    --data-dir says, so the README's commands run as typed, without --data-dir."""
    monkeypatch.chdir(tmp_path)
    with tfds.testing.mock_data(data_dir=str(tfds_dir), as_dataset_fn=_fake_as_dataset):
        yield tmp_path


VGG_DIVISOR = 8      # VGG19's channels 64-128-256-512-512 -> 8-16-32-64-64 (the CPU cannot hold the full net)
_VGG_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))   # (convs, filters) of VGG19's five blocks


def narrow_vgg19(include_top=False, weights=None, input_tensor=None, input_shape=None, **_):
    """keras.applications.VGG19(include_top=False, weights=None) with every conv at 1/VGG_DIVISOR of its
    filters: the same layers, names (blockN_convM, blockN_pool) and order, so Keras' legacy .h5 loader
    matches the weights by layer name as it does for the real file."""
    import keras
    assert not include_top and weights is None and input_tensor is None
    x = inputs = keras.Input(shape=input_shape or (None, None, 3))
    for block, (convs, filters) in enumerate(_VGG_BLOCKS, start=1):
        for m in range(1, convs + 1):
            x = keras.layers.Conv2D(filters // VGG_DIVISOR, 3, padding="same", activation="relu",
                                    name=f"block{block}_conv{m}")(x)
        x = keras.layers.MaxPooling2D(2, 2, name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name="vgg19")


@pytest.fixture(scope="session")
def vgg_file(tmp_path_factory):
    """vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 in Keras' legacy HDF5 layout, of narrow_vgg19
    with seeded random values (~1.3 MB)."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format
    from losses.perceptual import WEIGHTS_FILE
    keras.utils.set_random_seed(19)
    path = tmp_path_factory.mktemp("vgg") / WEIGHTS_FILE
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, narrow_vgg19())
    return str(path)


@pytest.fixture
def vgg_weights(vgg_file, monkeypatch):
    """--vgg-weights PATH of the narrow VGG19 (see the module doc); VGG19's architecture is narrowed
    for this test, and the test checks that the file was loaded (never random weights)."""
    import keras
    from losses import perceptual
    loaded = []
    real_load = perceptual.resolve_vgg_weights

    def resolve(weights):
        path = real_load(weights)
        loaded.append(path)
        return path

    monkeypatch.setattr(keras.applications, "VGG19", narrow_vgg19)
    monkeypatch.setattr(perceptual, "resolve_vgg_weights", resolve)
    yield vgg_file
    assert loaded and set(loaded) == {vgg_file}, f"VGG19 weights came from {loaded}, not {vgg_file}"


# ----------------------------------------------------------------------------- running a command

@pytest.fixture
def train_starts(monkeypatch):
    """[(step the train loop started at, --steps, first batch index asked of the data)] of every
    training run in this test, recorded around training.loop.train_loop (what every script calls)."""
    from training import loop
    calls = []
    real = loop.train_loop

    def spy(step_fn, batches, ckpt, steps, **kw):
        record = {"start": int(ckpt.step.numpy()), "steps": int(steps), "data_from": None}
        calls.append(record)
        if callable(batches):
            def positioned(start):
                record["data_from"] = int(start)
                return batches(start)
            return real(step_fn, positioned, ckpt, steps, **kw)
        return real(step_fn, batches, ckpt, steps, **kw)

    monkeypatch.setattr(loop, "train_loop", spy)
    return calls


def saved_step(ckpt_dir):
    """The step counter stored in the newest checkpoint of `ckpt_dir`."""
    prefix = tf.train.latest_checkpoint(str(ckpt_dir))
    assert prefix is not None, f"no checkpoint in {ckpt_dir}"
    reader = tf.train.load_checkpoint(prefix)
    return int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


def train_and_resume(main, argv, ckpt_dir, starts):
    """`main(argv --steps 1)`, then the same command with `--steps 2`: the second run must restore the
    checkpoint of step 1 and continue from it (loop and input stream), and save step 2."""
    before = len(starts)
    assert main([*argv, "--steps", STEPS[0]]) == 0
    assert saved_step(ckpt_dir) == 1
    assert main([*argv, "--steps", STEPS[1]]) == 0
    assert saved_step(ckpt_dir) == 2
    first, resumed = starts[before:]
    assert (first["start"], first["steps"], first["data_from"]) == (0, 1, 0), first
    assert (resumed["start"], resumed["steps"], resumed["data_from"]) == (1, 2, 1), resumed


def config(run_dir):
    return json.loads((Path(run_dir) / "config.json").read_text())


def no_random_vgg(recwarn):
    return not [w for w in recwarn if "RANDOM weights" in str(w.message)]


def evaluate_table(argv):
    import evaluate
    result, text = evaluate.evaluate(argv, log=lambda *a, **k: None)
    return result, text


# ----------------------------------------------------------------------------- papers A and B (+ table A)

def paper_a(root, vgg_weights, starts, capsys):
    """docs/papers/A.md: `train_iizuka.py --stage 1|2|3` on celeb_a's first 125 images, 100 to train (paper:
    100,000 / 80,000), 128 px, batch 96, in one run directory, each stage resumed once."""
    import train_iizuka
    # --width 8 (paper 64): the completion network and both discriminators at 1/8 of the channels
    # (1/64 of the MACs); VGG19 (relu1_1..relu3_1) at 1/8 of its channels too (vgg_weights).
    a = ["--width", "8", "--vgg-weights", vgg_weights, *SELECT, "--log-every", "1"]
    run = root / "runs" / "train_iizuka"
    for stage in (1, 2, 3):
        train_and_resume(train_iizuka.main, [*a, "--stage", str(stage)], run / "ckpt" / f"stage{stage}", starts)
        assert (run / "export" / f"stage{stage}.keras").is_file()
    out = capsys.readouterr().out
    assert "stage 2: starting from stage 1's checkpoint" in out and "stage 3: starting from stage 2's checkpoint" in out
    cfg = config(run)
    assert (cfg["image_size"], cfg["batch_size"], cfg["dataset"], cfg["first"], cfg["n_train"]) == \
        (128, 96, "celeb_a", FIRST, N_TRAIN)
    assert json.loads((run / "mean.json").read_text())["images"] == N_TRAIN    # the training part only
    assert json.loads((run / "magnitudes.json").read_text())["vgg_weights"] == vgg_weights
    assert (run / "export" / "inpainter.keras").is_file()


def paper_b(root, starts, capsys):
    """docs/papers/B.md: `train_unsupervised.py` (cifar10 at 64 px, batch 64, the paper's DCGAN widths)."""
    import keras
    import train_unsupervised
    run = root / "runs" / "train_unsupervised"
    train_and_resume(train_unsupervised.main, ["--log-every", "1"], run / "ckpt", starts)
    out = capsys.readouterr().out
    assert "damaged x_m = cifar10 train[0:65] (65 images), real x_r = cifar10 train[65:130] (65 images)" in out
    cfg = config(run)
    assert (cfg["dataset"], cfg["image_size"], cfg["batch_size"], cfg["width"]) == ("cifar10", 64, 64, 64)
    model = keras.models.load_model(run / "export" / "inpainter.keras", compile=False)
    assert [tuple(t.shape) for t in model.inputs] == [(None, 64, 64, 3), (None, 64, 64, 1)]


def test_papers_a_and_b_and_table_a(offline_tfds, vgg_weights, train_starts, recwarn, capsys):
    """Papers A and B by their README commands, then `evaluate.py --table A` with every row's README
    run (paper C's DCGAN prior at 128 px and paper D's GLCIC-hole model trained here too); B lives in
    this test because it is one of table A's rows."""
    import train_context_encoder
    import train_wgan_completion
    paper_a(offline_tfds, vgg_weights, train_starts, capsys)
    paper_b(offline_tfds, train_starts, capsys)
    assert no_random_vgg(recwarn)

    # The DCGAN prior at 128 px: --width 8 (paper 64). Paper D's GLCIC-hole model: --width 16 (paper
    # 64), README's --first 80000 scaled. Two steps each, in one run.
    assert train_wgan_completion.main(["train", "--loss", "bce", "--image-size", "128", "--run-dir", "runs/c_dcgan",
                                       *SELECT, "--width", "8", "--steps", "2"]) == 0
    assert (config("runs/c_dcgan")["batch_size"], saved_step("runs/c_dcgan/ckpt")) == (64, 2)
    assert train_context_encoder.main(["--mask", "glcic", "--dataset", "celeb_a", "--first", str(N_TRAIN),
                                       "--run-dir", "runs/context_encoder_glcic", "--width", "16",
                                       "--steps", "2"]) == 0
    assert (config("runs/context_encoder_glcic")["batch_size"], saved_step("runs/context_encoder_glcic/ckpt")) == \
        (50, 2)

    # --limit 4 test images and 2 latent-search iterations (paper 20,000 and 1,500); --first/--n-train
    # as the training runs (the README's defaults are the paper's 100,000 / 80,000).
    result, text = evaluate_table(["--table", "A", *SELECT, "--limit", "4", "--latent-iterations", "2"])
    assert result["n_images"] == 4 and result["image_size"] == 128
    for kind in ("glcic", "center"):
        methods = result["sets"][kind]["methods"]
        assert {k: e["status"] for k, e in methods.items()} == {k: "ok" for k in methods}, methods
        assert {"autoencoder", "DCGAN", "Context Encoder", "this paper (A)", "paper B (unsupervised)"} <= set(methods)
    assert "not comparable" not in text and "Images scored: **4**" in text
    # The test images are celeb_a train[100:125] in tfds order: examples 100..103, centre crop at 128.
    from data.imagesource import decode_image
    from data.preprocess import center_crop_resize
    from imagefiles import read_image
    image_feature = tfds.builder("celeb_a").info.features["image"]
    for i in range(4):
        encoded = image_feature.encode_example(fake_image("celeb_a", "train", N_TRAIN + i))
        expected = center_crop_resize(decode_image(tf.constant(encoded)), 128).numpy()
        got = read_image(Path("results/table_A/images/A_glcic/ground_truth") / f"{i:05d}.png")
        np.testing.assert_array_equal(got, expected, err_msg=f"test image {i} is not celeb_a train[{N_TRAIN + i}]")


# ----------------------------------------------------------------------------- paper C

def test_paper_c_wgan_and_latent_search(offline_tfds, train_starts, capsys):
    """docs/papers/C.md: `train_wgan_completion.py train` (WGAN with clipping on celeb_a at 64 px, batch 64,
    100 critic updates per step in the first 25 steps) and its latent search, `inpaint.py latent`."""
    import inpaint
    import train_wgan_completion
    run = offline_tfds / "runs" / "train_wgan_completion"
    # --width 8 (paper 64): each step is 100 critic updates at batch 64 (n_critic's warm-up).
    train_and_resume(train_wgan_completion.main, ["train", *SELECT, "--width", "8", "--log-every", "1"],
                     run / "ckpt", train_starts)
    cfg = config(run)
    assert (cfg["dataset"], cfg["image_size"], cfg["batch_size"], cfg["loss"]) == ("celeb_a", 64, 64, "wasserstein")
    # 2 iterations of the search (paper 1,500), on the README's `--images samples`.
    assert inpaint.main(["latent", "--run-dir", str(run), "--images", "samples", "--mask", "center",
                         "--out", "completions", "--iterations", "2"]) == 0
    names = sorted(p.name for p in Path("completions").iterdir())
    assert "figure.png" in names and [n for n in names if n.startswith("completed_")] == \
        ["completed_0000.png", "completed_0001.png", "completed_0002.png"]


# ----------------------------------------------------------------------------- paper D (+ table D)

# The benchmark sets as the SR benchmark archives name them, with their real sizes (width, height).
SET5 = {"baby": (512, 512), "bird": (288, 288), "butterfly": (256, 256), "head": (280, 280), "woman": (228, 344)}
SET14 = {"baboon": (500, 480), "barbara": (720, 576), "bridge": (512, 512), "coastguard": (352, 288),
         "comic": (250, 361), "face": (276, 276), "flowers": (500, 362), "foreman": (352, 288),
         "lenna": (512, 512), "man": (512, 512), "monarch": (768, 512), "pepper": (512, 512),
         "ppt3": (529, 656), "zebra": (586, 391)}
SET14_GREY = ("bridge", "man")     # single-channel in some copies of Set14
BSD100 = """101085 101087 102061 103070 105025 106024 108005 108070 108082 109053 119082 12084 123074 126007
130026 134035 14037 143090 145086 147091 148026 148089 156065 157055 159008 160068 16077 163085 167062
167083 170057 175032 175043 182053 189080 19021 196073 197017 208001 210088 21077 216081 219090 220075
223061 227092 229036 236037 24077 241004 241048 253027 253055 260058 271035 285079 291000 295087 296007
296059 299086 300091 302008 304034 304074 306005 3096 33039 351093 361010 37073 376043 38082 38092 385039
386012 41033 41069 42012 42049 43074 45096 54082 55073 58060 62096 65033 66053 69015 69020 69040 76053
78004 8023 85048 86000 86016 86068 87046 89072""".split()     # the BSDS300 test images, 481x321 / 321x481


def _photo(seed, width, height, grey=False):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 1 if grey else 3), dtype=np.uint8)
    import cv2
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)


def write_benchmark_sets(root):
    import cv2
    for folder, sizes in (("Set5", SET5), ("Set14", SET14),
                          ("BSD100", {n: (481, 321) if k % 2 else (321, 481) for k, n in enumerate(BSD100)})):
        (root / folder).mkdir(parents=True)
        for k, (name, (w, h)) in enumerate(sizes.items()):
            image = _photo(zlib.crc32(f"{folder}/{name}".encode()), w, h, grey=name in SET14_GREY)
            cv2.imwrite(str(root / folder / f"{name}.png"), image[..., ::-1] if image.shape[-1] == 3 else image)
    assert len(BSD100) == len(set(BSD100)) == 100


def write_open_images(folder, n=64):
    """Open Images' downloader layout: <download_folder>/<16-hex ImageID>.jpg, photos ~1024 px wide."""
    import cv2
    folder.mkdir(parents=True)
    for i in range(n):
        w, h = ((1024, 768), (1024, 683), (768, 1024))[i % 3]
        image = _photo(i, w, h)
        cv2.imwrite(str(folder / f"{zlib.crc32(str(i).encode()):08x}{i:08x}.jpg"), image[..., ::-1])


def test_paper_d_open_images_and_table_d(offline_tfds, train_starts, capsys):
    """docs/papers/D.md: `train_context_encoder.py` on datasets/openimages_100k (its default; 128 px, centre
    64x64 hole, batch 50) and `--rec-only`, then `evaluate.py --table D --set5 datasets/Set5 --set14
    datasets/Set14 --bsd100 datasets/BSD100` on folders laid out and named as the real sets."""
    import train_context_encoder
    write_open_images(offline_tfds / "datasets" / "openimages_100k")
    write_benchmark_sets(offline_tfds / "datasets")
    # --width 16 (paper 64): encoder, decoder and region discriminator at a quarter of the channels;
    # the 4000-d bottleneck is the paper's.
    d = ["--width", "16", "--log-every", "1"]
    run = offline_tfds / "runs" / "train_context_encoder"
    assert train_context_encoder.build_parser().get_default("run_dir") == "runs/train_context_encoder", \
        "docs/papers/D.md: the default --run-dir is runs/train_context_encoder, also when main() is called in-process"
    train_and_resume(train_context_encoder.main, d, run / "ckpt", train_starts)
    assert "stopped: reached --steps 2" in capsys.readouterr().out
    cfg = config(run)
    assert (cfg["dataset"], cfg["image_size"], cfg["batch_size"], cfg["bottleneck"], cfg["mask"]) == \
        ("datasets/openimages_100k", 128, 50, 4000, "center")
    # ours(l_rec): the same script without the discriminator, 2 steps in one run (resume is checked above)
    assert train_context_encoder.main(["--rec-only", "--run-dir", "runs/context_encoder_rec", *d, "--steps", "2"]) == 0
    assert saved_step("runs/context_encoder_rec/ckpt") == 2

    # --limit 2 images per set (the sets hold 5 / 14 / 100; biharmonic inpainting takes ~1 s an image)
    result, text = evaluate_table(["--table", "D", "--set5", "datasets/Set5", "--set14", "datasets/Set14",
                                   "--bsd100", "datasets/BSD100", "--limit", "2"])
    for name in ("set5", "set14", "bsd100"):
        s = result["sets"][name]
        assert s["status"] == "ok" and s["n_images"] == 2, s
        assert {k: e["status"] for k, e in s["methods"].items()} == {k: "ok" for k in s["methods"]}
        assert {"ours(l_rec)", "ours(l_rec + l_adv)", "OpenCV Telea"} <= set(s["methods"])
        assert f"{name} (2 images)" in text and f"NOT {name}" not in text
    # sorted order: Set5 baby, bird; Set14 baboon, barbara; BSD100 101085, 101087 (names, not numbers)
    from data.preprocess import center_crop_resize
    from imagefiles import read_image
    for name, first in (("set5", "Set5/baby.png"), ("set14", "Set14/baboon.png"), ("bsd100", "BSD100/101085.png")):
        expected = center_crop_resize(tf.constant(read_image(Path("datasets") / first)), 128).numpy()
        got = read_image(Path("results/table_D/images") / f"D_{name}" / "ground_truth" / "00000.png")
        np.testing.assert_array_equal(got, expected, err_msg=first)


# ----------------------------------------------------------------------------- paper E (+ table E)

# Resumed E variants: the one with BatchNorm statistics in its checkpoint and the one with VGG19 beside
# it; the other two share their script path and checkpoint layout and train 2 steps in one run (each
# resume costs a rebuild and a retrace, ~10 s here).
RESUMED_E = ("res_bn", "nonbn_res_l")


def test_paper_e_four_variants_and_table_e(offline_tfds, vgg_weights, train_starts, recwarn):
    """docs/papers/E.md: `evaluate.py make-eval-set --dataset div2k --out datasets/deblur_eval`,
    `train_deblur.py --variant X` for the four variants (div2k train, 96-px crops, batch 16, 2 D updates
    per G update) and `evaluate.py --table E --eval-set datasets/deblur_eval`."""
    import evaluate
    import train_deblur
    assert evaluate.main(["make-eval-set", "--dataset", "div2k", "--out", "datasets/deblur_eval"]) == 0
    manifest = json.loads(Path("datasets/deblur_eval/manifest.json").read_text())
    assert (manifest["dataset"], manifest["n"], manifest["size"]) == ("div2k", SPLITS["div2k"]["validation"], None)
    # whole validation images (DIV2K's 100 at full size): validation example i, uncropped
    from imagefiles import read_image
    assert read_image("datasets/deblur_eval/sharp/00001.png").shape == fake_image("div2k", "validation", 1).shape

    variants = ("stacked", "res_bn", "nonbn_res", "nonbn_res_l")
    for variant in variants:
        # --filters 16 --d-filters 16 (paper 64): G and D at a quarter of the channels; G's 5 blocks and
        # D's 1024 dense units are the paper's; nonbn_res_l's VGG19 (to pool5) at 1/8 (vgg_weights).
        argv = ["--variant", variant, "--filters", "16", "--d-filters", "16", "--log-every", "1"]
        if variant == "nonbn_res_l":
            argv += ["--vgg-weights", vgg_weights]
        run = offline_tfds / "runs" / f"deblur_{variant}"
        if variant in RESUMED_E:
            train_and_resume(train_deblur.main, argv, run / "ckpt", train_starts)
        else:
            assert train_deblur.main([*argv, "--steps", "2"]) == 0 and saved_step(run / "ckpt") == 2
        cfg = config(run)
        assert (cfg["dataset"], cfg["image_size"], cfg["batch_size"], cfg["d_updates"]) == ("div2k", 96, 16, 2)
        assert (run / "export" / "generator.keras").is_file()
    assert no_random_vgg(recwarn)

    result, text = evaluate_table(["--table", "E", "--eval-set", "datasets/deblur_eval"])
    assert {k: e["status"] for k, e in result["methods"].items()} == {k: "ok" for k in result["methods"]}
    assert set(variants) | {"blurred input"} <= set(result["methods"])
    assert result["n_images"] == SPLITS["div2k"]["validation"] and "not comparable" not in text
