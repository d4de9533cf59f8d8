"""What a GPU must hold: peak memory and seconds of ONE training step at the paper's width, image
size and batch (issue 23, item 4), measured on whatever machine runs it (a CPU here).

    python -m bench.paper_step                                   # every config of every paper, one by one
    python -m bench.paper_step --list                            # the configs and what each runs
    python -m bench.paper_step --configs A3,D --steps 3 --markdown mem.md --json mem.json
    python -m bench.paper_step --batch 4                         # every batch = 4
    python -m bench.paper_step --size tiny --steps 1             # plumbing check: tiny widths (seconds each)

The configs come from the paper registry (papers.py): each registered paper's train script names its
rows in its `paper_step_rows()` hook (suffix -> what it runs and the flags that make it: paper A's
stages 1-3 are A1..A3, paper E's four models E-stacked..E-nonbn_res_l; a paper without the hook has
one row, its letter). Each config runs in its own subprocess (so one paper's allocations never
inflate the next one's peak), sequentially, and builds its models, optimizers and step with
bench/steps.build at the paper's "paper" bench size (papers.py: the card's width, image size and
batch), i.e. with the train script's own build(config, strategy) on the script's parser defaults,
which are the paper card's [paper] settings (the demo's aids are off). VGG19 has RANDOM weights
(weights=None): the same graph and cost as ImageNet weights, which timing does not need. Batches
are the hook's synthetic ones (smooth images, holes, blur by a box filter), made once, in memory:
the step alone, no input pipeline (bench/throughput.py has that).

Per config the child process reports:
  params G / D     trainable parameters (G: every network but the discriminator, e.g. encoder + decoder;
                   VGG19 is frozen, not counted)
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

from bench import report

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024 ** 3


# ----------------------------------------------------------------------------- the configs

def configs(letters=None, size="paper"):
    """name -> (paper letter, what it runs, the flags that make it, its batch at bench size `size`) of
    every registered paper (or of `letters`), named letter + the suffixes of its train script's
    paper_step_rows()."""
    import papers
    out = {}
    for letter in papers.LETTERS if letters is None else letters:
        paper = papers.PAPERS[letter]
        module = papers.train_module(letter)
        rows = module.paper_step_rows() if hasattr(module, "paper_step_rows") else {"": (paper.name, {})}
        for suffix, (what, flags) in rows.items():
            out[f"{letter}{suffix}"] = (letter, what, dict(flags), paper.bench[size]["batch"])
    return out


def listed(size="paper"):
    """configs() from a subprocess: the train scripts (and TensorFlow) stay out of the parent, whose
    memory the children's limit (--max-rss-gb) is measured beside."""
    out = subprocess.run([sys.executable, "-m", "bench.paper_step", "--list-json", "--size", size], cwd=ROOT,
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONWARNINGS="ignore")).stdout
    return {name: tuple(row) for name, row in json.loads(out.strip().splitlines()[-1]).items()}


# ----------------------------------------------------------------------------- child: one config

