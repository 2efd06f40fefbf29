"""The `facegen` command line: parse and validate flags, call one library function, print the result."""

from __future__ import annotations

import logging
import sys
import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

from facegen.atomic import exclusive
from facegen.config import (AttributeConfig, DataConfig, EmbedderConfig, ExportConfig, FacegenError, MixConfig,
                            TrainConfig, TrunkConfig, at_least, preset)
from facegen.export.identities import DRAWS
from facegen.export.packers import PACKERS
from facegen.training.pipeline import NOVEL_SHARE, STAGE_SIZES

log = logging.getLogger("facegen")
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Train a DCGAN on face photos and export labeled synthetic faces.")
data_app = typer.Typer(no_args_is_help=True, help="Data helpers.")
app.add_typer(data_app, name="data")
embedder_app = typer.Typer(no_args_is_help=True, help="The identity embedder (face recognition in the export loop).")
app.add_typer(embedder_app, name="embedder")
attributes_app = typer.Typer(no_args_is_help=True, help="The face attribute classifier (labels for exports).")
app.add_typer(attributes_app, name="attributes")


# Options several commands share, declared once. A None default means "the library's default", which the help
# quotes from the dataclass that owns it (_T, _D, _E) rather than restating it.
_T, _D, _E, _K, _EM, _AT = TrainConfig, DataConfig, ExportConfig, TrunkConfig, EmbedderConfig, AttributeConfig
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the resolved plan (every default applied) as JSON and "
                                                        "write nothing.")]
Opt = Optional  # an option whose None is "the default"


def _tensorflow() -> None:
    """Start TensorFlow: called after every check that needs no model, so user mistakes come back at once."""
    from facegen._env import import_tensorflow_quietly

    import_tensorflow_quietly()


# `facegen train`'s options.
TrainData = Annotated[Path, typer.Option("--data", help="CelebA root (or its img_align_celeba/) or any folder of images.")]
RunOut = Annotated[Path, typer.Option("--out", help="Run folder; an existing run is resumed.")]
Preset = Annotated[Opt[str], typer.Option("--preset", help=f"Model size: paper (the article's), small, tiny [default: "
                                                          f"{_T.preset}].")]
Resolution = Annotated[Opt[int], typer.Option("--resolution", help=f"Image side: 32, 64 or 128 [default: "
                                                                   f"{_D.resolution}].")]
_RECIPE = STAGE_SIZES[_T.preset]  # the default preset's stage lengths, which the help quotes
Steps = Annotated[Opt[int], typer.Option("--steps", help="The GAN's total steps [default in embedding and identity "
                                                         f"modes: the preset's recipe length, {_RECIPE.gan_steps} "
                                                         f"{_T.preset}; {_T.steps} plain; an existing run's own].")]
Epochs = Annotated[Opt[int], typer.Option("--epochs", help="Train for this many passes instead of --steps.")]
BatchSize = Annotated[Opt[int], typer.Option("--batch-size", help=f"Minibatch size [default: {_T.batch_size}, the "
                                                                  "article's].")]
TrainSeed = Annotated[Opt[int], typer.Option("--seed", help=f"Seeds weights, latents and data order [default: "
                                                            f"{_T.seed}].")]
CheckpointEvery = Annotated[Opt[int], typer.Option("--checkpoint-every", help="Steps between checkpoints (every "
                                                   f"stage) [default: {_T.checkpoint_every}].")]
SampleEvery = Annotated[Opt[int], typer.Option("--sample-every", help="Steps between sample grids [default: "
                                               f"{_T.sample_every}].")]
Keep = Annotated[Opt[int], typer.Option("--keep", help=f"Checkpoints to keep [default: {_T.keep_checkpoints}].")]
Partition = Annotated[Opt[str], typer.Option("--partition", help="CelebA split: train, val, test or all [default: "
                                             f"{_D.partition}].")]
Cache = Annotated[Opt[bool], typer.Option("--cache/--no-cache", help="Decode all images into memory once "
                                          f"[default: {'--cache' if _D.cache else '--no-cache'}].")]
Mode = Annotated[Opt[str], typer.Option("--mode", help="embedding: the embedder, then a GAN conditioned on its "
                                        "identity embeddings (new people drawn in that space: Vec2Face's idea) with "
                                        "the identity loss, the attribute classifier and a judge embedder, one after "
                                        "another [default on identity-labelled data]; identity: the same stages with "
                                        "the SD-GAN identity mode; plain: the article's DCGAN alone [default "
                                        "otherwise].")]
IdentityDim = Annotated[Opt[int], typer.Option("--identity-dim", help="identity mode: latent entries that are z_id "
                                               f"[default: {inspect.signature(preset).parameters['identity_dim'].default}].")]
Strategy = Annotated[Opt[str], typer.Option("--strategy", help="tf.distribute: auto (multiworker if TF_CONFIG lists "
                                            "workers, mirrored if several GPUs, else default), default, mirrored, "
                                            f"multiworker [default: {_T.strategy}].")]
SyncBn = Annotated[bool, typer.Option("--sync-bn", help="Synchronise BN statistics across replicas.")]
TrainPrecision = Annotated[Opt[str], typer.Option("--mixed-precision", help="auto, off (float32), float16 or bfloat16. "
                                                  "auto: bfloat16 where the hardware computes it natively "
                                                  "(AVX512-BF16/AMX CPUs, GPUs of compute capability 8+), else "
                                                  "float32; a run keeps its policy. Every stage trains at it (the "
                                                  "embedders and classifier in float32 for float16) [default: "
                                                  f"{_T.mixed_precision}].")]
