"""Identity spread of generators beside novel real people, under one judge and one rule.

    python bench/identity_spread.py --runs runs/quickstart runs/quickstart-embedding --judge JUDGE \
        --real data/novel --candidates 1000 --out /tmp/spread.json

For each run, the first --candidates identity candidates the export would examine (seed 0, the export's default
variation; an embedding-mode run's candidates are its identity bank) are rendered REFERENCE_IMAGES times each on
their reference keys; the judge embeds them into references (unit means), as it does an exported folder. The
real arm takes --candidates people of --real (a sample drawn with a seed nothing trained on) the same way. Each
set's spread (facegen.export.capacity.spread at the judge's separation limit) is printed beside the real one's:
mean pairwise cosine, pairs above the limit, separable people per 1,000 candidates, and the ratio of look-alike
rates. The judge should be an embedder of another seed trained on other people (`facegen embedder train --data
OTHER --seed 7`): nothing here was filtered or trained with it. Results are appended to --out per arm (a re-run
skips arms already measured).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine  # noqa: E402


def candidate_references(run: Path, judge, n: int) -> np.ndarray:
    from facegen.export.identities import IdentityPlan
    from facegen.export.request import embedder_report, export_draw
    from facegen.models.embedder import REFERENCE_IMAGES
    from facegen.models.generator import Generator
    from facegen.run import run_parts

    gen = Generator.from_run(run)
    model = gen.config.model
    # The variation the run's export draws by default, verified by the run's embedder where it has one.
    verifier = run_parts(run).embedder
    report = embedder_report(str(verifier)) if verifier else None
    variation = export_draw(report, model.identity_dim, model.conditioned)[0].variation
    plan = IdentityPlan(0, n, 1, gen.latent_dim, variation, 64,
                        identity_dim=model.identity_dim, space=gen.space)
    z = plan.reference_latents(np.arange(n), REFERENCE_IMAGES)
    e = np.concatenate([judge.embed(gen.generate(z[i:i + 256])) for i in range(0, len(z), 256)])
    refs = e.reshape(n, REFERENCE_IMAGES, -1).mean(axis=1)
    return refs / np.linalg.norm(refs, axis=1, keepdims=True)


def real_references(folder: Path, judge, n: int) -> np.ndarray:
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover
    from facegen.models.embedder import REFERENCE_IMAGES
    from facegen.training.embedder import references

    data = TrainingData(discover(folder, "all"), DataConfig(path=str(folder), resolution=judge.config.resolution),
                        progress=False)
    refs, ids, _, _ = references(judge.embed(data.images), data.identities, REFERENCE_IMAGES, 0)
    return refs[:n]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, nargs="+", required=True)
    p.add_argument("--judge", type=Path, required=True)
    p.add_argument("--real", type=Path, required=True, help="novel real people (a sample of a seed nothing saw)")
    p.add_argument("--candidates", type=int, default=1000)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    from facegen.export.capacity import spread
    from facegen.models.embedder import Embedder

    judge = Embedder.from_folder(args.judge)
    limit = judge.report["limits"]["separation"]
    results = json.loads(args.out.read_text()) if args.out.exists() else {"machine": machine(), "arms": {}}
    results.update(judge=str(args.judge), limit=limit, judge_out_of_sample=judge.report.get("separation_out_of_sample"))
    arms = {"real": lambda: real_references(args.real, judge, args.candidates)}
    arms.update({str(run): (lambda run=run: candidate_references(run, judge, args.candidates)) for run in args.runs})
    for name, refs in arms.items():
        if name not in results["arms"]:
            results["arms"][name] = spread(refs(), limit)
            args.out.write_text(json.dumps(results, indent=2))
    real = results["arms"]["real"]
    print(f"judge {args.judge} (separation limit {limit:.3f}); {args.candidates} candidates each")
    print(f"{'arm':<48}{'mean cos':>9}{'above %':>9}{'sep/1000':>9}{'x real':>8}")
    for name, s in results["arms"].items():
        ratio = s["pairs_above_limit"] / real["pairs_above_limit"] if real["pairs_above_limit"] else float("nan")
        print(f"{name[-48:]:<48}{s['mean_cosine']:>9.3f}{100 * s['pairs_above_limit']:>9.3f}"
              f"{s['separable_per_1000']:>9.0f}{ratio:>8.1f}")


if __name__ == "__main__":
    main()
