"""Score every method of a paper's table on the SAME inputs; write a markdown table, a JSON file
with per-image figures, the output images and an image grid into --out.

    python evaluate.py --table A [--dataset celeb_a] [--limit N]      # paper A, tables 1 and 2
    python evaluate.py --table D --set5 DIR --set14 DIR --bsd100 DIR  # paper D, PSNR table
    python evaluate.py --table E --eval-set datasets/deblur_eval           # paper E, the ablation

A: CelebA test split (images 80,000..99,999 of the first 100,000, as train_iizuka.py), centre
   crop + resize to --image-size (128), two fixed mask banks (GLCIC holes, centre square) saved
   under --mask-bank on first use and reused afterwards. Rows: autoencoder (stage 1), DCGAN
   (paper C's latent search with a DCGAN prior), Context Encoder (paper D), paper A (stage 3),
   paper B. Every output keeps the known pixels and is Poisson-blended (paper A's post-processing,
   applied to every method alike; --no-blend turns it off for all).
D: Set5 / Set14 / BSD100 folders, each image centre-cropped and resized to 128, centre 64x64 hole;
   ours(l_rec), ours(l_rec + l_adv) and the interpolation baselines OpenCV Telea, OpenCV
   Navier-Stokes and scikit-image biharmonic; PSNR over the whole image, RGB [0, 255] (eq. 6).
E: the fixed degraded set of data/evalsets.py (`train_deblur.py make-eval-set`; made from
   --dataset on first use);
   the four variants, the blurred input and an unsharp-mask baseline; whole image, RGB [0, 255].
A run directory that does not exist gives a "not trained" row instead of failing the table.
"""
import argparse
import os
import re
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import papers
import rundir
from errors import UserError, cli
import cliargs
from cliargs import image_side, nonnegative_int, positive_int

# ----------------------------------------------------------------------------- paper figures
PAPER_A = {  # [paper] PSNR img1, img2; SSIM img1, img2 (two example CelebA images, mask not given)
    "autoencoder": ((20.68, 22.40), (0.738, 0.825)),
    "DCGAN": ((23.16, 23.85), (0.849, 0.839)),
    "Context Encoder": ((22.53, 21.96), (0.832, 0.815)),
    "this paper (A)": ((25.95, 25.78), (0.903, 0.872)),
}
PAPER_D = {  # [paper] PSNR dB on Set5, Set14, BSD100
    "SRCNN": (33.82, 34.93, 34.68), "Bicubic": (35.24, 34.29, 34.11), "ESRCNN": (35.04, 35.57, 34.95),
    "ours(l_rec)": (34.63, 35.02, 35.26), "ours(l_rec + l_adv)": (35.36, 35.81, 35.42),
}
PAPER_E = {"stacked": ("StackedG", 25.11, 0.804), "res_bn": ("ResG", 25.82, 0.890),
           "nonbn_res": ("NonBN-ResG", 28.54, 0.917), "nonbn_res_l": ("NonBN-ResG-L", 28.39, 0.933)}
D_SETS = ("set5", "set14", "bsd100")

# ----------------------------------------------------------------------------- our choices
MASK_SEED = 2017                 # [choice] the one seed of every evaluation mask bank
INPAINT_RADIUS = 3               # [choice] cv2.inpaint radius for Telea and Navier-Stokes
UNSHARP_SIGMA = 2.0              # [choice] unsharp mask: cv2.GaussianBlur sigma (kernel from sigma)
UNSHARP_AMOUNT = 1.0             # [choice] out = x + amount * (x - blur(x)), rounded and clipped
GRID_EXAMPLES = 4
GRID_CROP = 192                  # E: centre crop shown in the grid (whole DIV2K images are ~2K px)
NOT_TRAINED = "not trained"
NOT_COMPARABLE = "not comparable: trained on test images"


def slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def progress(iterable, desc, total=None):
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, total=total, unit="img", leave=False)


