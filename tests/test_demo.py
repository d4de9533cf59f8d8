"""demo.py in its reduced mode (--quick), reusing the smoke runs of tests/test_evaluate.py.

The demo skips every model already trained in --runs, so only paper D's l_rec model (and the
GLCIC-hole D model, which the smoke runs lack) is trained here (1 step), which exercises the
demo's training path; then all three tables are written."""
import json
import shutil
from pathlib import Path

import demo
from test_evaluate import smoke_runs   # the same module object pytest loaded (one cache)


def test_demo_quick_writes_every_table(tmp_path_factory, tmp_path):
    shared = smoke_runs(tmp_path_factory)
    runs = tmp_path / "runs"
    shutil.copytree(shared, runs)
    out = tmp_path / "results"
    import numpy as np
    from imagefiles import write_png
    rng = np.random.default_rng(0)              # --heldout-dataset: a folder of the user's photos
    for k in range(2):
        write_png(tmp_path / "mine" / f"m{k}.png", np.repeat(np.repeat(
            rng.integers(0, 256, (50, 75, 3)), 4, axis=0), 4, axis=1).astype(np.uint8))
    assert demo.main(["--quick", "--out", str(out), "--runs", str(runs), "--deblur-variants", "nonbn_res",
                      "--heldout-dataset", str(tmp_path / "mine")]) == 0
    assert (runs / "d_rec" / "export" / "inpainter.keras").is_file()          # trained by the demo
    summary = json.loads((out / "summary.json").read_text())
    # d_glcic (table A's Context Encoder, added on main) is not among the shared smoke runs: trained here too
    assert summary["quick"] and set(summary["train_times_s"]) == {
        "paper D (l_rec)", "paper D (GLCIC holes: table A's Context Encoder)"}
    readme = (out / "README.md").read_text()
    assert "Wiring check (quick), not the papers' scale" in readme
    for name in ("A", "D", "E"):
        text = (out / f"table_{name}" / f"table_{name}.md").read_text()
        assert "Wiring check (quick)" in text and f"# Paper {name}" in text
        result = json.loads((out / f"table_{name}" / f"table_{name}.json").read_text())
        assert result["limit"] == 1
    d = json.loads((out / "table_D" / "table_D.json").read_text())["sets"]["set5"]["methods"]
    assert d["ours(l_rec)"]["status"] == "ok" and d["ours(l_rec + l_adv)"]["status"] == "ok"
    assert summary["grids"] and all((out / g).is_file() for g in summary["grids"])
    for name in ("A", "D", "E"):                 # every table again on the user's photos, said so
        text = (out / f"table_{name}_heldout" / f"table_{name}.md").read_text()
        assert f"scored on {tmp_path / 'mine'}, photos never trained on" in text
        assert text in readme
    assert len(list((out / "heldout_mine" / "deblur").glob("*.png"))) == 4     # 200x300: 1 x 2 tiles each

    assert summary["curves"] and all((out / c).is_file() for c in summary["curves"])   # loss-curve PNGs
    # table A again with the networks' own predictions pasted (no Poisson blend), like the mean-fill row
    assert json.loads((out / "table_A_pasted" / "table_A.json").read_text())["blend"] is False
    # the claims of --budget long are checked in --quick too (the wiring), from the same tables
    claims = json.loads((out / "claims.json").read_text())
    # (E's claims compare all four variants; this run trains one, so E has none)
    assert {r["paper"] for r in claims["rows"]} == set("ACD") and "Each paper's claim" in readme
    assert (out / "curves" / "c_latent_search.png").is_file()


