#!/usr/bin/env python3
"""Projects the SUMO trajectories through a pinhole camera into per-frame detections (with
noise), and writes the engine's inputs and the ground truth.

The camera stands 9 m up, 19 m past the stop line and 4 m south of the road, looking west up
the approach (pitch 12° down, f = 1500 px, 1920×1080). Each vehicle is a 3-D box (length,
width, height from its type) whose 8 corners are projected; the detection is their bounding
box, clipped to the image. Noise: Gaussian jitter of each box edge (σ 1.5 px), 5 % missed
detections, ~0.1 false positives per frame; vehicles farther than 180 m or smaller than 10 px
are not detected; occlusion is not modelled.

Writes into DIR: detections.jsonl, signals.jsonl, config.toml, and truth.json (per vehicle and
frame: true box, speed; true line crossings with their time and class, and violations, computed
with the engine's rule semantics from the noise-free boxes).

usage: project.py SCENARIO_DIR DIR [--seed 7]
"""
import argparse, bisect, json, math, os, random, xml.etree.ElementTree as ET

p = argparse.ArgumentParser()
p.add_argument("scenario")
p.add_argument("out")
p.add_argument("--seed", type=int, default=7)
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
rng = random.Random(a.seed)

T0 = 1767225600000
W, H, F = 1920, 1080, 1500.0
C = (412.0, 391.0, 9.0)
PITCH = math.radians(12)
FWD = (-math.cos(PITCH), 0.0, -math.sin(PITCH))
RIGHT = (0.0, 1.0, 0.0)
DOWN = (FWD[1] * RIGHT[2] - FWD[2] * RIGHT[1], FWD[2] * RIGHT[0] - FWD[0] * RIGHT[2], FWD[0] * RIGHT[1] - FWD[1] * RIGHT[0])
DIMS = {"car": (4.5, 1.8, 1.5), "speeder": (4.5, 1.8, 1.5), "runner": (4.5, 1.8, 1.5), "truck": (9.0, 2.5, 3.2), "bus": (12.0, 2.5, 3.2)}
CLASS = {"car": "car", "speeder": "car", "runner": "car", "truck": "truck", "bus": "bus"}
# Ground frame of the config: metres, origin at (200, 390) of the SUMO network.
OX, OY = 200.0, 390.0
STOP_X, LANE_Y0, LANE_Y1 = 392.8, 393.6, 400.0   # stop line; outer edges of the two lanes
COUNT_X = 350.0


def dot(u, v):
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def project(x, y, z=0.0):
    d = (x - C[0], y - C[1], z - C[2])
    zc = dot(d, FWD)
    if zc < 1.0:
        return None
    return (F * dot(d, RIGHT) / zc + W / 2, F * dot(d, DOWN) / zc + H / 2)


def box_of(x, y, angle, vtype):
    L, Wd, Ht = DIMS[vtype]
    hx, hy = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    px, py = hy, -hx
    pts = []
    for along in (0.0, -L):
        for side in (-Wd / 2, Wd / 2):
            for z in (0.0, Ht):
                q = project(x + along * hx + side * px, y + along * hy + side * py, z)
                if q is None:
                    return None
                pts.append(q)
    x1, x2 = min(q[0] for q in pts), max(q[0] for q in pts)
    y1, y2 = min(q[1] for q in pts), max(q[1] for q in pts)
    full = (x2 - x1) * (y2 - y1)
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)
    if cx2 - cx1 < 4 or cy2 - cy1 < 10 or full <= 0 or (cx2 - cx1) * (cy2 - cy1) < 0.5 * full:
        return None
    return [cx1, cy1, cx2, cy2]


def img_poly(ground):
    return [[round(c, 2) for c in project(x, y)] for x, y in ground]


# Vehicle types and kinds.
kinds = {}
for line in open(os.path.join(a.scenario, "kinds.csv")).read().splitlines()[1:]:
    vid, vt, kind = line.split(",")
    kinds[vid] = (vt, kind)

