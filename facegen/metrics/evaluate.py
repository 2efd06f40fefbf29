"""`facegen evaluate`: FID/KID against real data, optional face rate, an export's identity and attribute measures,
the recorded capacity; a metrics.json, a PNG report and (for an export) the card's section.

Each measure is a registered Metric: how it is computed, the lines the CLI prints and the rows the dataset card
shows (stored in the record, so the card and the CLI need no list of metrics). A new metric is one function
decorated with @metric."""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

import facegen
from facegen.atomic import write_json
from facegen.config import DataConfig, FacegenError, at_least, read_json
from facegen.data import TrainingData, check_data_path, discover
from facegen.export.layout import COLUMNS, MANIFEST, check_files, open_dataset, read_manifest, record_evaluation
from facegen.images import grid, save_png
from facegen.metrics.distances import gaussian_stats
from facegen.metrics.inception import require_weights
from facegen.export.layout import EXPORT_JSON
from facegen.export.request import JUDGED_IDENTITIES, judge_sight
from facegen.run import CAPACITY_FILE, EMBEDDER_KINDS, read_folder_config, read_run_config, run_parts
from facegen.training.people import export_run

if TYPE_CHECKING:  # fid imports TensorFlow; this module must not, so the CLI can check a request first
    from facegen.metrics.fid import FeatureExtractor

log = logging.getLogger("facegen")
MTCNN_HINT = "face rate skipped: pip install mtcnn (its weights ship in the wheel)"


@dataclass(frozen=True)
class EvalResult:
    metrics: dict  # metrics.json: the protocol, the sizes and every metric's value
    out: Path
    lines: tuple[str, ...] = ()  # the report the CLI prints, one line per measured metric

    @property
    def values(self) -> dict:
        return self.metrics["metrics"]


@dataclass
class EvalContext:
    """What the metrics read: the generated images (and their folder labels, for an export), the real data, the
    report folder and the judge."""

    fake: np.ndarray
    labels: np.ndarray | None
    real: TrainingData
    real_images: np.ndarray
    source: object
    out: Path
    run_dir: Path | None
    export_dir: Path | None
    seed: int
    judge: Path | None
    extractor: object
    progress: bool


@dataclass(frozen=True)
class Metric:
    name: str  # its key in metrics.json (for a `flat` metric, the keys of its dict go at the top level)
    compute: Callable[[EvalContext], object]  # None: not measured for this input
    lines: Callable[[object], list[str]]  # the CLI's report lines for its value (None: not measured)
    rows: Callable[[object], list[tuple[str, float]]]  # the dataset card's rows for its value
    flat: bool = False


METRICS: dict[str, Metric] = {}  # the registry, in report order


def metric(name: str, lines: Callable[[object], list[str]], rows: Callable[[object], list[tuple[str, float]]],
           flat: bool = False):
    def register(compute):
        METRICS[name] = Metric(name, compute, lines, rows, flat)
        return compute
    return register


def _value(metrics: dict, m: Metric):
    if m.flat:
        return metrics
    return metrics.get(m.name)


def fake_images_from_run(run_dir: Path, n: int, seed: int) -> tuple[np.ndarray, dict]:
    from facegen.models.generator import Generator

    gen = Generator.from_run(run_dir)
    batches = [gen.sample(seed * 100_000 + i, min(256, n - i)) for i in range(0, n, 256)]
    return np.concatenate(batches), {"checkpoint": gen.checkpoint_path, "step": gen.step,
                                     "resolution": gen.config.model.resolution}


def fake_images_from_export(folder: Path, n: int | None = None, seed: int = 0) -> tuple[np.ndarray, dict, np.ndarray]:
    """An export's images (a seeded sample of n, or all in manifest order), its description and their labels."""
    frame = read_manifest(folder)
    rows = frame.sample(n=n, random_state=seed) if n is not None and n < len(frame) else frame
    images = np.stack([np.asarray(Image.open(folder / p).convert("RGB")) for p in rows["path"]])
    info = {"export": str(folder), "images_in_export": len(frame), "resolution": images.shape[1]}
    return images, info, rows["label"].to_numpy()


