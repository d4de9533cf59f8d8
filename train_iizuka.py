"""Paper A: GLCIC-style face inpainting (completion network + global and local discriminators),
trained in three stages that share one run directory:

    python train_iizuka.py --stage 1   # G alone, masked MSE (eq. 2) + beta * perceptual (eq. 3), 20,000 steps
    python train_iizuka.py --stage 2   # G frozen, D alone, GAN loss (eq. 1), 10,000 steps
    python train_iizuka.py --stage 3   # G and D jointly, G: eq. 4 = L_M + alpha * GAN + beta * L_P, 70,000 steps

--steps is the current stage's number of iterations (default: the paper's count for that stage).
Stage N+1 starts from stage N's last checkpoint (ckpt/stage<N>); each stage resumes on a rerun.
After each stage the completion network is exported to export/stage<N>.keras and
export/inpainter.keras (stage 1's export is paper A's "autoencoder" baseline).
--report-magnitudes measures L_M and L_P on the first batches and exits (to choose beta).
"""
import argparse
import json
import math
from pathlib import Path

from quiet_tf import import_tensorflow
import_tensorflow()        # before TensorFlow loads below: its start-up INFO lines stay off stderr
import tensorflow as tf

import papers
import rundir
from data.pipeline import inpainting_batches
from data.preprocess import center_crop_resize, stretch_resize, to_float
from data.sources import open_source
from errors import UserError, cli
from cliargs import nonnegative_float, nonnegative_int, positive_float, positive_int
from losses import adversarial, perceptual, pixel
from models import iizuka
from training import checkpoint, distribute, export, flags, loop, run, setup, summaries
from training.recipe import Recipe

PAPER = papers.PAPERS["A"]
CARD = PAPER.card      # the paper's numbers (papers.py): every default below comes from it

STAGE_STEPS = dict(zip((1, 2, 3), CARD["stage_steps"]))     # [paper] 20,000 / 10,000 / 70,000
SMOKE_STEPS = {1: 3, 2: 2, 3: 2}
VGG_LAYERS = tuple(CARD["vgg_layers"])   # [paper] eq. 3: relu1_1, relu2_1, relu3_1, the VGG19 layers of L_P
ALPHA = CARD["alpha"]    # [choice: GLCIC] 0.0004, weight of the GAN term in eq. 4
BETA = CARD["beta"]      # [choice] weight of L_P in eq. 4; see docs/PAPER_NOTES.md (re-measure with real VGG weights)
SMOKE = dict(dataset="samples", image_size=32, batch_size=2, width=4, local_size=16, hole_min=6,
             hole_max=12, fc_units=8, log_every=1, save_every=2, image_every=2)
MEAN_FILE = "mean.json"


def build_parser():
    parser = flags.common_parser(__doc__, dataset=CARD["dataset"], run_dir=str(Path("runs") / "train_iizuka"),
                                 steps=None, batch_size=CARD["batch_size"], image_size=CARD["image_size"],
                                 log_every=100, save_every=1000, image_every=1000)
    parser.set_defaults(paper="A")
    a = parser.add_argument_group("paper A")
    a.add_argument("--stage", type=int, choices=(1, 2, 3), default=1,
                   help="1: G with MSE + perceptual; 2: D with G frozen; 3: both (default: %(default)s)")
    a.add_argument("--width", type=positive_int, default=CARD["width"], help="base channel count (default: %(default)s)")
    a.add_argument("--residual", action=argparse.BooleanOptionalAction, default=CARD["residual"],
                   help="demo-scale aid, off in the paper: G sees and outputs the per-image mean fill + tanh(zero-"
                        "initialised last conv) (docs/PAPER_NOTES.md A); the paper (GLCIC): plain tanh (default: %(default)s)")
    a.add_argument("--color-jitter", action=argparse.BooleanOptionalAction, default=CARD["color_jitter"],
                   help="change each training image's colours at random (the demo's aid; off in the paper)")
    a.add_argument("--local-size", type=positive_int, default=CARD["local_size"],
                   help="side of the local area the local discriminator sees (default: %(default)s)")
    a.add_argument("--hole-min", type=positive_int, default=CARD["hole_min"], help="smallest hole side (default: %(default)s)")
    a.add_argument("--hole-max", type=positive_int, default=CARD["hole_max"], help="largest hole side (default: %(default)s)")
    a.add_argument("--fc-units", type=positive_int, default=CARD["fc_units"],
                   help="each discriminator's output size (default: %(default)s)")
    a.add_argument("--alpha", type=nonnegative_float, default=ALPHA, help="GAN weight in eq. 4 (default: %(default)s)")
    a.add_argument("--beta", type=nonnegative_float, default=BETA, help="perceptual weight in eq. 4 (default: %(default)s)")
    a.add_argument("--lr", type=positive_float, default=CARD["lr"], help="Adadelta learning rate (default: %(default)s)")
    a.add_argument("--first", type=positive_int, default=CARD["first"], help="use the first N images (default: %(default)s)")
    a.add_argument("--n-train", type=nonnegative_int, default=CARD["n_train"],
                   help="of which the first K train, the rest test (default: %(default)s)")
    a.add_argument("--resize", choices=("crop", "stretch"), default=CARD["resize"],
                   help="crop: centre square then resize; stretch: resize the whole image (default: %(default)s)")
    a.add_argument("--mean-images", type=nonnegative_int, default=0,
                   help="images used for the per-channel mean; 0 = the whole training split (default: %(default)s)")
    a.add_argument("--report-magnitudes", action="store_true",
                   help="measure L_M and L_P with the current G on the first batches, print them, and exit")
    a.add_argument("--magnitude-batches", type=positive_int, default=4, help="batches --report-magnitudes averages over")
    return parser


