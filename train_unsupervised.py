"""Paper B: unsupervised (unpaired) GAN inpainting, DCGAN on CIFAR-10 at 64x64.

The inpainting generator G(x_m) learns ONLY from paper B's adversarial losses (section 4):
    L_G = -E_{x_m}[log D(G(x_m))]                                   (4.1)
    L_D = -E_{x_r}[log D(x_r)] - E_{x_m}[log(1 - D(G(x_m)))]        (4.2)
where x_m are damaged images and x_r real images from DISJOINT halves of the training set
(even / odd positions of a folder, first / second half of a tfds split), so no (damaged, clean)
pair ever exists. The input pipeline drops the clean pixels of x_m before batching: the train
step receives exactly {damaged, mask, real}. G(x_m) is composited with the known pixels
(M * G + (1 - M) * x_m) before D sees it.

    python train_unsupervised.py                         # paper defaults: cifar10, 64 px, batch 64
    python train_unsupervised.py --smoke --dataset samples --run-dir runs/b_smoke

Exports <run_dir>/export/inpainter.keras ([image, mask] -> prediction) for inpaint.py / evaluate.py.
"""
import argparse

import numpy as np
from quiet_tf import import_tensorflow
import_tensorflow()        # before TensorFlow loads below: its start-up INFO lines stay off stderr
import tensorflow as tf

import papers
from data.masks import make_mask
from data.pipeline import inpainting_batches
from data.sources import FileSource, open_source
from errors import UserError, cli
from cliargs import positive_float, positive_int
from losses.adversarial import bce_d_loss, bce_g_loss
from models import unsupervised
from training import checkpoint, distribute, flags, loop, run, setup, summaries
from training.export import export_model
from training.recipe import Recipe

PAPER = papers.PAPERS["B"]
CARD = PAPER.card      # the paper's numbers (papers.py): every default below comes from it

MASKS = ("mixed", "rectangles", "center")
_MIX_STREAM = 0xB0B
_REAL_STREAM = 0xB0C


# ----------------------------------------------------------------------------- data: two disjoint halves

def split_halves(spec, data_dir=None, crop_min=None):
    """(damaged source, real source, one-line description): two disjoint halves of the training set.

    Files (a folder, `samples`): even positions of the sorted list -> damaged, odd -> real.
    tfds: examples [0, n/2) of the train split -> damaged, [n/2, n) -> real.
    """
    whole = open_source(spec, "train", data_dir=data_dir, crop_min=crop_min)
    n = len(whole)
    if n < 2:
        raise UserError(f"paper B needs at least 2 training images to split into damaged and real halves, "
                        f"{spec} has {n}")
    if isinstance(whole, FileSource):
        damaged = whole.subset(whole.paths[0::2], f"{whole.name}[even]", where=f"{whole._where} (even)")
        real = whole.subset(whole.paths[1::2], f"{whole.name}[odd]", where=f"{whole._where} (odd)")
        assert not set(damaged.paths) & set(real.paths), "the two halves share a file"
        text = (f"damaged x_m = even positions of {whole.name} ({len(damaged)} images), "
                f"real x_r = odd positions ({len(real)} images)")
    else:
        half = n // 2
        damaged = open_source(spec, "train", data_dir=data_dir, first=n, n_train=half)
        real = open_source(spec, "test", data_dir=data_dir, first=n, n_train=half)
        text = (f"damaged x_m = {spec} train[0:{half}] ({len(damaged)} images), "
                f"real x_r = {spec} train[{half}:{n}] ({len(real)} images)")
    return damaged, real, "paper B split (disjoint): " + text


def damaged_view(image, mask):
    """What the step may see of a damaged example: the hole pixels are replaced by 0."""
    return image * (1.0 - mask)