def identity_report(images: np.ndarray, labels: np.ndarray, real: TrainingData, seed: int = 0,
                    judge: Path | None = None, export_dir: Path | None = None) -> dict:
    """Embedding separation (dlib, if installed) and, where the real data has identity labels, the exact
    classifier measure: do an exported folder's images resemble one true identity, and different folders
    different ones?"""
    from facegen.metrics.identity import (DLIB_HINT, DlibEmbedder, IdentityClassifier, embedding_separation,
                                          folder_consistency, within_identity_variety)

    ids = real.identities
    labeled = (ids >= 0).all() and len(np.unique(ids)) > 1
    report: dict = {"variety": {"export": within_identity_variety(images, labels),
                                "real": within_identity_variety(real.images, ids) if labeled else None}}
    if DlibEmbedder.available():
        keep = np.isin(labels, np.unique(labels)[:100])  # up to 100 identities: pairs grow quadratically
        report["embedding"] = embedding_separation(DlibEmbedder()(images[keep]), labels[keep])
    else:
        log.info(DLIB_HINT)
        report["embedding"] = None
    if labeled:
        clf = IdentityClassifier.train(real.images, ids, seed=seed)
        report["classifier"] = folder_consistency(clf.predict(images), labels)
        report["classifier"]["true_identities"] = int(len(np.unique(ids)))
    else:
        report["classifier"] = None
    if judge is not None:
        from facegen.metrics.identity import embedder_judgement
        from facegen.models.embedders import load_embedder
        from facegen.training.people import export_people

        embedder = load_embedder(judge)
        report["judge"] = embedder_judgement(embedder, images, labels, export_people(export_dir, embedder))
    return report




def judge_export(export_dir: Path, judge: Path, identities: int = JUDGED_IDENTITIES) -> dict:
    """An export's first `identities` folders judged by `judge` (embedder_judgement), recorded in the dataset's
    judgements.json and card: what `facegen export` prints when the run has a judge."""
    from facegen.export.layout import record_judgement
    from facegen.metrics.identity import embedder_judgement
    from facegen.models.embedders import load_embedder
    from facegen.training.people import export_people

    frame = read_manifest(export_dir)
    rows = frame[frame["label"] < identities]
    images = np.stack([np.asarray(Image.open(Path(export_dir) / p).convert("RGB")) for p in rows["path"]])
    embedder = load_embedder(judge)
    judgement = embedder_judgement(embedder, images, rows["label"].to_numpy(), export_people(export_dir, embedder))
    judgement.update(identities=int(rows["label"].nunique()), images=int(len(rows)))
    record_judgement(Path(export_dir), judgement)
    return judgement


def attribute_distribution(export_dir: Path, source, out: Path) -> dict | None:
    """Identity-attribute shares of an export labelled with --attributes beside the real data's (share of its
    identities whose images mostly have the attribute; of all images where the data has no identities), as a
    table in metrics.json and a bar chart (attributes.png). None for an export without attribute columns."""
    from facegen.export.attributes import IDENTITY_PREFIX
    from facegen.plots import bar_chart, save

    frame = read_manifest(export_dir)
    names = [c[len(IDENTITY_PREFIX):] for c in frame.columns if c.startswith(IDENTITY_PREFIX) and c not in COLUMNS]
    if not names:
        return None
    synthetic = {n: float(frame.drop_duplicates("identity")[IDENTITY_PREFIX + n].mean()) for n in names}
    real_frame = source.frame
    known = [n for n in names if n in real_frame.columns]
    real = {}
    if known:
        values = real_frame[known] > 0
        if real_frame["identity"].notna().any():
            values = values.groupby(real_frame["identity"]).mean() > 0.5
        real = {n: float(values[n].mean()) for n in known}
    else:
        log.info("%s has no attribute labels (CelebA's list_attr_celeba.txt): the attribute table shows the "
                 "export's shares only", source.root)
    out.mkdir(parents=True, exist_ok=True)
    save(bar_chart(names, {"export": [synthetic[n] for n in names], "real": [real.get(n, 0.0) for n in names]},
                   "share of identities with each attribute"), out / "attributes.png")
    return {"export": synthetic, "real": real}


