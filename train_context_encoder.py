"""Paper D: train the Context-Encoder-style network that rebuilds transmission-damaged regions.

    python train_context_encoder.py --dataset PATH            # paper: l = 0.95 l_rec + 0.05 l_adv
    python train_context_encoder.py --dataset PATH --rec-only # the "ours(l_rec)" variant
    python train_context_encoder.py --mask macroblock         # lost 16x16 macroblocks (our extension)
    python train_context_encoder.py --mask glcic --dataset celeb_a --first 80000   # paper A's table row
    python train_context_encoder.py --smoke                   # seconds on a CPU, bundled photos

Paper settings (seed 003, section 3): 128x128 images whose centre 64x64 square is filled white,
learning rate 0.001, batch 50, trained "until the loss settles in [0.005, 0.0055]". We stop when
the exponential moving average of the RECONSTRUCTION loss l_rec stays inside the band for
--band-patience consecutive checks (one check every --band-every steps), or at --steps, whichever
comes first (see `band_update`); the log says which. Exported model: <run_dir>/export/inpainter.keras.
"""
import argparse
import math
import os
from dataclasses import dataclass

from quiet_tf import import_tensorflow
import_tensorflow()        # before TensorFlow loads below: its start-up INFO lines stay off stderr
import tensorflow as tf

import papers
import rundir
from data.masks import glcic_kw, make_mask
from data.pipeline import inpainting_batches
from data.sources import open_source
from errors import UserError, cli
from cliargs import fraction, positive_float, positive_int
from losses.adversarial import bce_d_loss, bce_g_loss
from models import context_encoder as ce
from training import checkpoint, distribute, export, flags, loop, run, setup, summaries
from training.recipe import Recipe

PAPER = papers.PAPERS["D"]
CARD = PAPER.card      # the paper's numbers (papers.py): every default below comes from it

PAPER_DATASET = CARD["dataset"]              # where docs/papers/D.md's fetch recipe puts the photos
MASKS = ("center", "macroblock", "burst", "glcic")
REC_WEIGHT, ADV_WEIGHT = CARD["rec_weight"], CARD["adv_weight"]   # [paper] eq. 5: lambda_r = 0.95, lambda_a = 0.05
BAND = tuple(CARD["band"])                   # [paper] "until the loss settles in [0.005, 0.0055]"
DEMO_D_LR = 0.0001     # the demo's aid (--d-lr): D at a tenth of G's rate, as Pathak's train.lua (docs/PAPER_NOTES.md D)


# ----------------------------------------------------------------------------- stopping rule

@dataclass(frozen=True)
class BandState:
    """Host state of the stopping rule: EMA of the loss, consecutive in-band checks, fired step."""
    ema: float = math.nan
    streak: int = 0
    settled_at: int = 0


def band_update(state, loss, step, band=BAND, smoothing=0.99, every=100, patience=10):
    """One step of the rule "the loss settles in the band" (pure; step counts from 1).

    ema_t = smoothing * ema_{t-1} + (1 - smoothing) * loss_t (ema_1 = loss_1). Every `every` steps
    the EMA is checked: inside [low, high] extends the streak, outside resets it to 0. The rule
    fires (settled_at = step) when the streak reaches `patience`, i.e. the smoothed loss has
    stayed in the band for patience * every steps; a curve that merely passes through the band on
    its way down leaves it before that. patience <= 0 disables the rule. Returns the new state.
    """
    if state.settled_at:
        return state
    ema = float(loss) if math.isnan(state.ema) else smoothing * state.ema + (1.0 - smoothing) * float(loss)
    streak = state.streak
    if step % every == 0:
        streak = streak + 1 if band[0] <= ema <= band[1] else 0
    settled = step if patience > 0 and streak >= patience else 0
    return BandState(ema, streak, settled)


def band_stop_step(losses, **rule):
    """The step (from 1) at which band_update fires on a loss curve, or None (for tests and tuning)."""
    state = BandState()
    for step, loss in enumerate(losses, start=1):
        state = band_update(state, loss, step, **rule)
        if state.settled_at:
            return state.settled_at
    return None