def _rss_bytes():
    """Current resident memory of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_child(name, steps, slow, batch=None, size="paper"):
    """Build config `name` (at bench size `size`), run a warm-up step and `steps` timed steps; return the measurements."""
    import numpy as np
    import tensorflow as tf

    import papers
    from bench import steps as bench_steps

    paper, what, flags, _ = configs([x for x in papers.LETTERS if name.startswith(x)], size)[name]
    rss_start = _rss_bytes()
    gpus = tf.config.list_logical_devices("GPU")
    device = "GPU:0" if gpus else "CPU:0"
    t = time.perf_counter()
    built = bench_steps.build(paper, size, "off", False, seed=0, vgg_weights=None, batch=batch, flags=flags)
    build_s = time.perf_counter() - t
    m = built.models
    count = lambda ms: int(sum(np.prod(v.shape) for x in ms for v in x.trainable_variables))
    params_g = count([x for k, x in m.items() if k != "discriminator"])
    params_d = count([m["discriminator"]]) if "discriminator" in m else 0
    resident = {id(v): v for x in list(m.values()) + [e for e in built.extras.values()
                                                       if hasattr(e, "weights")] for v in x.weights}
    for opt, _ in built.optimizers:
        resident.update({id(v): v for v in opt.variables})
    state_bytes = int(sum(np.prod(v.shape) * np.dtype(getattr(v.dtype, "name", v.dtype)).itemsize
                          for v in resident.values()))
    fixed = built.batch(0)                  # one synthetic batch, made before any measurement
    rss_build = _rss_bytes()
    try:
        tf.config.experimental.reset_memory_stats(device)
    except (ValueError, RuntimeError):
        pass

    def one(i):
        out = built.call(i, fixed)
        return {k: float(v) for k, v in out.items()}                       # fetch: the step is done

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
    return dict(config=name, paper=paper, what=what, label=built.name, image=built.image_size,
                batch=built.batch_size, params_g=params_g, params_d=params_d, state_bytes=state_bytes, device=device,
                rss_start_bytes=rss_start, rss_build_bytes=rss_build,
                rss_peak_self_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                tensor_peak_bytes=tensor_peak, build_s=build_s, warmup_s=warm_s, step_times_s=times,
                step_s=step_s, images_per_s=built.batch_size / step_s,
                losses={k: v for k, v in losses.items() if np.isfinite(v)},
                values=dict(flags, image_size=built.image_size, batch_size=built.batch_size))


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
           "--slow", str(args.slow), "--size", args.size, "--out", out] + (["--batch", str(batch)] if batch else [])
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


def measure(name, row, args, log=print):
    """One config (`row`: configs()[name]) at its paper batch; if it does not fit, at half / a quarter
    of it, extrapolated."""
    batch = args.batch or row[3]
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
    return dict(config=name, paper=row[0], what=row[1], batch=batch, note="; ".join(notes), failed=True)


def _gb(x):
    return "-" if x is None else f"{x / GIB:.2f}"


def markdown(rows, meta):
    scale = "paper width, size and batch" if meta["size"] == "paper" else f"the {meta['size']} bench size"
    head = (f"One training step at {scale}; {meta['machine']}, {meta['threads']} threads, "
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
        what = r["what"]
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
    p.add_argument("--configs", default=None,
                   help="comma-separated config names (default: all of them; --list shows them)")
    p.add_argument("--list", action="store_true", help="list the configs and what each runs, then stop")
    p.add_argument("--steps", type=int, default=2, help="timed steps after the warm-up (default: %(default)s)")
    p.add_argument("--slow", type=float, default=120.0,
                   help="time 1 step only when the warm-up took longer than this many seconds (default: %(default)s)")
    p.add_argument("--batch", type=int, default=None, help="override every config's batch (plumbing checks)")
    p.add_argument("--size", choices=("tiny", "small", "paper"), default="paper",
                   help="the registry's bench size: tiny is a plumbing check of seconds (default: %(default)s)")
    p.add_argument("--max-rss-gb", type=float, default=None,
                   help="stop a child above this resident memory (default: available memory at launch - 1 GB)")
    p.add_argument("--markdown", default=None, help="also write the table here")
    p.add_argument("--json", default=None, help="write the rows and the machine here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--list-json", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:                                       # inside the subprocess: one config
        result = run_child(args.child, args.steps, args.slow, args.batch, args.size)
        Path(args.out).write_text(json.dumps(result))
        return 0
    if args.list_json:                                   # for listed(): one JSON line
        print(json.dumps(configs(size=args.size)))
        return 0

    known = listed(args.size)
    if args.list:
        for name, (_, what, flags, batch) in known.items():
            flags = ", ".join(f"{k}={v}" for k, v in flags.items())
            print(f"{name:16} {what}; batch {batch}" + (f"; flags {flags}" if flags else ""))
        return 0
    names = [x.strip() for x in args.configs.split(",") if x.strip()] if args.configs else list(known)
    bad = [x for x in names if x not in known]
    if bad:
        p.error(f"unknown config(s) {', '.join(bad)}; choose among {', '.join(known)}")
    if args.max_rss_gb is None:
        args.max_rss_gb = max(1.0, ((_mem_available() or 8 * GIB) - GIB) / GIB)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    log(f"configs {', '.join(names)}; stopping any child above {args.max_rss_gb:.1f} GB resident")
    rows = []
    for name in names:
        rows.append(measure(name, known[name], args, log))
        if args.json:                                    # partial results survive an interrupted run
            Path(args.json).write_text(json.dumps(dict(rows=rows), indent=1))
    import platform

    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    gpu_names = [tf.config.experimental.get_device_details(g).get("device_name", "") for g in gpus]
    meta = dict(machine=report.machine(gpu_names), threads=os.cpu_count(), tensorflow=tf.__version__,
                steps=args.steps, slow=args.slow, size=args.size, platform=platform.platform(), max_rss_gb=args.max_rss_gb)
    report.publish(markdown(rows, meta), meta, rows, args.markdown, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