Xla = Annotated[bool, typer.Option("--xla", help="XLA-compile the step. For GPUs: slower on CPUs (bench/RESULTS.md).")]
LearningRate = Annotated[Opt[float], typer.Option("--learning-rate", help="Adam's step size [default: "
                                                  f"{_T.learning_rate:g}, the article's, for every preset].")]
DLearningRate = Annotated[Opt[float], typer.Option("--d-learning-rate", help="D's own Adam step size (two time-scale "
                                                   "updates) [default: --learning-rate].")]
EvalEvery = Annotated[Opt[int], typer.Option("--eval-every", help="Steps between FID/KID checks (0 = off); keeps "
                                             f"RUN/best [default: {_T.eval_every}].")]
EvalN = Annotated[Opt[int], typer.Option("--eval-n", help=f"Generated images per --eval-every check [default: "
                                         f"{_T.eval_n}].")]
IdentityLoss = Annotated[Opt[float], typer.Option("--identity-loss", help="Identity mode: weight of a frozen "
                                                  "embedder's term pulling images that share z_id together and other "
                                                  "identities apart; 0 = off [default: 1 with the run's embedder].")]
IdentityEmbedder = Annotated[Opt[Path], typer.Option("--identity-embedder", help="An embedder folder (facegen "
                                                     "embedder train) for the identity loss and the exports, instead "
                                                     "of training RUN/embedder.")]
NovelShare = Annotated[Opt[float], typer.Option("--novel-share", help="Embedding mode: share of each batch G renders "
                                               "from new people drawn from its identity space instead of training "
                                               f"photos' embeddings [default: {NOVEL_SHARE:g}; a run keeps its "
                                               "own].")]
IdentityUniformity = Annotated[Opt[float], typer.Option(
    "--identity-uniformity", help="Weight, inside the identity loss, of a term that spreads G's people over the "
    "embedder's sphere as real people's are (uniformity, Wang & Isola 2020); 0 = off [default: 0; a run keeps its "
    "own].")]
EmbedderSteps = Annotated[Opt[int], typer.Option("--embedder-steps", help="Identity mode: RUN/embedder's steps "
                                                 f"[default: the preset's, {_RECIPE.embedder_steps} {_T.preset}].")]
AttributesSteps = Annotated[Opt[int], typer.Option("--attributes-steps", help="Identity mode, data with attribute "
                                                   "labels: RUN/attributes' steps, 0 = skip [default: the preset's, "
                                                   f"{_RECIPE.attributes_steps} {_T.preset}].")]
EmbedderData = Annotated[Opt[Path], typer.Option("--embedder-data", help="Identity-labelled faces the run's embedder "
                                                 "and judge learn their identity space from, when other or more "
                                                 "people than --data's (enough held-out people to calibrate the "
                                                 "limits on: 100 or more) [default: --data].")]
JudgeSteps = Annotated[Opt[int], typer.Option("--judge-steps", help="Identity mode: RUN/judge's steps (a second "
                                              "embedder that only judges exports), 0 = skip [default: the preset's, "
                                              f"{_RECIPE.judge_steps} {_T.preset}].")]


@app.command()
def train(data: TrainData, out: RunOut, preset: Preset = None, resolution: Resolution = None, steps: Steps = None,
          epochs: Epochs = None, batch_size: BatchSize = None, seed: TrainSeed = None,
          checkpoint_every: CheckpointEvery = None, sample_every: SampleEvery = None, keep: Keep = None,
          partition: Partition = None, cache: Cache = None, mode: Mode = None, identity_dim: IdentityDim = None,
          strategy: Strategy = None, sync_bn: SyncBn = False, mixed_precision: TrainPrecision = None,
          xla: Xla = False, learning_rate: LearningRate = None, d_learning_rate: DLearningRate = None,
          eval_every: EvalEvery = None, eval_n: EvalN = None, identity_loss: IdentityLoss = None,
          identity_embedder: IdentityEmbedder = None, novel_share: NovelShare = None,
          identity_uniformity: IdentityUniformity = None, embedder_steps: EmbedderSteps = None,
          attributes_steps: AttributesSteps = None, judge_steps: JudgeSteps = None, embedder_data: EmbedderData = None,
          dry_run: DryRun = False, quiet: Quiet = False) -> None:
    """Train what the best export needs, or resume the run in --out: on identity-labelled data the identity
    embedder (RUN/embedder), the embedding-mode GAN with the identity loss (RUN), the attribute classifier
    (RUN/attributes, where the data has attribute labels), a judge embedder (RUN/judge) and the model's identity
    capacity (RUN/capacity.json); with --mode plain or unlabelled data, the DCGAN alone.

    Example: facegen train --data data/celeba-sample --out runs/quick --preset tiny --steps 300
    """
    from facegen.training.request import TrainRequest, plan

    train_plan = plan(TrainRequest(
        data=data, out=out, preset=preset, resolution=resolution, steps=steps, epochs=epochs, batch_size=batch_size,
        seed=seed, checkpoint_every=checkpoint_every, sample_every=sample_every, keep=keep, partition=partition,
        cache=cache, mode=mode, identity_dim=identity_dim, strategy=strategy, sync_bn=sync_bn or None,
        mixed_precision=mixed_precision, xla=xla or None, learning_rate=learning_rate, d_learning_rate=d_learning_rate,
        eval_every=eval_every, eval_n=eval_n, identity_loss=identity_loss, identity_embedder=identity_embedder,
        novel_share=novel_share, identity_uniformity=identity_uniformity, embedder_steps=embedder_steps,
        attributes_steps=attributes_steps, judge_steps=judge_steps, embedder_data=embedder_data))
    if dry_run:
        typer.echo(train_plan.to_json())
        return
    for note in train_plan.notes:
        log.info(note)
    with exclusive(out):
        _tensorflow()
        from facegen.training.pipeline import train_stages

        for stage, folder, result in train_stages(out, train_plan.config, train_plan.recipe, progress=not quiet):
            for line in _stage_lines(stage, folder, result):
                typer.echo(line)
    typer.echo(f"samples: {out / 'samples'}; export with: facegen export --checkpoint {out} --count N --out DATASET")


