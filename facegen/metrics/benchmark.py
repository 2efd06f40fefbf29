"""`facegen benchmark`: does a synthetic set help a recognizer on the user's own data? The same recognizer (the
identity embedder's residual trunk and CosFace head) trained on each arm — real identities alone, real + each
synthetic set, each synthetic set alone — at several real-set sizes and seeds, with the same budget, verified on
LFW-style pairs of held-out real people no arm trained on, by the field's protocol (10 folds, TAR at FAR 1e-3).

    B/pairs/                      the held-out pairs (`facegen data pairs`), or the ones given
    B/data/<arm>-<n>/             each arm's training set, written by `facegen mix` (shared by its seeds)
    B/arms/<arm>-<n>-s<seed>/     the recognizer (a resumable embedder folder) and result.json once verified
    B/results.csv, results.json, results.png, README.md

Every arm is its own resumable run and its result is kept, so a killed benchmark continues where it stopped and
one asked again with more sizes or seeds trains only the new arms.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

import facegen
from facegen.atomic import write_json, write_text
from facegen.config import EmbedderConfig, FacegenError, MixConfig, at_least, read_json
from facegen.data.pairs import PAIRS_JSON, PairsConfig, read_verification_set, write_pairs
from facegen.data.sources import check_data_path, discover, split_identities
from facegen.export.layout import check_files, open_dataset, record_benchmark
from facegen.results import BenchmarkResult

ARMS = ("real", "real+synth", "synth")
RESULT = "result.json"


@dataclass(frozen=True)
class BenchmarkConfig:
    real: str  # identity-labelled real faces: CelebA or identity folders
    synth: tuple[str, ...] = ()  # facegen datasets (exports or mixes of synthetic identities)
    arms: tuple[str, ...] = ARMS
    real_identities: tuple[str, ...] = ("1%", "2.5%", "10%", "100%")  # counts, or shares of the training identities
    seeds: tuple[int, ...] = (0, 1)
    steps: int = 800  # recognizer batches per arm: the same budget for every arm
    batch_size: int = 64
    real_share: float = 0.5  # real + synth arms: this share of every batch is real (0: as the images fall)
    preset: str = "small"  # the recognizer's trunk (EMBEDDER_PRESETS)
    resolution: int = 64
    pairs: str | None = None  # a `facegen data pairs` folder; None: drawn into B/pairs from --real
    folds: int = 10
    per_fold: int = 300

    def __post_init__(self) -> None:
        bad = [a for a in self.arms if a not in ARMS]
        if bad or not self.arms:
            raise FacegenError(f"--arms takes {', '.join(ARMS)}, got {', '.join(self.arms) or 'none'}")
        if any(a != "real" for a in self.arms) and not self.synth:
            raise FacegenError("the real+synth and synth arms need --synth (a facegen export)")
        if not self.seeds:
            raise FacegenError("--seeds needs at least one seed")
        at_least(self.steps, 1, "--steps")
        for text in self.real_identities:
            parse_size(text, 100)  # the message names the flag; sizes are resolved against --real later
        if not 0.0 <= self.real_share < 1.0:
            raise FacegenError(f"--real-share must be in [0, 1), got {self.real_share}")


def parse_size(text: str, training_identities: int) -> int:
    """'8' -> 8 identities; '2.5%' -> that share of the training identities (at least 1)."""
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100
            if not 0 < share <= 1:
                raise ValueError
            return max(1, int(round(share * training_identities)))
        n = int(text)
        if n < 1:
            raise ValueError
        return n
    except ValueError:
        raise FacegenError(f"--real-identities takes counts or shares like 8,20 or 1%,2.5%,100%, got {text!r}") \
            from None


@dataclass(frozen=True)
class Arm:
    """One recognizer: what it trains on, how many real identities, which seed."""

    kind: str  # real, real+synth or synth
    real_identities: int  # 0 for synth
    synth: int  # index into cfg.synth (-1 for real)
    seed: int

    @property
    def data_name(self) -> str:
        tag = {"real": "real", "real+synth": f"real+synth{self.synth + 1}", "synth": f"synth{self.synth + 1}"}
        return f"{tag[self.kind]}-{self.real_identities}"

    @property
    def name(self) -> str:
        return f"{self.data_name}-s{self.seed}"


def plan_arms(cfg: BenchmarkConfig, training_identities: int) -> list[Arm]:
    sizes = sorted({min(parse_size(t, training_identities), training_identities) for t in cfg.real_identities})
    arms = []
    for seed in cfg.seeds:
        for n in sizes:
            if "real" in cfg.arms:
                arms.append(Arm("real", n, -1, seed))
            if "real+synth" in cfg.arms:
                arms += [Arm("real+synth", n, k, seed) for k in range(len(cfg.synth))]
        if "synth" in cfg.arms:
            arms += [Arm("synth", 0, k, seed) for k in range(len(cfg.synth))]
    return arms


def check_request(cfg: BenchmarkConfig) -> int:
    """TensorFlow-free pre-flight: --real has identities and enough held-out people, --synth are finished sets.
    Returns the number of training identities."""
    for s in cfg.synth:
        dataset = open_dataset(s, "--synth")
        if dataset.kind != "export":
            raise FacegenError(f"--synth {s} is a mix; give the facegen export(s) it was made of")
        check_files(dataset, flag="--synth")
    source = discover(check_data_path(cfg.real), "all")
    if source.frame["identity"].isna().all():
        raise FacegenError(f"--real {cfg.real} has no identity labels: give CelebA (with identity_CelebA.txt) or "
                           "one sub-folder per identity")
    train, held = split_identities(source, EmbedderConfig.held_out_every)
    if cfg.pairs is None and held.frame["identity"].nunique() < 2 * cfg.folds:
        raise FacegenError(f"--real {cfg.real} holds out {held.frame['identity'].nunique()} identities, too few "
                           f"for {cfg.folds} folds of pairs (two each); pass --folds "
                           f"{max(2, held.frame['identity'].nunique() // 2)} or give --pairs")
    if cfg.pairs is not None and not (Path(cfg.pairs) / PAIRS_JSON).exists():
        raise FacegenError(f"--pairs {cfg.pairs} holds no pairs.json; write it with `facegen data pairs`")
    return int(train.frame["identity"].nunique())


def benchmark(cfg: BenchmarkConfig, out: str | Path, progress: bool = True) -> BenchmarkResult:
    """Train and verify every arm not already done in `out`, then write the tables, the plot and the cards."""
    out = Path(out)
    training_identities = check_request(cfg)
    pairs_dir = Path(cfg.pairs) if cfg.pairs else out / "pairs"
    if cfg.pairs is None and not (pairs_dir / PAIRS_JSON).exists():
        write_pairs(cfg.real, pairs_dir, PairsConfig(folds=cfg.folds, per_fold=cfg.per_fold, size=cfg.resolution),
                    progress=progress)
    arms = plan_arms(cfg, training_identities)
    todo = [a for a in arms if not _done(out, a, cfg)]
    bar = tqdm(total=len(arms), initial=len(arms) - len(todo), desc="benchmark arms", unit="arm",
               disable=not progress)
    images = same = fold = None
    for arm in todo:
        if images is None:
            images, same, fold = read_pairs(pairs_dir, cfg.resolution)
        _run_arm(out, arm, cfg, images, same, fold, progress)
        bar.update(1)
    bar.close()
    record = summarise(out, cfg, arms, training_identities)
    return BenchmarkResult(out, tuple(describe(record)), record)


def arm_settings(arm: Arm, cfg: BenchmarkConfig) -> dict:
    """What decides an arm's result: equal settings mean its finished result is reused."""
    return {"arm": dataclasses.asdict(arm), "real": str(Path(cfg.real).resolve()),
            "synth": str(Path(cfg.synth[arm.synth]).resolve()) if arm.synth >= 0 else None,
            "steps": cfg.steps, "batch_size": cfg.batch_size, "preset": cfg.preset, "resolution": cfg.resolution,
            "real_share": cfg.real_share if arm.kind == "real+synth" else 0.0,
            "pairs": str(Path(cfg.pairs).resolve()) if cfg.pairs else "own"}


