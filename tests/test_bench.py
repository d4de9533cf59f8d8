"""bench/flops.py: the analytic FLOP count the bench reports, on hand-counted layers; bench/steps.py and
bench/paper_step.py: the papers are the registry's, read when called."""
import keras

from bench.flops import forward_macs


def test_forward_macs_counts_conv_transposed_conv_and_dense_by_hand():
    x = inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)           # out 4x4x4: 16 * 9*3 * 4
    x = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same")(x)  # in 4x4x4: 16 * 16*4 * 2
    x = keras.layers.BatchNormalization()(x)                              # not counted
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5)(x)                                          # 8*8*2 * 5
    inner = keras.Model(inp, x)
    outer = keras.Model(inp, keras.layers.Dense(7)(inner(inp)))           # nested + 5 * 7
    assert forward_macs(inner) == 16 * 27 * 4 + 16 * 16 * 4 * 2 + 128 * 5
    assert forward_macs(outer) == forward_macs(inner) + 35


def test_forward_macs_counts_a_fully_convolutional_model_at_the_size_it_is_given():
    inner_in = keras.Input((None, None, 4))
    inner = keras.Model(inner_in, keras.layers.Conv2D(2, 3, padding="same")(inner_in))    # 9*4 * 2 per pixel
    x = inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)                           # 9*3 * 4 per output pixel
    model = keras.Model(inp, inner(x))
    assert forward_macs(model, 8) == 16 * 27 * 4 + 16 * 36 * 2                         # 8x8 in, 4x4 after the stride


def test_bench_reads_the_registry_when_called():
    """A paper registered after bench/ was imported is built, labelled and listed by it (here a copy of
    paper B's entry under another letter: the same train script, hence the same hooks)."""
    import dataclasses

    import numpy as np

    import papers
    from bench import paper_step, steps
    papers.register(dataclasses.replace(papers.PAPERS["B"], letter="Z", name="toy copy"))
    try:
        assert "Z" in steps.PAPERS and steps.SIZES["tiny"]["Z"] == dict(papers.PAPERS["B"].bench["tiny"])
        built = steps.build("Z", "tiny")
        assert built.name.startswith("Z · toy copy") and set(built.models) == {"generator", "discriminator"}
        assert all(np.isfinite(v) for v in steps.run_losses(built, 1)[0].values())
        assert list(paper_step.configs(["Z"])) == ["Z"]
    finally:
        papers.unregister("Z")
    assert "Z" not in steps.PAPERS


def test_sharpen_speed_times_each_precision_and_compares_them_on_a_photo(tmp_path):
    """bench/sharpen_speed.py: one row per generator width, precision and size, tiles counted as
    sharpen.py cuts them (the mirrored border included), and bfloat16's result against float32's."""
    import json

    import skimage.data

    from bench import sharpen_speed
    from imagefiles import write_png
    from models import deblur
    from training import export
    model = export.export_model(deblur.generator("nonbn_res", filters=4, blocks=1), tmp_path / "g.keras")
    photo = write_png(tmp_path / "p.png", skimage.data.astronaut()[:90, :120])
    sharpen_speed.main(["--filters", "4", "--sizes", "150x100", "--tile", "64", "--model", str(model),
                        "--photo", str(photo), "--json", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(r["precision"], r["size"]) for r in report["rows"]] == [("float32", "150x100"), ("bfloat16", "150x100")]
    radius = 4 + 5 * 2 + 1 + 4                            # 9x9 head, 5 blocks of two 3x3, 3x3, 9x9 tail
    cores = [-(-(side + 2 * radius) // (64 - 2 * radius)) for side in (100, 150)]
    assert all(r["tiles"] == cores[0] * cores[1] for r in report["rows"])
    agreement = report["bfloat16_against_float32"]
    assert agreement["size"] == "120x90" and 0 < agreement["mean_levels"] < 1.0 and agreement["psnr_db"] > 35