def face_rate(images: np.ndarray) -> float | None:
    """Share of images in which MTCNN finds exactly one face; None when mtcnn is not installed."""
    if importlib.util.find_spec("mtcnn") is None:
        log.info(MTCNN_HINT)
        return None
    from mtcnn import MTCNN

    detector = MTCNN()
    # MTCNN's smallest face is ~20 px at its default scale; upsample small images so faces are findable.
    scale = max(1, 160 // images.shape[1])
    found = 0
    for img in images:
        big = np.asarray(Image.fromarray(img).resize((img.shape[1] * scale,) * 2, Image.Resampling.BICUBIC))
        found += int(len(detector.detect_faces(big)) == 1)
    return found / len(images)


def check_request(data: str | Path, run_dir: Path | None, export_dir: Path | None, n: int, n_real: int,
                  judge: Path | None = None) -> Path | None:
    """Everything about an evaluation that needs no model, checked in one place (the CLI asks before
    TensorFlow starts): one source, sizes, the folders exist and are what they claim, the FID weights. Returns
    the judge embedder: `judge`, or for an export the judge its run trained (RUN/judge)."""
    if (run_dir is None) == (export_dir is None):
        raise FacegenError("give --checkpoint or --export (one of them)")
    at_least(n, 2, "--n")
    at_least(n_real, 0, "--n-real")
    check_data_path(data)
    if run_dir is not None:
        read_run_config(run_dir)
    elif not (Path(export_dir) / MANIFEST).is_file():
        raise FacegenError(f"{export_dir} is not a finished facegen export (no {MANIFEST})")
    elif (Path(export_dir) / EXPORT_JSON).exists():
        check_files(open_dataset(export_dir, "--export"), flag="--export")
    settings = {}
    if export_dir is not None and (Path(export_dir) / EXPORT_JSON).exists():
        settings = read_json(Path(export_dir) / EXPORT_JSON).get("settings", {})
    if judge is not None:
        if export_dir is None:
            raise FacegenError("--embedder judges an export's identities: give --export")
        read_folder_config(judge, EMBEDDER_KINDS, "embedder")
    elif export_dir is not None and export_run(export_dir) is not None:
        judge = run_parts(export_run(export_dir)).judge
    used = settings.get("embedder")
    if judge is not None and used and Path(used).resolve() == Path(judge).resolve():
        raise FacegenError(f"{judge} is the embedder that filtered this export and would grade its own choices; "
                           "judge with another one (the run's RUN/judge, or an embedder of another seed)")
    require_weights()  # a clear "pip install ..." line before any work
    return judge


def evaluate(data: str | Path, out: Path, run_dir: Path | None = None, export_dir: Path | None = None,
             n: int = 10000, seed: int = 0, n_real: int = 0, extractor: FeatureExtractor | None = None,
             progress: bool = True, judge: Path | None = None) -> EvalResult:
    """FID/KID of a run's samples or an export's images against the real data, plus optional face rate;
    for an export, identity measures (and with `judge`, an embedder's consistency, separation and leakage)."""
    from facegen.metrics.fid import PROTOCOL, FeatureExtractor

    judge = check_request(data, run_dir, export_dir, n, n_real, judge)
    labels = None
    if run_dir is not None:
        fake, source_info = fake_images_from_run(run_dir, n, seed)
    else:
        fake, source_info, labels = fake_images_from_export(export_dir, n, seed)
    resolution = fake.shape[1]
    source = discover(data, "all")
    real = TrainingData(source, DataConfig(path=str(data), resolution=resolution), progress=progress)
    real_images = real.images
    if labels is not None and n < source_info["images_in_export"]:
        log.info("identity measures use the %d sampled images; --n %d covers the whole export", n,
                 source_info["images_in_export"])
    if n_real and n_real < len(real_images):
        real_images = real_images[np.random.default_rng(seed).choice(len(real_images), n_real, replace=False)]
    ctx = EvalContext(fake, labels, real, real_images, source, out, run_dir, export_dir, seed, judge,
                      extractor or FeatureExtractor(), progress)
    metrics: dict = {}
    for m in METRICS.values():
        value = m.compute(ctx)
        if m.flat:
            metrics.update(value)
        else:
            metrics[m.name] = value
    lines = [line for m in METRICS.values() for line in m.lines(_value(metrics, m))]
    rows = [[name, value] for m in METRICS.values() if _value(metrics, m) is not None
            for name, value in m.rows(_value(metrics, m))]
    report = {"facegen_version": facegen.__version__, "when": dt.datetime.now(dt.timezone.utc).isoformat(),
              "protocol": PROTOCOL, "n_generated": len(fake), "n_real": len(real_images), "data": str(data),
              **source_info, "metrics": metrics, "card_rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", report)
    save_png(out / "report.png", report_image(fake[:64], report))
    if export_dir is not None:  # the export's card shows what was measured
        record_evaluation(Path(export_dir), report)
    return EvalResult(report, out, tuple(lines))


def _fid_lines(m: dict) -> list[str]:
    return [f"{'FID':<12}{m['fid']:>12.2f}", f"{'KID x 1000':<12}{1000 * m['kid']:>12.2f}  (+- {1000 * m['kid_std']:.2f})"]


@metric("fid_kid", _fid_lines, lambda m: [("FID", m["fid"]), ("KID", m["kid"])], flat=True)
def fid_kid_metric(ctx: EvalContext) -> dict:
    """FID and KID on the FID Inception's features (facegen.metrics.fid), the real features cached."""
    from facegen.metrics.fid import data_features, fid_kid

    real_feats = data_features(ctx.real_images, ctx.real.paths, ctx.fake.shape[1], ctx.real.crop, ctx.extractor,
                               ctx.progress)
    fake_feats = ctx.extractor(ctx.fake, progress=ctx.progress, desc="generated features")
    return fid_kid(fake_feats, gaussian_stats(real_feats), real_feats)


def _face_lines(v: float | None) -> list[str]:
    return [f"{'face rate':<12}{'skipped' if v is None else f'{100 * v:.1f}%':>12}"]


@metric("face_rate", _face_lines, lambda v: [("face rate", v)])
def face_rate_metric(ctx: EvalContext) -> float | None:
    return face_rate(ctx.fake[: min(len(ctx.fake), 500)])


def _attribute_lines(a: dict | None) -> list[str]:
    return [] if not a else ["attributes   share of identities, export vs real: " + ", ".join(
        f"{n} {100 * s:.0f}/" + (f"{100 * a['real'][n]:.0f}%" if n in a["real"] else "-")
        for n, s in a["export"].items())]


@metric("attributes", _attribute_lines, lambda a: [(f"attribute share {n}", s) for n, s in a["export"].items()])
def attributes_metric(ctx: EvalContext) -> dict | None:
    return None if ctx.export_dir is None else attribute_distribution(Path(ctx.export_dir), ctx.source, ctx.out)


def _identity_lines(ident: dict | None) -> list[str]:
    if ident is None:
        return []
    lines = []
    if ident.get("embedding"):
        e = ident["embedding"]
        lines += [f"{'intra/inter':<12}{e['intra_similarity']:>6.3f}/{e['inter_similarity']:.3f}  (dlib cosine)",
                  f"{'separated':<12}{100 * e['separated_identities']:>11.1f}%  EER {100 * e['eer']:.1f}%"]
    else:
        lines.append(f"{'separation':<12}{'skipped':>12}  (pip install dlib-bin face-recognition-models)")
    if ident.get("classifier"):
        c = ident["classifier"]
        lines.append(f"{'consistency':<12}{100 * c['consistency']:>11.1f}%  ({c['distinct_majorities']} distinct "
                     f"true identities over {c['folders']} folders; exact classifier)")
    if ident.get("judge"):
        j = ident["judge"]
        lines.append(f"{'judge':<12}consistency {100 * j['consistency']:.1f}%, separated "
                     f"{100 * j['separated_identities']:.1f}%, duplicates {100 * j['duplicate_identities']:.1f}%, "
                     f"leaked {100 * j['leaked_identities']:.1f}% (embedder {j['judge']}{judge_sight(j)})")
    v = ident.get("variety") or {}
    if v.get("export") is not None:
        real = f"real data {v['real']:.3f}; " if v["real"] is not None else ""
        lines.append(f"{'variety':<12}{v['export']:>12.3f}  ({real}RMS pixel difference within an identity)")
    return lines


def _identity_rows(ident: dict) -> list[tuple[str, float]]:
    return [(f"identity {group}: {k}", v) for group, values in ident.items() if isinstance(values, dict)
            for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


@metric("identity", _identity_lines, _identity_rows)
def identity_metric(ctx: EvalContext) -> dict | None:
    return None if ctx.labels is None else identity_report(ctx.fake, ctx.labels, ctx.real, ctx.seed, ctx.judge,
                                                                 ctx.export_dir)


def _capacity_lines(cap: dict | None) -> list[str]:
    if not cap:
        return []
    size = f"{cap['capacity']:,}" if cap.get("capacity") is not None else f">{cap['accepted']}"
    from facegen.export.capacity import spread_text

    return [f"{'capacity':<12}{size:>12}  identities at similarity {cap['max_similarity']:.3f} "
            f"({cap['accepted']} accepted of {cap['candidates']} candidates)"] + \
        ([f"{'spread':<12}{spread_text(cap['spread'], cap.get('real_spread'))}"] if cap.get("spread") else [])


@metric("capacity", _capacity_lines, lambda cap: [("identity capacity", cap["capacity"])]
        if cap.get("capacity") is not None else [])
def capacity_metric(ctx: EvalContext) -> dict | None:
    return recorded_capacity(ctx.run_dir, ctx.export_dir)


def recorded_capacity(run_dir: Path | None, export_dir: Path | None) -> dict | None:
    """The identity capacity `facegen train` recorded for the run (or the one the export's record carries)."""
    if export_dir is not None:
        path = Path(export_dir) / EXPORT_JSON
        return read_json(path).get("capacity") if path.exists() else None
    path = Path(run_dir) / CAPACITY_FILE
    return read_json(path) if path.exists() else None


def report_image(samples: np.ndarray, report: dict) -> np.ndarray:
    """A sample grid beside the numbers and bars for FID and KID (matplotlib, Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    m = report["metrics"]
    fig = Figure(figsize=(10, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    grid_ax, text_ax, bar_ax = fig.subplot_mosaic([["grid", "text"], ["grid", "bars"]], width_ratios=[1, 1]).values()
    grid_ax.imshow(grid(samples, 8))
    grid_ax.set_axis_off()
    grid_ax.set_title(f"{len(samples)} of {report['n_generated']} generated images", fontsize="small")
    lines = [f"facegen {report['facegen_version']}, step {report.get('step', '-')}",
             f"generated {report['n_generated']}, real {report['n_real']}",
             f"FID {m['fid']:.2f}", f"KID x1000 {1000 * m['kid']:.2f} +- {1000 * m['kid_std']:.2f}",
             "face rate " + ("skipped" if m.get("face_rate") is None else f"{100 * m['face_rate']:.1f}%")]
    text_ax.text(0, 1, "\n".join(lines), va="top", family="monospace")
    text_ax.set_axis_off()
    bar_ax.barh(["FID", "KID x1000"], [m["fid"], 1000 * m["kid"]], xerr=[0, 1000 * m["kid_std"]], color="#4670c8")
    bar_ax.set_xlabel("lower is better")
    bar_ax.grid(axis="x", alpha=0.3)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
