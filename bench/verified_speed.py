"""The verified export against the unverified one, in one run: the same checkpoint, identities and images, with
and without the run's embedder in the loop (reference images, the embedder on every image, consistency
redraws). Speed is the export's own time (export.json's start to end: TensorFlow's start-up is the same for both).

It also times the verified export's embedder alone on the unverified export's written images (at the export's
precision, after decoding them): the ceiling any verification scheme that embeds every written image can reach on
this CPU, whatever it does about reference images and redraws, is unverified / (unverified + that time).

    python bench/verified_speed.py --run runs/quickstart --identities 1000 --per-identity 10 --max-similarity 0.9
    python bench/verified_speed.py --run RUN --work W -- --nuisance 0 --variation 1 --min-consistency 0.64
                                     (after --: more flags for the verified export)

Results go to WORK/verified_speed.json as each export ends; a re-run reuses finished exports.

Both exports write every image as a file: on ext4, files created in the minutes after many others were deleted on
the same disk wait on its inode allocator (it skips recently freed inodes), which can make the unverified export two
to three times slower and the ratio meaningless. Use a fresh --work and delete earlier ones afterwards, not just before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import export_seconds, machine  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="a run `facegen train` made (with RUN/embedder)")
    p.add_argument("--identities", type=int, default=1000)
    p.add_argument("--per-identity", type=int, default=10)
    p.add_argument("--max-similarity", type=float, default=0.9, help="the verified export's separation limit")
    p.add_argument("--batch-size", type=int, help="both exports' --batch-size [default: the export's]")
    p.add_argument("--work", type=Path, default=Path("/tmp/verified-speed"))
    p.add_argument("export_flags", nargs=argparse.REMAINDER,
                   help="after --: more `facegen export` flags for the verified export")
    args = p.parse_args()
    flags = args.export_flags[1:] if args.export_flags[:1] == ["--"] else args.export_flags
    args.work.mkdir(parents=True, exist_ok=True)
    results_path = args.work / "verified_speed.json"
    results = {"machine": machine(), "when": dt.date.today().isoformat(), "run": str(args.run),
               "identities": args.identities, "per_identity": args.per_identity,
               "max_similarity": args.max_similarity, "batch_size": args.batch_size, "export_flags": flags}
    common = ["--checkpoint", str(args.run), "--identities", str(args.identities), "--per-identity",
              str(args.per_identity), "--no-attributes", "--quiet"]
    common += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    for name, extra in (("unverified", ["--no-verify"]),
                        ("verified", ["--max-similarity", str(args.max_similarity), *flags])):
        out = args.work / name
        r = subprocess.run([sys.executable, "-m", "facegen", "export", *common, *extra, "--out", str(out)],
                           capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(r.stderr[-2000:])
        record = json.loads((out / "export.json").read_text())
        results[name] = {"seconds": round(export_seconds(record), 1), "images": record["counts"]["images"],
                         "images_per_second": round(record["counts"]["images"] / export_seconds(record), 1),
                         "redrawn": record["counts"]["replaced_this_run"],
                         **({k: record["identity_check"][k] for k in ("candidates_drawn", "candidates_per_identity")}
                            if "identity_check" in record else {})}
        results_path.write_text(json.dumps(results, indent=2))
        print(name, results[name], flush=True)
    ratio = results["unverified"]["seconds"] / results["verified"]["seconds"]
    results["speed_ratio"] = round(ratio, 3)
    embed_seconds = embedder_seconds(args.work / "unverified", args.work / "verified")
    ceiling = results["unverified"]["seconds"] / (results["unverified"]["seconds"] + embed_seconds)
    results["embedder_alone"] = {"seconds": round(embed_seconds, 1), "ceiling": round(ceiling, 3)}
    results_path.write_text(json.dumps(results, indent=2))
    print(f"verified export speed: {ratio:.2f}x the unverified export's "
          f"({results['verified']['seconds']} s against {results['unverified']['seconds']} s for "
          f"{results['verified']['images']} images; {results['verified'].get('candidates_per_identity')} candidates "
          f"per identity, {results['verified']['redrawn']} consistency redraws)")
    print(f"the embedder alone on the {results['unverified']['images']} written images: {embed_seconds:.1f} s, so "
          f"embedding every written image caps the verified export at {ceiling:.2f}x on this CPU")


def embedder_seconds(unverified: Path, verified: Path) -> float:
    """Seconds the verified export's embedder (its path and precision from export.json) takes to embed the
    unverified export's images, decoded beforehand: its cost per written image, without G or the PNG encoding."""
    from facegen.metrics.evaluate import fake_images_from_export
    from facegen.models.embedders import load_embedder

    settings = json.loads((verified / "export.json").read_text())["settings"]
    embedder = load_embedder(settings["embedder"], settings.get("precision", "off"))
    images = fake_images_from_export(unverified)[0]
    embedder.embed(images[:256])  # the trace, outside the timing
    start = time.perf_counter()
    embedder.embed(images)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
