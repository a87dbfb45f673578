"""Training on several machines: TensorFlow's MultiWorkerMirroredStrategy, set up from
`TF_CONFIG` or from `--cluster host:port,... --task-index I`.

Every worker runs the same `train` with the same options; each keeps a full copy of the
model, computes the gradients of its share of each batch, and the workers average them
(all-reduce) before every step, so all copies stay identical. `--batch-size` is the global
batch: with the same options, one worker or several take the same steps on the same data.

Task 0 of the cluster (or the task of type "chief" in a `TF_CONFIG` that names one) is the
chief: it alone writes the run folder. The others write what every worker must write (the
checkpoints: saving may involve every worker) to a temporary folder of their own, removed at
the end, as TensorFlow's multi-worker guide asks. `--resume` reads `--out`'s checkpoints on
every worker: the same folder on one machine, a shared folder (or a copy of the chief's
`checkpoints/`) on several.

Keras 3 (up to 3.15 at least) fails two ways under this strategy
(https://github.com/keras-team/keras/issues/20585): it averages a distributed batch over the
workers to learn the input shapes, and it averages the scalar metrics along an axis they do
not have. `keras_fixes` replaces both, for a multi-worker strategy only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from edge_digits.runtime.errors import EdgeDigitsError, UsageError

TF_CONFIG = "TF_CONFIG"


@dataclass(frozen=True)
class Cluster:
    """This worker's place in the cluster."""

    strategy: Any  # tf.distribute.MultiWorkerMirroredStrategy
    workers: int
    task: str  # "worker 1 of 2"
    chief: bool
    others: tuple[str, ...] = ()  # the other tasks: ("worker 0",)


def parse_cluster(text: str) -> tuple[str, ...]:
    """`host:port,host:port` as a tuple; a UsageError naming the bad part otherwise."""
    addresses = tuple(part.strip() for part in text.split(",") if part.strip())
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(
                f"--cluster: {address!r} is not host:port; give every worker's address, "
                "e.g. --cluster 10.0.0.1:12345,10.0.0.2:12345"
            )
    if len(addresses) < 1:
        raise UsageError("--cluster: give every worker's host:port, separated by commas")
    return addresses


def check_options(strategy: str, cluster: tuple[str, ...], task_index: int | None) -> None:
    """The cluster options fit the strategy (before anything slow starts)."""
    if strategy != "multiworker":
        if cluster or task_index is not None:
            raise UsageError("--cluster and --task-index go with --strategy multiworker")
        return
    if cluster:
        if task_index is None:
            raise UsageError("--cluster needs --task-index: this worker's place in the list")
        if not 0 <= task_index < len(cluster):
            raise UsageError(
                f"--task-index {task_index}: give 0 to {len(cluster) - 1} "
                f"(the position of this worker's address in --cluster)"
            )
        return
    if task_index is not None:
        raise UsageError("--task-index goes with --cluster")
    text = os.environ.get(TF_CONFIG, "")
    if not text:
        raise UsageError(
            "--strategy multiworker needs the cluster: --cluster host:port,... and "
            "--task-index, or the TF_CONFIG environment variable"
        )
    try:
        config = json.loads(text)
        config["cluster"], config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise UsageError(
            f'{TF_CONFIG} is not {{"cluster": {{"worker": ["host:port", ...]}}, "task": '
            '{"type": "worker", "index": N}}: fix it, or give --cluster and --task-index'
        ) from None


def start(cluster: tuple[str, ...], task_index: int | None) -> Cluster:
    """Create the strategy (first, before TensorFlow runs anything: the collective ops are
    configured as it starts) and wait for every worker to join."""
    import tensorflow as tf

    resolver: Any
    if cluster:
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({"worker": list(cluster)}),
            task_type="worker",
            task_id=task_index,
            rpc_layer="grpc",
        )
    else:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    tasks = resolver.cluster_spec().as_dict()
    task_type, task_id = resolver.task_type, int(resolver.task_id)
    chief = task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in tasks
    )
    members = [
        (kind, index) for kind, names in tasks.items() if kind in ("chief", "worker")
        for index in range(len(names))
    ]  # fmt: skip
    others = tuple(
        f"{kind} {index}" for kind, index in members if (kind, index) != (task_type, task_id)
    )
    workers = len(members)
    return Cluster(strategy, workers, f"{task_type} {task_id} of {workers}", chief, others)


def dataset(x: Any, y: Any, batch_size: int, *, shuffle_seed: int | None) -> Any:
    """Arrays as a tf.data pipeline each worker takes its share of (sharded by element):
    Keras would feed arrays to a distributed model through a Python generator, far slower."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:  # the same order on every worker: they share it out
        data = data.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return shard_by_element(data.batch(batch_size).prefetch(2))


def shard_by_element(data: Any) -> Any:
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)


@contextlib.contextmanager
def stopped_workers(out: os.PathLike[str] | str, others: tuple[str, ...] = ()) -> Iterator[None]:
    """A worker that stops (killed, Ctrl-C, its machine restarted) fails the others' next
    collective op within seconds: one line (exit 1) naming it and how to go on, for the
    traceback TensorFlow would give. TensorFlow names the stopped tasks when its heartbeats
    saw them go; when a collective op failed first, it does not, and with one other task
    (`others`) that is the one."""
    import tensorflow as tf

    try:
        yield
    except (
        tf.errors.UnavailableError,
        tf.errors.AbortedError,
        tf.errors.CancelledError,
        tf.errors.DeadlineExceededError,
    ) as error:
        # "The following tasks are unhealthy (stopped sending heartbeats):
        # /job:worker/replica:0/task:1 ... The tasks have crashed."
        text = str(error)
        start = text.find("unhealthy")
        listed = text[start : text.find("The tasks", start)] if start >= 0 else ""
        tasks = sorted(set(re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", listed)))
        if tasks:
            who = " and ".join(f"{kind} {index}" for kind, index in tasks) + " stopped"
        elif len(others) == 1:
            who = f"{others[0]} stopped"
        else:
            who = "another worker stopped (a collective operation with it failed)"
        raise EdgeDigitsError(
            f"multi-worker training: {who}; start every worker again with --resume --out {out}"
        ) from None


@contextlib.contextmanager
def keras_fixes(model: Any, strategy: Any) -> Iterator[None]:
    """While the block runs, `model` learns its input shapes from this worker's share of a
    batch, and scalar metrics are averaged over the workers as scalars (see the module
    docstring)."""
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def local(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(local, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        def one(value: Any) -> Any:
            shape = getattr(local(value), "shape", None)
            if reduction in ("auto", "mean") and shape is not None and shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original(value, strategy, reduction)

        return tree.map_structure(one, values)

    model._maybe_symbolic_build = types.MethodType(symbolic_build, model)
    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = original
        del model._maybe_symbolic_build
