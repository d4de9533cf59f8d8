"""Each paper's qualitative claim, checked at proxy scale from the demo's tables (`demo.py --budget long`).

The claims (PAPERS.md, issue 14 item 3):
- E: PSNR ranks NonBN-ResG > ResG > StackedG (paper 28.54 > 25.82 > 25.11 dB); NonBN-ResG-L has the
  higher SSIM of the two no-BN models (paper 0.933 vs 0.917).
- D: l_rec + l_adv beats l_rec (paper +0.73 dB on Set5) and the classical fills (Telea, Navier-Stokes,
  biharmonic).
- A: stage 3 stays within 1 dB of stage 1 in PSNR while the GAN changes the hole: we measure how
  much detail (mean gradient magnitude) the hole holds against the ground truth's.
- C: the latent search lowers the contextual loss over its iterations.

Every verdict is computed from the figures in the table JSONs; a claim that does not hold is written
down as not holding, with the numbers.
"""
import json
from pathlib import Path

import numpy as np

E_NAMES = {"stacked": "StackedG", "res_bn": "ResG", "nonbn_res": "NonBN-ResG", "nonbn_res_l": "NonBN-ResG-L"}


def _yes(ok):
    return "**holds**" if ok else "**does not hold**"


def claim_e(table):
    m = {k: v["mean"] for k, v in table["methods"].items() if v.get("status") == "ok" and "mean" in v}
    if not all(k in m for k in E_NAMES):
        return []
    p = {k: m[k]["psnr"] for k in E_NAMES}
    rank = p["nonbn_res"] > p["res_bn"] > p["stacked"]
    order = " > ".join(f"{E_NAMES[k]} {p[k]:.2f}" for k in sorted(E_NAMES, key=p.get, reverse=True))
    ssim = m["nonbn_res_l"]["ssim"] > m["nonbn_res"]["ssim"]
    blurred = m.get("blurred input", {})
    return [
        dict(paper="E", claim="PSNR: NonBN-ResG > ResG > StackedG (paper 28.54 > 25.82 > 25.11)", holds=rank,
             evidence=f"measured order {order} dB (blurred input {blurred.get('psnr', float('nan')):.2f})"),
        dict(paper="E", claim="SSIM: NonBN-ResG-L > NonBN-ResG (paper 0.933 > 0.917)", holds=ssim,
             evidence=f"NonBN-ResG-L {m['nonbn_res_l']['ssim']:.4f}, NonBN-ResG {m['nonbn_res']['ssim']:.4f}"),
    ]


def claim_d(table):
    methods = table["sets"].get("set5", {}).get("methods", {})
    m = {k: v["mean"] for k, v in methods.items() if v.get("status") == "ok" and "mean" in v}
    adv, rec = m.get("ours(l_rec + l_adv)"), m.get("ours(l_rec)")
    if adv is None or rec is None:
        return []
    classical = {k: m[k]["psnr"] for k in ("OpenCV Telea", "OpenCV Navier-Stokes", "scikit-image biharmonic")
                 if k in m}
    best = max(classical.values()) if classical else float("nan")
    return [
        dict(paper="D", claim="l_rec + l_adv beats l_rec in PSNR (paper 35.36 vs 34.63 on Set5)",
             holds=adv["psnr"] > rec["psnr"],
             evidence=f"l_rec + l_adv {adv['psnr']:.2f}, l_rec {rec['psnr']:.2f} dB (whole image); "
                      f"hole only {adv['psnr_hole']:.2f} vs {rec['psnr_hole']:.2f}"),
        dict(paper="D", claim="the context encoder beats the classical fills (Telea, Navier-Stokes, biharmonic)",
             holds=max(adv["psnr"], rec["psnr"]) > best,
             evidence=", ".join(f"{k} {v:.2f}" for k, v in classical.items())
                      + f"; best model {max(adv['psnr'], rec['psnr']):.2f} dB"),
    ]


