"""The scores registry: registration order is the manifest's column order, each score says when an export
computes it and takes what the identity plan decided."""

import numpy as np

from facegen.config import ExportConfig
from facegen.export.scores import SCORES, AttributeScore, IdentityScore, RealismScore, bind, scores_for


class _Check:
    embedder = object()


def test_scores_build_from_what_the_export_loaded_and_bind_the_identity_plan():
    assert SCORES == [RealismScore, IdentityScore, AttributeScore]
    cfg = ExportConfig(identities=2, per_identity=2, embedder="e", min_consistency=0.5, max_similarity=0.6,
                       max_leakage=0.7)
    assert scores_for(None, cfg, None, None, None) == []
    built = scores_for(None, cfg, None, _Check(), "classifier")
    assert [type(s) for s in built] == [IdentityScore, AttributeScore] and built[0].min_consistency == 0.5
    acceptance, labels = object(), object()
    bound = bind(built, acceptance, labels)
    assert bound[0].acceptance is acceptance and bound[1].labels is labels and built[0].acceptance is None
    # Before the plan is bound, the identity score only carries the embedding; no test, nothing redrawn.
    judged = built[0].judge(np.zeros((1, 2, 3)), np.zeros((1, 2), np.int64))
    assert set(judged) == {"embedding"} and built[0].passes(judged) is None
