"""Export under a strategy in a fresh process (tests/test_distribute.py).

    python tests/distributed_export.py RUN OUT STRATEGY LOGICAL_CPUS [SETTINGS_JSON]

SETTINGS_JSON: ExportConfig fields (embedder, attributes, ...) instead of the plain export below.
"""

import json
import sys

import tensorflow as tf

import facegen  # noqa: F401

run, out, strategy, cpus = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if cpus > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpus)

from facegen.config import ExportConfig  # noqa: E402
from facegen.export.render import export  # noqa: E402

settings = json.loads(sys.argv[5]) if len(sys.argv) > 5 else dict(identities=6, per_identity=30, seed=4, block=16,
                                                                  batch_size=48)
export(run, out, ExportConfig(**settings, strategy=strategy), progress=False)
