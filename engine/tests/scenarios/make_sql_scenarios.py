#!/usr/bin/env python3
"""Writes the rule-language golden scenarios (one folder `sql-<name>` per example rule of the
rule-language issue): config.toml, input.jsonl and, where a rule reads a signal, signals.jsonl.
Deterministic (seeded jitter). Re-run it after changing a scene, then bless the expected
tables: ITSCAM_BLESS=1 cargo nextest run -p itscam --test it golden::golden_scenarios
(bless rewrites every scenario's expected/: review the diff).

The scene is make_rule_scenarios.py's: a camera looking straight down on a road,
1000 x 1000 px, 20 px per metre (the calibration maps the image square to 50 m x 50 m, y up),
frames every 100 ms, a car's box 80 x 40 px (4 m x 2 m), its ground point the bottom centre.

A vehicle here follows a route (a polyline in the image) at a speed profile (km/h per frame,
with linear ramps), so it can slow down, stop, turn and drive off. It leaves the input (its
track ends) when its box would come within 5 px of the image border.
"""
import json, math, os, random

T0 = 1767225600000  # 2026-01-01 00:00 UTC, a Thursday
HERE = os.path.dirname(os.path.abspath(__file__))
PX_PER_M = 20.0
DT_MS = 100

CALIBRATION = """[camera.calibration]
image = [[0, 0], [1000, 0], [1000, 1000], [0, 1000], [500, 500]]
world = [[0, 50], [50, 50], [50, 0], [0, 0], [25, 25]]
"""


def px_per_frame(kmh):
    return kmh / 3.6 * PX_PER_M * DT_MS / 1000.0


def speeds(v0, *segments):
    """Per-frame speeds (km/h): start at v0, then each (frames, v) ramps linearly to v over
    that many frames (a hold when v is the current speed)."""
    out, v = [], v0
    for n, target in segments:
        for k in range(1, n + 1):
            out.append(v + (target - v) * k / n)
        v = target
    return out


def arc(cx, cy, r, a0_deg, a1_deg, n=24):
    """Points of a circular arc (image angles: 0 = right, 90 = down)."""
    return [(cx + r * math.cos(math.radians(a0_deg + (a1_deg - a0_deg) * k / n)),
             cy + r * math.sin(math.radians(a0_deg + (a1_deg - a0_deg) * k / n))) for k in range(n + 1)]


def along(points, s):
    """The point at arc length s of the polyline."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        d = math.hypot(x1 - x0, y1 - y0)
        if s <= d or (x1, y1) == points[-1]:
            a = s / d if d > 0 else 0.0
            return (x0 + (x1 - x0) * a, y0 + (y1 - y0) * a)
        s -= d
    return points[-1]


def vehicle(cls, start, route, profile, w=80, h=40):
    """A vehicle from frame `start` along `route` (ground points) at `profile` (speeds per
    frame, km/h); it keeps the profile's last speed after it, until it leaves the view."""
    return {"class": cls, "start": start, "route": route, "profile": profile, "w": w, "h": h}


def route_length(points):
    return sum(math.hypot(x1 - x0, y1 - y0) for (x0, y0), (x1, y1) in zip(points, points[1:]))


def positions(v, n_frames):
    """Frame -> ground point (cx, bottom y) while the box is inside the view and the
    vehicle has not reached the end of its route."""
    out, s, length = {}, 0.0, route_length(v["route"])
    for i in range(n_frames - v["start"]):
        if s > length:
            break
        cx, by = along(v["route"], s)
        if cx - v["w"] / 2 < 5 or cx + v["w"] / 2 > 995 or by - v["h"] < 5 or by > 995:
            if i > 0:
                break
        else:
            out[v["start"] + i] = (cx, by)
        prof = v["profile"]
        s += px_per_frame(prof[i] if i < len(prof) else prof[-1])
    return out


