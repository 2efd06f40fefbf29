"""FID/KID of an embedding-mode run's G rendered from different identity conditions, one z_obs draw and the same
real features as `facegen evaluate`: the identity space's draws (evaluate's and the export's), those draws moved by
real photos' scatter (`--identity-noise`), the training photos' own embeddings (what G trained on) and the
training identities' means. Results go to --out as they come; a rerun skips what is there.

    python experiments/condition_fid.py --run runs/quickstart --data data/celeba-sample --out condition_fid.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facegen._env import import_tensorflow_quietly

import_tensorflow_quietly()
from facegen import hardware  # noqa: E402
from facegen.atomic import write_json  # noqa: E402
from facegen.config import DataConfig  # noqa: E402
from facegen.data import TrainingData, discover  # noqa: E402
from facegen.metrics.distances import gaussian_stats  # noqa: E402
from facegen.metrics.fid import FeatureExtractor, data_features, fid_kid  # noqa: E402
from facegen.models.embedder import Embedder  # noqa: E402
from facegen.models.generator import Generator, latents_for_seed  # noqa: E402

CONDITIONS = ("prior", "noise0.5", "noise1", "photos", "means")


def conditions(name: str, gen: Generator, prior: np.ndarray, real: TrainingData, n: int) -> np.ndarray:
    """Unit identity embeddings [n, d] G renders from, by name (see the module doc)."""
    space, d = gen.space, gen.config.model.identity_dim
    if name == "prior":
        return prior
    if name.startswith("noise"):
        return space.image_units(prior, np.random.default_rng(1).standard_normal((n, d)), float(name[5:]))
    if name == "photos":
        precision = hardware.trunk_policy(gen.config.train.mixed_precision)
        photos = Embedder.from_folder(gen.config.train.identity_embedder, precision).embed(real.images)
        return photos[np.random.default_rng(2).choice(len(photos), n, replace=len(photos) < n)]
    if name == "means":
        return space.train_means[np.random.default_rng(3).choice(len(space.train_means), n)]
    raise SystemExit(f"unknown condition {name!r}; one of {', '.join(CONDITIONS)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, type=Path, help="an embedding-mode run")
    p.add_argument("--data", required=True, help="the real images FID compares with (the run's data)")
    p.add_argument("--out", required=True, type=Path, help="results JSON, written after each condition")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--conditions", default=",".join(CONDITIONS))
    args = p.parse_args()
    gen = Generator.from_run(args.run)
    if gen.space is None:
        raise SystemExit(f"{args.run} is not an embedding-mode run")
    cfg, n = gen.config.model, args.n
    z = latents_for_seed(0, n, cfg.latent_dim)  # one draw, not evaluate's: the same z_obs for every condition
    prior = gen.space.unit(z[:, :cfg.identity_dim])
    real = TrainingData(discover(args.data, "all"), DataConfig(path=str(args.data), resolution=cfg.resolution),
                        progress=False)
    extractor = FeatureExtractor()
    real_feats = data_features(real.images, real.paths, cfg.resolution, real.crop, extractor, False)
    stats = gaussian_stats(real_feats)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in args.conditions.split(","):
        if name in results:
            continue
        units = conditions(name, gen, prior, real, n)
        zz = z.copy()
        zz[:, :cfg.identity_dim] = gen.space.latent(units)
        images = np.concatenate([gen.generate(zz[i:i + 250]) for i in range(0, n, 250)])
        results[name] = {k: float(v) for k, v in fid_kid(extractor(images), stats, real_feats).items()}
        print(f"{name:<10} FID {results[name]['fid']:7.1f}  KID x 1000 {1000 * results[name]['kid']:6.1f}",
              flush=True)
        write_json(args.out, results)


if __name__ == "__main__":
    main()
