"""evaluate.py: each table end-to-end on tiny smoke models and the bundled photos."""
import json
from pathlib import Path

import numpy as np
import pytest

import evaluate
import metrics
from evaluation import common, protocol
from data.evalsets import MaskBank
from errors import UserError
from sharpen import read_image


def _quiet(*_a, **_k):
    pass


_RUNS = {}


def smoke_runs(tmp_path_factory):
    """Smoke runs, one step each: paper A (3 stages), C (DCGAN), D (l_rec + l_adv), B, E (nonbn_res).
    D's rec-only run and three E variants are left untrained: their rows must read "not trained".
    Trained once per pytest process (tests/test_demo.py reuses them: the demo skips trained runs)."""
    if "root" in _RUNS:
        return _RUNS["root"]
    import tensorflow as tf
    root = tmp_path_factory.mktemp("eval_runs")
    before = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})   # as conftest's fast_graphs
    try:
        _train_smoke_runs(root)
    finally:
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": before.get("disable_meta_optimizer", False)})
    _RUNS["root"] = root
    return root


def _train_smoke_runs(root):
    import train_context_encoder
    import train_deblur
    import train_iizuka
    import train_unsupervised
    import train_wgan_completion
    common = ["--smoke", "--dataset", "samples", "--vgg-weights", "none", "--steps", "1"]
    for stage in (1, 2, 3):
        assert train_iizuka.main(common + ["--run-dir", str(root / "a"), "--stage", str(stage)]) == 0
    assert train_wgan_completion.main(["train", "--loss", "bce"] + common + ["--run-dir", str(root / "c")]) == 0
    assert train_context_encoder.main(common + ["--run-dir", str(root / "d")]) == 0
    assert train_unsupervised.main(common + ["--run-dir", str(root / "b")]) == 0
    assert train_deblur.main(common + ["--variant", "nonbn_res", "--run-dir", str(root / "e_nonbn_res")]) == 0


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return smoke_runs(tmp_path_factory)


def _recompute(out_dir, result_sets, masks_of=None):
    """Every per-image figure in the JSON equals a recomputation from the saved PNGs."""
    checked = 0
    for set_name, methods in result_sets.items():
        for name, e in methods.items():
            if e["status"] != "ok":
                continue
            for r in e["per_image"]:
                out = read_image(Path(out_dir) / r["file"])
                gt = read_image(Path(out_dir) / Path(r["file"]).parent.parent / "ground_truth" / Path(r["file"]).name)
                assert r["psnr"] == pytest.approx(metrics.psnr(out, gt), abs=1e-9)
                assert r["ssim"] == pytest.approx(metrics.ssim(out, gt), abs=1e-9)
                if masks_of is not None:
                    m = masks_of(set_name)[r["index"]]
                    assert r["psnr_hole"] == pytest.approx(metrics.psnr(out, gt, mask=m), abs=1e-9)
                    assert r["ssim_hole"] == pytest.approx(metrics.ssim(out, gt, mask=m), abs=1e-9)
                checked += 1
    return checked


def test_table_a_end_to_end(runs, tmp_path):
    out, bank = tmp_path / "A", tmp_path / "banks"
    argv = ["--table", "A", "--dataset", "samples", "--limit", "2", "--image-size", "32", "--latent-iterations", "3",
            "--stage-run", str(runs / "a"), "--dcgan-run", str(runs / "c"), "--glcic-context-encoder-run", str(runs / "d"),
            "--unsupervised-run", str(runs / "b"), "--mask-bank", str(bank), "--out", str(out)]
    result, text = evaluate.evaluate(argv, log=_quiet)
    saved = json.loads((out / "table_A.json").read_text())
    assert saved["n_images"] == 2 and "Images scored: **2**" in text
    assert (out / "table_A.md").read_text() == text
    for kind in ("glcic", "center"):
        methods = saved["sets"][kind]["methods"]
        assert set(methods) >= {"autoencoder", "DCGAN", "Context Encoder", "this paper (A)", "paper B (unsupervised)"}
        assert all(e["status"] == "ok" and len(e["per_image"]) == 2 for e in methods.values()), methods
        assert (out / f"grid_A_{kind}.png").is_file()
    assert "20.68 / 22.40" in text and "hole" in text and "whole" in text
    banks = {k: MaskBank.load(str(bank / k)).masks for k in ("glcic", "center")}
    sets = {k: v["methods"] for k, v in saved["sets"].items()}
    assert _recompute(out, sets, masks_of=lambda k: banks[k]) == 2 * 2 * len(sets["glcic"])
    # every known pixel is the ground truth's own (composited), for every method
    for kind in ("glcic", "center"):
        gt = read_image(out / "images" / f"A_{kind}" / "ground_truth" / "00000.png")
        done = read_image(out / "images" / f"A_{kind}" / "this_paper_a" / "00000.png")
        known = banks[kind][0, ..., 0] < 0.5
        assert np.array_equal(done[known], gt[known])