def frames(vehicles, n_frames, rng, ts_of=lambda f: T0 + DT_MS * f):
    paths = [positions(v, n_frames) for v in vehicles]
    lines = []
    for f in range(n_frames):
        dets = []
        for v, p in zip(vehicles, paths):
            if f in p:
                cx, by = p[f]
                jx, jy = rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)
                x1, x2 = cx - v["w"] / 2 + jx, cx + v["w"] / 2 + jx
                y2 = by + jy
                y1 = y2 - v["h"]
                dets.append({"class": v["class"], "confidence": 0.9, "bbox": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)]})
        lines.append({"camera_id": "cam-1", "ts_ms": ts_of(f), "frame": f, "width": 1000, "height": 1000, "detections": dets})
    return lines


def write(name, comment, config_body, lines, signals=None, analytics=""):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "input.jsonl"), "w") as fh:
        fh.write("".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines))
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
{analytics}
[tracker]
min_hits = 3

[[camera]]
id = "cam-1"
source = "detections:input.jsonl"
road_length_m = 50.0
{CALIBRATION}{config_body}""")


def east(y, x0=60, x1=2000):
    return [(x0, y), (x1, y)]


LANES = """
[[camera.zone]]
id = "left-lane"
polygon = [[0, 300], [1000, 300], [1000, 500], [0, 500]]

[[camera.zone]]
id = "right-lane"
polygon = [[0, 500], [1000, 500], [1000, 700], [0, 700]]
"""

# 1. A truck in the left lane slower than 10 km/h for more than 5 s.
# Each slow vehicle drives in at 20 km/h, brakes to 5 km/h in 1 s, crawls, speeds up again.
crawl = lambda hold: speeds(20, (10, 20), (10, 5), (hold, 5), (10, 20))
write("sql-slow-truck", """
A truck in the left lane slower than 10 km/h for more than 5 s (track_points, FOR 5 s).
Frames 0-: truck 1 crawls at 5 km/h for 9 s in the left lane (the one violation);
truck 2 does the same in the right lane (no: not the left lane).
Frames 160-: a car crawls for 9 s in the left lane (no: not a truck).
Frames 320-: truck 3 crawls for 2 s in the left lane (~2.5 s under 10 km/h: no, too short).
""", LANES + """
[[rule]]
id = "slow-truck-left-lane"
severity = "medium"
sql = \"\"\"
SELECT * FROM track_points
WHERE camera_id = 'cam-1' AND in_zone('left-lane') AND class = 'truck' AND speed_kmh < 10
FOR 5 s\"\"\"
""", frames([
    vehicle("truck", 0, east(440, 100), crawl(90), w=160, h=60),
    vehicle("truck", 0, east(640, 100), crawl(90), w=160, h=60),
    vehicle("car", 160, east(440, 100), crawl(90)),
    vehicle("truck", 320, east(440, 100), crawl(20), w=160, h=60),
], 430, random.Random(11)))

# 2. Spillback: more than 4 vehicles in the approach zone within 10 s, for 30 s.
# Cars at 54 km/h through a 15 m approach zone (1 s in it each); they come into view at
# x = 240 and leave it at x = 780 (a short stretch keeps the input small).
starts = [0, 5, 10]                                   # light: <= 3 a window
starts += [14 + 1.5 * k for k in range(6)]            # a burst: > 4 for ~8 s only
starts += [26, 31, 36, 41]                            # light
starts += [45 + 1.5 * k for k in range(29)]           # dense for ~43 s: > 4 for ~38 s
starts += [93, 98]                                    # light: the episode ends
write("sql-spillback", """
Spillback: more than 4 vehicles in the approach zone within 10 s, for 30 s (zone_presence,
count(DISTINCT track_id) over a sliding 10 s window, HAVING > 4 FOR 30 s).
Cars enter every 5 s (<= 3 in any 10 s), then a burst of 6 cars 1.5 s apart (> 4 for ~8 s:
no violation), light again, then 29 cars 1.5 s apart (7-8 in 10 s for ~44 s: the one
violation, value = the highest count), then light traffic that ends it.
""", """
[[camera.zone]]
id = "approach"
polygon = [[350, 300], [650, 300], [650, 700], [350, 700]]

