"""Paper C: semantic inpainting with a WGAN prior (Yeh et al. 2017): this script trains the prior.

train     a WGAN on the DCGAN architecture (weight clipping 0.01, RMSProp 5e-5, n_critic 5 with
          100 for the first 25 generator steps and every 500th); --gp for WGAN-GP; --loss bce
          for a plain DCGAN (also paper A's "DCGAN" baseline). Default data: CelebA at 64x64.

    python train_wgan_completion.py train                       # paper defaults (celeb_a, 64 px)
    python train_wgan_completion.py train --gp                  # WGAN-GP

A bare `python train_wgan_completion.py [flags]` means `train`. The completion, latent search in the
trained prior (inpainters/latent.py: for damaged images y with hole mask M find z_hat = argmin_z
L_contextual(z) + lambda * L_perceptual(z), paste G(z_hat) into the hole and Poisson-blend), is
inpaint.py's command:

    python inpaint.py latent --run-dir runs/train_wgan_completion --images samples --mask center --out completions

The old spelling `python train_wgan_completion.py complete ...` still runs it for one release, with a note.
"""
import argparse
import itertools
import sys

import papers

from quiet_tf import import_tensorflow
import_tensorflow()        # before TensorFlow loads below: its start-up INFO lines stay off stderr
import tensorflow as tf

from data.pipeline import inpainting_batches
from data.sources import open_source
from errors import UserError, cli
import cliargs
from cliargs import nonnegative_float, nonnegative_int, positive_float, positive_int
from losses.adversarial import GP_WEIGHT, bce_d_loss, bce_g_loss, gradient_penalty, wgan_d_loss, wgan_g_loss
from models import wgan
from training import checkpoint, distribute, flags, loop, run, setup, summaries
from training.recipe import Recipe

_Z_STREAM, _GP_STREAM = 0xC1, 0xC2
CARD = papers.PAPERS["C"].card      # the paper's numbers (papers.py): every default below comes from it


# ============================================================================ train

