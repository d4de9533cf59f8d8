"""The whole repository in one command, offline, on a CPU: train every paper's model on the
photographs bundled with scikit-image, score them against the trivial and classical baselines and
their own untrained twins on held-out bundled photos, and write tables, picture grids and loss
curves to results/.

    python demo.py                 # about 10 minutes on 2 CPU cores: does every model learn?
    python demo.py --budget long   # about an hour on 2 CPU cores (minutes on a GPU): the proxy
                                   # reproduction, each paper's claim checked (results/proxy/claims.md)
    python demo.py --quick         # seconds-scale wiring check (1-2 steps, 1 image)
    python demo.py --budget long --dataset ~/photos   # the same on your own photos: every 5th is
                                   # held out and scored, the rest are trained on (random crops)
    python demo.py --heldout-dataset ~/photos   # also score the models on photos they never saw
                                   # (e.g. `python -m experiments.foreign fetch`'s 27 wallpapers)

Demo and proxy scale, not the papers' scale: small networks, hundreds to a few thousand steps, 12
training photos (random multi-scale crops), 3 test photos, and VGG19's ImageNet weights only if
Keras' cache already holds them (else random weights, said loudly and written into every table, so
the perceptual/texture terms mean nothing; pass --vgg-weights PATH to use a downloaded file). The
docs/DEMO.md gives the measured figures; docs/papers/ the full-scale commands.

Results as it goes: after each model its table rows, grid and loss curve are in --out and README.md is
rewritten (models not trained yet are "not trained" rows). Rerunning reuses every model already
trained in --runs (default results/runs; delete it to retrain) and every table row already scored by
the same model files (evaluate.py --reuse-rows).
"""
import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import papers
import rundir
from errors import UserError, cli
import cliargs
from quiet_tf import import_tensorflow

VARIANTS = papers.PAPERS["E"].variants

# [choice] the demo's budget: small sizes and widths, steps per model; --quick shrinks the steps.
# d_args / e_args: demo-scale settings measured in docs/EXPERIMENTS.md (issue 14), not paper defaults:
# D at batch 16 with a 512-d bottleneck (BatchNorm at batch 2 and a 32-d code learn too slowly);
# E at width 16, batch 4, Adam 1e-3 (2e-3 until issue 25: with the rate really applied, StackedG and ResG
# did better at 1e-3; docs/EXPERIMENTS.md), one D update per G update (the paper's 1e-4 and 2:1 are for
# 500,000 steps; here every second of the budget goes to G). NonBN-ResG-L gets fewer steps (80; 150 until
# issue 25 made room for A): its VGG19 terms make a step ~4x dearer on a CPU, and with random weights
# they are noise, so it shows the paper's model runs, not what it learns. d_glcic (table A's Context
# Encoder) keeps its 200 steps at batch 2.
# A: batch 8 and 4000 stage-1 steps (at 120 steps x 4 its G had not left the mean fill it starts at;
# 800 until issue 25, when beta 0 stopped running VGG19 and a step became 4x cheaper; up to 3000 steps
# it learned nothing that transfers, at 4000 +0.5 / +1.2 dB over the mean fill; docs/EXPERIMENTS.md, A),
# and beta 0 while VGG19 has random weights (its "perceptual" term is then noise as large as the MSE).
# C (the DCGAN prior) at batch 32 (was the smoke build's 4) and Adam 5e-4 (DCGAN's 2e-4 is for 25 epochs of CelebA): hole PSNR 12.60 -> 16.03 dB at 200 steps
# (other seeds 15.57, 14.14: a GAN at 200 steps is noisy; docs/EXPERIMENTS.md, C).
# Per E variant, after e_args (issue 25, docs/EXPERIMENTS.md "per variant"): ResG and StackedG see a few
# unblurred examples (--sharp-fraction: input = target, so they learn to leave sharp, smooth content
# alone; on the foreign photos ResG -0.06 -> +0.15 dB over the blurred input), and StackedG, a plain
# 13-layer stack, learns at 5e-4 (at 1e-3 with unblurred examples it stops at the identity).
E_VARIANT_ARGS = dict(res_bn=("--sharp-fraction", "0.1"), stacked=("--lr", "5e-4", "--sharp-fraction", "0.02"))
FULL = dict(a_size=64, a_steps=(4000, 20, 60), a_batch=8, b_steps=200, c_steps=200, d_steps=500, d_glcic_steps=200,
            e_steps=450, e_steps_l=80,
            limit=None, latent_iterations=200, eval_n=3,
            d_args=("--batch-size", "16", "--bottleneck", "512"), c_args=("--batch-size", "32", "--lr", "5e-4"),
            e_args=("--filters", "16", "--batch-size", "4", "--lr", "1e-3", "--d-updates", "1"),
            e_variant_args=E_VARIANT_ARGS)
