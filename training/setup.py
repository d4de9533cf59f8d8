"""Process-wide set-up of a run: seeds, op determinism, mixed precision, distribution, XLA.

`configure(args)` applies the common flags in the right order and returns the strategy; build
models AND optimizers inside `with strategy.scope():` (a Keras optimizer remembers the strategy
that was current when it was created). `make_step(fn, xla, strategy)` turns the script's
per-replica train step into the compiled step the loop calls.

`--strategy multiworker` (MultiWorkerMirroredStrategy, cluster from TF_CONFIG) must be created
before any TensorFlow op runs in the process: it configures the collective ops of the eager
context, which TF refuses once the context exists. configure() therefore creates the strategy
FIRST, and a script that must run TF ops before configure() (e.g. to check its dataset before
open_run writes config.json) calls early_strategy(args) before them; configure() then reuses it.
"""
import os

import keras
import tensorflow as tf

from errors import UserError
from training import cluster
from training.distribute import distributed_step

STRATEGIES = ("default", "mirrored", "multiworker")
_MULTIWORKER = {}     # TF_CONFIG text -> its MultiWorkerMirroredStrategy (one per process)

POLICIES = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def set_seed(seed):
    """Seed Python, NumPy, TF and Keras global generators (keras.utils.set_random_seed)."""
    keras.utils.set_random_seed(int(seed))


def set_determinism(enabled):
    """Turn TF's op determinism on or off (deterministic kernels; raises on ops that have none).

    TF 2.21 exports only the "on" switch; "off" uses the internal twin so that one process
    (the test suite) can leave determinism behind.
    """
    if enabled:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config as tf_config   # no public API for this
        tf_config.disable_op_determinism()


def set_precision(mode):
    """Set the global Keras dtype policy for "off" | "float16" | "bfloat16"; returns its name.

    Under a mixed policy layers compute in 16 bits and keep float32 variables; give the last
    layer of a model dtype="float32" if its output feeds a loss that needs the range.
    """
    if mode not in POLICIES:
        raise UserError(f"--mixed-precision must be one of {', '.join(POLICIES)}, not {mode!r}")
    keras.mixed_precision.set_global_policy(POLICIES[mode])
    return POLICIES[mode]


def wrap_optimizer(optimizer, mode=None):
    """Wrap in LossScaleOptimizer for float16 only (bfloat16 has float32's range; off needs none).

    `mode` defaults to the current global policy. In the step compute
    `scaled = optimizer.scale_loss(loss)` INSIDE the GradientTape and take
    `tape.gradient(scaled, vars)`: scale_loss is the identity for a plain optimizer; the wrapper
    multiplies by its dynamic scale and apply_gradients unscales (skipping the update on
    inf/NaN gradients).
    """
    if mode is None:
        float16 = keras.mixed_precision.global_policy().name == "mixed_float16"
    else:
        float16 = POLICIES[mode] == "mixed_float16"
    if float16 and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def optimizer(spec):
    """A Keras optimizer from `spec` = {"name": a class of keras.optimizers, **its arguments}: the dict
    a train script's settings() shows under --print-config, so what is printed is what is built.
    Wrapped for float16 loss scaling (wrap_optimizer)."""
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    return wrap_optimizer(getattr(keras.optimizers, spec["name"])(**kwargs))


def make_strategy(name):
    """"default" -> tf.distribute.get_strategy(); "mirrored" -> MirroredStrategy on all local GPUs
    (on all logical CPUs when there is no GPU, which is how tests get 2 replicas); "multiworker" ->
    MultiWorkerMirroredStrategy over the cluster in TF_CONFIG (all local GPUs, else the CPU, of
    every worker), created once per process and reused by later calls."""
    if name not in STRATEGIES:
        raise UserError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {name!r}")
    if name == "multiworker":
        worker = cluster.from_env()
        strategy = _multiworker(os.environ["TF_CONFIG"].strip())
        cluster.activate(worker)
        return strategy
    cluster.activate(None)
    if name == "default":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    # Logical CPUs: reduce through one device. The default collective all-reduce can run the
    # D and G updates' collectives in a different order on each replica and abort (paper B).
    cpus = tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in cpus],
                                          cross_device_ops=tf.distribute.ReductionToOneDevice())


def _multiworker(tf_config):
    if tf_config in _MULTIWORKER:
        return _MULTIWORKER[tf_config]
    if _MULTIWORKER:
        raise UserError("TF_CONFIG changed after this process joined a cluster; start a new process")
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as e:
        if "program startup" not in str(e):
            raise
        raise RuntimeError("--strategy multiworker: a TensorFlow op ran before the strategy was created; "
                           "call setup.configure(args) (or setup.early_strategy(args)) before anything "
                           "touches TensorFlow in main()") from e
    _MULTIWORKER[tf_config] = strategy
    return strategy


def early_strategy(args):
    """Create the --strategy multiworker strategy now, before the first TF op (configure reuses it).

    A no-op for the other strategies (they may be created at any time)."""
    if getattr(args, "strategy", "default") == "multiworker":
        return make_strategy("multiworker")
    return None


def is_chief():
    """True unless this process is a non-chief worker of --strategy multiworker (which must not
    write into the run directory); see training/cluster.py."""
    return cluster.is_chief()


def configure(args):
    """Apply --strategy (first: see the module doc), --seed, --deterministic, --mixed-precision
    (and check --xla, --batch-size against the replicas)."""
    name = getattr(args, "strategy", "default")
    strategy = make_strategy(name)
    set_seed(args.seed)
    set_determinism(getattr(args, "deterministic", False))
    set_precision(getattr(args, "mixed_precision", "off"))
    replicas = strategy.num_replicas_in_sync
    worker = cluster.active()
    if worker is not None:
        role = "the chief: writes the run directory" if worker.chief else "not the chief: writes nothing"
        print(f"--strategy multiworker: {worker.name} of {worker.num_workers} workers ({role}), "
              f"{replicas} replicas in sync, global batch {args.batch_size}")
    if replicas > 1 and args.batch_size % replicas:
        raise UserError(f"--batch-size {args.batch_size} must be a multiple of the {replicas} replicas "
                        f"of --strategy {name}")
    if replicas > 1 and getattr(args, "xla", False):
        raise UserError(f"--xla with --strategy {name} over {replicas} devices is not supported; "
                        f"drop one of the two flags")
    return strategy


def make_step(fn, xla=False, strategy=None):
    """Compile `fn(batch) -> dict of scalar losses` as a tf.function (XLA if `xla`).

    With a multi-replica strategy, `fn` is the per-replica step (losses scaled to the global
    batch, see distribute.global_mean) and the returned step runs it with strategy.run and sums
    the losses over replicas.
    """
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        if xla:
            raise UserError("--xla with a multi-replica --strategy is not supported; drop one of the two flags")
        fn = distributed_step(strategy, fn)
    return tf.function(fn, jit_compile=True if xla else None)
