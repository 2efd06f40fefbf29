"""The people a run's GAN learned from, as one embedder sees them: the reference every leakage check (export
verification, the capacity stage, the judge's verdict) measures against, stored in the run per embedder.

An embedder trained on other or more people (`train --embedder-data`, `--identity-embedder`, a judge of another
sample), or one that held some of the GAN's people out to calibrate on, does not know the GAN's people by its own
training means: leakage is closeness to the people G saw, so their unit means are computed from the run's
training data with that embedder, once, and kept in RUN/people/ (keyed by embedder folder, step and precision,
so the same command reads the same means).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

import numpy as np

from facegen.atomic import replacing
from facegen.config import FacegenError, read_json

log = logging.getLogger("facegen")
PEOPLE_DIR = "people"


def people_path(run_dir: str | Path, embedder) -> Path:
    key = hashlib.sha1(str(Path(embedder.folder).resolve()).encode()).hexdigest()[:12]
    return Path(run_dir) / PEOPLE_DIR / f"{key}-{embedder.step}-{embedder.precision}.npz"


def remember_people(run_dir: str | Path, embedder, means: np.ndarray) -> None:
    """Store the GAN's people's means by `embedder` (atomic; a read-only run simply is not written to)."""
    path = people_path(run_dir, embedder)
    try:
        path.parent.mkdir(exist_ok=True)
        with replacing(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, means=np.asarray(means, np.float32), embedder=str(Path(embedder.folder).resolve()))
    except OSError as e:
        log.info("not stored (%s): the next command computes the GAN's people again", e)


def training_people(run_dir: str | Path, embedder, progress: bool = False) -> np.ndarray:
    """Unit mean embeddings [n, d] of the identities the run's GAN trained on, by `embedder`: read from RUN/people/
    when stored, else computed from the run's training data and stored. A run whose data is gone, or has no
    identity labels, falls back to the embedder's own training people, and says so."""
    from facegen.run import read_run_config

    path = people_path(run_dir, embedder)
    if path.is_file():
        with np.load(path) as z:
            return z["means"]
    cfg = read_run_config(run_dir)
    fallback = f"leakage is measured against {embedder.folder}'s own training people"
    try:
        from facegen.data import TrainingData, discover

        source = discover(cfg.data.path, cfg.data.partition)
    except FacegenError as e:
        log.warning("the GAN's training data is not readable (%s): %s", e, fallback)
        return embedder.identity_means()[1]
    if not source.frame["identity"].notna().any():
        return embedder.identity_means()[1]  # unlabelled data: G learned no named people to leak
    from facegen.training.embedder import identity_means

    data = TrainingData(source, dataclasses.replace(cfg.data, cache=True), progress)
    ids = data.identities
    known = ids >= 0
    means = identity_means(embedder.embed(data.images[known]), ids[known])
    remember_people(run_dir, embedder, means)
    return means


def export_run(export_dir: str | Path) -> Path | None:
    """The run an export was rendered from (its export.json's checkpoint), or None for a folder that does not say."""
    from facegen.export.layout import EXPORT_JSON

    path = Path(export_dir) / EXPORT_JSON
    checkpoint = read_json(path).get("settings", {}).get("checkpoint") if path.is_file() else None
    return Path(checkpoint).parent.parent if checkpoint else None


def export_people(export_dir: str | Path, embedder) -> np.ndarray:
    """The people an export's GAN learned from, by `embedder` (the judge of that export's leakage); the embedder's
    own training people for a folder that names no run."""
    run = export_run(export_dir)
    if run is None or not run.is_dir():
        log.warning("%s names no run it was rendered from: leakage is measured against %s's own training people",
                    export_dir, embedder.folder)
        return embedder.identity_means()[1]
    return training_people(run, embedder)