def test_table_a_missing_runs_are_not_trained(tmp_path):
    missing = str(tmp_path / "nothing")
    argv = ["--table", "A", "--dataset", "samples", "--limit", "1", "--image-size", "32",
            "--stage-run", missing, "--dcgan-run", missing, "--glcic-context-encoder-run", missing,
            "--unsupervised-run", missing, "--mask-bank", str(tmp_path / "banks"), "--out", str(tmp_path / "A")]
    result, text = evaluate.evaluate(argv, log=_quiet)
    for s in result["sets"].values():
        trained = {k: e["status"] for k, e in s["methods"].items() if "OpenCV" not in k and k != "mean fill"}
        assert set(trained.values()) == {"not trained"}, trained
    assert text.count("not trained") == 2 * 5


def test_a_row_whose_model_saw_test_images_is_not_scored(tmp_path):
    """Each row's run config.json says which images it trained on; a model that saw any of the table's
    test images is marked "not comparable" (and not loaded); the header lists every row's training images."""
    import cv2
    data = tmp_path / "faces"
    data.mkdir()
    for i in range(6):
        cv2.imwrite(str(data / f"{i}.png"), np.full((40, 40, 3), 30 * i, np.uint8))

    def fake_run(name, export, **config):
        run_dir = tmp_path / name
        (run_dir / "export").mkdir(parents=True)
        (run_dir / "export" / export).write_bytes(b"never loaded")
        (run_dir / "config.json").write_text(json.dumps(config))
        return str(run_dir)

    a = fake_run("a", "stage1.keras", dataset=str(data), first=6, n_train=5)     # images 0..4: saw test image 5
    (tmp_path / "a" / "export" / "stage3.keras").write_bytes(b"never loaded")
    b = fake_run("b", "inpainter.keras", dataset=str(data))                       # every image
    argv = ["--table", "A", "--dataset", str(data), "--first", "6", "--n-train", "4", "--image-size", "32",
            "--stage-run", a, "--unsupervised-run", b, "--dcgan-run", str(tmp_path / "none"),
            "--glcic-context-encoder-run", str(tmp_path / "none"), "--mask-bank", str(tmp_path / "banks"),
            "--out", str(tmp_path / "A")]
    result, text = evaluate.evaluate(argv, log=_quiet)
    for s in result["sets"].values():
        status = {k: e["status"] for k, e in s["methods"].items()}
        assert status["autoencoder"] == status["this paper (A)"] == common.NOT_COMPARABLE
        assert status["paper B (unsupervised)"] == common.NOT_COMPARABLE
        assert status["DCGAN"] == "not trained" and status["OpenCV Telea (reference)"] == "ok"
    assert f"Test images: {data.resolve()}[4:6]" in text
    assert f"- autoencoder: {data.resolve()}[0:5]" in text and f"- paper B (unsupervised): {data.resolve()} (every" in text
    # trained on images 0..3 only: comparable again (then loading the placeholder fails, as any bad file would)
    (tmp_path / "a" / "config.json").write_text(json.dumps(dict(dataset=str(data), first=6, n_train=4)))
    result, _ = evaluate.evaluate(argv, log=_quiet)
    assert result["sets"]["glcic"]["methods"]["autoencoder"]["status"].startswith("failed")