[[rule]]
id = "spillback-approach"
severity = "high"
sql = \"\"\"
SELECT camera_id, zone_id, count(DISTINCT track_id) AS vehicles
FROM zone_presence
WHERE zone_id = 'approach'
GROUP BY camera_id, zone_id, WINDOW 10 s
HAVING count(DISTINCT track_id) > 4
FOR 30 s\"\"\"
""", frames([vehicle("car", int(round(t * 10)), [(240, 520), (780, 520)], [54.0]) for t in starts], 1010, random.Random(12)))

# 3. A bicycle in the motorway zone (for 2 s).
write("sql-bicycle-on-motorway", """
A bicycle in the motorway zone (track_points, class = 'bicycle' AND in_zone('motorway') FOR 2 s).
A car and a motorcycle on the motorway (no: other classes); a bicycle on the cycle path below
it (no: outside); a bicycle riding on the motorway (the one violation); a bicycle on the cycle
path swerving into the motorway for ~0.6 s (no: shorter than 2 s).
""", """
[[camera.zone]]
id = "motorway"
polygon = [[0, 200], [1000, 200], [1000, 700], [0, 700]]

[[camera.zone]]
id = "cycle-path"
polygon = [[0, 760], [1000, 760], [1000, 900], [0, 900]]

[[rule]]
id = "bicycle-on-motorway"
severity = "high"
sql = "SELECT * FROM track_points WHERE class = 'bicycle' AND in_zone('motorway') FOR 2 s"
""", frames([
    vehicle("car", 0, east(350), [60.0]),
    vehicle("bicycle", 0, east(600, 40), [20.0], w=40, h=24),
    vehicle("bicycle", 0, east(840, 40), [20.0], w=40, h=24),
    vehicle("motorcycle", 40, east(450), [40.0], w=60, h=24),
    # Cycle path (y 840), a swerve up to y 685 and back: ~0.7 s over the motorway's edge (y 700).
    vehicle("bicycle", 60, [(40, 840), (300, 840), (420, 685), (540, 840), (2000, 840)], [20.0], w=40, h=24),
], 260, random.Random(13)))

# 4. Slower than 10 km/h in lane 1 while tl-1 is green, for 10 s.
# Red until 15 s, green until 70 s, red after.
stop_go = lambda wait: speeds(30, (10, 30), (25, 0), (wait, 0), (25, 30))
write("sql-slow-on-green", """
Slower than 10 km/h in lane-1 while signal tl-1 is green, for 10 s (track_points,
signal_state('tl-1') = 'green', FOR 10 s). tl-1: red until 15 s, green until 70 s.
Car A stops at ~3.5 s in lane-1, waits through the red and drives off 4 s into the green
(no: ~5 s slow on green). At 23 s car B stops in lane-1 for ~15 s of green (the one
violation), car C does the same in lane-2 (no: not lane-1). At 45 s car D stops 6 s in
lane-1 on green (no: ~6.5 s slow, too short).
""", """
[[camera.zone]]
id = "lane-1"
polygon = [[0, 300], [1000, 300], [1000, 500], [0, 500]]

[[camera.zone]]
id = "lane-2"
polygon = [[0, 500], [1000, 500], [1000, 700], [0, 700]]

[[camera.line]]
id = "stop-1"
points = [[800, 300], [800, 700]]

[[signal]]
id = "tl-1"
source = "signals:signals.jsonl"