# ----------------------------------------------------------------------------- pieces of the step

def crop_local(images, boxes, size):
    """The local areas: images [B,S,S,C], boxes [B,4] int (top, left, height, width) -> [B,size,size,C]."""
    boxes = tf.cast(boxes, tf.int32)
    offsets = tf.range(size, dtype=tf.int32)[None, :]
    rows = boxes[:, 0:1] + offsets                               # [B, L]
    cols = boxes[:, 1:2] + offsets
    x = tf.gather(images, rows, axis=1, batch_dims=1)            # [B, L, S, C]
    return tf.gather(x, cols, axis=2, batch_dims=1)              # [B, L, L, C]


def composite(pred, image, mask):
    """M * G(x) + (1 - M) * x: the known pixels are kept."""
    return mask * pred + (1.0 - mask) * image


def completion_losses(generator, vgg, image, mask, training, with_perceptual=True):
    """(prediction, composite, L_M, L_P) for one batch.

    L_M, eq. 2: || M * (G(x, M) - x) ||^2 (hole pixels only; mean over all elements).
    L_P, eq. 3: sum over relu1_1, relu2_1, relu3_1 of || phi(x) - phi(composite) ||_1 / (C H W).
    with_perceptual=False (beta = 0: L_P cannot change G): L_P is None and VGG19 is not run.
    """
    pred = generator([image, mask], training=training)
    comp = composite(pred, image, mask)
    l_m = pixel.masked_mse(pred, image, mask)                               # eq. 2
    if not with_perceptual:
        return pred, comp, l_m, None
    feats_pred, feats_true = perceptual.vgg_pair(vgg, comp, image)
    l_p = perceptual.perceptual_l1(feats_pred, feats_true, VGG_LAYERS)      # eq. 3
    return pred, comp, l_m, l_p


def make_stage1_step(generator, vgg, g_opt, beta):
    """Stage 1: the completion network alone, L = L_M + beta * L_P. Beta 0 (the demo's, VGG19 random): VGG19 not run."""
    use_p = beta != 0       # the same gradients without L_P, a quarter of the time per step on a CPU
    def step(batch):
        with tf.GradientTape() as tape:
            _, _, l_m, l_p = completion_losses(generator, vgg, batch["image"], batch["mask"], True, use_p)
            loss = distribute.replica_mean(l_m + beta * l_p if use_p else l_m)
            scaled = g_opt.scale_loss(loss)
        grads = tape.gradient(scaled, generator.trainable_variables)
        g_opt.apply_gradients(zip(grads, generator.trainable_variables))
        out = {"g/loss": loss, "g/mse": distribute.replica_mean(l_m)}
        return {**out, "g/perceptual": distribute.replica_mean(l_p)} if use_p else out
    return step


