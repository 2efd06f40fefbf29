"""How close may two identity anchors (z_id) be before a trained identity-mode G draws the same person?

    python experiments/anchor_threshold.py --run runs/identity [--data data/celeba-sample] [--pairs 200]

For each cosine c, draws `--pairs` pairs of z_id at exactly that cosine (same norm distribution as the prior),
renders `--views` images of each with independent z_obs, and asks a classifier trained on the sample's
true identities for each z_id's majority identity. Prints how often a pair lands on the same true identity,
against unrelated anchors (c = 0) — the collision rate the model's limited number of faces gives anyway.
This is the evidence for identities.ANCHOR_MAX_COSINE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, sample_judge  # noqa: E402

COSINES = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def pair_at_cosine(rng: np.random.Generator, d: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Two d-dim vectors with cosine exactly c, each with the prior's norm distribution."""
    a, w = rng.standard_normal(d), rng.standard_normal(d)
    ua = a / np.linalg.norm(a)
    ortho = w - (w @ ua) * ua
    ub = c * ua + np.sqrt(1.0 - c * c) * ortho / np.linalg.norm(ortho)
    return a, ub * np.linalg.norm(rng.standard_normal(d))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="an identity-mode run folder")
    p.add_argument("--data", default="data/celeba-sample")
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--views", type=int, default=5, help="images per z_id (majority vote)")
    args = p.parse_args()

    import facegen  # noqa: F401
    from facegen.models.generator import Generator

    gen = Generator.from_run(args.run)
    k = gen.config.model.identity_dim
    if not k:
        raise SystemExit(f"{args.run} is not an identity-mode run")
    _, judge = sample_judge(args.data)
    rng = np.random.default_rng(0)
    print(f"# anchor_threshold — {dt.date.today()} — {machine()}")
    print(f"{args.run} (step {gen.step}), {args.pairs} pairs per cosine, {args.views} views per z_id")
    print("| cosine between z_id | same majority identity |")
    print("|---|---|")
    for c in COSINES:
        ids = np.stack([np.stack(pair_at_cosine(rng, k, c)) for _ in range(args.pairs)])  # [pairs, 2, k]
        z_id = np.repeat(ids.reshape(-1, k), args.views, axis=0)
        z_obs = rng.standard_normal((len(z_id), gen.latent_dim - k))
        labels = judge.predict(gen.generate(np.concatenate([z_id, z_obs], axis=1).astype(np.float32)))
        votes = labels.reshape(args.pairs, 2, args.views)
        majority = np.array([[np.bincount(v).argmax() for v in pair] for pair in votes])
        print(f"| {c:.1f} | {100 * np.mean(majority[:, 0] == majority[:, 1]):.1f}% |")


if __name__ == "__main__":
    main()
