"""What a GPU must hold: peak memory and seconds of ONE training step at the paper's width, image
size and batch (issue 23, item 4), measured on whatever machine runs it (a CPU here).

    python -m bench.paper_step                                   # every config below, one by one
    python -m bench.paper_step --configs A3,D --steps 3 --markdown mem.md --json mem.json
    python -m bench.paper_step --batch 4                         # plumbing check: every batch = 4

Each config runs in its own subprocess (so one paper's allocations never inflate the next one's
peak), sequentially, and builds its models, optimizers and step with the train script's own
build(config, strategy) on the script's parser defaults (bench/steps._recipe), with the PAPER
settings set explicitly where the repository's defaults are [choice]s or about to change: paper A
residual=False (GLCIC's tanh output), paper E global_residual=False, paper D d_lr = lr (0.001).
VGG19 has RANDOM weights (weights=None): the same graph and cost as ImageNet weights, which
timing does not need. Batches are synthetic (smooth images, the papers' hole shapes, blur by a
box filter), already in memory: the step alone, no input pipeline (bench/throughput.py has that).

Per config the child process reports:
  params G / D     trainable parameters (D's "G" = encoder + decoder; VGG19 is frozen, not counted)
  state MB         the variables that stay resident: all model weights (VGG19's included) + the
                   optimizer slots, float32
  tensor peak GB   peak of TensorFlow's allocator on the device during warm-up + timed steps
                   (tf.config.experimental.get_memory_info; on a GPU this is what the GPU must hold,
                   less cuDNN workspaces; on the CPU, oneDNN's scratch memory is outside it)
  RSS peak GB      the process's peak resident memory (getrusage ru_maxrss of the child, read by
                   the parent with os.wait4), TF runtime and Python included; "RSS build" is the
                   resident memory after building (before any step), so peak - build ~ the step
  warm-up s        the first step: tracing + graph optimisation + one step
  s/step           median of --steps timed steps after the warm-up (1 step only when the warm-up
                   took longer than --slow seconds), and images/s = batch / s/step (a step of C
                   reads 5 real batches, one of E 3 batches of crops: 2 D updates + 1 G update)

The parent polls each child's resident memory and stops it above --max-rss-gb (default: the
memory available at launch less 1 GB); it then retries at half the batch (twice at most) and
extrapolates the peaks linearly in the batch from the build-time memory (marked "est."), since
weights and optimizer state are fixed and activations scale with the batch.

Paper C is the WGAN of the paper's default (weight clipping, RMSProp 5e-5): one step = 5 critic
updates + 1 generator update, timed at generator step 26 (the first 25 steps and every 500th take
100 critic updates: 17x the steady step's critic work).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> (paper letter, description, the train script's flags set explicitly = the paper's settings)
CONFIGS = {
    "A1": ("A", "GLCIC stage 1 (G, MSE + VGG)", dict(stage=1, image_size=128, batch_size=96, width=64,
                                                    local_size=64, fc_units=1024, residual=False)),
    "A2": ("A", "GLCIC stage 2 (D, G frozen)", dict(stage=2, image_size=128, batch_size=96, width=64,
                                                   local_size=64, fc_units=1024, residual=False)),
    "A3": ("A", "GLCIC stage 3 (G + D + VGG)", dict(stage=3, image_size=128, batch_size=96, width=64,
                                                   local_size=64, fc_units=1024, residual=False)),
    "B": ("B", "unsupervised DCGAN inpainting", dict(image_size=64, batch_size=64, width=64, code_dim=100,
                                                     residual=False)),
    "C": ("C", "WGAN (clipping), 5 critic + 1 G", dict(image_size=64, batch_size=64, width=64, z_dim=100,
                                                        gp=False, loss="wasserstein")),
    "D": ("D", "context encoder, l_rec + l_adv", dict(image_size=128, batch_size=50, width=64, bottleneck=4000,
                                                      mask="center", rec_only=False, lr=0.001, d_lr=0.001)),
    "E-stacked": ("E", "StackedG, 2 D + 1 G updates", dict(variant="stacked")),
    "E-res_bn": ("E", "ResG, 2 D + 1 G updates", dict(variant="res_bn")),
    "E-nonbn_res": ("E", "NonBN-ResG, 2 D + 1 G updates", dict(variant="nonbn_res")),
    "E-nonbn_res_l": ("E", "NonBN-ResG-L (+ VGG19 losses)", dict(variant="nonbn_res_l")),
}
for _name, (_p, _d, _v) in CONFIGS.items():
    if _p == "E":
        _v.update(image_size=96, batch_size=16, filters=64, blocks=5, d_filters=64, d_dense=1024,
                  global_residual=False)

C_STEADY_STEP = 26        # wgan.n_critic_schedule: 5 critic updates from generator step 25 on (not 500k)
GIB = 1024 ** 3


# ----------------------------------------------------------------------------- child: one config

def _rss_bytes():
    """Current resident memory of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _batch_fn(paper, values, module):
    """A function i -> the step's argument (C: an iterator of real batches), synthetic and fixed."""
    import numpy as np
    import tensorflow as tf

    from bench.steps import _images

    s, b = values["image_size"], values["batch_size"]
    if paper == "A":
        from data.masks import example_seed, make_mask
        mb = [make_mask("glcic", example_seed(0, k), s, s, local=values["local_size"], hole_min=s * 24 // 128,
                        hole_max=s * 48 // 128) for k in range(b)]
        batch = dict(image=_images(0, b, s), mask=tf.stack([m for m, _ in mb]), box=tf.stack([x for _, x in mb]))
        return lambda i: batch
    if paper == "B":
        from data.masks import example_seed, make_mask
        mask = tf.stack([make_mask("center" if k % 2 else "rectangles", example_seed(0, k), s, s)[0]
                         for k in range(b)])
        batch = dict(damaged=module.damaged_view(_images(0, b, s), mask), mask=mask, real=_images(1, b, s))
        return lambda i: batch
    if paper == "C":
        ds = tf.data.Dataset.from_tensors(_images(0, b, s)).repeat()
        it = iter(ds)
        return lambda i: it
    if paper == "D":
        from models import context_encoder as ce
        img = _images(0, b, s)
        batch = dict(image=img, mask=ce.center_mask_like(img))
        return lambda i: batch
    k = module.D_UPDATES + 1                                                  # E: [B, k, S, S, 3]
    sharp = tf.stack([_images(j, b, s) for j in range(k)], 1)
    blurred = tf.reshape(tf.nn.avg_pool2d(tf.reshape(sharp, [-1, s, s, 3]), 3, 1, "SAME"), sharp.shape)
    batch = dict(blurred=blurred, sharp=sharp)
    return lambda i: batch


def run_child(name, steps, slow, batch=None):
    """Build config `name`, run a warm-up step and `steps` timed steps; return the measurements."""
    import numpy as np
    import tensorflow as tf

    from bench import steps as bench_steps
    from training import setup
    from training.checkpoint import build_optimizer

    paper, _, values = CONFIGS[name]
    values = dict(values)
    if batch:
        values["batch_size"] = int(batch)
    rss_start = _rss_bytes()
    setup.set_seed(0)
    setup.set_precision("off")
    strategy = tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    device = "GPU:0" if gpus else "CPU:0"
    t = time.perf_counter()
    with strategy.scope():
        module, recipe = bench_steps._recipe(paper, strategy, False, 0, None, values)
        for opt, models in recipe.optimizers.values():
            models = models if isinstance(models, list) else [models]
            build_optimizer(opt, [v for m in models for v in m.trainable_variables])
    build_s = time.perf_counter() - t
    m = recipe.models
    count = lambda ms: int(sum(np.prod(v.shape) for x in ms for v in x.trainable_variables))
    gen = [m["encoder"], m["decoder"]] if paper == "D" else [m["generator"]]
    params_g = count(gen)
    params_d = count([m["discriminator"]]) if "discriminator" in m else 0
    resident = {id(v): v for x in list(m.values()) + [e for e in recipe.extras.values()
                                                       if hasattr(e, "weights")] for v in x.weights}
    for opt, _ in recipe.optimizers.values():
        resident.update({id(v): v for v in opt.variables})
    state_bytes = int(sum(np.prod(v.shape) * np.dtype(getattr(v.dtype, "name", v.dtype)).itemsize
                          for v in resident.values()))
    if paper == "C":
        recipe.counter.assign(C_STEADY_STEP)
    batch_of = _batch_fn(paper, values, module)
    rss_build = _rss_bytes()
    try:
        tf.config.experimental.reset_memory_stats(device)
    except (ValueError, RuntimeError):
        pass

    def one(i):
        out = recipe.step(batch_of(i))
        losses = {k: float(v) for k, v in out.items()}                      # fetch: the step is done
        if paper == "C":
            recipe.counter.assign(C_STEADY_STEP)
        return losses

    t = time.perf_counter()
    losses = one(0)
    warm_s = time.perf_counter() - t
    n = steps if warm_s <= slow else 1
    times = []
    for i in range(n):
        t = time.perf_counter()
        losses = one(i + 1)
        times.append(time.perf_counter() - t)
    try:
        tensor_peak = int(tf.config.experimental.get_memory_info(device)["peak"])
    except (ValueError, RuntimeError):
        tensor_peak = None
    step_s = statistics.median(times)
    return dict(config=name, paper=paper, image=values["image_size"], batch=values["batch_size"],
                params_g=params_g, params_d=params_d, state_bytes=state_bytes, device=device,
                rss_start_bytes=rss_start, rss_build_bytes=rss_build,
                rss_peak_self_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                tensor_peak_bytes=tensor_peak, build_s=build_s, warmup_s=warm_s, step_times_s=times,
                step_s=step_s, images_per_s=values["batch_size"] / step_s,
                losses={k: v for k, v in losses.items() if np.isfinite(v)}, values=values)


# ----------------------------------------------------------------------------- parent: one subprocess each

def _mem_available():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _rss_of(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def spawn(name, args, batch=None, log=print):
    """Run one config in a child process; (result dict or None, note). The child is stopped once
    its resident memory exceeds args.max_rss_gb."""
    limit = args.max_rss_gb * GIB
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, "-m", "bench.paper_step", "--child", name, "--steps", str(args.steps),
           "--slow", str(args.slow), "--out", out] + (["--batch", str(batch)] if batch else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
               PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sys.stderr, stderr=sys.stderr)
    peak_polled, killed = 0, False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = _rss_of(proc.pid)
        peak_polled = max(peak_polled, rss)
        if rss > limit and not killed:
            log(f"{name}: resident memory {rss / GIB:.1f} GB > --max-rss-gb {args.max_rss_gb:.1f}: stopping it")
            proc.kill()
            killed = True
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)       # reaped here, not by Popen
    try:
        result = json.loads(Path(out).read_text()) if not killed and proc.returncode == 0 else None
    except ValueError:
        result = None
    finally:
        Path(out).unlink(missing_ok=True)
    if result is None:
        if killed:
            why = f"stopped at {peak_polled / GIB:.1f} GB resident (> --max-rss-gb {args.max_rss_gb:.1f})"
        elif proc.returncode == -9:
            why = (f"killed by SIGKILL, the kernel's out-of-memory killer presumably, at >= {peak_polled / GIB:.1f} "
                   f"GB resident (polled every 0.2 s)")
        else:
            why = f"failed (exit {proc.returncode}) at >= {peak_polled / GIB:.1f} GB resident"
        return None, why
    result["rss_peak_bytes"] = usage.ru_maxrss * 1024                          # this child's peak, from wait4
    return result, ""


def measure(name, args, log=print):
    """One config at its paper batch; if it does not fit, at half / a quarter of it, extrapolated."""
    batch = args.batch or CONFIGS[name][2]["batch_size"]
    t = time.perf_counter()
    load = os.getloadavg()[0]
    result, why = spawn(name, args, args.batch, log)
    if result is not None:
        result["note"] = ""
        result["load_before_after"] = [load, os.getloadavg()[0]]
        log(f"{name}: done in {time.perf_counter() - t:.0f} s")
        return result
    notes = [f"batch {batch}: {why}"]
    for smaller in (batch // 2, batch // 4):
        if smaller < 1:
            break
        log(f"{name}: retrying at batch {smaller}")
        result, why = spawn(name, args, smaller, log)
        if result is None:
            notes.append(f"batch {smaller}: {why}")
            continue
        f = batch / smaller                       # activations scale with the batch, the state does not
        base = result["rss_build_bytes"]
        result["rss_peak_est_bytes"] = base + (result["rss_peak_bytes"] - base) * f
        if result["tensor_peak_bytes"] is not None:
            state = result["state_bytes"]
            result["tensor_peak_est_bytes"] = state + (result["tensor_peak_bytes"] - state) * f
        result["step_s_est"] = result["step_s"] * f
        result["measured_batch"], result["batch"] = smaller, batch
        result["note"] = "; ".join(notes) + f"; measured at batch {smaller}, peaks and s/step extrapolated (est.)"
        result["load_before_after"] = [load, os.getloadavg()[0]]
        return result
    return dict(config=name, paper=CONFIGS[name][0], batch=batch, note="; ".join(notes), failed=True)


def _gb(x):
    return "-" if x is None else f"{x / GIB:.2f}"


def markdown(rows, meta):
    head = (f"One training step at paper width, size and batch; {meta['machine']}, {meta['threads']} threads, "
            f"TensorFlow {meta['tensorflow']}, float32, no XLA; VGG19 with random weights (same cost); "
            f"synthetic batches in memory; {meta['steps']} timed step(s) after 1 warm-up "
            f"(1 when the warm-up took > {meta['slow']:.0f} s).")
    head += (" load avg: the machine's 1-minute load average before / after the config (other processes' "
             "work slows the step when it exceeds the cores).")
    out = [head, "",
           "| config | what | image, batch | params G / D (M) | state MB | tensor peak GB | RSS build / peak GB "
           "| warm-up s | s/step | images/s | load avg |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        what = CONFIGS[r["config"]][1]
        if r.get("failed"):
            out.append(f"| {r['config']} | {what} | batch {r['batch']} | | | | | | {r['note']} | | |")
            continue
        est = "rss_peak_est_bytes" in r
        tensor = (f"{_gb(r.get('tensor_peak_est_bytes'))} est. ({_gb(r['tensor_peak_bytes'])} at {r['measured_batch']})"
                  if est else _gb(r["tensor_peak_bytes"]))
        rss = (f"{_gb(r['rss_build_bytes'])} / {_gb(r['rss_peak_est_bytes'])} est. "
               f"({_gb(r['rss_peak_bytes'])} at {r['measured_batch']})" if est
               else f"{_gb(r['rss_build_bytes'])} / {_gb(r['rss_peak_bytes'])}")
        step = (f"{r['step_s_est']:.2f} est. ({r['step_s']:.2f} at {r['measured_batch']})" if est
                else f"{r['step_s']:.2f}" + (f" (n={len(r['step_times_s'])})"))
        rate = r["batch"] / (r["step_s_est"] if est else r["step_s"])
        out.append(f"| {r['config']} | {what} | {r['image']} px, {r['batch']} | {r['params_g'] / 1e6:.2f} / "
                   f"{r['params_d'] / 1e6:.2f} | {r['state_bytes'] / 1e6:.0f} | {tensor} | {rss} | "
                   f"{r['warmup_s']:.1f} | {step} | {rate:.1f} | {' / '.join(f'{x:.1f}' for x in r['load_before_after'])} |")
    notes = [f"- {r['config']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(out + ([""] + notes if notes else []))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, among: %(default)s")
    p.add_argument("--steps", type=int, default=2, help="timed steps after the warm-up (default: %(default)s)")
    p.add_argument("--slow", type=float, default=120.0,
                   help="time 1 step only when the warm-up took longer than this many seconds (default: %(default)s)")
    p.add_argument("--batch", type=int, default=None, help="override every config's batch (plumbing checks)")
    p.add_argument("--max-rss-gb", type=float, default=None,
                   help="stop a child above this resident memory (default: available memory at launch - 1 GB)")
    p.add_argument("--markdown", default=None, help="also write the table here")
    p.add_argument("--json", default=None, help="write the rows and the machine here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:                                       # inside the subprocess: one config
        result = run_child(args.child, args.steps, args.slow, args.batch)
        Path(args.out).write_text(json.dumps(result))
        return 0

    names = [x.strip() for x in args.configs.split(",") if x.strip()]
    bad = [x for x in names if x not in CONFIGS]
    if bad:
        p.error(f"unknown config(s) {', '.join(bad)}; choose among {', '.join(CONFIGS)}")
    if args.max_rss_gb is None:
        args.max_rss_gb = max(1.0, ((_mem_available() or 8 * GIB) - GIB) / GIB)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    log(f"configs {', '.join(names)}; stopping any child above {args.max_rss_gb:.1f} GB resident")
    rows = []
    for name in names:
        rows.append(measure(name, args, log))
        if args.json:                                    # partial results survive an interrupted run
            Path(args.json).write_text(json.dumps(dict(rows=rows), indent=1))
    import platform
    from bench.throughput import cpu_model
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    machine = (f"{len(gpus)} GPU(s)" if gpus else f"{os.cpu_count()}-core CPU ({cpu_model()})")
    meta = dict(machine=machine, threads=os.cpu_count(), tensorflow=tf.__version__, steps=args.steps,
                slow=args.slow, platform=platform.platform(), max_rss_gb=args.max_rss_gb)
    table = markdown(rows, meta)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
