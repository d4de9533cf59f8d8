"""Each paper's REAL recipe (the build(config, strategy) of its train script) with synthetic batches.

`build(paper, size="tiny"|"small"|"paper", mode="off"|"float16"|"bfloat16", xla=False, strategy=None)`
sets the seed and the dtype policy, calls the train script's own build on its default flags with
the widths and sizes of SIZES (so the models, optimizers and step are exactly those that train),
and returns a `Built`: the compiled step, a function that makes batch number i (deterministic,
synthetic, [-1, 1] images with rectangular holes / blur pairs), the global batch size and the
image side. Used by tests/test_precision.py, tests/test_mirrored.py and bench/throughput.py, so
all three exercise the shipped steps, not copies.

Paper C's step pulls its real batches from an iterator (n_critic of them per call); `Built.call`
hides that difference: call(i) runs step number i on batch(es) made for it.
"""
import importlib
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

import papers
from training import distribute, setup
from training.checkpoint import build_optimizer

PAPERS = papers.LETTERS
NAMES = {"A": "iizuka (stage 3)", "B": "unsupervised", "C": "wgan-gp", "D": "context encoder",
         "E": "deblur (nonbn_res_l)"}

# size -> per paper: image side, batch, model-width keyword arguments
SIZES = {
    "tiny": {"A": dict(image=16, batch=4, width=4, local=8, fc=8, tiny_vgg=True),
             "B": dict(image=16, batch=4, width=4),
             "C": dict(image=16, batch=4, width=4, z=8),
             "D": dict(image=32, batch=4, width=4, bottleneck=16),
             "E": dict(image=32, batch=4, filters=4, d_filters=4, d_dense=8, blocks=1, variant="nonbn_res")},
    "small": {"A": dict(image=64, batch=8, width=16, local=32, fc=64),
              "B": dict(image=32, batch=16, width=16),
              "C": dict(image=32, batch=16, width=16, z=100),
              "D": dict(image=64, batch=8, width=16, bottleneck=500),
              "E": dict(image=64, batch=4, filters=16, d_filters=16, d_dense=64, blocks=5,
                        variant="nonbn_res_l")},
    "paper": {"A": dict(image=128, batch=96, width=64, local=64, fc=1024),
              "B": dict(image=64, batch=64, width=64),
              "C": dict(image=64, batch=64, width=64, z=100),
              "D": dict(image=128, batch=50, width=64, bottleneck=4000),
              "E": dict(image=96, batch=16, filters=64, d_filters=64, d_dense=1024, blocks=5,
                        variant="nonbn_res_l")},
}
N_CRITIC = 2          # paper C in tests and bench: WGAN-GP with a constant n_critic (paper: 5)


@dataclass
class Built:
    paper: str
    step: object                  # compiled step
    batch: object                 # i -> batch (a dict, or for C a [n_critic, B, S, S, 3] stack)
    batch_size: int
    image_size: int
    models: dict = field(default_factory=dict)
    infer: object = None          # images [B,S,S,3] -> output (inference network of the paper)
    strategy: object = None
    optimizers: list = field(default_factory=list)   # (optimizer, [models it trains])
    cfg: dict = field(default_factory=dict)          # the SIZES entry it was built from

    def call(self, i, batch=None):
        return self.step(self.batch(i) if batch is None else batch)

    def weights(self):
        return [v.numpy() for m in self.models.values() for v in m.weights]


