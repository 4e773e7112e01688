#!/usr/bin/env bash
# Question: how accurate are itscam's speeds, line counts and rule violations on traffic whose
# ground truth is known? Eclipse SUMO simulates a signalized approach (speeders, red-light
# runners, vehicles stopping in a no-stopping stretch); a pinhole camera model turns it into
# noisy per-frame boxes; itscam runs on them; score.py compares with SUMO's truth.
# Goals (issue 4): speed MAE < 1.5 km/h and p95 < 4 km/h; line counts ≥ 99.5 % correct;
# violation F1 ≥ 0.95 per kind; (issue 12) IDF1 ≥ 0.95 and at most one ID switch per ten
# vehicles by py-motmetrics, per-minute line counts per class ≥ 99.5 %.
# Run with: bench/sumo/run.sh            (MINUTES=20 SEED=7 WORK=dir ITSCAM=path to change)
set -euo pipefail
cd "$(dirname "$0")/../.."
MINUTES=${MINUTES:-20}; SEED=${SEED:-7}
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"

# SUMO from Debian (sumo 1.15: sumo, netconvert); scenario.py and project.py need only python3's
# stdlib, score.py also py-motmetrics (from PyPI, into a venv unless python3 has it).
if ! command -v sumo >/dev/null || ! command -v netconvert >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sumo >/dev/null
  else
    echo "run.sh: please install Debian's sumo package" >&2; exit 1
  fi
fi
itscam=${ITSCAM:-target/release/itscam}
[ -x "$itscam" ] || cargo build --release -q -p itscam
itscam=$(realpath "$itscam")

score_py=python3
probe="import motmetrics as m; m.distances.iou_matrix([[0, 0, 1, 1]], [[0, 0, 1, 1]])"
if ! python3 -c "$probe" 2>/dev/null; then
  venv=${SCORE_VENV:-$HOME/.cache/itscam/venv-motmetrics}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # motmetrics 1.4 still calls numpy APIs that numpy 2 removed.
  "$venv/bin/python" -c "$probe" 2>/dev/null || "$venv/bin/pip" install -q "motmetrics==1.4.0" "numpy<2"
  score_py="$venv/bin/python"
fi

python3 bench/sumo/scenario.py "$work/sumo" --minutes "$MINUTES" --seed "$SEED"
python3 bench/sumo/project.py "$work/sumo" "$work/run" --seed "$SEED"
(cd "$work/run" && rm -rf lake && "$itscam" run --config config.toml --no-progress)
mkdir -p bench/results
"$score_py" -W ignore::DeprecationWarning bench/sumo/score.py "$work/run" "$itscam" --out bench/results/sumo.md
