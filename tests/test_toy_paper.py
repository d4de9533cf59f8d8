"""A sixth paper needs one registry entry, one model file and one train script: nothing else is edited.

The toy paper "F" below (a two-convolution inpainter trained with masked MSE, with its own
one-row table) is written to a temporary folder and registered with `papers.register`. Then the
generic modules, unedited, list and handle it: bench/ builds and runs its real step, evaluate.py
offers and makes its table, export.py exports its run, and the app finds, labels and runs it.
"""
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

import papers

TOY_MODEL = '''
"""Toy paper F's networks: image and mask -> two 3x3 convolutions -> tanh."""
import keras


def networks(config):
    s, w = config["image_size"], config["width"]
    image, mask = keras.Input((s, s, 3), name="image"), keras.Input((s, s, 1), name="mask")
    x = keras.layers.Concatenate()([image, mask])
    x = keras.layers.Conv2D(w, 3, padding="same", activation="relu")(x)
    out = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(x)
    return dict(generator=keras.Model([image, mask], out, name="toy_inpainter"))
'''

TOY_TRAIN = '''
"""Toy paper F: masked MSE on synthetic images, Adam; trains --steps steps, then exports."""
import keras
import tensorflow as tf

import papers
from training import checkpoint, flags, run, setup, synthetic as syn
from training.export import export_model
from training.recipe import Recipe

PAPER = papers.PAPERS["F"]
CARD = PAPER.card
SMOKE = dict(steps=1)


def build_parser():
    p = flags.common_parser(__doc__, prog="toy_train.py", dataset="samples", steps=CARD["steps"],
                            batch_size=CARD["batch_size"], image_size=CARD["image_size"], run_dir="runs/toy")
    p.set_defaults(paper=PAPER.letter)
    p.add_argument("--width", type=int, default=CARD["width"])
    p.add_argument("--lr", type=float, default=CARD["lr"])
    return p


def build(config, strategy):
    models = papers.networks(config)
    G = models["generator"]
    opt = keras.optimizers.Adam(config.lr)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            out = G([batch["image"], batch["mask"]], training=True)
            loss = tf.reduce_mean(tf.square((out - batch["image"]) * batch["mask"]))
        opt.apply_gradients(zip(tape.gradient(loss, G.trainable_variables), G.trainable_variables))
        return {"loss": loss}

    return Recipe(models, dict(g_opt=(opt, G)), step=step, counter=checkpoint.step_counter())


def batch_of(i, size, batch):
    mask, _ = syn.holes(i, batch, size, size // 2)
    return dict(image=syn.images(i, batch, size), mask=mask)


def main(argv=None):
    args = flags.parse(build_parser(), argv, smoke=SMOKE)
    r = run.open_run(args)
    strategy = setup.configure(args)
    with strategy.scope():
        recipe = build(args, strategy)
        ckpt = recipe.checkpointer(r.ckpt_dir)
    for i in range(ckpt.restore(), args.steps):
        recipe.step(batch_of(i, args.image_size, args.batch_size))
        recipe.counter.assign_add(1)
    ckpt.save()
    export_model(recipe.models["generator"], r.export_path(PAPER.export))
    return 0


def synthetic(cfg, strategy, recipe_fn):
    recipe = recipe_fn(dict(image_size=cfg["image"], batch_size=cfg["batch"], width=cfg["width"]))
    G = recipe.models["generator"]
    batch = lambda i: batch_of(i, cfg["image"], cfg["batch"])
    return dict(recipe=recipe, batch=batch, infer=lambda img: G([img, batch(0)["mask"][:img.shape[0]]]))


def step_macs(models, config, forward_macs):
    return 3 * forward_macs(models["generator"]), "3 G"
'''

