"""Paper C's completion: latent search in a trained WGAN / DCGAN prior (Yeh et al. 2017).

For damaged images y with hole mask M (1 = hole) find
    z_hat = argmin_z  L_contextual(z) + lambda * L_perceptual(z)
    L_contextual(z) = || (1 - M) * G(z) - (1 - M) * y ||_1     (optionally Yeh-weighted)
    L_perceptual(z) = log(1 - D(G(z)))   for a probability D (--loss bce)
                    = -D(G(z))           for a WGAN critic (log(1 - D) is undefined there)
by Adam (lr 0.01) on z, 1,500 iterations, z clipped to [-1, 1]; then paste G(z_hat) into the
hole and Poisson-blend. `LatentInpainter` is an Inpainter (inpaint.py, evaluate.py); `main` is
the batch command `python inpaint.py latent` (inpainters/latent_command.py), which writes real / masked /
completed PNGs (Yeh's figure 1).
"""
import collections
import hashlib
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

import papers
import rundir
from errors import UserError
from losses.adversarial import EPSILON
from losses.pixel import contextual_loss
from models import wgan

PAPER = "C"
CARD = papers.PAPERS[PAPER].card     # the latent search's defaults: Adam 0.01, 1,500 iterations, lambda 0.003
_SEARCH_STREAM = 0xC3


def perceptual_loss(d_out, flavour):
    """Per-example L_perceptual: log(1 - D(G(z))) for a probability D (paper C), -D(G(z)) for a critic."""
    d = tf.reshape(tf.cast(d_out, tf.float32), [-1])
    if flavour == "bce":
        return tf.math.log(1.0 - tf.clip_by_value(d, EPSILON, 1.0 - EPSILON))
    return -d


def search_optimizer(lr):
    """[choice: Yeh (bamos/dcgan-completion)] Adam on z: the arguments of keras.optimizers.Adam."""
    return {"learning_rate": lr, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}


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
    z = tf.Variable(wgan.sample_z(tf.constant([seed, _SEARCH_STREAM], tf.int64), int(y.shape[0]), z_dim), name="z")
    opt = keras.optimizers.Adam(**search_optimizer(lr))

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
    from training.checkpoint import restore_from

    run_dir = Path(run_dir)
    config = rundir.read_config(run_dir)
    if config is None:
        raise UserError(f"{run_dir} is not a trained run (no {rundir.CONFIG_NAME}); train one with "
                        f"`python train_wgan_completion.py train --run-dir {run_dir}`")
    if config.get("paper") != PAPER:
        raise UserError(f"{run_dir} is a paper {config.get('paper')} run, not a paper C (WGAN) run")
    nets = papers.networks(config)            # the builder train_wgan_completion.py trains with
    G, D = nets["generator"], nets["discriminator"]
    restore_from(run_dir, generator=G, discriminator=D)
    return G, D, config


class LatentInpainter:
    """inpainters.Inpainter-compatible: predict(images, masks) -> G(z_hat) [B,S,S,3] in [-1, 1]."""

    def __init__(self, run_dir, iterations=1500, lam=0.003, weighted=False, seed=0, lr=0.01, batch_size=64,
                 progress=True):
        self.G, self.D, self.config = load_trained(run_dir)
        self.flavour = wgan.flavour_of(self.config)
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
        key = self._key(images, masks)
        if key in _DONE:                    # the same search again (demo.py: table A blended, then pasted)
            _DONE.move_to_end(key)
            return _DONE[key].copy()
        out = []
        for k in range(0, len(images), self.batch_size):
            res = latent_search(self.G, self.D, images[k:k + self.batch_size], masks[k:k + self.batch_size],
                                self.flavour, self.iterations, self.lam, self.lr, self.weighted,
                                self.seed + k, progress=self.progress)
            out.append(res["generated"].numpy())
        out = np.concatenate(out)
        _DONE[key] = out.copy()
        while sum(v.nbytes for v in _DONE.values()) > _DONE_BYTES:
            _DONE.popitem(last=False)
        return out

    def _key(self, images, masks):
        """What decides a search's result: the weights of G and D, its settings and its inputs."""
        h = hashlib.sha1()
        for w in self.G.weights + self.D.weights:
            h.update(np.ascontiguousarray(w.numpy()).tobytes())
        h.update(repr((self.flavour, self.iterations, self.lam, self.lr, self.weighted, self.seed,
                       self.batch_size)).encode())
        h.update(images.tobytes())
        h.update(masks.tobytes())
        return h.hexdigest()


# Completed searches of this process, newest last, at most _DONE_BYTES of outputs: a search is
# deterministic (seeded), so asking again for the same one returns the stored result.
_DONE = collections.OrderedDict()
_DONE_BYTES = 64 << 20


def latent_inpainter(run_dir, iterations=1500, lam=0.003, weighted=False, seed=0, **kw):
    """The paper-C Inpainter of a trained run directory (for inpaint.py / evaluate.py)."""
    return LatentInpainter(run_dir, iterations, lam, weighted, seed, **kw)


# The batch command (`python inpaint.py latent`) is inpainters/latent_command.py.
