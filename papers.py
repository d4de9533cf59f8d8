"""The paper registry: what each of the five papers is and where its code lives, in one place.

A paper is named by its letter everywhere (docs/papers/<letter>.md, config.json's "paper", evaluate.py's
--table, bench/ rows), with its method name beside it. Each entry carries the paper: its card
(the numbers a no-flag run trains with), its model module, whose `networks(config)` builds the
networks of a run's config for training, resume, export, inference, the app and the benchmarks
(`networks` below), its train module (build_parser, build, main, SMOKE, and the benchmark hook
`synthetic`), the evaluation table it owns, its labels and its benchmark sizes. Generic modules
(evaluate.py, export.py, app.py, sharpen.py, inpainters/, bench/) call these hooks and never
branch on a letter (tests/test_architecture.py). Adding a sixth paper: one `register(Paper(...))`,
one model file, one train script (docs/ARCHITECTURE.md; tests/test_toy_paper.py does it).

Free of TensorFlow, so that reading it costs nothing: hooks are imported when called.
"""
import importlib
from dataclasses import dataclass, field, replace
from types import MappingProxyType

_EMPTY = MappingProxyType({})


@dataclass(frozen=True)
class Paper:
    letter: str           # "A".."E": its docs/papers page, config.json's "paper", the table letter
    name: str             # the method's name, as in the README's paper table and the app
    title: str
    seed: str             # its specification: shared/seeds/<seed>_*.txt
    train_module: str     # the train script: build_parser(), build(config, strategy), main(argv), SMOKE
    model_module: str     # the model file (its custom layers must be imported before a .keras loads)
    export: str           # what inference loads from <run>/export/ ("" = no export: the checkpoint is read)
    variants: tuple       # the settings a paper's table compares, as the train script names them
    table: str            # the evaluate.py table (--table) its models are scored in
    task: str             # "inpaint" (inpaint.py, inpainters/) or "deblur" (sharpen.py)
    card: MappingProxyType = field(default_factory=lambda: _EMPTY)
    # the paper card: what a run with no flags trains with, [paper] and [choice] numbers from
    # shared/PAPERS.md; the train script's flag defaults and constants are read from here, and
    # tests/test_paper_card.py pins every value against PAPERS.md. Demo-scale aids are all off.
    exports: MappingProxyType = field(default_factory=lambda: _EMPTY)        # every file its runs write to <run>/export/, by role
    table_module: str = ""                    # the evaluation module of the table it owns ("" = none)
    variant_labels: MappingProxyType = field(default_factory=lambda: _EMPTY)  # variant -> the name its table and the app give it
    details: tuple = ()       # (config.json key, format) pairs that tell two runs apart in the app
    bench: MappingProxyType = field(default_factory=lambda: _EMPTY)          # bench size (tiny, small, paper) -> image, batch and width
    # arguments; "jax_proxy": what bench/jax_proxy.py's generic step needs beyond the card
    inpainter: str = ""       # "module:function" making the Inpainter of a run that exports no network
                              # (run_dir, iterations=None, **kw); "" = inpainters loads its export

    def label(self, config=None):
        """How the app and bench name a run of this paper: "E · StackedG", "D · context encoder (...)"."""
        config = config or {}
        variant = self.variant_labels.get(config.get("variant"))
        parts = []
        for key, fmt in self.details:
            value = config.get(key)
            if value not in (None, "", False):
                parts.append(fmt.format(value))
        name = variant or self.name
        return f"{self.letter} · {name}" + (f" ({', '.join(parts)})" if parts else "")


INPAINTER = "inpainter.keras"     # the export every feed-forward inpainter shares: [image, mask] -> image
GENERATOR = "generator.keras"     # a deblurring generator's export: image -> image of the same size