class _Settled(Exception):
    """Raised from the step wrapper (after saving) to end train_loop early."""


class BandStopper:
    """Applies band_update after every step; its state lives in tf.Variables saved with the
    checkpoint, so a resumed run continues the same EMA and streak."""

    def __init__(self, band, smoothing, every, patience):
        self.rule = dict(band=tuple(band), smoothing=smoothing, every=every, patience=patience)
        self.ema = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="band_ema")
        self.streak = tf.Variable(0, dtype=tf.int64, trainable=False, name="band_streak")
        self.settled_at = tf.Variable(0, dtype=tf.int64, trainable=False, name="band_settled_at")

    @property
    def state(self):
        return BandState(float(self.ema.numpy()), int(self.streak.numpy()), int(self.settled_at.numpy()))

    def update(self, loss, step):
        new = band_update(self.state, loss, step, **self.rule)
        self.ema.assign(new.ema)
        self.streak.assign(new.streak)
        self.settled_at.assign(new.settled_at)
        return new

    def wrap(self, step_fn, ckpt, key="l_rec"):
        """step_fn for train_loop: runs the step, feeds losses[key] to the rule; once it has fired
        the NEXT call saves the checkpoint (step N is then counted) and raises _Settled."""
        def wrapped(batch):
            if self.state.settled_at:
                ckpt.save()
                raise _Settled()
            losses = step_fn(batch)
            self.update(float(losses[key].numpy()), int(ckpt.step.numpy()) + 1)
            return losses
        return wrapped


# ----------------------------------------------------------------------------- the train step

def make_train_step(enc, dec, disc, g_opt, d_opt, full_image, rec_weight=REC_WEIGHT, adv_weight=ADV_WEIGHT,
                    residual=False):
    """Per-replica step: batch dict(image, mask) -> dict of losses. disc None = "ours(l_rec)".
    residual: the demo's aid, G predicts a correction to the mean fill (models/context_encoder.py)."""
    g_vars = enc.trainable_variables + dec.trainable_variables

    def step(batch):
        image, mask = batch["image"], batch["mask"]
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:   # the hole "filled white" in, G's region out
            pred = ce.predict(enc, dec, image, mask, full_image, residual, training=True)
            if full_image:   # ours: l_rec = MSE over the hole pixels of the full-frame prediction
                sq = tf.reduce_sum(mask * tf.square(pred - image), axis=[1, 2, 3])
                per_example = sq / tf.maximum(3.0 * tf.reduce_sum(mask, axis=[1, 2, 3]), 1.0)
                real, fake = image, mask * pred + (1.0 - mask) * image   # D judges the composite
            else:            # eq. 3: l_rec = || x_region - G(x_context) ||^2 (mean over elements)
                real = ce.center_region(image, pred.shape[1])
                per_example = tf.reduce_mean(tf.square(pred - real), axis=[1, 2, 3])
                fake = pred
            l_rec = distribute.global_mean(per_example)
            losses = {"l_rec": l_rec}
            if disc is None:
                g_loss = l_rec                                     # "ours(l_rec)"
            else:
                d_real, d_fake = disc(real, training=True), disc(fake, training=True)
                l_adv = distribute.replica_mean(bce_g_loss(d_fake))   # eq. 4, generator side
                d_loss = distribute.replica_mean(bce_d_loss(d_real, d_fake))
                g_loss = rec_weight * l_rec + adv_weight * l_adv   # eq. 5: l = 0.95 l_rec + 0.05 l_adv
                losses.update(l_adv=l_adv, d_loss=d_loss)
            g_scaled = g_opt.scale_loss(g_loss)
            d_scaled = d_opt.scale_loss(losses["d_loss"]) if disc is not None else None
        g_opt.apply_gradients(zip(g_tape.gradient(g_scaled, g_vars), g_vars))
        if disc is not None:
            d_vars = disc.trainable_variables
            d_opt.apply_gradients(zip(d_tape.gradient(d_scaled, d_vars), d_vars))
        losses["loss"] = g_loss
        return losses

    return step


# ----------------------------------------------------------------------------- the recipe and the script

