"""Frozen configuration records (model, data, training) and the named model presets, to/from JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESOLUTIONS = (32, 64, 128)
FORMATS = {"png": "png", "jpg": "jpg"}  # --format -> file extension
STRATEGIES = ("auto", "default", "mirrored", "multiworker")  # --strategy names (facegen.distribute)
PRECISIONS = ("auto", "off", "float16", "bfloat16")  # --mixed-precision names; auto: see facegen.hardware
TRUNK_PRECISIONS = ("auto", "off", "bfloat16")  # the embedder's and the attribute classifier's
# --mode names; a run's mode is derived from its model (identity_dim, conditioned). embedding: G conditioned on an
# identity embedding of the run's embedder (facegen.models.identity_space)
MODES = ("plain", "identity", "embedding")
OBSERVATION_DIM = 50  # identity and embedding modes: the latent entries that vary within an identity (z_obs)
PARTITIONS = {"train": 0, "val": 1, "test": 2}  # --partition -> CelebA's list_eval_partition.txt code; or "all"
# --variation's top: plain mode mixes z_id and noise (at most 1 = unrelated); identity mode scales z_obs, where
# above 1 draws observations wider than G trained on, for more within-identity variety (bench/RESULTS.md).
MAX_IDENTITY_VARIATION = 2.0
MAX_IDENTITY_NOISE = 2.0  # --identity-noise's top: twice real photos' scatter around their person
MAX_NUISANCE = 2.0  # --nuisance's top: twice the ranges of facegen.export.nuisance
REFERENCE_IMAGES = 4  # images averaged into an identity's reference (the embedder's report calibrates, the export checks)


class FacegenError(Exception):
    """A user mistake or an unusable input: the CLI prints it as one line and exits non-zero."""

    exit_code = 1


class Interrupted(FacegenError):
    """Ctrl-C during long work, after the work done so far was saved; re-running resumes."""

    exit_code = 130


@dataclass(frozen=True)
class ModelConfig:
    """The DCGAN's shape. Widths halve at every stride-2 layer, as in Radford et al."""

    resolution: int = 64  # output side in pixels; 32, 64 or 128
    latent_dim: int = 100  # z size (the article's 100)
    top_width: int = 1024  # channels of G's 4x4 map and of D's last conv (the article's 1024)
    kernel_size: int = 5  # 5x5 kernels in every (transposed) conv, as in the article
    leaky_slope: float = 0.2  # D's LeakyReLU slope
    identity_dim: int = 0  # identity mode (SD-GAN): the first identity_dim latent entries are z_id; 0 = plain
    # embedding mode: z_id is sqrt(identity_dim) times a unit identity embedding of the run's embedder (its
    # embedding_dim), drawn from the identity space (facegen.models.identity_space), not a Gaussian
    conditioned: bool = False

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise FacegenError(f"--resolution must be 32, 64 or 128, got {self.resolution}")
        if not 0 <= self.identity_dim < self.latent_dim:
            raise FacegenError(f"--identity-dim must be between 1 and {self.latent_dim - 1}, got {self.identity_dim}")
        if self.conditioned and not self.identity_dim:
            raise FacegenError("an embedding-mode model needs identity_dim (its embedder's embedding size)")
        if self.top_width < 2 ** (self.n_upsamples - 1):
            raise FacegenError(f"top_width {self.top_width} is too narrow to halve {self.n_upsamples - 1} times")

    @property
    def n_upsamples(self) -> int:
        """Stride-2 layers between the 4x4 map and the image."""
        return self.resolution.bit_length() - 1 - 2

    @property
    def generator_widths(self) -> tuple[int, ...]:
        """Channels of G's feature maps from 4x4 up to the last hidden map (the image has 3)."""
        return tuple(self.top_width >> i for i in range(self.n_upsamples))

    @property
    def discriminator_widths(self) -> tuple[int, ...]:
        """Channels of D's convs, from the image side to the 4x4 map: G's widths reversed."""
        return tuple(reversed(self.generator_widths))


# Same shape as the article, fewer filters: `small` is widths / 8, `tiny` widths / 16 for tests.
PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(top_width=1024),
    "small": ModelConfig(top_width=128),
    "tiny": ModelConfig(top_width=64),
}