# ----------------------------------------------------------------------------- the paper cards
# Each value is what `python train_X.py` uses with no flags ([paper] = stated by the seed,
# [choice] = our reading where it is silent, docs/PAPER_NOTES.md). The aids the CPU demo needs
# (A --residual, E --global-residual, D --d-lr 1e-4 and --residual) are off here and on in demo.py's preset.
CARD_A = dict(
    dataset="celeb_a", image_size=128,                 # [paper] CelebA aligned, scaled to 128x128
    first=100_000, n_train=80_000, resize="crop",      # [paper] first 100,000: 80,000 train, 20,000 test; [choice] crop
    batch_size=96,                                     # [choice: GLCIC]
    stage_steps=(20_000, 10_000, 70_000),              # [paper] stages 1, 2, 3
    optimizer="Adadelta", lr=1.0,                      # [choice: GLCIC] (Keras' 0.001 is 1000x too small)
    alpha=0.0004,                                      # [choice: GLCIC] GAN weight of eq. 4
    beta=0.01,                                         # [choice, measured] perceptual weight of eq. 4
    vgg_layers=("relu1_1", "relu2_1", "relu3_1"),      # [paper] eq. 3
    width=64, fc_units=1024,                           # [choice: GLCIC table 1]; [paper] 2 x 1024 = 2048-d
    local_size=64,                                     # [paper] the local D's 64x64 area
    hole_min=24, hole_max=48,                          # [choice: GLCIC scaled to 128]
    residual=False,                                    # [paper] plain tanh output (aid: --residual)
    color_jitter=False,                                # [paper] the photos' own colours (aid: --color-jitter)
)
CARD_B = dict(
    dataset="cifar10", image_size=64, batch_size=64,   # [paper] CIFAR-10 resized to 64, batch 64
    steps=10_000,                                      # [choice] the seed gives no length
    optimizer="Adam", lr=2e-4, beta1=0.5, beta2=0.999, # [paper]
    width=64, code_dim=100,                            # [paper] DCGAN 512-256-128-64, z 100
    mask="mixed",                                      # [choice] random rectangles and centre squares
    residual=False,                                    # [paper] plain DCGAN tanh output (aid: --residual)
)
CARD_C = dict(
    dataset="celeb_a", image_size=64, batch_size=64,   # [choice: Yeh] CelebA 64x64
    first=100_000, n_train=80_000,                     # [choice] paper A's selection
    steps=100_000,                                     # [choice]
    loss="wasserstein", clip=0.01, n_critic=5,         # [choice: Arjovsky et al.]
    warm_critic=100, warm_steps=25, warm_every=500,    # [choice: Arjovsky et al.]
    optimizer="RMSprop", lr=5e-5,                      # [choice: Arjovsky et al.]
    gp_weight=10.0,                                    # [choice: Gulrajani et al.] for --gp
    width=64, z_dim=100,                               # [choice: DCGAN]
    # the latent search (complete): Adam 0.01 on z, 1,500 iterations, lambda 0.003 [choice: Yeh]
    search_iterations=1500, search_lr=0.01, lam=0.003, weighted_context=False, blend=True,
    search_mask="center",
)
CARD_D = dict(
    dataset="datasets/openimages_100k", image_size=128,  # [paper] 100,000 Open Images photos at 128x128
    batch_size=50, lr=0.001,                           # [paper] one rate for G and D (aid: --d-lr 1e-4)
    optimizer="Adam", beta1=0.5, beta2=0.999,          # [choice: Pathak]
    rec_weight=0.95, adv_weight=0.05,                  # [paper] eq. 5
    mask="center",                                     # [paper] centre 64x64 square, filled white
    residual=False,                                    # [paper] the decoder's plain tanh (aid: --residual)
    band=(0.005, 0.0055),                              # [paper] "until the loss settles in [0.005, 0.0055]"
    steps=100_000,                                     # [choice] cap of the stopping rule
    width=64, bottleneck=4000,                         # [paper] 64 filters first, 4000-d code
    block=16, rate=0.25,                               # [choice] lost 16x16 macroblocks (--mask macroblock)
)
CARD_E = dict(
    dataset="div2k", image_size=96, batch_size=16,     # [paper] DIV2K; [choice: SRGAN] 96 crops, batch 16
    steps=500_000, lr_decay_at=250_000, lr_decay=0.1,  # [paper]
    optimizer="Adam", lr=1e-4, beta1=0.9, beta2=0.999, # [paper] Adam; [choice: SRGAN] 1e-4, Keras' betas
    d_updates=2,                                       # [paper] two D updates per G update
    content_weight=1.0, adv_weight=1e-3,               # [choice: SRGAN]
    perceptual_weights={"pool2": 0.2, "pool5": 0.02},  # [choice: EnhanceNet PAT] eq. 4
    texture_weights={"conv1_1": 3e-7, "conv2_1": 1e-6, "conv3_1": 1e-6},   # [choice: EnhanceNet] eq. 5
    texture_patch=16,                                  # [choice: EnhanceNet]
    filters=64, blocks=5,                              # [choice: SRResNet]; [paper] 5 residual blocks
    d_filters=64, d_dense=1024,                        # [choice: SRGAN]
    variant="nonbn_res_l",                             # [paper] the paper's model
    blur="mixed", sigma_range=(0.5, 3.0),              # [choice] Gaussian + motion blur
    global_residual=False,                             # [paper] tanh(conv9x9) output (aid: --global-residual)
)
_CARDS = dict(A=CARD_A, B=CARD_B, C=CARD_C, D=CARD_D, E=CARD_E)

