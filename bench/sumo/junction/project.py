#!/usr/bin/env python3
"""Projects the junction scenario's trajectories through a pinhole camera into per-frame
detections with noise, and writes the engine's inputs.

The camera (geom.py) stands 40 m up (a high mast or a rooftop) 106 m south-west of the junction centre, looking at
the centre (f = 650 px, 1920×1080): all four legs are in view, the near (south, west) ones to
~95 m from the centre, the far ones to ~200 m. Each road user is a 3-D box (length, width,
height from its type) whose 8 corners are projected; the detection is their bounding box, kept
when at least half of it is in the image. Noise as in bench/sumo/project.py: Gaussian jitter of
each edge (σ 1.5 px), 5 % missed detections, ~0.1 false positives per frame; road users farther
than 220 m or smaller than 4×8 px are not detected; occlusion is not modelled.

Writes into DIR: detections.jsonl, signals/<id>.jsonl (tl-<approach> = its through movement,
tl-<approach>-left = its left turn), config.toml (what today's engine runs), and junction.toml
(the proposed [[camera.approach]] / [[camera.crosswalk]] geometry, ground frame, metres).

usage: project.py SUMO_DIR DIR [--seed 7]
"""
import argparse, json, math, os, random, xml.etree.ElementTree as ET
import geom
from geom import W, H, T0

DIMS = {"car": (4.5, 1.8, 1.5), "truck": (10.0, 2.5, 3.4), "bus": (12.0, 2.55, 3.2), "motorcycle": (2.2, 0.9, 1.4),
        "bicycle": (1.8, 0.65, 1.7), "ped": (0.5, 0.6, 1.75)}
COCO = {"car": "car", "truck": "truck", "bus": "bus", "motorcycle": "motorcycle", "bicycle": "bicycle", "ped": "person"}
CAMERA_ID = "junction-cam"


def box_of(x, y, angle, vtype):
    """True pixel box of a road user whose front is at SUMO (x, y), heading `angle`, or None."""
    gx, gy = geom.ground(x, y)
    if math.hypot(gx - geom.CAM[0], gy - geom.CAM[1]) > 220:
        return None
    L, Wd, Ht = DIMS[vtype]
    hx, hy = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    pts = []
    for a in (0.0, -L):
        for s in (-Wd / 2, Wd / 2):
            for z in (0.0, Ht):
                q = geom.project(gx + a * hx + s * hy, gy + a * hy - s * hx, z)
                if q is None:
                    return None
                pts.append(q)
    x1, x2 = min(q[0] for q in pts), max(q[0] for q in pts)
    y1, y2 = min(q[1] for q in pts), max(q[1] for q in pts)
    c = [max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)]
    if c[2] - c[0] < 4 or c[3] - c[1] < 8 or (c[2] - c[0]) * (c[3] - c[1]) < 0.5 * (x2 - x1) * (y2 - y1):
        return None
    return c


def frames(fcd):
    """Yields (step, [(id, coco class, true box)]) per FCD time step."""
    for _, el in ET.iterparse(fcd):
        if el.tag != "timestep":
            continue
        objs = []
        for v in el:
            vt = "ped" if v.tag == "person" else v.get("type")
            b = box_of(float(v.get("x")), float(v.get("y")), float(v.get("angle")), vt)
            if b is not None:
                objs.append((v.get("id"), COCO[vt], b))
        yield round(float(el.get("time")) * 10), objs
        el.clear()


def noisy(rng, objs):
    dets = []
    for _, cls, box in objs:
        if rng.random() < 0.05:
            continue
        b = [max(0.0, min(lim, c + rng.gauss(0, 1.5))) for c, lim in zip(box, (W, H, W, H))]
        if b[2] - b[0] >= 2 and b[3] - b[1] >= 2:
            dets.append({"class": cls, "confidence": round(rng.uniform(0.6, 0.95), 3), "bbox": [round(c, 1) for c in b]})
    if rng.random() < 0.1:
        x, y = rng.uniform(0, W - 60), rng.uniform(400, H - 40)
        dets.append({"class": "car", "confidence": round(rng.uniform(0.3, 0.5), 3), "bbox": [round(x, 1), round(y, 1), round(x + 40, 1), round(y + 25, 1)]})
    return dets


def write_detections(sumo_dir, out, rng):
    stats = {"frames": 0, "boxes": 0, "ids": set(), "xmin": W, "xmax": 0, "ymin": H, "ymax": 0}
    with open(os.path.join(out, "detections.jsonl"), "w") as f:
        for step, objs in frames(os.path.join(sumo_dir, "fcd.xml")):
            stats["frames"] += 1
            stats["boxes"] += len(objs)
            for vid, _, b in objs:
                stats["ids"].add(vid)
                stats["xmin"], stats["xmax"] = min(stats["xmin"], b[0]), max(stats["xmax"], b[2])
                stats["ymin"], stats["ymax"] = min(stats["ymin"], b[1]), max(stats["ymax"], b[3])
            rec = {"camera_id": CAMERA_ID, "ts_ms": T0 + 100 * step, "frame": step, "width": W, "height": H, "detections": noisy(rng, objs)}
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return stats


