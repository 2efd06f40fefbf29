"""Leakage is closeness to the people the GAN learned from, whatever people the checking embedder trained on:
the run's people by each embedder, computed once, stored in the run and read by verification and the judge."""

import json
import logging
import shutil

import numpy as np

from facegen.config import DataConfig
from facegen.data import TrainingData, discover
from facegen.models.embedder import Embedder
from facegen.training.people import export_people, people_path, training_people


def test_the_gan_people_include_those_the_embedder_held_out_and_are_stored(run, trained_embedder, celeba_sample):
    # The tiny run trains on every identity of the sample; the embedder held 3 of them out to calibrate on, so
    # its own training means miss people the GAN learned from.
    embedder = Embedder.from_folder(trained_embedder[0])
    people = training_people(run, embedder)
    _, own = embedder.identity_means()
    everyone = discover(celeba_sample, "all").frame["identity"].nunique()
    assert len(people) == everyone > len(own)
    nearest = (own @ people.T).max(axis=1)
    assert nearest.min() > 0.999  # the embedder's people are among them, the same means
    held = TrainingData(discover(celeba_sample, "val"), DataConfig(path=str(celeba_sample), resolution=32),
                        progress=False)
    held_means = np.stack([embedder.embed(held.images[held.identities == i]).mean(0)
                           for i in np.unique(held.identities)])
    held_means /= np.linalg.norm(held_means, axis=1, keepdims=True)
    assert (held_means @ people.T).max(axis=1).min() > 0.999  # ... and so are the ones it held out
    assert (held_means @ own.T).max(axis=1).max() < 0.999
    assert people_path(run, embedder).is_file()
    assert np.array_equal(training_people(run, embedder), people)


def test_a_run_whose_data_is_gone_falls_back_to_the_embedders_people_and_says_so(run, trained_embedder, tmp_path,
                                                                               caplog):
    moved = tmp_path / "moved"
    shutil.copytree(run, moved, ignore=shutil.ignore_patterns("people"))
    config = json.loads((moved / "config.json").read_text())
    config["data"]["path"] = str(tmp_path / "gone")
    (moved / "config.json").write_text(json.dumps(config))
    embedder = Embedder.from_folder(trained_embedder[0])
    with caplog.at_level(logging.WARNING, logger="facegen"):
        people = training_people(moved, embedder)
    assert np.array_equal(people, embedder.identity_means()[1])
    assert "own training people" in caplog.text and not people_path(moved, embedder).exists()


def test_verification_and_the_judge_read_the_gan_people(run, trained_embedder, straight):
    from facegen.config import ExportConfig
    from facegen.export.request import resolve_config
    from facegen.export.verify import resolve_check
    from facegen.metrics.evaluate import judge_export

    cfg, check = resolve_check(resolve_config(ExportConfig(identities=4, per_identity=4,
                                                           embedder=str(trained_embedder[0])),
                                              run / "nowhere", False, 0), run)
    assert np.array_equal(check.train_means, training_people(run, check.embedder))
    judge = Embedder.from_folder(trained_embedder[0])
    assert np.array_equal(export_people(straight, judge), training_people(run, judge))
    shutil.rmtree(straight.parent / "judged", ignore_errors=True)
    judged = shutil.copytree(straight, straight.parent / "judged")
    verdict = judge_export(judged, trained_embedder[0], identities=6)
    assert verdict["training_people"] == len(training_people(run, judge)) == 15
