"""Data-parallel helpers: the loss scaling and reduction a MirroredStrategy step needs.

Keras optimizers all-reduce (SUM) the gradients of the replicas, so each replica's loss must
be its share of the GLOBAL batch mean: sum over its examples / global batch size. Then N
replicas x batch B update the weights exactly like 1 replica x batch N*B. With one replica
these helpers reduce to plain means, so a script written with them runs unchanged on one device.
"""
import tensorflow as tf


def global_mean(per_example_loss, global_batch_size=None):
    """This replica's share of the global batch mean of a per-example loss [B, ...].

    Non-batch axes are averaged first. `global_batch_size` defaults to the local batch size
    times the number of replicas (right when every replica gets an equal share).
    """
    x = tf.cast(tf.convert_to_tensor(per_example_loss), tf.float32)
    if x.shape.rank is None or x.shape.rank == 0:
        raise ValueError("global_mean needs a per-example loss of shape [batch, ...]; "
                         "use replica_mean for a loss that is already a batch mean")
    if x.shape.rank > 1:
        x = tf.reduce_mean(x, axis=list(range(1, x.shape.rank)))
    return tf.nn.compute_average_loss(x, global_batch_size=global_batch_size)


def replica_mean(batch_mean_loss):
    """This replica's share of a loss that is already a mean over its local batch (equal shares)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    loss = tf.cast(batch_mean_loss, tf.float32)
    return loss if replicas == 1 else loss / replicas


def distributed_step(strategy, step_fn):
    """Wrap a per-replica `step_fn(batch) -> dict of losses` to run on every replica.

    The returned function (compile it with tf.function, e.g. via setup.make_step) takes the
    PerReplica batch from a distributed dataset and returns the losses summed over replicas,
    which, with losses from global_mean / replica_mean, are the global batch means.
    """
    def step(batch):
        losses = strategy.run(step_fn, args=(batch,))
        return tf.nest.map_structure(
            lambda v: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None), losses)
    return step


def distribute_dataset(strategy, dataset):
    """Split each global batch of `dataset` over the replicas (unchanged with one replica).

    Several workers (--strategy multiworker): every worker builds the SAME pipeline (same seed,
    deterministic maps, stateless per-example randomness), i.e. the same stream of global
    batches, and the auto-shard policy is forced to DATA. tf.data then rebatches each global
    batch into one piece per replica of the cluster (in replica order) and keeps on each worker
    only its own replicas' pieces: worker w trains on rows [w*b, (w+1)*b) of every global batch
    of a 1-process run (b = global batch / replicas), so no example is used twice or dropped,
    and a resumed run (start_step) starts every worker at the same global batch. The default
    policy AUTO would pick FILE sharding for a pipeline that reads TFRecord files (tfds): each
    worker would read other files in another order, the global batches would no longer be the
    1-process ones, resuming by step count would break, and a worker with fewer files could run
    out first and hang the others. The price of DATA: each worker decodes the whole global batch
    and drops the other workers' rows.
    """
    if strategy.num_replicas_in_sync > 1:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return strategy.experimental_distribute_dataset(dataset.with_options(options))
    return dataset
