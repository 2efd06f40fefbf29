"""`facegen train`'s stages, in order and resumably, in one run folder: the identity embedder, the GAN (embedding
mode, or identity mode, with the identity loss against that embedder), a judge embedder, the attribute classifier,
the identity capacity. Each stage's folder describes itself (facegen.run); a finished stage is skipped on a re-run.

Why a judge is trained here rather than on first use by `evaluate`: it needs the training data and minutes of
training, which belong to `train` (resumable, with the other stages' progress); `evaluate` and the export's
summary then judge in seconds, and the judge is fixed before any export exists, so nothing it judges can have
been chosen with it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from facegen import hardware
from facegen.config import AttributeConfig, EmbedderConfig, FacegenError, RunConfig, read_json
from facegen.run import ATTRIBUTES_DIR, CAPACITY_FILE, EMBEDDER_DIR, JUDGE_DIR, CONFIG_FILE, read_run_config

log = logging.getLogger("facegen")


@dataclass(frozen=True)
class StageSizes:
    """What a --preset trains besides the GAN's shape: the trunk preset and each stage's length."""

    trunk: str  # EMBEDDER_PRESETS name of the embedder, the judge and the classifier
    gan_steps: int  # the identity recipe's GAN length
    embedder_steps: int
    attributes_steps: int
    judge_steps: int
    capacity_candidates: int


# small is the recipe measured best on the 1,000-identity sample (bench/RESULTS.md, "+3 at the scarce end"): a
# 1,500-step small embedder, the identity-loss GAN to 9,000 steps, where its exports are more consistent by a judge
# of another seed, train a recognizer better alone and beside real people, and FID falls from 114.5 to 99.9
# (bench/RESULTS.md, "The GAN to 9,000 steps, both modes"). paper sizes the trunks like ResNet-18 for CelebA on a
# GPU; tiny is for tests.
STAGE_SIZES = {
    "tiny": StageSizes("tiny", 5000, 300, 300, 300, 256),
    "small": StageSizes("small", 9000, 1500, 2000, 1500, 2048),
    "paper": StageSizes("large", 6000, 3000, 2000, 3000, 2048),
}
IDENTITY_LOSS = 1.0  # the measured recipe's weight (bench/RESULTS.md, "Training with the identity loss")
# On identity-labelled data: G conditioned on the embedder's identity embeddings. At the quickstart's budget, by a
# judge of another seed trained on other people, its first 1,000 candidates hold 2.0x the look-alike pairs of
# 1,000 novel real people against identity mode's 13.1x (734 against 406 separable per 1,000; bench/RESULTS.md,
# "Embedding mode").
DEFAULT_MODE = "embedding"
# Embedding mode: half of G's batch rendered from new people; at 6,000 steps FID 114.5 against 126.7 on photos only,
# the same identity figures (bench/RESULTS.md, "New people in G's batch").
NOVEL_SHARE = 0.5
JUDGE_SEED = 1  # the judge's seed is the run's plus this: another embedder, not the filter


@dataclass(frozen=True)
class Recipe:
    """The stages one `facegen train` runs (None: not run) and the GAN settings they decide."""

    mode: str
    gan_steps: int
    identity_loss: float
    identity_embedder: str  # absolute path of the embedder the identity loss uses; "" = none
    embedder: EmbedderConfig | None
    attributes: AttributeConfig | None
    judge: EmbedderConfig | None
    capacity_candidates: int
    notes: tuple[str, ...] = ()
    novel_share: float = 0.0  # embedding mode: share of G's batch rendered from the identity space's draws
    identity_uniformity: float = 0.0  # the uniformity term's weight in the identity loss

    @property
    def stages(self) -> list[str]:
        return [name for name, on in (("embedder", self.embedder), ("gan", True), ("judge", self.judge),
                                      ("attributes", self.attributes), ("capacity", self.capacity_candidates)) if on]


def plan(data: str | Path, out: str | Path, preset: str, resolution: int, seed: int, mode: str | None = None,
         steps: int | None = None, identity_loss: float | None = None, identity_embedder: str | Path | None = None,
         embedder_steps: int | None = None, attributes_steps: int | None = None,
         judge_steps: int | None = None, checkpoint_every: int = 500, mixed_precision: str = "auto",
         keep_stored: bool = True, embedder_data: str | Path | None = None,
         novel_share: float | None = None, identity_uniformity: float | None = None) -> Recipe:
    """The stages for this data and these flags (None: the preset's or the existing run's value). No TensorFlow.
    The trunks train at the GAN's concrete policy `mixed_precision` (float32 for its float16); with `keep_stored`
    (the request said auto) a stage folder that exists keeps the policy it trains with."""
    from facegen.data.sample import CELEBA_ATTRIBUTES
    from facegen.data.sources import discover

    sizes = STAGE_SIZES[preset]  # a valid name: the GAN's config checked it
    out = Path(out)
    stored = read_run_config(out) if (out / CONFIG_FILE).exists() else None
    source = discover(data, "all")
    labelled = bool(source.frame["identity"].notna().any())
    notes: list[str] = []
    if mode is None:
        mode = stored.mode if stored else DEFAULT_MODE if labelled else "plain"
        if not labelled and not stored:
            notes.append(f"{data} has no identity labels: training the plain DCGAN alone, whose exports label latent "
                         "neighbourhoods, not people (identity labels: CelebA's identity_CelebA.txt or one folder "
                         "per identity)")
    identity = mode != "plain"  # identity and embedding modes train the same stages around the GAN
    if identity and not labelled:
        raise FacegenError(f"--mode {mode} needs identity labels (CelebA identity_CelebA.txt or one folder per "
                           f"identity); {data} has none")
    if steps is None:
        steps = stored.train.steps if stored else sizes.gan_steps if identity else RunConfig().train.steps

    def trunk(cls, n: int | None, default: int, folder: str, seed: int = seed, source: str | Path = data):
        n = default if n is None else n
        stored = out / folder / CONFIG_FILE
        policy = (cls.from_dict(read_json(stored)).mixed_precision if keep_stored and stored.is_file()
                  else hardware.trunk_policy(mixed_precision))
        return cls(data=str(source), preset=sizes.trunk, resolution=resolution, steps=n, seed=seed,
                   checkpoint_every=checkpoint_every, mixed_precision=policy) if n else None

    # --embedder-data: the embedder and the judge learn their identity space from other or more people than the
    # GAN's (a space wider than its data, with enough held-out people to calibrate the limits on).
    people = data
    if embedder_data is not None:
        if not discover(embedder_data, "all").frame["identity"].notna().any():
            raise FacegenError(f"--embedder-data {embedder_data} has no identity labels (CelebA identity_CelebA.txt "
                               "or one folder per identity)")
        people = embedder_data

    own = os.path.abspath(out / EMBEDDER_DIR)
    if identity_embedder is None and stored and stored.train.identity_embedder not in ("", own):
        identity_embedder = stored.train.identity_embedder  # a run trained against an embedder of its own choosing
    # --mode plain is the article's DCGAN alone; identity mode trains what its verified export needs.
    embedder = trunk(EmbedderConfig, embedder_steps, sizes.embedder_steps, EMBEDDER_DIR, source=people) \
        if identity else None
    if identity_embedder:
        embedder = None  # the user's embedder shapes the identity loss and verifies the exports
        loss_embedder = os.path.abspath(identity_embedder)
    else:
        loss_embedder = own if embedder else ""
    if identity_loss is None:
        identity_loss = stored.train.identity_loss if stored else IDENTITY_LOSS if loss_embedder else 0.0
    if not identity_loss:
        loss_embedder = ""
    elif not loss_embedder:
        raise FacegenError("--identity-loss needs an embedder: --mode identity (train trains one) or "
                           "--identity-embedder")
    # The classifier's own rule (training.attributes.attribute_split): CelebA attribute columns, and partitions to
    # hold images out.
    has_attributes = "partition" in source.frame.columns and any(a in source.frame.columns for a in CELEBA_ATTRIBUTES)
    attributes = trunk(AttributeConfig, attributes_steps, sizes.attributes_steps, ATTRIBUTES_DIR) if identity and has_attributes \
        else None
    judge = trunk(EmbedderConfig, judge_steps, sizes.judge_steps, JUDGE_DIR, seed + JUDGE_SEED, people) \
        if identity else None
    capacity = sizes.capacity_candidates if identity and (embedder or identity_embedder) else 0
    if novel_share is None:  # a run made before the share keeps training on photos only
        novel_share = stored.train.novel_share if stored else NOVEL_SHARE if mode == "embedding" else 0.0
    if identity_uniformity is None:  # off unless asked for; a run keeps what it trained with
        identity_uniformity = stored.train.identity_uniformity if stored else 0.0
    return Recipe(mode, steps, float(identity_loss), loss_embedder, embedder, attributes, judge, capacity,
                  tuple(notes), float(novel_share), float(identity_uniformity))


@dataclass(frozen=True)
class StageResult:
    stage: str  # embedder, gan, judge, attributes or capacity
    folder: Path
    result: object  # the stage's own result: the GAN's TrainResult, a trunk's report, the capacity record


@dataclass(frozen=True)
class TrainRunResult:
    out: Path
    stages: tuple[StageResult, ...]


def run_plan(train_plan, progress: bool = True) -> TrainRunResult:
    """Run a TrainPlan (facegen.training.request) in its folder, holding it for this process alone: what `facegen
    train` runs, from Python."""
    from facegen.atomic import exclusive

    with exclusive(Path(train_plan.out)):
        return TrainRunResult(Path(train_plan.out), tuple(
            StageResult(*s) for s in train_stages(train_plan.out, train_plan.config, train_plan.recipe, progress)))


def train_stages(out: str | Path, cfg: RunConfig, recipe: Recipe, progress: bool = True):
    """Run the recipe's stages into `out` in order; yields (stage, folder, result) as each ends (a finished stage
    returns its stored result at once). Each stage resumes where a kill left it."""
    from facegen.models.embedder import Embedder
    from facegen.training.embedder import train_embedder
    from facegen.training.loop import train
    from facegen.training.people import training_people

    out = Path(out)
    for stage in recipe.stages:
        if stage == "embedder":
            yield stage, out / EMBEDDER_DIR, train_embedder(out / EMBEDDER_DIR, recipe.embedder, progress)
        elif stage == "gan":
            yield stage, out, train(out, cfg, progress)
        elif stage == "attributes":
            from facegen.training.attributes import train_attributes

            yield stage, out / ATTRIBUTES_DIR, train_attributes(out / ATTRIBUTES_DIR, recipe.attributes, progress)
        elif stage == "judge":
            report = train_embedder(out / JUDGE_DIR, recipe.judge, progress)
            # The GAN's people by the judge, ready for every export's verdict (its leakage reference).
            training_people(out, Embedder.from_folder(out / JUDGE_DIR), progress)
            yield stage, out / JUDGE_DIR, report
        else:
            yield stage, out / CAPACITY_FILE, record_capacity(out, recipe, progress)


def record_capacity(out: Path, recipe: Recipe, progress: bool) -> dict:
    """RUN/capacity.json for the newest checkpoint and the verifying embedder (kept while both are unchanged)."""
    from facegen.atomic import write_json
    from facegen.config import ExportConfig, read_json
    from facegen.export.capacity import LAW
    from facegen.export.render import measure_capacity
    from facegen.run import STAGE_REPORT, checkpoint_paths, run_parts

    embedder = run_parts(out).embedder
    key = {"checkpoint": Path(checkpoint_paths(out)[0]).name, "embedder": str(embedder),
           "embedder_step": read_json(embedder / STAGE_REPORT).get("step"), "candidates": recipe.capacity_candidates,
           "method": LAW}
    path = out / CAPACITY_FILE
    if path.exists():
        stored = read_json(path)
        if {k: stored.get(k) for k in key} == key:
            return stored
    # The export settings measured best (facegen.export.identities.DRAWS), seed 0, calibrated limits.
    cfg = ExportConfig(identities=recipe.capacity_candidates, per_identity=1, embedder=str(embedder))
    curve, generated = measure_capacity(out, cfg, recipe.capacity_candidates, progress)
    real = read_json(embedder / STAGE_REPORT).get("held_out_spread")
    record = {**key, **curve.record(), "spread": generated, "real_spread": real}
    write_json(path, record)
    return record

