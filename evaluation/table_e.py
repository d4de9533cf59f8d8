"""Table E (paper E): the deblurring ablation.

The fixed degraded set of data/evalsets.py (`python evaluate.py make-eval-set`; made from --dataset,
default div2k, on first use); the four variants (--deblur-runs), the blurred input and an
unsharp-mask baseline; whole image, RGB [0, 255]. --model M scores that one model and the blurred
input instead (printed; --json F also writes them).
"""
from pathlib import Path

import numpy as np

import papers
import rundir
from cliargs import image_side, positive_int
from data import selection
from errors import UserError
from evaluation.common import (GRID_EXAMPLES, UNSHARP_AMOUNT, UNSHARP_SIGMA, Method, image_names, progress,
                               row_cache, score_row, scored_part, slug, training_lines, unsharp_mask)

TABLE = "E"
PAPER = papers.PAPERS[TABLE]
GRID_CROP = 192                  # centre crop shown in the grid (whole DIV2K images are ~2K px)
BLURRED = "blurred input"
PAPER_FIGURES = {"stacked": (25.11, 0.804), "res_bn": (25.82, 0.890),      # [paper] PSNR, SSIM
                 "nonbn_res": (28.54, 0.917), "nonbn_res_l": (28.39, 0.933)}


def add_arguments(parser):
    e = parser.add_argument_group(f"table {TABLE}", __doc__)
    e.add_argument("--eval-set", default="datasets/deblur_eval",
                   help="folder of a paper E evaluation set (evaluate.py make-eval-set)")
    e.add_argument("--eval-n", type=positive_int, default=100, help="images in a newly made eval set (default: %(default)s)")
    e.add_argument("--eval-size", type=image_side, default=None, help="centre crop of a newly made eval set (default: whole)")
    e.add_argument("--deblur-runs", default="runs/deblur_{variant}",
                   help="run directory pattern of the four variants (default: %(default)s)")
    e.add_argument("--model", default=None,
                   help="score only this model (run directory or exported .keras generator) and the blurred input")
    e.add_argument("--json", default=None, help="with --model: also write its scores here")


def defaults(args):
    args.dataset = args.dataset or PAPER.card["dataset"]
    args.blend = False if args.blend is None else args.blend
    if args.json and not args.model:
        raise UserError("--json goes with --model; the table is written to --out as table_E.json")


# ----------------------------------------------------------------------------- one model
def deblur_scores(model, eval_set, tile=None, overlap=None, log=print):
    """Mean PSNR / SSIM (RGB, [0, 255], whole image) of one paper E model's output and of the
    blurred input on a fixed set (`python evaluate.py --table E --model M --eval-set S`)."""
    # Heavy (TensorFlow): imported when a model is scored, not when evaluate.py builds its parser.
    import metrics
    from data.evalsets import load_deblur_set
    from sharpen import DEFAULT_TILE, load_generator, sharpen_array

    G = load_generator(model) if isinstance(model, (str, Path)) else model
    _, pairs = load_deblur_set(eval_set)
    rows = {BLURRED: ([], []), "model": ([], [])}
    for blurred, sharp in pairs:
        out = sharpen_array(G, blurred, tile or DEFAULT_TILE, overlap)
        for name, img in ((BLURRED, blurred), ("model", out)):
            rows[name][0].append(metrics.psnr(img, sharp))
            rows[name][1].append(metrics.ssim(img, sharp))
    result = {name: {"psnr": float(np.mean(p)), "ssim": float(np.mean(s)), "n": len(p)} for name, (p, s) in rows.items()}
    for line in score_lines(result):
        log(line)
    return result


def score_lines(result):
    return [f"| {name} | {v['psnr']:.2f} | {v['ssim']:.3f} |" for name, v in result.items()]


def run_instead(args, log=print):
    """--model: (deblur_scores of that model, its markdown); --json also writes the scores. None: the table."""
    if not args.model:
        return None
    result = deblur_scores(args.model, args.eval_set, log=lambda *a, **k: None)
    if args.json:
        rundir.write_json_atomic(Path(args.json), result)
    text = "\n".join([f"# Paper E: {args.model} on {args.eval_set} ({result[BLURRED]['n']} images)", "",
                      "| input | PSNR | SSIM |", "|---|---|---|", *score_lines(result)]) + "\n"
    return result, text


def make_eval_set(argv):
    """Write paper E's fixed evaluation set (data/evalsets.py's make_deblur_set)."""
    # Heavy (TensorFlow): only this subcommand needs data/evalsets.py's command.
    from data.evalsets import make_deblur_set_command
    return make_deblur_set_command(argv)