def make_stage2_step(generator, disc, d_opt, local_size):
    """Stage 2: G frozen (inference mode), D alone with the GAN loss (eq. 1, D side).
    D sees the composite; its local branch the box around the hole."""
    def step(batch):
        image, mask, box = batch["image"], batch["mask"], batch["box"]
        comp = composite(generator([image, mask], training=False), image, mask)
        with tf.GradientTape() as tape:
            real = disc([image, crop_local(image, box, local_size)], training=True)
            fake = disc([comp, crop_local(comp, box, local_size)], training=True)
            d_loss = distribute.replica_mean(adversarial.bce_d_loss(real, fake))   # eq. 1
            scaled = d_opt.scale_loss(d_loss)
        grads = tape.gradient(scaled, disc.trainable_variables)
        d_opt.apply_gradients(zip(grads, disc.trainable_variables))
        return {"d/loss": d_loss, "d/real": distribute.replica_mean(tf.reduce_mean(real)),
                "d/fake": distribute.replica_mean(tf.reduce_mean(fake))}
    return step


def make_stage3_step(generator, disc, vgg, g_opt, d_opt, alpha, beta, local_size):
    """Stage 3: G and D jointly. G minimises eq. 4, L_M + alpha * L_GAN + beta * L_P, with the
    non-saturating L_GAN = -log D(composite); D minimises the BCE of eq. 1. Beta 0: VGG19 not run."""
    use_p = beta != 0
    def step(batch):
        image, mask, box = batch["image"], batch["mask"], batch["box"]
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            _, comp, l_m, l_p = completion_losses(generator, vgg, image, mask, True, use_p)
            fake = disc([comp, crop_local(comp, box, local_size)], training=True)
            real = disc([image, crop_local(image, box, local_size)], training=True)
            g_adv = adversarial.bce_g_loss(fake)
            g_loss = distribute.replica_mean(l_m + alpha * g_adv + (beta * l_p if use_p else 0.0))   # eq. 4
            d_loss = distribute.replica_mean(adversarial.bce_d_loss(real, fake))      # eq. 1
            g_scaled, d_scaled = g_opt.scale_loss(g_loss), d_opt.scale_loss(d_loss)
        g_grads = g_tape.gradient(g_scaled, generator.trainable_variables)
        d_grads = d_tape.gradient(d_scaled, disc.trainable_variables)
        g_opt.apply_gradients(zip(g_grads, generator.trainable_variables))
        d_opt.apply_gradients(zip(d_grads, disc.trainable_variables))
        rm = distribute.replica_mean
        out = {"g/loss": g_loss, "g/mse": rm(l_m), "g/adversarial": rm(g_adv),
               "d/loss": d_loss, "d/real": rm(tf.reduce_mean(real)), "d/fake": rm(tf.reduce_mean(fake))}
        return {**out, "g/perceptual": rm(l_p)} if use_p else out
    return step


# ----------------------------------------------------------------------------- data and mean

def _prep(resize, size):
    def crop(image):
        return center_crop_resize(image, size)

    def stretch(image):
        return stretch_resize(image, size)
    return crop if resize == "crop" else stretch