def _stage_lines(stage: str, folder: Path, result) -> list[str]:
    """One summary line per finished training stage."""
    if stage == "capacity":
        from facegen.export.capacity import Capacity

        from facegen.export.capacity import spread_text

        spread = [spread_text(result["spread"], result.get("real_spread"))] if result.get("spread") else []
        return [f"identity capacity: {Capacity.from_record(result).text()} ({folder})", *spread]
    if stage != "gan":
        return result.lines()[:1]  # an EmbedderReport's or AttributeReport's headline
    if result.step == result.resumed_from:
        return [f"{folder} is already at step {result.step}; pass a larger --steps to train further"]
    summary = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
    return [f"GAN {folder} trained to step {result.step} ({summary}; {result.images_per_second:.0f} img/s)"]


@app.command()
def sample(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="A run folder."),
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    n: int = typer.Option(64, "--n", help="Images in the grid (steps of the walk with --interpolate)."),
    seed: int = typer.Option(0, "--seed", help="Latent seed."),
    interpolate: Optional[int] = typer.Option(None, "--interpolate", help="Walk from --seed's latent to this seed's."),
) -> None:
    """Write a grid of generated faces, or a latent-space walk between two seeds.

    Example: facegen sample --checkpoint runs/quick --out grid.png --n 64 --seed 7
    """
    from facegen.run import read_run_config

    at_least(n, 1 if interpolate is None else 2, "--n")
    if out.suffix.lower() != ".png":
        raise FacegenError(f"--out must be a .png file, got {out}")
    read_run_config(checkpoint)
    _tensorflow()
    from facegen.images import grid, save_png
    from facegen.models.generator import Generator

    gen = Generator.from_run(checkpoint)
    if interpolate is None:
        images, cols = gen.sample(seed, n), None
    else:
        images, cols = gen.walk(seed, interpolate, n), n
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(out, grid(images, cols))
    typer.echo(f"wrote {out} ({len(images)} images from step {gen.step})")


# `facegen export`'s options.
Checkpoint = Annotated[Path, typer.Option("--checkpoint", help="A trained run folder.")]
DatasetOut = Annotated[Path, typer.Option("--out", help="Dataset folder to write (an interrupted export here is "
                                                        "resumed).")]
Count = Annotated[Opt[int], typer.Option("--count", help="Total images; with neither of the next two, 20 per "
                                                         "identity.")]
Identities = Annotated[Opt[int], typer.Option("--identities", help="Number of identities (folders).")]
PerIdentity = Annotated[Opt[int], typer.Option("--per-identity", help="Images per identity.")]
_DRAW = DRAWS["embedding, verified"]  # what the card's export draws by default, which the help quotes
Variation = Annotated[Opt[float], typer.Option("--variation", help="How far an image may move from its identity, 0 = "
                                               "the same face. Plain runs: 1 = unrelated (default "
                                               f"{DRAWS['plain'].variation:g}); identity mode: the scale of z_obs, 1 = "
                                               "its full trained range (default unverified), up to 2 = wider than G "
                                               "trained on (default "
                                               f"{DRAWS['identity, verified'].variation:g} when verified: the embedder "
                                               "redraws what strays); embedding mode likewise, default "
                                               f"{DRAWS['embedding'].variation:g}, verified {_DRAW.variation:g} (see "
                                               "--min-consistency).")]
IdentityNoise = Annotated[Opt[float], typer.Option("--identity-noise", help="Embedding mode: how far each image's "
                                                  "identity embedding moves from its person's, in real photos' "
                                                  "scatter around theirs (0 = none, 1 = as much) [default: 0].")]
Nuisance = Annotated[Opt[float], typer.Option("--nuisance", help="Tilt, alignment and lighting moved per image on "
                                             "top of G's face, as a share of their ranges (1 = tilt up to 10 "
                                             "degrees, shift 3% of the side, scale 5%, a light ramp up to 30%, "
                                             "exposure 10%; the verifier judges the moved image, and each "
                                             "redraw moves it half as far) [default: "
                                             f"{_DRAW.nuisance:g} for a verified embedding-mode export (see "
                                             "--min-consistency), else 0].")]
ExportSeed = Annotated[Opt[int], typer.Option("--seed", help="Keys every latent with (identity, index): same seed, "
                                              f"same bytes [default: {_E.seed}].")]