def optimizer_spec(lr, config):
    """[paper] Adam at 0.001; [choice: Pathak] beta_1 0.5, beta_2 0.999 (Keras' default)."""
    return {"name": CARD["optimizer"], "learning_rate": lr, "beta_1": config.beta1, "beta_2": CARD["beta2"]}


def settings(config):
    """What `config` resolves to beyond its flags, as --print-config shows it (build() uses the same)."""
    opts = {"generator": optimizer_spec(config.lr, config)}
    loss = {"l_rec": 1.0} if config.rec_only else {"l_rec": REC_WEIGHT, "l_adv": ADV_WEIGHT}
    if not config.rec_only:
        opts["discriminator"] = optimizer_spec(config.d_lr or config.lr, config)
    return {"optimizer": opts, "loss": loss, "output": "mean fill + tanh" if config.residual else "tanh",
            "hole": f"{config.image_size // 2}x{config.image_size // 2} centre square, white"
            if config.mask == "center" else config.mask}


def build(config, strategy):
    """Paper D's recipe for `config` (the parsed flags): encoder, decoder (the centre region, or the
    full frame for --mask macroblock / burst), the region discriminator unless --rec-only, their
    Adams and the train step. Call inside strategy.scope()."""
    full = config.mask != "center"
    models = ce.networks(vars(config))                 # the one builder (papers.networks)
    enc, dec, disc = models["encoder"], models["decoder"], models.get("discriminator")
    g_opt = setup.optimizer(optimizer_spec(config.lr, config))
    optimizers = dict(g_opt=(g_opt, [enc, dec]))
    d_opt = None
    if disc is not None:                               # not --rec-only
        d_opt = setup.optimizer(optimizer_spec(config.d_lr or config.lr, config))   # None: the paper's one rate
        optimizers.update(d_opt=(d_opt, disc))
    step = setup.make_step(make_train_step(enc, dec, disc, g_opt, d_opt, full, residual=config.residual),
                           config.xla, strategy)
    return Recipe(models, optimizers, step=step, counter=checkpoint.step_counter())


