"""Table A (papers A, B and C; paper A's tables 1 and 2): inpainting on CelebA's test split.

CelebA test split (images 80,000..99,999 of the first 100,000, as train_iizuka.py), centre crop +
resize to --image-size (default 128), two fixed mask banks (GLCIC holes, centre square) saved under
--mask-bank on first use and reused afterwards. Rows: autoencoder (stage 1), DCGAN (paper C's latent
search with a DCGAN prior), Context Encoder (paper D), paper A (stage 3), paper B, mean fill and
OpenCV Telea. Every output keeps the known pixels and is Poisson-blended (paper A's post-processing,
applied to every method alike; --no-blend turns it off for all). Defaults: --dataset celeb_a,
--image-size 128, --blend.
"""
from pathlib import Path

import papers
import rundir
from cliargs import nonnegative_int, positive_int
from data import selection
from errors import UserError
from evaluation.common import MASK_SEED, MEAN_FILL, classical_method, scored_part, training_lines

TABLE = "A"
PAPER = papers.PAPERS[TABLE]
CARD = PAPER.card
LATENT_ITERATIONS = 1500         # [choice: Yeh] the DCGAN row's latent search, as paper C's card
MIN_SIZE = 16

PAPER_FIGURES = {  # [paper] PSNR img1, img2; SSIM img1, img2 (two example CelebA images, mask not given)
    "autoencoder": ((20.68, 22.40), (0.738, 0.825)),
    "DCGAN": ((23.16, 23.85), (0.849, 0.839)),
    "Context Encoder": ((22.53, 21.96), (0.832, 0.815)),
    "this paper (A)": ((25.95, 25.78), (0.903, 0.872)),
}


def add_arguments(parser):
    a = parser.add_argument_group(f"table {TABLE}", __doc__)
    a.add_argument("--first", type=positive_int, default=CARD["first"], help="as train_iizuka.py (default: %(default)s)")
    a.add_argument("--n-train", type=nonnegative_int, default=CARD["n_train"],
                   help="as train_iizuka.py; the rest is the test split")
    a.add_argument("--mask-bank", default=None,
                   help="folder of the saved mask banks (<dir>/glcic, <dir>/center); made on first use "
                        "(default: runs/eval_masks/table_a_<size>)")
    a.add_argument("--stage-run", default="runs/train_iizuka",
                   help=f"paper A run: export/{PAPER.exports['stage1']} = autoencoder, "
                        f"export/{PAPER.exports['stage3']} = paper A")
    a.add_argument("--dcgan-run", default="runs/c_dcgan", help="paper C run trained with --loss bce")
    a.add_argument("--unsupervised-run", default="runs/train_unsupervised", help="paper B run")
    a.add_argument("--latent-iterations", type=positive_int, default=LATENT_ITERATIONS,
                   help="DCGAN latent search (default: %(default)s)")
    a.add_argument("--glcic-context-encoder-run", default="runs/context_encoder_glcic",
                   help="A's Context Encoder row: paper D's full-image variant trained with GLCIC holes "
                        "(train_context_encoder.py --mask glcic; the centre model fills only the centre square)")


def defaults(args):
    args.dataset = args.dataset or CARD["dataset"]
    args.blend = True if args.blend is None else args.blend
    args.image_size = args.image_size or CARD["image_size"]
    if args.image_size < MIN_SIZE:
        raise UserError(f"--image-size must be >= {MIN_SIZE}, got {args.image_size}")


def stage_file(run_dir, stage):
    """<run_dir>/export/<the file paper A's stage `stage` exports> (the registry names it)."""
    return rundir.export_path(run_dir, PAPER.exports[f"stage{stage}"])


