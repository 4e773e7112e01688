# Shared by the end-to-end benches: the pipeline configuration of issue 12 — per camera a
# calibration, a counting line, a zone and a speeding rule — on stdout.
# Usage: source bench/camera_config.sh; camera_config CAMERAS DIR WORKERS [LAKE_LINES] [PACING] [JUNCTION]
#   cameras read DIR/cam-N.jsonl; the lake is DIR/lake; LAKE_LINES go under [lake];
#   PACING is the cameras' pacing (fast by default); JUNCTION=junction also makes every camera
#   a junction (issue 17): a west and an east approach over the road, each with an entry gate,
#   a stop line, a lane and an exit gate, controlled by the signal DIR/tl-N.jsonl — write those
#   with junction_signals.
camera_config() {
  printf '[lake]\nurl = "file://%s/lake"\n%s\n[pipeline]\nworkers = %s\n' "$2" "${4:-}" "$3"
  for c in $(seq 1 "$1"); do
    cat <<EOF
[[camera]]
id = "cam-$c"
source = "detections:$2/cam-$c.jsonl"
pacing = "${5:-fast}"
road_length_m = 96.0
[camera.calibration]
image = [[0, 250], [1920, 250], [1920, 1080], [0, 1080]]
world = [[0, 25], [96, 25], [96, 0], [0, 0]]
[[camera.line]]
id = "count-1"
points = [[960, 250], [960, 1080]]
[[camera.zone]]
id = "approach"
polygon = [[200, 250], [1700, 250], [1700, 1080], [200, 1080]]
EOF
    [ "${6:-}" = junction ] && cat <<EOF
[[camera.approach]]
id = "west"
signal = "tl-$c"
entry = [[5, 0], [5, 25]]
stop_line = [[40, 0], [40, 25]]
exit = [[5, 25], [5, 0]]
lanes = [{ id = "west", polygon = [[0, 0], [40, 0], [40, 25], [0, 25]] }]
[[camera.approach]]
id = "east"
signal = "tl-$c"
entry = [[91, 0], [91, 25]]
stop_line = [[56, 0], [56, 25]]
exit = [[91, 25], [91, 0]]
lanes = [{ id = "east", polygon = [[56, 0], [96, 0], [96, 25], [56, 25]] }]
[[signal]]
id = "tl-$c"
source = "signals:$2/tl-$c.jsonl"
EOF
    cat <<EOF
[[rule]]
id = "speeding-$c"
kind = "speeding"
camera = "cam-$c"
zone = "approach"
limit_kmh = 50.0
tolerance_kmh = 5.0
min_duration_ms = 1000
EOF
  done
}

# Writes DIR/tl-1..CAMERAS.jsonl: a 20 s green/yellow/red cycle per camera (offset 2.5 s per
# camera) over SECONDS of the generator's footage (it starts at 2026-01-01T00:00Z).
# Usage: junction_signals CAMERAS SECONDS DIR
junction_signals() {
  local start=1767225600000
  for c in $(seq 1 "$1"); do
    awk -v c="$c" -v from=$((start - 20000)) -v to=$((start + $2 * 1000 + 20000)) 'BEGIN {
      for (t = from + (c - 1) * 2500; t < to; t += 20000) {
        printf "{\"signal_id\":\"tl-%d\",\"ts_ms\":%.0f,\"state\":\"green\"}\n", c, t
        printf "{\"signal_id\":\"tl-%d\",\"ts_ms\":%.0f,\"state\":\"yellow\"}\n", c, t + 8000
        printf "{\"signal_id\":\"tl-%d\",\"ts_ms\":%.0f,\"state\":\"red\"}\n", c, t + 10000
      }
    }' > "$3/tl-$c.jsonl"
  done
}