def test_table_d_end_to_end(runs, tmp_path):
    out = tmp_path / "D"
    argv = ["--table", "D", "--set5", "samples", "--set14", str(tmp_path / "no_set14"), "--limit", "2",
            "--context-encoder-run", str(runs / "d"), "--rec-only-run", str(tmp_path / "no_rec"), "--out", str(out)]
    result, text = evaluate.evaluate(argv, log=_quiet)
    assert result["sets"]["set14"]["status"] == "no data" and result["sets"]["bsd100"]["status"] == "no data"
    methods = result["sets"]["set5"]["methods"]
    assert methods["ours(l_rec)"]["status"] == "not trained"
    for name in ("ours(l_rec + l_adv)", "mean fill", "OpenCV Telea", "OpenCV Navier-Stokes", "scikit-image biharmonic"):
        assert methods[name]["status"] == "ok" and len(methods[name]["per_image"]) == 2
    assert "NOT comparable" in text and "not trained" in text and "centre 64x64" in text
    saved = json.loads((out / "table_D.json").read_text())
    hole = np.zeros((128, 128, 1), np.float32)
    hole[32:96, 32:96] = 1
    assert _recompute(out, {"set5": saved["sets"]["set5"]["methods"]}, masks_of=lambda k: [hole, hole]) == 2 * 5
    # the classical baselines keep the known pixels exactly
    gt = read_image(out / "images" / "D_set5" / "ground_truth" / "00000.png")
    telea = read_image(out / "images" / "D_set5" / "opencv_telea" / "00000.png")
    assert np.array_equal(telea[hole[..., 0] < 0.5], gt[hole[..., 0] < 0.5])


def test_table_e_end_to_end(runs, tmp_path):
    out = tmp_path / "E"
    argv = ["--table", "E", "--dataset", "samples", "--eval-set", str(tmp_path / "eval"), "--eval-n", "2",
            "--eval-size", "64", "--deblur-runs", str(runs / "e_{variant}"), "--out", str(out)]
    result, text = evaluate.evaluate(argv, log=_quiet)
    m = result["methods"]
    assert result["n_images"] == 2 and "Images scored: **2**" in text
    assert m["nonbn_res"]["status"] == "ok"
    assert {m[v]["status"] for v in ("stacked", "res_bn", "nonbn_res_l")} == {"not trained"}
    unsharp = [k for k in m if k.startswith("unsharp mask")][0]
    assert m["blurred input"]["status"] == "ok" and m[unsharp]["status"] == "ok"
    assert "28.54" in text and (out / "grid_E.png").is_file()
    saved = json.loads((out / "table_E.json").read_text())
    assert _recompute(out, {"E": saved["methods"]}) == 2 * 3
    # the blurred-input row scores the eval set's own blurred images
    blurred = read_image(tmp_path / "eval" / "blurred" / "00000.png")
    assert np.array_equal(read_image(out / "images" / "E" / "blurred_input" / "00000.png"), blurred)


def test_reused_rows_are_kept_until_their_model_or_inputs_change(runs, tmp_path, monkeypatch):
    """evaluate.py --reuse-rows (demo.py rescores a table after each model): a second evaluation loads
    and scores nothing and writes the same table, JSON and grid; a model file written again recomputes
    that model's rows (and its step-0 twin's) only; other inputs or no --reuse-rows recompute all."""
    import shutil
    import inpainters
    for name in ("d", "d_rec"):                  # copies: this test rewrites a model file
        shutil.copytree(runs / "d", tmp_path / name)
    out = tmp_path / "D"
    argv = ["--table", "D", "--set5", "samples", "--limit", "2", "--step0", "--context-encoder-run",
            str(tmp_path / "d"), "--rec-only-run", str(tmp_path / "d_rec"), "--out", str(out)]
    scored, loaded = [], []
    real_scored, real_load = protocol.scored_rows, inpainters.load_inpainter
    monkeypatch.setattr(protocol, "scored_rows", lambda *a, **k: scored.append(a[2][0]) or real_scored(*a, **k))
    monkeypatch.setattr(inpainters, "load_inpainter", lambda path: loaded.append(path) or real_load(path))

    def rows(*extra):
        scored.clear(), loaded.clear()
        _, text = evaluate.evaluate(argv + list(extra), log=_quiet)
        folders = sorted({Path(f).parent.name for f in scored})
        return text, folders, (out / "table_D.json").read_text(), (out / "grid_D_set5.png").read_bytes()

    every = ["mean_fill", "ours_l_rec", "ours_l_rec_l_adv", "ours_l_rec_l_adv_step_0", "ours_l_rec_step_0",
             "opencv_navier_stokes", "opencv_telea", "scikit_image_biharmonic"]
    text, folders, saved, grid = rows("--reuse-rows")
    assert sorted(folders) == sorted(every) and len(loaded) == 2
    assert (out / "rows" / "D_set5" / "ours_l_rec.json").is_file()
    again = rows("--reuse-rows")
    assert again == (text, [], saved, grid) and loaded == []          # nothing computed, the same files
    model = tmp_path / "d_rec" / "export" / "inpainter.keras"
    model.write_bytes(model.read_bytes())                            # the model written again: a new mtime
    changed = rows("--reuse-rows")
    assert changed[1] == ["ours_l_rec", "ours_l_rec_step_0"] and len(loaded) == 1
    assert changed[0] == text and changed[2] == saved                # the same weights: the same figures
    assert sorted(rows("--reuse-rows", "--limit", "1")[1]) == sorted(every)      # other inputs
    assert sorted(rows("--reuse-rows", "--blend")[1]) == sorted(every)           # other settings
    assert sorted(rows()[1]) == sorted(every) and len(loaded) == 2                # no --reuse-rows