def compute_mean(source, image_size, resize="crop", limit=0):
    """Per-channel mean of the training images in [-1, 1], after the same crop/resize as training.
    Returns (mean [3] list of floats, number of images used)."""
    prep = _prep(resize, image_size)
    ds = source.dataset()                       # source order, one pass
    if limit:
        ds = ds.take(int(limit))
    def image_mean(image):
        return tf.reduce_mean(to_float(prep(image)), axis=[0, 1])

    ds = ds.map(image_mean, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(512)
    total, count = tf.zeros([3], tf.float64), 0
    for means in ds:
        total += tf.reduce_sum(tf.cast(means, tf.float64), axis=0)
        count += int(means.shape[0])
    if count == 0:
        raise UserError(f"no readable training images in {source.name} to compute the mean from")
    return [float(v) for v in (total / count).numpy()], count


def load_or_compute_mean(run_dir, source, args, log=print):
    """The training set's per-channel mean: computed once, stored in <run_dir>/mean.json."""
    path = Path(run_dir) / MEAN_FILE
    if path.exists():
        try:
            data = json.loads(path.read_text())
            mean = [float(v) for v in data["mean"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"cannot read {path} ({e}); delete it to recompute the mean") from None
        log(f"training-set mean {[round(v, 4) for v in mean]} (from {path})")
        return mean
    if args.stage != 1:
        raise UserError(f"{path} is missing (stage 1 writes it); run --stage 1 first with this --run-dir")
    log(f"computing the per-channel mean of the training images ({args.mean_images or 'all'}) ...")
    mean, count = compute_mean(source, args.image_size, args.resize, args.mean_images)
    if setup.is_chief():                  # --strategy multiworker: every worker computes, the chief writes
        rundir.write_json_atomic(path, {"mean": mean, "images": count, "range": "[-1, 1]", "resize": args.resize,
                                     "image_size": args.image_size, "dataset": str(args.dataset)})
    log(f"training-set mean {[round(v, 4) for v in mean]} over {count} images -> {path}")
    return mean


def report_magnitudes(generator, vgg, batches, beta, n_batches, log=print):
    """Measure L_M and L_P (eq. 2, eq. 3) with the current G on the first `n_batches` batches."""
    l_ms, l_ps = [], []
    for batch in batches.take(n_batches):
        _, _, l_m, l_p = completion_losses(generator, vgg, batch["image"], batch["mask"], False)
        l_ms.append(float(l_m))
        l_ps.append(float(l_p))
    l_m, l_p = sum(l_ms) / len(l_ms), sum(l_ps) / len(l_ps)
    ratio = l_m / l_p if l_p > 0 else math.inf
    log(f"magnitudes over {len(l_ms)} batches: L_M {l_m:.6g}  L_P {l_p:.6g}  beta*L_P {beta * l_p:.6g} "
        f"(beta {beta:g}); L_M / L_P = {ratio:.3g} (the beta that makes both terms equal)")
    warning = beta_warning(l_m, l_p, beta)
    if warning:
        log(warning)
    return l_m, l_p


BETA_RANGE = 10.0   # [choice] beta * L_P within 10x of L_M either way is "the same order" (PAPERS.md, A)


def beta_warning(l_m, l_p, beta):
    """One loud line when beta * L_P is more than 10x L_M or under a tenth of it: a sign that beta
    (chosen from magnitudes measured with other VGG weights) does not suit these weights. None if fine."""
    weighted = beta * l_p
    if l_m > 0 and 1.0 / BETA_RANGE <= weighted / l_m <= BETA_RANGE:
        return None
    ratio = weighted / l_m if l_m > 0 else math.inf
    return (f"WARNING: beta*L_P = {weighted:.3g} is {ratio:.3g}x L_M = {l_m:.3g} (outside [1/{BETA_RANGE:g}, "
            f"{BETA_RANGE:g}]): beta {beta:g} does not suit these VGG weights; measure with --report-magnitudes "
            f"and pass --beta {l_m / l_p if l_p > 0 else beta:.3g} to make the terms equal")


# ----------------------------------------------------------------------------- the recipe

def optimizer_spec(config):
    """[choice: GLCIC] Adadelta at --lr (1.0) for G and D alike."""
    return {"name": CARD["optimizer"], "learning_rate": config.lr}


def settings(config):
    """What `config` resolves to beyond its flags, as --print-config shows it (build() uses the same)."""
    stage = config.stage
    steps = config.steps or (SMOKE_STEPS if config.smoke else STAGE_STEPS)[stage]
    loss = {1: {"L_M": 1.0, "beta_L_P": config.beta},                          # stage 1: eq. 2 + beta eq. 3
            2: {"D_bce": 1.0},                                                  # stage 2: eq. 1, D side
            3: {"L_M": 1.0, "alpha_GAN": config.alpha, "beta_L_P": config.beta, "D_bce": 1.0}}[stage]   # eq. 4
    if stage != 2:
        loss["vgg_layers"] = list(VGG_LAYERS)
    opts = {"generator": optimizer_spec(config)}
    if stage > 1:
        opts["discriminator"] = optimizer_spec(config)
    return {"steps": steps, "stage_steps": list(STAGE_STEPS.values()), "loss": loss, "optimizer": opts,
            "output": "mean fill + tanh" if config.residual else "tanh"}


def build(config, strategy, mean=(0.0, 0.0, 0.0), vgg=None):
    """Paper A's recipe for stage `config.stage` (the parsed flags): the completion network (its
    input filled with the training-set `mean`), from stage 2 the discriminator, their Adadelta
    optimizers, VGG19 where L_P is needed, and the stage's train step. `vgg`: a stand-in feature
    extractor with the same interface (tests' tiny one), else VGG19. Call inside strategy.scope()."""
    models = iizuka.networks(vars(config), mean)       # the one builder (papers.networks)
    generator, disc = models["generator"], models.get("discriminator")
    g_opt = setup.optimizer(optimizer_spec(config))
    optimizers = dict(g_opt=(g_opt, generator))
    d_opt = None
    if disc is not None:                                # stage 2 and 3
        d_opt = setup.optimizer(optimizer_spec(config))
        optimizers.update(d_opt=(d_opt, disc))
    if vgg is None and (config.stage != 2 or config.report_magnitudes):
        vgg = perceptual.vgg19_features(VGG_LAYERS, weights=config.vgg_weights)
    if config.stage == 1:
        step_fn = make_stage1_step(generator, vgg, g_opt, config.beta)
    elif config.stage == 2:
        step_fn = make_stage2_step(generator, disc, d_opt, config.local_size)
    else:
        step_fn = make_stage3_step(generator, disc, vgg, g_opt, d_opt, config.alpha, config.beta, config.local_size)
    return Recipe(models, optimizers, step=setup.make_step(step_fn, config.xla, strategy),
                  counter=checkpoint.step_counter(), extras=dict(vgg=vgg))


# ----------------------------------------------------------------------------- main

def stage_export(stage):
    """The file stage `stage` exports its completion network to (papers.py spells it)."""
    return PAPER.exports[f"stage{stage}"]


def stage_dir(run_dir, stage):
    return rundir.ckpt_dir(run_dir) / f"stage{stage}"


def check_previous_stage(run_dir, stage):
    """Stage N > 1 starts from stage N-1's checkpoint; refuse (one line) when there is none."""
    if stage == 1 or tf.train.latest_checkpoint(str(stage_dir(run_dir, stage))) is not None:
        return None
    prev = stage_dir(run_dir, stage - 1)
    prefix = tf.train.latest_checkpoint(str(prev)) if prev.is_dir() else None
    if prefix is None:
        raise UserError(f"stage {stage} starts from stage {stage - 1}'s checkpoint and {prev} has none; "
                        f"run `train_iizuka.py --stage {stage - 1} --run-dir {run_dir}` first")
    return prefix


def main(argv=None):
    parser = build_parser()
    args = flags.parse(parser, argv, smoke=SMOKE)
    # The stage and its step count belong to this invocation, never taken from another stage's config.
    args._given = args._given | {"stage", "steps", "report_magnitudes"}
    run_kw = dict(runtime_keys=("stage", "report_magnitudes", "magnitude_batches"),
                  legacy={"residual": False})          # runs from before --residual: GLCIC's plain output
    if args.print_config:
        return flags.print_config(run.preview(args, **run_kw), settings(args))
    previous = check_previous_stage(args.run_dir, args.stage)
    r = run.open_run(args, **run_kw)
    stage = args.stage
    steps = settings(args)["steps"]
    if not 1 <= args.hole_min <= args.hole_max <= args.local_size <= args.image_size:
        raise UserError("need 1 <= --hole-min <= --hole-max <= --local-size <= --image-size")
    strategy = setup.configure(args)

    source = open_source(args.dataset, "train", data_dir=args.data_dir, first=args.first, n_train=args.n_train,
                         crop_min=args.random_crops)
    mean = load_or_compute_mean(r.dir, source, args)
    mask_kw = dict(local=args.local_size, hole_min=args.hole_min, hole_max=args.hole_max)
    seed = args.seed * 4 + stage          # each stage draws its own batches

    def raw_batches(start):
        return inpainting_batches(source, args.image_size, args.batch_size, "glcic", seed, resize=args.resize,
                                  start_step=start, jitter=args.color_jitter, **mask_kw)

    def batches(start):
        return distribute.distribute_dataset(strategy, raw_batches(start))

    with strategy.scope():
        recipe = build(args, strategy, mean)
        ckpt = checkpoint.Checkpointer(stage_dir(r.dir, stage), keep=args.keep, counter=recipe.counter,
                                       **recipe.models, **recipe.optimizers)
    generator, vgg = recipe.models["generator"], recipe.extras["vgg"]

    start = ckpt.restore()
    if start == 0 and previous is not None:      # a fresh stage 2 or 3: take over stage N-1's models
        carry = dict(generator=generator, g_opt=recipe.optimizers["g_opt"][0])
        if stage == 3:
            carry.update(discriminator=recipe.models["discriminator"], d_opt=recipe.optimizers["d_opt"][0])
        prefix = checkpoint.restore_from(previous, **carry)
        print(f"stage {stage}: starting from stage {stage - 1}'s checkpoint {prefix} ({', '.join(carry)})")

    if args.report_magnitudes:
        report_magnitudes(generator, vgg, raw_batches(0), args.beta, args.magnitude_batches)
        return 0
    if stage == 1 and start == 0:              # printed, and logged into the run for later reading
        l_m, l_p = report_magnitudes(generator, vgg, raw_batches(0), args.beta, 1)
        if setup.is_chief():
            rundir.write_json_atomic(r.dir / "magnitudes.json", {
                "batches": 1, "L_M": l_m, "L_P": l_p, "beta": args.beta, "beta_L_P": args.beta * l_p,
                "ratio_beta_L_P_to_L_M": args.beta * l_p / l_m if l_m > 0 else None,
                "warning": beta_warning(l_m, l_p, args.beta), "vgg_weights": str(args.vgg_weights)})

    fixed = next(iter(inpainting_batches(source, args.image_size, min(args.batch_size, 4), "glcic", seed,
                                         resize=args.resize, **mask_kw)))

    def images_fn(_step):
        image, mask = fixed["image"], fixed["mask"]
        pred = generator([image, mask], training=False)
        return {"input": image * (1.0 - mask) + mask, "output": composite(pred, image, mask), "target": image}

    print(f"stage {stage}: {steps} steps, batch {args.batch_size}, {args.image_size}x{args.image_size}, "
          f"run {r.dir}")
    loop_kw = {**loop.loop_flags(args), "steps": steps}
    loop.train_loop(recipe.step, batches, ckpt,
                    summaries=summaries.Summaries(r.log_dir / f"stage{stage}", r.image_dir / f"stage{stage}"),
                    images_fn=images_fn, **loop_kw)
    export.export_model(generator, r.export_path(stage_export(stage)))
    later = [s for s in (2, 3) if s > stage and r.export_path(stage_export(s)).exists()]
    if not later:                              # inpainter.keras is the latest stage's network
        export.export_model(generator, r.export_path(PAPER.export))
    print(f"exported the completion network to {r.export_path(stage_export(stage))}"
          + ("" if later else f" and {PAPER.export}"))
    return 0


# ---------------------------------------------------------------- benchmark hooks (bench/)

def synthetic(cfg, strategy, recipe_fn):
    """bench/steps.py: stage 3 at bench size `cfg` (PAPER.bench), built by recipe_fn(values, **build_kw)
    (build() on the parser defaults with `values` set), on synthetic images, holes in the local box."""
    from training import synthetic as syn
    s, bsz, local = cfg["image"], cfg["batch"], cfg["local"]
    recipe = recipe_fn(dict(stage=3, image_size=s, batch_size=bsz, width=cfg["width"], local_size=local,
                            fc_units=cfg["fc"]), vgg=syn.tiny_vgg(VGG_LAYERS) if cfg.get("tiny_vgg") else None)

    def batch(i):
        mask, boxes = syn.holes(i, bsz, s, local // 2)
        boxes[:, 2:], boxes[:, :2] = local, boxes[:, :2].clip(max=s - local)
        return dict(image=syn.images(i, bsz, s), mask=mask, box=tf.constant(boxes))

    G = recipe.models["generator"]
    return dict(recipe=recipe, batch=batch, infer=lambda img: G([img, batch(0)["mask"][:img.shape[0]]], training=False))


def step_macs(models, config, forward_macs):
    """bench/throughput.py: (MACs per example of a stage-3 step, formula), `models` the recipe's and its
    VGG: G trained (3 passes), VGG on the prediction (2) and the target (1), D on real 3 and fake 3 + 1."""
    g, d, v = (forward_macs(models[k]) for k in ("generator", "discriminator", "vgg"))
    return 3 * g + 3 * v + 7 * d, "3 G + 3 VGG(relu3_1) + 7 D"


def bench_pipeline(size, batch):
    """bench/throughput.py: folder -> the training dataset, GLCIC holes in a local box of half the image."""
    local = max(size // 2, 8)
    kw = dict(local=local, hole_min=local // 4, hole_max=local * 3 // 4)
    return dict(dataset=lambda folder: inpainting_batches(open_source(str(folder), "train"), size, batch, "glcic", 0, **kw))


def paper_step_rows():
    """bench/paper_step.py: row suffix -> (what it runs, the flags that make it) at PAPER.bench["paper"]."""
    what = {1: "GLCIC stage 1 (G, MSE + VGG)", 2: "GLCIC stage 2 (D, G frozen)", 3: "GLCIC stage 3 (G + D + VGG)"}
    return {str(stage): (text, dict(stage=stage)) for stage, text in what.items()}


if __name__ == "__main__":
    cli(main)
