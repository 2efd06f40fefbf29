"""`--mixed-precision auto`: the policy it resolves to from the machine's CPU flags and GPUs, for training and
export, and that a resumed run or export keeps the policy it started with."""

import pytest

from facegen import hardware
from facegen.hardware import Hardware, auto_precision, cpu_flags, resolve

CPUINFO = """processor\t: 0
vendor_id\t: {vendor}
flags\t\t: fpu sse sse2 avx avx2 avx512f {extra}
bogomips\t: 4000.00
"""


@pytest.mark.parametrize("extra, vendor, native", [
    ("avx512_bf16", "AuthenticAMD", True),  # AMD Zen 4 (this project's machines)
    ("amx_bf16 amx_tile avx512_bf16", "GenuineIntel", True),  # Sapphire Rapids and later
    ("amx_bf16", "GenuineIntel", True),
    ("avx512_vnni", "GenuineIntel", False),  # Cascade Lake: no bfloat16 arithmetic
    ("", "AuthenticAMD", False),
])
def test_auto_resolves_from_the_cpu_flags(tmp_path, extra, vendor, native):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO.format(vendor=vendor, extra=extra))
    machine = Hardware(cpu_flags(info))
    assert machine.native_bfloat16 is native
    assert auto_precision("export", machine) == ("bfloat16" if native else "off")
    # Training too, since the convergence check (bench/RESULTS.md) found bfloat16 within float32's noise.
    assert auto_precision("train", machine) == ("bfloat16" if native else "off")


def test_the_training_switch_can_hold_training_at_float32(monkeypatch):
    monkeypatch.setattr(hardware, "TRAIN_BFLOAT16", False)
    assert auto_precision("train", Hardware(frozenset({"amx_bf16"}))) == "off"
    assert auto_precision("export", Hardware(frozenset({"amx_bf16"}))) == "bfloat16"


@pytest.mark.parametrize("gpus, native", [(((8, 0),), True), (((9, 0), (8, 6)), True), (((7, 5),), False),
                                          (((8, 0), (7, 0)), False)])
def test_gpus_decide_over_the_cpu(gpus, native):
    machine = Hardware(frozenset({"amx_bf16"}), gpus)  # the host's flags do not matter when GPUs do the work
    assert machine.native_bfloat16 is native
    assert auto_precision("export", machine) == ("bfloat16" if native else "off")


def test_missing_cpuinfo_means_no_flags(tmp_path):
    assert cpu_flags(tmp_path / "absent") == frozenset()
    assert auto_precision("export", Hardware(cpu_flags(tmp_path / "absent"))) == "off"


def test_explicit_choices_win_and_resume_keeps_the_stored_policy():
    bf16_machine, plain = Hardware(frozenset({"avx512_bf16"})), Hardware(frozenset())
    assert resolve("off", "export", hardware=bf16_machine) == "off"
    assert resolve("bfloat16", "export", hardware=plain) == "bfloat16"
    # An export started on a bfloat16 machine resumes in bfloat16 under auto, and vice versa.
    assert resolve("auto", "export", stored="bfloat16", hardware=plain) == "bfloat16"
    assert resolve("auto", "export", stored="off", hardware=bf16_machine) == "off"
    assert resolve("auto", "export", stored=None, hardware=bf16_machine) == "bfloat16"


def test_this_machine_is_described():
    machine = hardware.detect()
    assert isinstance(machine.native_bfloat16, bool) and machine.describe()