def test_table_e_reuses_its_rows(runs, tmp_path, monkeypatch):
    """Table E with --reuse-rows: a second evaluation scores nothing and writes the same table and grid."""
    out = tmp_path / "E"
    argv = ["--table", "E", "--dataset", "samples", "--eval-set", str(tmp_path / "eval"), "--eval-n", "2",
            "--eval-size", "64", "--deblur-runs", str(runs / "e_{variant}"), "--step0", "--reuse-rows",
            "--out", str(out)]
    _, text = evaluate.evaluate(argv, log=_quiet)
    grid, saved = (out / "grid_E.png").read_bytes(), (out / "table_E.json").read_text()
    scored = []
    monkeypatch.setattr(protocol, "scored_rows", lambda *a, **k: scored.append(a) or None)
    _, again = evaluate.evaluate(argv, log=_quiet)
    assert scored == [] and again == text and "nonbn_res (step 0)" in text
    assert (out / "grid_E.png").read_bytes() == grid and (out / "table_E.json").read_text() == saved


def test_mask_bank_is_saved_once_and_reused(tmp_path):
    bank = protocol.mask_bank(tmp_path / "b", "center", 2, 32, log=_quiet, side=16)
    manifest = tmp_path / "b" / MaskBank.MANIFEST
    stamp = manifest.stat().st_mtime_ns
    again = protocol.mask_bank(tmp_path / "b", "center", 1, 32, log=_quiet, side=16)
    assert manifest.stat().st_mtime_ns == stamp and np.array_equal(again.masks, bank.masks)
    with pytest.raises(UserError, match="was made with"):
        protocol.mask_bank(tmp_path / "b", "center", 1, 32, log=_quiet, side=8)


def test_unsharp_mask_and_classical_inpaint_keep_shapes():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    assert common.unsharp_mask(image).shape == image.shape
    hole = np.zeros((24, 24), bool)
    hole[8:16, 8:16] = True
    for _, key in common.CLASSICAL:
        out = common.classical_inpaint(key, image, hole)
        assert out.dtype == np.uint8 and np.array_equal(out[~hole], image[~hole])


def test_mean_fill_and_step0_rows():
    """The trivial baseline fills every hole pixel with the mean colour of the known pixels; a step-0
    row is the same network with fresh initial weights (what training started from)."""
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0] = np.arange(16).reshape(4, 4) * 10
    hole = np.zeros((4, 4), bool)
    hole[1:3, 1:3] = True
    out = common.classical_inpaint("mean", image, hole)
    expect = np.round(image[~hole][:, 0].astype(float).mean())     # (150 + ... ) / 12 known pixels
    assert np.all(out[hole][:, 0] == expect) and np.array_equal(out[~hole], image[~hole])
    import keras
    from inpainters import Inpainter
    from models import iizuka
    keras.utils.set_random_seed(1)
    net = iizuka.completion_network(16, width=2)
    for w in net.weights:
        w.assign(w + 0.5)                                          # "trained": far from any initial draw
    row = common.Method("this paper (A)", "x", fn=Inpainter(net))
    rows = protocol.with_step0([row, common.classical_method(*common.MEAN_FILL)])
    assert [r.name for r in rows] == ["this paper (A)", "this paper (A) (step 0)", "mean fill"]
    fresh = rows[1].fn.model
    assert fresh is not net and [w.shape for w in fresh.weights] == [w.shape for w in net.weights]
    assert not np.allclose(fresh.weights[0].numpy(), net.weights[0].numpy())
    x = np.zeros((1, 16, 16, 3), np.float32)
    m = np.ones((1, 16, 16, 1), np.float32)
    assert rows[1].fn.predict(x, m).shape == (1, 16, 16, 3)