def _images(i, batch, size, channels=3, seed=0):
    rng = np.random.default_rng([seed, i])
    low = rng.uniform(-1, 1, (batch, max(size // 4, 1), max(size // 4, 1), channels)).astype(np.float32)
    img = tf.image.resize(low, [size, size], "bilinear")                   # smooth, image-like
    return tf.clip_by_value(img + 0.05 * rng.standard_normal(img.shape).astype(np.float32), -1, 1)


def _holes(i, batch, size, hole, seed=1):
    rng = np.random.default_rng([seed, i])
    m = np.zeros((batch, size, size, 1), np.float32)
    boxes = np.zeros((batch, 4), np.int32)
    for b in range(batch):
        t, l = rng.integers(0, size - hole + 1, 2)
        m[b, t:t + hole, l:l + hole] = 1.0
        boxes[b] = (t, l, hole, hole)
    return tf.constant(m), boxes


def tiny_vgg(layers):
    """A stand-in for vgg19_features in tiny tests: same interface (image in [-1, 1] -> dict of
    named feature maps, frozen), one 4-channel conv per layer; full VGG19 makes XLA compiles slow."""
    x = inp = keras.Input((None, None, 3))
    out = {}
    for i, name in enumerate(layers):
        x = keras.layers.Conv2D(4, 3, strides=1 if i == 0 else 2, padding="same", activation="relu",
                                name=f"tiny_{name}")(x)
        out[name] = x
    model = keras.Model(inp, out, name="tiny_vgg")
    model.trainable = False
    return model


_DUPLICATE = False


def _dist(strategy, batch_fn):
    """Split each global batch over the replicas as experimental_distribute_dataset would."""
    if _DUPLICATE:
        raw = batch_fn

        def batch_fn(i):
            return tf.nest.map_structure(lambda t: tf.concat([t[:t.shape[0] // 2]] * 2, 0), raw(i))
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return batch_fn
    return lambda i: strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.nest.map_structure(
            lambda t: tf.split(t, ctx.num_replicas_in_sync)[ctx.replica_id_in_sync_group], batch_fn(i)))


def build(paper, size="tiny", mode="off", xla=False, strategy=None, seed=0, vgg_weights=None, batch=None,
          duplicate=False):
    """Set seed + precision, build paper `paper`'s models at `size`, return a Built (see module doc).

    duplicate: every global batch is [x; x] (its two halves equal), so that with 2 replicas each
    replica's BatchNorm sees the same statistics as one replica on the whole batch."""
    global _DUPLICATE
    _DUPLICATE = bool(duplicate)
    setup.set_seed(seed)
    setup.set_precision(mode)
    strategy = strategy or tf.distribute.get_strategy()
    cfg = dict(SIZES[size][paper])
    if batch is not None:
        cfg["batch"] = int(batch)
    s, bsz = cfg["image"], cfg["batch"]
    with strategy.scope():
        built = _BUILDERS[paper](
            cfg, s, bsz, xla, strategy, seed, vgg_weights)
        for opt, models in built.optimizers:          # as the Checkpointer does before a restore
            build_optimizer(opt, [v for m in models for v in m.trainable_variables])
    built.strategy = strategy
    built.cfg = cfg
    return built


def _recipe(paper, strategy, xla, seed, vgg_weights, values, **build_kw):
    """(train module, Recipe): the paper's own build(config, strategy) on its train script's
    defaults (its parser with no flags) with `values` set, as the script's main builds it."""
    module = importlib.import_module(papers.PAPERS[paper].train_module)
    config = module.build_parser().parse_args([])
    for key, value in dict(values, xla=xla, seed=seed, vgg_weights=vgg_weights).items():
        if not hasattr(config, key):
            raise AttributeError(f"{module.__name__} has no flag {key!r}")
        setattr(config, key, value)
    return module, module.build(config, strategy, **build_kw)


def _built(paper, recipe, batch, bsz, s, models, infer, strategy):
    optimizers = [(opt, trained if isinstance(trained, list) else [trained])
                  for opt, trained in recipe.optimizers.values()]
    return Built(paper, recipe.step, _dist(strategy, batch), bsz, s, models, infer, optimizers=optimizers)


def _paper_a(cfg, s, bsz, xla, strategy, seed, vgg_weights):
    import train_iizuka
    vgg = tiny_vgg(train_iizuka.VGG_LAYERS) if cfg.get("tiny_vgg") else None
    _, recipe = _recipe("A", strategy, xla, seed, vgg_weights, dict(
        stage=3, image_size=s, batch_size=bsz, width=cfg["width"], local_size=cfg["local"], fc_units=cfg["fc"]),
        vgg=vgg)
    G, D = recipe.models["generator"], recipe.models["discriminator"]

    def batch(i):
        mask, boxes = _holes(i, bsz, s, cfg["local"] // 2)
        boxes[:, 2:] = cfg["local"]
        boxes[:, :2] = np.minimum(boxes[:, :2], s - cfg["local"])
        return dict(image=_images(i, bsz, s), mask=mask, box=tf.constant(boxes))

    infer = lambda img: G([img, batch(0)["mask"][:img.shape[0]]], training=False)
    return _built("A", recipe, batch, bsz, s, dict(G=G, D=D), infer, strategy)


def _paper_b(cfg, s, bsz, xla, strategy, seed, vgg_weights):
    B, recipe = _recipe("B", strategy, xla, seed, vgg_weights, dict(image_size=s, batch_size=bsz, width=cfg["width"]))
    G, D = recipe.models["generator"], recipe.models["discriminator"]

    def batch(i):
        mask, _ = _holes(i, bsz, s, s // 2)
        return dict(damaged=B.damaged_view(_images(i, bsz, s), mask), mask=mask, real=_images(i, bsz, s, seed=7))

    infer = lambda img: G([img, batch(0)["mask"][:img.shape[0]]], training=False)
    return _built("B", recipe, batch, bsz, s, dict(G=G, D=D), infer, strategy)


def _paper_c(cfg, s, bsz, xla, strategy, seed, vgg_weights):
    from models import wgan
    _, recipe = _recipe("C", strategy, xla, seed, vgg_weights, dict(
        gp=True, n_critic=N_CRITIC, image_size=s, batch_size=bsz, width=cfg["width"], z_dim=cfg["z"]))
    G, D = recipe.models["generator"], recipe.models["discriminator"]

    def batch(i):   # the n_critic real batches step i reads, as one dataset of [B,S,S,3] batches
        flat = tf.concat([_images(i * N_CRITIC + k, bsz, s) for k in range(N_CRITIC)], 0)
        return tf.data.Dataset.from_tensor_slices(flat).batch(bsz)

    def call(i, ds=None):
        ds = distribute.distribute_dataset(strategy, batch(i) if ds is None else ds)
        out = recipe.step(iter(ds))
        recipe.counter.assign_add(1)
        return out

    infer = lambda img: G(wgan.sample_z(tf.constant([0, 1], tf.int64), img.shape[0], cfg["z"]), training=False)
    built = _built("C", recipe, batch, bsz, s, dict(G=G, D=D), infer, None)
    built.batch, built.call = batch, call         # batches are datasets, split by distribute_dataset
    return built


def _paper_d(cfg, s, bsz, xla, strategy, seed, vgg_weights):
    from models import context_encoder as ce
    _, recipe = _recipe("D", strategy, xla, seed, vgg_weights, dict(
        image_size=s, batch_size=bsz, width=cfg["width"], bottleneck=cfg["bottleneck"]))
    enc, dec = recipe.models["encoder"], recipe.models["decoder"]

    def batch(i):
        img = _images(i, bsz, s)
        return dict(image=img, mask=ce.center_mask_like(img))

    infer = lambda img: dec(enc(ce.fill_holes(img, ce.center_mask_like(img)), training=False), training=False)
    return _built("D", recipe, batch, bsz, s, dict(enc=enc, dec=dec, D=recipe.models["discriminator"]), infer,
                  strategy)


def _paper_e(cfg, s, bsz, xla, strategy, seed, vgg_weights):
    E, recipe = _recipe("E", strategy, xla, seed, vgg_weights, dict(
        variant=cfg["variant"], image_size=s, batch_size=bsz, filters=cfg["filters"], blocks=cfg["blocks"],
        d_filters=cfg["d_filters"], d_dense=cfg["d_dense"]))
    G = recipe.models["generator"]
    k = E.D_UPDATES + 1

    def batch(i):
        sharp = tf.stack([_images(i * k + j, bsz, s) for j in range(k)], 1)          # [B, k, S, S, 3]
        blurred = tf.reshape(tf.nn.avg_pool2d(tf.reshape(sharp, [-1, s, s, 3]), 3, 1, "SAME"), sharp.shape)
        return dict(blurred=blurred, sharp=sharp)

    infer = lambda img: G(img, training=False)
    return _built("E", recipe, batch, bsz, s, dict(G=G, D=recipe.models["discriminator"]), infer, strategy)


_BUILDERS = {"A": _paper_a, "B": _paper_b, "C": _paper_c, "D": _paper_d, "E": _paper_e}


def run_losses(built, steps):
    """Run `steps` steps on batches 0..steps-1; list of {name: float} per step."""
    out = []
    for i in range(steps):
        losses = built.call(i)
        out.append({k: float(v) for k, v in losses.items()})
    return out