def preset(name: str, resolution: int = 64, mode: str = "plain", identity_dim: int = 50) -> ModelConfig:
    """A named preset at the given resolution; identity mode gives the first `identity_dim` latents to z_id;
    embedding mode's z_id is an `identity_dim`-sized identity embedding (the embedder's), beside OBSERVATION_DIM
    entries of z_obs."""
    if name not in PRESETS:
        raise FacegenError(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")
    _one_of(mode, MODES, "--mode")
    if mode == "plain":
        return dataclasses.replace(PRESETS[name], resolution=resolution, identity_dim=0)
    at_least(identity_dim, 1, "--identity-dim")
    if mode == "embedding":
        return dataclasses.replace(PRESETS[name], resolution=resolution, identity_dim=identity_dim,
                                   latent_dim=identity_dim + OBSERVATION_DIM, conditioned=True)
    return dataclasses.replace(PRESETS[name], resolution=resolution, identity_dim=identity_dim)


def at_least(value: int, minimum: int, flag: str) -> None:
    """The one check behind every "FLAG must be at least N" message."""
    if value < minimum:
        raise FacegenError(f"{flag} must be at least {minimum}, got {value}")


def _one_of(value: str, allowed: tuple[str, ...], flag: str) -> None:
    if value not in allowed:
        raise FacegenError(f"{flag} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class DataConfig:
    """Where the training images come from and how they are cropped."""

    path: str = ""  # a CelebA root, its img_align_celeba/ folder, or any folder of images
    resolution: int = 64  # side of the square training images
    crop: int = 0  # centre crop side before resizing; 0 = 108 for CelebA, the short side otherwise
    cache: bool = True  # decode every image once into memory (uint8, res*res*3 bytes per image)
    partition: str = "train"  # CelebA split to train on: train, val, test or all
    decode_workers: int = 0  # decoding threads; 0 = one per CPU core

    def __post_init__(self) -> None:
        # Any size reads (evaluation and recognizers read at theirs); a run's model allows only RESOLUTIONS.
        at_least(self.resolution, 8, "--resolution")
        _one_of(self.partition, (*PARTITIONS, "all"), "--partition")
        at_least(self.crop, 0, "crop")
        at_least(self.decode_workers, 0, "decode_workers")


# The article's Adam step, for every preset. `paper` swings hard in its first ~150 steps at this step (D's
# loss near 0, G's in the tens, one blurred face in every cell) and comes out of it with faces that depend on
# z; at 1/8 of it (a muP-style width scaling tried before) it trains smoothly but never leaves one z-independent
# texture (bench/RESULTS.md, "The article's model").
ARTICLE_LEARNING_RATE = 2e-4


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation recipe; the article's values are the defaults."""

    preset: str = "small"  # the model preset recorded for humans; the model config is authoritative
    batch_size: int = 64  # the article's minibatch size
    steps: int = 5000  # total generator updates (re-running with more steps resumes and extends)
    epochs: int = 0  # if > 0, replaces steps: epochs * (training images // batch_size)
    seed: int = 0  # seeds weights, latents and data order
    learning_rate: float = ARTICLE_LEARNING_RATE  # Adam's step size (the article's 2e-4)
    # D's own Adam step (two time-scale updates, Heusel et al. 2017); None = learning_rate, as in the article
    d_learning_rate: float | None = None
    beta_1: float = 0.5  # the article lowers Adam's beta_1 from 0.9 for stability
    ema_decay: float = 0.999  # moving average of G's weights, used for samples and export
    checkpoint_every: int = 500  # steps between checkpoints
    keep_checkpoints: int = 3  # CheckpointManager max_to_keep
    sample_every: int = 500  # steps between sample grids (PNG + TensorBoard)
    log_every: int = 25  # steps between scalar summaries and the NaN check
    deterministic: bool = True  # tf op determinism: same seed, same weights (CPU)
    strategy: str = "auto"  # tf.distribute: auto, default, mirrored, multiworker (may change on resume)
    sync_bn: bool = False  # synchronise BN batch statistics across replicas (distributed = one device)
    # auto (resolved once, then stored: see facegen.hardware), off (float32), float16 (loss-scaled), bfloat16
    mixed_precision: str = "auto"
    xla: bool = False  # jit_compile the step: for GPUs; slower on the CPUs measured (bench/RESULTS.md)
    eval_every: int = 0  # steps between FID/KID evaluations (0 = off); the best-FID checkpoint is kept
    eval_n: int = 500  # generated images per evaluation (FID is biased upwards at small n: compare like with like)
    # Identity mode: weight of a frozen embedder's contrastive term on G (pairs sharing z_id together, the
    # batch's other identities apart: facegen.training.gan.identity_contrast_loss); 0 = off.
    identity_loss: float = 0.0
    identity_embedder: str = ""  # the embedder folder behind --identity-loss (trained on the same identities)
    # Embedding mode: share of each batch G renders from new people drawn from its identity space (what its exports
    # ask of it) instead of training photos' embeddings; 0 = training photos only.
    novel_share: float = 0.0
    # Weight of the uniformity term (Wang & Isola 2020) on the identity loss's embeddings of the batch's people: G's
    # people spread over the embedder's sphere as real people's do, not round a shared face; 0 = off.
    identity_uniformity: float = 0.0

    def __post_init__(self) -> None:
        if self.d_learning_rate is None:
            object.__setattr__(self, "d_learning_rate", self.learning_rate)
        for name in ("learning_rate", "d_learning_rate"):
            if not 0 < getattr(self, name) < 1:
                raise FacegenError(f"--{name.replace('_', '-')} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("batch_size", "steps", "checkpoint_every", "keep_checkpoints", "sample_every", "log_every",
                     "eval_n"):
            at_least(getattr(self, name), 1, _FLAGS.get(name, "--" + name.replace("_", "-")))
        at_least(self.epochs, 0, "--epochs")
        at_least(self.eval_every, 0, "--eval-every")
        at_least(self.identity_loss, 0, "--identity-loss")
        at_least(self.identity_uniformity, 0, "--identity-uniformity")
        if not 0 <= self.novel_share < 1:
            raise FacegenError(f"--novel-share must be at least 0 and below 1, got {self.novel_share}")
        if self.identity_loss and not self.identity_embedder:
            raise FacegenError("--identity-loss needs --identity-embedder (a folder from `facegen embedder train`)")
        if self.identity_embedder and not self.identity_loss:
            # Refused rather than recorded unused: the run's config would name an embedder that shaped nothing.
            raise FacegenError("--identity-embedder is only used with --identity-loss W (W > 0)")
        if self.identity_uniformity and not self.identity_loss:
            raise FacegenError("--identity-uniformity needs the identity loss (--identity-loss W > 0): it spreads "
                               "that loss's embeddings")
        _one_of(self.preset, tuple(PRESETS), "--preset")
        _one_of(self.strategy, STRATEGIES, "--strategy")
        _one_of(self.mixed_precision, PRECISIONS, "--mixed-precision")


_FLAGS = {"keep_checkpoints": "--keep"}  # TrainConfig fields whose flag is not the field's name


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run; stored as the run folder's config.json."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.model.resolution != self.data.resolution:
            raise FacegenError(f"the model makes {self.model.resolution}px images but the data is read at "
                               f"{self.data.resolution}px; give both the same --resolution")
        if self.train.identity_loss and not self.model.identity_dim:
            raise FacegenError("--identity-loss needs --mode identity (it pulls images that share z_id together)")
        if self.model.conditioned and not self.train.identity_loss:
            raise FacegenError("--mode embedding needs its embedder and the identity loss (--identity-loss W > 0): "
                               "the embedder's space is what G is conditioned on")
        if self.train.novel_share and not self.model.conditioned:
            raise FacegenError("--novel-share needs --mode embedding (it draws new people from the identity space)")

    @property
    def mode(self) -> str:
        """plain DCGAN, identity (SD-GAN) or embedding (conditioned on an identity embedding): decided by the
        model, never stored apart."""
        return "embedding" if self.model.conditioned else "identity" if self.model.identity_dim else "plain"

    def to_dict(self) -> dict[str, Any]:
        # "mode" is written for people reading config.json; from_dict derives it again.
        return {"mode": self.mode, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return cls(model=ModelConfig(**d["model"]), data=DataConfig(**d["data"]), train=TrainConfig(**d["train"]))


@dataclass(frozen=True)
class ExportConfig:
    """What to export. Fields marked (bytes) decide the files' contents; the others only speed."""

    identities: int  # (bytes) K identity folders
    per_identity: int  # (bytes) M images per identity
    seed: int = 0  # (bytes) keys every latent, with identity and index
    variation: float | None = None  # (bytes) how far an image moves from its identity, 0..1; None = the mode's default
    # (bytes) embedding mode: how much of real photos' scatter around their person each image's identity embedding
    # gets (0 = every image rendered from its person's point, 1 = as much as a real photo's); None = the default
    identity_noise: float | None = None
    # (bytes) tilt, alignment and lighting moved per image, as a share of their full ranges
    # (facegen.export.nuisance); None = the default
    nuisance: float | None = None
    format: str = "png"  # (bytes) png or jpg
    quality: int = 95  # (bytes) JPEG quality
    size: int = 0  # (bytes) output side in pixels; 0 = the model's resolution
    block: int = 64  # (bytes) images per generator call, fixed by global index (see identities.py)
    min_realism: float = 0.0  # (bytes) drop images whose D score is below this and draw replacements
    max_attempts: int = 8  # (bytes) replacement draws per image before keeping its best-scoring draw
    realism: bool = False  # (bytes) score every image with D for the manifest (implied by min_realism > 0)
    precision: str = "auto"  # (bytes) auto, off or bfloat16: G's (and D's) compute dtype; auto: facegen.hardware
    embedder: str = ""  # (bytes) an embedder folder: verified identities (facegen.export.verify); "" = off
    # (bytes) the embedder's limits; None = the values calibrated in its report (facegen.training.embedder)
    min_consistency: float | None = None  # an image's cosine to its identity's reference, else redrawn
    max_similarity: float | None = None  # an identity's reference cosine to any accepted identity's, else rejected
    max_leakage: float | None = None  # an identity's reference cosine to any training identity's mean, else rejected
    max_candidates: int = 10  # (bytes) identity candidates drawn per requested identity before giving up
    attributes: str = ""  # (bytes) an attribute classifier folder: attribute columns in the manifest; "" = off
    balance: tuple[tuple[str, float], ...] = ()  # (bytes) identity-attribute shares to hit, e.g. (("Male", 0.5),)
    # (bytes) with --balance, an identity counts for or against a balanced attribute only when its reference
    # probability is at least this or at most 1 - this; candidates in between are rejected (facegen.export.verify)
    balance_confidence: float = 0.8
    shard: tuple[int, int] = (0, 1)  # (bytes) this machine's slice i of n
    # Images per generator dispatch, rounded up to whole blocks. Each consistency-redraw round renders whole
    # blocks, so a dispatch of 16 blocks packs a round's redraws into far fewer blocks per image than one of 4.
    batch_size: int = 1024
    workers: int = 0  # encoding/writing threads; 0 = one per CPU core
    strategy: str = "auto"  # auto (mirrored over several local GPUs, else default), default or mirrored

    def __post_init__(self) -> None:
        at_least(self.identities, 1, "--identities")
        at_least(self.per_identity, 1, "--per-identity")
        if self.variation is not None and not 0.0 <= self.variation <= MAX_IDENTITY_VARIATION:
            raise FacegenError(f"--variation must be between 0 and 1 (up to {MAX_IDENTITY_VARIATION:g} for an "
                               f"identity-mode checkpoint), got {self.variation}")
        if self.identity_noise is not None and not 0.0 <= self.identity_noise <= MAX_IDENTITY_NOISE:
            raise FacegenError(f"--identity-noise must be between 0 and {MAX_IDENTITY_NOISE:g}, "
                               f"got {self.identity_noise}")
        if self.nuisance is not None and not 0.0 <= self.nuisance <= MAX_NUISANCE:
            raise FacegenError(f"--nuisance must be between 0 and {MAX_NUISANCE:g}, got {self.nuisance}")
        at_least(self.workers, 0, "--workers")
        at_least(self.block, 1, "block")
        i, n = self.shard
        if n < 1 or not 0 <= i < n:
            raise FacegenError(f"--shard {i}/{n}: need 0 <= i < n")
        if self.format not in FORMATS:
            raise FacegenError(f"--format must be png or jpg, got {self.format!r}")
        if not 1 <= self.quality <= 100:
            raise FacegenError(f"--quality must be between 1 and 100, got {self.quality}")
        if self.size < 0 or (0 < self.size < 8):
            raise FacegenError(f"--size must be 0 (the model's) or at least 8, got {self.size}")
        at_least(self.batch_size, 1, "--batch-size")
        _one_of(self.precision, ("auto", "off", "bfloat16"), "--mixed-precision")
        at_least(self.max_candidates, 1, "--max-candidates")
        for name in ("min_consistency", "max_similarity", "max_leakage"):
            value = getattr(self, name)
            if value is not None and not -1.0 <= value <= 1.0:
                raise FacegenError(f"--{name.replace('_', '-')} is a cosine similarity in [-1, 1], got {value}")
            if value is not None and not self.embedder:
                raise FacegenError(f"--{name.replace('_', '-')} needs --embedder")
        if not 0.0 <= self.min_realism < 1.0:
            raise FacegenError(f"--min-realism must be in [0, 1), got {self.min_realism}")
        if self.balance and not self.attributes:
            raise FacegenError("--balance needs --attributes (the classifier that decides each identity's values)")
        for name, share in self.balance:
            if not 0.0 <= share <= 1.0:
                raise FacegenError(f"--balance {name}={share}: a share is between 0 and 1")
        if not 0.5 <= self.balance_confidence < 1.0:
            raise FacegenError(f"--balance-confidence is a probability in [0.5, 1), got {self.balance_confidence}")
        at_least(self.max_attempts, 1, "--max-attempts")
        if self.strategy not in ("auto", "default", "mirrored"):
            raise FacegenError(f"export --strategy must be auto, default or mirrored (use --shard across "
                               f"machines), got {self.strategy!r}")

    @property
    def blocks_per_call(self) -> int:
        """Whole blocks per generator dispatch: --batch-size rounded up (blocks fix the bytes, see identities)."""
        return math.ceil(self.batch_size / self.block)

    @property
    def scores_realism(self) -> bool:
        """D runs only when its score is used: the filter, or the manifest column asked for."""
        return self.realism or self.min_realism > 0

    def settings(self) -> dict:
        """The fields that decide the bytes: equal settings mean a folder can be resumed."""
        d = dataclasses.asdict(self)
        for speed_only in ("batch_size", "workers", "strategy"):
            d.pop(speed_only)
        d["shard"] = list(self.shard)
        d["balance"] = [list(b) for b in self.balance]
        d["realism"] = self.scores_realism
        # Features that are off leave no trace, so an export made before they existed still reads as the same
        # export (a re-run is a no-op, an interrupted one resumes): float32, no embedder, no attributes.
        if not self.embedder:
            for key in ("embedder", "min_consistency", "max_similarity", "max_leakage", "max_candidates"):
                d.pop(key)
        if not self.balance:
            d.pop("balance_confidence")
        if not self.identity_noise:
            d.pop("identity_noise")
        if not self.nuisance:
            d.pop("nuisance")
        if not self.attributes:
            d.pop("attributes")
            d.pop("balance")
        if self.precision == "off":
            d.pop("precision")
        return d


@dataclass(frozen=True)
class MixConfig:
    """What to combine; every field decides the bytes."""

    real: str | None  # real faces with identity labels (CelebA or identity folders); None = synthetic only
    synth: tuple[str, ...] = ()  # finished facegen exports; () = a prepared real set alone
    real_identities: int | None = None  # how many real identities; None = all of the partition's, 0 = none
    synth_identities: int | None = None  # how many identities of each export; None = all, 0 = none
    seed: int = 0  # which identities are taken when fewer than all
    partition: str = "train"  # CelebA split the real identities come from (val/test stay held out)
    link: bool = True  # hard-link synthetic files where the file system allows (copied otherwise)
    size: int = 0  # image side; 0 = the exports' (required without --synth)
    format: str = ""  # png or jpg; "" = the exports' (png without --synth)
    # Identity folders: leave out every n-th identity, the ones `facegen embedder train` and `facegen data pairs`
    # hold out (0: take all). CelebA's --partition already keeps val and test out.
    held_out_every: int = 0

    def __post_init__(self) -> None:
        for value, flag in ((self.real_identities, "--real-identities"), (self.synth_identities, "--synth-identities")):
            if value is not None:
                at_least(value, 0, flag)
        _one_of(self.partition, (*PARTITIONS, "all"), "--partition")
        if self.format:
            _one_of(self.format, FORMATS, "--format")
        if self.size and self.size < 8:
            raise FacegenError(f"--size must be at least 8, got {self.size}")
        if self.takes_real and self.real is None:
            raise FacegenError("give --real, or --real-identities 0 for a synthetic-only set")
        if not self.synth and not self.size:
            raise FacegenError("without --synth, give --size for the real images")
        if not self.synth and not self.takes_real:
            raise FacegenError("nothing to mix: give --synth, or real identities")

    @property
    def takes_real(self) -> bool:
        return self.real_identities != 0

    def settings(self, size: int, fmt: str) -> dict:
        d = dataclasses.asdict(self)
        d.update(real=os.path.abspath(self.real) if self.takes_real else None,
                 synth=[os.path.abspath(s) for s in self.synth], size=size, format=fmt)
        if not self.held_out_every:  # off leaves no trace: a mix made before the field existed resumes
            d.pop("held_out_every")
        return d


EMBEDDER_PRESETS = {  # residual stage widths (one stride-2 stage each, `blocks` residual blocks per stage)
    "tiny": (16, 32, 64),  # tests: seconds on a CPU
    "small": (32, 64, 128, 256),  # the sample data on a CPU: minutes
    "large": (64, 128, 256, 512),  # CelebA on a GPU (ResNet-18 widths)
}


@dataclass(frozen=True)
class TrunkConfig:
    """What the embedder and the attribute classifier share: their data, the residual trunk, the optimiser."""

    data: str = ""  # the labelled faces (identities for the embedder, attributes for the classifier)
    preset: str = "small"  # trunk widths: EMBEDDER_PRESETS
    resolution: int = 64  # faces are read (and exported faces resized) to this side
    blocks: int = 1  # residual blocks per stage
    steps: int = 3000
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 5e-4
    seed: int = 0
    checkpoint_every: int = 500
    # As the GAN's, less float16 (it would need loss scaling): auto is resolved once (bfloat16 where native,
    # facegen.hardware) and the concrete policy stored; variables, optimizer and loss stay float32 either way.
    mixed_precision: str = "auto"

    def __post_init__(self) -> None:
        _one_of(self.preset, tuple(EMBEDDER_PRESETS), "--preset")
        _one_of(self.mixed_precision, TRUNK_PRECISIONS, "--mixed-precision")
        at_least(self.resolution, 16, "--resolution")
        for name in ("blocks", "steps", "batch_size", "checkpoint_every"):
            at_least(getattr(self, name), 1, "--" + name.replace("_", "-"))

    @property
    def widths(self) -> tuple[int, ...]:
        return EMBEDDER_PRESETS[self.preset]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        # A folder written before trunks had a policy trained in float32.
        d = {"mixed_precision": "off", **d}
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


@dataclass(frozen=True)
class EmbedderConfig(TrunkConfig):
    """A face-recognition embedder: residual CNN, L2-normalised embedding, CosFace margin head."""

    embedding_dim: int = 128
    margin: float = 0.35  # CosFace additive cosine margin m
    scale: float = 30.0  # CosFace logit scale s
    # Identity folders without CelebA partitions: every n-th identity is held out for the report and the export
    # limits. 0: train on every identity with no report (a benchmark arm, verified on pairs from elsewhere).
    held_out_every: int = 10
    # 0: batches as the images fall. Else (data made by `facegen mix`) this share of every batch comes from its
    # real identities and the rest from its synthetic ones, whatever their sizes.
    real_share: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self.embedding_dim, 1, "--embedding-dim")
        if self.held_out_every != 0:
            at_least(self.held_out_every, 2, "held_out_every")
        if not 0.0 <= self.real_share < 1.0:
            raise FacegenError(f"--real-share must be in [0, 1), got {self.real_share}")
        if not 0.0 <= self.margin < 1.0:
            raise FacegenError(f"--margin must be in [0, 1), got {self.margin}")


@dataclass(frozen=True)
class AttributeConfig(TrunkConfig):
    """A face attribute classifier: the embedder's residual trunk with one sigmoid output per attribute."""

    steps: int = 2000


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FacegenError(f"{path} does not exist") from None
    except json.JSONDecodeError as e:
        raise FacegenError(f"{path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError as e:
        raise FacegenError(f"{path} is not valid JSON ({e.reason})") from None
