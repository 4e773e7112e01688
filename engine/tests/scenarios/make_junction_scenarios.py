#!/usr/bin/env python3
"""Writes the junction golden scenario (issue 17), `junction-four-legs`: config.toml,
input.jsonl and a signals file per signal. Deterministic (seeded jitter). Re-run it after changing the scene,
then bless: ITSCAM_BLESS=1 cargo nextest run -p itscam --test it golden::golden_scenarios
(bless rewrites every scenario's expected/: review the diff).

The camera looks straight down: 1000 x 1000 px, 20 px per metre, the image square is the
ground's 50 m x 50 m (x east, y north: image y grows southwards). Two 10 m roads cross at
(25, 25): N-S at x 20..30, E-W at y 20..30, one lane each way, right-hand traffic. Frames every
100 ms; a car's box 80 x 40 px, its ground point the box's bottom centre; boxes are clipped
at the image border and dropped once less than half of one shows, as a detector's are.
"""
import json, math, os, random

T0 = 1767225600000  # 2026-01-01 00:00 UTC
HERE = os.path.dirname(os.path.abspath(__file__))
PX_PER_M, DT_MS, N_FRAMES = 20.0, 100, 1100

# Lane centres: southbound x 22.5, northbound x 27.5, eastbound y 22.5, westbound y 27.5.
SB, NB, EB, WB = 22.5, 27.5, 22.5, 27.5

# Routes on the ground (m), entering the view and leaving it.
ROUTES = {
    ("south", "north"): [(NB, -3), (NB, 53)],
    ("south", "east"): [(NB, -3), (NB, 20), (NB + 1, 21.5), (30, EB), (53, EB)],
    ("south", "west"): [(NB, -3), (NB, 20), (NB - 0.5, 25), (25, WB), (20, WB), (-3, WB)],
    ("north", "south"): [(SB, 53), (SB, -3)],
    ("north", "east"): [(SB, 53), (SB, 30), (SB + 0.5, 25), (25, EB), (30, EB), (53, EB)],
    ("north", "north"): [(SB, 53), (SB, 30), (SB, 25), (25, 24), (NB, 25), (NB, 30), (NB, 53)],
    ("east", "west"): [(53, WB), (-3, WB)],
    ("east", "south"): [(53, WB), (30, WB), (25, WB - 0.5), (SB, 25), (SB, 20), (SB, -3)],
    ("west", "north"): [(-3, EB), (20, EB), (25, EB + 0.5), (NB, 25), (NB, 30), (NB, 53)],
    ("west", "south"): [(-3, EB), (20, EB), (21.5, EB - 1), (SB, 20), (SB, -3)],
    ("west", "east"): [(-3, EB), (53, EB)],
    # Lost inside the junction: its detections stop there.
    ("west", "lost"): [(-3, EB), (24, EB)],
}


def image(p):
    return (p[0] * PX_PER_M, (50.0 - p[1]) * PX_PER_M)


def at(route, s):
    for a, b in zip(route, route[1:]):
        d = math.dist(a, b)
        if s <= d:
            return (a[0] + (b[0] - a[0]) * s / d, a[1] + (b[1] - a[1]) * s / d)
        s -= d
    return None


def road_user(cls, start_s, route, kmh, w=80, h=40, stop=None):
    """`stop`: (arc length m, until s) — the user drives no further than that point of its
    route before event time `until` (it queues there), then on."""
    return {"class": cls, "start": int(start_s * 1000 / DT_MS), "route": route, "kmh": kmh, "w": w, "h": h, "stop": stop}


def positions(u):
    out, s, f = {}, 0.0, u["start"]
    step = u["kmh"] / 3.6 * DT_MS / 1000.0
    while f < N_FRAMES:
        p = at(u["route"], s)
        if p is None:
            break
        out[f] = image(p)
        if u["stop"] and f * DT_MS / 1000.0 < u["stop"][1]:
            s = min(s + step, max(s, u["stop"][0]))
        else:
            s += step
        f += 1
    return out


def frames(users, rng):
    paths = [positions(u) for u in users]
    lines = []
    for f in range(N_FRAMES):
        dets = []
        for u, path in zip(users, paths):
            if f in path:
                x, y = path[f]
                jx, jy = rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)
                box = [x - u["w"] / 2 + jx, y - u["h"] + jy, x + u["w"] / 2 + jx, y + jy]
                # Like a detector: the box clipped to the image, gone once less than half shows.
                clipped = [max(0.0, box[0]), max(0.0, box[1]), min(1000.0, box[2]), min(1000.0, box[3])]
                if (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) >= 0.5 * u["w"] * u["h"]:
                    dets.append({"class": u["class"], "confidence": 0.9, "bbox": [round(v, 1) for v in clipped]})
        lines.append({"camera_id": "cam-1", "ts_ms": T0 + DT_MS * f, "frame": f, "width": 1000, "height": 1000, "detections": dets})
    return lines


def cycle(green_s, yellow_s, red_s, offset_s, until_s):
    """A fixed-time signal: (ts_ms, state) changes from `offset_s` (green first)."""
    out, t = [(0, "red")] if offset_s > 0 else [], offset_s
    while t < until_s:
        out += [(t, "green"), (t + green_s, "yellow"), (t + green_s + yellow_s, "red")]
        t += green_s + yellow_s + red_s
    return [(int(s * 1000), st) for s, st in out]


# N/S green 0-30 s, yellow 30-33, red 33-63, ...; E/W green 33-60, yellow 60-63, red 63-96, ...
SIGNALS = {"tl-ns": cycle(30, 3, 30, 0, 110), "tl-ew": cycle(27, 3, 33, 33, 110)}