_EXTRA = dict(
    A=dict(exports={"inpainter": INPAINTER, "stage1": "stage1.keras", "stage2": "stage2.keras",
                    "stage3": "stage3.keras"},   # stage 1's export is table A's "autoencoder" row
           table_module="evaluation.table_a", details=(("stage", "stage {}"), ("image_size", "{} px")),
           bench={"tiny": dict(image=16, batch=4, width=4, local=8, fc=8, tiny_vgg=True),
                  "small": dict(image=64, batch=8, width=16, local=32, fc=64),
                  "paper": dict(image=128, batch=96, width=64, local=64, fc=1024),
                  "jax_proxy": dict(config=dict(stage=3),
                                    vgg=("block1_conv1", "block2_conv1", "block3_conv1"))}),
    B=dict(exports={"inpainter": INPAINTER}, details=(("image_size", "{} px"),),
           bench={"tiny": dict(image=16, batch=4, width=4), "small": dict(image=32, batch=16, width=16),
                  "paper": dict(image=64, batch=64, width=64)}),
    C=dict(inpainter="inpainters.latent:latent_inpainter",      # latent search in the trained prior
           details=(("loss", "{} prior, latent search"), ("image_size", "{} px")),
           bench={"tiny": dict(image=16, batch=4, width=4, z=8), "small": dict(image=32, batch=16, width=16, z=100),
                  "paper": dict(image=64, batch=64, width=64, z=100),
                  "jax_proxy": dict(config=dict(gp=True), wgan_gp=True, d_updates=2, batches=2,
                                    optimizer=("Adam", 1e-4, 0.0, 0.9))}),
    D=dict(exports={"inpainter": INPAINTER}, table_module="evaluation.table_d",
           details=(("mask", "{} holes"), ("rec_only", "l_rec only"), ("image_size", "{} px")),
           bench={"tiny": dict(image=32, batch=4, width=4, bottleneck=16),
                  "small": dict(image=64, batch=8, width=16, bottleneck=500),
                  "paper": dict(image=128, batch=50, width=64, bottleneck=4000)}),
    E=dict(exports={"generator": GENERATOR}, table_module="evaluation.table_e",
           variant_labels={"stacked": "StackedG", "res_bn": "ResG", "nonbn_res": "NonBN-ResG",
                           "nonbn_res_l": "NonBN-ResG-L"},
           bench={"tiny": dict(image=32, batch=4, filters=4, d_filters=4, d_dense=8, blocks=1, variant="nonbn_res"),
                  "small": dict(image=64, batch=4, filters=16, d_filters=16, d_dense=64, blocks=5,
                                variant="nonbn_res_l"),
                  "paper": dict(image=96, batch=16, filters=64, d_filters=64, d_dense=1024, blocks=5,
                                variant="nonbn_res_l"),
                  "jax_proxy": dict(d_updates=2, batches=3, texture=3,
                                    vgg=("block2_pool", "block5_pool", "block1_conv1", "block2_conv1", "block3_conv1"))}),
)


def _frozen(extra):
    return {k: MappingProxyType({s: MappingProxyType(v) if isinstance(v, dict) else v for s, v in v.items()})
            if isinstance(v, dict) else v for k, v in extra.items()}


PAPERS = {p.letter: replace(p, card=MappingProxyType(_CARDS[p.letter]), **_frozen(_EXTRA[p.letter])) for p in (
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
          "004", "train_deblur", "models.deblur", GENERATOR,
          ("stacked", "res_bn", "nonbn_res", "nonbn_res_l"), "E", "deblur"),
)}

LETTERS = tuple(PAPERS)
TABLES = tuple(dict.fromkeys(p.table for p in PAPERS.values()))   # evaluate.py's tables, in order: A, D, E


def register(paper):
    """Add (or replace) a paper: every generic module sees it through PAPERS, LETTERS and TABLES.
    Its `table` must be a table some paper owns (its own `table_module`, or an existing one)."""
    global LETTERS, TABLES
    PAPERS[paper.letter] = paper
    LETTERS = tuple(PAPERS)
    TABLES = tuple(dict.fromkeys(p.table for p in PAPERS.values()))
    return paper


def unregister(letter):
    """Remove a registered paper (tests' toy paper)."""
    global LETTERS, TABLES
    PAPERS.pop(letter, None)
    LETTERS = tuple(PAPERS)
    TABLES = tuple(dict.fromkeys(p.table for p in PAPERS.values()))


def table_module(table):
    """The module name of evaluate.py's table `table`: the table_module of the paper that owns it."""
    for paper in PAPERS.values():
        if paper.letter == table and paper.table_module:
            return paper.table_module
    raise KeyError(f"no paper owns table {table!r}")


def of(config):
    """The Paper a run's config (config.json dict or parsed flags) names, or None."""
    config = config if isinstance(config, dict) else vars(config)
    return PAPERS.get(config.get("paper"))


def hook(spec):
    """The function a "module:function" hook names, imported now."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def own_modules(paper):
    """The modules that are this paper's own files (they may name its letter): its train script,
    model module, the table module it owns and its inpainter hook's module."""
    return {m for m in (paper.train_module, paper.model_module, paper.table_module,
                        paper.inpainter.partition(":")[0]) if m}


def train_module(letter):
    """The imported train script of paper `letter` (bench/, demo.py and tests only)."""
    return importlib.import_module(PAPERS[letter].train_module)


def model_module(letter):
    return importlib.import_module(PAPERS[letter].model_module)


def networks(config, letter=None, **kw):
    """The networks of a run: {name: keras.Model} built by its paper's model module from `config`
    (config.json dict or parsed flags), untrained. The one builder: the train script's build,
    resume, export, inference, the app and bench/ all call it, so a run loads as it trained."""
    config = dict(config if isinstance(config, dict) else vars(config))
    letter = letter or config.get("paper")
    return model_module(letter).networks(config, **kw)