def test_a_table_is_written_after_each_of_its_models_and_a_rerun_continues(tmp_path_factory, tmp_path, monkeypatch):
    """Issue 26: after the first model of table D, table D is in results/ with that model's rows scored
    and the next model "not trained", and README.md says so; an interrupted demo keeps it, and a rerun
    trains the rest, scoring only the new model's rows (the finished rows are reused, not recomputed)."""
    import pytest
    import claims
    import train_context_encoder
    real_plan, real_train = demo.plan, train_context_encoder.main
    monkeypatch.setattr(demo, "plan", lambda *a, **k: [it for it in real_plan(*a, **k) if demo.table_of(it[1]) == "D"])
    monkeypatch.setattr(claims, "check", lambda *a: ([], ""))     # the claims need every table
    runs, out = tmp_path / "runs", tmp_path / "results"
    shutil.copytree(smoke_runs(tmp_path_factory) / "d", runs / "d")   # the first D model: trained already

    def interrupted(argv):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_context_encoder, "main", interrupted)   # Ctrl-C while the second one trains
    argv = ["--quick", "--out", str(out), "--runs", str(runs)]
    with pytest.raises(KeyboardInterrupt):
        demo.main(argv)
    table = json.loads((out / "table_D" / "table_D.json").read_text())["sets"]["set5"]["methods"]
    assert table["ours(l_rec + l_adv)"]["status"] == table["ours(l_rec + l_adv) (step 0)"]["status"] == "ok"
    assert table["ours(l_rec)"]["status"] == "not trained"
    readme = (out / "README.md").read_text()
    assert "**In progress:** 1 of 2 models trained" in readme and "| ours(l_rec) | ours | not trained |" in readme
    assert (out / "table_D" / "grid_D_set5.png").is_file()
    done = {f.name: f.stat().st_mtime_ns for f in (out / "table_D" / "rows" / "D_set5").glob("*.json")}
    assert "ours_l_rec_l_adv.json" in done and "ours_l_rec.json" not in done

    monkeypatch.setattr(train_context_encoder, "main", real_train)
    assert demo.main(argv) == 0
    table = json.loads((out / "table_D" / "table_D.json").read_text())["sets"]["set5"]["methods"]
    assert all(e["status"] == "ok" for e in table.values())
    rows = {f.name: f.stat().st_mtime_ns for f in (out / "table_D" / "rows" / "D_set5").glob("*.json")}
    assert {k: rows[k] for k in done} == done and "ours_l_rec.json" in rows     # only the new rows computed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and list(summary["train_times_s"]) == ["paper D (l_rec)"]


def test_long_budget_trains_longer_than_the_demo_with_the_same_settings():
    for key in ("a_steps", "b_steps", "c_steps", "d_steps", "d_glcic_steps", "e_steps", "e_steps_l"):
        assert (min(demo.LONG[key]) if key == "a_steps" else demo.LONG[key]) >= 2 * (
            min(demo.FULL[key]) if key == "a_steps" else demo.FULL[key])
    assert all(demo.LONG[k] == demo.FULL[k] for k in ("d_args", "c_args", "e_args"))


def test_demo_plan_covers_every_paper(tmp_path):
    items = demo.plan(tmp_path, demo.FULL, "none", demo.VARIANTS)
    modules = {m for _, _, _, m, _ in items}
    assert modules == {"train_iizuka", "train_unsupervised", "train_wgan_completion", "train_context_encoder",
                       "train_deblur"}
    assert len(items) == 3 + 1 + 1 + 3 + 4          # A stages, B, C, D (l_rec + l_adv, l_rec, GLCIC holes), E


def test_demo_preset_passes_the_measured_demo_scale_settings(tmp_path):
    """Issue 14 (docs/EXPERIMENTS.md): D at batch 16 with a 512-d code, E at width 16, batch 4, Adam
    2e-3, one D update per G update, in the demo's preset only (the paper defaults stay); --quick
    passes none of them."""
    def argv_of(budget, label):
        return next(a for name, _, _, _, a in demo.plan(tmp_path, budget, "none", demo.VARIANTS) if name == label)

    for label in ("paper D (l_rec)", "paper D (l_rec + l_adv)", "paper D (GLCIC holes: table A's Context Encoder)"):
        argv = argv_of(demo.FULL, label)
        assert "--residual" in argv                               # D's aid (issue 25): mean fill + correction
        if "GLCIC" in label:
            continue
        assert argv[argv.index("--batch-size") + 1] == "16" and argv[argv.index("--bottleneck") + 1] == "512"
        assert "--bottleneck" not in argv_of(demo.QUICK, label)
    for v in demo.VARIANTS:
        argv = argv_of(demo.FULL, f"paper E ({v})")
        flags = {k: argv[i + 1] for i, k in enumerate(argv[:-1])}
        got = (flags["--filters"], flags["--batch-size"], flags["--lr"], flags["--d-updates"], flags["--steps"])
        steps = demo.FULL["e_steps_l" if v == "nonbn_res_l" else "e_steps"]
        lr = {"stacked": "5e-4"}.get(v, "1e-3")            # issue 25: StackedG learns at 5e-4
        assert got == ("16", "4", lr, "1", str(steps))
        assert flags.get("--sharp-fraction") == {"res_bn": "0.1", "stacked": "0.02"}.get(v)
        # the learning rate drops at the paper's share of the steps, not at --smoke's step 2 (issue 25)
        assert flags["--lr-decay-at"] == str(round(steps * demo.E_DECAY_SHARE)) and int(flags["--lr-decay-at"]) > 2
        assert "--filters" not in argv_of(demo.QUICK, f"paper E ({v})")
    # paper C's DCGAN prior: batch 32 and Adam 5e-4 (12.60 -> 16.03 dB in the hole at 200 steps)
    argv = argv_of(demo.FULL, "paper C (DCGAN prior)")
    assert argv[argv.index("--batch-size") + 1] == "32" and argv[argv.index("--lr") + 1] == "5e-4"
    assert "--lr" not in argv_of(demo.QUICK, "paper C (DCGAN prior)")
    # paper A: batch 8, 4000 stage-1 steps with colour jitter (issue 25); beta 0 only while VGG19 is random
    argv = argv_of(demo.FULL, "paper A stage 1")
    assert argv[argv.index("--batch-size") + 1] == "8" and argv[argv.index("--steps") + 1] == "4000"
    assert "--color-jitter" in argv and "--residual" in argv
    assert argv[argv.index("--beta") + 1] == "0"
    real_vgg = next(a for name, _, _, _, a in demo.plan(tmp_path, demo.FULL, "imagenet", demo.VARIANTS)
                    if name == "paper A stage 1")
    assert "--beta" not in real_vgg


