#!/usr/bin/env python3
"""Writes the rule golden scenarios (one folder per rule kind): config.toml, input.jsonl and,
for red_light, signals.jsonl. Deterministic (seeded jitter). Re-run it after changing a scene,
then bless the expected tables: ITSCAM_BLESS=1 cargo nextest run -p itscam golden

The scene: a camera looking straight down on a road, 1000 x 1000 px, 20 px per metre
(the calibration maps the image square to 50 m x 50 m, y up). Frames every 100 ms.
A vehicle box is 80 x 40 px (4 m x 2 m); its ground point is the bottom centre.
"""
import json, os, random

T0 = 1767225600000
HERE = os.path.dirname(os.path.abspath(__file__))
PX_PER_M = 20.0

CALIBRATION = """[camera.calibration]
image = [[0, 0], [1000, 0], [1000, 1000], [0, 1000], [500, 500]]
world = [[0, 50], [50, 50], [50, 0], [0, 0], [25, 25]]
"""


def kmh_to_px_per_frame(kmh, dt_ms=100):
    return kmh / 3.6 * PX_PER_M * dt_ms / 1000.0


def vehicle(cls, start_frame, frames, path, w=80, h=40):
    """path(i) -> (cx, bottom_y) for the i-th frame of the vehicle."""
    return {"class": cls, "start": start_frame, "frames": frames, "path": path, "w": w, "h": h}


