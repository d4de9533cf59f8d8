"""GPU images/s of each paper's networks, trained as its step trains them, on Keras's JAX backend.

Why this exists: the GPU machine lent to this project has no TensorFlow and no package registry,
and TensorFlow's CUDA build (~3 GB of wheels) cannot be carried to it; JAX and XLA are there.
The models in models/ are plain Keras 3, so the SAME networks run on the JAX backend. This script
rebuilds each registered paper's update at paper size and batch -- the networks of its paper card
(`papers.networks`, with the card's image size and batch), passed through as its step passes them,
with the card's optimizer -- and times it jitted (XLA, as `--xla` compiles the TensorFlow step).
It cannot import the train scripts (they import TensorFlow), so what differs between the papers'
steps is data in the registry, `papers.PAPERS[letter].bench["jax_proxy"]` (every key optional):
  config     networks settings over the card's (A: stage 3, with the discriminator; C: the WGAN-GP critic)
  d_updates  discriminator updates per generator update (C: n_critic 2, as bench/steps.py; E: 2)
  batches    real batches one step reads (C: one per critic update; E: d_updates + 1 crops)
  wgan_gp    Wasserstein losses with the gradient penalty's double backprop (C), else BCE
  vgg        VGG19 layers the generator's loss taps (A: relu1_1..relu3_1; E: pool2, pool5 + texture)
  texture    how many of the last `vgg` taps also get a Gram-matrix (texture) loss (E: 3)
  optimizer  (name, learning rate[, beta_1, beta_2]) instead of the card's
The generic step: the networks other than "discriminator" are the generator, applied in order
(encoder, then decoder), the first to random inputs of its input shapes; the discriminator sees a
centre crop of the generator's output (or of a real batch) at each of its inputs' sizes (A: the
whole image and the local 64x64 box). Loss terms are simplified to their FLOP-relevant form
(MSE / BCE / Wasserstein); what is timed is therefore a PROXY of the shipped TensorFlow step,
close in FLOPs (compared in docs/PERFORMANCE.md), not the step itself.

    KERAS_BACKEND=jax python -m bench.jax_proxy --precision bfloat16 --json gpu.json
    KERAS_BACKEND=jax python -m bench.jax_proxy --precision float32 --batch 1 --repeats 1 --peak-n 512   # plumbing

FLOPs per step: the analytic count of bench/flops.py (2 x the multiply-accumulates of every conv
and dense layer) times the passes this proxy makes (`proxy_flops`: per D update G 1 + D 6, 11 with
the gradient penalty; the G update G 3 + D 2 + VGG 3; A and D count one more G and D pass than the
TensorFlow step, which reuses the D update's fake). XLA's own cost analysis is kept in the JSON but
is no FLOP count here: on a GPU it leaves out the cuDNN convolutions. Peak: a bfloat16 (float32:
TF32) 8192^2 matmul in the same run.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax                      # noqa: E402
import jax.numpy as jnp         # noqa: E402
import keras                    # noqa: E402
import optax                    # noqa: E402

import papers                   # noqa: E402
from bench import report        # noqa: E402
from bench.flops import forward_macs, median_time  # noqa: E402

DISC = "discriminator"          # the network name every paper's networks(config) gives its discriminator


def spec(letter, batch=None, batch_scale=1):
    """The proxy of paper `letter`: its card's image size and batch (`batch` overrides, times
    `batch_scale`), its networks config and its jax_proxy data with the defaults filled in."""
    paper = papers.PAPERS[letter]
    data = dict(paper.bench.get("jax_proxy", {}))
    card = dict(paper.card)
    config = dict(card, **data.get("config", {}), paper=letter)
    optimizer = tuple(data.get("optimizer") or (card.get("optimizer", "Adam"), card.get("lr", 2e-4),
                                                  card.get("beta1", 0.9), card.get("beta2", 0.999)))
    return dict(letter=letter, name=paper.label(config), config=config, image=int(card["image_size"]),
                batch=int(batch or card["batch_size"]) * batch_scale, d_updates=int(data.get("d_updates", 1)),
                batches=int(data.get("batches", 1)), wgan_gp=bool(data.get("wgan_gp", False)),
                vgg=tuple(data.get("vgg", ())), texture=int(data.get("texture", 0)), optimizer=optimizer)


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


def gram(f):
    f = f32(f)
    b, h, w, c = f.shape
    f = f.reshape(b, h * w, c)
    return jnp.einsum("bnc,bnd->bcd", f, f) / (h * w)


def optimizer(name, lr, beta1=0.9, beta2=0.999):
    """The optax twin of a Keras optimizer name (Adam, Adadelta, RMSprop, ...)."""
    name = name.lower()
    return optax.adam(lr, b1=beta1, b2=beta2) if name == "adam" else getattr(optax, name)(lr)


def centre_crop(x, shape):
    """x [B, H, W, C] cropped at its centre to shape's (h, w) (None: the whole side)."""
    h, w = (shape[1] or x.shape[1]), (shape[2] or x.shape[2])
    top, left = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
    return x[:, top:top + h, left:left + w]


