"""What this machine computes natively, and the mixed-precision policy `--mixed-precision auto` resolves to.

bfloat16 is native on CPUs with `avx512_bf16` or `amx_bf16` and on GPUs of compute capability 8.0 or later
(Ampere on); elsewhere TensorFlow emulates it, slower than float32. `auto` picks:

- export generation (G, and the embedder and attribute classifier in its loop): bfloat16 where native, else
  float32. The bytes are exact per machine kind and policy: the same hardware and policy give the same files
  whatever --batch-size, --shard or resume; a different policy gives different (equally valid) images, so
  export.json records it and merge refuses to mix them. A judge (`facegen evaluate`) computes in float32.
- training: the same. bfloat16 trains 1.3x (`small`) to 1.6x (`paper`) faster on an AVX512-BF16 CPU and
  1.2x to 1.85x on an AMX one, and in experiments/precision_convergence.py (`small`, 2000 steps, four seeds over
  the two kinds of CPU) it reached float32's FID within the seed-to-seed noise (bench/RESULTS.md). Variables,
  optimizer state and the loss stay float32 (Keras' mixed_bfloat16 policy); `--mixed-precision off` trains
  in float32 anywhere. The embedder, judge and attribute classifier that `train` trains follow the GAN's policy
  (float32 where it is float16) and store it (experiments/trunk_precision.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
TRAIN_BFLOAT16 = True  # the module docstring: bfloat16 training was shown to converge as float32 does


@dataclass(frozen=True)
class Hardware:
    """The facts `auto` decides on: CPU flags, and each GPU's compute capability (major, minor)."""

    cpu_flags: frozenset[str]
    gpus: tuple[tuple[int, int], ...] = ()

    @property
    def native_bfloat16(self) -> bool:
        # With GPUs the work runs there; every one of them must compute bfloat16.
        if self.gpus:
            return all(cc >= (8, 0) for cc in self.gpus)
        return any(f in self.cpu_flags for f in BF16_CPU_FLAGS)

    def describe(self) -> str:
        if self.gpus:
            return f"{len(self.gpus)} GPU(s), compute capability " + ", ".join(f"{a}.{b}" for a, b in self.gpus)
        bf16 = [f for f in BF16_CPU_FLAGS if f in self.cpu_flags]
        return "CPU with " + (", ".join(bf16) if bf16 else "no bfloat16 flags")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The first processor's flags from /proc/cpuinfo (empty where there is no such file)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def detect() -> Hardware:
    """This machine: CPU flags and the compute capability of its GPUs. Once TensorFlow runs, the GPUs it sees;
    before, nvidia-smi's (honouring CUDA_VISIBLE_DEVICES), so a command's plan is resolved, and printable with
    --dry-run, without starting TensorFlow."""
    import sys

    if "tensorflow" not in sys.modules:
        return Hardware(cpu_flags(), nvidia_gpus())
    import tensorflow as tf

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        cc = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        gpus.append(tuple(cc) if cc else (0, 0))
    return Hardware(cpu_flags(), tuple(gpus))


def nvidia_gpus(visible: str | None = None) -> tuple[tuple[int, int], ...]:
    """The compute capabilities nvidia-smi reports for the GPUs CUDA_VISIBLE_DEVICES leaves visible (none where
    there is no driver)."""
    import os
    import shutil
    import subprocess

    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    if not shutil.which("nvidia-smi") or (visible is not None and visible.strip() in ("", "-1")):
        return ()
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_nvidia_smi(out, visible)


def parse_nvidia_smi(text: str, visible: str | None) -> tuple[tuple[int, int], ...]:
    """'0, 9.0' lines -> ((9, 0),), keeping the indices CUDA_VISIBLE_DEVICES lists (all when it is unset)."""
    found = {}
    for line in text.strip().splitlines():
        index, _, cc = (p.strip() for p in line.partition(","))
        major, _, minor = cc.partition(".")
        if index.isdigit() and major.isdigit():
            found[index] = (int(major), int(minor or 0))
    if visible is None:
        return tuple(found.values())
    return tuple(found[i.strip()] for i in visible.split(",") if i.strip() in found)


def auto_precision(purpose: str, hardware: Hardware) -> str:
    """The --mixed-precision policy `auto` stands for: "bfloat16" or "off" (float32), for "train" or "export"."""
    if purpose not in ("train", "export"):
        raise ValueError(purpose)
    if not hardware.native_bfloat16 or (purpose == "train" and not TRAIN_BFLOAT16):
        return "off"
    return "bfloat16"


def trunk_policy(policy: str) -> str:
    """The embedders' and the attribute classifier's policy beside a GAN policy: the same, float32 for float16
    (their unnormalised activations could overflow it, and their optimizers scale no loss)."""
    return "off" if policy == "float16" else policy


def resolve(requested: str, purpose: str, stored: str | None = None, hardware: Hardware | None = None) -> str:
    """A concrete policy: an explicit request as given; `auto` keeps what a resumed run or export already used
    (`stored`), and otherwise decides from the hardware."""
    if requested != "auto":
        return requested
    if stored is not None and stored != "auto":
        return stored
    return auto_precision(purpose, hardware or detect())
