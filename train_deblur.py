"""Paper E: GAN image sharpness enhancement (deblurring), the four models of its ablation.

    python train_deblur.py --variant stacked|res_bn|nonbn_res|nonbn_res_l   # train (rerun to resume)

The evaluation set and the scores are evaluate.py's (this script only trains):
    python evaluate.py make-eval-set --dataset div2k --out datasets/deblur_eval
    python evaluate.py --table E --model runs/deblur_nonbn_res_l --eval-set datasets/deblur_eval
The old spellings `train_deblur.py make-eval-set ...` and `train_deblur.py evaluate ...` still run
those for one release, with a note.

Training: DIV2K's 800 training images (tfds `div2k`, or a folder), random 96x96 crops with flips,
blurred on the fly by data/degrade.py (Gaussian or camera-shake motion blur, seeded per example).
Generator loss: L1 content (eq. 3) + 1e-3 x adversarial -log D(G(x)) (eq. 6, BCE form), and for
nonbn_res_l also perceptual (eq. 4: VGG19 pool2 x 0.2 + pool5 x 0.02, mean squared error) and
texture (eq. 5: Gram matrices of 16x16 patches of conv1_1, conv2_1, conv3_1). Discriminator: BCE
(eq. 7), two updates per generator update, each on its own fresh batch. Adam 1e-4 for both,
x0.1 after 250,000 of the 500,000 steps, read from the ONE shared step counter.
The generator is exported to <run_dir>/export/generator.keras (blurred [-1, 1] -> sharp [-1, 1],
any size); sharpen.py applies it to your own photos.
"""
import argparse
import itertools
import sys
from pathlib import Path

from quiet_tf import import_tensorflow
import_tensorflow()        # before TensorFlow loads below: its start-up INFO lines stay off stderr
import keras
import tensorflow as tf

import papers
from data import pipeline
from data.degrade import KINDS
from data.sources import open_source
from errors import UserError, cli
from cliargs import positive_float, positive_int
from losses import adversarial, perceptual, pixel
from models import deblur
from training import checkpoint, distribute, export, flags, loop, run, setup, summaries
from training.recipe import Recipe

PAPER = papers.PAPERS["E"]
CARD = PAPER.card         # the paper's numbers (papers.py): every default below comes from it
VARIANTS = PAPER.variants
LR = CARD["lr"]                       # [choice: SRGAN] Adam's learning rate, 1e-4
LR_DECAY_AT = CARD["lr_decay_at"]     # [paper] x0.1 after 250,000 iterations
LR_DECAY = CARD["lr_decay"]           # [paper]
D_UPDATES = CARD["d_updates"]         # [paper] 2 discriminator updates per generator update
ADV_WEIGHT = CARD["adv_weight"]       # [choice: SRGAN] adversarial weight 1e-3, content (L1) weight 1
CONTENT_WEIGHT = CARD["content_weight"]
PERCEPTUAL_WEIGHTS = dict(CARD["perceptual_weights"])   # [choice: EnhanceNet table 2] eq. 4: pool2 0.2, pool5 0.02
TEXTURE_WEIGHTS = dict(CARD["texture_weights"])         # [choice: EnhanceNet] eq. 5: 3e-7, 1e-6, 1e-6
VGG_LAYERS = tuple(PERCEPTUAL_WEIGHTS) + tuple(TEXTURE_WEIGHTS)