def _done(out: Path, arm: Arm, cfg: BenchmarkConfig) -> bool:
    path = out / "arms" / arm.name / RESULT
    return path.exists() and read_json(path).get("settings") == arm_settings(arm, cfg)


def read_pairs(pairs_dir: Path, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A `facegen data pairs` folder as (images [2 * pairs, r, r, 3] in a, b order at `resolution`, same, fold)."""
    images, pairs, _ = read_verification_set(pairs_dir)
    if images.shape[1] != resolution:
        from PIL import Image

        images = np.stack([np.asarray(Image.fromarray(im).resize((resolution, resolution), Image.Resampling.BICUBIC))
                           for im in images])
    return images, pairs.same, pairs.fold


def recognizer_config(data: str | Path, cfg: BenchmarkConfig, seed: int, real_share: float = 0.0) -> EmbedderConfig:
    """The benchmark's recognizer on one training set: the embedder's trunk and CosFace head, every identity
    trained on (verification is on people from elsewhere), the benchmark's budget."""
    return EmbedderConfig(data=str(data), preset=cfg.preset, resolution=cfg.resolution, steps=cfg.steps,
                          batch_size=cfg.batch_size, seed=seed, held_out_every=0, real_share=real_share,
                          checkpoint_every=max(1, min(500, cfg.steps // 4)))


def verify(model: str | Path, images: np.ndarray, same: np.ndarray, fold: np.ndarray) -> dict:
    """A trained recognizer folder on verification pairs (images in a, b order): the 10-fold figures, and the
    best-threshold accuracy (its threshold chosen on the test pairs themselves, so optimistic) beside them."""
    from facegen.metrics.verification import best_accuracy, ten_fold
    from facegen.models.embedder import Embedder

    e = Embedder.from_folder(model).embed(images)
    scores = np.sum(e[0::2] * e[1::2], axis=1)
    best, _ = best_accuracy(scores, same.astype(int))
    return {**ten_fold(scores, same, fold).to_dict(), "best_threshold_accuracy": best}


def _run_arm(out: Path, arm: Arm, cfg: BenchmarkConfig, images, same, fold, progress: bool) -> dict:
    from facegen.export.mix import mix
    from facegen.training.embedder import train_embedder

    data = out / "data" / arm.data_name
    synth = (cfg.synth[arm.synth],) if arm.synth >= 0 else ()
    real_ids = 0 if arm.kind == "synth" else arm.real_identities
    mix(MixConfig(real=cfg.real if real_ids else None, synth=synth, real_identities=real_ids,
                  size=0 if synth else cfg.resolution, held_out_every=EmbedderConfig.held_out_every), data,
        progress=False)
    folder = out / "arms" / arm.name
    share = cfg.real_share if arm.kind == "real+synth" else 0.0
    train_embedder(folder / "model", recognizer_config(data, cfg, arm.seed, share), progress=progress)
    result = {"settings": arm_settings(arm, cfg), "arm": arm.kind, "real_identities": arm.real_identities,
              "synth": cfg.synth[arm.synth] if arm.synth >= 0 else None, "seed": arm.seed,
              **verify(folder / "model", images, same, fold)}
    write_json(folder / RESULT, result)
    return result


def summarise(out: Path, cfg: BenchmarkConfig, arms: list[Arm], training_identities: int) -> dict:
    """results.csv (one row per arm), results.json (per arm kind and size: mean and spread over seeds, and the
    gain of real + synthetic over real), results.png, README.md; each synthetic set's card gains its rows."""
    rows = []
    for arm in arms:
        r = read_json(out / "arms" / arm.name / RESULT)
        rows.append({"arm": arm.kind, "synth": r["synth"] or "", "real_identities": arm.real_identities,
                     "seed": arm.seed, "accuracy": r["accuracy"], "accuracy_std": r["accuracy_std"],
                     "tar_at_far": r["tar_at_far"], "far": r["far"], "roc_auc": r["roc_auc"],
                     "best_threshold_accuracy": r["best_threshold_accuracy"], "pairs": r["pairs"]})
    frame = pd.DataFrame(rows)
    write_text(out / "results.csv", frame.to_csv(index=False, lineterminator="\n"))
    groups = []
    for (kind, synth, n), g in frame.groupby(["arm", "synth", "real_identities"], sort=False):
        groups.append({"arm": kind, "synth": synth or None, "real_identities": int(n), "seeds": len(g),
                       "accuracy": float(g["accuracy"].mean()), "accuracy_seed_std": float(g["accuracy"].std(ddof=0)),
                       "fold_std": float(g["accuracy_std"].mean()), "tar_at_far": float(g["tar_at_far"].mean()),
                       "roc_auc": float(g["roc_auc"].mean()),
                       "best_threshold_accuracy": float(g["best_threshold_accuracy"].mean())})
    gains = _gains(frame)
    record = {"kind": "benchmark", "facegen_version": facegen.__version__,
              "when": dt.datetime.now(dt.timezone.utc).isoformat(), "real": cfg.real,
              "training_identities": training_identities, "synth": list(cfg.synth), "steps": cfg.steps,
              "real_share": cfg.real_share, "preset": cfg.preset, "protocol": "10-fold LFW-style pairs of held-out "
              "real identities; accuracy at the threshold chosen on the other folds; TAR at FAR 1e-3",
              "groups": groups, "gains": gains}
    write_json(out / "results.json", record)
    _plot(out, groups)
    write_text(out / "README.md", _report_text(record))
    for k, s in enumerate(cfg.synth):
        mine = [g for g in groups if g["synth"] == s or g["arm"] == "real"]
        record_benchmark(Path(s), {"out": str(out.resolve()), "when": record["when"], "real": cfg.real,
                                   "steps": cfg.steps, "groups": mine,
                                   "gains": [g for g in gains if g["synth"] == s]})
    return record


def _gains(frame: pd.DataFrame) -> list[dict]:
    """Per synthetic set and size: real + synth minus real, seed by seed, then mean and spread."""
    out = []
    real = frame[frame["arm"] == "real"].set_index(["real_identities", "seed"])["accuracy"]
    for (synth, n), g in frame[frame["arm"] == "real+synth"].groupby(["synth", "real_identities"]):
        diffs = [row.accuracy - real[(n, row.seed)] for row in g.itertuples() if (n, row.seed) in real.index]
        if diffs:
            out.append({"synth": synth, "real_identities": int(n), "gain": float(np.mean(diffs)),
                        "gain_seed_std": float(np.std(diffs)), "seeds": len(diffs)})
    return out


def _plot(out: Path, groups: list[dict]) -> None:
    from facegen import plots

    series = {}
    for g in groups:
        if g["arm"] == "synth":
            continue
        label = "real only" if g["arm"] == "real" else f"real + {Path(g['synth']).name}"
        xs, ys = series.setdefault(label, ([], []))
        xs.append(math.log10(g["real_identities"]))
        ys.append(100 * g["accuracy"])
    xs_all = [x for xs, _ in series.values() for x in xs] or [0.0]
    for g in groups:
        if g["arm"] == "synth":  # a flat line: it trains on no real identity
            series[f"{Path(g['synth']).name} only"] = ([min(xs_all), max(xs_all)], [100 * g["accuracy"]] * 2)
    plots.save(plots.line_chart(series, "held-out verification, 10-fold", "log10 real identities",
                                "accuracy %", markers=True), out / "results.png")


def _report_text(record: dict) -> str:
    lines = [f"# facegen benchmark\n\nReal data `{record['real']}` ({record['training_identities']} training "
             f"identities), {record['steps']} recognizer batches per arm, real share {record['real_share']} in "
             f"real + synthetic arms. {record['protocol']}.\n",
             "| arm | real identities | seeds | 10-fold accuracy | TAR@FAR 1e-3 | ROC AUC | best threshold |",
             "|---|---|---|---|---|---|---|"]
    for g in record["groups"]:
        name = g["arm"] if not g["synth"] else f"{g['arm']} ({Path(g['synth']).name})"
        lines.append(f"| {name} | {g['real_identities']} | {g['seeds']} | {100 * g['accuracy']:.1f}% ± "
                     f"{100 * g['accuracy_seed_std']:.1f} | {100 * g['tar_at_far']:.1f}% | {g['roc_auc']:.3f} | "
                     f"{100 * g['best_threshold_accuracy']:.1f}% |")
    if record["gains"]:
        lines += ["", "| synthetic set | real identities | gain of real + synthetic over real |", "|---|---|---|"]
        lines += [f"| {Path(g['synth']).name} | {g['real_identities']} | {100 * g['gain']:+.1f} ± "
                  f"{100 * g['gain_seed_std']:.1f} (seeds: {g['seeds']}) |" for g in record["gains"]]
    lines += ["", "![accuracy against real identities](results.png)", ""]
    return "\n".join(lines)


def describe(record: dict) -> list[str]:
    """The table the CLI prints."""
    out = [f"{'arm':<28}{'real ids':>9}{'10-fold acc':>14}{'TAR@1e-3':>10}{'AUC':>7}"]
    for g in record["groups"]:
        name = g["arm"] if not g["synth"] else f"{g['arm']} ({Path(g['synth']).name})"
        out.append(f"{name:<28}{g['real_identities']:>9}{100 * g['accuracy']:>9.1f}% "
                   f"±{100 * g['accuracy_seed_std']:>3.1f}{100 * g['tar_at_far']:>9.1f}%{g['roc_auc']:>7.3f}")
    for g in record["gains"]:
        out.append(f"gain with {Path(g['synth']).name} at {g['real_identities']} real identities: "
                   f"{100 * g['gain']:+.1f} ± {100 * g['gain_seed_std']:.1f}")
    return out