# Trajectories.
frames = {}
for _, el in ET.iterparse(os.path.join(a.scenario, "fcd.xml")):
    if el.tag != "timestep":
        continue
    step = round(float(el.get("time")) * 10)
    vs = []
    for v in el.findall("vehicle"):
        vid = v.get("id")
        vt = kinds.get(vid, ("car", "cross"))[0]
        x, y = float(v.get("x")), float(v.get("y"))
        if math.hypot(x - C[0], y - C[1]) > 180:
            continue
        b = box_of(x, y, float(v.get("angle")), vt)
        if b is not None:
            vs.append({"id": vid, "class": CLASS[vt], "box": b, "speed_kmh": float(v.get("speed")) * 3.6, "x": x, "y": y})
    frames[step] = vs
    el.clear()
steps = sorted(frames)

# Detections with noise.
with open(os.path.join(a.out, "detections.jsonl"), "w") as f:
    for s in steps:
        dets = []
        for v in frames[s]:
            if rng.random() < 0.05:
                continue
            b = [c + rng.gauss(0, 1.5) for c in v["box"]]
            b = [max(0.0, min(W, c)) for c in b]
            if b[2] - b[0] < 2 or b[3] - b[1] < 2:
                continue
            dets.append({"class": v["class"], "confidence": round(rng.uniform(0.6, 0.95), 3), "bbox": [round(c, 1) for c in b]})
        if rng.random() < 0.1:
            x, y = rng.uniform(0, W - 80), rng.uniform(300, H - 60)
            dets.append({"class": "car", "confidence": round(rng.uniform(0.3, 0.5), 3), "bbox": [round(x, 1), round(y, 1), round(x + 60, 1), round(y + 40, 1)]})
        f.write(json.dumps({"camera_id": "approach-cam", "ts_ms": T0 + 100 * s, "frame": s, "width": W, "height": H, "detections": dets}, separators=(",", ":")) + "\n")

# The signal of the approach: from the generated program (links of edge wc).
net = ET.parse(os.path.join(a.scenario, "net.net.xml")).getroot()
links = sorted({int(c.get("linkIndex")) for c in net.iter("connection") if c.get("from") == "wc" and c.get("tl") == "tl-1"})
phases = [(float(ph.get("duration")), ph.get("state")) for ph in net.find("tlLogic").iter("phase")]
cycle = sum(d for d, _ in phases)
end_ms = 100 * steps[-1]
changes = []
t, last = 0.0, None
while t * 1000 <= end_ms:
    for d, state in phases:
        ch = state[links[0]].lower()
        st = {"g": "green", "y": "yellow", "r": "red"}[ch]
        if st != last:
            changes.append((int(t * 1000), st))
            last = st
        t += d
with open(os.path.join(a.out, "signals.jsonl"), "w") as f:
    for ms, st in changes:
        f.write(json.dumps({"signal_id": "tl-1", "ts_ms": T0 + ms, "state": st}) + "\n")


def state_at(ms):
    i = bisect.bisect_right([c[0] for c in changes], ms) - 1
    return changes[i][1] if i >= 0 else "green"


# Calibration from exact projections of ground points.
ground_pts = [(x, y) for x in (250, 300, 340, 380) for y in (392.0, 401.0)]
calib_img = [[round(c, 3) for c in project(x, y)] for x, y in ground_pts]
calib_world = [[round(x - OX, 3), round(y - OY, 3)] for x, y in ground_pts]
approach = [(280, LANE_Y0), (385, LANE_Y0), (385, LANE_Y1), (280, LANE_Y1)]
nostop = [(305, LANE_Y0), (335, LANE_Y0), (335, 396.8), (305, 396.8)]
stop_line = [project(STOP_X, LANE_Y0 - 0.5), project(STOP_X, LANE_Y1 + 0.5)]
count_line = [project(COUNT_X, LANE_Y0 - 0.5), project(COUNT_X, LANE_Y1 + 0.5)]
fmt = lambda pts: "[" + ", ".join(f"[{p[0]:.2f}, {p[1]:.2f}]" for p in pts) + "]"
config = f"""# Generated by bench/sumo/project.py: the SUMO approach camera.
[lake]
url = "file://./lake"

[analytics]
window_ms = 60000

[analytics.speed]
pixel_noise_px = 1.5                    # the detector jitter of this benchmark (σ of each box edge)

[tracker]
ground_pixel_std = 1.5                  # the same jitter, for the tracker's ground-plane gate

[[camera]]
id = "approach-cam"
source = "detections:detections.jsonl"
road_length_m = 170.0
[camera.calibration]
image = {fmt(calib_img)}
world = {fmt(calib_world)}
[[camera.line]]
id = "count-1"
points = {fmt(count_line)}
[[camera.line]]
id = "stop-1"
points = {fmt(stop_line)}
[[camera.zone]]
id = "approach"
polygon = {fmt(img_poly(approach))}
[[camera.zone]]
id = "no-stop"
polygon = {fmt(img_poly(nostop))}

[[signal]]
id = "tl-1"
source = "signals:signals.jsonl"

[[rule]]
id = "speeding-approach"
kind = "speeding"
camera = "approach-cam"
zone = "approach"
limit_kmh = 50.0
tolerance_kmh = 5.0
min_duration_ms = 1000
severity = "high"

[[rule]]
id = "red-light"
kind = "red_light"
camera = "approach-cam"
line = "stop-1"
signal = "tl-1"
severity = "critical"

[[rule]]
id = "no-stopping"
kind = "stopped_vehicle"
camera = "approach-cam"
zone = "no-stop"
max_speed_kmh = 3.0
min_duration_ms = 10000
severity = "medium"
"""
open(os.path.join(a.out, "config.toml"), "w").write(config)


