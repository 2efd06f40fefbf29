"""Typed results of the commands that train a trunk or write a derived dataset (embedder, attributes, mix, pack,
benchmark): named fields the CLI prints, each with the record it was read from. No TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """An embedder's calibrated export limits (cosines): see facegen.training.embedder.verification_report."""

    consistency: float
    separation: float
    leakage: float


@dataclass(frozen=True)
class EmbedderReport:
    """What an embedder's training measured on held-out identities (its report.json)."""

    folder: Path
    step: int
    train_identities: int
    held_out_identities: int  # 0 where nothing was held out (a benchmark arm verifies elsewhere)
    verification_accuracy: float | None
    roc_auc: float | None
    limits: Limits | None
    record: dict = field(repr=False, compare=False)

    def interval(self, name: str) -> str:
        """' (lo-hi)': the limit's 95% interval over resampled held-out people, where the report has one."""
        lo_hi = (self.record.get("limit_intervals") or {}).get(name)
        return f" ({lo_hi[0]:.3f}-{lo_hi[1]:.3f})" if lo_hi else ""

    @classmethod
    def from_record(cls, folder: Path, record: dict) -> "EmbedderReport":
        limits = record.get("limits")
        return cls(Path(folder), int(record.get("step", 0)), int(record.get("train_identities", 0)),
                   int(record.get("held_out_identities", 0)), record.get("verification_accuracy"),
                   record.get("roc_auc"), Limits(**limits) if limits else None, record)

    def lines(self) -> list[str]:
        if self.limits is None:
            return [f"embedder {self.folder}: trained to step {self.step} on {self.train_identities} identities"]
        return [f"embedder {self.folder}: held-out verification {100 * self.verification_accuracy:.1f}%, ROC AUC "
                f"{self.roc_auc:.3f} ({self.held_out_identities} identities); limits: consistency "
                f"{self.limits.consistency:.3f}{self.interval('consistency')}, separation "
                f"{self.limits.separation:.3f}{self.interval('separation')}"]


@dataclass(frozen=True)
class AttributeAccuracy:
    accuracy: float
    majority_baseline: float  # always guessing the more common value
    positive_share: float


@dataclass(frozen=True)
class AttributeReport:
    """What the attribute classifier's training measured on held-out images (its report.json)."""

    folder: Path
    step: int
    held_out_images: int
    mean_accuracy: float
    min_accuracy: float
    attributes: dict[str, AttributeAccuracy]
    dropped: tuple[str, ...]  # attributes that never vary in the training images
    record: dict = field(repr=False, compare=False)

    @classmethod
    def from_record(cls, folder: Path, record: dict) -> "AttributeReport":
        return cls(Path(folder), int(record.get("step", 0)), int(record["held_out_images"]),
                   float(record["mean_accuracy"]), float(record["min_accuracy"]),
                   {n: AttributeAccuracy(**a) for n, a in record["attributes"].items()},
                   tuple(record.get("dropped", ())), record)

    def lines(self, detail: bool = True) -> list[str]:
        lines = [f"attribute classifier {self.folder}: held-out accuracy mean {100 * self.mean_accuracy:.1f}%, "
                 f"lowest {100 * self.min_accuracy:.1f}% over {len(self.attributes)} attributes "
                 f"({self.held_out_images} images)"]
        if not detail:
            return lines
        lines += [f"  {name:<20} {100 * a.accuracy:5.1f}%  (majority {100 * a.majority_baseline:.1f}%)"
                  for name, a in self.attributes.items()]
        if self.dropped:
            lines.append(f"  dropped (never vary in the training images): {', '.join(self.dropped)}")
        return lines


@dataclass(frozen=True)
class MixResult:
    out: Path
    real_identities: int
    synth_identities: tuple[int, ...]  # per --synth export
    images: int
    record: dict = field(repr=False, compare=False)  # mix.json

    @classmethod
    def from_record(cls, out: Path, record: dict) -> "MixResult":
        c = record["counts"]
        return cls(Path(out), int(c["real_identities"]), tuple(c["synth_identities"]), int(c["images"]), record)

    def lines(self) -> list[str]:
        return [f"mixed {self.real_identities} real and {sum(self.synth_identities)} synthetic identities "
                f"({self.images} images) into {self.out}"]


@dataclass(frozen=True)
class PackResult:
    out: Path
    format: str
    files: tuple[str, ...]
    num_image: int
    num_classes: int
    next_steps: tuple[str, ...]  # what a trainer's config needs (the format's own lines)
    record: dict = field(repr=False, compare=False)  # pack.json

    def lines(self) -> list[str]:
        shown = ", ".join(self.files[:3]) + (", ..." if len(self.files) > 3 else "")
        return [f"packed {self.num_image} images of {self.num_classes} identities into {self.out} ({shown})",
                *self.next_steps]


@dataclass(frozen=True)
class BenchmarkResult:
    out: Path
    lines_: tuple[str, ...]  # the table's summary, one line per arm
    record: dict = field(repr=False, compare=False)  # results.json

    def lines(self) -> list[str]:
        return [*self.lines_, f"table: {self.out / 'results.csv'}, plot: {self.out / 'results.png'}, report: "
                f"{self.out / 'README.md'}"]
