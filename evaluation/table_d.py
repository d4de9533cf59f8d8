"""Table D (paper D): PSNR of the repaired images on Set5, Set14 and BSD100.

Set5 / Set14 / BSD100 folders (--set5, --set14, --bsd100; a missing one is a "no data" column), each
image centre-cropped and resized to --image-size (default 128), centre hole of half its side;
ours(l_rec), ours(l_rec + l_adv) and the interpolation baselines mean fill, OpenCV Telea, OpenCV
Navier-Stokes and scikit-image biharmonic; PSNR over the whole image, RGB [0, 255] (eq. 6).
Defaults: --image-size 128, --no-blend.
"""
from pathlib import Path

import numpy as np

import papers
from data import selection
from evaluation.common import CLASSICAL, MEAN_FILL, classical_method, scored_part, training_lines

TABLE = "D"
PAPER = papers.PAPERS[TABLE]
SIZE = PAPER.card["image_size"]          # [paper] 128x128 images, centre 64x64 hole
SETS = ("set5", "set14", "bsd100")
MODELS = ("ours(l_rec)", "ours(l_rec + l_adv)")
PAPER_FIGURES = {  # [paper] PSNR dB on Set5, Set14, BSD100
    "SRCNN": (33.82, 34.93, 34.68), "Bicubic": (35.24, 34.29, 34.11), "ESRCNN": (35.04, 35.57, 34.95),
    "ours(l_rec)": (34.63, 35.02, 35.26), "ours(l_rec + l_adv)": (35.36, 35.81, 35.42),
}
NOT_HOLE_FILLING = ("SRCNN", "Bicubic", "ESRCNN")     # super-resolution methods: the paper's figures only


def add_arguments(parser):
    d = parser.add_argument_group(f"table {TABLE}", __doc__)
    d.add_argument("--context-encoder-run", default="runs/train_context_encoder",
                   help="paper D run, l_rec + l_adv, centre mask")
    d.add_argument("--rec-only-run", default="runs/context_encoder_rec", help="paper D run with --rec-only")
    for name in SETS:
        d.add_argument(f"--{name}", default=None, help=f"folder of {name} images (or 'samples'); missing = no data")


def defaults(args):
    args.blend = False if args.blend is None else args.blend
    args.image_size = args.image_size or SIZE


def make(args, log=print):
    # Heavy (TensorFlow): imported when the table is made, not when evaluate.py builds its parser.
    from data.masks import make_mask
    from data.sources import open_source
    from evaluation import protocol
    from inpainters import load_inpainter

    size = args.image_size
    side = size // 2
    hole = make_mask("center", [0, 0], size, size, side=side)[0].numpy()[..., 0] > 0.5
    models = dict(zip(MODELS, (args.rec_only_run, args.context_encoder_run)))
    classical = [classical_method(name, key) for name, key in (MEAN_FILL,) + CLASSICAL]
    result = {"table": TABLE, "image_size": size, "hole": f"centre {side}x{side}", "blend": args.blend,
              "protocol": (f"each image centre-cropped to a square and resized to {size}x{size}, centre "
                           f"{side}x{side} hole; known pixels kept, hole {'Poisson-blended' if args.blend else 'pasted'}; "
                           f"PSNR over the whole image, RGB [0, 255] (paper D's eq. 6)"),
              "sets": {}, "training": []}
    for name in SETS:
        folder = getattr(args, name)
        if folder is None or (folder != "samples" and not Path(folder).is_dir()):
            result["sets"][name] = {"status": "no data", "where": folder}
            continue
        source = open_source(folder, "test")
        n = len(source) if args.limit is None else min(args.limit, len(source))
        images = protocol.load_eval_images(source, size, n, f"loading {name}")
        holes = np.repeat(hole[None], len(images), axis=0)
        test = scored_part(selection.selection(folder, "test"), len(images))
        methods = [protocol.model_method(m, path, load_inpainter, test) for m, path in models.items()] + classical
        if args.step0:
            methods = protocol.with_step0(methods)
        result["training"] += training_lines(methods, test, f"{name} test images")
        result["sets"][name] = {"status": "ok", "where": folder, "n_images": len(images),
                                "methods": protocol.run_inpainting(methods, images, holes, args.out,
                                                                   f"{TABLE}_{name}", args.blend, args.reuse_rows)}
    return result


def column(name, s):
    """The header of set `name`'s column; a folder that is not the named set says so."""
    if s["status"] != "ok":
        return f"{name} (no data)"
    if s["where"] == "samples":
        return f"{name} slot: bundled samples photos, NOT {name} ({s['n_images']} images)"
    folder = Path(str(s["where"])).name
    if name not in folder.lower():
        return f"{name} slot: {folder}/, NOT {name} ({s['n_images']} images)"
    return f"{name} ({s['n_images']} images)"


def paper_row(name, source):
    figures = PAPER_FIGURES[name]
    return f"| {name} | {source} | " + " | ".join(f"{v:.2f}" for v in figures) + f" | {np.mean(figures):.2f} |"


def our_row(name, sets):
    """Our PSNR of method `name` on each set, and their mean when every set with data has a figure."""
    cells, vals = [], []
    for n in SETS:
        s = sets[n]
        e = s.get("methods", {}).get(name) if s["status"] == "ok" else None
        if e is None:
            cells.append("no data")
        elif e["status"] != "ok":
            cells.append(e["status"])
        else:
            vals.append(e["mean"]["psnr"])
            cells.append(f"{e['mean']['psnr']:.2f}")
    with_data = sum(sets[n]["status"] == "ok" for n in SETS)
    mean = f"{np.mean(vals):.2f}" if vals and len(vals) == with_data else "–"
    return f"| {name} | ours | " + " | ".join(cells) + f" | {mean} |"


def markdown(result):
    sets = result["sets"]
    lines = ["# Paper D: PSNR (dB) of the repaired images", "", f"Protocol: {result['protocol']}.",
             "Grids grid_D_<set>.png, rows: input (hole white) / each scored method in table order / ground truth.", "",
             *result.get("training", []),
             "| method | source | " + " | ".join(column(n, sets[n]) for n in SETS) + " | mean of the sets with data |",
             "|---|---|" + "---|" * (len(SETS) + 1)]
    names = [m for s in sets.values() if s["status"] == "ok" for m in s["methods"]]
    for name in dict.fromkeys(names or list(MODELS) + [c for c, _ in CLASSICAL]):
        if name in PAPER_FIGURES:
            lines.append(paper_row(name, "paper"))
        lines.append(our_row(name, sets))
    for name in NOT_HOLE_FILLING:
        lines.append(paper_row(name, "paper, NOT comparable (super-resolution, not hole filling)"))
    return "\n".join(lines) + "\n"