def build_parser():
    parser = cliargs.ArgumentParser(prog="train_wgan_completion.py train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_common_flags(parser, dataset=CARD["dataset"], steps=CARD["steps"], batch_size=CARD["batch_size"],
                           image_size=CARD["image_size"], run_dir="runs/train_wgan_completion", log_every=100,
                           save_every=1000, image_every=1000)
    parser.set_defaults(paper="C")
    parser.add_argument("--loss", choices=("wasserstein", "bce"), default=CARD["loss"],
                        help="wasserstein = WGAN critic; bce = plain DCGAN (default: %(default)s)")
    parser.add_argument("--gp", action="store_true",
                        help="WGAN-GP: gradient penalty instead of clipping, no BN in the critic, Adam 1e-4 (0, 0.9)")
    parser.add_argument("--clip", type=positive_float, default=CARD["clip"], help="WGAN weight clipping (default: %(default)s)")
    parser.add_argument("--gp-weight", type=nonnegative_float, default=CARD["gp_weight"], help="(default: %(default)s)")
    parser.add_argument("--n-critic", type=positive_int, default=None,
                        help=f"critic steps per generator step (default: {CARD['n_critic']} for WGAN and WGAN-GP, "
                             f"1 for bce)")
    parser.add_argument("--warm-critic", type=int, default=CARD["warm_critic"],
                        help="WGAN (clipping) only: critic steps for the first --warm-steps generator steps "
                             "and every --warm-every-th (default: %(default)s)")
    parser.add_argument("--warm-steps", type=int, default=CARD["warm_steps"], help="(default: %(default)s)")
    parser.add_argument("--warm-every", type=int, default=CARD["warm_every"], help="(default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="default: RMSProp 5e-5 (WGAN), Adam 1e-4 (WGAN-GP), Adam 2e-4 (bce)")
    parser.add_argument("--width", type=positive_int, default=CARD["width"], help="DCGAN base width (default: %(default)s)")
    parser.add_argument("--z-dim", type=positive_int, default=CARD["z_dim"], help="(default: %(default)s)")
    # [choice] the selection of train_iizuka.py, so the prior of paper A's "DCGAN" row never sees table A's
    # test images (train[80000:100000]); evaluate.py refuses to score a run that did.
    parser.add_argument("--first", type=positive_int, default=CARD["first"],
                        help="use the first N images of --dataset (as train_iizuka.py; default: %(default)s)")
    parser.add_argument("--n-train", type=nonnegative_int, default=CARD["n_train"],
                        help="of which the first K train; the rest are paper A's test images (default: %(default)s)")
    return parser


SMOKE = dict(steps=3, batch_size=4, image_size=16, dataset="samples", width=8, log_every=1,
                   save_every=2, image_every=2, warm_critic=3)


def schedule_of(args):
    """The n_critic schedule of a run as keyword arguments of wgan.n_critic_schedule."""
    flavour = wgan.flavour_of(args)
    n = args.n_critic if args.n_critic is not None else (1 if flavour == "bce" else CARD["n_critic"])
    if flavour == "wgan":   # Arjovsky et al.'s warm-up; WGAN-GP (Gulrajani) and DCGAN use a constant count
        return dict(n_critic=n, warm=args.warm_critic, warm_steps=args.warm_steps, every=args.warm_every)
    return dict(n_critic=n, warm=n, warm_steps=0, every=1)


def optimizer_spec(flavour, lr=None):
    """The optimizer of a flavour (G and critic alike), paper settings; `lr` overrides the rate."""
    if flavour == "wgan":      # [choice: Arjovsky et al.] RMSProp 5e-5 (PyTorch defaults alpha 0.99, eps 1e-8)
        return {"name": CARD["optimizer"], "learning_rate": lr or CARD["lr"], "rho": 0.99, "epsilon": 1e-8}
    if flavour == "gp":        # [choice: Gulrajani et al.] Adam 1e-4, betas (0, 0.9)
        return {"name": "Adam", "learning_rate": lr or 1e-4, "beta_1": 0.0, "beta_2": 0.9}
    return {"name": "Adam", "learning_rate": lr or 2e-4, "beta_1": 0.5, "beta_2": 0.999}   # DCGAN (bce)


def make_optimizers(flavour, lr=None):
    """(generator optimizer, critic optimizer) of a flavour, paper settings."""
    spec = optimizer_spec(flavour, lr)
    return setup.optimizer(spec), setup.optimizer(spec)


def settings(config):
    """What `config` resolves to beyond its flags, as --print-config shows it (build() uses the same)."""
    flavour = wgan.flavour_of(config)
    spec = optimizer_spec(flavour, config.lr)
    return {"flavour": flavour, "schedule": schedule_of(config),
            "optimizer": {"generator": spec, "discriminator": spec}, "output": "tanh"}


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
        z = wgan.sample_z(s, batch_size, z_dim)                  # the global batch's z, this replica's rows
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


def build(config, strategy):
    """Paper C's recipe for `config` (the parsed flags): G, D, their optimizers and the train step.
    Call inside strategy.scope()."""
    flavour = wgan.flavour_of(config)
    schedule = schedule_of(config)
    models = wgan.networks(vars(config))               # the one builder (papers.networks)
    G, D = models["generator"], models["discriminator"]
    g_opt, d_opt = make_optimizers(flavour, config.lr)
    counter = checkpoint.step_counter()
    step = make_train_step(G, D, g_opt, d_opt, counter, flavour, schedule, config.batch_size, config.z_dim,
                           config.seed, config.clip, config.gp_weight, config.xla, strategy)
    return Recipe(models=dict(generator=G, discriminator=D), optimizers=dict(g_opt=(g_opt, G), d_opt=(d_opt, D)),
                  step=step, counter=counter, extras=dict(flavour=flavour, schedule=schedule))


def train(argv):
    args = flags.parse(build_parser(), argv, smoke=SMOKE)
    if args.gp and args.loss == "bce":
        raise UserError("--gp is a Wasserstein critic's penalty; drop --gp or --loss bce")
    if args.print_config:
        return flags.print_config(run.preview(args), settings(args))
    r = run.open_run(args)      # a rerun takes the flags not typed again (--gp, --loss) from config.json
    strategy = setup.configure(args)
    # the data first: a dataset that cannot be had stops the run before any model is built
    source = open_source(args.dataset, "train", data_dir=args.data_dir, first=args.first, n_train=args.n_train,
                         crop_min=args.random_crops)
    with strategy.scope():
        recipe = build(args, strategy)
        ckpt = recipe.checkpointer(r.ckpt_dir, keep=args.keep)
    flavour, schedule = recipe.extras["flavour"], recipe.extras["schedule"]
    print(f"paper C: {dict(wgan='WGAN (weight clipping)', gp='WGAN-GP', bce='DCGAN (BCE)')[flavour]}, "
          f"n_critic {schedule}")
    ckpt.restore()

    def batches(start):
        # every step reads n_critic real batches: the stream starts after those of steps 0..start-1
        first = wgan.critic_steps_before(start, **schedule)
        ds = distribute.distribute_dataset(strategy, real_batches(source, args.image_size, args.batch_size,
                                                                  args.seed, first))
        return itertools.repeat(iter(ds))

    G = recipe.models["generator"]
    fixed_z = wgan.sample_z(tf.constant([args.seed, 0x5A], tf.int64), 8, args.z_dim)
    shown = next(iter(real_batches(source, args.image_size, 8, args.seed)))
    loop.train_loop(recipe.step, batches, ckpt, summaries=summaries.Summaries(r.log_dir, r.image_dir),
                    images_fn=lambda s: {"samples": G(fixed_z, training=False), "real": shown},
                    **loop.loop_flags(args))
    return 0


def main(argv=None):
    """`train [flags]` (or flags alone) trains; the old `complete [flags]` runs `inpaint.py latent` with a note."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "complete":      # kept for one release
        # A train script imports no user tool: inpaint.py runs as its own process.
        import subprocess
        from pathlib import Path
        print('note: "train_wgan_completion.py complete" moved to "python inpaint.py latent ..."; running that',
              file=sys.stderr)
        return subprocess.call([sys.executable, str(Path(__file__).resolve().parent / "inpaint.py"), "latent",
                                *argv[1:]])
    if argv and argv[0] == "train":
        argv = argv[1:]
    return train(argv)


# ---------------------------------------------------------------- benchmark hooks (bench/)
BENCH_N_CRITIC = 2      # bench/ and the tests: WGAN-GP with a constant n_critic (the paper's schedule: 5)


def synthetic(cfg, strategy, recipe_fn):
    """bench/steps.py: WGAN-GP with BENCH_N_CRITIC critic updates at bench size `cfg` (the registry's
    bench sizes), built by recipe_fn(values) (build() on the parser defaults with `values` set). The
    step pulls its real batches from an iterator: batch(i) is a dataset of the n_critic batches step i
    reads, and `call` distributes it and hands the step its iterator."""
    from training import synthetic as syn
    s, bsz = cfg["image"], cfg["batch"]
    recipe = recipe_fn(dict(gp=True, n_critic=BENCH_N_CRITIC, image_size=s, batch_size=bsz, width=cfg["width"],
                            z_dim=cfg["z"]))
    G, n = recipe.models["generator"], recipe.extras["schedule"]["n_critic"]

    def batch(i):   # the n_critic real batches step i reads, as one dataset of [B,S,S,3] batches
        flat = tf.concat([syn.images(i * n + k, bsz, s) for k in range(n)], 0)
        return tf.data.Dataset.from_tensor_slices(flat).batch(bsz)

    def call(i, ds=None):
        ds = distribute.distribute_dataset(strategy, batch(i) if ds is None else ds)
        out = recipe.step(iter(ds))
        recipe.counter.assign_add(1)
        return out

    def feed(ds):   # the real pipeline: every step reads its n_critic batches from one iterator
        it = iter(ds)
        return lambda: recipe.step(it)

    infer = lambda img: G(wgan.sample_z(tf.constant([0, 1], tf.int64), img.shape[0], cfg["z"]), training=False)
    return dict(recipe=recipe, batch=batch, call=call, feed=feed, infer=infer, sample=lambda ds: next(iter(ds)),
                images_per_step=n * bsz)


def step_macs(models, config, forward_macs):
    """bench/throughput.py: (MACs per example of one step of `config`, formula). Per critic update: G 1,
    D on real 3, fake 3 (+ the gradient penalty's 5: forward, input gradient, double backprop); the G
    update: G 3, D 2."""
    g, d = forward_macs(models["generator"]), forward_macs(models["discriminator"])
    n, k = schedule_of(argparse.Namespace(**config))["n_critic"], 11 if config.get("gp") else 6
    return n * (g + k * d) + 3 * g + 2 * d, f"{n} x (G + {k} D) + 3 G + 2 D"


def bench_pipeline(size, batch):
    """bench/throughput.py: folder -> the real-image batches the step pulls (one per critic update)."""
    return dict(dataset=lambda folder: real_batches(open_source(str(folder), "train"), size, batch, 0))


def paper_step_rows():
    """bench/paper_step.py: row suffix -> (what it runs, the flags that make it) at the registry's paper
    bench size: the paper's WGAN (weight clipping, RMSProp) at its steady n_critic critic updates per
    step (the warm-up's 100, on the first 25 steps and every 500th, are 17x the steady critic work)."""
    n = CARD["n_critic"]
    return {"": (f"WGAN (clipping), {n} critic + 1 G", dict(gp=False, loss="wasserstein", n_critic=n, warm_critic=n))}


if __name__ == "__main__":
    cli(main)