# Ground truth with the engine's semantics, from the noise-free boxes.
def inside(poly, pt):
    x, y = pt
    c = False
    for i in range(len(poly)):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            c = not c
    return c


def side(l, pt):
    (ax, ay), (bx, by) = l
    return (by - ay) * (pt[0] - ax) - (bx - ax) * (pt[1] - ay)


zone_px = {"approach": img_poly(approach), "no-stop": img_poly(nostop)}
tracks = {}
for s in steps:
    for v in frames[s]:
        b = v["box"]
        tracks.setdefault(v["id"], []).append((100 * s, ((b[0] + b[2]) / 2, b[3]), v["speed_kmh"], b, v["class"]))

GRACE = 500
violations, crossings = [], []
for vid, pts in tracks.items():
    # Lines: sign change of the side (the engine adds hysteresis; truth has no noise).
    for lid, l in (("count-1", count_line), ("stop-1", stop_line)):
        prev = None
        for ts, g, _, _, cls in pts:
            sd = side(l, g)
            if prev is not None and (prev < 0) != (sd < 0) and sd != 0:
                crossings.append({"vehicle": vid, "line": lid, "ts_ms": ts, "class": cls, "direction": "forward" if prev < 0 else "backward"})
                if lid == "stop-1" and state_at(ts) == "red":
                    violations.append({"kind": "red_light", "vehicle": vid, "start_ms": ts, "end_ms": ts})
            prev = sd
    # Zone rules: episodes with min duration and grace, as the engine's.
    for kind, zone, cond, min_ms in (("speeding", "approach", lambda s: s > 55.0, 1000), ("stopped_vehicle", "no-stop", lambda s: s <= 3.0, 10000)):
        ep = None
        def close():
            if ep and ep["last"] - ep["start"] >= min_ms:
                violations.append({"kind": kind, "vehicle": vid, "start_ms": ep["start"], "end_ms": ep["last"]})
        for ts, g, sp, _, _ in pts:
            if not inside(zone_px[zone], g):
                if ep:
                    close()
                    ep = None
                continue
            if cond(sp):
                if ep is None:
                    ep = {"start": ts, "last": ts, "false": None}
                else:
                    ep["last"], ep["false"] = ts, None
            elif ep:
                ep["false"] = ep["false"] or ts
                if ts - ep["false"] >= GRACE:
                    close()
                    ep = None
        close()

truth = {"t0": T0, "vehicles": {vid: {"type": kinds.get(vid, ("car", "cross"))[0], "kind": kinds.get(vid, ("car", "cross"))[1],
                                      "frames": [[ts, b, sp] for ts, _, sp, b, _ in pts]} for vid, pts in tracks.items()},
         "crossings": crossings, "violations": violations}
json.dump(truth, open(os.path.join(a.out, "truth.json"), "w"))
by_kind = {}
for v in violations:
    by_kind[v["kind"]] = by_kind.get(v["kind"], 0) + 1
print(f"project: {len(steps)} frames, {sum(len(frames[s]) for s in steps)} true boxes, {len(tracks)} vehicles seen, "
      f"{len(crossings)} true crossings, violations {by_kind}")
