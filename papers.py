"""The paper registry: what each of the five papers is and where its code lives, in one place.

A paper is named by its letter everywhere (README sections, config.json's "paper", evaluate.py's
--table, bench/ rows), with its method name beside it. demo.py, evaluate.py, bench/, inpainters/
and sharpen.py read this table instead of keeping their own lists. Adding a sixth paper: one
entry here, one model file in models/, one train script with build_parser, build, main and SMOKE
(README "Layout").

Free of TensorFlow, so that reading it costs nothing.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    letter: str           # "A".."E": the README section, config.json's "paper", the table letter
    name: str             # the method's name, as in the README's paper table
    title: str
    seed: str             # its specification: shared/seeds/<seed>_*.txt
    train_module: str     # the train script: build_parser(), build(config, strategy), main(argv), SMOKE
    model_module: str     # the model file (its custom layers must be imported before a .keras loads)
    export: str           # what inference loads from <run>/export/ ("" = no export: the checkpoint is read)
    variants: tuple       # the settings a paper's table compares, as the train script names them
    table: str            # the evaluate.py table (--table) its models are scored in
    task: str             # "inpaint" (inpaint.py, inpainters/) or "deblur" (sharpen.py)


INPAINTER = "inpainter.keras"     # the export every feed-forward inpainter shares: [image, mask] -> image

PAPERS = {p.letter: p for p in (
    Paper("A", "GLCIC", "face inpainting with MSE + perceptual + GAN loss, global and local discriminators",
          "000", "train_iizuka", "models.iizuka", INPAINTER, ("stage1", "stage2", "stage3"), "A",
          "inpaint"),
    Paper("B", "unsupervised DCGAN inpainting", "unsupervised (unpaired) GAN inpainting on a DCGAN",
          "001", "train_unsupervised", "models.unsupervised", INPAINTER, (), "A", "inpaint"),
    Paper("C", "WGAN latent search", "semantic inpainting by latent search in a WGAN (Yeh et al. 2017)",
          "002", "train_wgan_completion", "models.wgan", "", ("wgan", "gp", "bce"), "A", "inpaint"),
    Paper("D", "context encoder", "context-encoder repair of transmission-damaged images",
          "003", "train_context_encoder", "models.context_encoder", INPAINTER, ("rec_adv", "rec_only"),
          "D", "inpaint"),
    Paper("E", "no-BN residual deblurring GAN", "GAN deblurring with a no-BN residual generator, four-model ablation",
          "004", "train_deblur", "models.deblur", "generator.keras",
          ("stacked", "res_bn", "nonbn_res", "nonbn_res_l"), "E", "deblur"),
)}

LETTERS = tuple(PAPERS)
TABLES = tuple(dict.fromkeys(p.table for p in PAPERS.values()))   # evaluate.py's tables, in order: A, D, E
