"""What `facegen export` is asked (ExportRequest) and what it will do (ExportPlan): every default applied once, here,
without TensorFlow, so `--dry-run` prints the settings an export will use and the CLI and Python make one dataset.

    request = ExportRequest(checkpoint="runs/quickstart", out="synth", count=2000)
    export_plan = plan(request)         # the run's embedder, classifier and judge, precision, variation, limits
    print(export_plan.to_json())        # what `facegen export ... --dry-run` prints
    result = facegen.export.export(request)   # the same dataset `facegen export` writes
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from facegen import hardware
from facegen.config import REFERENCE_IMAGES, ExportConfig, FacegenError, read_json
from facegen.export.identities import DEFAULT_IDENTITY_NOISE, Draw, default_draw, resolve_counts
from facegen.export.manifest import check_out_folder, stored_settings
from facegen.models.identity_space import stores_scatter
from facegen.run import CAPACITY_FILE, EMBEDDER_KINDS, STAGE_REPORT, read_folder_config, read_run_config, run_parts

JUDGED_IDENTITIES = 200  # the export's first identities its judge looks at once the whole export exists
# ExportConfig's fields a request may set; the rest (identities, per_identity) come from the counts.
_PASSED = tuple(f.name for f in dataclasses.fields(ExportConfig) if f.name not in ("identities", "per_identity"))


@dataclass(frozen=True)
class ExportRequest:
    """What a user asks for. Every field but the two folders defaults to None: "the default", which `plan` applies
    (ExportConfig's own, or the run's: its embedder verifies, its classifier labels, its judge judges)."""

    checkpoint: str | Path  # a trained run folder
    out: str | Path  # the dataset folder (an interrupted export there is resumed)
    count: int | None = None  # total images; with neither of the next two, 20 per identity
    identities: int | None = None
    per_identity: int | None = None
    verify: bool | None = None  # None = True: verify identities with `embedder` (the run's RUN/embedder)
    label_attributes: bool | None = None  # None = True: label attributes with `attributes` (the run's)
    judge: str | Path | None = None  # the judge embedder [default: the run's RUN/judge]; "" = do not judge
    overwrite: bool = False  # replace whatever `out` holds
    command: str = ""  # the command line, for the record
    # ExportConfig's fields, None = its default (see facegen.config.ExportConfig for each).
    seed: int | None = None
    variation: float | None = None
    identity_noise: float | None = None
    nuisance: float | None = None
    format: str | None = None
    quality: int | None = None
    size: int | None = None
    block: int | None = None
    min_realism: float | None = None
    max_attempts: int | None = None
    realism: bool | None = None
    precision: str | None = None
    embedder: str | Path | None = None
    min_consistency: float | None = None
    max_similarity: float | None = None
    max_leakage: float | None = None
    max_candidates: int | None = None
    attributes: str | Path | None = None
    balance: tuple[tuple[str, float], ...] | None = None
    balance_confidence: float | None = None
    shard: tuple[int, int] | None = None
    batch_size: int | None = None
    workers: int | None = None
    strategy: str | None = None


@dataclass(frozen=True)
class ExportPlan:
    """What an export will do, every default applied: the config the renderer reads (concrete precision, variation
    and limits, absolute model paths), the judge, the run's capacity record and what the command says first."""

    checkpoint: str
    out: str
    config: ExportConfig
    judge: str  # the judge embedder's folder; "" = none
    judged_identities: int  # the first identities the judge looks at once the whole export exists; 0 = none
    overwrite: bool
    command: str
    run_mode: str  # the run's mode: plain or identity
    capacity: dict | None  # RUN/capacity.json, where it was measured with this embedder at these limits
    notes: tuple[str, ...] = ()  # what the command says before it starts
    # --count alone, verified, at limits no capacity record was measured at: the pipeline measures the capacity of
    # this export's own candidates first and fits the count to it (`fitted`)
    fit_at_start: bool = False

    @property
    def judges_now(self) -> bool:
        """A single export judges itself; shards leave it to `facegen merge`, which sees every identity."""
        return bool(self.judged_identities) and self.config.shard == (0, 1)

    def judge_record(self) -> dict:
        """export.json's `judge` section: what judges the whole export, here or after the merge."""
        return {"embedder": self.judge, "identities": self.judged_identities} if self.judged_identities else {}

    def to_dict(self) -> dict:
        config = dataclasses.asdict(self.config)
        config["shard"], config["balance"] = list(self.config.shard), [list(b) for b in self.config.balance]
        return {"checkpoint": self.checkpoint, "out": self.out, "run_mode": self.run_mode, "config": config,
                "settings": self.config.settings(), "judge": self.judge_record(), "capacity": self.capacity,
                "overwrite": self.overwrite, "notes": list(self.notes), "fit_at_start": self.fit_at_start}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def plan(request: ExportRequest) -> ExportPlan:
    """Apply every default of `request` once; one-line errors for whatever is wrong with it, before any model
    loads. No TensorFlow."""
    r = request
    k, m = resolve_counts(r.count, r.identities, r.per_identity)
    verify = r.verify is not False
    if r.embedder is not None and not verify:
        raise FacegenError("give --embedder or --no-verify, not both")
    label = r.label_attributes is not False
    if r.attributes is not None and not label:
        raise FacegenError("give --attributes or --no-attributes, not both")
    given = {name: getattr(r, name) for name in _PASSED if getattr(r, name) is not None}
    # The values first, as far as the request says (the run's embedder may still stand behind the limits); then
    # the folders.
    ExportConfig(identities=k, per_identity=m, **{**given, "embedder": str(r.embedder or "RUN/embedder" * verify),
                                                  "attributes": str(r.attributes or "RUN/attributes" * label)})
    run = read_run_config(r.checkpoint)
    parts = run_parts(r.checkpoint)
    embedder = r.embedder if r.embedder is not None else parts.embedder if verify else None
    attributes = r.attributes if r.attributes is not None else parts.attributes if label else None
    judge = parts.judge if r.judge is None else r.judge or None
    for folder, kind, what in ((embedder, EMBEDDER_KINDS, "embedder"), (attributes, "attributes", "attribute classifier"),
                               (judge, EMBEDDER_KINDS, "judge embedder")):
        if folder:
            read_folder_config(Path(folder), kind, what)
    given.update(embedder=os.path.abspath(embedder) if embedder else "",
                 attributes=os.path.abspath(attributes) if attributes else "")
    cfg = ExportConfig(identities=k, per_identity=m, **given)  # checks every value
    out = Path(r.out)
    check_out_folder(out, r.overwrite)
    cfg = resolve_config(cfg, out, r.overwrite, run.model.identity_dim, run.model.conditioned,
                         stores_scatter(r.checkpoint))
    notes = []
    capacity = run_capacity(Path(r.checkpoint), cfg)
    count_alone = r.identities is None and r.per_identity is None
    fit_at_start = count_alone and bool(cfg.embedder) and not cfg.balance and capacity is None
    if count_alone and capacity:
        cfg, note = _fit_count(cfg, capacity)
        k, m = cfg.identities, cfg.per_identity
        notes += [note] if note else []
    if fit_at_start:
        notes.append(f"no identity capacity recorded for {cfg.embedder} at --max-similarity {cfg.max_similarity:g} "
                     f"--max-leakage {cfg.max_leakage:g}: measuring it on the first {fit_candidates(cfg):,} candidates "
                     "to fit --count to it")
    if cfg.blocks_per_call * cfg.block != cfg.batch_size:
        notes.append(f"--batch-size {cfg.batch_size} rounded up to {cfg.blocks_per_call * cfg.block} (whole "
                     f"{cfg.block}-image blocks)")
    if not cfg.embedder and verify and run.mode == "identity":
        notes.append(f"{r.checkpoint} has no embedder: exporting unverified identities (latent neighbourhoods); "
                     f"`facegen train --data D --out {r.checkpoint}` on identity-labelled data trains one (or pass "
                     "--embedder)")
    judged = _judged(judge, k, m)
    return ExportPlan(os.path.abspath(r.checkpoint), str(out), cfg, os.path.abspath(judge) if judged else "",
                      judged, r.overwrite, r.command, run.mode, capacity, tuple(notes), fit_at_start)


