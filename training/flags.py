"""Command-line flags shared by every train script, defined once.

A script passes its paper's defaults as keywords and adds its own flags:

    parser = common_parser(__doc__, dataset="celeb_a", steps=20_000, batch_size=96, image_size=128)
    parser.add_argument("--stage", type=int, choices=(1, 2, 3), default=1)
    args = parse(parser, argv, smoke=dict(steps=4, batch_size=2, image_size=32, dataset="samples"))

`parse` records which flags the user typed (``args._given``) so that a rerun in the same run
directory can take the settings the user did not repeat from the saved config (see run.py),
and so that --smoke shrinks only what the user did not set explicitly.
"""
import argparse
import copy
import json
import sys
from pathlib import Path

import cliargs
from cliargs import image_side, positive_int, seed_int

# Fallbacks for scripts that do not pass a paper value; every train script should pass its own.
COMMON_DEFAULTS = dict(
    dataset="samples",
    data_dir=None,
    run_dir=None,              # None -> runs/<script name>
    steps=1000,
    batch_size=16,
    image_size=128,
    seed=0,
    vgg_weights="imagenet",
    mixed_precision="off",
    strategy="default",
    log_every=100,
    save_every=1000,
    image_every=1000,
    keep=3,
)


def add_common_flags(parser, **defaults):
    """Add the common flags to `parser`, with `defaults` (paper values) overriding COMMON_DEFAULTS."""
    unknown = set(defaults) - set(COMMON_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown common flag defaults: {sorted(unknown)}")
    d = {**COMMON_DEFAULTS, **defaults}
    if d["run_dir"] is None:
        d["run_dir"] = str(Path("runs") / Path(parser.prog).stem)
    g = parser.add_argument_group("common training flags")
    g.add_argument("--dataset", default=d["dataset"],
                   help="tfds name (e.g. celeb_a), an image folder, or 'samples' (default: %(default)s)")
    g.add_argument("--random-crops", type=positive_int, default=None, metavar="MIN_SIDE",
                   help="an image folder's training stream yields a random square crop of each photo (side "
                        "uniform in [MIN_SIDE, short side], flipped at random) instead of the whole photo, so "
                        "a small folder gives a new example at every step ('samples' always does, at 128) "
                        "(default: whole photos)")
    g.add_argument("--data-dir", default=d["data_dir"], help="tfds data directory (default: tfds' own)")
    g.add_argument("--run-dir", default=d["run_dir"],
                   help="where config, checkpoints, logs and images go; rerun to resume (default: %(default)s)")
    g.add_argument("--steps", type=positive_int, default=d["steps"],
                   help="total training steps; raise it on a rerun to continue (default: %(default)s)")
    g.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                   help="global batch size, split over replicas (default: %(default)s)")
    g.add_argument("--image-size", type=image_side, default=d["image_size"], help="(default: %(default)s)")
    g.add_argument("--seed", type=seed_int, default=d["seed"], help="the one seed of the run (default: %(default)s)")
    g.add_argument("--smoke", action="store_true",
                   help="tiny widths, sizes and steps: a seconds-long CPU run that checks the wiring")
    g.add_argument("--print-config", action="store_true",
                   help="print the resolved configuration (these flags, a resumed run's saved settings, and the "
                        "paper's optimizers, loss weights and output) as one JSON object and exit, reading no "
                        "data and building no model")
    g.add_argument("--vgg-weights", default=d["vgg_weights"],
                   help="'imagenet' or a path to vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (default: %(default)s)")
    g.add_argument("--mixed-precision", choices=("off", "float16", "bfloat16"), default=d["mixed_precision"],
                   help="Keras mixed precision policy (float16 adds loss scaling) (default: %(default)s)")
    g.add_argument("--xla", action=argparse.BooleanOptionalAction, default=False,
                   help="compile the train step with XLA (jit_compile=True)")
    g.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default=d["strategy"],
                   help="'mirrored' = data parallel over all local GPUs; 'multiworker' = over several "
                        "machines, each started with the same command and its TF_CONFIG; --run-dir "
                        "must be a folder they all share (default: %(default)s)")
    g.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=False,
                   help="deterministic TF ops (slower; bit-identical reruns on the same machine)")
    g.add_argument("--log-every", type=positive_int, default=d["log_every"], help="(default: %(default)s)")
    g.add_argument("--save-every", type=positive_int, default=d["save_every"], help="(default: %(default)s)")
    g.add_argument("--image-every", type=positive_int, default=d["image_every"], help="(default: %(default)s)")
    g.add_argument("--keep", type=positive_int, default=d["keep"], help="checkpoints kept (default: %(default)s)")
    return parser


def common_parser(description=None, prog=None, **defaults):
    """A new ArgumentParser with the common flags (see add_common_flags).

    prog: the script's name (e.g. "train_iizuka.py"); it names the default run directory
    runs/<prog stem>, also when main() is called from another script. Default: sys.argv[0].
    """
    parser = cliargs.ArgumentParser(description=description, prog=prog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    return add_common_flags(parser, **defaults)


def given_flags(parser, argv):
    """Names (dest) of the flags that appear explicitly in `argv`."""
    probe = copy.deepcopy(parser)
    for action in probe._actions:          # argparse has no public API for "was this flag given"
        action.default = argparse.SUPPRESS
        action.required = False
    namespace, _ = probe.parse_known_args(argv)
    return frozenset(vars(namespace))


def parse(parser, argv=None, smoke=None):
    """Parse `argv`; with --smoke, apply `smoke` values to flags the user did not give.

    The result carries `_given` (frozenset of flag names typed by the user); names starting
    with "_" are not part of the run's configuration.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    given = given_flags(parser, argv)
    if args.smoke and smoke:
        for name, value in smoke.items():
            if not hasattr(args, name):
                raise TypeError(f"smoke value for unknown flag {name!r}")
            if name not in given:
                setattr(args, name, value)
    args._given = given
    return args


NOT_CONFIG = frozenset({"print_config"})     # flags that say what to do, not how to train


def print_config(config, settings=None):
    """--print-config: `config` (the run's config.json-to-be) with `settings` (what the flags resolve
    to: optimizers, loss weights, output) as one JSON object on stdout. Returns exit code 0."""
    print(json.dumps({**config, **(settings or {})}, sort_keys=True, default=list))
    return 0


def config_of(args):
    """The run's configuration: the namespace as a JSON-ready dict, without private names."""
    config = {}
    for key, value in sorted(vars(args).items()):
        if key.startswith("_") or key in NOT_CONFIG:
            continue
        config[key] = str(value) if isinstance(value, Path) else value
    return config