# ------------------------------------------------------------------------- learning-rate schedule
class SharedStepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr for the first `decay_at` steps, lr * factor after, counted on ONE shared step variable.

    Keras calls a schedule with the optimizer's own `iterations`; D's runs twice as fast as G's
    (two D updates per G update), so the seed's "x0.1 after 250,000 iterations" would come at
    G step 125,000 for D. This schedule ignores that argument and reads `step` (the
    Checkpointer's step: completed train steps), bound with `bind` once the Checkpointer exists.
    Step s uses lr while s < decay_at: steps 0 .. 249,999 train at 1e-4, 250,000 on at 1e-5.
    """

    def __init__(self, lr=LR, decay_at=LR_DECAY_AT, factor=LR_DECAY, step=None):
        self.lr, self.decay_at, self.factor = float(lr), int(decay_at), float(factor)
        self.step = step

    def bind(self, step):
        self.step = step
        return self

    def __call__(self, iterations):
        if self.step is None:
            raise RuntimeError("SharedStepSchedule used before bind(step)")
        step = tf.cast(tf.convert_to_tensor(self.step), tf.int64)
        return tf.where(step < self.decay_at, tf.constant(self.lr, tf.float32),
                        tf.constant(self.lr * self.factor, tf.float32))

    def get_config(self):
        return {"lr": self.lr, "decay_at": self.decay_at, "factor": self.factor}


def optimizer_spec(lr=LR, decay_at=LR_DECAY_AT, factor=LR_DECAY):
    """[paper] Adam, x0.1 after 250,000 steps; [choice: SRGAN] 1e-4, Keras' betas (0.9, 0.999)."""
    return {"name": CARD["optimizer"], "learning_rate": {"initial": lr, "decay_at": decay_at, "factor": factor},
            "beta_1": CARD["beta1"], "beta_2": CARD["beta2"]}


def make_optimizers(lr=LR, decay_at=LR_DECAY_AT, factor=LR_DECAY):
    """Adam for G and for D on one SharedStepSchedule (bind it to the step counter)."""
    spec = optimizer_spec(lr, decay_at, factor)
    schedule = SharedStepSchedule(**{"lr": lr, "decay_at": decay_at, "factor": factor})
    g_opt = setup.optimizer({**spec, "learning_rate": schedule})
    d_opt = setup.optimizer({**spec, "learning_rate": schedule})
    return g_opt, d_opt, schedule


def settings(config):
    """What `config` resolves to beyond its flags, as --print-config shows it (build() uses the same)."""
    loss = {"content_l1": CONTENT_WEIGHT, "adversarial": config.adv_weight, "d_bce": 1.0}
    if config.variant == "nonbn_res_l":
        loss.update(perceptual=PERCEPTUAL_WEIGHTS, texture=TEXTURE_WEIGHTS, texture_patch=CARD["texture_patch"])
    spec = optimizer_spec(config.lr, config.lr_decay_at, config.lr_decay)
    return {"optimizer": {"generator": spec, "discriminator": spec}, "loss": loss,
            "output": "input + tanh" if config.global_residual else "tanh",
            "generator": {"stacked": "StackedG", "res_bn": "ResG"}.get(config.variant, "NonBN-ResG")}


# ------------------------------------------------------------------------- losses
def generator_loss(pred, sharp, d_fake, feats_pred=None, feats_sharp=None, content_weight=CONTENT_WEIGHT,
                   adv_weight=ADV_WEIGHT, perceptual_weights=None, texture_weights=None,
                   patch=CARD["texture_patch"]):
    """Paper E's generator loss -> dict of float32 scalars, "total" the one to minimise.

    total = content_weight * L1 (eq. 3) + adv_weight * -log D(G(x)) (eq. 6)
            [+ perceptual (eq. 4, weights per VGG layer) + texture (eq. 5, weights per layer)]
    The two VGG terms are added when feature dicts are given (variant nonbn_res_l); weights
    default to PERCEPTUAL_WEIGHTS (pool2 0.2, pool5 0.02) and TEXTURE_WEIGHTS
    (conv1_1 3e-7, conv2_1 1e-6, conv3_1 1e-6), texture on patch x patch tiles (16).
    """
    terms = {"content": pixel.l1(pred, sharp),                       # eq. 3
             "adversarial": adversarial.bce_g_loss(d_fake)}          # eq. 6, -log D(G(I_B))
    total = content_weight * terms["content"] + adv_weight * terms["adversarial"]
    if feats_pred is not None:
        terms["perceptual"] = perceptual.perceptual_l2(                # eq. 4, weights inside
            feats_pred, feats_sharp, PERCEPTUAL_WEIGHTS if perceptual_weights is None
            else perceptual_weights)
        terms["texture"] = perceptual.texture_losses(                  # eq. 5, weights inside
            feats_pred, feats_sharp, TEXTURE_WEIGHTS if texture_weights is None
            else texture_weights, patch)
        total += terms["perceptual"] + terms["texture"]
    terms["total"] = total
    return terms


def discriminator_loss(d_real, d_fake):
    """Eq. 7: -log D(I_T) - log(1 - D(G(I_B)))."""
    return adversarial.bce_d_loss(d_real, d_fake)


# ------------------------------------------------------------------------- the train step
def make_train_step(G, D, g_opt, d_opt, vgg=None, d_updates=D_UPDATES, adv_weight=ADV_WEIGHT, trace_once=True):
    """The per-replica step: `d_updates` D updates, then one G update, each on its own batch.

    batch: dict(blurred, sharp), each [B, d_updates + 1, C, C, 3]; slice i < d_updates feeds
    D update i, the last slice the G update. Returns the losses (global batch means).
    trace_once: make the D update a nested tf.function, traced once and called d_updates times
    (tracing is most of a short run); must be False under a multi-replica strategy, where a
    nested tf.function cannot hold apply_gradients' all-reduce.
    """
    def d_update(blurred, sharp):
        """Eq. 7 on one batch: D learns to tell sharp I_T (1) from G(I_B) (0)."""
        fake = G(blurred, training=True)
        with tf.GradientTape() as tape:
            d_loss = distribute.replica_mean(discriminator_loss(D(sharp, training=True), D(fake, training=True)))
            scaled = d_opt.scale_loss(d_loss)
        grads = tape.gradient(scaled, D.trainable_variables)
        d_opt.apply_gradients(zip(grads, D.trainable_variables))
        return d_loss

    if trace_once:
        d_update = tf.function(d_update, autograph=False)

    @tf.autograph.experimental.do_not_convert    # plain Python loop over d_updates: no AutoGraph needed
    def train_step(batch):
        blurred, sharp = batch["blurred"], batch["sharp"]
        logs = {f"d/loss{i + 1}": d_update(blurred[:, i], sharp[:, i]) for i in range(d_updates)}
        with tf.GradientTape() as tape:               # eqs. 3-6
            pred = G(blurred[:, -1], training=True)
            feats = perceptual.vgg_pair(vgg, pred, sharp[:, -1]) if vgg is not None else (None, None)
            terms = generator_loss(pred, sharp[:, -1], D(pred, training=True), *feats, adv_weight=adv_weight)
            g_loss = distribute.replica_mean(terms["total"])
            scaled = g_opt.scale_loss(g_loss)
        grads = tape.gradient(scaled, G.trainable_variables)
        g_opt.apply_gradients(zip(grads, G.trainable_variables))
        logs.update({f"g/{k}": distribute.replica_mean(v) for k, v in terms.items()})
        return logs
    return train_step


def training_batches(source, args, strategy=None, first=None):
    """start_step -> batches of dict(blurred, sharp) [B, d_updates + 1, C, C, 3] (see make_train_step).

    Step s takes pipeline batches s*(d+1) .. s*(d+1)+d, so a resumed run sees the same data.
    first: a dict that receives the first batch under "batch" (the image grid's fixed examples).
    """
    k = args.d_updates + 1

    def stack(b):
        return {key: tf.transpose(v, [1, 0, 2, 3, 4]) for key, v in b.items()}

    def batches(start):
        ds = pipeline.deblur_batches(source, args.image_size, args.batch_size, args.seed, blur_kind=args.blur,
                                     start_step=start * k, sigma_range=tuple(args.sigma_range),
                                     scale_range=tuple(args.scale_range), sharp_fraction=args.sharp_fraction)
        ds = ds.batch(k, drop_remainder=True).map(stack).prefetch(tf.data.AUTOTUNE)
        ds = distribute.distribute_dataset(strategy, ds) if strategy is not None else ds
        if first is None:
            return ds
        it = iter(ds)
        first["batch"] = next(it)
        return itertools.chain([first["batch"]], it)
    return batches


# ------------------------------------------------------------------------- training command
def build_parser():
    parser = flags.common_parser(__doc__, dataset=CARD["dataset"], steps=CARD["steps"], batch_size=CARD["batch_size"],
                                 image_size=CARD["image_size"],
                                 log_every=100, save_every=5000, image_every=5000)
    parser.set_defaults(paper="E")
    parser.add_argument("--variant", choices=VARIANTS, default=CARD["variant"],
                        help="StackedG, ResG, NonBN-ResG, NonBN-ResG + perceptual/texture losses (default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=LR, help="Adam learning rate of G and D (default: %(default)s)")
    parser.add_argument("--lr-decay-at", type=int, default=LR_DECAY_AT,
                        help="step from which lr is multiplied by --lr-decay (default: %(default)s)")
    parser.add_argument("--lr-decay", type=float, default=LR_DECAY, help="(default: %(default)s)")
    parser.add_argument("--d-updates", type=int, default=D_UPDATES,
                        help="discriminator updates per generator update (default: %(default)s)")
    parser.add_argument("--adv-weight", type=float, default=ADV_WEIGHT, help="(default: %(default)s)")
    parser.add_argument("--blur", choices=("mixed",) + tuple(KINDS), default=CARD["blur"],
                        help="blur of the training inputs (data/degrade.py) (default: %(default)s)")
    parser.add_argument("--sigma-range", type=float, nargs=2, default=list(CARD["sigma_range"]), metavar=("LO", "HI"),
                        help="Gaussian blur sigma range (default: %(default)s)")
    parser.add_argument("--scale-range", type=positive_float, nargs=2, default=[1.0, 1.0], metavar=("LO", "HI"),
                        help="demo-scale aid, not the paper's: take each training crop at a log-uniform random scale "
                             "of the photo in [LO, HI] (< 1 zooms in), content at more scales than the photos have "
                             "(docs/EXPERIMENTS.md, issue 25) (default: %(default)s, the photos' own scale)")
    parser.add_argument("--sharp-fraction", type=float, default=0.0,
                        help="demo-scale aid, not the paper's: this share of training examples is left unblurred "
                             "(input = target), so G learns to leave sharp content alone (default: %(default)s)")
    parser.add_argument("--filters", type=positive_int, default=CARD["filters"], help="generator width (default: %(default)s)")
    parser.add_argument("--blocks", type=int, default=CARD["blocks"], help="residual blocks (default: %(default)s)")
    parser.add_argument("--global-residual", action=argparse.BooleanOptionalAction, default=CARD["global_residual"],
                        help="demo-scale aid, off in the paper: add the blurred input to G's output, last conv "
                             "zero-initialised (docs/PAPER_NOTES.md E); it makes StackedG a residual learner too, "
                             "so the ablation no longer compares what the paper does (default: %(default)s)")
    parser.add_argument("--d-filters", type=positive_int, default=CARD["d_filters"], help="discriminator width (default: %(default)s)")
    parser.add_argument("--d-dense", type=positive_int, default=CARD["d_dense"], help="discriminator dense units (default: %(default)s)")
    return parser


SMOKE = dict(steps=3, batch_size=2, image_size=64, dataset="samples", filters=8, d_filters=8, d_dense=16,
             lr_decay_at=2, log_every=1, save_every=2, image_every=3)


def _check(args):
    if args.image_size % 16:
        raise UserError(f"--image-size {args.image_size} must be a multiple of 16 (the discriminator "
                        f"halves it four times)")
    if args.variant == "nonbn_res_l" and args.image_size < 64:
        raise UserError(f"--variant nonbn_res_l needs --image-size >= 64 (VGG19 conv3_1 is a quarter of "
                        f"the crop and the texture loss uses 16x16 patches of it), got {args.image_size}")
    if args.d_updates < 1:
        raise UserError(f"--d-updates must be >= 1, got {args.d_updates}")
    lo, hi = args.sigma_range
    if not 0 < lo <= hi:
        raise UserError(f"--sigma-range needs 0 < LO <= HI, got {lo} {hi}")


def build(config, strategy):
    """Paper E's recipe for `config` (the parsed flags): G, D (and VGG19 for nonbn_res_l), the two
    Adams on one shared step schedule, and the train step. Call inside strategy.scope()."""
    models = deblur.networks(vars(config))             # the one builder (papers.networks)
    G, D = models["generator"], models["discriminator"]
    vgg = (perceptual.vgg19_features(VGG_LAYERS, weights=config.vgg_weights)
           if config.variant == "nonbn_res_l" else None)
    g_opt, d_opt, schedule = make_optimizers(config.lr, config.lr_decay_at, config.lr_decay)
    counter = checkpoint.step_counter()
    schedule.bind(counter)            # both optimizers read the one shared step counter
    step = setup.make_step(make_train_step(G, D, g_opt, d_opt, vgg, config.d_updates, config.adv_weight,
                                           trace_once=strategy.num_replicas_in_sync == 1), config.xla, strategy)
    return Recipe(models=models, optimizers=dict(g_opt=(g_opt, G), d_opt=(d_opt, D)),
                  step=step, counter=counter, extras=dict(vgg=vgg, schedule=schedule))


def train(argv=None):
    parser = build_parser()
    args = flags.parse(parser, argv, smoke=SMOKE)
    if "run_dir" not in args._given:
        args.run_dir = str(Path("runs") / f"deblur_{args.variant}")
    _check(args)
    if args.print_config:
        return flags.print_config(run.preview(args), settings(args))
    r = run.open_run(args)
    strategy = setup.configure(args)
    source = open_source(args.dataset, "train", data_dir=args.data_dir, crop_min=args.random_crops)
    with strategy.scope():
        recipe = build(args, strategy)
        ckpt = recipe.checkpointer(r.ckpt_dir, keep=args.keep)
    G = recipe.models["generator"]
    first = {}   # the first batch this process trains on, shown in the image grids

    def images(_step):
        b = {k: tf.concat(strategy.experimental_local_results(v), 0)[:4, 0] for k, v in first["batch"].items()}
        return {"blurred": b["blurred"], "sharpened": G(b["blurred"], training=False), "sharp": b["sharp"]}

    ckpt.restore()
    loop.train_loop(recipe.step, training_batches(source, args, strategy, first), ckpt,
                    summaries=summaries.Summaries(r.log_dir, r.image_dir), images_fn=images,
                    source=source, **loop.loop_flags(args))
    path = export.export_model(G, r.export_path(PAPER.export))
    print(f"exported the generator to {path}")
    return 0


def main(argv=None):
    """Train. The old `make-eval-set` and `evaluate` spellings run evaluate.py's commands with a note."""
    argv = sys.argv[1:] if argv is None else list(argv)
    moved = {"make-eval-set": ["make-eval-set"], "evaluate": ["--table", "E"]}   # kept for one release
    if argv and argv[0] in moved:
        # A train script imports no evaluation module: evaluate.py runs as its own process.
        import subprocess
        new = moved[argv[0]]
        print(f'note: "train_deblur.py {argv[0]}" moved to "python evaluate.py {" ".join(new)} ..."; running that',
              file=sys.stderr)
        return subprocess.call([sys.executable, str(Path(__file__).resolve().parent / "evaluate.py"), *new, *argv[1:]])
    return train(argv)


# ---------------------------------------------------------------- benchmark hooks (bench/)

def synthetic(cfg, strategy, recipe_fn):
    """bench/steps.py: the variant's recipe at bench size `cfg` (PAPER.bench), built by recipe_fn(values)
    (build() on the parser defaults with `values` set), on d_updates + 1 synthetic sharp crops per
    example and their box-blurred inputs."""
    from training import synthetic as syn
    s, bsz = cfg["image"], cfg["batch"]
    recipe = recipe_fn(dict(variant=cfg["variant"], image_size=s, batch_size=bsz, filters=cfg["filters"],
                            blocks=cfg["blocks"], d_filters=cfg["d_filters"], d_dense=cfg["d_dense"]))
    G, k = recipe.models["generator"], D_UPDATES + 1

    def batch(i):
        sharp = tf.stack([syn.images(i * k + j, bsz, s) for j in range(k)], 1)          # [B, k, S, S, 3]
        return dict(blurred=syn.box_blur(sharp), sharp=sharp)

    return dict(recipe=recipe, batch=batch, infer=lambda img: G(img, training=False),
                sample=lambda b: b["blurred"][:, 0], images_per_step=k * bsz)


def step_macs(models, config, forward_macs):
    """bench/throughput.py: (MACs per example of one step of `config`, formula), `models` the recipe's
    and its VGG (nonbn_res_l). Each of the d_updates D updates: G 1, D 6; the G update: G 3, D 2, VGG on
    the prediction 2 + the sharp crop 1."""
    g, d, k = forward_macs(models["generator"]), forward_macs(models["discriminator"]), config["d_updates"]
    v = forward_macs(models["vgg"]) if "vgg" in models else 0
    return k * (g + 6 * d) + 3 * g + 2 * d + 3 * v, f"{k} x (G + 6 D) + 3 G + 2 D" + (" + 3 VGG(pool5)" if v else "")


def bench_pipeline(size, batch):
    """bench/throughput.py: folder -> the training dataset (d_updates + 1 blurred random crops per
    example); data/shards.py keeps whole decoded photos for it, since the crops are random."""
    args = argparse.Namespace(d_updates=D_UPDATES, image_size=size, batch_size=batch, seed=0, blur=CARD["blur"],
                              sigma_range=list(CARD["sigma_range"]))
    return dict(dataset=lambda folder: training_batches(open_source(str(folder), "train"), args)(0),
                per_element=D_UPDATES + 1, shards="none")


def paper_step_rows():
    """bench/paper_step.py: row suffix -> (what it runs, the flags that make it) at PAPER.bench["paper"]:
    the four models of the ablation."""
    what = lambda v: (f"{PAPER.variant_labels[v]} (+ VGG19 losses)" if v == "nonbn_res_l"
                      else f"{PAPER.variant_labels[v]}, {D_UPDATES} D + 1 G updates")
    return {f"-{v}": (what(v), dict(variant=v)) for v in VARIANTS}


if __name__ == "__main__":
    cli(main)