def score(outputs, truths, masks=None):
    """Per-image dict(psnr, ssim[, psnr_hole, ssim_hole]) list; RGB [0, 255], masks 1 = hole.
    Same-size images are scored as one batch (the metrics are per image either way)."""
    import metrics
    if len({np.shape(o) for o in outputs}) == 1 and len(outputs) > 1:
        a, b = np.stack(outputs), np.stack(truths)
        cols = {"psnr": metrics.psnr(a, b), "ssim": metrics.ssim(a, b)}
        if masks is not None:
            cols.update(psnr_hole=metrics.psnr(a, b, mask=masks), ssim_hole=metrics.ssim(a, b, mask=masks))
        return [{k: float(v[i]) for k, v in cols.items()} for i in range(len(a))]
    rows = []
    for i, (out, gt) in enumerate(zip(outputs, truths)):
        r = {"psnr": float(metrics.psnr(out, gt)), "ssim": float(metrics.ssim(out, gt))}
        if masks is not None:
            r["psnr_hole"] = float(metrics.psnr(out, gt, mask=masks[i]))
            r["ssim_hole"] = float(metrics.ssim(out, gt, mask=masks[i]))
        rows.append(r)
    return rows


def means(per_image):
    keys = [k for k in per_image[0] if k not in ("index", "file")] if per_image else []
    return {k: float(np.mean([r[k] for r in per_image])) for k in keys}


def write_images(folder, images, names):
    from imagefiles import write_png
    return [str(write_png(Path(folder) / n, im)) for im, n in zip(images, names)]


# ----------------------------------------------------------------------------- inpainting
def complete_batch(inpainter, images, holes, blend=True, batch_size=16):
    """inpaint.complete for a batch: uint8 [N,H,W,3] + bool [N,H,W] -> uint8 [N,H,W,3].

    Each image goes to the model's size (known pixels only, inpaint.to_model_size), the
    prediction comes back by cubic resize, known pixels are kept, and (blend) the hole is
    Poisson-blended. Batched so a latent search optimises many images at once."""
    import cv2
    from blend import poisson_blend
    from inpaint import to_model_size
    size = inpainter.image_size
    out = []
    for k in range(0, len(images), batch_size):
        ims, hs = images[k:k + batch_size], holes[k:k + batch_size]
        small = [to_model_size(im, h, size) for im, h in zip(ims, hs)]
        preds = inpainter.predict(np.stack([s[0] for s in small]).astype(np.float32),
                                  np.stack([s[1] for s in small]).astype(np.float32))
        for im, h, pred in zip(ims, hs, preds):
            big = cv2.resize(np.asarray(pred, np.float32), (h.shape[1], h.shape[0]), interpolation=cv2.INTER_CUBIC)
            big = np.clip(np.rint((big + 1.0) * 127.5), 0, 255).astype(np.uint8)
            done = np.where(h[..., None], big, im)
            out.append(poisson_blend(done, im, h) if blend else done)
    return np.stack(out)


def classical_inpaint(method, image, hole):
    """Mean fill, OpenCV Telea / Navier-Stokes (radius INPAINT_RADIUS) or scikit-image biharmonic."""
    import cv2
    if method == "mean":      # the trivial baseline: every hole pixel = the mean colour of the known pixels
        return np.where(hole[..., None], image[~hole].mean(axis=0).round().astype(np.uint8), image)
    if method == "biharmonic":
        from skimage.restoration import inpaint_biharmonic
        out = inpaint_biharmonic(image.astype(np.float64) / 255.0, hole, channel_axis=-1)
        out = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
        return np.where(hole[..., None], out, image)
    flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[method]
    bgr = np.ascontiguousarray(image[..., ::-1])
    out = cv2.inpaint(bgr, hole.astype(np.uint8) * 255, INPAINT_RADIUS, flag)[..., ::-1]
    return np.where(hole[..., None], out, image).astype(np.uint8)


MEAN_FILL = ("mean fill", "mean")   # each hole pixel = the per-channel mean of the image's known pixels
CLASSICAL = (("OpenCV Telea", "telea"), ("OpenCV Navier-Stokes", "ns"), ("scikit-image biharmonic", "biharmonic"))


class Method:
    """A row: `name`, `status` ("ok" / NOT_TRAINED / NOT_COMPARABLE / "failed: ..."), `where`,
    `fn`, and for a trained model `trained` (its training Selection, None if unknown)."""

    def __init__(self, name, where, fn=None, status="ok", trained=None, trained_on=None):
        self.name, self.where, self.fn, self.status = name, str(where), fn, status
        self.trained, self.trained_on = trained, trained_on


def run_config(path):
    """The config.json of the run that made `path` (a run directory, or a file under <run>/export/)."""
    path = Path(path)
    for folder in ([path] if path.is_dir() else []) + [path.parent, path.parent.parent]:
        if rundir.config_path(folder).is_file():
            try:
                config = rundir.read_config(folder)
            except UserError:
                return None
            return config if isinstance(config, dict) else None
    return None