def _judged(judge: str | Path | None, identities: int, per_identity: int) -> int:
    # The judge compares each folder's later images with its first REFERENCE_IMAGES: it needs more than those.
    return min(JUDGED_IDENTITIES, identities) if judge and per_identity > REFERENCE_IMAGES else 0


def fitted(export_plan: ExportPlan, capacity: dict) -> tuple[ExportPlan, str]:
    """`export_plan` (fit_at_start) with its --count fitted to `capacity`, measured at its limits on its own
    candidates (facegen.export.render.measure_capacity), and what to say about it ("" when the count fits)."""
    cfg, note = _fit_count(export_plan.config, capacity)
    judged = _judged(export_plan.judge, cfg.identities, cfg.per_identity)
    return dataclasses.replace(export_plan, config=cfg, judged_identities=judged, capacity=capacity,
                               fit_at_start=False), note


def resolve_config(cfg: ExportConfig, out: Path, overwrite: bool, identity_dim: int,
                   conditioned: bool = False, scatter: bool = False) -> ExportConfig:
    """`cfg` with its `auto` and None values made concrete: precision, variation, identity noise, nuisance, the
    embedder's limits. The one place they are decided: `plan`, and the renderer for a config given to it directly,
    call it (a resolved config comes back unchanged). `scatter`: the run's identity space stores real photos'
    scatter."""
    report = embedder_report(cfg.embedder)
    draw, floor = export_draw(report, identity_dim, conditioned)
    return dataclasses.replace(cfg, precision=_precision(cfg, out, overwrite),
                               variation=_variation(cfg, identity_dim, draw),
                               identity_noise=_identity_noise(cfg, conditioned, scatter),
                               nuisance=draw.nuisance if cfg.nuisance is None else cfg.nuisance,
                               **_limits(cfg, report, floor))