def write(name, comment, config_body, vehicles, n_frames, signals=None, seed=7):
    rng = random.Random(seed)
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    lines = []
    for f in range(n_frames):
        dets = []
        for v in vehicles:
            i = f - v["start"]
            if 0 <= i < v["frames"]:
                cx, by = v["path"](i)
                jx, jy = rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)
                x1, x2 = cx - v["w"] / 2 + jx, cx + v["w"] / 2 + jx
                y2 = by + jy
                y1 = y2 - v["h"]
                dets.append({"class": v["class"], "confidence": 0.9, "bbox": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)]})
        lines.append(json.dumps({"camera_id": "cam-1", "ts_ms": T0 + 100 * f, "frame": f, "width": 1000, "height": 1000, "detections": dets}, separators=(",", ":")))
    with open(os.path.join(d, "input.jsonl"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    if signals:
        with open(os.path.join(d, "signals.jsonl"), "w") as fh:
            for ts, state in signals:
                fh.write(json.dumps({"signal_id": "tl-1", "ts_ms": T0 + ts, "state": state}, separators=(",", ":")) + "\n")
    header = "\n".join("# " + l for l in comment.strip().splitlines())
    with open(os.path.join(d, "config.toml"), "w") as fh:
        fh.write(f"""{header}
[lake]
url = "file://./lake"

[analytics]
window_ms = 10000

[tracker]
min_hits = 3

[[camera]]
id = "cam-1"
source = "detections:input.jsonl"
road_length_m = 50.0
{CALIBRATION}
[[camera.line]]
id = "count-1"
points = [[500, 0], [500, 1000]]
{config_body}""")


def along_x(y, x0, kmh, direction=1):
    step = kmh_to_px_per_frame(kmh) * direction
    return lambda i: (x0 + step * i, y)


# speeding: limit 50 + 5 km/h tolerance for 1 s in the approach zone.
write("rule-speeding", """
Two cars through the approach zone (50 km/h limit, 5 km/h tolerance, 1 s):
the first at 40 km/h (no violation), the second at 72 km/h (one violation, value ~72).
""", """
[[camera.zone]]
id = "approach"
polygon = [[50, 300], [950, 300], [950, 700], [50, 700]]

[[rule]]
id = "speeding-approach"
kind = "speeding"
camera = "cam-1"
zone = "approach"
limit_kmh = 50.0
tolerance_kmh = 5.0
min_duration_ms = 1000
severity = "high"
""", [vehicle("car", 0, 45, along_x(450, 60, 40.0)), vehicle("car", 40, 30, along_x(620, 60, 72.0))], 80)

# red_light: green for 4 s, then red.
write("rule-red-light", """
Two cars cross the stop line (x = 700): the first at ~2.9 s while green, the second at
~7.4 s while red (one violation). Signal tl-1 turns red at 4 s.
""", """
[[camera.line]]
id = "stop-1"
points = [[700, 0], [700, 1000]]

[[signal]]
id = "tl-1"
source = "signals:signals.jsonl"

[[rule]]
id = "red-light-stop-1"
kind = "red_light"
camera = "cam-1"
line = "stop-1"
signal = "tl-1"
severity = "critical"
""", [vehicle("car", 0, 50, along_x(450, 100, 40.0)), vehicle("car", 45, 50, along_x(620, 100, 40.0))], 100,
    signals=[(0, "green"), (4000, "red"), (20000, "green")])


def stop_and_go(y, x0, kmh, stop_at_x, stop_frames):
    step = kmh_to_px_per_frame(kmh)
    arrive = int((stop_at_x - x0) / step)

    def path(i):
        if i <= arrive:
            return (x0 + step * i, y)
        if i <= arrive + stop_frames:
            return (x0 + step * arrive, y)
        return (x0 + step * (i - stop_frames), y)
    return path


# stopped_vehicle: stopped >= 10 s in the no-stopping zone.
write("rule-stopped-vehicle", """
A car stops for 14 s inside the no-stopping zone (one violation); another passes through
without stopping, and a third stops for 4 s only (no violation).
""", """
[[camera.zone]]
id = "no-stop"
polygon = [[300, 350], [900, 350], [900, 700], [300, 700]]

[[rule]]
id = "no-stopping"
kind = "stopped_vehicle"
camera = "cam-1"
zone = "no-stop"
max_speed_kmh = 3.0
min_duration_ms = 10000
severity = "medium"
""", [vehicle("car", 0, 240, stop_and_go(450, 60, 30.0, 600, 140)),
      vehicle("car", 20, 40, along_x(620, 60, 40.0)),
      vehicle("car", 60, 120, stop_and_go(600, 60, 30.0, 500, 40))], 260)

# wrong_way: allowed direction left to right.
write("rule-wrong-way", """
One-way zone, traffic allowed left to right: one car drives with it, one against it for
~2.5 s in the zone (one violation).
""", """
[[camera.zone]]
id = "one-way"
polygon = [[50, 300], [950, 300], [950, 700], [50, 700]]

[[rule]]
id = "wrong-way-one-way"
kind = "wrong_way"
camera = "cam-1"
zone = "one-way"
allowed_direction = [[0, 500], [1000, 500]]
min_duration_ms = 1000
severity = "high"
""", [vehicle("car", 0, 45, along_x(450, 60, 40.0)), vehicle("car", 10, 45, along_x(620, 940, 40.0, -1))], 70)

# zone_intrusion: no cars or trucks in the bus lane.
write("rule-zone-intrusion", """
Bus lane (y 500..700): a bus drives in it (allowed), a car drives in it (one violation),
a truck stays out of it (no violation).
""", """
[[camera.zone]]
id = "bus-lane"
polygon = [[0, 500], [1000, 500], [1000, 700], [0, 700]]

[[rule]]
id = "bus-lane-intrusion"
kind = "zone_intrusion"
camera = "cam-1"
zone = "bus-lane"
classes = ["car", "truck"]
severity = "low"
""", [vehicle("bus", 0, 45, along_x(650, 60, 40.0), w=200, h=60),
      vehicle("car", 10, 45, along_x(600, 60, 40.0)),
      vehicle("truck", 20, 45, along_x(400, 60, 40.0), w=160, h=60)], 80)


def lane_change(x0, kmh, y_from, y_to, start_i, dur_i):
    step = kmh_to_px_per_frame(kmh)

    def path(i):
        a = min(max((i - start_i) / dur_i, 0.0), 1.0)
        return (x0 + step * i, y_from + (y_to - y_from) * a)
    return path


# lane_violation: a solid line between two lanes.
write("rule-lane-violation", """
A solid line at y = 500: one car keeps its lane, one changes lanes across it (one violation),
one drives along just next to the line (jitter within the hysteresis: no violation).
""", """
[[camera.line]]
id = "solid-1"
points = [[0, 500], [1000, 500]]

[[rule]]
id = "solid-line"
kind = "lane_violation"
camera = "cam-1"
line = "solid-1"
severity = "medium"
""", [vehicle("car", 0, 45, along_x(400, 60, 40.0)),
      vehicle("car", 5, 45, lane_change(60, 40.0, 440, 560, 10, 25)),
      vehicle("car", 10, 45, along_x(498, 60, 40.0))], 70)
