"""What `facegen train` is asked (TrainRequest) and what it will do (TrainPlan: the GAN's RunConfig and the recipe of
stages), every default applied once, here, without TensorFlow: `--dry-run` prints it, config.json records it, and
Python and the CLI train the same run.

    from facegen.training.request import TrainRequest, plan
    from facegen.training.pipeline import run_plan
    result = run_plan(plan(TrainRequest(data="data/celeba-sample", out="runs/quickstart", steps=800)))
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from facegen import hardware
from facegen.config import DataConfig, EmbedderConfig, FacegenError, RunConfig, TrainConfig, at_least, preset
from facegen.data.sources import check_data_path
from facegen.run import CONFIG_FILE, read_folder_config, read_run_config, resolve_config
from facegen.training.pipeline import Recipe
from facegen.training.pipeline import plan as recipe_for


@dataclass(frozen=True)
class TrainRequest:
    """What a user asks for. Every field but the two folders defaults to None: "the default" (the config records',
    the preset's recipe, or an existing run's own), applied by `plan`."""

    data: str | Path  # CelebA, its img_align_celeba/, or any folder of faces
    out: str | Path  # the run folder (an existing run is resumed)
    preset: str | None = None  # paper, small, tiny [small]
    resolution: int | None = None  # [64]
    mode: str | None = None  # identity or plain [identity on identity-labelled data, else plain; a run's own]
    identity_dim: int | None = None  # identity mode: latent entries that are z_id [50]
    steps: int | None = None  # the GAN's [the recipe's in identity mode, TrainConfig's plain; a run's own]
    epochs: int | None = None  # instead of steps
    batch_size: int | None = None
    seed: int | None = None
    checkpoint_every: int | None = None
    sample_every: int | None = None
    keep: int | None = None  # checkpoints kept
    partition: str | None = None
    cache: bool | None = None
    strategy: str | None = None
    sync_bn: bool | None = None
    mixed_precision: str | None = None
    xla: bool | None = None
    learning_rate: float | None = None
    d_learning_rate: float | None = None
    eval_every: int | None = None
    eval_n: int | None = None
    identity_loss: float | None = None  # [1 with the run's embedder in identity mode, else 0; a run's own]
    identity_embedder: str | Path | None = None  # an embedder folder instead of training RUN/embedder
    novel_share: float | None = None  # embedding mode: share of G's batch drawn from the identity space [0.5; a run's]
    identity_uniformity: float | None = None  # the uniformity term's weight in the identity loss [0; a run's]
    embedder_data: str | Path | None = None  # identity-labelled faces RUN/embedder and RUN/judge learn from [data]
    embedder_steps: int | None = None  # identity mode: the stages' lengths [the preset's]
    attributes_steps: int | None = None
    judge_steps: int | None = None


@dataclass(frozen=True)
class TrainPlan:
    """What `train` will do: the GAN's config (precision concrete), the stages around it, what it says first."""

    out: str
    config: RunConfig
    recipe: Recipe
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        def stage(cfg):
            return None if cfg is None else dataclasses.asdict(cfg)

        r = self.recipe
        return {"out": self.out, "stages": r.stages, "config": self.config.to_dict(),
                "embedder": stage(r.embedder), "judge": stage(r.judge), "attributes": stage(r.attributes),
                "capacity_candidates": r.capacity_candidates, "notes": list(self.notes)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


_DATA = ("resolution", "cache", "partition")
_TRAIN = ("batch_size", "seed", "checkpoint_every", "sample_every", "strategy", "sync_bn", "xla", "learning_rate",
          "d_learning_rate", "eval_every", "eval_n")


def plan(request: TrainRequest) -> TrainPlan:
    """Apply every default of `request` once; one-line errors naming the flag before anything trains."""
    r = request
    if r.steps is not None and r.epochs is not None:
        raise FacegenError("give --steps or --epochs, not both")
    if r.epochs is not None:
        at_least(r.epochs, 1, "--epochs")  # the record's 0 means "use --steps"; a user's 0 is a mistake
    for value, flag, low in ((r.embedder_steps, "--embedder-steps", 1), (r.attributes_steps, "--attributes-steps", 0),
                             (r.judge_steps, "--judge-steps", 0)):
        if value is not None:
            at_least(value, low, flag)
    name = r.preset or TrainConfig.preset
    resolution = r.resolution or DataConfig.resolution
    out = Path(r.out)

    def config(mode: str, steps: int, loss: float, loss_embedder: str, precision: str, novel: float,
               uniformity: float) -> RunConfig:
        given = {k: getattr(r, k) for k in _TRAIN if getattr(r, k) is not None}
        if r.keep is not None:
            given["keep_checkpoints"] = r.keep
        data = {k: getattr(r, k) for k in _DATA if getattr(r, k) is not None}
        if mode == "embedding":  # z_id is an embedding of the identity loss's embedder: its size
            if r.identity_dim is not None:
                raise FacegenError("--identity-dim is the identity mode's; embedding mode's z_id has the embedder's "
                                   "size")
            dim = (EmbedderConfig.from_dict(read_folder_config(Path(loss_embedder), "embedder", "embedder"))
                   if loss_embedder and Path(loss_embedder, CONFIG_FILE).exists() else EmbedderConfig()).embedding_dim
            model = preset(name, resolution, mode, dim)
        else:
            model = preset(name, resolution, mode, *(() if r.identity_dim is None else (r.identity_dim,)))
        return RunConfig(model=model, data=DataConfig(path=str(r.data), **{**data, "resolution": resolution}),
                         train=TrainConfig(preset=name, steps=steps, epochs=r.epochs or 0, mixed_precision=precision,
                                           identity_loss=loss, identity_embedder=loss_embedder, novel_share=novel,
                                           identity_uniformity=uniformity, **given))

    # The config records check every value first (mode and loss as far as the request says); what they cannot
    # know (paths, the data's labels, an existing run) is checked next.
    requested = r.mixed_precision or TrainConfig.mixed_precision
    mode = r.mode or ("embedding" if r.novel_share else "identity")
    loss = (r.identity_loss if r.identity_loss is not None
            else 1.0 if r.identity_embedder or mode == "embedding" else 0.0)
    # Where the request leaves the loss to the recipe (identity mode turns it on with the run's embedder), a
    # uniformity weight waits for the recipe's loss; a loss the request sets is checked against it now.
    uniformity = r.identity_uniformity or 0.0
    config(mode, 1 if r.steps is None else r.steps, loss,
           str(r.identity_embedder) if r.identity_embedder else "RUN/embedder" if loss else "", requested,
           r.novel_share or 0.0, uniformity if loss or r.identity_loss is not None else 0.0)
    if r.identity_embedder:
        read_folder_config(Path(r.identity_embedder), "embedder", "embedder")
    check_data_path(r.data)
    if r.embedder_data is not None:
        check_data_path(r.embedder_data)
    precision = _precision(out, requested)
    recipe = recipe_for(r.data, out, name, resolution, r.seed or 0, r.mode, r.steps, r.identity_loss,
                        r.identity_embedder, r.embedder_steps, r.attributes_steps, r.judge_steps,
                        r.checkpoint_every or TrainConfig.checkpoint_every, precision, keep_stored=requested == "auto",
                        embedder_data=r.embedder_data, novel_share=r.novel_share,
                        identity_uniformity=r.identity_uniformity)
    cfg = resolve_config(out, config(recipe.mode, recipe.gan_steps, recipe.identity_loss, recipe.identity_embedder,
                                     precision, recipe.novel_share, recipe.identity_uniformity))
    notes = list(recipe.notes)
    if cfg.train.eval_every:
        from facegen.metrics.inception import require_weights

        require_weights()
    return TrainPlan(str(out), cfg, recipe, tuple(notes))


def _precision(out: Path, requested: str) -> str:
    """`auto`: the policy an existing run trains with, else the hardware's (facegen.hardware)."""
    stored = read_run_config(out).train.mixed_precision if (out / CONFIG_FILE).exists() else None
    return hardware.resolve(requested, "train", stored)
