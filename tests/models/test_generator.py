"""A trained generator loaded from a run folder: seeds give the same images, walks start and end at their
seeds, identity sheets share z_id along rows, and a run without a checkpoint says so."""

import numpy as np
import pytest

from facegen.config import FacegenError
from facegen.models.generator import Generator, identity_sheet_latents, latents_for_seed, slerp
from facegen.run import write_run_config
from facegen.training.loop import init_run


@pytest.fixture(scope="module")
def gen(tmp_path_factory, celeba_sample):
    from conftest import tiny_config

    return Generator.from_run(init_run(tmp_path_factory.mktemp("g") / "run", tiny_config(celeba_sample)))


def test_same_seed_same_images_and_batch_free(gen):
    a = gen.sample(5, 6)
    assert a.dtype == np.uint8 and a.shape == (6, 32, 32, 3) and gen.step == 0
    assert np.array_equal(a, gen.sample(5, 6)) and not np.array_equal(a, gen.sample(6, 6))
    assert np.array_equal(gen.generate(latents_for_seed(5, 6, 100)[:2]), a[:2])  # BN in inference: per image


def test_walk_starts_and_ends_at_its_seeds(gen):
    walk = gen.walk(1, 2, 5)
    assert walk.shape[0] == 5
    assert np.array_equal(walk[0], gen.sample(1, 1)[0]) and np.array_equal(walk[-1], gen.sample(2, 1)[0])
    a, b = latents_for_seed(1, 1, 100)[0], latents_for_seed(2, 1, 100)[0]
    norms = np.linalg.norm(slerp(a, b, np.linspace(0, 1, 9)), axis=1)
    assert norms.min() > 0.9 * min(np.linalg.norm(a), np.linalg.norm(b))  # stays near the prior's shell


def test_identity_sheet_rows_share_z_id_and_columns_share_z_obs(gen):
    cfg = gen.config.model.__class__(resolution=32, top_width=64, identity_dim=20)
    z = identity_sheet_latents(0, 3, 4, cfg).reshape(3, 4, 100)
    assert (z[:, :, :20] == z[:, :1, :20]).all() and (z[:, :, 20:] == z[:1, :, 20:]).all()
    assert not np.allclose(z[0, 0, :20], z[1, 0, :20])


def test_a_run_without_a_checkpoint_is_one_line(tiny_cfg, tmp_path):
    write_run_config(tmp_path / "run", tiny_cfg())
    with pytest.raises(FacegenError, match="has no checkpoint yet"):
        Generator.from_run(tmp_path / "run")