def training_selection(path):
    """(Selection or None, one-line description) of the images the model at `path` trained on."""
    from data import selection
    config = run_config(path)
    trained = selection.of_config(config) if config else None
    if trained is None:
        return None, "unknown (no config.json naming its dataset)"
    return trained, trained.describe()


class Sharpener:
    """A paper-E row's function: uint8 blurred -> uint8 sharpened with `generator`."""

    def __init__(self, generator):
        self.generator = generator

    def __call__(self, image):
        from sharpen import sharpen_array
        return sharpen_array(self.generator, image)


def untrained(method, seed=0):
    """The row's model with fresh initial weights (its layers' own initialisers, seeded): what training
    started from, so a table shows learning as the difference to this row. Paper C's twin is the same
    latent search in an untrained G and D."""
    import copy
    import keras
    from inpainters import Inpainter
    from inpainters.latent import LatentInpainter
    fn = method.fn
    if isinstance(fn, LatentInpainter):
        keras.utils.set_random_seed(seed)
        twin = copy.copy(fn)
        twin.G, twin.D = keras.models.clone_model(fn.G), keras.models.clone_model(fn.D)
        twin.name = f"{fn.name} (step 0)"
        return Method(f"{method.name} (step 0)", method.where, fn=twin, trained=method.trained,
                      trained_on="none (initial weights)")
    net = fn.model if isinstance(fn, Inpainter) else getattr(fn, "generator", None)
    if net is None:
        return None
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(net)
    twin = Inpainter(fresh, name=f"{fn.name} (step 0)") if isinstance(fn, Inpainter) else Sharpener(fresh)
    return Method(f"{method.name} (step 0)", method.where, fn=twin, trained=method.trained,
                  trained_on="none (initial weights)")


def with_step0(methods):
    """Each trained model row followed by the same model untrained (step 0), where it has one."""
    out = []
    for m in methods:
        out.append(m)
        twin = untrained(m) if m.status == "ok" and m.fn is not None else None
        if twin is not None:
            out.append(twin)
    return out


def model_method(name, path, loader, test=None):
    """A trained-model row; a missing path -> NOT_TRAINED, a model whose run config.json says it
    trained on any of the `test` images (a data.selection.Selection) -> NOT_COMPARABLE, unscored;
    a load failure -> "failed: ..." (the table still completes)."""
    if path is None or not Path(path).exists():
        return Method(name, path, status=NOT_TRAINED)
    trained, trained_on = training_selection(path)
    if not comparable(trained, test):
        return Method(name, path, status=NOT_COMPARABLE, trained=trained, trained_on=trained_on)
    try:
        model = loader(path)
    except UserError as e:
        return Method(name, path, status=f"failed: {e}", trained=trained, trained_on=trained_on)
    return Method(name, path, fn=model, trained=trained, trained_on=trained_on)


def comparable(trained, test):
    """False when a model's training selection shares images with the test selection."""
    from data import selection
    return trained is None or test is None or not selection.overlaps(trained, test)


def training_lines(methods, test, label="Test images"):
    """Markdown lines: which images the table scores and which each model row trained on."""
    lines = [f"{label}: {test.describe() if test is not None else 'see the protocol'}. Training images of each "
             f"model row (from its run's config.json); a row whose model saw any test image is not scored:", ""]
    lines += [f"- {m.name}: {m.trained_on}" + (f" -> **{m.status}**" if m.status == NOT_COMPARABLE else "")
              for m in methods if m.trained_on is not None]
    return lines + [""]


def classical_method(name, key):
    return Method(name, "classical", fn=lambda im, h: classical_inpaint(key, im, h))


def _inpainter_loader(path):
    from inpainters import load_inpainter
    return load_inpainter(path)


def _dcgan_loader(iterations):
    def load(path):
        from inpainters.latent import latent_inpainter
        return latent_inpainter(str(path), iterations=iterations, progress=False)
    return load


def _iizuka_file(run_dir, stage):
    return rundir.export_path(run_dir, f"stage{stage}.keras")


