"""Run a tiny training under a tf.distribute strategy in a fresh process (tests/test_distribute.py).

    python tests/distributed_run.py DATA RUN_DIR STRATEGY SYNC_BN [LOGICAL_CPUS [STEPS]]

The logical CPU split must happen before TensorFlow starts, hence a process of its own.
"""

import sys
from pathlib import Path

import tensorflow as tf

import facegen  # noqa: F401

data, run_dir, strategy, sync_bn = sys.argv[1:5]
logical_cpus = int(sys.argv[5]) if len(sys.argv) > 5 else 1
if logical_cpus > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_config  # noqa: E402

from facegen.training.loop import train  # noqa: E402

steps = int(sys.argv[6]) if len(sys.argv) > 6 else 3
# float32: the strategies are compared to 1e-5, far below bfloat16's rounding (which `auto` would pick on a
# bfloat16 machine); the precision policies have tests of their own.
cfg = tiny_config(Path(data), steps=steps, batch_size=16, strategy=strategy, sync_bn=sync_bn == "sync",
                  mixed_precision="off")
result = train(run_dir, cfg, progress=False)
print(result.resumed_from, result.step)