def test_make_eval_set_and_one_model_scores(runs, tmp_path, capsys):
    """`evaluate.py make-eval-set` writes paper E's set; `--table E --model M` scores that one model and
    the blurred input (printed, --json), and writes no table."""
    from evaluation.table_e import deblur_scores
    eval_set = tmp_path / "set"
    assert evaluate.main(["make-eval-set", "--dataset", "samples", "--n", "2", "--size", "64",
                          "--out", str(eval_set)]) == 0
    assert (eval_set / "manifest.json").is_file()
    scores, out = tmp_path / "scores.json", tmp_path / "table"
    capsys.readouterr()
    assert evaluate.main(["--table", "E", "--model", str(runs / "e_nonbn_res"), "--eval-set", str(eval_set),
                          "--json", str(scores), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads(scores.read_text())
    assert set(saved) == {"blurred input", "model"} and saved["model"]["n"] == 2
    assert f"| model | {saved['model']['psnr']:.2f} | {saved['model']['ssim']:.3f} |" in printed
    assert not out.exists()
    assert deblur_scores(runs / "e_nonbn_res", eval_set, log=_quiet) == saved
    with pytest.raises(UserError, match="--json goes with --model"):
        evaluate.evaluate(["--table", "E", "--json", str(scores)], log=_quiet)


def test_a_table_registered_later_is_listed_and_made(tmp_path, monkeypatch):
    """evaluate.py asks the registry for its tables when it runs: a paper registered after the import,
    with its own table module, gets its --table choice, its flag group, its subcommands and its files."""
    import dataclasses
    import sys
    import types
    import papers
    toy = types.ModuleType("toy_table")
    toy.add_arguments = lambda parser: parser.add_argument_group("table Z").add_argument("--toy-run", default="x")
    toy.defaults = lambda args: setattr(args, "dataset", args.dataset or "toy data")
    toy.make = lambda args, log=print: {"table": args.table, "dataset": args.dataset, "run": args.toy_run}
    toy.markdown = lambda result: f"# Toy table\n\n{result['run']} on {result['dataset']}\n"
    toy.COMMANDS = {"toy-command": lambda argv: 7}
    monkeypatch.setitem(sys.modules, "toy_table", toy)
    papers.register(dataclasses.replace(papers.PAPERS["E"], letter="Z", table="Z", table_module="toy_table"))
    try:
        assert "Z" in evaluate.TABLES and "table Z:" in evaluate.build_parser().format_help()
        result, text = evaluate.evaluate(["--table", "Z", "--toy-run", "r", "--out", str(tmp_path), "--note", "n"])
        assert result["run"] == "r" and result["dataset"] == "toy data"
        assert text == "# Toy table\n\n**n**\n\nr on toy data\n" == (tmp_path / "table_Z.md").read_text()
        assert json.loads((tmp_path / "table_Z.json").read_text())["run"] == "r"
        assert evaluate.main(["toy-command"]) == 7
    finally:
        papers.unregister("Z")
    assert "Z" not in evaluate.TABLES


def test_a_saved_row_is_keyed_on_the_source_code(tmp_path, monkeypatch):
    """A change to any module (a blend, a metric) changes every row's key; tests and results do not."""
    from evaluation import common
    (tmp_path / "blend.py").write_text("A = 1\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("B = 1\n")
    monkeypatch.setattr(common, "ROOT", tmp_path)

    def identity():
        common.code_identity.cache_clear()
        return common.code_identity()
    try:
        first = identity()
        (tmp_path / "tests" / "test_x.py").write_text("B = 2\n")
        assert identity() == first
        (tmp_path / "blend.py").write_text("A = 2\n")
        assert identity() != first
    finally:
        common.code_identity.cache_clear()