def inpainting_methods_a(args, test=None):
    """Table A's rows. "Context Encoder" is paper D's full-image variant trained with GLCIC holes
    (`train_context_encoder.py --mask glcic`, --glcic-context-encoder-run), which can fill any hole;
    the centre model (--context-encoder-run) only fills the centre square and keeps table D."""
    return [
        model_method("autoencoder", _iizuka_file(args.stage_run, 1), _inpainter_loader, test),
        model_method("DCGAN", args.dcgan_run, _dcgan_loader(args.latent_iterations), test),
        model_method("Context Encoder", args.glcic_context_encoder_run, _inpainter_loader, test),
        model_method("this paper (A)", _iizuka_file(args.stage_run, 3), _inpainter_loader, test),
        model_method("paper B (unsupervised)", args.unsupervised_run, _inpainter_loader, test),
        classical_method(*MEAN_FILL),
        classical_method("OpenCV Telea (reference)", "telea"),
    ]


def run_inpainting(methods, images, holes, out_dir, set_name, blend):
    """Complete `images` with every method; save outputs; -> {name: dict(status, where, mean, per_image)}."""
    names = [f"{i:05d}.png" for i in range(len(images))]
    base = Path(out_dir) / "images" / set_name
    write_images(base / "ground_truth", images, names)
    shown = np.where(holes[..., None], np.uint8(255), images)          # holes drawn white
    write_images(base / "input", shown, names)
    results, outputs = {}, {}
    chunk_size = 64        # completed, saved and scored chunk by chunk: 20,000 outputs never sit in memory
    for m in methods:
        entry = {"status": m.status, "where": m.where}
        if m.status == "ok":
            per = []
            bar = progress(range(len(images)), f"{set_name}: {m.name}")
            for i in range(0, len(images), chunk_size):
                ims, hs = images[i:i + chunk_size], holes[i:i + chunk_size]
                if hasattr(m.fn, "predict"):
                    done = complete_batch(m.fn, ims, hs, blend)
                else:
                    done = np.stack([m.fn(im, h) for im, h in zip(ims, hs)])
                files = write_images(base / slug(m.name), done, names[i:i + chunk_size])
                rows = score(done, ims, hs.astype(np.float32)[..., None])
                for k, (r, f) in enumerate(zip(rows, files)):
                    r.update(index=i + k, file=os.path.relpath(f, out_dir))
                per += rows
                if i == 0:
                    outputs[m.name] = done[:GRID_EXAMPLES]
                bar.update(len(done))
            bar.close()
            entry.update(mean=means(per), per_image=per)
        results[m.name] = entry
    from imagefiles import write_png
    from training.summaries import image_grid
    rows = {"input": shown[:GRID_EXAMPLES], **outputs, "ground truth": images[:GRID_EXAMPLES]}
    write_png(Path(out_dir) / f"grid_{set_name}.png", image_grid(rows, max_examples=GRID_EXAMPLES, labels=True))
    return results


# ----------------------------------------------------------------------------- table A
def mask_bank(directory, kind, n, size, seed=MASK_SEED, log=print, **kw):
    """The saved bank in `directory` (generated and saved on first use). The bank is the source of
    truth: it is reused as saved; a bank made with other settings is refused; one with fewer than
    n masks is extended (mask i depends only on (seed, i), so its first masks stay the same)."""
    from data.evalsets import MaskBank
    directory = Path(directory)
    if (directory / MaskBank.MANIFEST).is_file():
        bank = MaskBank.load(str(directory))
        want = dict(kind=kind, seed=[0, seed], size=[size, size], kwargs=kw, format=MaskBank.FORMAT)
        have = dict(kind=bank.kind, seed=bank.seed, size=[bank.height, bank.width], kwargs=bank.kwargs,
                    format=bank.format)
        if have != want:
            raise UserError(f"the mask bank in {directory} was made with {have}, not {want}; "
                            f"pass another --mask-bank or delete that folder")
        if len(bank) >= n:
            return bank
        log(f"extending the mask bank {directory} from {len(bank)} to {n} masks (same seed)")
    bank = MaskBank.generate(kind, n, size, size, [0, seed], **kw)
    bank.save(str(directory))
    log(f"saved {n} {kind} masks (seed {seed}) to {directory}")
    return bank


def load_eval_images(source, size, n, desc):
    """The first n images of `source`, centre square crop resized to size -> uint8 [n,S,S,3]."""
    from data.preprocess import center_crop_resize
    images = [center_crop_resize(im, size).numpy()
              for im in progress(source.dataset().take(n), desc, total=n)]
    if not images:
        raise UserError(f"no readable images in {source}")
    return np.stack(images)


