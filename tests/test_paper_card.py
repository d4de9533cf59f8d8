"""The paper card: a no-flag run of every train script is the paper (shared/PAPERS.md), field by field.

Every expected value below is written out by hand from PAPERS.md (not read from papers.py), so a
change to a default fails a test that names the paper and the field. `--print-config` prints what
a run would train with, as one JSON object, and exits 0 without reading data or building a model.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import papers

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------- PAPERS.md, by hand
A_COMMON = {
    "dataset": "celeb_a", "image_size": 128, "batch_size": 96,          # A: CelebA 128x128; batch 96 (GLCIC)
    "first": 100_000, "n_train": 80_000, "resize": "crop",              # first 100,000: 80,000 train
    "lr": 1.0, "alpha": 0.0004, "beta": 0.01,                           # Adadelta 1.0; eq. 4 weights
    "width": 64, "fc_units": 1024, "local_size": 64,                    # GLCIC channels; 1024 + 1024 = 2048
    "hole_min": 24, "hole_max": 48,                                     # holes: sides in [24, 48]
    "residual": False, "output": "tanh",                                # aid off: GLCIC's tanh output
    "color_jitter": False,                                              # aid off: the photos' colours
    "stage_steps": [20_000, 10_000, 70_000],
}
ADADELTA = {"name": "Adadelta", "learning_rate": 1.0}
VGG_A = ["relu1_1", "relu2_1", "relu3_1"]
EXPECTED = {
    ("A", "train_iizuka", ("--stage", "1")): {
        **A_COMMON, "stage": 1, "steps": 20_000,
        "optimizer": {"generator": ADADELTA},
        "loss": {"L_M": 1.0, "beta_L_P": 0.01, "vgg_layers": VGG_A}},
    ("A", "train_iizuka", ("--stage", "2")): {
        **A_COMMON, "stage": 2, "steps": 10_000,
        "optimizer": {"generator": ADADELTA, "discriminator": ADADELTA},
        "loss": {"D_bce": 1.0}},
    ("A", "train_iizuka", ("--stage", "3")): {
        **A_COMMON, "stage": 3, "steps": 70_000,
        "optimizer": {"generator": ADADELTA, "discriminator": ADADELTA},
        "loss": {"L_M": 1.0, "alpha_GAN": 0.0004, "beta_L_P": 0.01, "D_bce": 1.0, "vgg_layers": VGG_A}},
    ("B", "train_unsupervised", ()): {
        "dataset": "cifar10", "image_size": 64, "batch_size": 64,       # CIFAR-10 at 64, batch 64
        "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "width": 64, "code_dim": 100,
        "mask": "mixed", "residual": False, "output": "tanh", "steps": 10_000,
        "optimizer": {"generator": {"name": "Adam", "learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.999},
                      "discriminator": {"name": "Adam", "learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.999}}},
    ("C", "train_wgan_completion", ("train",)): {
        "dataset": "celeb_a", "image_size": 64, "batch_size": 64, "first": 100_000, "n_train": 80_000,
        "loss": "wasserstein", "gp": False, "clip": 0.01, "width": 64, "z_dim": 100, "flavour": "wgan",
        "warm_critic": 100, "warm_steps": 25, "warm_every": 500, "gp_weight": 10.0,
        "schedule": {"n_critic": 5, "warm": 100, "warm_steps": 25, "every": 500},
        "optimizer": {g: {"name": "RMSprop", "learning_rate": 5e-5, "rho": 0.99, "epsilon": 1e-8}
                      for g in ("generator", "discriminator")}, "output": "tanh"},
    ("C", "inpaint", ("latent",)): {
        "iterations": 1500, "lam": 0.003, "lr": 0.01, "weighted_context": False, "blend": True,
        "mask": "center", "z_clip": [-1.0, 1.0],
        "optimizer": {"z": {"name": "Adam", "learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}}},
    ("D", "train_context_encoder", ()): {
        "dataset": "datasets/openimages_100k", "image_size": 128, "batch_size": 50,   # 128x128, batch 50
        "lr": 0.001, "d_lr": 0.001, "beta1": 0.5,                        # one rate, 0.001 (aid off)
        "mask": "center", "hole": "64x64 centre square, white", "band": [0.005, 0.0055],
        "width": 64, "bottleneck": 4000, "rec_only": False, "residual": False, "output": "tanh", "steps": 100_000,
        "loss": {"l_rec": 0.95, "l_adv": 0.05},
        "optimizer": {g: {"name": "Adam", "learning_rate": 0.001, "beta_1": 0.5, "beta_2": 0.999}
                      for g in ("generator", "discriminator")}},
}
E_ADAM = {"name": "Adam", "beta_1": 0.9, "beta_2": 0.999,
          "learning_rate": {"initial": 1e-4, "decay_at": 250_000, "factor": 0.1}}
for variant, generator in (("stacked", "StackedG"), ("res_bn", "ResG"), ("nonbn_res", "NonBN-ResG"),
                           ("nonbn_res_l", "NonBN-ResG")):
    loss = {"content_l1": 1.0, "adversarial": 1e-3, "d_bce": 1.0}
    if variant == "nonbn_res_l":   # eq. 4 and eq. 5 (EnhanceNet's weights, 16x16 texture patches)
        loss.update(perceptual={"pool2": 0.2, "pool5": 0.02}, texture_patch=16,
                    texture={"conv1_1": 3e-7, "conv2_1": 1e-6, "conv3_1": 1e-6})
    EXPECTED[("E", "train_deblur", ("--variant", variant))] = {
        "dataset": "div2k", "image_size": 96, "batch_size": 16, "steps": 500_000,   # 96 crops, batch 16
        "lr": 1e-4, "lr_decay_at": 250_000, "lr_decay": 0.1, "d_updates": 2, "adv_weight": 1e-3,
        "filters": 64, "blocks": 5, "d_filters": 64, "d_dense": 1024, "variant": variant,
        "global_residual": False, "output": "tanh", "generator": generator, "blur": "mixed",
        "loss": loss, "optimizer": {"generator": E_ADAM, "discriminator": E_ADAM}}
# no demo-scale aid, whatever the paper
AIDS_OFF = {"smoke": False, "random_crops": None, "mixed_precision": "off"}


def print_config(module, argv, capsys):
    """Run `module.main(argv + --print-config)` in this process; (exit code, the parsed JSON)."""
    import importlib
    code = importlib.import_module(module).main([*argv, "--print-config"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"{module} {argv}: --print-config printed {len(lines)} lines, not one JSON object"
    return code, json.loads(lines[0])


@pytest.mark.parametrize("key", list(EXPECTED), ids=lambda k: f"paper {k[0]} {' '.join(k[2]) or 'train'}")
def test_a_no_flag_run_is_the_paper(key, capsys, tmp_path, monkeypatch):
    letter, module, argv = key
    monkeypatch.chdir(tmp_path)          # the default run directory must not be created
    code, config = print_config(module, argv, capsys)
    assert code == 0
    expected = dict(EXPECTED[key])
    if argv != ("latent",):
        expected.update(AIDS_OFF, paper=letter)
    wrong = [f"paper {letter} ({' '.join(argv) or 'no flags'}): field {field!r} is {config.get(field, 'MISSING')!r}, "
             f"PAPERS.md says {value!r}" for field, value in expected.items() if config.get(field, "MISSING") != value]
    assert not wrong, "\n".join(wrong)
    assert not list(tmp_path.iterdir()), "--print-config wrote into the working directory"


def test_print_config_respects_the_other_flags(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, a = print_config("train_iizuka", ["--stage", "3", "--batch-size", "24", "--residual", "--steps", "7"], capsys)
    assert (a["batch_size"], a["residual"], a["output"], a["steps"]) == (24, True, "mean fill + tanh", 7)
    _, d = print_config("train_context_encoder", ["--lr", "0.002"], capsys)      # D follows --lr ...
    assert d["d_lr"] == 0.002 and d["optimizer"]["discriminator"]["learning_rate"] == 0.002
    _, d = print_config("train_context_encoder", ["--d-lr", "1e-4", "--rec-only", "--residual"], capsys)   # ... unless told
    assert d["d_lr"] == 1e-4 and "discriminator" not in d["optimizer"] and d["loss"] == {"l_rec": 1.0}
    assert d["residual"] is True and d["output"] == "mean fill + tanh"                     # D's demo aid
    _, e = print_config("train_deblur", ["--variant", "stacked", "--global-residual", "--smoke"], capsys)
    assert (e["global_residual"], e["output"], e["filters"], e["dataset"]) == (True, "input + tanh", 8, "samples")
    _, c = print_config("train_wgan_completion", ["train", "--gp"], capsys)
    assert c["optimizer"]["generator"] == {"name": "Adam", "learning_rate": 1e-4, "beta_1": 0.0, "beta_2": 0.9}
    assert c["schedule"]["n_critic"] == 5 and c["schedule"]["warm"] == 5      # WGAN-GP: no warm-up


def test_print_config_shows_a_resumed_runs_saved_settings(capsys, tmp_path, monkeypatch):
    """A run saved with an aid keeps it: --print-config (and the rerun) take it from config.json."""
    import train_deblur
    from training import flags, run
    monkeypatch.chdir(tmp_path)
    rd = tmp_path / "e"
    args = flags.parse(train_deblur.build_parser(), ["--variant", "nonbn_res", "--global-residual", "--run-dir", str(rd)])
    run.open_run(args, log=None)
    (rd / "ckpt").mkdir(exist_ok=True)
    (rd / "ckpt" / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')   # a run that has trained
    (rd / "ckpt" / "ckpt-1.index").write_bytes(b"")
    _, e = print_config("train_deblur", ["--variant", "nonbn_res", "--run-dir", str(rd)], capsys)
    assert e["global_residual"] is True and e["output"] == "input + tanh"


def test_print_config_exits_0_with_one_json_object_on_stdout(tmp_path):
    """As a user runs it: a subprocess, stdout is exactly one JSON object, nothing is written."""
    proc = subprocess.run([sys.executable, str(REPO / "train_iizuka.py"), "--stage", "2", "--print-config"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"] == 10_000
    assert not list(tmp_path.iterdir())


def test_what_is_printed_is_what_is_built():
    """build() makes its optimizers from the same spec --print-config prints (paper A and E, tiny widths)."""
    import train_deblur
    import train_iizuka
    from training import flags
    a = flags.parse(train_iizuka.build_parser(), ["--stage", "2", "--smoke"], smoke=train_iizuka.SMOKE)
    recipe = train_iizuka.build(a, __import__("tensorflow").distribute.get_strategy(), vgg=object())
    for name in ("g_opt", "d_opt"):
        opt = recipe.optimizers[name][0]
        assert type(opt).__name__ == "Adadelta" and float(opt.learning_rate) == 1.0
    assert recipe.models["generator"].layers[-1].name == "tanh"          # GLCIC's output: the tanh itself
    e = flags.parse(train_deblur.build_parser(), ["--variant", "stacked", "--smoke"], smoke=train_deblur.SMOKE)
    recipe = train_deblur.build(e, __import__("tensorflow").distribute.get_strategy())
    opt = recipe.optimizers["g_opt"][0]
    assert (type(opt).__name__, float(opt.beta_1), float(opt.beta_2)) == ("Adam", 0.9, 0.999)
    assert "global_residual" not in [layer.name for layer in recipe.models["generator"].layers]


def test_the_cards_hold_only_what_the_train_scripts_read():
    """Every card key is used by its train script (or, for C's search, inpainters/latent.py): no dead numbers."""
    for letter, paper in papers.PAPERS.items():
        text = (REPO / f"{paper.train_module}.py").read_text()
        if letter == "C":
            text += "".join(p.read_text() for p in (REPO / "inpainters").glob("latent*.py"))
        unused = [k for k in paper.card if f'CARD["{k}"]' not in text and f"CARD['{k}']" not in text]
        assert not unused, f"paper {letter}: card keys no train code reads: {unused}"