Format = Annotated[Opt[str], typer.Option("--format", help=f"png or jpg [default: {_E.format}].")]
Quality = Annotated[Opt[int], typer.Option("--quality", help=f"JPEG quality [default: {_E.quality}].")]
Size = Annotated[Opt[int], typer.Option("--size", help="Output side in pixels (e.g. 112) [default: the model's "
                                                       "resolution].")]
ExportBatch = Annotated[Opt[int], typer.Option("--batch-size", help="Images per generator dispatch, rounded up to "
                                               f"whole {_E.block}-image blocks (blocks are fixed by image index, which "
                                               f"keeps the bytes exact) [default: {_E.batch_size}].")]
MinRealism = Annotated[Opt[float], typer.Option("--min-realism", help="Redraw (up to 8 draws) images whose realism is "
                                                "below this. Realism (0..1) is D's rank of an image among 2,000 "
                                                "reference images of the same checkpoint: 0.3 redraws the images D "
                                                "ranks among the least real 30% of what the model makes [default: "
                                                "off].")]
Realism = Annotated[bool, typer.Option("--realism", help="Score every image's realism for the manifest (implied by "
                                       "--min-realism; off by default: D costs about as much as G).")]
Shard = Annotated[Opt[str], typer.Option("--shard", help="i/n: generate slice i of n (join with facegen merge); auto: "
                                         "the slice a Slurm array, a Kubernetes Indexed Job or TF_CONFIG gives this "
                                         "process [default: 0/1].")]
Shards = Annotated[Opt[int], typer.Option("--shards", help="With --shard auto under a Kubernetes Indexed Job: the "
                                          "Job's completions [default: $FACEGEN_SHARDS].")]
Workers = Annotated[Opt[int], typer.Option("--workers", help="Encoding threads [default: one per core].")]
ExportStrategy = Annotated[Opt[str], typer.Option("--strategy", help="auto (every local GPU generates), default or "
                                                  f"mirrored [default: {_E.strategy}].")]
ExportPrecision = Annotated[Opt[str], typer.Option("--mixed-precision", help="auto (bfloat16 where the CPU/GPU "
                                                   "computes it natively), off or bfloat16. Part of the bytes: the "
                                                   "same machine kind and policy give the same files [default: "
                                                   f"{_E.precision}].")]
Embedder = Annotated[Opt[Path], typer.Option("--embedder", help="An embedder folder (facegen embedder train, or "
                                             "an ONNX recognizer's from facegen embedder calibrate): "
                                             "identities far apart and from the training people, images consistent "
                                             "[default: the run's RUN/embedder].")]
Verify = Annotated[bool, typer.Option("--verify/--no-verify", help="Verify identities with the run's embedder "
                                      "(--no-verify: latent identities, unchecked).")]
MinConsistency = Annotated[Opt[float], typer.Option("--min-consistency", help="With --embedder: redraw images whose "
                                                    "cosine to their identity's reference is below this [default: "
                                                    "calibrated; an embedding-mode export holds its wider draw to "
                                                    f"what {1 - _DRAW.real_photo_share:.0%} of the embedder's held-out "
                                                    "real photos reach, and draws as unverified where that is below "
                                                    "the calibrated limit].")]
MaxSimilarity = Annotated[Opt[float], typer.Option("--max-similarity", help="With --embedder: reject identities this "
                                                   "close to an accepted one [default: calibrated].")]
MaxLeakage = Annotated[Opt[float], typer.Option("--max-leakage", help="With --embedder: reject identities this close "
                                                "to a training identity [default: calibrated].")]
MaxCandidates = Annotated[Opt[int], typer.Option("--max-candidates", help="With --embedder or --balance: identity "
                                                 "candidates per identity before giving up [default: "
                                                 f"{_E.max_candidates}].")]
Attributes = Annotated[Opt[Path], typer.Option("--attributes", help="An attribute classifier folder (facegen "
                                               "attributes train): a probability column per attribute [default: the "
                                               "run's RUN/attributes].")]
NoAttributes = Annotated[bool, typer.Option("--no-attributes", help="No attribute columns (the run's classifier "
                                            "labels them by default).")]
Balance = Annotated[Opt[str], typer.Option("--balance", help="With --attributes: identity-attribute shares to hit, "
                                           "e.g. Male=0.5,Eyeglasses=0.3.")]