def scored_part(test, n):
    """The first n images of a test Selection (what a --limit run scores)."""
    import dataclasses
    return dataclasses.replace(test, hi=min(test.hi, test.lo + n))


def table_a(args, log=print):
    from data import selection
    from data.masks import glcic_kw
    from data.sources import open_source
    size = args.image_size
    source = open_source(args.dataset, "test", data_dir=args.data_dir, first=args.first, n_train=args.n_train)
    n = len(source) if args.limit is None else min(args.limit, len(source))
    images = load_eval_images(source, size, n, "loading test images")
    n = len(images)
    test = scored_part(selection.selection(args.dataset, "test", args.first, args.n_train), n)
    bank_root = Path(args.mask_bank or Path("runs") / "eval_masks" / f"table_a_{size}")
    banks = {"glcic": mask_bank(bank_root / "glcic", "glcic", n, size, log=log, **glcic_kw(size)),
             "center": mask_bank(bank_root / "center", "center", n, size, log=log, side=size // 2)}
    methods = inpainting_methods_a(args, test)
    if args.step0:
        methods = with_step0(methods)
    result = {"table": "A", "dataset": str(args.dataset), "n_images": n, "image_size": size,
              "training": training_lines(methods, test),
              "blend": args.blend, "mask_bank": str(bank_root), "mask_seed": MASK_SEED,
              "protocol": (f"{n} images of {args.dataset} (test split), centre crop resized to {size}x{size}; "
                           f"known pixels kept, hole {'Poisson-blended' if args.blend else 'pasted'} for every "
                           f"method; PSNR/SSIM on RGB [0, 255], mean of per-image values, whole image and hole only"),
              "sets": {}}
    for kind, bank in banks.items():
        holes = bank.masks[:n, ..., 0] > 0.5
        result["sets"][kind] = {"mask": f"{kind} bank {bank_root / kind}, {bank.kwargs}",
                                "methods": run_inpainting(methods, images, holes, args.out, f"A_{kind}", args.blend)}
    return result


def markdown_a(result):
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
            p = PAPER_A.get(name)
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


# ----------------------------------------------------------------------------- table D
def table_d(args, log=print):
    from data.masks import make_mask
    from data.sources import open_source
    size = 128 if args.image_size is None else args.image_size
    side = size // 2
    hole = make_mask("center", [0, 0], size, size, side=side)[0].numpy()[..., 0] > 0.5
    models = [("ours(l_rec)", args.rec_only_run), ("ours(l_rec + l_adv)", args.context_encoder_run)]
    classical = [classical_method(name, key) for name, key in (MEAN_FILL,) + CLASSICAL]
    result = {"table": "D", "image_size": size, "hole": f"centre {side}x{side}", "blend": args.blend,
              "protocol": (f"each image centre-cropped to a square and resized to {size}x{size}, centre "
                           f"{side}x{side} hole; known pixels kept, hole {'Poisson-blended' if args.blend else 'pasted'}; "
                           f"PSNR over the whole image, RGB [0, 255] (paper D's eq. 6)"), "sets": {}}
    from data import selection
    result["training"] = []
    for name in D_SETS:
        folder = getattr(args, name)
        if folder is None or (folder != "samples" and not Path(folder).is_dir()):
            result["sets"][name] = {"status": "no data", "where": folder}
            continue
        source = open_source(folder, "test")
        n = len(source) if args.limit is None else min(args.limit, len(source))
        images = load_eval_images(source, size, n, f"loading {name}")
        holes = np.repeat(hole[None], len(images), axis=0)
        test = scored_part(selection.selection(folder, "test"), len(images))
        methods = [model_method(m, path, _inpainter_loader, test) for m, path in models] + classical
        if args.step0:
            methods = with_step0(methods)
        result["training"] += training_lines(methods, test, f"{name} test images")
        result["sets"][name] = {"status": "ok", "where": folder, "n_images": len(images),
                                "methods": run_inpainting(methods, images, holes, args.out, f"D_{name}", args.blend)}
    return result


def markdown_d(result):
    sets = result["sets"]

    def col(name):
        s = sets[name]
        if s["status"] != "ok":
            return f"{name} (no data)"
        if s["where"] == "samples":
            return f"{name} slot: bundled samples photos, NOT {name} ({s['n_images']} images)"
        if name not in Path(str(s["where"])).name.lower():       # a folder that is not the named set
            return f"{name} slot: {Path(str(s['where'])).name}/, NOT {name} ({s['n_images']} images)"
        return f"{name} ({s['n_images']} images)"

    lines = ["# Paper D: PSNR (dB) of the repaired images", "", f"Protocol: {result['protocol']}.",
             "Grids grid_D_<set>.png, rows: input (hole white) / each scored method in table order / ground truth.", "",
             *result.get("training", []),
             "| method | source | " + " | ".join(col(n) for n in D_SETS) + " | mean of the sets with data |",
             "|---|---|" + "---|" * (len(D_SETS) + 1)]
    names = [m for s in sets.values() if s["status"] == "ok" for m in s["methods"]]
    for name in dict.fromkeys(names or ["ours(l_rec)", "ours(l_rec + l_adv)"] + [c for c, _ in CLASSICAL]):
        if name in PAPER_D:
            lines.append(f"| {name} | paper | " + " | ".join(f"{v:.2f}" for v in PAPER_D[name])
                         + f" | {np.mean(PAPER_D[name]):.2f} |")
        cells, vals = [], []
        for n in D_SETS:
            s = sets[n]
            e = s.get("methods", {}).get(name) if s["status"] == "ok" else None
            if e is None:
                cells.append("no data")
            elif e["status"] != "ok":
                cells.append(e["status"])
            else:
                vals.append(e["mean"]["psnr"])
                cells.append(f"{e['mean']['psnr']:.2f}")
        mean = f"{np.mean(vals):.2f}" if vals and len(vals) == sum(sets[n]["status"] == "ok" for n in D_SETS) else "–"
        lines.append(f"| {name} | ours | " + " | ".join(cells) + f" | {mean} |")
    for name in ("SRCNN", "Bicubic", "ESRCNN"):
        lines.append(f"| {name} | paper, NOT comparable (super-resolution, not hole filling) | "
                     + " | ".join(f"{v:.2f}" for v in PAPER_D[name]) + f" | {np.mean(PAPER_D[name]):.2f} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- table E
def unsharp_mask(image, sigma=UNSHARP_SIGMA, amount=UNSHARP_AMOUNT):
    """uint8 -> uint8: x + amount * (x - GaussianBlur(x, sigma)), the classical sharpening baseline."""
    import cv2
    x = image.astype(np.float32)
    blur = cv2.GaussianBlur(x, (0, 0), sigma)
    return np.clip(np.rint(x + amount * (x - blur)), 0, 255).astype(np.uint8)


def _centre(image, side=GRID_CROP):
    h, w = image.shape[:2]
    s = min(side, h, w)
    return image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def table_e(args, log=print):
    from data import evalsets
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
    names = [f"{i:05d}.png" for i in range(len(pairs))]
    base = Path(args.out) / "images" / "E"
    write_images(base / "ground_truth", sharp, names)
    write_images(base / "input", blurred, names)

    def sharpen_with(path):
        from sharpen import load_generator
        return Sharpener(load_generator(path))

    methods = [Method("blurred input", eval_set, fn=lambda im: im),
               Method(f"unsharp mask (sigma {UNSHARP_SIGMA}, amount {UNSHARP_AMOUNT})", "classical", fn=unsharp_mask)]
    from data import selection
    test = scored_part(selection.selection(manifest.get("dataset"), "test"), len(pairs)) \
        if manifest.get("dataset") else None
    methods += [model_method(variant, args.deblur_runs.format(variant=variant), sharpen_with, test)
                for variant in papers.PAPERS["E"].variants]
    if args.step0:
        methods = with_step0(methods)
    result = {"table": "E", "eval_set": str(eval_set), "n_images": len(pairs), "dataset": manifest.get("dataset"),
              "degradation": {k: manifest.get(k) for k in ("blur", "seed", "size", "kernel_size")},
              "protocol": "whole image, RGB [0, 255], mean of per-image PSNR / SSIM (11x11 Gaussian, sigma 1.5)",
              "training": training_lines(methods, test), "methods": {}}
    grid = {"blurred input": [_centre(b) for b in blurred]}
    for m in methods:
        entry = {"status": m.status, "where": m.where}
        if m.status == "ok":
            done = [m.fn(b) for b in progress(blurred, f"E: {m.name}")]
            files = write_images(base / slug(m.name), done, names)
            per = score(done, sharp)
            for i, (r, f) in enumerate(zip(per, files)):
                r.update(index=i, file=os.path.relpath(f, args.out))
            entry.update(mean=means(per), per_image=per)
            if m.name != "blurred input":
                grid[m.name] = [_centre(d) for d in done]
        result["methods"][m.name] = entry
    grid["ground truth"] = [_centre(s) for s in sharp]
    from imagefiles import write_png
    from training.summaries import image_grid
    write_png(Path(args.out) / "grid_E.png",
              image_grid({k: np.stack(v) if len({x.shape for x in v}) == 1 else np.stack([_centre(x, min(
                  min(y.shape[:2]) for y in v)) for x in v]) for k, v in grid.items()}, max_examples=GRID_EXAMPLES,
                         labels=True))
    return result


def markdown_e(result):
    lines = ["# Paper E: deblurring ablation", "",
             f"Protocol: {result['protocol']}. Set: {result['eval_set']} ({result['dataset']}, degradation "
             f"{result['degradation']}). Images scored: **{result['n_images']}**.",
             "The paper does not say how its blurred images were made: compare rankings, not absolute values.",
             f"Grid grid_E.png (centre {GRID_CROP}x{GRID_CROP} crops), rows: blurred input / each scored method in "
             f"table order / ground truth.", "", *result.get("training", []),
             "| model | PSNR (paper) | SSIM (paper) | PSNR (ours) | SSIM (ours) |", "|---|---|---|---|---|"]
    for name, e in result["methods"].items():
        label, pp, ps = PAPER_E.get(name, (name, None, None))
        if name in PAPER_E:
            label = f"{label} (`{name}`)"
        pp = "–" if pp is None else f"{pp:.2f}"
        ps = "–" if ps is None else f"{ps:.3f}"
        if e["status"] != "ok":
            lines.append(f"| {label} | {pp} | {ps} | {e['status']} | |")
        else:
            lines.append(f"| {label} | {pp} | {ps} | {e['mean']['psnr']:.2f} | {e['mean']['ssim']:.3f} |")
    return "\n".join(lines) + "\n"


def deblur_scores(model, eval_set, tile=None, overlap=None, log=print):
    """Mean PSNR / SSIM (RGB, [0, 255], whole image) of one paper E model's output and of the
    blurred input on a fixed set (`python train_deblur.py evaluate`)."""
    import metrics
    from data.evalsets import load_deblur_set
    from sharpen import DEFAULT_TILE, load_generator, sharpen_array
    G = load_generator(model) if isinstance(model, (str, Path)) else model
    _, pairs = load_deblur_set(eval_set)
    rows = {"blurred input": ([], []), "model": ([], [])}
    for blurred, sharp in pairs:
        out = sharpen_array(G, blurred, tile or DEFAULT_TILE, overlap)
        for name, img in (("blurred input", blurred), ("model", out)):
            rows[name][0].append(metrics.psnr(img, sharp))
            rows[name][1].append(metrics.ssim(img, sharp))
    result = {name: {"psnr": float(np.mean(p)), "ssim": float(np.mean(s)), "n": len(p)} for name, (p, s) in rows.items()}
    for name, v in result.items():
        log(f"| {name} | {v['psnr']:.2f} | {v['ssim']:.3f} |")
    return result


def deblur_scores_command(argv):
    """`python train_deblur.py evaluate --model M --eval-set S [--json F]`: deblur_scores from the command line."""
    p = cliargs.ArgumentParser(prog="train_deblur.py evaluate", description=deblur_scores.__doc__)
    p.add_argument("--model", required=True, help="run directory or exported .keras generator")
    p.add_argument("--eval-set", required=True, help="folder written by make-eval-set")
    p.add_argument("--json", default=None, help="also write the result here")
    a = p.parse_args(argv)
    result = deblur_scores(a.model, a.eval_set)
    if a.json:
        rundir.write_json_atomic(Path(a.json), result)
    return 0


# ----------------------------------------------------------------------------- CLI
_MAKERS = {"A": (table_a, markdown_a), "D": (table_d, markdown_d), "E": (table_e, markdown_e)}
TABLES = {table: _MAKERS[table] for table in papers.TABLES}    # the tables the registry names


def build_parser():
    p = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--table", required=True, choices=tuple(TABLES), help="which paper's table")
    p.add_argument("--out", default=None, help="output folder (default: results/table_<X>)")
    p.add_argument("--limit", type=positive_int, default=None, help="score only the first N images (stated in the table)")
    p.add_argument("--dataset", default=None,
                   help="A: tfds name / folder / samples (default celeb_a); E: source of a new eval set (default div2k)")
    p.add_argument("--data-dir", default=None, help="tfds data directory")
    p.add_argument("--image-size", type=image_side, default=None, help="A: evaluation size (default 128); D: (default 128)")
    p.add_argument("--step0", action="store_true",
                   help="beside each trained model, the same model untrained (its initial weights): "
                        "learning shows as the difference (the demo passes it)")
    p.add_argument("--note", default=None, help="a line printed at the top of the table (e.g. the training budget)")
    p.add_argument("--blend", action=argparse.BooleanOptionalAction, default=None,
                   help="Poisson-blend every method's hole (default: on for A, off for D)")
    a = p.add_argument_group("table A")
    a.add_argument("--first", type=positive_int, default=100_000, help="as train_iizuka.py (default: %(default)s)")
    a.add_argument("--n-train", type=nonnegative_int, default=80_000, help="as train_iizuka.py; the rest is the test split")
    a.add_argument("--mask-bank", default=None,
                   help="folder of the saved mask banks (<dir>/glcic, <dir>/center); made on first use "
                        "(default: runs/eval_masks/table_a_<size>)")
    a.add_argument("--stage-run", default="runs/train_iizuka",
                   help="paper A run: export/stage1.keras = autoencoder, export/stage3.keras = paper A")
    a.add_argument("--dcgan-run", default="runs/c_dcgan", help="paper C run trained with --loss bce")
    a.add_argument("--unsupervised-run", default="runs/train_unsupervised", help="paper B run")
    a.add_argument("--latent-iterations", type=positive_int, default=1500, help="DCGAN latent search (default: %(default)s)")
    a.add_argument("--glcic-context-encoder-run", default="runs/context_encoder_glcic",
                   help="A's Context Encoder row: paper D's full-image variant trained with GLCIC holes "
                        "(train_context_encoder.py --mask glcic; the centre model fills only the centre square)")
    d = p.add_argument_group("table D")
    d.add_argument("--context-encoder-run", default="runs/train_context_encoder",
                   help="paper D run, l_rec + l_adv, centre mask")
    d.add_argument("--rec-only-run", default="runs/context_encoder_rec", help="paper D run with --rec-only")
    for name in D_SETS:
        d.add_argument(f"--{name}", default=None, help=f"folder of {name} images (or 'samples'); missing = no data")
    e = p.add_argument_group("table E")
    e.add_argument("--eval-set", default="datasets/deblur_eval",
                   help="folder of a paper E evaluation set (train_deblur.py make-eval-set)")
    e.add_argument("--eval-n", type=positive_int, default=100, help="images in a newly made eval set (default: %(default)s)")
    e.add_argument("--eval-size", type=image_side, default=None, help="centre crop of a newly made eval set (default: whole)")
    e.add_argument("--deblur-runs", default="runs/deblur_{variant}",
                   help="run directory pattern of the four variants (default: %(default)s)")
    return p


def evaluate(argv=None, log=print):
    """Run one table; returns (result dict, markdown text). Files go to --out."""
    args = build_parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    if args.latent_iterations < 1:
        raise UserError(f"--latent-iterations must be >= 1, got {args.latent_iterations}")
    args.dataset = args.dataset or {"A": "celeb_a", "E": "div2k"}.get(args.table)
    args.blend = (args.table == "A") if args.blend is None else args.blend
    if args.table == "A":
        args.image_size = args.image_size or 128
        if args.image_size < 16:
            raise UserError(f"--image-size must be >= 16, got {args.image_size}")
    args.out = str(Path(args.out or Path("results") / f"table_{args.table}"))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    make, markdown = TABLES[args.table]
    result = make(args, log=log)
    result["limit"] = args.limit
    result["note"] = args.note
    text = markdown(result)
    if args.note:
        title, rest = text.split("\n", 1)
        text = f"{title}\n\n**{args.note}**\n{rest}"
    (Path(args.out) / f"table_{args.table}.md").write_text(text)
    rundir.write_json_atomic(Path(args.out) / f"table_{args.table}.json", result)
    return result, text


def main(argv=None):
    result, text = evaluate(argv)
    print(text)
    return 0


if __name__ == "__main__":
    cli(main)
