"""Paper C: semantic inpainting with a WGAN prior (Yeh et al. 2017), two sub-commands.

train     a WGAN on the DCGAN architecture (weight clipping 0.01, RMSProp 5e-5, n_critic 5 with
          100 for the first 25 generator steps and every 500th); --gp for WGAN-GP; --loss bce
          for a plain DCGAN (also paper A's "DCGAN" baseline). Default data: CelebA at 64x64.
complete  latent search: for damaged images y with hole mask M (1 = hole) find
              z_hat = argmin_z  L_contextual(z) + lambda * L_perceptual(z)
              L_contextual(z) = || (1 - M) * G(z) - (1 - M) * y ||_1     (optionally Yeh-weighted)
              L_perceptual(z) = log(1 - D(G(z)))   for a probability D (--loss bce)
                              = -D(G(z))           for a WGAN critic (log(1 - D) is undefined there)
          by Adam (lr 0.01) on z, 1,500 iterations, z clipped to [-1, 1]; then paste G(z_hat) into
          the hole and Poisson-blend. Writes real / masked / completed PNGs (Yeh's figure 1).

    python train_wgan_completion.py train                       # paper defaults (celeb_a, 64 px)
    python train_wgan_completion.py train --gp                  # WGAN-GP
    python train_wgan_completion.py complete --run-dir runs/train_wgan_completion --images samples \\
        --mask center --out completions

A bare `python train_wgan_completion.py [flags]` means `train`.
"""
import argparse
import itertools
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from data.masks import example_seed, make_mask
from data.pipeline import inpainting_batches
from data.preprocess import center_crop_resize, to_float, to_uint8
from data.sources import open_source
from errors import UserError
from losses.adversarial import EPSILON, GP_WEIGHT, bce_d_loss, bce_g_loss, gradient_penalty, wgan_d_loss, wgan_g_loss
from losses.pixel import contextual_loss
from models import wgan
from training import checkpoint, distribute, flags, loop, run, setup, summaries

_Z_STREAM, _GP_STREAM, _SEARCH_STREAM = 0xC1, 0xC2, 0xC3