def make(args, log=print):
    # Heavy (TensorFlow): imported when the table is made, not when evaluate.py builds its parser.
    from data.masks import glcic_kw
    from data.sources import open_source
    from evaluation import protocol
    from inpainters import load_inpainter

    size = args.image_size
    source = open_source(args.dataset, "test", data_dir=args.data_dir, first=args.first, n_train=args.n_train)
    n = len(source) if args.limit is None else min(args.limit, len(source))
    images = protocol.load_eval_images(source, size, n, "loading test images")
    n = len(images)
    test = scored_part(selection.selection(args.dataset, "test", args.first, args.n_train), n)
    bank_root = Path(args.mask_bank or Path("runs") / "eval_masks" / f"table_a_{size}")
    banks = {"glcic": protocol.mask_bank(bank_root / "glcic", "glcic", n, size, log=log, **glcic_kw(size)),
             "center": protocol.mask_bank(bank_root / "center", "center", n, size, log=log, side=size // 2)}
    # "Context Encoder" is paper D's full-image variant trained with GLCIC holes (--glcic-context-encoder-run),
    # which can fill any hole; the centre model (--context-encoder-run) only fills the centre square (table D).
    methods = [
        protocol.model_method("autoencoder", stage_file(args.stage_run, 1), load_inpainter, test),
        protocol.model_method("DCGAN", args.dcgan_run, protocol.latent_search_loader(args.latent_iterations), test,
                              settings=f"{args.latent_iterations} latent search iterations"),
        protocol.model_method("Context Encoder", args.glcic_context_encoder_run, load_inpainter, test),
        protocol.model_method("this paper (A)", stage_file(args.stage_run, 3), load_inpainter, test),
        protocol.model_method("paper B (unsupervised)", args.unsupervised_run, load_inpainter, test),
        classical_method(*MEAN_FILL),
        classical_method("OpenCV Telea (reference)", "telea"),
    ]
    if args.step0:
        methods = protocol.with_step0(methods)
    result = {"table": TABLE, "dataset": str(args.dataset), "n_images": n, "image_size": size,
              "training": training_lines(methods, test),
              "blend": args.blend, "mask_bank": str(bank_root), "mask_seed": MASK_SEED,
              "protocol": (f"{n} images of {args.dataset} (test split), centre crop resized to {size}x{size}; "
                           f"known pixels kept, hole {'Poisson-blended' if args.blend else 'pasted'} for every "
                           f"method; PSNR/SSIM on RGB [0, 255], mean of per-image values, whole image and hole only"),
              "sets": {}}
    for kind, bank in banks.items():
        holes = bank.masks[:n, ..., 0] > 0.5
        result["sets"][kind] = {"mask": f"{kind} bank {bank_root / kind}, {bank.kwargs}",
                                "methods": protocol.run_inpainting(methods, images, holes, args.out,
                                                                   f"{TABLE}_{kind}", args.blend, args.reuse_rows)}
    return result


def markdown(result):
    lines = [f"# Paper A, tables 1 and 2: inpainting on {result['dataset']}",
             "", f"Protocol: {result['protocol']}. Images scored: **{result['n_images']}**.",
             "The paper's figures are for two example images with an unstated mask; ours are test-set means.",
             "Grids grid_A_<mask>.png, rows: input (hole white) / each scored method in table order / ground truth.", ""]
    lines += result.get("training", [])
    for kind, s in result["sets"].items():
        lines += [f"## {kind} mask ({s['mask']}), {result['n_images']} images", "",
                  "| method | PSNR paper (img1 / img2) | PSNR ours, whole | PSNR ours, hole | "
                  "SSIM paper (img1 / img2) | SSIM ours, whole | SSIM ours, hole |", "|---|---|---|---|---|---|---|"]
        for name, e in s["methods"].items():
            p = PAPER_FIGURES.get(name)
            pp = f"{p[0][0]:.2f} / {p[0][1]:.2f}" if p else "–"
            ps = f"{p[1][0]:.3f} / {p[1][1]:.3f}" if p else "–"
            if e["status"] != "ok":
                lines.append(f"| {name} | {pp} | {e['status']} | | {ps} | | |")
                continue
            m = e["mean"]
            lines.append(f"| {name} | {pp} | {m['psnr']:.2f} | {m['psnr_hole']:.2f} | {ps} | "
                         f"{m['ssim']:.3f} | {m['ssim_hole']:.3f} |")
        lines.append("")
    return "\n".join(lines)