def hole_detail(image, hole):
    """Mean gradient magnitude (grey levels per pixel) over the hole's interior: how much texture a
    fill holds (a flat fill: 0; the ground truth: its own detail)."""
    grey = np.asarray(image, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    gy, gx = np.gradient(grey)
    return float(np.hypot(gx, gy)[hole].mean())


def claim_a(table, folder, masks):
    """Stage 3 ('this paper (A)') against stage 1 ('autoencoder') on the GLCIC holes; `folder` holds
    table A's images/A_glcic/<method>/NNNNN.png, `masks` the bank's [N,S,S,1] holes."""
    from imagefiles import read_image
    from evaluation.common import slug
    methods = table["sets"].get("glcic", {}).get("methods", {})
    s1, s3 = methods.get("autoencoder", {}), methods.get("this paper (A)", {})
    if "mean" not in s1 or "mean" not in s3:
        return []
    d = s3["mean"]["psnr"] - s1["mean"]["psnr"]
    holes = np.asarray(masks)[..., 0] > 0.5
    detail = {}
    for name in ("autoencoder", "this paper (A)", "ground truth"):
        files = sorted((Path(folder) / slug(name)).glob("*.png"))
        if files:
            detail[name] = np.mean([hole_detail(read_image(f), h) for f, h in zip(files, holes)])
    ev = (f"stage 3 {s3['mean']['psnr']:.2f} vs stage 1 {s1['mean']['psnr']:.2f} dB whole image "
          f"({d:+.2f}); hole {s3['mean']['psnr_hole']:.2f} vs {s1['mean']['psnr_hole']:.2f}")
    rows = [dict(paper="A", claim="stage 3 (with the GAN) within 1 dB of stage 1 in PSNR", holds=abs(d) <= 1.0,
                 evidence=ev)]
    if len(detail) == 3:
        truth = detail["ground truth"]
        rows.append(dict(
            paper="A", claim="the GAN puts detail into the hole (stage 3 holds more gradient than stage 1)",
            holds=detail["this paper (A)"] > detail["autoencoder"],
            evidence=f"mean gradient magnitude in the hole: stage 3 {detail['this paper (A)']:.2f}, stage 1 "
                     f"{detail['autoencoder']:.2f}, ground truth {truth:.2f} grey levels / px"))
    return rows


def claim_c(history):
    """history: [(iteration, mean contextual loss)] of one latent search. "Lowers" means by at least
    1%: a search that only wobbles (a 2-iteration wiring check) does not count."""
    if len(history) < 2:
        return []
    first, last = history[0][1], history[-1][1]
    return [dict(paper="C", claim="the latent search lowers the contextual loss over its iterations",
                 holds=last < 0.99 * first,
                 evidence=f"L1 contextual loss per image (mean over the test images) {first:.1f} at iteration {history[0][0]} -> {last:.1f} at "
                          f"iteration {history[-1][0]} ({100 * (last - first) / max(first, 1e-12):+.0f}%)")]


def c_history(run_dir, table_a_folder, masks, iterations, out_png):
    """Run paper C's latent search on table A's ground-truth images (resized to the model's size)
    with the GLCIC holes, recording the contextual loss; plot it to `out_png`."""
    import tensorflow as tf
    from imagefiles import read_image
    from inpainters.latent import latent_search, load_trained
    from data.preprocess import to_float
    G, D, config = load_trained(run_dir)
    from models import wgan
    s = int(config["image_size"])
    files = sorted((Path(table_a_folder) / "ground_truth").glob("*.png"))
    images = tf.image.resize(np.stack([to_float(read_image(f)).numpy() for f in files]), (s, s), antialias=True)
    holes = tf.cast(tf.image.resize(np.asarray(masks, np.float32), (s, s), method="nearest") > 0.5, tf.float32)
    res = latent_search(G, D, images, holes, wgan.flavour_of(config), iterations=iterations,
                        record_every=max(1, iterations // 50), progress=False)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(*zip(*res["history"]), lw=1)
    ax.set_xlabel("latent search iteration")
    ax.set_ylabel("L1 contextual loss per image")
    ax.set_title(f"paper C latent search ({len(files)} test images, GLCIC holes)", fontsize=9)
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return res["history"]


def markdown(rows):
    lines = ["| paper | claim | at proxy scale | evidence |", "|---|---|---|---|"]
    lines += [f"| {r['paper']} | {r['claim']} | {_yes(r['holds'])} | {r['evidence']} |" for r in rows]
    return "\n".join(lines)


def check(out, runs, latent_iterations):
    """All claims from the tables under `out` (demo.py's layout); writes claims.md / claims.json."""
    from data.evalsets import MaskBank
    out, runs = Path(out), Path(runs)
    rows = []
    table = lambda t: json.loads((out / f"table_{t}" / f"table_{t}.json").read_text())   # noqa: E731
    rows += claim_e(table("E"))
    rows += claim_d(table("D"))
    masks = MaskBank.load(out / "mask_banks" / "glcic").masks
    rows += claim_a(table("A"), out / "table_A" / "images" / "A_glcic", masks)
    history = c_history(runs / "c", out / "table_A" / "images" / "A_glcic", masks, latent_iterations,
                        out / "curves" / "c_latent_search.png")
    rows += claim_c(history)
    rows = [dict(r, holds=bool(r["holds"])) for r in rows]
    text = markdown(rows)
    (out / "claims.md").write_text(text + "\n")
    (out / "claims.json").write_text(json.dumps(dict(rows=rows, c_history=history), indent=1))
    return rows, text