def flavour_of(config):
    """"wgan" | "gp" | "bce" from a run's settings (args or config.json dict)."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    if get("loss") == "bce":
        return "bce"
    return "gp" if get("gp") else "wgan"


def sample_z(seed, batch_size, z_dim):
    """z ~ U(-1, 1)^z_dim (Yeh; bamos/dcgan-completion.tensorflow), stateless from `seed` [2]."""
    return tf.random.stateless_uniform([batch_size, z_dim], seed, -1.0, 1.0)


# ============================================================================ train

def build_train_parser():
    parser = argparse.ArgumentParser(prog="train_wgan_completion.py train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_common_flags(parser, dataset="celeb_a", steps=100_000, batch_size=64, image_size=64,
                           run_dir="runs/train_wgan_completion", log_every=100, save_every=1000, image_every=1000)
    parser.set_defaults(paper="C")
    parser.add_argument("--loss", choices=("wasserstein", "bce"), default="wasserstein",
                        help="wasserstein = WGAN critic; bce = plain DCGAN (default: %(default)s)")
    parser.add_argument("--gp", action="store_true",
                        help="WGAN-GP: gradient penalty instead of clipping, no BN in the critic, Adam 1e-4 (0, 0.9)")
    parser.add_argument("--clip", type=float, default=0.01, help="WGAN weight clipping (default: %(default)s)")
    parser.add_argument("--gp-weight", type=float, default=GP_WEIGHT, help="(default: %(default)s)")
    parser.add_argument("--n-critic", type=int, default=None,
                        help="critic steps per generator step (default: 5 for WGAN and WGAN-GP, 1 for bce)")
    parser.add_argument("--warm-critic", type=int, default=100,
                        help="WGAN (clipping) only: critic steps for the first --warm-steps generator steps "
                             "and every --warm-every-th (default: %(default)s)")
    parser.add_argument("--warm-steps", type=int, default=25, help="(default: %(default)s)")
    parser.add_argument("--warm-every", type=int, default=500, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=None,
                        help="default: RMSProp 5e-5 (WGAN), Adam 1e-4 (WGAN-GP), Adam 2e-4 (bce)")
    parser.add_argument("--width", type=int, default=64, help="DCGAN base width (default: %(default)s)")
    parser.add_argument("--z-dim", type=int, default=wgan.Z_DIM, help="(default: %(default)s)")
    # [choice] the selection of train_iizuka.py, so the prior of paper A's "DCGAN" row never sees table A's
    # test images (train[80000:100000]); evaluate.py refuses to score a run that did.
    parser.add_argument("--first", type=int, default=100_000,
                        help="use the first N images of --dataset (as train_iizuka.py; default: %(default)s)")
    parser.add_argument("--n-train", type=int, default=80_000,
                        help="of which the first K train; the rest are paper A's test images (default: %(default)s)")
    return parser


TRAIN_SMOKE = dict(steps=3, batch_size=4, image_size=16, dataset="samples", width=8, log_every=1,
                   save_every=2, image_every=2, warm_critic=3)


def schedule_of(args):
    """The n_critic schedule of a run as keyword arguments of wgan.n_critic_schedule."""
    flavour = flavour_of(args)
    n = args.n_critic if args.n_critic is not None else (1 if flavour == "bce" else 5)
    if flavour == "wgan":   # Arjovsky et al.'s warm-up; WGAN-GP (Gulrajani) and DCGAN use a constant count
        return dict(n_critic=n, warm=args.warm_critic, warm_steps=args.warm_steps, every=args.warm_every)
    return dict(n_critic=n, warm=n, warm_steps=0, every=1)


def make_optimizers(flavour, lr=None):
    """(generator optimizer, critic optimizer) of a flavour, paper settings."""
    if flavour == "wgan":      # Arjovsky et al.: RMSProp 5e-5 (PyTorch defaults alpha 0.99, eps 1e-8)
        make = lambda: keras.optimizers.RMSprop(lr or 5e-5, rho=0.99, epsilon=1e-8)
    elif flavour == "gp":      # Gulrajani et al.: Adam 1e-4, betas (0, 0.9)
        make = lambda: keras.optimizers.Adam(lr or 1e-4, beta_1=0.0, beta_2=0.9)
    else:                      # DCGAN: Adam 2e-4, betas (0.5, 0.999)
        make = lambda: keras.optimizers.Adam(lr or 2e-4, beta_1=0.5, beta_2=0.999)
    return setup.wrap_optimizer(make()), setup.wrap_optimizer(make())


def make_train_step(G, D, g_opt, d_opt, step_var, flavour, schedule, batch_size, z_dim, seed, clip=0.01,
                    gp_weight=GP_WEIGHT, xla=False, strategy=None):
    """One call = one generator update and the n_critic(step) critic updates before it.

    `step_var` is the loop's step counter (generator updates done); n_critic is computed from it
    inside the graph, and each critic update pulls a fresh real batch from the iterator it is given.
    With a multi-replica `strategy` (--strategy mirrored) the iterator is a distributed one, each
    update runs per replica with strategy.run, replica r takes rows [r*b, (r+1)*b) of the global z
    and its own gradient-penalty alpha, and the losses are scaled to global-batch means.
    """
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if replicas > 1 and xla:
        raise UserError("--xla with --strategy mirrored is not supported; drop one of the two flags")
    if batch_size % replicas:
        raise UserError(f"--batch-size {batch_size} must be a multiple of the {replicas} replicas")
    local = batch_size // replicas
    rm = distribute.replica_mean

    def replica_id():
        return tf.distribute.get_replica_context().replica_id_in_sync_group if replicas > 1 else 0

    def z_for(gen_step, i):    # i = 0..n-1 critic updates, -1 the generator update
        s = tf.random.experimental.stateless_fold_in(tf.random.experimental.stateless_fold_in(
            tf.constant([seed, _Z_STREAM], tf.int64), gen_step), tf.cast(i, tf.int64) + 1)
        z = sample_z(s, batch_size, z_dim)                  # the global batch's z, this replica's rows
        if replicas > 1:
            z = z[replica_id() * local:(replica_id() + 1) * local]
            s = tf.random.experimental.stateless_fold_in(s, tf.cast(replica_id(), tf.int64))
        return z, s

    def critic_update(real, gen_step, i):
        z, s = z_for(gen_step, i)
        fake = G(z, training=True)
        with tf.GradientTape() as tape:
            real_out, fake_out = D(real, training=True), D(fake, training=True)   # separate passes (BN)
            if flavour == "bce":
                loss = bce_d_loss(real_out, fake_out)                  # -E log D(x) - E log(1 - D(G(z)))
                penalty = tf.constant(0.0)
            else:
                loss = wgan_d_loss(real_out, fake_out)                 # E C(G(z)) - E C(x)  (W distance, negated)
                penalty = tf.constant(0.0)
                if flavour == "gp":                                    # Gulrajani et al. eq. 3
                    penalty = gradient_penalty(D, real, fake, tf.random.experimental.stateless_fold_in(s, _GP_STREAM),
                                               weight=gp_weight, training=True)
            loss, penalty = rm(loss), rm(penalty)                       # global-batch means (1 replica: unchanged)
            total = loss + penalty
            scaled = d_opt.scale_loss(total)
        d_opt.apply_gradients(zip(tape.gradient(scaled, D.trainable_variables), D.trainable_variables))
        if flavour == "wgan" and replicas == 1:                        # Arjovsky et al.: clip every weight
            for v in D.trainable_variables:
                v.assign(tf.clip_by_value(v, -clip, clip))
        return loss, penalty

    def generator_update(gen_step):
        z, _ = z_for(gen_step, -1)
        with tf.GradientTape() as tape:
            fake_out = D(G(z, training=True), training=True)
            loss = rm(bce_g_loss(fake_out) if flavour == "bce" else wgan_g_loss(fake_out))   # -E log D / -E C
            scaled = g_opt.scale_loss(loss)
        g_opt.apply_gradients(zip(tape.gradient(scaled, G.trainable_variables), G.trainable_variables))
        return loss

    if replicas > 1:   # strategy.run inside the step; a nested tf.function cannot hold the all-reduce
        def total(values):
            return tf.nest.map_structure(lambda v: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None),
                                         values)
        raw_critic, raw_generator = critic_update, generator_update
        def critic_update(real, g, i):
            out = total(strategy.run(raw_critic, args=(real, g, i)))
            if flavour == "wgan":                                      # clipped once, in cross-replica context
                for v in D.trainable_variables:
                    v.assign(tf.clip_by_value(v, -clip, clip))
            return out
        generator_update = lambda g: total(strategy.run(raw_generator, args=(g,)))
    else:
        critic_update = tf.function(critic_update, jit_compile=True if xla else None)
        generator_update = tf.function(generator_update, jit_compile=True if xla else None)

    @tf.function
    def train_step(real_iterator):
        gen_step = tf.cast(step_var, tf.int64)
        n = wgan.n_critic_schedule(gen_step, **schedule)
        loss_d, penalty = tf.constant(0.0), tf.constant(0.0)
        for i in tf.range(n):
            loss_d, penalty = critic_update(next(real_iterator), gen_step, i)
        loss_g = generator_update(gen_step)
        out = {"loss/d": loss_d, "loss/g": loss_g, "n_critic": tf.cast(n, tf.float32)}
        if flavour != "bce":
            out["wasserstein_estimate"] = -loss_d
        if flavour == "gp":
            out["loss/gp"] = penalty
        return out

    return train_step


def real_batches(source, image_size, batch_size, seed, start_batch=0):
    """Real images [B,S,S,3] in [-1, 1] (centre crop + resize), repeating, resumable by batch count."""
    ds = inpainting_batches(source, image_size, batch_size, "center", seed, start_step=start_batch)
    return ds.map(lambda b: b["image"])


def train(argv):
    args = flags.parse(build_train_parser(), argv, smoke=TRAIN_SMOKE)
    if args.gp and args.loss == "bce":
        raise UserError("--gp is a Wasserstein critic's penalty; drop --gp or --loss bce")
    r = run.open_run(args)      # a rerun takes the flags not typed again (--gp, --loss) from config.json
    flavour = flavour_of(args)
    strategy = setup.configure(args)
    schedule = schedule_of(args)
    print(f"paper C: {dict(wgan='WGAN (weight clipping)', gp='WGAN-GP', bce='DCGAN (BCE)')[flavour]}, "
          f"n_critic {schedule}")
    with strategy.scope():
        G = wgan.generator(args.z_dim, args.image_size, args.width)
        D = wgan.critic(flavour, args.image_size, args.width)
        g_opt, d_opt = make_optimizers(flavour, args.lr)
        ckpt = checkpoint.Checkpointer(r.ckpt_dir, keep=args.keep, generator=G, discriminator=D,
                                       g_opt=(g_opt, G), d_opt=(d_opt, D))
    ckpt.restore()
    source = open_source(args.dataset, "train", data_dir=args.data_dir, first=args.first, n_train=args.n_train)

    def batches(start):
        # every step reads n_critic real batches: the stream starts after those of steps 0..start-1
        first = wgan.critic_steps_before(start, **schedule)
        ds = distribute.distribute_dataset(strategy, real_batches(source, args.image_size, args.batch_size,
                                                                  args.seed, first))
        return itertools.repeat(iter(ds))

    step = make_train_step(G, D, g_opt, d_opt, ckpt.step, flavour, schedule, args.batch_size, args.z_dim,
                           args.seed, args.clip, args.gp_weight, args.xla, strategy)
    fixed_z = sample_z(tf.constant([args.seed, 0x5A], tf.int64), 8, args.z_dim)
    shown = next(iter(real_batches(source, args.image_size, 8, args.seed)))
    loop.train_loop(step, batches, ckpt, summaries=summaries.Summaries(r.log_dir, r.image_dir),
                    images_fn=lambda s: {"samples": G(fixed_z, training=False), "real": shown},
                    **loop.loop_flags(args))
    return 0


# ============================================================================ latent search

def perceptual_loss(d_out, flavour):
    """Per-example L_perceptual: log(1 - D(G(z))) for a probability D (paper C), -D(G(z)) for a critic."""
    d = tf.reshape(tf.cast(d_out, tf.float32), [-1])
    if flavour == "bce":
        return tf.math.log(1.0 - tf.clip_by_value(d, EPSILON, 1.0 - EPSILON))
    return -d


def latent_search(G, D, images, masks, flavour, iterations=1500, lam=0.003, lr=0.01, weighted=False, seed=0,
                  z_dim=None, progress=True, record_every=0):
    """Complete a batch at once: z_hat = argmin_z L_contextual(z) + lam * L_perceptual(z).

    images [B,S,S,3] in [-1, 1], masks [B,S,S,1] (1 = hole). Adam(lr) on z (each example its own
    loss; the sum is differentiated), z clipped to [-1, 1] after every step; G and D in inference
    mode. Returns dict(generated = G(z_hat) [B,S,S,3], z = z_hat, contextual [B], perceptual [B],
    history = list of (iteration, mean contextual) every `record_every` iterations (0: none)).
    """
    y = tf.convert_to_tensor(images, tf.float32)
    m = tf.convert_to_tensor(masks, tf.float32)
    z_dim = z_dim or G.input_shape[-1]
    z = tf.Variable(sample_z(tf.constant([seed, _SEARCH_STREAM], tf.int64), int(y.shape[0]), z_dim), name="z")
    opt = keras.optimizers.Adam(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8)    # Yeh (bamos)

    @tf.function
    def iterate():
        with tf.GradientTape() as tape:
            x = G(z, training=False)
            contextual = contextual_loss(x, y, m, weighted=weighted)                  # [B]
            perceptual = perceptual_loss(D(x, training=False), flavour)             # [B]
            total = tf.reduce_sum(contextual + lam * perceptual)                    # L(z), per example
        opt.apply_gradients([(tape.gradient(total, z), z)])
        z.assign(tf.clip_by_value(z, -1.0, 1.0))
        return contextual, perceptual

    history = []
    bar = tqdm(range(int(iterations)), desc="latent search", unit="it", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    contextual = perceptual = None
    for it in bar:
        contextual, perceptual = iterate()
        if record_every and (it % record_every == 0 or it == iterations - 1):
            history.append((it, float(tf.reduce_mean(contextual))))
        if progress and it % 50 == 0:
            bar.set_postfix(contextual=f"{float(tf.reduce_mean(contextual)):.4g}", refresh=False)
    generated = G(z, training=False)
    x = tf.cast(generated, tf.float32)
    return dict(generated=x, z=tf.convert_to_tensor(z),
                contextual=contextual_loss(x, y, m, weighted=weighted),
                perceptual=perceptual_loss(D(x, training=False), flavour), history=history)


def load_trained(run_dir):
    """(G, D, config) of a paper-C run directory, restored from its latest checkpoint."""
    run_dir = Path(run_dir)
    path = run_dir / run.CONFIG_NAME
    if not path.is_file():
        raise UserError(f"{run_dir} is not a trained run (no {run.CONFIG_NAME}); train one with "
                        f"`python train_wgan_completion.py train --run-dir {run_dir}`")
    try:
        config = json.loads(path.read_text())
    except ValueError as e:
        raise UserError(f"cannot read {path} ({e}); use another run directory") from None
    if config.get("paper") != "C":
        raise UserError(f"{run_dir} is a paper {config.get('paper')} run, not a paper C (WGAN) run")
    flavour = flavour_of(config)
    G = wgan.generator(config["z_dim"], config["image_size"], config["width"])
    D = wgan.critic(flavour, config["image_size"], config["width"])
    checkpoint.restore_from(run_dir, generator=G, discriminator=D)
    return G, D, config


class LatentInpainter:
    """inpainters.Inpainter-compatible: predict(images, masks) -> G(z_hat) [B,S,S,3] in [-1, 1]."""

    def __init__(self, run_dir, iterations=1500, lam=0.003, weighted=False, seed=0, lr=0.01, batch_size=64,
                 progress=True):
        self.G, self.D, self.config = load_trained(run_dir)
        self.flavour = flavour_of(self.config)
        self.image_size = int(self.config["image_size"])
        self.name = f"paper C latent search ({self.flavour}, {Path(run_dir).name})"
        self.iterations, self.lam, self.weighted, self.seed, self.lr = iterations, lam, weighted, seed, lr
        self.batch_size, self.progress = int(batch_size), progress

    def predict(self, images, masks):
        images = np.asarray(images, np.float32)
        masks = np.asarray(masks, np.float32)
        s = self.image_size
        if images.shape[1:] != (s, s, 3) or masks.shape[1:] != (s, s, 1) or len(images) != len(masks):
            raise UserError(f"paper C's model completes {s}x{s} images with [B,{s},{s},1] masks, got images "
                            f"{images.shape} and masks {masks.shape}")
        out = []
        for k in range(0, len(images), self.batch_size):
            res = latent_search(self.G, self.D, images[k:k + self.batch_size], masks[k:k + self.batch_size],
                                self.flavour, self.iterations, self.lam, self.lr, self.weighted,
                                self.seed + k, progress=self.progress)
            out.append(res["generated"].numpy())
        return np.concatenate(out)


def latent_inpainter(run_dir, iterations=1500, lam=0.003, weighted=False, seed=0, **kw):
    """The paper-C Inpainter of a trained run directory (for inpaint.py / evaluate.py)."""
    return LatentInpainter(run_dir, iterations, lam, weighted, seed, **kw)


# ============================================================================ complete (CLI)

def build_complete_parser():
    p = argparse.ArgumentParser(prog="train_wgan_completion.py complete",
                                description="Complete damaged images by latent search in a trained paper-C run.")
    p.add_argument("--run-dir", default="runs/train_wgan_completion", help="the trained run (default: %(default)s)")
    p.add_argument("--images", default="samples",
                   help="a folder of images, or 'samples' (scikit-image's held-out photos) (default: %(default)s)")
    p.add_argument("--mask", default="center",
                   help="center (S/2 square), rectangles (random, per image), or a PNG path (white = hole) "
                        "(default: %(default)s)")
    p.add_argument("--out", default=None, help="output folder (default: <run-dir>/completions)")
    p.add_argument("--iterations", type=int, default=1500, help="(default: %(default)s)")
    p.add_argument("--lam", type=float, default=0.003, help="lambda of L_perceptual (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam on z (default: %(default)s)")
    p.add_argument("--weighted-context", action="store_true",
                   help="Yeh's weighting: each known pixel by the hole fraction of its 7x7 neighbourhood")
    p.add_argument("--batch-size", type=int, default=64, help="images searched at once (default: %(default)s)")
    p.add_argument("--limit", type=int, default=64, help="at most this many images (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--no-blend", action="store_true", help="skip Poisson blending")
    return p


def load_images(spec, size, limit):
    """uint8 [N,S,S,3]: the held-out samples, or a folder's images (centre crop + resize)."""
    source = open_source(spec, "test" if spec == "samples" else "train")
    images = [center_crop_resize(im, size).numpy() for im in source.dataset().take(int(limit))]
    if not images:
        raise UserError(f"no readable images in {spec}")
    return np.stack(images)