def build(c):
    """(nets: dict name -> Net, loss fns, batch) of the proxy `c` (spec())."""
    s, b = c["image"], c["batch"]
    models = papers.networks(c["config"], c["letter"])
    nets = {n: Net(m) for n, m in models.items()}
    gen = [n for n in nets if n != DISC]
    D = nets.get(DISC)
    vgg = vgg_taps(list(c["vgg"]), s) if c["vgg"] else None
    one = lambda t: t[0] if len(t) == 1 else list(t)
    shape_of = lambda t: (b,) + tuple(s if d is None else d for d in t.shape[1:])
    inputs = [jax.random.uniform(jax.random.PRNGKey(1 + k), shape_of(t))                  # images, masks, z in [0, 1)
              for k, t in enumerate(models[gen[0]].inputs)]
    d_shapes = [tuple(t.shape) for t in models[DISC].inputs] if D else []

    def fake_of(p, st, batch):
        x, new = one(batch["inputs"]), {}
        for n in gen:
            x, new[n] = nets[n](p[n], st[n], x)
        return x, new

    def d_in(x):
        return one([centre_crop(x, shape) for shape in d_shapes])

    def d_loss(p, st, batch, fake):
        real, st_d = D(p[DISC], st[DISC], d_in(batch["real"]))
        fk, st_d = D(p[DISC], st_d, d_in(fake))
        if not c["wgan_gp"]:
            return bce(real, 1.0) + bce(fk, 0.0), {**st, DISC: st_d}
        eps = jax.random.uniform(jax.random.PRNGKey(3), (b, 1, 1, 1))
        mix = eps * batch["real"] + (1 - eps) * f32(fake)
        value = lambda pd, x: jnp.sum(f32(D(pd, st_d, d_in(x))[0]))
        grad = jax.grad(value, argnums=1)(p[DISC], mix)                                   # double backprop
        gp = jnp.mean((jnp.sqrt(jnp.sum(grad ** 2, axis=(1, 2, 3)) + 1e-12) - 1.0) ** 2)
        return jnp.mean(f32(fk)) - jnp.mean(f32(real)) + 10.0 * gp, {**st, DISC: st_d}

    def g_loss(p, st, batch):
        fake, st_g = fake_of(p, st, batch)
        st = {**st, **st_g}
        loss = jnp.mean((f32(fake) - batch["real"]) ** 2)
        if D is not None:
            adv, st_d = D(p[DISC], st[DISC], d_in(fake))
            loss += -jnp.mean(f32(adv)) if c["wgan_gp"] else 1e-3 * bce(adv, 1.0)
            st = {**st, DISC: st_d}
        if vgg is not None:
            fv, _ = vgg(vgg.params, vgg.state, fake, training=False)
            rv, _ = vgg(vgg.params, vgg.state, batch["real"], training=False)
            fv, rv = (fv, rv) if isinstance(fv, (list, tuple)) else ([fv], [rv])
            loss += 0.01 * sum(jnp.mean((f32(x) - f32(y)) ** 2) for x, y in zip(fv, rv))
            k = len(fv) - c["texture"]
            loss += 1e-6 * sum(jnp.mean((gram(x) - gram(y)) ** 2) for x, y in zip(fv[k:], rv[k:]))
        return loss, (st, fake)

    real_shape = jax.eval_shape(lambda: fake_of({n: nets[n].params for n in gen}, {n: nets[n].state for n in gen},
                                                dict(inputs=inputs))[0]).shape
    batch = dict(inputs=inputs, real=jax.random.uniform(jax.random.PRNGKey(0), real_shape, minval=-1, maxval=1))
    return dict(nets, **({"vgg": vgg} if vgg else {})), g_loss, d_loss, fake_of, batch