def test_split_folder_holds_out_every_fifth_photo_and_leaves_the_users_files(tmp_path):
    """demo.py --dataset: every 5th photo (sorted) is held out, the parts never share a photo, the
    user's folder is only read, a rerun rebuilds the split without touching it, and a folder that
    changed after models were trained on it is refused."""
    import numpy as np
    import pytest
    from data import heldout
    from errors import UserError
    from imagefiles import write_png
    photos = tmp_path / "photos"
    for k in range(11):
        write_png(photos / ("sub" if k == 3 else "") / f"p{k:02d}.png", np.full((40, 50, 3), 20 * k, np.uint8))
    before = sorted(p.relative_to(photos) for p in photos.rglob("*"))
    for _ in range(2):
        train, test, n_train, n_test = heldout.split_folder(photos, tmp_path / "data")
    names = lambda d: sorted(p.name.split("_", 1)[1] for p in Path(d).iterdir())
    assert (n_train, n_test) == (9, 2) and names(test) == ["p05.png", "p10.png"]   # sorted: sub/p03 comes last
    assert not set(names(train)) & set(names(test)) and len(names(train)) == 9
    assert sorted(p.relative_to(photos) for p in photos.rglob("*")) == before
    assert [n for n, _ in heldout.test_photos(test)] == ["00000_p05", "00001_p10"]
    assert heldout.split_folder(photos, tmp_path / "data", locked=True)[2:] == (9, 2)   # unchanged: rerun
    texture = np.random.default_rng(0).integers(0, 256, (700, 660, 3)).astype(np.uint8)
    write_png(photos / "big" / "b.png", texture)                          # 5 x 5 tiles of 128
    tiles = heldout.deblur_tiles(128, folder=photos / "big")
    assert len(tiles) == heldout.TILES_PER_PHOTO and tiles[0][0] == "b_00" and tiles[-1][0] == "b_44"
    write_png(photos / "p11.png", np.zeros((8, 8, 3), np.uint8))        # the folder changes after training
    with pytest.raises(UserError, match="changed since the models were trained"):
        heldout.split_folder(photos, tmp_path / "data", locked=True)
    assert names(test) == ["p05.png", "p10.png"]                         # the recorded split is kept
    heldout.write_sets(tmp_path / "data" / "heldout", inpaint_size=16, photos=test)
    heldout.split_folder(photos, tmp_path / "data")                      # runs deleted: a new split
    assert not (tmp_path / "data" / "heldout").exists()                  # and no stale held-out set
    (photos / "only").mkdir()
    write_png(photos / "only" / "a.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="needs at least 2"):
        heldout.split_folder(photos / "only", tmp_path / "d2")


def test_demo_plan_on_a_users_folder_trains_random_crops_of_it(tmp_path):
    """Every model of the plan trains on the folder with --random-crops (as `samples` gives them);
    A and C select all of its photos (their paper defaults ask for 100,000); a runs folder trained
    on other photos is refused, not silently reused."""
    import numpy as np
    import pytest
    from data.sources import SAMPLE_CROP_MIN
    from errors import UserError
    from imagefiles import write_png
    for k in range(4):
        write_png(tmp_path / "train" / f"{k}.png", np.zeros((8, 8, 3), np.uint8))
    items = demo.plan(tmp_path / "runs", demo.FULL, "none", demo.VARIANTS, tmp_path / "train")
    for label, run_dir, _, module, argv in items:
        assert argv[argv.index("--dataset") + 1] == str(tmp_path / "train")
        assert argv[argv.index("--random-crops") + 1] == str(SAMPLE_CROP_MIN)
        if module in ("train_iizuka", "train_wgan_completion"):
            assert argv[argv.index("--first") + 1] == argv[argv.index("--n-train") + 1] == "4"
    run_dir = items[0][1]
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"dataset": "samples"}))
    with pytest.raises(UserError, match="trained on --dataset samples"):
        demo.train_all(items[:1], log=lambda *_: None)


