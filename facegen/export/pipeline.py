"""`facegen export` as one library call: an ExportPlan run by the pipeline that renders it (generator, embedder,
classifier: facegen.export.render), judges the finished dataset with the run's judge, and returns one typed
ExportResult with the judgement and the warnings. The CLI calls exactly this, so Python makes the CLI's bytes."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from facegen.atomic import exclusive
from facegen.export.request import ExportPlan, ExportRequest, fit_candidates, fitted, plan

log = logging.getLogger("facegen")


class ExportPipeline:
    """The components one export runs, bound to its plan: the renderer (which loads the generator, the verifying
    embedder and the attribute classifier at the plan's precision) and the judge."""

    def __init__(self, export_plan: ExportPlan) -> None:
        self.plan = export_plan

    def __call__(self, progress: bool = True):
        from facegen._env import import_tensorflow_quietly

        p = self.plan
        with exclusive(Path(p.out)):  # before TensorFlow starts: a busy folder is refused at once
            import_tensorflow_quietly()
            from facegen.export.render import export as render

            p = self.plan = fit_at_start(p, progress)
            result = render(p.checkpoint, p.out, p.config, overwrite=p.overwrite, command=p.command,
                            progress=progress, record={"judge": p.judge_record()} if p.judged_identities else None)
        judgement = None
        if p.judges_now and not result.already_complete:
            judgement = judge(Path(p.out), Path(p.judge), p.judged_identities)
        warnings = []
        if result.below_threshold:
            warnings.append(f"{result.below_threshold} of {result.images} images are still below --min-realism "
                            f"{p.config.min_realism:g} after {p.config.max_attempts} draws (each keeps its best "
                            "draw; export.json counts them)")
        return dataclasses.replace(result, judgement=judgement, warnings=tuple(warnings))


def fit_at_start(export_plan: ExportPlan, progress: bool) -> ExportPlan:
    """A --count request at limits no capacity record covers: its count fitted to the capacity of its own
    candidates, measured now (said in one line when the model cannot fill it)."""
    if not export_plan.fit_at_start:
        return export_plan
    from facegen.export.render import measure_capacity

    cfg = export_plan.config
    capacity = measure_capacity(export_plan.checkpoint, cfg, fit_candidates(cfg), progress)[0]
    export_plan, note = fitted(export_plan, capacity.record())
    if note:
        log.info(note)
    return export_plan


def judge(out: Path, judge_folder: Path, identities: int) -> dict:
    """The judge's verdict on a finished dataset's first identities, recorded in its judgements.json and card."""
    from facegen.metrics.evaluate import judge_export

    return judge_export(out, judge_folder, identities)


def export(request: ExportRequest | ExportPlan, progress: bool = True):
    """Make the dataset `facegen export` makes for this request (or plan): the same files, the same result."""
    return ExportPipeline(request if isinstance(request, ExportPlan) else plan(request))(progress)
