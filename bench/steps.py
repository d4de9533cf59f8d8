"""Each paper's REAL recipe (the build(config, strategy) of its train script) with synthetic batches.

`build(paper, size="tiny"|"small"|"paper", mode="off"|"float16"|"bfloat16", xla=False, strategy=None)`
sets the seed and the dtype policy and hands the paper's benchmark sizes (`papers.PAPERS[paper].bench[size]`)
to its train script's `synthetic(cfg, strategy, recipe_fn)` hook, which calls the script's own build on
its default flags with the widths and sizes of `cfg` (so the models, optimizers and step are exactly
those that train) through `recipe_fn(values, **build_kw)`, and returns its recipe and its synthetic
batches. `build` returns a `Built`: the compiled step, a function that makes batch number i
(deterministic, synthetic: training/synthetic.py), the global batch size and the image side. Used by
tests/test_precision.py, tests/test_mirrored.py and bench/throughput.py, so all three exercise the
shipped steps, not copies. Nothing here knows a paper: the papers are `papers.LETTERS`, read when called.

The hook returns a dict:
  recipe           the training.recipe.Recipe that recipe_fn built
  batch            i -> the step's batch number i (global: bench splits it over the replicas)
  infer            images [B, S, S, 3] -> the output of the paper's inference network
  sample           a batch -> the images `infer` takes (optional: batch["image"])
  images_per_step  training images one step consumes (optional: the batch size)
  call             (i, batch or None) -> losses, for a step that does not take batch(i) as it is (optional;
                   it distributes its batches itself: a step that pulls them from an iterator)
  feed             dataset -> a function running one step on the dataset's next element(s) (optional)
"""
from dataclasses import dataclass, field

import tensorflow as tf

import papers
from training import setup, synthetic
from training.checkpoint import build_optimizer

SIZE_NAMES = ("tiny", "small", "paper")

# the synthetic-data helpers the train scripts' hooks use (training/synthetic.py), under their old names
_images, _holes, tiny_vgg = synthetic.images, synthetic.holes, synthetic.tiny_vgg


def __getattr__(name):
    """PAPERS and SIZES are read from the registry when asked for, so a paper registered later is in them."""
    if name == "PAPERS":
        return papers.LETTERS
    if name == "SIZES":        # size -> paper -> its bench arguments (papers.PAPERS[paper].bench)
        return {size: {letter: dict(p.bench[size]) for letter, p in papers.PAPERS.items() if size in p.bench}
                for size in SIZE_NAMES}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Built:
    paper: str
    step: object                  # compiled step
    batch: object                 # i -> batch (what the paper's hook makes; split over the replicas)
    batch_size: int
    image_size: int
    models: dict = field(default_factory=dict)       # the recipe's models, by checkpoint name
    infer: object = None          # images [B,S,S,3] -> output (inference network of the paper)
    strategy: object = None
    optimizers: list = field(default_factory=list)   # (optimizer, [models it trains])
    cfg: dict = field(default_factory=dict)          # the bench size entry it was built from
    extras: dict = field(default_factory=dict)       # the recipe's extras (VGG, schedules, ...)
    config: dict = field(default_factory=dict)       # the train script's flags it was built with
    name: str = ""                # how the registry labels that config (Paper.label)
    sample: object = None         # batch -> the images `infer` takes
    images_per_step: int = 0      # training images one step consumes
    hook_call: object = None      # the hook's `call`, if any
    hook_feed: object = None      # the hook's `feed`, if any

    def call(self, i, batch=None):
        if self.hook_call is not None:
            return self.hook_call(i, batch)
        return self.step(self.batch(i) if batch is None else batch)

    def feed(self, dataset):
        """A function that runs one step on the next element of `dataset` (the real input pipeline)."""
        if self.hook_feed is not None:
            return self.hook_feed(dataset)
        it = iter(dataset)
        return lambda: self.step(next(it))

    def weights(self):
        return [v.numpy() for m in self.models.values() for v in m.weights]


_DUPLICATE = False


def _dist(strategy, batch_fn):
    """Split each global batch over the replicas as experimental_distribute_dataset would."""
    if _DUPLICATE:
        raw = batch_fn

        def batch_fn(i):
            return tf.nest.map_structure(lambda t: tf.concat([t[:t.shape[0] // 2]] * 2, 0), raw(i))
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return batch_fn
    return lambda i: strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.nest.map_structure(
            lambda t: tf.split(t, ctx.num_replicas_in_sync)[ctx.replica_id_in_sync_group], batch_fn(i)))


def config_of(module, values):
    """The train script's flags with no arguments (its parser's defaults) with `values` set."""
    config = module.build_parser().parse_args([])
    for key, value in values.items():
        if not hasattr(config, key):
            raise AttributeError(f"{module.__name__} has no flag {key!r}")
        setattr(config, key, value)
    return config


def build(paper, size="tiny", mode="off", xla=False, strategy=None, seed=0, vgg_weights=None, batch=None,
          duplicate=False, flags=None):
    """Set seed + precision, build paper `paper`'s models at `size`, return a Built (see module doc).

    batch: override the size's batch. flags: train-script flags set over the hook's values (bench/paper_step.py's
    rows: a stage, a variant). duplicate: every global batch is [x; x] (its two halves equal), so that with 2
    replicas each replica's BatchNorm sees the same statistics as one replica on the whole batch."""
    global _DUPLICATE
    _DUPLICATE = bool(duplicate)
    setup.set_seed(seed)
    setup.set_precision(mode)
    strategy = strategy or tf.distribute.get_strategy()
    entry = papers.PAPERS[paper]
    cfg = dict(entry.bench[size])
    if batch is not None:
        cfg["batch"] = int(batch)
    module = papers.train_module(paper)
    used = {}

    def recipe_fn(values, **build_kw):
        config = config_of(module, dict(values, **(flags or {}), xla=xla, seed=seed, vgg_weights=vgg_weights))
        used.update(vars(config))
        return module.build(config, strategy, **build_kw)

    with strategy.scope():
        hook = module.synthetic(cfg, strategy, recipe_fn)
        recipe = hook["recipe"]
        optimizers = [(opt, trained if isinstance(trained, list) else [trained])
                      for opt, trained in recipe.optimizers.values()]
        for opt, models in optimizers:          # as the Checkpointer does before a restore
            build_optimizer(opt, [v for m in models for v in m.trainable_variables])
    call = hook.get("call")
    bsz = cfg["batch"]
    return Built(paper=paper, step=recipe.step, batch=hook["batch"] if call else _dist(strategy, hook["batch"]),
                 batch_size=bsz, image_size=cfg["image"], models=dict(recipe.models), infer=hook.get("infer"),
                 strategy=strategy, optimizers=optimizers, cfg=cfg, extras=dict(recipe.extras),
                 config={k: v for k, v in used.items() if not k.startswith("_")}, name=entry.label(used),
                 sample=hook.get("sample", lambda b: b["image"]),
                 images_per_step=int(hook.get("images_per_step", bsz)), hook_call=call, hook_feed=hook.get("feed"))


def run_losses(built, steps):
    """Run `steps` steps on batches 0..steps-1; list of {name: float} per step."""
    out = []
    for i in range(steps):
        losses = built.call(i)
        out.append({k: float(v) for k, v in losses.items()})
    return out
