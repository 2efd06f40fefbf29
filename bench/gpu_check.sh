#!/usr/bin/env bash
# GPU check (under 8 minutes on one modern GPU): install, train `paper` a few hundred steps with and without
# mixed precision / XLA, export 100,000 `paper` images, print training img/s, export img/s and the share of
# the export spent waiting on writers; then the extra cost of --embedder and --attributes in the export
# (the embedder and classifier run in G's block tf.function on the device). Run from the repository root on a machine with a GPU:
#     bash bench/gpu_check.sh 2>&1 | tee gpu_check.log
set -euo pipefail
STEPS=${STEPS:-300}
COUNT=${COUNT:-100000}
work=$(mktemp -d)
python3 -m pip install -q -e '.[gpu]' 2>/dev/null || python3 -m pip install -q -e .
python3 - <<'PY'
import facegen, tensorflow as tf
print("TensorFlow", tf.__version__, "GPUs:", [d.name for d in tf.config.list_physical_devices("GPU")])
PY
facegen data sample --out "$work/data" --count 2000 >/dev/null
for variant in "fp32:" "xla:--xla" "mixed16:--mixed-precision float16" "mixed16+xla:--mixed-precision float16 --xla"; do
  name=${variant%%:*}; flags=${variant#*:}
  start=$(date +%s.%N)
  facegen train --data "$work/data" --out "$work/run-$name" --preset paper --steps "$STEPS" --batch-size 128 \
    --checkpoint-every "$STEPS" --sample-every "$STEPS" --quiet $flags | tail -1
  end=$(date +%s.%N)
  python3 -c "print(f'train $name: {($STEPS * 128) / ($end - $start):.0f} img/s including start-up and compile')"
done
python3 - "$work" "$COUNT" <<'PY'
import sys, time
from pathlib import Path
import facegen  # noqa: F401
from facegen.config import ExportConfig
from facegen.export import render as ex  # the renderer alone: exactly this ExportConfig
from facegen.export.identities import resolve_counts

work, count = Path(sys.argv[1]), int(sys.argv[2])
k, m = resolve_counts(count, None, None)
waited = {"s": 0.0}

# Time spent blocked on writers = time inside the exporter's future.result() calls.
import concurrent.futures as cf
orig = cf.Future.result
def timed(self, *a, **kw):
    t = time.perf_counter(); r = orig(self, *a, **kw); waited["s"] += time.perf_counter() - t; return r
cf.Future.result = timed
t = time.perf_counter()
r = ex.export(work / "run-fp32", work / "synth", ExportConfig(identities=k, per_identity=m, batch_size=1024),
              progress=False)
total = time.perf_counter() - t
print(f"export: {count} paper images in {total:.1f} s = {count / total:.0f} img/s; "
      f"waiting on writers {100 * waited['s'] / total:.0f}% of the time")
PY
# Verified identities and attribute labels: the same `paper` run exported with and without the embedder
# and the attribute classifier (each `small`, trained briefly: the cost, not the quality, is measured).
EXTRA_COUNT=${EXTRA_COUNT:-20000}
# Identity limits wide open: a briefly trained GAN and embedder would fail the calibrated ones, and the
# check costs the same either way; the consistency redraws (calibrated) stay.
loose="--max-similarity 1 --max-leakage 1"
facegen embedder train --data "$work/data" --out "$work/embedder" --preset small --steps 200 --quiet >/dev/null
facegen attributes train --data "$work/data" --out "$work/attributes" --preset small --steps 200 --quiet >/dev/null
for variant in "plain:" "embedder:--embedder $work/embedder $loose" "attributes:--attributes $work/attributes" \
               "both:--embedder $work/embedder $loose --attributes $work/attributes"; do
  name=${variant%%:*}; flags=${variant#*:}
  start=$(date +%s.%N)
  facegen export --checkpoint "$work/run-fp32" --out "$work/extra-$name" --count "$EXTRA_COUNT" --batch-size 1024 \
    --quiet $flags >/dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'export {\"$name\"}: {$EXTRA_COUNT / ($end - $start):.0f} img/s including start-up')"
done
