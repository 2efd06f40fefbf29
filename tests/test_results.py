"""Typed results: read from the records the commands write, printed from their fields."""

from pathlib import Path

from facegen.results import AttributeReport, EmbedderReport, Limits, MixResult, PackResult


def test_results_read_their_records_and_print_their_fields():
    e = EmbedderReport.from_record(Path("e"), {"step": 800, "train_identities": 80, "held_out_identities": 20,
                                               "verification_accuracy": 0.965, "roc_auc": 0.99,
                                               "limits": {"consistency": 0.6, "separation": 0.64, "leakage": 0.85}})
    assert e.limits == Limits(0.6, 0.64, 0.85) and "96.5%" in e.lines()[0] and "separation 0.640" in e.lines()[0]
    bare = EmbedderReport.from_record(Path("r"), {"step": 5, "train_identities": 3})  # a benchmark arm's
    assert bare.limits is None and "trained to step 5" in bare.lines()[0]
    a = AttributeReport.from_record(Path("a"), {"held_out_images": 10, "mean_accuracy": 0.9, "min_accuracy": 0.8,
                                                "attributes": {"Male": {"accuracy": 0.9, "majority_baseline": 0.5,
                                                                        "positive_share": 0.5}},
                                                "dropped": ["Bald"], "step": 3})
    assert a.attributes["Male"].majority_baseline == 0.5 and a.lines()[-1].endswith("Bald") and len(a.lines(False)) == 1
    m = MixResult.from_record(Path("m"), {"counts": {"real_identities": 2, "synth_identities": [3, 4], "images": 90}})
    assert m.lines() == ["mixed 2 real and 7 synthetic identities (90 images) into m"]
    p = PackResult(Path("p"), "rec", ("a", "b", "c", "d"), 10, 2, ("next",), {})
    assert p.lines() == ["packed 10 images of 2 identities into p (a, b, c, ...)", "next"]