def write_signals(changes, out):
    """One JSONL file per signal (the engine wants a signal's own file): signals/<id>.jsonl."""
    os.makedirs(os.path.join(out, "signals"), exist_ok=True)
    for sid, ch in changes.items():
        with open(os.path.join(out, "signals", f"{sid}.jsonl"), "w") as f:
            for ms, st in ch:
                f.write(json.dumps({"signal_id": sid, "ts_ms": ms, "state": st}) + "\n")


def fmt(pts):
    return "[" + ", ".join(f"[{p[0] + 0.0:.2f}, {p[1] + 0.0:.2f}]" for p in pts) + "]"


def write_config(out, signals):
    world = [(x, y) for x in (-40.0, -15.0, 15.0, 40.0) for y in (-40.0, -15.0, 15.0, 40.0) if abs(x) < 20 or abs(y) < 20]
    image = [geom.project(x, y) for x, y in world]
    sig = "".join(f'\n[[signal]]\nid = "{s}"\nsource = "signals:signals/{s}.jsonl"\n' for s in sorted(signals))
    open(os.path.join(out, "config.toml"), "w").write(f"""# Generated by bench/sumo/junction/project.py: the SUMO junction camera (issue 17).
# The junction geometry the engine does not parse yet is in junction.toml.
[lake]
url = "file://./lake"

[analytics]
window_ms = 60000

[analytics.speed]
pixel_noise_px = 1.5

[tracker]
ground_pixel_std = 1.5

[[camera]]
id = "{CAMERA_ID}"
source = "detections:detections.jsonl"
road_length_m = 400.0
[camera.calibration]
image = {fmt(image)}
world = {fmt(world)}
{sig}""")


def lane_signal(a, lane):
    """Lane 3 (left + U-turn) has the protected left's signal; the others the approach's."""
    return f', signal = "{a["left_signal"]}"' if lane["id"].endswith("-3") else ""


def write_junction(out, approaches, walks):
    parts = [f"""# Generated by bench/sumo/junction/project.py: the proposed junction geometry of issue 17 for
# camera "{CAMERA_ID}", in the calibration's ground frame (metres, origin at the junction centre,
# x east, y north). Lanes are numbered from the curb (1 = right + through, 2 = through,
# 3 = left + U-turn, controlled by tl-<approach>-left). The entry gate is also the advance detector of arrivals on green
# (ENTRY_M = {geom.ENTRY_M} m before the stop line; arrival = gate time + {geom.ENTRY_M} m / {geom.LIMIT_MS} m/s).
[analytics.junction]
bin_ms = {geom.BIN_MS}
free_flow_speed_kmh = 50.0
queue_speed_kmh = {geom.QUEUE_KMH}
"""]
    for a in approaches:
        parts.append(f'\n[[camera.approach]]\nid = "{a["id"]}"\nsignal = "{a["signal"]}"\n'
                     f'entry = {fmt(a["entry"])}\nexit = {fmt(a["exit"])}\nstop_line = {fmt(a["stop_line"])}\n'
                     + "lanes = [\n" + "".join(f'  {{ id = "{l["id"]}", polygon = {fmt(l["polygon"])}{lane_signal(a, l)} }},\n' for l in a["lanes"]) + "]\n"
                     + "exit_lanes = [\n" + "".join(f'  {{ id = "{l["id"]}", polygon = {fmt(l["polygon"])} }},\n' for l in a["exit_lanes"]) + "]\n")
    for w in walks:
        parts.append(f'\n[[camera.crosswalk]]\nid = "{w["id"]}"\npolygon = {fmt(w["polygon"])}\n')
    open(os.path.join(out, "junction.toml"), "w").write("".join(parts))


def check_view(approaches):
    """Every gate, stop line and lane polygon of every leg must be inside the image."""
    for a in approaches:
        polys = [("lane " + ln["id"], ln["polygon"]) for ln in a["lanes"] + a["exit_lanes"]]
        for key, pts in [(k, a[k]) for k in ("entry", "exit", "stop_line")] + polys:
            for p in pts:
                x, y = geom.project(*p)
                assert 0 <= x <= W and 0 <= y <= H, f"{a['id']} {key} out of view at {p}: ({x:.0f}, {y:.0f})"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("sumo")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    lanes, links, crossings = geom.load_net(os.path.join(a.sumo, "net.net.xml"))
    approaches, walks = geom.junction(lanes, crossings)
    check_view(approaches)
    changes = geom.tls_changes(os.path.join(a.sumo, "tls.xml"), links)
    write_signals(changes, a.out)
    write_config(a.out, changes)
    write_junction(a.out, approaches, walks)
    s = write_detections(a.sumo, a.out, random.Random(a.seed))
    print(f"project: {s['frames']} frames, {s['boxes']} true boxes ({s['boxes'] / max(1, s['frames']):.1f}/frame), "
          f"{len(s['ids'])} road users seen; boxes span x {s['xmin']:.0f}..{s['xmax']:.0f}, y {s['ymin']:.0f}..{s['ymax']:.0f}")


if __name__ == "__main__":
    main()