BalanceConfidence = Annotated[Opt[float], typer.Option("--balance-confidence", help="With --balance: an identity "
                                                       "counts for an attribute only at this probability or more, "
                                                       "against it at 1 - this or less; candidates in between are "
                                                       f"redrawn [default: {_E.balance_confidence}].")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace whatever --out holds.")]


@app.command("export")
def export_cmd(checkpoint: Checkpoint, out: DatasetOut, count: Count = None, identities: Identities = None,
               per_identity: PerIdentity = None, variation: Variation = None,
               identity_noise: IdentityNoise = None, nuisance: Nuisance = None, seed: ExportSeed = None,
               fmt: Format = None, quality: Quality = None, size: Size = None, batch_size: ExportBatch = None,
               min_realism: MinRealism = None, realism: Realism = False, shard: Shard = None, shards: Shards = None,
               workers: Workers = None, strategy: ExportStrategy = None, precision: ExportPrecision = None,
               embedder: Embedder = None, verify: Verify = True, min_consistency: MinConsistency = None,
               max_similarity: MaxSimilarity = None, max_leakage: MaxLeakage = None,
               max_candidates: MaxCandidates = None, attributes: Attributes = None,
               no_attributes: NoAttributes = False, balance: Balance = None,
               balance_confidence: BalanceConfidence = None, overwrite: Overwrite = False, dry_run: DryRun = False,
               quiet: Quiet = False) -> None:
    """Export a labeled synthetic face dataset: one folder per identity, manifest.csv, im2rec.lst, metadata.csv.

    Example: facegen export --checkpoint runs/quickstart --count 2000 --out synth/
    """
    from facegen.export.identities import parse_shard
    from facegen.export.request import ExportRequest, plan

    export_plan = plan(ExportRequest(
        checkpoint=checkpoint, out=out, count=count, identities=identities, per_identity=per_identity, seed=seed,
        variation=variation, identity_noise=identity_noise, nuisance=nuisance, format=fmt, quality=quality, size=size,
        min_realism=min_realism, realism=realism or None,
        batch_size=batch_size, workers=workers, strategy=strategy, precision=precision, embedder=embedder,
        verify=verify, min_consistency=min_consistency, max_similarity=max_similarity, max_leakage=max_leakage,
        max_candidates=max_candidates, attributes=attributes, label_attributes=not no_attributes,
        balance=None if balance is None else parse_balance(balance), balance_confidence=balance_confidence,
        shard=None if shard is None and shards is None else parse_shard(shard or "", shards), overwrite=overwrite, command=_command()))
    if dry_run:
        typer.echo(export_plan.to_json())
        return
    for note in export_plan.notes:
        log.info(note)
    from facegen.export.pipeline import ExportPipeline

    result = ExportPipeline(export_plan)(progress=not quiet)
    for line in result.summary(out):
        typer.echo(line)
    for warning in result.warnings:
        log.warning(warning)


def _command() -> str:
    return "facegen " + " ".join(sys.argv[1:])


@app.command()
def merge(
    sources: list[str] = typer.Argument(..., help="Shard export folders: paths, a glob ('synth-*', quoted) or a "
                                        "pattern with {i} ('synth-{i}': every shard of the export, each named "
                                        "if missing)."),
    out: Path = typer.Option(..., "--out", help="Empty folder for the joined dataset."),
) -> None:
    """Verify and join the shards of one export (written with --shard i/n or auto) into one dataset.

    Example: facegen merge 'synth-{i}' --out synth
    """
    from facegen.export.merge import merge as run_merge
    from facegen.export.request import judgement_line

    result = run_merge(sources, out, command=_command())
    typer.echo(f"merged {result.shards} shards into {out} ({result.images} images)")
    if result.judgement:
        typer.echo(judgement_line(result.judgement))


@app.command()
def mix(
    real: Optional[Path] = typer.Option(None, "--real", help="Real faces: CelebA or one sub-folder per identity."),
    synth: list[Path] = typer.Option([], "--synth", help="A finished facegen export (repeat for several)."),
    out: Path = typer.Option(..., "--out", help="New folder for the mixed dataset (an interrupted mix here resumes)."),
    real_identities: Optional[int] = typer.Option(None, "--real-identities",
                                                  help="Real identities to take [default: all; 0 = none]."),
    synth_identities: Optional[int] = typer.Option(None, "--synth-identities",
                                                   help="Identities to take from each export [default: all]."),
    size: Opt[int] = typer.Option(None, "--size", help="Image side [default: the exports'; needed without --synth]."),
    fmt: Opt[str] = typer.Option(None, "--format", help="png or jpg [default: the exports'; png without --synth]."),
    seed: Opt[int] = typer.Option(None, "--seed", help="Which identities are taken when fewer than all "
                                  f"[default: {MixConfig.seed}]."),
    partition: Opt[str] = typer.Option(None, "--partition", help="CelebA split of the real identities "
                                       f"[default: {MixConfig.partition}]."),
    link: Opt[bool] = typer.Option(None, "--link/--copy", help="Hard-link synthetic images where possible [default: "
                                   f"{'--link' if MixConfig.link else '--copy'}]."),
    quiet: Quiet = False,
) -> None:
    """Real and synthetic identities in one dataset: disjoint labels, one image size, manifest.csv with a
    source column, im2rec.lst, metadata.csv, mix.json and a dataset card.

    Example: facegen mix --real data/celeba-sample --synth synth/ --real-identities 200 --out mixed/
    """
    from facegen.export.mix import mix as run_mix

    cfg = MixConfig(real=None if real is None else str(real), synth=tuple(str(s) for s in synth),
                    real_identities=real_identities, synth_identities=synth_identities,
                    **_given(seed=seed, partition=partition, link=link, size=size, format=fmt))
    with exclusive(out):
        result = run_mix(cfg, out, command=_command(), progress=not quiet)
    for line in result.lines():
        typer.echo(line)


@app.command()
def pack(
    dataset: Path = typer.Argument(..., help="A finished facegen dataset: an export, a merged export or a mix."),
    to: str = typer.Option(..., "--to", help="; ".join(f"{f.name} ({f.help})" for f in PACKERS.values()) + "."),
    out: Path = typer.Option(..., "--out", help="Folder for the packed files, outside the dataset (an interrupted "
                             "pack here resumes)."),
    shuffle_seed: Optional[int] = typer.Option(None, "--shuffle-seed", help="Write the images in an order this "
                                               "seed fixes [default: the manifest's, identity by identity]."),
    shard_images: Optional[int] = typer.Option(None, "--shard-images", help="Sharded formats: samples per shard "
                                               "[default: 10000]."),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Sharded formats: shard names start with PREFIX "
                                         "[default: faces]."),
    quiet: Quiet = False,
) -> None:
    """Pack a dataset for the trainers that read packed files (each format is one module in facegen.export.packers).

    Example: facegen pack synth/ --to rec --out synth-rec/
    """
    from facegen.export.pack import PackConfig
    from facegen.export.pack import pack as run_pack

    cfg = PackConfig(to=to, shuffle_seed=shuffle_seed, **{k: v for k, v in (("shard_images", shard_images),
                                                                              ("prefix", prefix)) if v is not None})
    with exclusive(out):
        result = run_pack(dataset, out, cfg, command=_command(), progress=not quiet)
    for line in result.lines():
        typer.echo(line)