# The demo-scale aids: off in every paper default (papers.py's cards; a no-flag run is the paper), on in
# every demo and proxy run. Each is a [choice] in docs/PAPER_NOTES.md with its measured before/after:
# A's G outputs the per-image mean fill + a zero-initialised correction (64 px, 120 steps: 12.46 -> 15.32 dB
# in the hole); E's G adds its input to its output (width 8, 60 steps: 11.21 -> 28.08 dB); D's
# discriminator learns at a tenth of G's rate (32 px, 500 steps: 14.87 -> 15.72 dB in the hole), and D's
# G too outputs the mean fill + a correction (issue 25: 15.39 -> 16.57 dB bundled, 17.01 -> 20.22 foreign).
# A's colour jitter (issue 25): each training crop's colours changed at random, so G cannot learn the
# training photos' colours (a prior that cost 0.5-0.7 dB on photos of other light) and must use the surround.
AIDS = dict(A=("--residual", "--color-jitter"), D=("--d-lr", "1e-4", "--residual"), E=("--global-residual",))
# [choice] paper E's learning-rate drop x0.1 at this share of the demo's steps: the paper's schedule
# shape (x0.1 at 250,000 of 500,000). Until issue 25 the demo inherited --smoke's drop at step 2, so
# its "Adam 2e-3" was 2e-4 after two steps: on the foreign photos -1.36 dB against the blurred
# input; with the drop at half the steps NonBN-ResG beats it (docs/EXPERIMENTS.md, issue 25).
E_DECAY_SHARE = 0.5
# [choice] the proxy reproduction (issue 14 item 3): the demo's settings, 2-10x the steps.
LONG = dict(FULL, a_steps=(8000, 100, 400), b_steps=1000, c_steps=1000, d_steps=2000, d_glcic_steps=600,
            e_steps=1200, e_steps_l=500, latent_iterations=500)
# seconds per training step of each demo model on an idle 2-core machine (measured: a full demo run),
# for the time-left estimate; other budgets scale them by their step counts
SECONDS_PER_STEP = {   # the full demo of 2026-12-07 (issue 25): 486 s of training, 542 s in all
    "paper A stage 1": 0.0523, "paper A stage 2": 0.220, "paper A stage 3": 0.170, "paper B (unsupervised)": 0.059,
    "paper C (DCGAN prior)": 0.114, "paper D (GLCIC holes: table A's Context Encoder)": 0.034,
    "paper D (l_rec + l_adv)": 0.059, "paper D (l_rec)": 0.056, "paper E (stacked)": 0.097, "paper E (res_bn)": 0.104,
    "paper E (nonbn_res)": 0.086, "paper E (nonbn_res_l)": 0.420,
}
# the demo's models after ONE training step (issue 14's "step 0" rows): sizes, widths, aids and evaluation as FULL
STEP1 = dict(FULL, a_steps=(1, 1, 1), b_steps=1, c_steps=1, d_steps=1, e_steps=1, e_steps_l=1)
QUICK = dict(a_size=32, a_steps=(1, 1, 1), a_batch=4, b_steps=1, c_steps=1, d_steps=1, d_glcic_steps=1, e_steps=1,
             e_steps_l=1, limit=1, latent_iterations=2, eval_n=1, d_args=(), c_args=(), e_args=(), e_variant_args={})


def _done(run_dir, *files):
    return all((Path(run_dir) / f).exists() for f in files)