def test_the_demo_reports_as_it_goes(tmp_path, monkeypatch):
    """After each model, train_all calls back (demo.main scores that model's tables and rewrites
    README.md); its progress line says which model of how many and the time left."""
    items = demo.plan(tmp_path / "runs", demo.FULL, "none", demo.VARIANTS)
    assert [demo.table_of(run_dir) for _, run_dir, *_ in items] == ["A"] * 6 + ["D"] * 2 + ["E"] * 4
    trained, lines, after = [], [], []

    class Script:
        @staticmethod
        def main(argv):
            trained.append(argv)

    monkeypatch.setattr("importlib.import_module", lambda name: Script)
    demo.train_all(items[:3], log=lines.append, after=after.append)
    assert after == [0, 1, 2] and len(trained) == 3
    assert lines[0].startswith("[model 1 of 3] training paper A stage 1") and "of training left" in lines[0]
    # the estimate: the priors' share of what is left, scaled by this machine's speed so far
    left = demo.estimate_left(items, {items[0][0]}, {items[0][0]: 10.0})
    prior = {label: demo.SECONDS_PER_STEP.get(label, 0.5) * demo._steps(argv) for label, *_, argv in items}
    assert abs(left - 10.0 / prior[items[0][0]] * sum(v for k, v in prior.items() if k != items[0][0])) < 1e-6


def test_heldout_sets_of_a_large_photo_cover_two_scales_and_skip_flat_tiles(tmp_path):
    """A photo over heldout.LARGE px is scored at native resolution and downscaled to the bundled
    photos' scale (deblurring), and as native crops besides its resized squares (inpainting); a
    tile too flat for blur to change (a clear sky) is not scored (its PSNR would be infinite)."""
    import numpy as np
    from data import heldout
    from imagefiles import write_png
    rng = np.random.default_rng(1)
    h, w = heldout.LARGE + 100, heldout.LARGE + 300
    photo = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    photo[:(h - h // 128 * 128) // 2 + 256] = 200           # the top two rows of tiles are flat
    write_png(tmp_path / "p" / "big.png", photo)
    tiles = dict(heldout.deblur_tiles(128, folder=tmp_path / "p", per_photo=1000))
    native = [n for n in tiles if "_s" not in n]
    small = [n for n in tiles if n.startswith(f"big_s{heldout.DOWNSCALED}_")]
    assert len(native) + len(small) == len(tiles)
    ny, nx = h // 128, w // 128
    assert len(native) == ny * nx - 2 * nx                   # the flat rows are left out
    assert all(t.std() >= heldout.FLAT for t in tiles.values())
    short = heldout.DOWNSCALED                                # the downscaled copy: 512 px on its short side
    assert 0 < len(small) <= (short // 128) * (round(w * short / h) // 128)
    crops = dict(heldout.inpainting_images(64, folder=tmp_path / "p"))
    every = (["big_k1_00"] + [f"big_k{k}_{i}{j}" for k in (2, 3) for i in range(k) for j in range(k)]
             + [f"big_native_{i}{j}" for i in range(2) for j in range(2)])
    flat = {"big_k3_00", "big_k3_01", "big_k3_02", "big_native_00", "big_native_01"}   # centres in the flat rows
    assert list(crops) == [n for n in every if n not in flat]
    assert all(im.shape == (64, 64, 3) for im in crops.values())
    side, top, left = h, 0, (w - h) // 2                      # the native crops are copies of the photo
    y, x = 3 * side // 4 - 32, side // 4 - 32
    np.testing.assert_array_equal(crops["big_native_10"], photo[top + y:top + y + 64, left + x:left + x + 64])