COMMANDS = {"make-eval-set": make_eval_set}


# ----------------------------------------------------------------------------- the table
def make(args, log=print):
    # Heavy (TensorFlow): imported when the table is made, not when evaluate.py builds its parser.
    from data import evalsets
    from evaluation import protocol
    from evaluation.grids import centre, write_grid

    eval_set = Path(args.eval_set)
    if not evalsets.has_deblur_set(eval_set):
        log(f"no evaluation set in {eval_set}: making it from {args.dataset} (first {args.eval_n} test images)")
        evalsets.make_deblur_set(args.dataset, eval_set, n=args.eval_n, size=args.eval_size,
                                 data_dir=args.data_dir, log=log)
    manifest, pairs = evalsets.load_deblur_set(eval_set)
    if args.limit is not None:
        pairs = pairs[:args.limit]
    blurred = [b for b, _ in pairs]
    sharp = [s for _, s in pairs]
    names = image_names(len(pairs))
    base = Path(args.out) / "images" / TABLE
    protocol.write_images(base / "ground_truth", sharp, names)
    protocol.write_images(base / "input", blurred, names)

    methods = [Method(BLURRED, eval_set, fn=lambda im: im),
               Method(f"unsharp mask (sigma {UNSHARP_SIGMA}, amount {UNSHARP_AMOUNT})", "classical", fn=unsharp_mask)]
    test = None
    if manifest.get("dataset"):
        test = scored_part(selection.selection(manifest["dataset"], "test"), len(pairs))
    methods += [protocol.model_method(variant, args.deblur_runs.format(variant=variant), protocol.load_sharpener, test)
                for variant in PAPER.variants]
    if args.step0:
        methods = protocol.with_step0(methods)
    result = {"table": TABLE, "eval_set": str(eval_set), "n_images": len(pairs), "dataset": manifest.get("dataset"),
              "degradation": {k: manifest.get(k) for k in ("blur", "seed", "size", "kernel_size")},
              "protocol": "whole image, RGB [0, 255], mean of per-image PSNR / SSIM (11x11 Gaussian, sigma 1.5)",
              "training": training_lines(methods, test), "methods": {}}

    def compute(m):
        done = [m.fn(b) for b in progress(blurred, f"{TABLE}: {m.name}")]
        files = protocol.write_images(base / slug(m.name), done, names)
        return protocol.scored_rows(done, sharp, files, args.out), done[:GRID_EXAMPLES]

    cache = row_cache(args.reuse_rows, args.out, TABLE, blurred, sharp)
    grid = {BLURRED: [centre(b, GRID_CROP) for b in blurred[:GRID_EXAMPLES]]}
    for m in methods:
        result["methods"][m.name], shown = score_row(m, cache, compute)
        if shown is not None and m.name != BLURRED:
            grid[m.name] = [centre(d, GRID_CROP) for d in shown]
    grid["ground truth"] = [centre(s, GRID_CROP) for s in sharp[:GRID_EXAMPLES]]
    write_grid(Path(args.out) / f"grid_{TABLE}.png", grid)
    return result


def markdown(result):
    lines = ["# Paper E: deblurring ablation", "",
             f"Protocol: {result['protocol']}. Set: {result['eval_set']} ({result['dataset']}, degradation "
             f"{result['degradation']}). Images scored: **{result['n_images']}**.",
             "The paper does not say how its blurred images were made: compare rankings, not absolute values.",
             f"Grid grid_E.png (centre {GRID_CROP}x{GRID_CROP} crops), rows: blurred input / each scored method in "
             f"table order / ground truth.", "", *result.get("training", []),
             "| model | PSNR (paper) | SSIM (paper) | PSNR (ours) | SSIM (ours) |", "|---|---|---|---|---|"]
    for name, e in result["methods"].items():
        label, pp, ps = name, "–", "–"
        if name in PAPER_FIGURES:
            label = f"{PAPER.variant_labels[name]} (`{name}`)"
            pp, ps = f"{PAPER_FIGURES[name][0]:.2f}", f"{PAPER_FIGURES[name][1]:.3f}"
        if e["status"] != "ok":
            lines.append(f"| {label} | {pp} | {ps} | {e['status']} | |")
        else:
            lines.append(f"| {label} | {pp} | {ps} | {e['mean']['psnr']:.2f} | {e['mean']['ssim']:.3f} |")
    return "\n".join(lines) + "\n"