def plan(runs, budget, vgg, variants, train_dir=None):
    """[(label, run_dir, files that mark it trained, module name, argv)] in training order.
    train_dir: a folder of training photos (demo.py --dataset) instead of the bundled ones."""
    runs = Path(runs)
    quiet = ["--log-every", "50", "--save-every", "100000", "--image-every", "100000"]
    data, every = ["--dataset", "samples"], []
    if train_dir is not None:   # random crops as `samples` gives them; A and C select every photo
        from data.sources import SAMPLE_CROP_MIN, list_images   # TensorFlow: loaded once the flags are checked
        data = ["--dataset", str(train_dir), "--random-crops", str(SAMPLE_CROP_MIN)]
        n = str(len(list_images(train_dir)))
        every = ["--first", n, "--n-train", n]
    base = ["--smoke", *data, "--vgg-weights", vgg] + quiet
    s = budget["a_size"]
    a = base + ["--image-size", str(s), "--local-size", str(s // 2), "--hole-min", str(s * 24 // 128),
                "--hole-max", str(s * 48 // 128), "--width", "8" if s >= 64 else "4",
                "--batch-size", str(budget["a_batch"]), "--run-dir", str(runs / "a"), *AIDS["A"]] + every
    if vgg == "none":
        a += ["--beta", "0"]
    train = {letter: p.train_module for letter, p in papers.PAPERS.items()}
    export = {letter: f"{rundir.EXPORT}/{p.export}" for letter, p in papers.PAPERS.items()}
    items = [(f"paper A stage {k}", runs / "a", [f"{rundir.EXPORT}/{papers.PAPERS['A'].exports[f'stage{k}']}"], train["A"],
              a + ["--stage", str(k), "--steps", str(budget["a_steps"][k - 1])]) for k in (1, 2, 3)]
    wide = ["--image-size", "32", "--width", "16"]
    items += [
        ("paper B (unsupervised)", runs / "b", [export["B"]], train["B"],
         base + wide + ["--steps", str(budget["b_steps"]), "--run-dir", str(runs / "b")]),
        ("paper C (DCGAN prior)", runs / "c", [rundir.CONFIG_NAME, rundir.CKPT], train["C"],
         ["train", "--loss", "bce"] + base + wide + every + [*budget["c_args"],
                                                             "--steps", str(budget["c_steps"]), "--run-dir", str(runs / "c")]),
        ("paper D (GLCIC holes: table A's Context Encoder)", runs / "d_glcic", [export["D"]], train["D"],
         base + ["--width", "8", *AIDS["D"], "--mask", "glcic", "--image-size", str(s),
                 "--steps", str(budget["d_glcic_steps"]),
                 "--run-dir", str(runs / "d_glcic")]),
        ("paper D (l_rec + l_adv)", runs / "d", [export["D"]], train["D"],
         base + ["--width", "8", *budget["d_args"], *AIDS["D"], "--steps", str(budget["d_steps"]),
                 "--run-dir", str(runs / "d")]),
        ("paper D (l_rec)", runs / "d_rec", [export["D"]], train["D"],
         base + ["--width", "8", *budget["d_args"], "--rec-only", "--residual", "--steps", str(budget["d_steps"]),
                 "--run-dir", str(runs / "d_rec")]),
    ]
    e_steps = {v: budget["e_steps_l" if v == "nonbn_res_l" else "e_steps"] for v in variants}
    items += [(f"paper E ({v})", runs / f"e_{v}", [export["E"]], train["E"],
               base + ["--variant", v, *budget["e_args"], *budget["e_variant_args"].get(v, ()), *AIDS["E"],
                       "--steps", str(e_steps[v]),
                       "--lr-decay-at", str(max(1, round(e_steps[v] * E_DECAY_SHARE))), "--run-dir", str(runs / f"e_{v}")])
              for v in variants]
    return items


def table_of(run_dir):
    """The table a demo run is scored in: A (A's stages, B, C, D with GLCIC holes), D, or E."""
    name = Path(run_dir).name
    return "E" if name.startswith("e_") else {"d": "D", "d_rec": "D"}.get(name, "A")


def _trained_on(run_dir):
    """The --dataset a run directory was trained on (None if it has no config.json)."""
    path = Path(run_dir) / rundir.CONFIG_NAME
    return rundir.read_config(run_dir).get("dataset") if path.is_file() else None


def _steps(argv):
    return int(argv[argv.index("--steps") + 1])


def estimate_left(items, done, seconds):
    """Seconds the models not in `done` should take: each model's measured seconds per step on an
    idle 2-core machine (SECONDS_PER_STEP) times its steps, scaled by how fast this machine has been
    on the models it trained so far (`seconds`: label -> wall seconds)."""
    prior = {label: SECONDS_PER_STEP.get(label, 0.5) * _steps(argv) for label, *_, argv in items}
    speed = sum(seconds.values()) / max(sum(prior[k] for k in seconds), 1e-9) if seconds else 1.0
    return speed * sum(prior[label] for label, *_ in items if label not in done)


def _clock(s):
    return f"{int(s) // 60}:{int(s) % 60:02d}"


def train_all(items, log=print, after=None, times=None):
    """Train every item not yet trained (a rerun reuses what finished); `after(i)` runs after item i
    (demo.main writes its results there). The line before each model says where the whole demo is.
    `times` (label -> seconds of training) is filled as the models finish, and returned."""
    import importlib
    times = {} if times is None else times
    done, start = set(), time.time()
    for i, (label, run_dir, files, module, argv) in enumerate(items, 1):
        wanted, had = argv[argv.index("--dataset") + 1], _trained_on(run_dir)
        if had is not None and had != wanted:
            raise UserError(f"{run_dir} holds a model trained on --dataset {had}, not {wanted}; "
                            "pass another --runs (or --out) or delete it")
        if _done(run_dir, *files):
            log(f"[model {i} of {len(items)}] {label}: reusing {run_dir}")
        else:
            left = estimate_left(items, done, times)
            log(f"[model {i} of {len(items)}] training {label} -> {run_dir} | {_clock(time.time() - start)} so far, "
                f"about {_clock(left)} of training left")
            t = time.time()
            importlib.import_module(module).main(argv)
            times[label] = round(time.time() - t, 1)
        done.add(label)
        if after is not None:
            after(i - 1)
    return times


def write_loss_curves(items, folder):
    """One PNG of loss curves per trained run (paper A's three stages share one), relative paths."""
    import plots
    written = {}
    for label, run_dir, *_ in items:
        name = Path(run_dir).name
        if name in written:
            continue
        png = plots.loss_curves(rundir.log_dir(run_dir), Path(folder) / f"{name}.png", f"{label}: {run_dir}")
        if png is not None:
            written[name] = str(Path(folder).name + "/" + png.name)
    return list(written.values())


def set_args(sets):
    """heldout.write_sets' {"inpaint": (dir, n), "deblur": (dir, n)} -> table_args' a_data, d_set, e_data."""
    (inpaint_dir, n_inpaint), (deblur_dir, n_deblur) = sets["inpaint"], sets["deblur"]
    return (["--dataset", inpaint_dir, "--first", str(n_inpaint), "--n-train", "0"], inpaint_dir,
            ["--dataset", deblur_dir, "--eval-n", str(n_deblur)])


def table_args(runs, out, budget, a_data, d_set, e_data, suffix=""):
    """evaluate.py's arguments for each demo table on one held-out set (suffix: its files' suffix)."""
    table_a = ["--table", "A", *a_data, "--image-size", str(budget["a_size"]),
               "--latent-iterations", str(budget["latent_iterations"]), "--stage-run", str(runs / "a"),
               "--dcgan-run", str(runs / "c"), "--glcic-context-encoder-run", str(runs / "d_glcic"),
               "--unsupervised-run", str(runs / "b"), "--mask-bank", str(out / f"mask_banks{suffix}")]
    return {
        "A": table_a,
        "A_pasted": table_a + ["--no-blend"],      # the networks' own predictions, like the mean-fill row
        "D": ["--table", "D", "--set5", d_set, "--context-encoder-run", str(runs / "d"),
              "--rec-only-run", str(runs / "d_rec")],
        "E": ["--table", "E", *e_data, "--eval-set", str(out / f"deblur_eval{suffix}"), "--eval-size", "128",
              "--deblur-runs", str(runs / "e_{variant}")],
    }


def main(argv=None):
    p = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, verbose=True)
    p.add_argument("--out", default=None, help="results folder (default: results, results/proxy for --budget long; "
                                               "with --dataset D a subfolder on_<name of D>)")
    p.add_argument("--runs", default=None, help="where the demo's models are trained (default: <out>/runs)")
    p.add_argument("--budget", choices=("demo", "long", "quick", "step1"), default="demo",
                   help="demo: ~10 CPU minutes, does every model learn; long: ~1 CPU hour, each paper's claim "
                        "at proxy scale; quick: 1-2 steps, the wiring; step1: the demo's models after one "
                        "training step each, the tables' step-0 reference (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="the same as --budget quick")
    p.add_argument("--vgg-weights", default="auto",
                   help="VGG19 for the perceptual terms: 'auto' = the ImageNet weights if Keras' cache has them, "
                        "else random weights, said loudly and written into every table; 'none' = random "
                        "(the terms are then meaningless); 'imagenet' or a .h5 path (default: %(default)s)")
    p.add_argument("--dataset", default=None, metavar="FOLDER",
                   help="train and score on your own photos instead of the bundled ones: every 5th photo "
                        "(sorted by name) is held out and scored, the others are trained on as random "
                        "crops; links to them go to <out>/data (default: scikit-image's bundled photos)")
    p.add_argument("--heldout-dataset", default=None, metavar="FOLDER",
                   help="also score the demo's models on a folder of your photos, never trained on, with the "
                        "held-out protocol (data/heldout.py): every table a second time as table_<name>_heldout, "
                        "beside the bundled held-out set (e.g. experiments/foreign.py's photos)")
    p.add_argument("--deblur-variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                   help="paper E variants to train (default: all four)")
    a = p.parse_args(argv)
    if a.quick:
        a.budget = "quick"
    budget = {"demo": FULL, "long": LONG, "quick": QUICK, "step1": STEP1}[a.budget]
    out = Path(a.out or ("results/proxy" if a.budget == "long" else "results"))
    if a.dataset and not a.out:
        out = out / f"on_{Path(a.dataset).expanduser().resolve().name}"
    runs = Path(a.runs) if a.runs else out / "runs"
    for flag, folder in (("--dataset", a.dataset), ("--heldout-dataset", a.heldout_dataset)):
        if folder and not Path(folder).expanduser().is_dir():          # before TensorFlow loads: one line
            raise UserError(f"{flag} {folder} is not a folder; pass a folder of your photos")
    import_tensorflow()
    out.mkdir(parents=True, exist_ok=True)
    from data import heldout
    train_dir = test_dir = None
    photos = "the 12 bundled scikit-image training photos"
    if a.dataset:
        trained = runs.is_dir() and any(runs.iterdir())
        train_dir, test_dir, n_train, n_test = heldout.split_folder(Path(a.dataset).expanduser(), out / "data",
                                                                    locked=trained)
        photos = f"the {n_train} training photos of {a.dataset} ({n_test} held out)"
        print(f"demo: training on {n_train} photos of {a.dataset}, scoring on {n_test} held out ({out / 'data'})")
    if a.vgg_weights == "auto":
        from losses.perceptual import WEIGHTS_FILE, keras_cache_dir
        cached = Path(keras_cache_dir()) / "models" / WEIGHTS_FILE
        a.vgg_weights = str(cached) if cached.is_file() else "none"
    if a.vgg_weights == "none":
        print("demo: VGG19 has RANDOM weights (offline default): the perceptual and texture terms of papers A "
              "and E are meaningless here; pass --vgg-weights imagenet|PATH for real ones")
    start = time.time()
    items = plan(runs, budget, a.vgg_weights, a.deblur_variants, train_dir)
    import evaluate
    limit = [] if budget["limit"] is None else ["--limit", str(budget["limit"])]
    if a.budget == "quick":  # the held-out photos themselves, one of each
        held = test_dir or "samples"
        a_data = ["--dataset", held] + (["--first", str(n_test), "--n-train", "0"] if test_dir else [])
        d_set, e_data = held, ["--dataset", held, "--eval-n", str(budget["eval_n"])]
        scored = f"scored on {'the 3 held-out bundled photos' if test_dir is None else test_dir}"
    else:                    # more held-out pixels than the test photos: crops and tiles of them
        # a user's folder: the sets live beside its split, which removes them when the split changes
        sets = heldout.write_sets(out / "data" / "heldout" if test_dir else out / "heldout", photos=test_dir)
        a_data, d_set, e_data = set_args(sets)
        n_inpaint, n_deblur = sets["inpaint"][1], sets["deblur"][1]
        scored = (f"scored on crops of the {'3 held-out bundled photos' if test_dir is None else 'held-out photos'} "
                  f"({n_inpaint} inpainting crops at 3 scales, {n_deblur} deblurring tiles of 128 px)")
    extra = None                    # --heldout-dataset: the same protocol on the user's folder
    if a.heldout_dataset:
        folder = Path(a.heldout_dataset).expanduser()
        if a.dataset and folder.resolve() == Path(a.dataset).expanduser().resolve():
            raise UserError("--heldout-dataset is the --dataset folder, whose photos the models train on; "
                            "pass a folder of other photos")
        extra = heldout.write_sets(out / f"heldout_{folder.resolve().name}", photos=folder, rebuild=True)
        print(f"demo: also scoring on {extra['inpaint'][1]} inpainting crops and {extra['deblur'][1]} deblurring "
              f"tiles of {folder} ({out / f'heldout_{folder.resolve().name}'})")
    a_steps = "/".join(str(s) for s in budget["a_steps"])
    scale = {"demo": "Demo scale", "long": "Proxy scale", "quick": "Wiring check (quick)",
             "step1": "One training step"}[a.budget]
    note = (f"{scale}, not the papers' scale: models trained on CPU (paper A stages "
            f"{a_steps} steps at {budget['a_size']} px; B, C {budget['b_steps']}/{budget['c_steps']}, "
            f"D {budget['d_steps']}, E {budget['e_steps']} ({budget['e_steps_l']} NonBN-ResG-L) steps) on random crops "
            f"of {photos}, small widths, VGG weights: {a.vgg_weights}"
            + (" (so paper A's perceptual weight beta is 0)" if a.vgg_weights == "none" else "") + "; " + scored)
    tables = table_args(runs, out, budget, a_data, d_set, e_data)
    if extra is not None:
        n_x, n_dx = extra["inpaint"][1], extra["deblur"][1]
        tables.update({f"{k}_heldout": v for k, v in table_args(runs, out, budget, *set_args(extra),
                                                                 suffix="_heldout").items()})
        notes = {"heldout": note.split("; scored on")[0] + f"; scored on {a.heldout_dataset}, photos never trained "
                 f"on ({n_x} inpainting crops at 3 scales and native resolution, {n_dx} deblurring tiles of 128 px "
                 f"at native resolution and downscaled)"}
    else:
        notes = {}
    # results as the demo goes: after each model its tables are scored again (its rows computed, the rows
    # already scored reused: evaluate.py --reuse-rows; models not trained yet are "not trained" rows), its
    # loss curve is drawn, and README.md / summary.json are rewritten
    texts, results, curves, times = {}, {}, [], {}

    def report(finished, claims_rows=None, claims_text=None):
        total = time.time() - start
        grids = sorted(str(p.relative_to(out)) for p in out.glob("table_*/grid_*.png"))
        shown = curves + (["curves/c_latent_search.png"] if (out / "curves" / "c_latent_search.png").exists() else [])
        state = (f"Wall time: {total:.0f} s in all, of which training {sum(times.values()):.0f} s "
                 f"({os.cpu_count()} CPU cores visible)" if finished else
                 f"**In progress:** {len(done)} of {len(items)} models trained ({total:.0f} s so far); tables "
                 f"{', '.join(texts) or 'none yet'} written with the models trained so far (the others are "
                 f"\"not trained\" rows). An interrupted demo keeps all of this, and a rerun continues from the "
                 f"first untrained model")
        parts = [texts[k] for k in tables if k in texts] + (
            ["# Each paper's claim at proxy scale\n\n" + claims_text] if claims_text else [])
        summary = (f"# Demo results\n\n**{note}.**\n\n{state}. Picture grids (rows: input / each method / ground "
                   f"truth): " + ", ".join(f"[{g}]({g})" for g in grids) + ". Loss curves: "
                   + ", ".join(f"[{c}]({c})" for c in shown) + "\n\n" + "\n\n".join(parts))
        (out / "README.md").write_text(summary)
        rundir.write_json_atomic(out / "summary.json", {
            "note": note, "wall_s": round(total, 1), "train_s": round(sum(times.values()), 1), "train_times_s": times,
            "budget": a.budget, "quick": a.budget == "quick", "finished": finished,
            "trained": [label for label, *_ in items[:len(done)]], "tables": results, "grids": grids,
            "curves": shown, "claims": claims_rows})
        return summary

    done = []

    def after(i):
        label, run_dir = items[i][:2]
        done.append(label)
        curves.extend(c for c in write_loss_curves([items[i]], out / "curves") if c not in curves)
        due = [name for name in tables if name.split("_")[0] == table_of(run_dir)]
        for name in due:                     # its table (A: also A_pasted; their _heldout twins)
            print(f"evaluating table {name}")
            result, text = evaluate.evaluate(tables[name] + limit + [
                "--step0", "--reuse-rows", "--out", str(out / f"table_{name}"),
                "--note", notes.get(name.rsplit("_", 1)[-1], note)])
            texts[name] = text
            md = next((out / f"table_{name}").glob("table_*.md"))
            results[name] = {"markdown": str(md), "json": str(md.with_suffix(".json"))}
        report(False)

    train_all(items, after=after, times=times)
    claims_rows = claims_text = None
    if a.budget in ("long", "quick"):
        import claims
        print("checking each paper's claim")
        claims_rows, claims_text = claims.check(out, runs, budget["latent_iterations"])
    summary = report(True, claims_rows, claims_text)
    print(summary)
    print(f"demo finished in {time.time() - start:.0f} s: see {out / 'README.md'} and the grids in {out}")
    return 0


if __name__ == "__main__":
    cli(main)