@app.command("benchmark")
def benchmark_cmd(
    real: Path = typer.Option(..., "--real", help="Identity-labelled real faces: CelebA or one sub-folder per identity."),
    synth: list[Path] = typer.Option([], "--synth", help="A finished facegen export (repeat for several)."),
    out: Path = typer.Option(..., "--out", help="Benchmark folder (a killed benchmark here continues; finished arms "
                             "are reused)."),
    arms: Optional[str] = typer.Option(None, "--arms", help="Comma-separated: real, real+synth, synth "
                                       "[default: all three]."),
    real_identities: Optional[str] = typer.Option(None, "--real-identities", help="Real-set sizes: counts or shares "
                                                  "of the training identities [default: 1%,2.5%,10%,100%]."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Recognizer seeds, comma-separated [default: 0,1]."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Recognizer batches per arm, the same for every arm "
                                        "[default: 800]."),
    real_share: Optional[float] = typer.Option(None, "--real-share", help="Share of every real + synthetic batch "
                                               "drawn from the real identities; 0 = as the images fall "
                                               "[default: 0.5]."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Recognizer trunk: tiny, small, large "
                                         "[default: small]."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="A `facegen data pairs` folder to verify on "
                                         "[default: drawn from --real's held-out identities]."),
    folds: Optional[int] = typer.Option(None, "--folds", help="Folds of the drawn pairs [default: 10]."),
    quiet: Quiet = False,
) -> None:
    """Does a synthetic set help a recognizer on your data? The same recognizer on real, real + synthetic and
    synthetic arms at several real-set sizes, verified on held-out real people (10-fold accuracy, TAR@FAR 1e-3).

    Example: facegen benchmark --real data/celeba-sample-20k --synth synth/ --out bench-synth/ --real-identities 8,20
    """
    from facegen.metrics.benchmark import BenchmarkConfig, check_request

    given = dict(arms=_split(arms), real_identities=_split(real_identities),
                 seeds=None if seeds is None else tuple(_ints(seeds, "--seeds")), steps=steps, real_share=real_share,
                 preset=preset, pairs=None if pairs is None else str(pairs), folds=folds)
    cfg = BenchmarkConfig(real=str(real), synth=tuple(str(s) for s in synth),
                          **{k: v for k, v in given.items() if v is not None})
    check_request(cfg)
    with exclusive(out):
        _tensorflow()
        from facegen.metrics.benchmark import benchmark

        result = benchmark(cfg, out, progress=not quiet)
    for line in result.lines():
        typer.echo(line)


