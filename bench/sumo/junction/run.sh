#!/usr/bin/env bash
# Question (issue 17): how accurate are itscam's turning movement counts, queues per cycle,
# control delay, level of service and arrivals on green at a signalised junction whose ground
# truth is known? SUMO simulates a 4-leg junction (all movements, a truck/bus/motorcycle/
# bicycle mix, pedestrians); a camera 40 m up south-west of it sees all four legs; itscam runs
# on the projected boxes; score.py compares its junction tables with SUMO's own outputs.
# Goals (issue 17): turning counts ≥ 98 % per 15-min bin × approach × movement and the total
# within 1 %; queue per lane-cycle MAE ≤ 1 vehicle or 7 m; control delay per approach-bin MAE
# ≤ 2 s; LOS equal in ≥ 95 % of approach-bins; arrivals on green MAE ≤ 3 percentage points.
# Run with: bench/sumo/junction/run.sh   (MINUTES=30 SEED=7 WORK=dir ITSCAM=path to change)
set -euo pipefail
cd "$(dirname "$0")/../../.."
here=bench/sumo/junction
MINUTES=${MINUTES:-30}; SEED=${SEED:-7}
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"
t() { local s=$SECONDS; "$@"; echo "  ($(( SECONDS - s )) s)"; }

if ! command -v sumo >/dev/null || ! command -v netconvert >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sumo >/dev/null
  else
    echo "run.sh: please install Debian's sumo package" >&2; exit 1
  fi
fi
itscam=${ITSCAM:-${CARGO_TARGET_DIR:-target}/release/itscam}
[ -x "$itscam" ] || cargo build --release -q -p itscam
itscam=$(realpath "$itscam")

# score.py needs pyarrow: python3's own, or a venv.
score_py=python3
if ! python3 -c "import pyarrow" 2>/dev/null; then
  venv=${SCORE_VENV:-$HOME/.cache/itscam/venv-pyarrow-22.0.0}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c "import pyarrow" 2>/dev/null || "$venv/bin/pip" install -q "pyarrow==22.0.0"
  score_py="$venv/bin/python"
fi

t python3 $here/scenario.py "$work/sumo" --minutes "$MINUTES" --seed "$SEED"
t python3 $here/project.py "$work/sumo" "$work/run" --seed "$SEED"
t python3 $here/truth.py "$work/sumo" "$work/truth"
"$score_py" $here/score.py --self-test "$work/truth" >/dev/null || { echo "run.sh: score.py --self-test failed" >&2; exit 1; }

# The junction geometry (junction.toml) goes with the camera's config; `itscam check` prints
# what it made of it (the movement of every approach pair).
cd "$work/run"
cat config.toml junction.toml > config-junction.toml
"$itscam" check --config config-junction.toml
config=config-junction.toml
rm -rf lake
echo "itscam run --config $config"
t "$itscam" run --config "$config" --no-progress
cd - >/dev/null
"$score_py" $here/score.py "$work/truth" "$work/run/lake"
