"""GPU images/s of each paper's networks, trained as its step trains them, on Keras's JAX backend.

Why this exists: the GPU machine lent to this project has no TensorFlow and no package registry,
and TensorFlow's CUDA build (~3 GB of wheels) cannot be carried to it; JAX and XLA are there.
The models in models/ are plain Keras 3, so the SAME networks run on the JAX backend. This script
rebuilds each paper's update at paper size and batch -- the same networks, the same number of
passes through each (A: stage 3 with VGG19 relu3_1; B: one D and one G update; C: WGAN-GP, 2
critic updates with the gradient penalty's double backprop, then G; D: context encoder; E: two D
updates, then G with VGG19 pool2/pool5 + Gram texture) with Adam -- and times it jitted (XLA,
as `--xla` compiles the TensorFlow step). Loss terms are simplified to their FLOP-relevant form
(MSE / BCE / Wasserstein); what is timed is therefore a PROXY of the shipped TensorFlow step,
close in FLOPs (compared in README "Performance"), not the step itself.

    KERAS_BACKEND=jax python -m bench.jax_proxy --precision bfloat16 --json gpu.json

FLOPs per step: the analytic count of bench/flops.py (2 x the multiply-accumulates of every conv
and dense layer) times the passes this proxy makes (`proxy_flops`; A and D count one more G and D
pass than the TensorFlow step, which reuses the D update's fake). XLA's own cost analysis is kept
in the JSON but is no FLOP count here: on a GPU it leaves out the cuDNN convolutions. Peak: a
bfloat16 (float32: TF32) 8192^2 matmul in the same run.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax                      # noqa: E402
import jax.numpy as jnp         # noqa: E402
import keras                    # noqa: E402
import optax                    # noqa: E402

from bench.flops import median_time  # noqa: E402

PAPER = {"A": dict(image=128, batch=96, local=64), "B": dict(image=64, batch=64),
         "C": dict(image=64, batch=64, z=100, n_critic=2), "D": dict(image=128, batch=50),
         "E": dict(image=96, batch=16, d_updates=2)}
NAMES = {"A": "iizuka (stage 3)", "B": "unsupervised", "C": "wgan-gp", "D": "context encoder",
         "E": "deblur (nonbn_res_l)"}


class Net:
    """A Keras model as pure functions of its variables (stateless_call), for jax.grad."""

    def __init__(self, model):
        self.model = model
        self.params = [v.value for v in model.trainable_variables]
        self.state = [v.value for v in model.non_trainable_variables]

    def __call__(self, params, state, x, training=True):
        y, state = self.model.stateless_call(params, state, x, training=training)
        return y, state


def vgg_taps(names, size):
    """VGG19 (random weights: only the cost matters here) with outputs at Keras layer `names`."""
    base = keras.applications.VGG19(weights=None, include_top=False, input_shape=(size, size, 3))
    model = keras.Model(base.input, [base.get_layer(n).output for n in names])
    model.trainable = False
    return Net(model)


def f32(x):
    return jnp.asarray(x, jnp.float32)


def bce(p, target):
    p = jnp.clip(f32(p), 1e-7, 1 - 1e-7)
    return -jnp.mean(target * jnp.log(p) + (1 - target) * jnp.log(1 - p))


def bce_d_loss(D, p, st, real_in, fake_in):
    """The discriminators' BCE loss on a real and a fake batch (A, B, D, E) and D's new state."""
    real, st_d = D(p["D"], st["D"], real_in)
    fk, st_d = D(p["D"], st_d, fake_in)
    return bce(real, 1.0) + bce(fk, 0.0), {**st, "D": st_d}


def gram(f):
    f = f32(f)
    b, h, w, c = f.shape
    f = f.reshape(b, h * w, c)
    return jnp.einsum("bnc,bnd->bcd", f, f) / (h * w)


def build(paper):
    """(nets: dict name -> Net, trained: {optimizer name: [net names]}, loss fns, batch)."""
    from models import context_encoder as ce
    from models import deblur, iizuka, unsupervised, wgan
    c = PAPER[paper]
    s, b = c["image"], c["batch"]
    key = jax.random.PRNGKey(0)
    img = lambda k, n=b: jax.random.uniform(jax.random.PRNGKey(k), (n, s, s, 3), minval=-1, maxval=1)
    mask = jnp.zeros((b, s, s, 1)).at[:, s // 4:3 * s // 4, s // 4:3 * s // 4].set(1.0)
    if paper == "A":
        G, D = Net(iizuka.completion_network(s)), Net(iizuka.discriminator(s, c["local"]))
        vgg = vgg_taps(["block1_conv1", "block2_conv1", "block3_conv1"], s)
        lo = (s - c["local"]) // 2

        def fake_of(p, st, batch):
            out, st = G(p["G"], st["G"], [batch["image"], batch["mask"]])
            return out, st

        def d_in(x):
            return [x, x[:, lo:lo + c["local"], lo:lo + c["local"]]]

        def d_loss(p, st, batch, fake):
            return bce_d_loss(D, p, st, d_in(batch["image"]), d_in(fake))

        def g_loss(p, st, batch):
            fake, st_g = fake_of(p, st, batch)
            fv, _ = vgg(vgg.params, vgg.state, fake, training=False)
            rv, _ = vgg(vgg.params, vgg.state, batch["image"], training=False)
            adv, st_d = D(p["D"], st["D"], d_in(fake))
            loss = jnp.mean((f32(fake) - batch["image"]) ** 2) + 4e-4 * bce(adv, 1.0)
            loss += 0.01 * sum(jnp.mean((f32(x) - f32(y)) ** 2) for x, y in zip(fv, rv))
            return loss, ({**st, "G": st_g, "D": st_d}, fake)

        return dict(G=G, D=D, vgg=vgg), g_loss, d_loss, fake_of, dict(image=img(1), mask=mask), 1
    if paper == "B":
        G, D = Net(unsupervised.inpainting_generator(s)), Net(unsupervised.discriminator(s))

        def fake_of(p, st, batch):
            return G(p["G"], st["G"], [batch["damaged"], batch["mask"]])

        def d_loss(p, st, batch, fake):
            return bce_d_loss(D, p, st, batch["real"], fake)

        def g_loss(p, st, batch):
            fake, st_g = fake_of(p, st, batch)
            adv, st_d = D(p["D"], st["D"], fake)
            keep = 1.0 - batch["mask"]
            loss = bce(adv, 1.0) + jnp.mean(jnp.abs(f32(fake) - batch["damaged"]) * keep)
            return loss, ({**st, "G": st_g, "D": st_d}, fake)

        return (dict(G=G, D=D), g_loss, d_loss, fake_of,
                dict(damaged=img(1) * (1 - mask), mask=mask, real=img(2)), 1)
    if paper == "C":
        G, D = Net(wgan.generator(c["z"], s)), Net(wgan.critic("gp", s))
        z = jax.random.normal(key, (b, c["z"]))

        def fake_of(p, st, batch):
            return G(p["G"], st["G"], batch["z"])

        def critic_value(pd, st_d, x):
            return jnp.sum(f32(D(pd, st_d, x)[0]))

        def d_loss(p, st, batch, fake):
            real, st_d = D(p["D"], st["D"], batch["real"])
            fk, st_d = D(p["D"], st_d, fake)
            eps = jax.random.uniform(jax.random.PRNGKey(3), (b, 1, 1, 1))
            mix = eps * batch["real"] + (1 - eps) * f32(fake)
            grad = jax.grad(critic_value, argnums=2)(p["D"], st_d, mix)     # double backprop
            gp = jnp.mean((jnp.sqrt(jnp.sum(grad ** 2, axis=(1, 2, 3)) + 1e-12) - 1.0) ** 2)
            return jnp.mean(f32(fk)) - jnp.mean(f32(real)) + 10.0 * gp, {**st, "D": st_d}

        def g_loss(p, st, batch):
            fake, st_g = fake_of(p, st, batch)
            adv, st_d = D(p["D"], st["D"], fake)
            return -jnp.mean(f32(adv)), ({**st, "G": st_g, "D": st_d}, fake)

        return dict(G=G, D=D), g_loss, d_loss, fake_of, dict(z=z, real=img(1)), c["n_critic"]
    if paper == "D":
        enc, dec = Net(ce.encoder(s)), Net(ce.decoder(s // 2))
        D = Net(ce.region_discriminator(s // 2))
        lo = s // 4

        def fake_of(p, st, batch):
            code, st_e = enc(p["enc"], st["enc"], batch["image"] * (1 - batch["mask"]))
            out, st_dec = dec(p["dec"], st["dec"], code)
            return out, {"enc": st_e, "dec": st_dec}

        def d_loss(p, st, batch, fake):
            return bce_d_loss(D, p, st, batch["image"][:, lo:lo + s // 2, lo:lo + s // 2], fake)

        def g_loss(p, st, batch):
            fake, st_g = fake_of(p, st, batch)
            adv, st_d = D(p["D"], st["D"], fake)
            region = batch["image"][:, lo:lo + s // 2, lo:lo + s // 2]
            loss = 0.999 * jnp.mean((f32(fake) - region) ** 2) + 0.001 * bce(adv, 1.0)
            return loss, ({**st, **st_g, "D": st_d}, fake)

        return dict(enc=enc, dec=dec, D=D), g_loss, d_loss, fake_of, dict(image=img(1), mask=mask), 1
    G = Net(deblur.generator("nonbn_res"))
    D = Net(deblur.discriminator(s))
    vgg = vgg_taps(["block2_pool", "block5_pool", "block1_conv1", "block2_conv1", "block3_conv1"], s)

    def fake_of(p, st, batch):
        return G(p["G"], st["G"], batch["blurred"])

    def d_loss(p, st, batch, fake):
        return bce_d_loss(D, p, st, batch["sharp"], fake)

    def g_loss(p, st, batch):
        fake, st_g = fake_of(p, st, batch)
        adv, st_d = D(p["D"], st["D"], fake)
        fv, _ = vgg(vgg.params, vgg.state, fake, training=False)
        rv, _ = vgg(vgg.params, vgg.state, batch["sharp"], training=False)
        loss = jnp.mean(jnp.abs(f32(fake) - batch["sharp"])) + 1e-3 * bce(adv, 1.0)
        loss += 0.2 * jnp.mean((f32(fv[0]) - f32(rv[0])) ** 2) + 0.02 * jnp.mean((f32(fv[1]) - f32(rv[1])) ** 2)
        loss += 1e-6 * sum(jnp.mean((gram(x) - gram(y)) ** 2) for x, y in zip(fv[2:], rv[2:]))
        return loss, ({**st, "G": st_g, "D": st_d}, fake)

    return dict(G=G, D=D, vgg=vgg), g_loss, d_loss, fake_of, dict(blurred=img(1), sharp=img(2)), c["d_updates"]


def proxy_flops(paper, nets):
    """Analytic FLOPs of one proxy step: (forward passes per example) x 2 x MACs x batch."""
    from bench.flops import forward_macs
    from models import deblur
    c = PAPER[paper]
    s, b = c["image"], c["batch"]
    d = forward_macs(nets["D"].model)
    if paper == "A":      # D update: G 1, D 3 + 3; G update: G 3, VGG 2 + 1, D 2
        per = 4 * forward_macs(nets["G"].model) + 3 * forward_macs(nets["vgg"].model) + 8 * d
    elif paper in ("B", "D"):   # D update: G 1, D 3 + 3; G update: G 3, D 2
        g = sum(forward_macs(nets[n].model) for n in nets if n not in ("D", "vgg"))
        per = 4 * g + 8 * d
    elif paper == "C":    # per critic update: G 1, D 3 + 3, gradient penalty 5; G update: G 3, D 2
        g = forward_macs(nets["G"].model)
        per = c["n_critic"] * (g + 11 * d) + 3 * g + 2 * d
    else:                 # per D update: G 1, D 6; G update: G 3, D 2, VGG 2 + 1
        g = deblur.generator_macs_per_pixel(deblur.FILTERS, deblur.BLOCKS) * s * s
        per = c["d_updates"] * (g + 6 * d) + 3 * g + 2 * d + 3 * forward_macs(nets["vgg"].model)
    return 2 * per * b


def make_step(paper):
    nets, g_loss, d_loss, fake_of, batch, d_updates = build(paper)
    flops = proxy_flops(paper, nets)
    convs = [l for l in nets["D"].model._flatten_layers() if isinstance(l, keras.layers.Conv2D)]
    compute_dtype = str(convs[len(convs) // 2].compute_dtype)      # a middle conv of D
    nets = {n: net for n, net in nets.items() if n != "vgg"}        # frozen: closed over, not trained
    g_names = [n for n in nets if n != "D"]
    params = {n: net.params for n, net in nets.items()}
    state = {n: net.state for n, net in nets.items()}
    lr = 1.0 if paper == "A" else 2e-4
    g_tx = optax.adadelta(lr) if paper == "A" else optax.adam(lr, b1=0.5)
    d_tx = optax.adadelta(lr) if paper == "A" else optax.adam(lr, b1=0.5)
    opt = dict(G=g_tx.init({n: params[n] for n in g_names}), D=d_tx.init(params["D"]))

    def step(params, state, opt, batch):
        for _ in range(d_updates):                       # C: n_critic, E: 2 D updates per G update
            fake, _ = fake_of(params, state, batch)
            fake = jax.lax.stop_gradient(fake)
            (ld, state), gd = jax.value_and_grad(
                lambda pd: d_loss({**params, "D": pd}, state, batch, fake), has_aux=True)(params["D"])
            upd, opt_d = d_tx.update(gd, opt["D"], params["D"])
            params = {**params, "D": optax.apply_updates(params["D"], upd)}
            opt = {**opt, "D": opt_d}
        gp = {n: params[n] for n in g_names}
        (lg, (state, _)), gg = jax.value_and_grad(
            lambda q: g_loss({**params, **q}, state, batch), has_aux=True)(gp)
        upd, opt_g = g_tx.update(gg, opt["G"], gp)
        params = {**params, **optax.apply_updates(gp, upd)}
        return params, state, {**opt, "G": opt_g}, (ld, lg)

    return jax.jit(step, donate_argnums=(0, 1, 2)), params, state, opt, batch, flops, compute_dtype


def images_per_step(paper):
    c = PAPER[paper]
    return c["batch"] * {"C": c.get("n_critic", 1), "E": c.get("d_updates", 0) + 1}.get(paper, 1)


def measure_peak(dtype, n=8192, repeats=10):
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
    mm = jax.jit(lambda x: x @ x)
    mm(a).block_until_ready()
    return 2 * n ** 3 / median_time(lambda: mm(a).block_until_ready(), repeats, warmup=0)


def bench(paper, repeats):
    step, params, state, opt, batch, flops, compute_dtype = make_step(paper)
    compiled = step.lower(params, state, opt, batch).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla_flops = float(cost.get("flops", float("nan")))
    t0 = time.perf_counter()
    params, state, opt, losses = step(params, state, opt, batch)
    jax.block_until_ready(losses)
    first = time.perf_counter() - t0
    for _ in range(2):
        params, state, opt, losses = step(params, state, opt, batch)
    jax.block_until_ready(losses)
    holder = [params, state, opt]

    def one():
        p, s_, o, l = step(*holder, batch)
        jax.block_until_ready(l)
        holder[:] = [p, s_, o]

    t = median_time(one, repeats, warmup=0)
    n = images_per_step(paper)
    return dict(paper=paper, name=NAMES[paper], image=PAPER[paper]["image"], batch=PAPER[paper]["batch"],
                images_per_step=n, step_s=t, step_images_per_s=n / t, gflop_per_step=flops / 1e9,
                flop_count="analytic per layer, proxy passes", xla_cost_analysis_gflop=xla_flops / 1e9,
                achieved_tflops=flops / t / 1e12, first_call_s=first, compute_dtype=compute_dtype,
                losses=[float(x) for x in losses])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--papers", default="A,B,C,D,E")
    p.add_argument("--precision", choices=("float32", "bfloat16", "float16"), default="bfloat16")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--batch-scale", type=int, default=1, help="multiply every paper's batch (default: %(default)s)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    for c in PAPER.values():
        c["batch"] *= args.batch_scale
    if keras.backend.backend() != "jax":
        raise SystemExit("set KERAS_BACKEND=jax before running bench.jax_proxy")
    policy = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[args.precision]
    keras.mixed_precision.set_global_policy(policy)
    dev = jax.devices()[0]
    peak = measure_peak(jnp.float32 if args.precision == "float32" else jnp.bfloat16)
    print(f"device: {dev.device_kind} ({dev.platform}); jax {jax.__version__}, keras {keras.__version__}; "
          f"{args.precision}; peak {peak / 1e12:.0f} TFLOP/s (8192^2 matmul)", file=sys.stderr, flush=True)
    rows = []
    for paper in [x.strip().upper() for x in args.papers.split(",") if x.strip()]:
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy(policy)       # clear_session resets the policy
        r = bench(paper, args.repeats)
        r["fraction_of_peak"] = r["achieved_tflops"] * 1e12 / peak
        rows.append(r)
        print(f"{paper}: {r['step_images_per_s']:.0f} img/s, step {1e3 * r['step_s']:.1f} ms, "
              f"{r['gflop_per_step']:.0f} GFLOP/step, {r['achieved_tflops']:.1f} TFLOP/s "
              f"({100 * r['fraction_of_peak']:.0f}% of peak), D's convs compute in {r['compute_dtype']}, "
              f"losses {r['losses']}", file=sys.stderr, flush=True)
    meta = dict(device=f"{dev.device_kind} ({dev.platform})", precision=args.precision, peak_flops=peak,
                jax=jax.__version__, keras=keras.__version__)
    out = ["| paper | size, batch | step img/s | ms/step | GFLOP/step | TFLOP/s | % peak |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['paper']} {r['name']} | {r['image']} px, {r['batch']} | {r['step_images_per_s']:.0f} | "
                   f"{1e3 * r['step_s']:.1f} | {r['gflop_per_step']:.0f} | {r['achieved_tflops']:.1f} | "
                   f"{100 * r['fraction_of_peak']:.0f} |")
    print("\n".join(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