def _precision(cfg: ExportConfig, out: Path, overwrite: bool) -> str:
    """auto: what an export already in `out` used (so a resume on this machine continues it), else the hardware's."""
    saved = None if overwrite else stored_settings(out)
    stored = None if saved is None else saved.get("precision", "off")  # no key: a float32 export
    return hardware.resolve(cfg.precision, "export", stored)


def _variation(cfg: ExportConfig, identity_dim: int, draw: Draw) -> float:
    if cfg.variation is None:
        return draw.variation
    if cfg.variation > 1 and not identity_dim:
        raise FacegenError(f"--variation {cfg.variation:g} is above 1, which only an identity-mode checkpoint takes "
                           "(a plain run mixes identity and noise: 1 already makes every image unrelated)")
    return cfg.variation


def _identity_noise(cfg: ExportConfig, conditioned: bool, scatter: bool) -> float:
    if cfg.identity_noise is None:
        return DEFAULT_IDENTITY_NOISE if conditioned and scatter else 0.0
    if cfg.identity_noise and not conditioned:
        raise FacegenError("--identity-noise moves an embedding-mode model's identity embedding; this checkpoint is "
                           "not one (--variation sets its images' variety)")
    if cfg.identity_noise and not scatter:
        raise FacegenError("--identity-noise needs the run's identity space to hold real photos' scatter, which "
                           "runs trained before facegen stored it lack; train the run again to use it")
    return cfg.identity_noise


def embedder_report(embedder: str) -> dict | None:
    """The verifying embedder's report (its calibrated limits), None for an unverified export ("")."""
    if not embedder:
        return None
    report = Path(embedder) / STAGE_REPORT
    if not report.is_file():
        raise FacegenError(f"{embedder} has no {STAGE_REPORT}: its training has not finished; re-run its "
                           "`facegen embedder train` (or `facegen train`) command")
    return read_json(report)


def export_draw(report: dict | None, identity_dim: int, conditioned: bool = False) -> tuple[Draw, float | None]:
    """The draw an export makes where the request does not say (DRAWS), verified by the embedder whose `report`
    is given (None: unverified), and the consistency floor it holds images to (None: the calibrated limit)."""
    draw = default_draw(identity_dim, verified=report is not None, conditioned=conditioned)
    floor = _real_photo_floor(draw, report)
    if draw.real_photo_share is not None and floor is None:
        # A wide draw needs a verifier that holds every image as close to its person as real photos are; one that
        # cannot (real photos fall below its own limit that often) would let the strays through: draw as unverified.
        draw = default_draw(identity_dim, verified=False, conditioned=conditioned)
    return draw, floor


def _real_photo_floor(draw: Draw, report: dict | None) -> float | None:
    """The similarity to their own reference that all but Draw.real_photo_share of the embedder's held-out real
    photos reach, where the draw asks for it and it is stricter than the calibrated consistency limit; else None
    (also for an embedder reported before the figure was)."""
    if report is None or draw.real_photo_share is None:
        return None
    reached = report.get("genuine_to_reference_quantiles", {}).get(f"{draw.real_photo_share:g}")
    return reached if reached is not None and reached > report["limits"]["consistency"] else None


def _limits(cfg: ExportConfig, report: dict | None, floor: float | None) -> dict:
    """The embedder's calibrated limits where the request gives none, consistency raised to `floor` if given."""
    if report is None:
        return {}
    limits = {**report["limits"], **({"consistency": floor} if floor is not None else {})}
    return {name: round(float(limits[key]), 6) if getattr(cfg, name) is None else getattr(cfg, name)
            for name, key in (("min_consistency", "consistency"), ("max_similarity", "separation"),
                              ("max_leakage", "leakage"))}


FIT_SHARE = 0.9  # --count alone asks for at most this share of the identities the capacity estimate finds
FIT_CANDIDATES = 2048  # candidates a fit at the export's start measures (train's capacity stage: the preset's)


def fit_candidates(cfg: ExportConfig) -> int:
    """The candidates a fit at the export's start measures: never more than the export would examine."""
    return min(FIT_CANDIDATES, cfg.identities * cfg.max_candidates)


