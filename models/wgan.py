"""Paper C: a WGAN (Arjovsky et al. 2017) on the DCGAN architecture, the prior of Yeh's latent search.

Three flavours share models.dcgan:
  "wgan"  critic = DCGAN discriminator with a raw score (BN kept, as Arjovsky's DCGAN critic),
          weight clipping 0.01, RMSProp 5e-5, n_critic from `n_critic_schedule`;
  "gp"    WGAN-GP (Gulrajani et al. 2017): the same critic WITHOUT BatchNorm (the penalty is per
          sample), penalty 10, Adam 1e-4 betas (0, 0.9), 5 critic steps;
  "bce"   a plain DCGAN: sigmoid discriminator, BCE, Adam 2e-4 betas (0.5, 0.999), 1 D step
          (paper A's "DCGAN" baseline).
z is 100-d uniform in [-1, 1] (Yeh; bamos/dcgan-completion.tensorflow).
"""
from models import dcgan

Z_DIM = 100
FLAVOURS = ("wgan", "gp", "bce")


def generator(z_dim=Z_DIM, image_size=64, width=64):
    """G(z): z [B, 100] in [-1, 1] -> image [B, 64, 64, 3] in [-1, 1] (the DCGAN generator)."""
    return dcgan.generator(z_dim, image_size, width)


def critic(flavour="wgan", image_size=64, width=64):
    """D for a flavour: a raw score (wgan: with BN; gp: no BN) or a probability (bce)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
    if flavour == "bce":
        return dcgan.discriminator(image_size, width, output="probability")
    return dcgan.discriminator(image_size, width, output="score", batch_norm=(flavour == "wgan"))


def n_critic_schedule(gen_step, n_critic=5, warm=100, warm_steps=25, every=500):
    """Critic updates before generator update number `gen_step` (counting from 0), Arjovsky et al.'s
    schedule (their main.py: Diters = 100 if gen_iterations < 25 or gen_iterations % 500 == 0 else 5).
    Works on Python ints and on TF int tensors."""
    if isinstance(gen_step, int):
        return warm if (gen_step < warm_steps or gen_step % every == 0) else n_critic
    import tensorflow as tf
    g = tf.cast(gen_step, tf.int64)
    return tf.where((g < warm_steps) | (g % every == 0), tf.constant(warm, tf.int64), tf.constant(n_critic, tf.int64))


def critic_steps_before(gen_step, n_critic=5, warm=100, warm_steps=25, every=500):
    """Total critic updates (= real batches read) before generator step `gen_step`: where a resumed
    run's real-image stream starts. Closed form of sum(n_critic_schedule(i) for i < gen_step)."""
    k = int(gen_step)
    if k <= 0:
        return 0
    # steps with the warm count: i < warm_steps, plus multiples of `every` at or beyond warm_steps
    warm_count = min(k, warm_steps)
    first_multiple = ((warm_steps + every - 1) // every) * every
    if k > first_multiple:
        warm_count += (k - 1 - first_multiple) // every + 1
    return warm_count * warm + (k - warm_count) * n_critic


def flavour_of(config):
    """"wgan" | "gp" | "bce" from a run's settings (argparse args or a config.json dict)."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    if get("loss") == "bce":
        return "bce"
    return "gp" if get("gp") else "wgan"


def sample_z(seed, batch_size, z_dim):
    """z ~ U(-1, 1)^z_dim (Yeh; bamos/dcgan-completion.tensorflow), stateless from `seed` [2]."""
    import tensorflow as tf
    return tf.random.stateless_uniform([batch_size, z_dim], seed, -1.0, 1.0)


def networks(config):
    """Paper C's networks for a run's config (papers.networks): the DCGAN generator and the critic
    of the run's flavour (wgan, gp or bce)."""
    return dict(generator=generator(config["z_dim"], config["image_size"], config["width"]),
                discriminator=critic(flavour_of(config), config["image_size"], config["width"]))