[[rule]]
id = "slow-on-green-lane-1"
severity = "low"
sql = \"\"\"
SELECT * FROM track_points
WHERE in_zone('lane-1') AND speed_kmh < 10 AND signal_state('tl-1') = 'green'
FOR 10 s\"\"\"
""", frames([
    vehicle("car", 0, east(440, 100), stop_go(155)),
    vehicle("car", 230, east(440, 100), stop_go(135)),
    vehicle("car", 230, east(640, 100), stop_go(135)),
    vehicle("car", 450, east(440, 100), stop_go(50)),
], 580, random.Random(14)), signals=[(0, "red"), (15000, "green"), (70000, "red")])

# 5. Speeding in the school zone 7-9 h on school days (Europe/Berlin, UTC+1 in January).
HOUR = 3_600_000
DAY = 24 * HOUR
segments = [  # (start ms after T0, what)
    (6 * DAY + 5 * HOUR + 45 * 60_000, "Wed 2026-01-07 06:45 Berlin (05:45 UTC): too early"),
    (6 * DAY + 6 * HOUR + 30 * 60_000, "Wed 2026-01-07 07:30 Berlin (06:30 UTC; hour 6 in UTC): the violation"),
    (6 * DAY + 8 * HOUR + 30 * 60_000, "Wed 2026-01-07 09:30 Berlin (08:30 UTC; hour 8 in UTC): too late"),
    (10 * DAY + 6 * HOUR + 30 * 60_000, "Sun 2026-01-11 07:30 Berlin (06:30 UTC): Sunday"),
]
SEG_FRAMES = 90
school_vehicles, seg_start = [], {}
for k, (ms, _) in enumerate(segments):
    school_vehicles.append(vehicle("car", k * SEG_FRAMES, east(440), [50.0]))
    seg_start[k] = ms
school_vehicles.append(vehicle("car", SEG_FRAMES, east(640, 300), [25.0]))  # with the violation: not speeding
ts_school = lambda f: T0 + seg_start[f // SEG_FRAMES] + DT_MS * (f % SEG_FRAMES)
write("sql-school-zone", """
Speeding (over 30 km/h) in the school zone 7-9 h on school days, [analytics] time_zone =
Europe/Berlin (zone_presence, speed_over(30) AND hour_of_day() BETWEEN 7 AND 8 AND
day_of_week() <= 5 FOR 1 s; value = the episode's max speed). Four 9 s stretches of input,
each with a car at 50 km/h through the zone:
""" + "\n".join(f"  {what}" for _, what in segments) + """
With the violation a second car at 25 km/h (no: not speeding).
""", """
[[camera.zone]]
id = "school"
polygon = [[100, 300], [900, 300], [900, 700], [100, 700]]

[[rule]]
id = "school-zone-speeding"
severity = "high"
sql = \"\"\"
SELECT max(speed_kmh) FROM zone_presence
WHERE zone_id = 'school' AND speed_over(30)
  AND hour_of_day() BETWEEN 7 AND 8 AND day_of_week() <= 5
FOR 1 s\"\"\"
""", frames(school_vehicles, len(segments) * SEG_FRAMES, random.Random(15), ts_school), analytics='time_zone = "Europe/Berlin"\n')

# 6. A U-turn: heading reversed (against the eastbound traffic) inside the junction for 1 s.
R = 100
u_turn = [(60, 640), (500, 640)] + arc(500, 540, R, 90, -90)[1:] + [(60, 440)]
right_turn = [(60, 440), (450, 440)] + arc(450, 540, R, -90, 0)[1:] + [(550, 2000)]
u_turn_early = [(60, 640), (180, 640)] + arc(180, 560, 80, 90, -90)[1:] + [(-2000, 480)]
write("sql-u-turn", """
A U-turn: heading reversed inside the junction (track_points, in_zone('junction') AND
against(1, 0) FOR 1 s; traffic runs left to right). Car A drives straight through (no);
car B makes a U-turn in the junction and drives back west through it (the one violation);
car C turns right in the junction (no: 90 degrees is not against); car D makes a U-turn
before the junction and never enters it (no).
""", """
[[camera.zone]]
id = "junction"
polygon = [[350, 250], [650, 250], [650, 750], [350, 750]]

[[rule]]
id = "u-turn-junction"
severity = "medium"
sql = "SELECT * FROM track_points WHERE in_zone('junction') AND against(1, 0) FOR 1 s"
""", frames([
    vehicle("car", 0, east(440), [20.0]),
    vehicle("car", 0, u_turn, [15.0]),
    vehicle("car", 190, right_turn, [15.0]),
    vehicle("car", 190, u_turn_early, [15.0]),
], 320, random.Random(16)))
