"""Checkpoints: tf.train.Checkpoint + CheckpointManager around a step counter, models, optimizers.

Optimizers are BUILT (slots created) before anything is restored. Keras 3 creates Adam's m/v
lazily; a restore into an unbuilt optimizer only queues their values until the first
apply_gradients creates them, so right after restore the slots are missing and the restore
cannot be checked against the program. Building first lets `restore` assert that every
variable of the checkpoint and of the program matched (assert_consumed).

Crash safety (TF 2.21, tensorflow/python/checkpoint/functional_saver.py and
checkpoint_management.py): a save writes its shards to `<prefix>_temp/`, merges them into
`<prefix>.index` / `<prefix>.data-*`, and only then does the manager rewrite the `checkpoint`
state file with file_io.atomic_write_string_to_file. An interrupted save therefore leaves an
unreferenced prefix, never a changed state file, and restore only follows the state file.
The one non-atomic case, rewriting an existing prefix, is avoided: `save` never writes the
step number that is already on disk. Checkpoints are named ckpt-<step>.

--strategy multiworker (TF's multi-worker custom-loop recipe): every worker calls save() at the
same steps, because saving distributed variables may need collectives that every worker must
join (ON_READ variables are all-reduced when read); only the chief writes into `directory` (the
shared run directory). A non-chief worker writes the same checkpoint into a fresh local
temporary folder that is deleted right after. Every worker restores from the chief's
checkpoints in `directory`, and restore() then checks (one all-gather) that all workers
resumed at the same step: a worker that does not see the shared folder would otherwise run a
different number of steps and hang the others.
"""
from pathlib import Path

import keras
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from errors import UserError
from training import cluster


def trainable_variables(things):
    """Flatten a model / layer / variable, or a list of them, into a list of variables."""
    if isinstance(things, (list, tuple)):
        return [v for thing in things for v in trainable_variables(thing)]
    if isinstance(things, keras.layers.Layer):   # keras.Model is a Layer
        return list(things.trainable_variables)
    return [things]


def build_optimizer(optimizer, variables):
    """Create the optimizer's slot variables for `variables` (models or variables) now."""
    if not optimizer.built:
        var_list = trainable_variables(variables)
        if not var_list:
            raise ValueError("no trainable variables to build the optimizer with; build the model first")
        optimizer.build(var_list)
    return optimizer


def _trackables(objects):
    """name -> trackable; (optimizer, variables) pairs are built and unpacked."""
    tracked = {}
    for name, obj in objects.items():
        if isinstance(obj, tuple):
            optimizer, variables = obj
            obj = build_optimizer(optimizer, variables)
        elif isinstance(obj, keras.optimizers.Optimizer) and not obj.built:
            raise ValueError(f"optimizer {name!r} is not built: pass ({name}, variables) so its slots "
                             f"exist before a restore")
        tracked[name] = obj
    return tracked


