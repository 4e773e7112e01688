# Shared by the end-to-end benches: the pipeline configuration of issue 12 — per camera a
# calibration, a counting line, a zone and a speeding rule — on stdout.
# Usage: source bench/camera_config.sh; camera_config CAMERAS DIR WORKERS [LAKE_LINES] [PACING]
#   cameras read DIR/cam-N.jsonl; the lake is DIR/lake; LAKE_LINES go under [lake];
#   PACING is the cameras' pacing (fast by default).
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
