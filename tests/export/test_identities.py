"""The identity plan and count rules: pure numpy, milliseconds."""

import numpy as np
import pytest

from facegen.config import ExportConfig, FacegenError
from facegen.export.identities import IdentityPlan, parse_shard, resolve_counts, shard_blocks


def test_latent_depends_only_on_its_key():
    plan = IdentityPlan(seed=7, identities=5, per_identity=4, latent_dim=16)
    all_z = plan.latents(np.arange(20))
    assert all_z.shape == (20, 16) and all_z.dtype == np.float32
    assert np.array_equal(plan.latents(np.array([13, 2])), all_z[[13, 2]])
    assert not np.array_equal(plan.latents(np.array([13]), attempt=1), all_z[[13]])
    assert not np.array_equal(IdentityPlan(8, 5, 4, 16).latents(np.arange(20)), all_z)


def test_variation_controls_distance_to_identity():
    def mean_cos(v):
        plan = IdentityPlan(0, 20, 10, latent_dim=100, variation=v)
        z = plan.latents(np.arange(200))
        anchors = np.stack([plan.identity_latent(lab) for lab in range(20)]).repeat(10, axis=0)
        return float(np.mean(np.sum(z * anchors, 1) / np.linalg.norm(z, axis=1) / np.linalg.norm(anchors, axis=1)))

    assert mean_cos(0.0) == pytest.approx(1.0, abs=1e-6)
    assert mean_cos(0.35) == pytest.approx(np.sqrt(1 - 0.35 ** 2), abs=0.02)
    assert abs(mean_cos(1.0)) < 0.05
    # Latents keep the prior's scale: |z|^2 ~ latent_dim.
    z = IdentityPlan(0, 50, 20, variation=0.5).latents(np.arange(1000))
    assert np.mean(np.sum(z ** 2, 1)) == pytest.approx(100, rel=0.05)


def test_blocks_cover_every_image_once():
    plan = IdentityPlan(0, identities=7, per_identity=9, block=10)
    covered = np.concatenate([plan.block_images(b) for b in range(plan.n_blocks)])
    assert covered.tolist() == list(range(63))
    for n in (1, 2, 3, 5):
        blocks = [b for i in range(n) for b in shard_blocks(plan.n_blocks, (i, n))]
        assert blocks == list(range(plan.n_blocks))


@pytest.mark.parametrize("args, expected", [
    ((100, None, None), (5, 20)), ((10, None, None), (1, 10)), ((100, 4, None), (4, 25)),
    ((100, None, 10), (10, 10)), ((None, 3, 7), (3, 7)), ((21, 3, 7), (3, 7)),
])
def test_resolve_counts(args, expected):
    assert resolve_counts(*args) == expected


@pytest.mark.parametrize("args, message", [
    ((None, None, None), "give --count"), ((105, None, None), "not divisible by --per-identity 20"),
    ((100, 3, None), "not divisible by --identities 3"), ((20, 3, 7), "must equal"),
    ((0, None, None), "--count must be at least 1"), ((10, None, -1), "--per-identity must be at least 1"),
])
def test_invalid_counts_say_why(args, message):
    with pytest.raises(FacegenError, match=message):
        resolve_counts(*args)


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("x", "1/2/3", "1-2"):
        with pytest.raises(FacegenError, match="--shard"):
            parse_shard(bad)
    for bad in ("4/4", "1/0", "-1/2"):
        with pytest.raises(FacegenError, match="--shard"):
            ExportConfig(identities=1, per_identity=1, shard=parse_shard(bad))


def _naive_anchors(seed, dim, n):
    """The rule written out plainly: label i keeps its first draw within the cosine limit of all earlier."""
    from facegen.export.identities import ANCHOR_MAX_ATTEMPTS, ANCHOR_MAX_COSINE, IDENTITY_STREAM, _normal

    kept = []
    for label in range(n):
        draws = []
        for attempt in range(ANCHOR_MAX_ATTEMPTS):
            z = _normal((seed, IDENTITY_STREAM, label, attempt), dim)
            worst = max((float(z @ k / np.linalg.norm(z) / np.linalg.norm(k)) for k in kept), default=-1.0)
            draws.append((worst, attempt, z))
            if worst <= ANCHOR_MAX_COSINE:
                break
        kept.append(min(draws, key=lambda t: (t[0], t[1]))[2] if draws[-1][0] > ANCHOR_MAX_COSINE else draws[-1][2])
    return np.array(kept)


def test_anchor_set_follows_the_rule_whatever_the_chunking(monkeypatch):
    from facegen.export import identities
    from facegen.export.identities import ANCHOR_MAX_COSINE, AnchorSet

    # 6-d anchors crowd quickly: redraws and, past ~40 identities, labels with no free draw left.
    expected = _naive_anchors(5, 6, 90)
    monkeypatch.setattr(identities, "ANCHOR_CHUNK", 7)
    grown = AnchorSet(5, 6)
    grown.first(20)
    assert np.allclose(grown.first(90), expected)
    assert grown.crowded > 0
    unit = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    cos = unit[:20] @ unit[:20].T
    np.fill_diagonal(cos, -1)
    assert cos.max() <= ANCHOR_MAX_COSINE  # while there is room, the limit holds
    monkeypatch.setattr(identities, "ANCHOR_CHUNK", 1024)
    assert np.allclose(AnchorSet(5, 6).first(90), expected)