def stop_south(rear_y):
    """Waiting with the rear (the box's bottom edge: the ground point) at `rear_y` until the N/S
    green at 63 s; the route starts at y -3. The box reaches `h` px north of it: the first car
    stops with its front 0.5 m behind the stop line (y 20)."""
    return (rear_y + 3.0, 63.0)


USERS = [
    road_user("car", 0, ROUTES[("south", "north")], 30),
    road_user("truck", 2, ROUTES[("north", "south")], 30, w=100, h=50),
    road_user("car", 4, ROUTES[("south", "east")], 25),
    road_user("car", 6.5, ROUTES[("north", "east")], 25),
    road_user("car", 12, ROUTES[("north", "north")], 20),
    road_user("car", 9, ROUTES[("south", "west")], 25),
    road_user("car", 36, ROUTES[("east", "west")], 30),
    road_user("car", 38, ROUTES[("west", "north")], 25),
    road_user("bus", 41, ROUTES[("east", "south")], 25, w=120, h=50),
    road_user("car", 44, ROUTES[("west", "south")], 25),
    road_user("car", 48, ROUTES[("west", "lost")], 30),
    # A queue at the south stop line during the N/S red, released at the green (63 s).
    road_user("car", 40, ROUTES[("south", "north")], 30, stop=stop_south(17.5)),
    road_user("car", 42, ROUTES[("south", "north")], 30, stop=stop_south(14.0)),
    road_user("truck", 44, ROUTES[("south", "north")], 30, w=100, h=50, stop=stop_south(10.0)),
    # Over the west stop line just before the first bin ends (60 s), out after it: the bin's
    # count is corrected (revision 1).
    road_user("car", 53.5, ROUTES[("west", "east")], 15),
    # A pedestrian on the north crosswalk, walking east.
    road_user("person", 70, [(17, 31.5), (33, 31.5)], 5, w=20, h=40),
]

APPROACHES = """
[[camera.approach]]
id = "north"
signal = "tl-ns"
entry = [[20, 44], [25, 44]]
stop_line = [[20, 33], [25, 33]]
exit = [[25, 40], [30, 40]]
lanes = [{ id = "north-1", polygon = [[20, 48], [25, 48], [25, 33], [20, 33]] }]
exit_lanes = [{ id = "north-out", polygon = [[25, 30], [30, 30], [30, 48], [25, 48]] }]

[[camera.approach]]
id = "south"
signal = "tl-ns"
entry = [[25, 8], [30, 8]]
stop_line = [[25, 20], [30, 20]]
exit = [[20, 12], [25, 12]]
lanes = [{ id = "south-1", polygon = [[25, 2], [30, 2], [30, 20], [25, 20]] }]
exit_lanes = [{ id = "south-out", polygon = [[20, 2], [25, 2], [25, 20], [20, 20]] }]

[[camera.approach]]
id = "east"
signal = "tl-ew"
entry = [[42, 25], [42, 30]]
stop_line = [[30, 25], [30, 30]]
exit = [[38, 20], [38, 25]]
lanes = [{ id = "east-1", polygon = [[30, 25], [48, 25], [48, 30], [30, 30]] }]
exit_lanes = [{ id = "east-out", polygon = [[30, 20], [48, 20], [48, 25], [30, 25]] }]

[[camera.approach]]
id = "west"
signal = "tl-ew"
entry = [[8, 20], [8, 25]]
stop_line = [[20, 20], [20, 25]]
exit = [[12, 25], [12, 30]]
lanes = [{ id = "west-1", polygon = [[2, 20], [20, 20], [20, 25], [2, 25]] }]
exit_lanes = [{ id = "west-out", polygon = [[2, 25], [20, 25], [20, 30], [2, 30]] }]

[[camera.crosswalk]]
id = "crosswalk-north"
polygon = [[20, 30.5], [30, 30.5], [30, 32.5], [20, 32.5]]
"""


def main():
    d = os.path.join(HERE, "junction-four-legs")
    os.makedirs(d, exist_ok=True)
    lines = frames(USERS, random.Random(17))
    with open(os.path.join(d, "input.jsonl"), "w") as fh:
        fh.write("".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines))
    for sid, changes in SIGNALS.items():
        with open(os.path.join(d, f"{sid}.jsonl"), "w") as fh:
            for ts, state in changes:
                fh.write(json.dumps({"signal_id": sid, "ts_ms": T0 + ts, "state": state}, separators=(",", ":")) + "\n")
    with open(os.path.join(d, "config.toml"), "w") as fh:
        fh.write(f"""# Generated by make_junction_scenarios.py (see its docstring and README.md here).
[lake]
url = "file://./lake"

[analytics]
window_ms = 10000

[analytics.junction]
bin_ms = 60000
free_flow_speed_kmh = 30.0

[tracker]
min_hits = 3

[[camera]]
id = "cam-1"
source = "detections:input.jsonl"
road_length_m = 50.0
[camera.calibration]
image = [[0, 0], [1000, 0], [1000, 1000], [0, 1000], [500, 500]]
world = [[0, 50], [50, 50], [50, 0], [0, 0], [25, 25]]
{APPROACHES}
[[signal]]
id = "tl-ns"
source = "signals:tl-ns.jsonl"

[[signal]]
id = "tl-ew"
source = "signals:tl-ew.jsonl"

[[rule]]
id = "south-queue"
severity = "medium"
sql = "SELECT max(queue_m) FROM queue_samples WHERE lane_id = 'south-1' AND queue_m > 8 FOR 5 s"
""")


if __name__ == "__main__":
    main()