def proxy_flops(c, nets):
    """Analytic FLOPs of one proxy step: (forward passes per example) x 2 x MACs x batch. Per D update:
    G 1, D on real 3 + fake 3 (+ 5 for the gradient penalty: forward, input gradient, double
    backprop); the G update: G 3, D 2, VGG on the output 2 + the real batch 1."""
    s = c["image"]
    g = sum(forward_macs(net.model, s) for n, net in nets.items() if n not in (DISC, "vgg"))
    d = forward_macs(nets[DISC].model) if DISC in nets else 0
    v = forward_macs(nets["vgg"].model) if "vgg" in nets else 0
    per = (c["d_updates"] * (g + (11 if c["wgan_gp"] else 6) * d) if d else 0) + 3 * g + 2 * d + 3 * v
    return 2 * per * c["batch"]


def make_step(c):
    nets, g_loss, d_loss, fake_of, batch = build(c)
    flops = proxy_flops(c, nets)
    probe = nets[DISC].model if DISC in nets else next(iter(nets.values())).model
    convs = [l for l in probe._flatten_layers() if isinstance(l, keras.layers.Conv2D)]
    compute_dtype = str(convs[len(convs) // 2].compute_dtype) if convs else "-"     # a middle conv of D
    nets = {n: net for n, net in nets.items() if n != "vgg"}        # frozen: closed over, not trained
    g_names = [n for n in nets if n != DISC]
    d_updates = c["d_updates"] if DISC in nets else 0
    params = {n: net.params for n, net in nets.items()}
    state = {n: net.state for n, net in nets.items()}
    g_tx, d_tx = optimizer(*c["optimizer"]), optimizer(*c["optimizer"])
    opt = dict(gen=g_tx.init({n: params[n] for n in g_names}), disc=d_tx.init(params[DISC]) if d_updates else ())

    def step(params, state, opt, batch):
        ld = jnp.zeros(())
        for _ in range(d_updates):                       # C: n_critic, E: 2 D updates per G update
            fake, _ = fake_of(params, state, batch)
            fake = jax.lax.stop_gradient(fake)
            (ld, state), gd = jax.value_and_grad(
                lambda pd: d_loss({**params, DISC: pd}, state, batch, fake), has_aux=True)(params[DISC])
            upd, opt_d = d_tx.update(gd, opt["disc"], params[DISC])
            params = {**params, DISC: optax.apply_updates(params[DISC], upd)}
            opt = {**opt, "disc": opt_d}
        gp = {n: params[n] for n in g_names}
        (lg, (state, _)), gg = jax.value_and_grad(
            lambda q: g_loss({**params, **q}, state, batch), has_aux=True)(gp)
        upd, opt_g = g_tx.update(gg, opt["gen"], gp)
        params = {**params, **optax.apply_updates(gp, upd)}
        return params, state, {**opt, "gen": opt_g}, (ld, lg)

    return jax.jit(step, donate_argnums=(0, 1, 2)), params, state, opt, batch, flops, compute_dtype


def measure_peak(dtype, n=8192, repeats=10):
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
    mm = jax.jit(lambda x: x @ x)
    mm(a).block_until_ready()
    return 2 * n ** 3 / median_time(lambda: mm(a).block_until_ready(), repeats, warmup=0)


def bench(c, repeats):
    step, params, state, opt, batch, flops, compute_dtype = make_step(c)
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
    n = c["batch"] * c["batches"]                       # real images one step reads
    return dict(paper=c["letter"], name=c["name"], image=c["image"], batch=c["batch"],
                images_per_step=n, step_s=t, step_images_per_s=n / t, gflop_per_step=flops / 1e9,
                flop_count="analytic per layer, proxy passes", xla_cost_analysis_gflop=xla_flops / 1e9,
                achieved_tflops=flops / t / 1e12, first_call_s=first, compute_dtype=compute_dtype,
                losses=[float(x) for x in losses])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--papers", default=None, help="comma-separated paper letters (default: every registered paper)")
    p.add_argument("--precision", choices=("float32", "bfloat16", "float16"), default="bfloat16")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--batch", type=int, default=None, help="every paper's batch (default: its card's)")
    p.add_argument("--batch-scale", type=int, default=1, help="multiply every paper's batch (default: %(default)s)")
    p.add_argument("--peak-n", type=int, default=8192, help="side of the peak's square matmul (default: %(default)s)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    letters = [x.strip().upper() for x in args.papers.split(",") if x.strip()] if args.papers else list(papers.LETTERS)
    bad = [x for x in letters if x not in papers.PAPERS]
    if bad:
        p.error(f"--papers takes letters among {','.join(papers.LETTERS)}, not {','.join(bad)}")
    if keras.backend.backend() != "jax":
        raise SystemExit("set KERAS_BACKEND=jax before running bench.jax_proxy")
    policy = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[args.precision]
    keras.mixed_precision.set_global_policy(policy)
    dev = jax.devices()[0]
    peak = measure_peak(jnp.float32 if args.precision == "float32" else jnp.bfloat16, args.peak_n)
    print(f"device: {dev.device_kind} ({dev.platform}); jax {jax.__version__}, keras {keras.__version__}; "
          f"{args.precision}; peak {peak / 1e12:.2f} TFLOP/s ({args.peak_n}^2 matmul)", file=sys.stderr, flush=True)
    rows = []
    for letter in letters:
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy(policy)       # clear_session resets the policy
        r = bench(spec(letter, args.batch, args.batch_scale), args.repeats)
        r["fraction_of_peak"] = r["achieved_tflops"] * 1e12 / peak
        rows.append(r)
        print(f"{r['name']}: {r['step_images_per_s']:.0f} img/s, step {1e3 * r['step_s']:.1f} ms, "
              f"{r['gflop_per_step']:.0f} GFLOP/step, {r['achieved_tflops']:.1f} TFLOP/s "
              f"({100 * r['fraction_of_peak']:.0f}% of peak), D's convs compute in {r['compute_dtype']}, "
              f"losses {r['losses']}", file=sys.stderr, flush=True)
    meta = dict(device=f"{dev.device_kind} ({dev.platform})", precision=args.precision, peak_flops=peak,
                jax=jax.__version__, keras=keras.__version__)
    out = ["| paper | size, batch | step img/s | ms/step | GFLOP/step | TFLOP/s | % peak |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['image']} px, {r['batch']} | {r['step_images_per_s']:.0f} | "
                   f"{1e3 * r['step_s']:.1f} | {r['gflop_per_step']:.0f} | {r['achieved_tflops']:.1f} | "
                   f"{100 * r['fraction_of_peak']:.0f} |")
    report.publish("\n".join(out), meta, rows, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