TOY_TABLE = '''
"""Toy paper F's table: the hole PSNR of its run and of the mean fill, on the bundled photos."""
import numpy as np

import metrics
import papers
from data.heldout import mean_fill
from inpainters import load_inpainter

TABLE = "F"


def add_arguments(parser):
    g = parser.add_argument_group("table F")
    g.add_argument("--toy-run", default="runs/toy", help="the toy paper's run")


def defaults(args):
    args.image_size = args.image_size or papers.PAPERS[TABLE].card["image_size"]


def make(args, log=print):
    s = args.image_size
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, s, s, 3), dtype=np.uint8)
    hole = np.zeros((s, s), bool)
    hole[s // 4: 3 * s // 4, s // 4: 3 * s // 4] = True
    model = load_inpainter(args.toy_run)
    pred = model.predict(images / 127.5 - 1.0, np.repeat(hole[None, ..., None], 2, 0).astype(np.float32))
    ours = np.where(hole[..., None], np.clip((pred + 1) * 127.5, 0, 255).round().astype(np.uint8), images)
    rows = {"toy model": ours, "mean fill": np.stack([mean_fill(im, hole) for im in images])}
    return {"table": TABLE, "rows": {k: float(np.mean([metrics.psnr(o, t) for o, t in zip(v, images)]))
                                     for k, v in rows.items()}}


def markdown(result):
    return "### Table F (toy)\\n\\n| method | PSNR |\\n|---|---|\\n" + "".join(
        f"| {k} | {v:.2f} |\\n" for k, v in result["rows"].items())
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """Register paper F from files in a temporary folder; unregister afterwards."""
    code = tmp_path / "code"
    code.mkdir()
    for name, text in (("toy_model", TOY_MODEL), ("toy_train", TOY_TRAIN), ("toy_table", TOY_TABLE)):
        (code / f"{name}.py").write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(code))
    paper = papers.Paper(
        "F", "toy inpainter", "a toy sixth paper: two convolutions and masked MSE", "999", "toy_train", "toy_model",
        papers.INPAINTER, (), "F", "inpaint")
    paper = replace(paper, card=papers.MappingProxyType(dict(image_size=16, batch_size=4, steps=2, width=4, lr=1e-3)),
                    exports=papers.MappingProxyType({"inpainter": papers.INPAINTER}), table_module="toy_table",
                    details=(("image_size", "{} px"),),
                    bench=papers.MappingProxyType({"tiny": papers.MappingProxyType(dict(image=16, batch=2, width=4))}))
    papers.register(paper)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    papers.unregister("F")
    for name in ("toy_model", "toy_train", "toy_table"):
        sys.modules.pop(name, None)


def _train(tmp_path):
    import toy_train
    assert toy_train.main(["--run-dir", str(tmp_path / "runs" / "toy")]) == 0
    return tmp_path / "runs" / "toy"


def test_the_registry_lists_the_toy_paper(toy):
    assert papers.LETTERS[-1] == "F" and papers.TABLES[-1] == "F"
    assert papers.table_module("F") == "toy_table"
    assert set(papers.networks({"paper": "F", "image_size": 16, "width": 4})) == {"generator"}


def test_bench_builds_and_runs_the_toy_step(toy):
    from bench import steps, throughput
    built = steps.build("F", "tiny")
    losses = steps.run_losses(built, 2)
    assert len(losses) == 2 and np.isfinite(losses[0]["loss"])
    assert built.image_size == 16 and built.batch_size == 2
    flops, formula = throughput.step_flops(built)
    assert flops > 0 and formula.startswith("3 G")


def test_evaluate_offers_and_makes_the_toy_table(toy):
    import evaluate
    run = _train(toy)
    assert "F" in evaluate.build_parser()._option_string_actions["--table"].choices
    result, text = evaluate.evaluate(["--table", "F", "--toy-run", str(run), "--out", str(toy / "table")])
    assert set(result["rows"]) == {"toy model", "mean fill"} and "### Table F (toy)" in text
    assert (toy / "table" / "table_F.md").read_text().startswith("### Table F")


def test_export_and_the_app_handle_the_toy_run(toy):
    import app
    import export
    run = _train(toy)
    model, what = export.load_network(run)
    assert what == "paper F inpainter" and [tuple(t.shape) for t in model.inputs] == [(None, 16, 16, 3), (None, 16, 16, 1)]
    out = export.export(model, "savedmodel", str(toy / "served"))
    assert (out / "saved_model.pb").is_file()

    entries = app.find_models([str(toy / "runs")])
    assert [e.letter for e in entries] == ["F"] and entries[0].label.startswith("F · toy inpainter (16 px)")
    photo = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    hole = np.zeros((40, 48), bool)
    hole[10:20, 12:30] = True
    models = app.Models(entries)
    result = app.inpaint_photo(models, entries[0], photo, hole)
    completed = result[0] if isinstance(result, tuple) else result
    assert completed.shape == photo.shape
    np.testing.assert_array_equal(completed[~hole], photo[~hole])
