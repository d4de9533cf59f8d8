"""Throughput of every paper's training step, its input pipeline and its inference network.

    python -m bench.throughput --small                      # CPU: reduced widths and sizes (minutes)
    python -m bench.throughput --size tiny --repeats 1      # plumbing check (tiny models, seconds a paper)
    python -m bench.throughput                              # paper resolution and batch size
    python -m bench.throughput --small --xla --mixed-precision bfloat16 --papers A,E
    python -m bench.throughput --data DIR_OF_JPEGS --json bench.json --markdown bench.md

Per registered paper (papers.LETTERS; bench/steps.py builds the REAL step of its train script at the
registry's bench size, through the script's `synthetic` hook; its `step_macs` and `bench_pipeline`
hooks give the FLOP count and the input pipeline):
  step        images/s of the training step alone on synthetic batches already in memory
              (after warm-up; median of --repeats timed steps, each ended by fetching the losses)
  full        images/s of the step fed by the real input pipeline (data/pipeline.py on a folder of
              JPEGs: decode + resize/crop + masks or blur + batching), median per step
  pipeline    images/s of the input pipeline alone (same dataset, nothing consumes it but a fetch)
  shards      the same pipeline reading the folder converted once by data/shards.py (decoded
              images at the training size, or full decoded images for a paper that takes random crops)
  infer       milliseconds per image of the inference network (batch = the training batch)
  GFLOP/step  ANALYTIC count: 2 x the multiply-accumulates of every Conv2D, Conv2DTranspose and
              Dense layer (from the layer shapes), times the passes each network makes in the step
              (forward 1, backward 2 for a trained network, 1 more for a network gradients flow
              through; WGAN-GP's double backprop counted as 3 critic passes), see `step_flops`
  %peak       achieved FLOP/s of the step / the machine's peak, measured in the same run as the
              best of a 4096^2 float32 matmul and a 3x3 conv (bfloat16 matmul with --mixed-precision)
  pipe/step   pipeline images/s / step images/s (JPEG | shards); issue 8 asks for >= 3 on the CPU
  GPU need    images/s a GPU step would consume: MEASURED on an H100 in bfloat16 by bench/jax_proxy.py
              (the same networks and passes on Keras's JAX backend; --gpu-json, default
              bench/results/h100_jax_proxy_bfloat16.json, at paper size only), else an ESTIMATE:
              FLOPs/image at --gpu-tflops (default 120 = 40% of an H100's ~300 TFLOP/s dense bf16);
              and the CPU cores the faster pipeline would need to keep up (its images/s per core
              measured here).
Writes a markdown table (stdout and --markdown) and JSON (--json).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bench import report, steps
from bench.flops import forward_macs, median_time
from training import setup


# ----------------------------------------------------------------------------- machine peak

def measure_peak(dtype=tf.float32, n=4096, repeats=5):
    """Best FLOP/s of a large matmul and a large 3x3 conv on this machine (the denominator of %peak)."""
    a = tf.random.normal([n, n], dtype=tf.float32)
    a = tf.cast(a, dtype)
    mm = tf.function(lambda: tf.reduce_sum(tf.cast(tf.linalg.matmul(a, a)[0, :1], tf.float32)))
    matmul = 2 * n ** 3 / median_time(lambda: mm().numpy(), repeats)
    x = tf.cast(tf.random.normal([8, 64, 64, 256]), dtype)
    k = tf.cast(tf.random.normal([3, 3, 256, 256]), dtype)
    cv = tf.function(lambda: tf.reduce_sum(tf.cast(tf.nn.conv2d(x, k, 1, "SAME")[0, 0, 0, :1], tf.float32)))
    conv = 2 * 8 * 64 * 64 * 9 * 256 * 256 / median_time(lambda: cv().numpy(), repeats)
    return {"matmul_flops": matmul, "conv_flops": conv, "peak_flops": max(matmul, conv), "dtype": dtype.name}


# ----------------------------------------------------------------------------- FLOPs

def step_flops(built):
    """Analytic FLOPs of one training step (the whole global batch) of a Built, and the formula: the
    train script's step_macs(models, config, forward_macs) hook counts the passes of its step through
    each network (`models`: the recipe's and the Keras models among its extras, e.g. its VGG;
    `forward_macs(model)`: bench/flops.py's count at the step's image size)."""
    import papers
    nets = dict(built.models, **{k: v for k, v in built.extras.items() if isinstance(v, keras.Model)})
    macs = lambda model: forward_macs(model, built.image_size)
    per, text = papers.train_module(built.paper).step_macs(nets, built.config, macs)
    return 2 * per * built.batch_size, text + " forward passes per example, x 2 FLOPs/MAC x batch"


# ----------------------------------------------------------------------------- input pipeline

def make_jpeg_folder(folder, n=64, height=240, width=320):
    """n JPEG photos (crops of scikit-image's sample photos, quality 90) in `folder`, once."""
    import cv2
    from skimage import data
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.jpg"))) >= n:
        return folder
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field(),
              data.retina()]
    rng = np.random.default_rng(0)
    for i in range(n):
        img = photos[i % len(photos)]
        scale = max(height / img.shape[0], width / img.shape[1]) * rng.uniform(1.0, 1.5)
        img = cv2.resize(img, (int(img.shape[1] * scale) + 1, int(img.shape[0] * scale) + 1))
        t = rng.integers(0, img.shape[0] - height + 1)
        l = rng.integers(0, img.shape[1] - width + 1)
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), cv2.cvtColor(img[t:t + height, l:l + width], cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder


def pipeline(paper, size, batch):
    """The paper's real training input (data/pipeline.py via the train script's bench_pipeline hook):
    dict(dataset=folder -> tf.data.Dataset, per_element=training images one element holds per example
    (1; E: d_updates + 1 crops), shards=how data/shards.py resizes the folder for it ("crop" or "none"))."""
    import papers
    return dict(dict(per_element=1, shards="crop"), **papers.train_module(paper).bench_pipeline(size, batch))


def prepared_folder(folder, resize, size):
    """The bench's JPEG folder converted once by data/shards.py (`resize`: "crop" to size x size, or
    "none": whole decoded photos, for a paper that takes random crops)."""
    from data import shards
    out = Path(tempfile.gettempdir()) / "bench_shards" / f"{Path(folder).name}-{resize}{size if resize == 'crop' else ''}"
    shards.convert(str(folder), out, size if resize == "crop" else None, resize, progress=False)
    return out


def gpu_rates(path):
    """paper -> (images/s, where it came from) measured by bench/jax_proxy.py, if `path` exists."""
    if not path or not Path(path).is_file():
        return {}
    data = json.loads(Path(path).read_text())
    where = f"measured: {data['meta']['device'].split(' (')[0]}, {data['meta']['precision']}, JAX proxy"
    return {r["paper"]: (r["step_images_per_s"], where) for r in data["rows"]}


def measure_pipeline(ds, batch, per_element, repeats):
    it = iter(ds)
    for _ in range(3):
        tf.nest.map_structure(lambda t: t.numpy(), next(it))
    n = max(repeats * 2, 10)
    t = time.perf_counter()
    for _ in range(n):
        tf.nest.map_structure(lambda t: t.numpy()[..., :1], next(it))
    return n * batch * per_element / (time.perf_counter() - t)


# ----------------------------------------------------------------------------- one paper

def bench_paper(paper, args, folder, peak, log):
    size = args.size
    built = steps.build(paper, size, args.mixed_precision, args.xla, vgg_weights=None)
    b, s = built.batch_size, built.image_size
    imgs_per_step = built.images_per_step              # real images a step consumes
    batches = [built.batch(i) for i in range(2)]
    counter = iter(range(10 ** 9))

    def run_step():
        i = next(counter)
        return [v.numpy() for v in built.call(i, batches[i % 2]).values()]

    t_step = median_time(run_step, args.repeats, warmup=2)
    flops, formula = step_flops(built)

    feed = pipeline(paper, s, b)
    per_el = feed["per_element"]
    full_step = built.feed(feed["dataset"](folder))
    t_full = median_time(lambda: [v.numpy() for v in full_step().values()], args.repeats, warmup=2)
    pipe = measure_pipeline(feed["dataset"](folder), b, per_el, args.repeats)
    pipe_shards = measure_pipeline(feed["dataset"](prepared_folder(folder, feed["shards"], s)), b, per_el,
                                   args.repeats)
    best_per_core = max(pipe, pipe_shards) / os.cpu_count()

    img = built.sample(batches[0])
    infer = tf.function(built.infer)
    t_inf = median_time(lambda: infer(img).numpy(), args.repeats)
    step_rate = imgs_per_step / t_step
    gpu_rate, gpu_source = args.gpu_tflops * 1e12 / (flops / imgs_per_step), f"estimate at {args.gpu_tflops} TFLOP/s"
    measured = gpu_rates(args.gpu_json).get(paper) if size == "paper" else None
    if measured:
        gpu_rate, gpu_source = measured
    row = dict(paper=paper, name=built.name, size=size, image=s, batch=b, images_per_step=imgs_per_step,
               step_images_per_s=step_rate, full_images_per_s=imgs_per_step / t_full, pipeline_images_per_s=pipe,
               infer_ms_per_image=1e3 * t_inf / b, gflop_per_step=flops / 1e9, flop_count="analytic per layer",
               flop_formula=formula, achieved_tflops=flops / t_step / 1e12,
               fraction_of_peak=flops / t_step / peak["peak_flops"], pipe_over_step=pipe / step_rate,
               shards_images_per_s=pipe_shards, shards_over_step=pipe_shards / step_rate,
               gpu_images_per_s=gpu_rate, gpu_source=gpu_source, cores=os.cpu_count(),
               pipeline_images_per_s_per_core=best_per_core, gpu_cores_needed=gpu_rate / best_per_core)
    log(f"{built.name}: step {step_rate:.1f} img/s, full {row['full_images_per_s']:.1f}, pipeline {pipe:.1f}, "
        f"shards {pipe_shards:.1f}, "
        f"{row['gflop_per_step']:.2f} GFLOP/step, {100 * row['fraction_of_peak']:.1f}% of peak")
    return row


# ----------------------------------------------------------------------------- output

def markdown(rows, meta):
    out = [f"measured on: {meta['machine']}; mixed precision {meta['mixed_precision']}, XLA {meta['xla']}; "
           f"peak {meta['peak']['peak_flops'] / 1e9:.0f} GFLOP/s ({meta['peak']['dtype']} matmul "
           f"{meta['peak']['matmul_flops'] / 1e9:.0f}, conv {meta['peak']['conv_flops'] / 1e9:.0f})", "",
           "| paper | size, batch | step img/s | full img/s | pipeline img/s JPEG / shards | pipe/step "
           "| infer ms/img | GFLOP/step | % peak | GPU need img/s | cores to feed it |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['image']} px, {r['batch']} | {r['step_images_per_s']:.1f} | "
                   f"{r['full_images_per_s']:.1f} | {r['pipeline_images_per_s']:.0f} / {r['shards_images_per_s']:.0f} | "
                   f"{r['pipe_over_step']:.1f}x / {r['shards_over_step']:.1f}x | "
                   f"{r['infer_ms_per_image']:.2f} | {r['gflop_per_step']:.2f} | {100 * r['fraction_of_peak']:.1f} | "
                   f"{r['gpu_images_per_s']:.0f} ({r['gpu_source']}) | {r['gpu_cores_needed']:.1f} |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=steps.SIZE_NAMES, default="paper",
                   help="the registry's bench size (papers.py `bench`): tiny (seconds, a plumbing check), small "
                        "(reduced widths and sizes for a CPU) or paper (default: %(default)s)")
    p.add_argument("--small", dest="size", action="store_const", const="small", help="= --size small")
    p.add_argument("--papers", default=None, help="comma-separated paper letters (default: every registered paper)")
    p.add_argument("--mixed-precision", choices=tuple(setup.POLICIES), default="off")
    p.add_argument("--xla", action="store_true")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions, median (default: %(default)s)")
    p.add_argument("--data", default=None, help="folder of JPEGs (default: 64 generated 320x240 JPEGs)")
    p.add_argument("--gpu-json", default=str(Path(__file__).parent / "results" / "h100_jax_proxy_bfloat16.json"),
                   help="GPU images/s measured by bench/jax_proxy.py (used at paper size; default: %(default)s)")
    p.add_argument("--gpu-tflops", type=float, default=120.0,
                   help="sustained GPU TFLOP/s for the GPU-need estimate (default: %(default)s)")
    p.add_argument("--json", default=None, help="write the rows and the machine here")
    p.add_argument("--markdown", default=None, help="write the table here")
    args = p.parse_args(argv)
    registered = steps.PAPERS
    letters = [x.strip().upper() for x in args.papers.split(",") if x.strip()] if args.papers else list(registered)
    bad = [x for x in letters if x not in registered]
    if bad:
        from errors import UserError
        raise UserError(f"--papers takes letters among {','.join(registered)}, not {','.join(bad)}")
    folder = Path(args.data) if args.data else make_jpeg_folder(Path(tempfile.gettempdir()) / "bench_jpegs")
    gpus = tf.config.list_physical_devices("GPU")
    machine = report.machine(tf.config.experimental.get_device_details(g).get("device_name", "") for g in gpus)
    peak = measure_peak(tf.bfloat16 if args.mixed_precision != "off" else tf.float32)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    log(f"peak: {peak}")
    rows = []
    for paper in letters:
        rows.append(bench_paper(paper, args, folder, peak, log))
        keras.backend.clear_session()
    setup.set_precision("off")
    meta = dict(machine=machine, mixed_precision=args.mixed_precision, xla=args.xla, size=args.size,
                small=args.size == "small", peak=peak, data=str(folder), tensorflow=tf.__version__,
                gpu_tflops_assumed=args.gpu_tflops)
    report.publish(markdown(rows, meta), meta, rows, args.markdown, args.json)
    return 0


if __name__ == "__main__":
    from errors import cli
    cli(main)