def build_parser():
    parser = flags.common_parser(__doc__, dataset=PAPER_DATASET, steps=CARD["steps"], batch_size=CARD["batch_size"],
                                 image_size=CARD["image_size"], run_dir="runs/train_context_encoder",
                                 log_every=100, save_every=1000,
                                 image_every=1000)
    parser.set_defaults(paper="D")
    p = parser.add_argument_group("paper D")
    p.add_argument("--mask", choices=MASKS, default=CARD["mask"],
                   help="center: the paper's white 64x64 centre square; macroblock / burst: lost 16x16 "
                        "blocks, single or in row runs; glcic: paper A's holes (sides 24..48 at 128 px), for "
                        "paper A's Context Encoder row (full-frame decoder for all three: our extension) "
                        "(default: %(default)s)")
    p.add_argument("--block", type=positive_int, default=CARD["block"], help="macroblock side in pixels (default: %(default)s)")
    p.add_argument("--rate", type=fraction, default=CARD["rate"],
                   help="--mask macroblock: probability a block is lost (default: %(default)s)")
    p.add_argument("--rec-only", action="store_true",
                   help="train 'ours(l_rec)': reconstruction loss only, no discriminator")
    p.add_argument("--residual", action=argparse.BooleanOptionalAction, default=CARD["residual"],
                   help="demo-scale aid, off in the paper: G's output is the per-image mean fill plus a correction "
                        "from a zero-initialised last layer, so it starts at the trivial fill (docs/EXPERIMENTS.md, "
                        "issue 25) (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=CARD["lr"], help="Adam learning rate [paper] (default: %(default)s)")
    p.add_argument("--d-lr", type=positive_float, default=None,
                   help=f"the discriminator's Adam learning rate (default: --lr, the paper's one rate; the demo's aid "
                        f"is {DEMO_D_LR:g}, a tenth of G's, as Pathak's train.lua gives G 10x D's rate)")
    p.add_argument("--beta1", type=float, default=CARD["beta1"], help="Adam beta_1 (default: %(default)s)")
    p.add_argument("--width", type=positive_int, default=CARD["width"], help="first layer's filters (default: %(default)s)")
    p.add_argument("--bottleneck", type=positive_int, default=CARD["bottleneck"],
                   help="feature vector length [paper] (default: %(default)s)")
    p.add_argument("--first", type=positive_int, default=None,
                   help="use only the first N images (sorted paths) of a --dataset folder (default: all)")
    s = parser.add_argument_group("stopping rule (see band_update)")
    s.add_argument("--band", type=float, nargs=2, default=list(BAND), metavar=("LOW", "HIGH"),
                   help="stop when the smoothed l_rec settles in [LOW, HIGH] (default: 0.005 0.0055)")
    s.add_argument("--band-every", type=int, default=100, help="steps between checks (default: %(default)s)")
    s.add_argument("--band-patience", type=int, default=10,
                   help="consecutive in-band checks needed; 0 = train to --steps (default: %(default)s)")
    s.add_argument("--band-smoothing", type=float, default=0.99,
                   help="EMA factor of the smoothed loss (default: %(default)s)")
    return parser


SMOKE = dict(dataset="samples", steps=3, batch_size=2, image_size=32, width=4, bottleneck=32, block=4,
             log_every=1, image_every=3, band_every=1)
RUNTIME = ("band", "band_every", "band_patience", "band_smoothing")


def _source(args):
    if args.dataset == PAPER_DATASET and not os.path.isdir(PAPER_DATASET):
        raise UserError(f"the paper trains on 100,000 random Open Images photos, expected in {PAPER_DATASET}/: "
                        f"fetch them as docs/papers/D.md shows, or pass --dataset PATH (or samples)")
    return open_source(args.dataset, "train", data_dir=args.data_dir, first=args.first, crop_min=args.random_crops)


def _mask_kw(args):
    if args.mask == "center":
        return {}
    if args.mask == "glcic":   # paper A's holes, GLCIC's 128-px sides scaled to --image-size
        return glcic_kw(args.image_size)
    if args.block < 1 or args.image_size % args.block:
        raise UserError(f"--block {args.block} must divide --image-size {args.image_size}")
    return dict(block=args.block, rate=args.rate) if args.mask == "macroblock" else dict(block=args.block)


def main(argv=None):
    args = flags.parse(build_parser(), argv, smoke=SMOKE)
    ce.check_image_size(args.image_size)
    if args.width < 1 or args.bottleneck < 1:
        raise UserError("--width and --bottleneck must be positive")
    if args.band_every < 1 or not args.band[0] <= args.band[1] or not 0 <= args.band_smoothing < 1:
        raise UserError(f"the stopping rule needs --band-every >= 1, --band LOW <= HIGH and 0 <= --band-smoothing "
                        f"< 1, got {args.band_every}, {args.band} and {args.band_smoothing}")
    _mask_kw(args)
    if args.d_lr is None:                         # [paper] one learning rate for both networks
        args.d_lr = args.lr
    run_kw = dict(runtime_keys=RUNTIME, legacy={"d_lr": lambda saved: saved["lr"], "residual": False})
    if args.print_config:
        return flags.print_config(run.preview(args, **run_kw), settings(args))
    setup.early_strategy(args)                    # --strategy multiworker: before _source's TF ops
    fresh = not rundir.config_path(args.run_dir).exists()
    source = _source(args) if fresh else None     # a bad --dataset must not leave a config.json behind
    # (a rerun may adopt the saved settings first; runs from before --d-lr trained D at --lr)
    r = run.open_run(args, **run_kw)
    strategy = setup.configure(args)              # before any TF op (an adopted multiworker needs it)
    source = source or _source(args)
    full = args.mask != "center"
    size = args.image_size
    mask_kw = _mask_kw(args)
    make_mask(args.mask, [0, 0], size, size, **mask_kw)            # bad mask options fail here, once

    with strategy.scope():
        recipe = build(args, strategy)
        stopper = BandStopper(args.band, args.band_smoothing, args.band_every, args.band_patience)
        ckpt = recipe.checkpointer(r.ckpt_dir, keep=args.keep, band_ema=stopper.ema, band_streak=stopper.streak,
                                   band_settled_at=stopper.settled_at)
    ckpt.restore()
    enc, dec = recipe.models["encoder"], recipe.models["decoder"]

    def batches(start):
        ds = inpainting_batches(source, size, args.batch_size, args.mask, args.seed, start_step=start, **mask_kw)
        return distribute.distribute_dataset(strategy, ds)

    fixed = next(iter(inpainting_batches(source, size, min(4, args.batch_size), args.mask, args.seed + 1,
                                         **mask_kw)))

    def images_fn(step):
        x_in = ce.fill_holes(fixed["image"], fixed["mask"])
        pred = ce.predict(enc, dec, fixed["image"], fixed["mask"], full, args.residual)
        result = (fixed["mask"] * pred + (1 - fixed["mask"]) * fixed["image"]) if full else ce.paste_center(
            fixed["image"], pred)
        return {"input": x_in, "output": result, "target": fixed["image"]}

    step_fn = recipe.step
    settled = stopper.state.settled_at
    if settled and args.band_patience <= 0:          # the user asked to train on past the band
        stopper.settled_at.assign(0)
        settled = 0
    low, high = args.band
    band_text = f"[{low:g}, {high:g}]"
    if settled:
        print(f"stopped: loss settled in {band_text} at step {settled} (earlier); "
              f"pass --band-patience 0 to train further")
    else:
        try:
            loop.train_loop(stopper.wrap(step_fn, ckpt), batches, ckpt, summaries=summaries.Summaries(
                r.log_dir, r.image_dir), images_fn=images_fn, **loop.loop_flags(args))
        except _Settled:
            pass
        state = stopper.state
        ema = f" (smoothed l_rec {state.ema:.5g})"
        if state.settled_at:
            print(f"stopped: loss settled in {band_text} at step {state.settled_at}{ema}")
        else:
            print(f"stopped: reached --steps {int(ckpt.step.numpy())}{ema}")
    path = export.export_model(ce.inpainter(enc, dec, size, full_image=full, residual=args.residual), r.export_path(PAPER.export))
    print(f"exported {path}")
    return 0


# ---------------------------------------------------------------- benchmark hooks (bench/)

def synthetic(cfg, strategy, recipe_fn):
    """bench/steps.py: the recipe at bench size `cfg` (PAPER.bench), built by recipe_fn(values) (build()
    on the parser defaults with `values` set), on synthetic images with the centre hole."""
    from training import synthetic as syn
    s, bsz = cfg["image"], cfg["batch"]
    recipe = recipe_fn(dict(image_size=s, batch_size=bsz, width=cfg["width"], bottleneck=cfg["bottleneck"]))
    enc, dec = recipe.models["encoder"], recipe.models["decoder"]

    def batch(i):
        img = syn.images(i, bsz, s)
        return dict(image=img, mask=ce.center_mask_like(img))

    infer = lambda img: ce.predict(enc, dec, img, ce.center_mask_like(img), full_image=False)
    return dict(recipe=recipe, batch=batch, infer=infer)


def step_macs(models, config, forward_macs):
    """bench/throughput.py: (MACs per example of one step, formula). Encoder + decoder trained (3
    passes), D on real 3 + fake 3 + 1 (the gradient to G)."""
    g = forward_macs(models["encoder"]) + forward_macs(models["decoder"])
    return 3 * g + 7 * forward_macs(models["discriminator"]), "3 (enc + dec) + 7 D"


def bench_pipeline(size, batch):
    """bench/throughput.py: folder -> the training dataset (centre holes)."""
    return dict(dataset=lambda folder: inpainting_batches(open_source(str(folder), "train"), size, batch, "center", 0))


def paper_step_rows():
    """bench/paper_step.py: row suffix -> (what it runs, the flags that make it) at PAPER.bench["paper"]:
    l_rec + l_adv, the centre hole, the paper's one learning rate for both networks."""
    return {"": ("context encoder, l_rec + l_adv", dict(mask="center", rec_only=False, d_lr=CARD["lr"]))}


if __name__ == "__main__":
    cli(main)
