"""The calibrated realism score: where D ranks a generated image among the checkpoint's own images.

D's raw sigmoid says little at the end of training: a well-trained D rejects nearly every generated image
(scores around 1e-4), its scale drifts from checkpoint to checkpoint, and it separates generated from real
photos almost perfectly (on the quickstart model every generated image scores below the least real 1% of
held-out real photos: bench/RESULTS.md), so a percentile among real photos is 0 for everything. What D still
does is rank generated images, and that ranking is what a filter can use. Once per checkpoint, D scores
CALIBRATION_IMAGES reference images the checkpoint's EMA generator draws from fixed latents (seed
CALIBRATION_SEED, the standard-normal prior); a generated image's realism is the share of those reference
images whose logit is at or below its own:

    realism(x) = #{reference r : logit(r) <= logit(x)} / #reference      (0..1, monotone in the logit)

so `--min-realism 0.3` redraws the images D ranks among the least real 30% of what this checkpoint makes
(first draws pass about 70% of the time). The sorted reference logits are stored in
RUN/realism/<checkpoint>.json: part of the checkpoint's state, never of a batch, so exports stay exact (on
the same hardware and software, like every other byte). Identity-mode runs score an image paired with itself.
Whether the ranking keeps *better* images is judged by FID/KID, face rate and a downstream recognizer in
experiments/realism_filter.py, not by D.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegen.atomic import write_json
from facegen.run import REALISM_DIR

log = logging.getLogger("facegen")

CALIBRATION_IMAGES = 2000  # reference images behind the ranking: the score moves in steps of 1/2000
CALIBRATION_SEED = 20151119  # the reference latents (the DCGAN article's arXiv date): any fixed seed would do
BATCH = 250


@dataclass(frozen=True)
class RealismCalibration:
    """D's logits on the checkpoint's reference images, sorted, and where they came from."""

    reference_logits: np.ndarray  # float64, ascending
    source: dict  # checkpoint, step, seed, images

    def score(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated realism of raw D logits: the share of reference images D scores at or below each."""
        ref = self.reference_logits
        return np.searchsorted(ref, np.asarray(logits, np.float64), side="right") / len(ref)

    @property
    def digest(self) -> str:
        """Identifies the calibration in export settings, so shards scored against different ones never merge."""
        return hashlib.sha256(self.reference_logits.tobytes()).hexdigest()[:16]


def calibration_path(run_dir: Path, checkpoint_path: str, precision: str = "off") -> Path:
    # D's logits depend on the compute policy, so each policy has its own reference.
    suffix = "" if precision == "off" else f".{precision}"
    return Path(run_dir) / REALISM_DIR / f"{Path(checkpoint_path).name}{suffix}.json"


def load_or_calibrate(gen, run_dir: Path) -> RealismCalibration:
    """The checkpoint's calibration, computed and stored the first time it is asked for."""
    path = calibration_path(run_dir, gen.checkpoint_path, gen.precision)
    if path.exists():
        stored = json.loads(path.read_text())
        return RealismCalibration(np.asarray(stored.pop("reference_logits"), np.float64), stored)
    calibration = calibrate(gen)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {**calibration.source, "reference_logits": calibration.reference_logits.tolist()})
    except OSError as e:  # a read-only or shared run folder: the same numbers are recomputed next time
        log.warning("cannot store the realism calibration in %s (%s); it is recomputed by each export",
                    path.parent, e.strerror or e)
    return calibration


def calibrate(gen, n: int = CALIBRATION_IMAGES, seed: int = CALIBRATION_SEED) -> RealismCalibration:
    """Score `n` reference images of the checkpoint's EMA generator with its D."""
    z = gen.prior(seed, n)
    logits = np.concatenate([gen.realism_logits(gen.generator(z[i:i + BATCH], training=False))
                             for i in range(0, n, BATCH)])
    source = {"checkpoint": Path(gen.checkpoint_path).name, "step": gen.step, "seed": seed, "images": n,
              "precision": gen.precision}
    return RealismCalibration(np.sort(logits.astype(np.float64)), source)