def load_masks(spec, n, size, seed):
    """float32 [N,S,S,1] (1 = hole): centre square, random rectangles, or one PNG for every image."""
    if spec in ("center", "rectangles"):
        return np.stack([make_mask(spec, example_seed(seed, i), size, size)[0].numpy() for i in range(n)])
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"--mask {spec}: not 'center', 'rectangles' nor an existing PNG file")
    try:
        raw = tf.io.decode_image(tf.io.read_file(str(path)), channels=1, expand_animations=False)
    except tf.errors.OpError:
        raise UserError(f"cannot read mask {path}; pass a PNG with white = hole") from None
    m = tf.image.resize(tf.cast(raw, tf.float32), [size, size], method="nearest").numpy() > 127
    if not m.any() or m.all():
        raise UserError(f"mask {path} has {'no' if not m.any() else 'only'} hole pixels at {size}x{size}; "
                        f"white marks the hole, and some pixels must stay known")
    return np.repeat(m.astype(np.float32)[None], n, axis=0)


def complete(argv):
    from blend import blend_batch
    from training.summaries import image_grid, write_png

    args = build_complete_parser().parse_args(argv)
    inpainter = latent_inpainter(args.run_dir, args.iterations, args.lam, args.weighted_context, args.seed,
                                 lr=args.lr, batch_size=args.batch_size)
    s = inpainter.image_size
    real = load_images(args.images, s, args.limit)
    masks = load_masks(args.mask, len(real), s, args.seed)
    y = to_float(real).numpy()
    damaged = y * (1.0 - masks)
    generated = inpainter.predict(damaged, masks)
    composited = to_uint8(masks * generated + (1.0 - masks) * y).numpy()      # paste G(z_hat) into the hole
    completed = composited if args.no_blend else blend_batch(composited, real, masks)
    masked = to_uint8(damaged + masks).numpy()                                # holes drawn white
    out = Path(args.out) if args.out else Path(args.run_dir) / "completions"
    for i in range(len(real)):
        write_png(out / f"real_{i:04d}.png", real[i])
        write_png(out / f"masked_{i:04d}.png", masked[i])
        write_png(out / f"composited_{i:04d}.png", composited[i])
        write_png(out / f"completed_{i:04d}.png", completed[i])
    write_png(out / "figure.png", image_grid({"real": real, "masked": masked, "completed": completed},
                                             max_examples=8))
    print(f"completed {len(real)} images ({inpainter.name}, {args.iterations} iterations, lambda {args.lam}"
          f"{', weighted context' if args.weighted_context else ''}) -> {out}")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "complete":
        return complete(argv[1:])
    if argv and argv[0] == "train":
        argv = argv[1:]
    return train(argv)


if __name__ == "__main__":
    run.cli(main)
