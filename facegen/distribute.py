"""tf.distribute strategies by name, and the input pipeline split so every replica sees its slice of the
global batch (the same rows a single device would see)."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from facegen.config import STRATEGIES, FacegenError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """auto: several workers in TF_CONFIG -> multiworker; several local GPUs -> mirrored; else default."""
    if name not in STRATEGIES:
        raise FacegenError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "auto":
        workers = len(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker", []))
        name = "multiworker" if workers > 1 else ("mirrored" if len(tf.config.list_logical_devices("GPU")) > 1
                                                   else "default")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        # Without GPUs, mirror over the logical CPU devices (tests split the CPU in two).
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if "TF_CONFIG" not in os.environ:
        raise FacegenError("--strategy multiworker needs TF_CONFIG (cluster and task) in the environment")
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Worker 0 (or the only process) writes checkpoints, samples and summaries."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (resolver.task_type == "worker" and resolver.task_id == 0
                                                     and "chief" not in resolver.cluster_spec().as_dict())


def distribute_global_batches(strategy: tf.distribute.Strategy, global_batches: tf.data.Dataset, batch: int):
    """Each input pipeline takes its workers' rows of every global batch and hands replica r of pipeline p
    rows [(p * R + r) * b, (p * R + r + 1) * b): global replica i trains on the rows a single device would
    put at that position."""
    n = strategy.num_replicas_in_sync
    if n == 1 and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return global_batches
    if batch % n:
        raise FacegenError(f"--batch-size {batch} must divide evenly over {n} replicas")
    per_replica = batch // n

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        local = n // ctx.num_input_pipelines
        start = ctx.input_pipeline_id * local * per_replica
        sliced = global_batches.map(lambda *x: tf.nest.map_structure(lambda t: t[start:start + local * per_replica],
                                                                     x[0] if len(x) == 1 else x))
        return sliced.unbatch().batch(per_replica, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(dataset_fn, options)