def damaged_batches(source, image_size, batch_size, seed, mask="mixed", start_step=0):
    """Batches dict(damaged [B,S,S,3] (holes 0), mask [B,S,S,1]); the clean image is dropped here.

    mask "mixed": each example gets the centre square (side S/2) or random rectangles with
    probability 1/2, from a stateless coin of (seed, batch number, example).
    """
    if mask not in MASKS:
        raise UserError(f"--mask must be one of {', '.join(MASKS)}, got {mask!r}")
    kind = "center" if mask == "center" else "rectangles"
    ds = inpainting_batches(source, image_size, batch_size, kind, seed, start_step=start_step)
    center, _ = make_mask("center", [0, 0], image_size, image_size)

    def view(index, batch):
        m = batch["mask"]
        if mask == "mixed":
            coin_seed = tf.random.experimental.stateless_fold_in(tf.constant([seed, _MIX_STREAM], tf.int64), index)
            coin = tf.random.stateless_uniform([batch_size, 1, 1, 1], coin_seed)
            m = tf.where(coin < 0.5, center[None], m)
        return dict(damaged=damaged_view(batch["image"], m), mask=m)   # batch["image"] ends here

    return ds.enumerate(start=start_step).map(view, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def real_batches(source, image_size, batch_size, seed, start_step=0):
    """Batches [B,S,S,3] of whole real images x_r (the other half)."""
    ds = inpainting_batches(source, image_size, batch_size, "center", seed, start_step=start_step)
    return ds.map(lambda b: b["image"])


def real_stream_seed(seed):
    """The real half's shuffle seed: its own stream of the run seed. With the run seed itself, two
    halves of equal length would be permuted identically and image 2k would always meet 2k+1."""
    return int(np.random.SeedSequence([int(seed), _REAL_STREAM]).generate_state(1, np.uint64)[0] >> 1)


def training_batches(damaged_src, real_src, image_size, batch_size, seed, mask="mixed", start_step=0):
    """dict(damaged, mask, real): x_m from one half and an independent x_r from the other
    (section 4: x_m and x_r drawn independently), each shuffled from its own seed."""
    d = damaged_batches(damaged_src, image_size, batch_size, seed, mask, start_step)
    r = real_batches(real_src, image_size, batch_size, real_stream_seed(seed), start_step)
    return tf.data.Dataset.zip(d, r).map(lambda dm, x_r: dict(damaged=dm["damaged"], mask=dm["mask"], real=x_r))


# ----------------------------------------------------------------------------- losses and step

STEP_KEYS = frozenset({"damaged", "mask", "real"})


def composite(pred, damaged, mask):
    """M * G(x_m) + (1 - M) * x_m: the known pixels are kept."""
    pred = tf.cast(pred, tf.float32)
    return mask * pred + (1.0 - mask) * damaged


def d_loss(G, D, batch, training=True):
    """Section 4.2:  L_D = -E[log D(x_r)] - E[log(1 - D(G(x_m)))]  (x_r and G(x_m) in separate passes)."""
    x_g = composite(G([batch["damaged"], batch["mask"]], training=training), batch["damaged"], batch["mask"])
    return bce_d_loss(D(batch["real"], training=training), D(tf.stop_gradient(x_g), training=training))


def g_loss(G, D, batch, training=True):
    """Section 4.1:  L_G = -E[log D(G(x_m))]  (G(x_m) composited)."""
    x_g = composite(G([batch["damaged"], batch["mask"]], training=training), batch["damaged"], batch["mask"])
    return bce_g_loss(D(x_g, training=training))


def make_train_step(G, D, g_opt, d_opt):
    """One step = one D update (4.2) then one G update (4.1), as paper B's loop (section 5.3).
    The batch must be exactly {damaged, mask, real}: no clean image of x_m can be passed in."""

    def train_step(batch):
        if set(batch) != STEP_KEYS:
            raise ValueError(f"paper B's step takes exactly {sorted(STEP_KEYS)}, got {sorted(batch)}")
        with tf.GradientTape() as tape:
            loss_d = distribute.replica_mean(d_loss(G, D, batch))
            scaled = d_opt.scale_loss(loss_d)
        d_opt.apply_gradients(zip(tape.gradient(scaled, D.trainable_variables), D.trainable_variables))
        with tf.GradientTape() as tape:
            loss_g = distribute.replica_mean(g_loss(G, D, batch))
            scaled = g_opt.scale_loss(loss_g)
        g_opt.apply_gradients(zip(tape.gradient(scaled, G.trainable_variables), G.trainable_variables))
        return {"loss/d": loss_d, "loss/g": loss_g}

    return train_step


# ----------------------------------------------------------------------------- the recipe and main

def optimizer_spec(config):
    """[paper] Adam 2e-4, betas (0.5, 0.999), for G and D alike."""
    return {"name": CARD["optimizer"], "learning_rate": config.lr, "beta_1": config.beta1, "beta_2": config.beta2}


def settings(config):
    """What `config` resolves to beyond its flags, as --print-config shows it (build() uses the same)."""
    return {"optimizer": {"generator": optimizer_spec(config), "discriminator": optimizer_spec(config)},
            "loss": {"L_G": "-log D(G(x_m))", "L_D": "-log D(x_r) - log(1 - D(G(x_m)))"},
            "output": "mean fill + tanh" if config.residual else "tanh"}


def build(config, strategy):
    """Paper B's recipe for `config` (the parsed flags): the inpainting generator, the DCGAN
    discriminator, an Adam for each and the train step. Call inside strategy.scope()."""
    models = unsupervised.networks(vars(config))       # the one builder (papers.networks)
    G, D = models["generator"], models["discriminator"]
    g_opt, d_opt = setup.optimizer(optimizer_spec(config)), setup.optimizer(optimizer_spec(config))
    step = setup.make_step(make_train_step(G, D, g_opt, d_opt), config.xla, strategy)
    return Recipe(models=dict(generator=G, discriminator=D), optimizers=dict(g_opt=(g_opt, G), d_opt=(d_opt, D)),
                  step=step, counter=checkpoint.step_counter())


def build_parser():
    parser = flags.common_parser(__doc__, dataset=CARD["dataset"], steps=CARD["steps"], batch_size=CARD["batch_size"],
                                 image_size=CARD["image_size"],
                                 run_dir="runs/train_unsupervised", log_every=100, save_every=1000,
                                 image_every=1000)
    parser.set_defaults(paper="B")
    parser.add_argument("--mask", choices=MASKS, default=CARD["mask"],
                        help="holes: centre square or random rectangles, half each (default: %(default)s)")
    parser.add_argument("--width", type=positive_int, default=CARD["width"], help="DCGAN base width (default: %(default)s)")
    parser.add_argument("--residual", action=argparse.BooleanOptionalAction, default=CARD["residual"],
                        help="G predicts the per-image mean fill + a correction whose last layer starts at zero "
                             "(measured in docs/EXPERIMENTS.md, off by default); --no-residual: the paper's plain "
                             "DCGAN output (default: %(default)s)")
    parser.add_argument("--code-dim", type=int, default=CARD["code_dim"], help="encoder code = DCGAN z (default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=CARD["lr"], help="Adam, G and D (default: %(default)s)")
    parser.add_argument("--beta1", type=float, default=CARD["beta1"], help="(default: %(default)s)")
    parser.add_argument("--beta2", type=float, default=CARD["beta2"], help="(default: %(default)s)")
    return parser


SMOKE = dict(steps=3, batch_size=4, image_size=16, dataset="samples", width=8, log_every=1, save_every=2,
             image_every=2)


def main(argv=None):
    args = flags.parse(build_parser(), argv, smoke=SMOKE)
    legacy = {"residual": False}                         # runs from before --residual: the plain DCGAN output
    if args.print_config:
        return flags.print_config(run.preview(args, legacy=legacy), settings(args))
    r = run.open_run(args, legacy=legacy)
    strategy = setup.configure(args)
    damaged_src, real_src, split_text = split_halves(args.dataset, args.data_dir, args.random_crops)
    print(split_text)
    print("paper B: the train step sees only {damaged (holes zeroed), mask} of x_m and {real} of x_r; "
          "the clean pixels of damaged images are dropped in the input pipeline and never reach a loss")
    with strategy.scope():
        recipe = build(args, strategy)
        ckpt = recipe.checkpointer(r.ckpt_dir, keep=args.keep)
    ckpt.restore()
    G = recipe.models["generator"]

    def batches(start):
        ds = training_batches(damaged_src, real_src, args.image_size, args.batch_size, args.seed, args.mask, start)
        return distribute.distribute_dataset(strategy, ds)

    # Image grids: held-out images (the "test" split), shown with their ground truth for the eye only.
    test_src = open_source(args.dataset, "test", data_dir=args.data_dir)
    shown = next(iter(inpainting_batches(test_src, args.image_size, min(args.batch_size, 8), "center",
                                         args.seed, shuffle=False)))

    def images_fn(step):
        damaged = damaged_view(shown["image"], shown["mask"])
        out = composite(G([damaged, shown["mask"]], training=False), damaged, shown["mask"])
        return {"input": damaged + shown["mask"], "completed": out, "ground_truth": shown["image"]}

    loop.train_loop(recipe.step, batches, ckpt, summaries=summaries.Summaries(r.log_dir, r.image_dir),
                    images_fn=images_fn, **loop.loop_flags(args))
    path = export_model(G, r.export_path(PAPER.export))
    print(f"exported {path}")
    return 0


# ---------------------------------------------------------------- benchmark hooks (bench/)

def synthetic(cfg, strategy, recipe_fn):
    """bench/steps.py: the recipe at bench size `cfg` (PAPER.bench), built by recipe_fn(values) (build()
    on the parser defaults with `values` set), on synthetic damaged images (a square hole of half the
    side) and unrelated real images."""
    from training import synthetic as syn
    s, bsz = cfg["image"], cfg["batch"]
    recipe = recipe_fn(dict(image_size=s, batch_size=bsz, width=cfg["width"]))
    G = recipe.models["generator"]

    def batch(i):
        mask, _ = syn.holes(i, bsz, s, s // 2)
        return dict(damaged=damaged_view(syn.images(i, bsz, s), mask), mask=mask, real=syn.images(i, bsz, s, seed=7))

    infer = lambda img: G([img, batch(0)["mask"][:img.shape[0]]], training=False)
    return dict(recipe=recipe, batch=batch, infer=infer, sample=lambda b: b["damaged"])


def step_macs(models, config, forward_macs):
    """bench/throughput.py: (MACs per example of one step, formula). D update: G forward 1, D on real
    3 + fake 3; G update: G 3, D 2 (forward + input gradient)."""
    return 4 * forward_macs(models["generator"]) + 8 * forward_macs(models["discriminator"]), "4 G + 8 D"


def bench_pipeline(size, batch):
    """bench/throughput.py: folder -> the training dataset (the folder split in damaged and real halves)."""
    def dataset(folder):
        damaged, real, _ = split_halves(str(folder))
        return training_batches(damaged, real, size, batch, 0)
    return dict(dataset=dataset)


def paper_step_rows():
    """bench/paper_step.py: row suffix -> (what it runs, the flags that make it) at PAPER.bench["paper"]."""
    return {"": ("unsupervised DCGAN inpainting", {})}


if __name__ == "__main__":
    cli(main)