def _fit_count(cfg: ExportConfig, capacity: dict) -> tuple[ExportConfig, str]:
    """A request by --count alone that the model cannot fill at its default images per identity: as many identities
    as the run's capacity estimate finds within --max-candidates (with a margin), the images spread over them (the
    largest such count that divides --count). An explicit --identities is never changed: the export refuses it
    early if the model cannot make it."""
    from facegen.export.capacity import Capacity

    curve = Capacity.from_record(capacity)
    findable = curve.deliverable(cfg.max_candidates)
    most = max(1, int(FIT_SHARE * findable))
    count = cfg.identities * cfg.per_identity
    if cfg.identities <= most or findable < 1:
        return cfg, ""
    k = max(d for d in range(1, most + 1) if count % d == 0)
    fitted = dataclasses.replace(cfg, identities=k, per_identity=count // k)
    return fitted, (f"this checkpoint makes {curve.text()}: exporting --count {count:,} as {k:,} identities x "
                    f"{count // k:,} images (--identities N chooses; more people need a longer or larger run)")


def run_capacity(run_dir: Path, cfg: ExportConfig, checkpoint: str | None = None) -> dict | None:
    """The run's recorded identity capacity (RUN/capacity.json) when it was measured with this export's embedder
    at its limits (and, given `checkpoint`, for that checkpoint)."""
    path = Path(run_dir) / CAPACITY_FILE
    if not cfg.embedder or not path.is_file():
        return None
    record = read_json(path)
    from facegen.export.capacity import LAW

    same = (record.get("method") == LAW  # a record of an earlier estimate is measured again by `train`
            and Path(record.get("embedder", "")).resolve() == Path(cfg.embedder).resolve()
            and record.get("max_similarity") == cfg.max_similarity and record.get("max_leakage") == cfg.max_leakage
            and (checkpoint is None or record.get("checkpoint") == checkpoint))
    return record if same else None


@dataclass
class ExportResult:
    out: Path
    images: int
    written: int  # images written by this invocation (less than `images` after a resume)
    identities: int
    replaced: int
    below_threshold: int
    seconds: float
    already_complete: bool = False
    checks: tuple[str, ...] = ()  # the flags whose tests redraw images
    identity_check: dict | None = None  # export.json's section, with the limits it used
    below_consistency: int = 0
    max_attempts: int = 8
    judgement: dict | None = None  # the judge's verdict on the first identities (facegen.export.pipeline)
    warnings: tuple[str, ...] = ()  # what a user should look at

    def summary(self, out: Path) -> list[str]:
        """What the command line prints about this export."""
        if self.already_complete:
            return [f"{out} already holds this export ({self.images} images); nothing to do"]
        rate = self.written / self.seconds if self.seconds else 0.0
        redrawn = f"; {self.replaced} redrawn for {' and '.join(self.checks)}" if self.checks else ""
        lines = [f"exported {self.images} images of {self.identities} identities to {out} ({self.written} written "
                 f"now, {rate:.0f} img/s{redrawn})"]
        if self.identity_check:
            c, lim = self.identity_check, self.identity_check["limits"]
            lines.append(f"identities: {c['identities']} accepted of {c['candidates_drawn']} candidates "
                         f"({c['rejected_too_similar']} too similar at cosine > {lim['max_similarity']:.3f}, "
                         f"{c['rejected_leaked']} too close to a training identity at > {lim['max_leakage']:.3f}); "
                         f"{self.below_consistency} image{'' if self.below_consistency == 1 else 's'} still below "
                         f"consistency {lim['min_consistency']:.3f} "
                         f"after {self.max_attempts} draws")
        if self.judgement:
            lines.append(judgement_line(self.judgement))
        return lines


def judgement_line(j: dict) -> str:
    """The judge's verdict as the export and merge print it."""
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"  # separation needs two identities

    lookalike = ""
    if j.get("lookalike_pairs") is not None:
        real = j.get("real_lookalike_pairs")
        lookalike = (f", look-alike pairs {100 * j['lookalike_pairs']:.2f}%"
                     + (f" (held-out real people {100 * real:.2f}%)" if real is not None else ""))
    return (f"judged by {j['judge']} (never trained on or filtered with): consistency {pct(j['consistency'])}, "
            f"separated {pct(j['separated_identities'])}, leaked {pct(j['leaked_identities'])}{lookalike} "
            f"({j['identities']} identities){judge_sight(j)}")


def judge_sight(j: dict) -> str:
    """How well a judge sees, for the line beside its verdict: its separation limit's rate on held-out people it
    was not calibrated on, against the nominal rate."""
    seen = j.get("judge_separation_out_of_sample") or {}
    if seen.get("rate") is None:
        return ""
    return (f"; its separation limit passes {100 * seen['rate']:.2f}% of held-out people's pairs it was not "
            f"calibrated on (nominal {100 * seen['far']:.2f}%, {seen['pairs']} pairs)")