def _split(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(p.strip() for p in text.split(",") if p.strip())


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise FacegenError(f"{flag} takes comma-separated integers like 0,1, got {text!r}") from None


@app.command()
def evaluate(
    data: Path = typer.Option(..., "--data", help="The real images (same forms as train --data)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="A run folder to sample from."),
    export_dir: Optional[Path] = typer.Option(None, "--export", help="An exported dataset folder."),
    n: int = typer.Option(10000, "--n", help="Generated images to score (the literature uses 50000)."),
    n_real: int = typer.Option(0, "--n-real", help="Real images to use; 0 = all."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder [default: RUN/eval or EXPORT-eval]."),
    judge: Optional[Path] = typer.Option(None, "--embedder", help="An embedder folder (or a calibrated ONNX "
                                         "recognizer's) that judges the export's identities; not the one that "
                                         "filtered it [default: the run's RUN/judge]."),
    quiet: Quiet = False,
) -> None:
    """FID and KID against the real data (FID Inception features), face rate if mtcnn is installed.

    Writes metrics.json and report.png. Example:
    facegen evaluate --checkpoint runs/quickstart --data data/celeba-sample --n 2000
    """
    from facegen.metrics.evaluate import check_request

    judge = check_request(data, checkpoint, export_dir, n, n_real, judge)
    _tensorflow()
    from facegen.metrics.evaluate import evaluate as run_eval

    target = out or (checkpoint / "eval" if checkpoint else export_dir.with_name(export_dir.name + "-eval"))
    result = run_eval(data, target, run_dir=checkpoint, export_dir=export_dir, n=n, seed=seed, n_real=n_real,
                      progress=not quiet, judge=judge)
    _print_report(result)


def _print_report(result) -> None:
    """The evaluate table: the registered metrics' lines (facegen.metrics.evaluate)."""
    typer.echo(f"{'metric':<12}{'value':>12}")
    for line in result.lines:
        typer.echo(line)
    typer.echo(f"({result.metrics['n_generated']} generated vs {result.metrics['n_real']} real; report in "
               f"{result.out})")


@data_app.command("sample")
def data_sample(
    out: Path = typer.Option(Path("data/celeba-sample"), "--out", help="Folder to write the CelebA-layout sample to."),
    count: int = typer.Option(2000, "--count", help="Number of images."),
    seed: int = typer.Option(0, "--seed", help="Drawing seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing sample."),
) -> None:
    """Draw a CelebA-shaped sample of synthetic faces (test and demo data, not CelebA).

    Example: facegen data sample --out data/celeba-sample --count 2000
    """
    from facegen.data.sample import write_sample

    write_sample(out, count, seed, overwrite)
    typer.echo(f"wrote {count} synthetic faces in the CelebA layout to {out} (test/demo data, not CelebA)")


@data_app.command("pairs")
def data_pairs(
    data: Path = typer.Option(..., "--data", help="Real faces with identities: CelebA or one sub-folder per identity."),
    out: Path = typer.Option(..., "--out", help="Folder for pairs.csv, NAME.bin and pairs.json."),
    folds: Optional[int] = typer.Option(None, "--folds", help="Folds [default: 10, as LFW]."),
    per_fold: Optional[int] = typer.Option(None, "--per-fold", help="Same pairs per fold, and as many different "
                                           "ones [default: 300, as LFW; fewer when the identities do not allow]."),
    size: Optional[int] = typer.Option(None, "--size", help="Image side [default: 112]; match the export's --size."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Pair drawing seed [default: 0]."),
    name: Optional[str] = typer.Option(None, "--name", help="NAME.bin, for arcface_torch's config.val_targets "
                                       "[default: facegen_val]."),
    quiet: Quiet = False,
) -> None:
    """Verification pairs of held-out real identities (CelebA val+test, or every 10th identity folder) in the LFW
    layout, as pairs.csv and an insightface .bin.

    Example: facegen data pairs --data data/celeba-sample --out pairs/ --size 64
    """
    from facegen.data.pairs import PairsConfig, write_pairs

    given = dict(folds=folds, per_fold=per_fold, size=size, seed=seed, name=name)
    cfg = PairsConfig(**{k: v for k, v in given.items() if v is not None})
    with exclusive(out):
        r = write_pairs(data, out, cfg, progress=not quiet)
    typer.echo(f"wrote {r['pairs']} pairs ({cfg.folds} folds of {r['per_fold']} same + {r['per_fold']} different) "
               f"of {r['held_out_identities']} held-out identities to {out} (pairs.csv, {r['bin']})")


# The trunk commands' options (facegen embedder train, facegen attributes train).
TrunkPreset = Annotated[Opt[str], typer.Option("--preset", help="tiny (tests), small (CPU), large (GPU, CelebA) "
                                                                f"[default: {_K.preset}].")]
TrunkResolution = Annotated[Opt[int], typer.Option("--resolution", help=f"Face side the model reads [default: {_K.resolution}].")]
TrunkSteps = Annotated[Opt[int], typer.Option("--steps", help="Batches of --batch-size [default: "
                                                              f"{_EM.steps} embedder, {_AT.steps} classifier].")]
TrunkBatch = Annotated[Opt[int], typer.Option("--batch-size", help=f"Faces per batch [default: {_K.batch_size}].")]
TrunkSeed = Annotated[Opt[int], typer.Option("--seed", help=f"Seeds weights and data order [default: {_K.seed}].")]
TrunkPrecision = Annotated[Opt[str], typer.Option("--mixed-precision", help="auto (bfloat16 where native, else "
                                                  "float32), off (float32) or bfloat16; a folder keeps its policy "
                                                  f"[default: {_K.mixed_precision}].")]


def _given(**values) -> dict:
    """The options a user gave (None: the config record's default applies)."""
    return {k: v for k, v in values.items() if v is not None}


@embedder_app.command("train")
def embedder_train(
    data: Annotated[Path, typer.Option("--data", help="Identity-labelled faces: CelebA or one sub-folder per "
                                                      "identity.")],
    out: Annotated[Path, typer.Option("--out", help="Embedder folder (an interrupted training here resumes).")],
    preset: TrunkPreset = None, resolution: TrunkResolution = None, steps: TrunkSteps = None,
    batch_size: TrunkBatch = None, seed: TrunkSeed = None, mixed_precision: TrunkPrecision = None,
    blocks: Annotated[Opt[int], typer.Option("--blocks", help=f"Residual blocks per stage [default: {_K.blocks}].")] = None,
    margin: Annotated[Opt[float], typer.Option("--margin", help=f"CosFace margin [default: {_EM.margin}].")] = None,
    quiet: Quiet = False,
) -> None:
    """Train the identity embedder on the data's training identities; report verification on held-out ones.

    Example: facegen embedder train --data data/celeba-sample --out runs/embedder
    """
    from facegen.config import EmbedderConfig
    from facegen.data import check_data_path

    cfg = EmbedderConfig(data=str(data), **_given(preset=preset, resolution=resolution, steps=steps,
                                                  batch_size=batch_size, blocks=blocks, margin=margin, seed=seed,
                                                  mixed_precision=mixed_precision))
    check_data_path(data)
    with exclusive(out):
        _tensorflow()
        from facegen.training.embedder import train_embedder

        report = train_embedder(out, cfg, progress=not quiet)
    for line in report.lines():
        typer.echo(line)


@embedder_app.command("calibrate")
def embedder_calibrate(
    model: Annotated[Path, typer.Option("--model", help="A face recognizer in ONNX (insightface's convention: "
                                                        "112x112 RGB, (x - 127.5) / 127.5 unless the graph "
                                                        "normalises itself).")],
    data: Annotated[Path, typer.Option("--data", help="Identity-labelled faces it never trained on: CelebA or one "
                                                      "sub-folder per identity.")],
    out: Annotated[Path, typer.Option("--out", help="The embedder folder to write (for export --embedder and "
                                                    "evaluate --embedder).")],
    resolution: Annotated[int, typer.Option("--resolution", help="The side of the faces it will judge (the "
                                                                 "GAN's).")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the verification pairs.")] = 0,
    quiet: Quiet = False,
) -> None:
    """Make an ONNX recognizer an embedder: verification and the export's limits calibrated on held-out people.

    Example: facegen embedder calibrate --model w600k_r50.onnx --data data/people --out judges/r50
    """
    from facegen.data import check_data_path

    check_data_path(data)
    if not model.is_file():
        raise FacegenError(f"--model {model} is not a file")
    with exclusive(out):
        _tensorflow()
        from facegen.training.embedder import calibrate_recognizer

        report = calibrate_recognizer(model, data, out, resolution=resolution, seed=seed, progress=not quiet)
    for line in report.lines():
        typer.echo(line)


@embedder_app.command("onnx")
def embedder_onnx(
    embedder: Annotated[Path, typer.Option("--embedder", help="A trained facegen embedder folder.")],
    out: Annotated[Path, typer.Option("--out", help="The .onnx file to write.")],
    input_size: Annotated[int, typer.Option("--input-size", help="The graph's input side (it resizes to the "
                                                                 "embedder's).")] = 112,
) -> None:
    """Write a facegen embedder as an ONNX recognizer of insightface's convention (NCHW RGB, (x - 127.5) / 127.5).

    Example: facegen embedder onnx --embedder runs/quickstart/judge --out judge.onnx
    """
    from facegen.run import read_folder_config

    read_folder_config(embedder, "embedder", "trained facegen embedder")
    at_least(input_size, 8, "--input-size")
    _tensorflow()
    from facegen.models.embedder import Embedder
    from facegen.models.onnx_embedder import write_onnx

    typer.echo(f"wrote {write_onnx(Embedder.from_folder(embedder), out, input_size)}")


@attributes_app.command("train")
def attributes_train(
    data: Annotated[Path, typer.Option("--data", help="Faces with attribute labels (CelebA's "
                                                      "list_attr_celeba.txt).")],
    out: Annotated[Path, typer.Option("--out", help="Classifier folder (an interrupted training here resumes).")],
    preset: TrunkPreset = None, resolution: TrunkResolution = None, steps: TrunkSteps = None,
    batch_size: TrunkBatch = None, seed: TrunkSeed = None, mixed_precision: TrunkPrecision = None,
    quiet: Quiet = False,
) -> None:
    """Train the attribute classifier on the training partition; report held-out accuracy per attribute.

    Example: facegen attributes train --data data/celeba-sample --out runs/attributes
    """
    from facegen.config import AttributeConfig
    from facegen.data import check_data_path

    cfg = AttributeConfig(data=str(data), **_given(preset=preset, resolution=resolution, steps=steps,
                                                   batch_size=batch_size, seed=seed, mixed_precision=mixed_precision))
    check_data_path(data)
    with exclusive(out):
        _tensorflow()
        from facegen.training.attributes import train_attributes

        report = train_attributes(out, cfg, progress=not quiet)
    for line in report.lines():
        typer.echo(line)


def parse_balance(text: str) -> tuple[tuple[str, float], ...]:
    """"Male=0.5,Eyeglasses=0.3" -> (("Male", 0.5), ("Eyeglasses", 0.3)); a one-line error otherwise."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            out.append((name.strip(), float(value)))
        except ValueError:
            raise FacegenError(f"--balance takes NAME=SHARE pairs like Male=0.5,Eyeglasses=0.3, got {part!r}") from None
    return tuple(out)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and a non-zero exit, never a traceback."""
    # Our own messages only: TensorFlow's Python loggers stay at their defaults. Set for this call and put back
    # afterwards, so a program (or a test) that calls main() keeps its own logging.
    handler = logging.StreamHandler()
    handler.setFormatter(_Format())
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=sys.argv[1:] if argv is None else argv, prog_name="facegen", standalone_mode=False)
    except FacegenError as e:
        _fail(str(e), e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except Exception as e:
        # Bad flags: click's UsageError family (typer vendors its own click, so match by behaviour).
        if callable(getattr(e, "format_message", None)):
            _fail(e.format_message().replace("\n", " "), getattr(e, "exit_code", 2))
        raise
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]
    sys.exit(rc if isinstance(rc, int) else 0)


class _Format(logging.Formatter):
    """`facegen: resuming ...` for news, `facegen: warning: ...` for what a user should look at."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno <= logging.INFO else record.levelname.lower() + ": "
        return f"facegen: {level}{record.getMessage()}"


def _fail(message: str, code: int) -> None:
    print(f"facegen: error: {message}", file=sys.stderr)
    sys.exit(code)
