"""Nuisance variety: each image's tilt, shift, scale and light, drawn from its key and applied in the renderer."""

import numpy as np
import pytest
import tensorflow as tf

from facegen.config import ExportConfig, FacegenError
from facegen.export import nuisance
from facegen.export.identities import IdentityPlan


def square(size=32, at=(12, 12), side=6):
    x = -np.ones((1, size, size, 3), np.float32)
    x[0, at[0]:at[0] + side, at[1]:at[1] + side] = 1.0
    return x


def centre_of_mass(img):
    w = (np.asarray(img)[..., 0] + 1.0).clip(0)
    ys, xs = np.mgrid[:w.shape[0], :w.shape[1]]
    return (w * ys).sum() / w.sum(), (w * xs).sum() / w.sum()


def uniforms(tilt=0.5, dx=0.5, dy=0.5, scale=0.5, light=0.0, angle=0.0, exposure=0.5, strength=1.0):
    return np.array([[tilt, dx, dy, scale, light, angle, exposure, strength]], np.float32)


def test_a_row_of_zeros_is_left_exactly_as_rendered():
    x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 3)).astype(np.float32)
    u = np.zeros((3, nuisance.COLUMNS), np.float32)
    u[1] = uniforms(tilt=0.9, dx=0.1, light=0.8)
    u[2] = uniforms(tilt=0.9, dx=0.1, light=0.8, strength=0.0)
    out = nuisance.apply(tf.constant(x), tf.constant(u)).numpy()
    assert np.array_equal(out[[0, 2]], x[[0, 2]])
    assert np.abs(out[1] - x[1]).mean() > 0.05


def test_shift_moves_the_face_by_its_share_of_the_side():
    x = square()
    before = centre_of_mass(x[0])
    # dx at its top: +2/64 of the side at strength 1, so 2 pixels at 64 and 1 at 32; strength 2 doubles it.
    for strength, pixels in ((1.0, 1.0), (2.0, 2.0)):
        out = nuisance.apply(tf.constant(x), tf.constant(uniforms(dx=1.0, strength=strength))).numpy()[0]
        y, x_ = centre_of_mass(out)
        assert y == pytest.approx(before[0], abs=0.05)
        assert x_ - before[1] == pytest.approx(pixels, abs=0.1)


def test_tilt_turns_about_the_centre_and_light_ramps_across():
    x = square(at=(4, 13))  # above the centre: a tilt swings it sideways
    out = nuisance.apply(tf.constant(x), tf.constant(uniforms(tilt=1.0))).numpy()[0]
    before, after = centre_of_mass(x[0]), centre_of_mass(out)
    assert abs(after[1] - before[1]) > 1.0  # 10 degrees at 13 px from the centre: about 2.3 px
    grey = np.zeros((1, 16, 16, 3), np.float32)  # mid grey; light from angle 0 brightens the right side
    lit = nuisance.apply(tf.constant(grey), tf.constant(uniforms(light=1.0, angle=0.0))).numpy()[0]
    assert lit[:, -1].mean() > lit[:, 8].mean() > lit[:, 0].mean()


def test_each_image_draws_its_own_moves_from_its_key_and_references_none():
    plan = IdentityPlan(seed=3, identities=4, per_identity=5, latent_dim=8, variation=1.0, nuisance=0.5)
    plain = IdentityPlan(seed=3, identities=4, per_identity=5, latent_dim=8, variation=1.0)
    rows = plan.latents(np.arange(20))
    assert rows.shape == (20, 8 + nuisance.COLUMNS) and plan.input_dim == 8 + nuisance.COLUMNS
    assert np.array_equal(rows[:, :8], plain.latents(np.arange(20)))  # the latents are the plain plan's
    assert np.array_equal(plan.latents(np.array([7, 2])), rows[[7, 2]])
    uniforms_ = rows[:, 8:8 + nuisance.PARAMS]
    assert ((uniforms_ >= 0) & (uniforms_ < 1)).all() and len(np.unique(uniforms_[:, 0])) == 20
    assert (rows[:, -1] == 0.5).all()
    # A redraw moves anew, half as far as the attempt before.
    for attempt, strength in ((1, 0.25), (3, 0.0625)):
        redrawn = plan.latents(np.array([7]), attempt=attempt)[0]
        assert not np.array_equal(redrawn[8:8 + nuisance.PARAMS], uniforms_[7]) and redrawn[-1] == strength
    refs = plan.reference_latents(np.arange(4), 4)
    assert np.array_equal(refs[:, :8], plain.reference_latents(np.arange(4), 4)) and not refs[:, 8:].any()


def test_nuisance_is_checked_and_leaves_no_trace_when_off():
    with pytest.raises(FacegenError, match="--nuisance must be between 0 and 2"):
        ExportConfig(identities=1, per_identity=1, nuisance=2.5)
    assert "nuisance" not in ExportConfig(identities=1, per_identity=1, nuisance=0.0).settings()
    assert ExportConfig(identities=1, per_identity=1, nuisance=0.5).settings()["nuisance"] == 0.5
