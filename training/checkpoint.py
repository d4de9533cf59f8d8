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

Damage (a disk that filled up, a copy cut short, a hand-edited state file) never costs a run:
`restore` reads every `ckpt-N` present in the folder, newest first, and resumes from the newest one
whose index and data read back whole; each newer damaged one is named in one line and moved to
`<directory>/damaged/` (so no later save writes over it). The `checkpoint` state file is rebuilt
from the intact `ckpt-N` files whenever it is unreadable or disagrees with them. A folder whose
checkpoints are all damaged stops with one line; nothing is ever restarted over them.
"""
import re
import shutil
from pathlib import Path

import keras
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2
from tensorflow.python.checkpoint import checkpoint_management

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
        self.keep = keep
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

    def restore(self, log=print):
        """Restore the newest intact checkpoint if there is one; return the step (0 for a fresh run).

        Damaged newer checkpoints are skipped with one line each (and moved to damaged/ by the
        chief); the state file is rebuilt from the intact ckpt-N files when it disagrees with them."""
        self.restored = True
        listed = list(self.manager.checkpoints)
        on_disk = checkpoints_on_disk(self.directory)
        intact = []
        for step, prefix in reversed(on_disk):             # newest first
            why = damage(prefix)
            if why is None:
                intact = [p for _, p in on_disk if _step_of(p) <= step and damage(p) is None]
                break
            if self.chief:
                moved = _move_aside(prefix, self.directory / "damaged")
                log(f"checkpoint {Path(prefix).name} is damaged ({why}): skipped, moved to {moved}/")
            else:
                log(f"checkpoint {Path(prefix).name} is damaged ({why}): skipped")
        if on_disk and not intact:
            raise UserError(f"every checkpoint in {self.directory} is damaged (moved to {self.directory / 'damaged'}/; "
                            f"nothing was restarted over them): delete {self.directory} to start afresh, "
                            f"or use a new --run-dir")
        if not on_disk and listed:
            raise UserError(f"the checkpoints listed in {self.directory}/checkpoint are missing; "
                            f"put them back or use a new --run-dir")
        if [str(p) for p in intact] != [str(Path(p)) for p in listed]:
            self._rebuild_state(intact, bool(listed), log)
        path = self.latest
        if path is None:
            self._agree_on_step()
            return 0
        try:
            status = self.checkpoint.restore(path)
            status.assert_consumed()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"checkpoint {path} does not fit this script's models and optimizers "
                            f"({first[:200]}): it was written with other settings; use a new --run-dir "
                            f"for these") from None
        self.saved_step = int(self.step.numpy())
        self._agree_on_step()
        return self.saved_step

    def _rebuild_state(self, intact, had_state, log):
        """Rewrite the `checkpoint` state file from the intact prefixes (chief) and reopen the manager."""
        if self.chief and intact:
            state = self.directory / "checkpoint"
            if state.exists() and not had_state:
                log(f"{state} was unreadable: rebuilt it from the {len(intact)} intact ckpt-N files present")
            checkpoint_management.update_checkpoint_state_internal(   # atomic write, as the manager's own
                str(self.directory), str(intact[-1]), all_model_checkpoint_paths=[str(p) for p in intact],
                save_relative_paths=True,     # timestamps: the manager only tracks (and prunes) timed entries
                all_model_checkpoint_timestamps=[Path(f"{p}.index").stat().st_mtime for p in intact])
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory),
                                                  max_to_keep=self.keep, checkpoint_name="ckpt")

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


_CKPT = re.compile(r"^ckpt-(\d+)\.index$")


def _step_of(prefix):
    return int(Path(prefix).name.split("-")[1])


def checkpoints_on_disk(directory):
    """[(step, prefix)] of the ckpt-N checkpoints whose .index file is in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), directory / f"ckpt-{m.group(1)}") for m in map(_CKPT.match, (
        f.name for f in directory.iterdir())) if m]
    return sorted(found)


def damage(prefix):
    """None if the checkpoint reads back whole, else a short reason (unreadable index, missing or
    truncated data shard). Reads every tensor once, so a truncated .data file is found too."""
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError, RuntimeError) as e:
        text = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, tf.errors.NotFoundError) or "No such file" in text:
            return "a data file is missing"
        if "Read less bytes" in text or isinstance(e, (IndexError, tf.errors.OutOfRangeError)):
            return "a data file is truncated"
        if "sstable" in text or "index" in text.lower():
            return "its .index file is unreadable"
        return text[:120]
    return None


def _move_aside(prefix, folder):
    """Move every file of checkpoint `prefix` into `folder` (a later save must not write over them)."""
    prefix = Path(prefix)
    folder.mkdir(parents=True, exist_ok=True)
    for f in prefix.parent.glob(prefix.name + ".*"):
        target = folder / f.name
        if target.exists():                       # an older damaged copy of the same step: keep both
            target = folder / f"{f.name}.{len(list(folder.glob(f.name + '*')))}"
        shutil.move(str(f), str(target))
    return folder


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