class Checkpointer:
    """Save and resume a run. `objects`: name=model | variable | (optimizer, models_or_variables).

    Create it inside `strategy.scope()` when using a distribution strategy.
    `step` (tf.Variable int64) counts completed train steps; the loop advances it.
    """

    def __init__(self, directory, keep=3, **objects):
        if "step" in objects:
            raise ValueError("'step' is reserved for the step counter")
        self.directory = Path(directory)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.objects = _trackables(objects)
        self.checkpoint = tf.train.Checkpoint(step=self.step, **self.objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory),
                                                  max_to_keep=keep, checkpoint_name="ckpt")
        self.saved_step = None   # step of the newest checkpoint on disk, once known
        self.restored = False    # restore() was called (train_loop insists on it)
        self.strategy = tf.distribute.get_strategy()   # the one whose scope we were created in
        self.worker = cluster.active()                 # None unless --strategy multiworker
        self.chief = cluster.is_chief()                # only the chief writes into `directory`
        self.temp_dirs = []      # a non-chief's temporary save folders (each deleted after its save)

    @property
    def latest(self):
        """Path prefix of the newest complete checkpoint, or None."""
        for path in reversed(self.manager.checkpoints):
            if tf.io.gfile.exists(path + ".index"):
                return path
        return None

    def restore(self):
        """Restore the newest checkpoint if there is one; return the step (0 for a fresh run)."""
        self.restored = True
        listed = list(self.manager.checkpoints)
        path = self.latest
        if path is None:
            if listed:
                raise UserError(f"the checkpoints listed in {self.directory}/checkpoint are missing; "
                                f"put them back or use a new --run-dir")
            self._agree_on_step()
            return 0
        try:
            status = self.checkpoint.restore(path)
            status.assert_consumed()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"checkpoint {path} does not fit this script's models and optimizers "
                            f"({first[:200]}); use a new --run-dir") from None
        self.saved_step = int(self.step.numpy())
        self._agree_on_step()
        return self.saved_step

    def _agree_on_step(self):
        """Multi-worker: UserError on every worker unless all of them restored the same step."""
        if self.worker is None or self.worker.num_workers < 2:
            return
        strategy, local = self.strategy, tf.reshape(tf.cast(self.step.read_value(), tf.int64), [1])
        gathered = tf.function(lambda: strategy.gather(strategy.run(tf.identity, args=(local,)), axis=0))()
        steps = sorted({int(v) for v in gathered.numpy()})
        if len(steps) > 1:
            raise UserError(f"the workers resumed at different steps ({', '.join(map(str, steps))}): "
                            f"{self.directory} must be in a --run-dir that every worker sees (a shared "
                            f"folder: the chief writes the checkpoints there)")

    def save(self):
        """Write a checkpoint for the current step (no-op if that step is already saved).

        Multi-worker: call it on every worker; only the chief's lands in `directory`."""
        step = int(self.step.numpy())
        if step == self.saved_step:
            return self.latest
        if self.chief:
            path = self.manager.save(checkpoint_number=step)
        else:
            with cluster.throwaway_dir(f"ckpt-{self.worker.task_type}{self.worker.task_id}-") as temp:
                self.temp_dirs.append(temp)
                tf.train.CheckpointManager(self.checkpoint, temp, max_to_keep=1,
                                           checkpoint_name="ckpt").save(checkpoint_number=step)
            path = str(self.directory / f"ckpt-{step}")     # the chief's copy
        self.saved_step = step
        return path


def resolve_checkpoint(path):
    """A checkpoint prefix from a prefix, a checkpoint folder, or a run directory (uses its ckpt/)."""
    p = Path(path)
    if p.is_dir():
        folder = p / "ckpt" if (p / "ckpt").is_dir() else p
        latest = tf.train.latest_checkpoint(str(folder))
        if latest is None:
            raise UserError(f"no checkpoint in {path}; train that run first or pass another path")
        return latest
    if tf.io.gfile.exists(str(p) + ".index"):
        return str(p)
    raise UserError(f"no checkpoint at {path}; pass a run directory or a checkpoint prefix like runs/x/ckpt/ckpt-1000")


def saved_objects(prefix):
    """Names of the top-level objects a checkpoint holds (from its object graph).

    Variable paths cannot tell this: a variable reachable from two objects (a model's weight
    that an optimizer also tracks) is listed under one path only.
    """
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return {child.local_name for child in graph.nodes[0].children}


def restore_from(path, **objects):
    """Load only the named objects from another run's checkpoint (e.g. stage 1's generator).

    Names must be the ones that run saved them under. Fails with UserError if a name is not
    in the checkpoint or if any variable of the given objects found no value there.
    Returns the checkpoint prefix used.
    """
    prefix = resolve_checkpoint(path)
    saved = saved_objects(prefix)
    missing = sorted(set(objects) - saved)
    if missing:
        have = sorted(n for n in saved if not n.startswith("_") and n != "save_counter")
        raise UserError(f"checkpoint {prefix} has no {', '.join(missing)} (it holds {', '.join(have)})")
    tracked = _trackables(objects)
    try:
        status = tf.train.Checkpoint(**tracked).read(prefix)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"checkpoint {prefix} does not fit {', '.join(objects)} ({first[:200]})") from None
    return prefix
