"""tf.distribute on the CPU: MirroredStrategy over two logical CPUs and a two-worker
MultiWorkerMirroredStrategy on loopback match one device at the same global batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from facegen.config import FacegenError
from facegen.distribute import make_strategy

SCRIPT = Path(__file__).with_name("distributed_run.py")
TOLERANCE = 1e-5  # float reductions in another order; the weights themselves move by ~1e-3 per step


def run(data, run_dir, strategy, sync, cpus=1, env=None, steps=3):
    # TensorFlow's own kernels, not oneDNN's: oneDNN picks its convolution kernels by batch shape, and on CPUs
    # without AVX-512 a replica's half batch sums in another order by ~3e-4 after three steps (1e-6 with these).
    # What is checked here is the distribution's arithmetic, so both sides use the same kernels.
    return subprocess.Popen([sys.executable, str(SCRIPT), str(data), str(run_dir), strategy, sync, str(cpus), str(steps)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", **(env or {})})


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def weights(run_dir):
    r = tf.train.load_checkpoint(str(Path(run_dir) / "checkpoints"))
    return {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()
            if k.startswith(("generator/", "discriminator/", "ema_generator/"))}


def max_difference(a, b):
    assert a.keys() == b.keys() and len(a) > 20
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.fixture(scope="module")
def single_device(celeba_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    finish(run(celeba_sample, out, "default", "sync"))
    return weights(out)


def test_mirrored_over_two_cpus_matches_one_device(celeba_sample, single_device, tmp_path):
    finish(run(celeba_sample, tmp_path / "sync", "mirrored", "sync", cpus=2))
    finish(run(celeba_sample, tmp_path / "nosync", "mirrored", "nosync", cpus=2))
    synced = max_difference(weights(tmp_path / "sync"), single_device)
    per_replica = max_difference(weights(tmp_path / "nosync"), single_device)
    print(f"mirrored vs one device: synchronized BN {synced:.2e}, per-replica BN {per_replica:.2e}")
    assert synced < TOLERANCE
    assert per_replica > 100 * TOLERANCE  # per-replica BN statistics really are a different computation


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_on_loopback_match_one_device(celeba_sample, single_device, tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
        procs.append(run(celeba_sample, tmp_path / f"w{i}", "multiworker", "sync", env={"TF_CONFIG": tf_config}))
    for p in procs:
        finish(p)
    assert not (tmp_path / "w1" / "checkpoints").exists()  # only the chief keeps checkpoints
    assert max_difference(weights(tmp_path / "w0"), single_device) < TOLERANCE


def test_resume_under_another_strategy(celeba_sample, tmp_path):
    finish(run(celeba_sample, tmp_path / "run", "mirrored", "sync", cpus=2))
    assert finish(run(celeba_sample, tmp_path / "run", "default", "sync", steps=5)).split() == ["3", "5"]
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-5")


def test_unknown_strategy_and_missing_tf_config(monkeypatch):
    with pytest.raises(FacegenError, match="--strategy must be one of"):
        make_strategy("ring")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(FacegenError, match="TF_CONFIG"):
        make_strategy("multiworker")


def test_mirrored_export_is_byte_identical(celeba_sample, tmp_path):
    import hashlib

    finish(run(celeba_sample, tmp_path / "run", "default", "nosync"))
    script = Path(__file__).with_name("distributed_export.py")
    for name, strategy, cpus in (("one", "default", "1"), ("two", "mirrored", "2")):
        subprocess.run([sys.executable, str(script), str(tmp_path / "run"), str(tmp_path / name), strategy, cpus],
                       check=True, capture_output=True, timeout=600)

    def digest(folder):
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*.png"))}

    one, two = digest(tmp_path / "one"), digest(tmp_path / "two")
    assert len(one) == 180 and one == two
    assert (tmp_path / "one" / "manifest.csv").read_text() == (tmp_path / "two" / "manifest.csv").read_text()
