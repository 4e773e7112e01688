#!/usr/bin/env python3
"""Scores an engine run against the SUMO ground truth (truth.json from project.py).

Reads the engine's tables with `itscam query --format csv` and reports:
- speed: |speed_kmh - true speed| over detections matched to a true box (IoU >= 0.5) that
  have a speed, all of them and after each track's first second (warm-up);
- tracked fraction: true boxes whose matched detection has a track id;
- id switches: changes of the track id matched to one vehicle over its life (this scorer's own
  count, on its own IoU >= 0.5 matching);
- MOT metrics from py-motmetrics, an independent scorer: IDF1, IDP / IDR, MOTA, ID switches and
  fragmentations, on the same true boxes and the tracked detections (IoU >= 0.5);
- line counts: crossings per line and direction, engine vs truth; and per class at one-minute
  resolution: 1 - Σ_minutes |engine - truth| / Σ_minutes truth (a miss in one minute and an extra
  in the next count as two errors);
- violations: per kind, an engine violation is a true positive when its track's vehicle
  (majority of matched boxes) has a true violation of that kind overlapping it within ±2 s.

usage: score.py RUN_DIR ITSCAM_BINARY [--out FILE.md]
"""
import argparse, collections, csv, io, json, subprocess, sys

try:
    import motmetrics as mm
except ImportError:
    sys.exit("score.py: needs py-motmetrics (pip install motmetrics 'numpy<2'); run.sh installs it")

p = argparse.ArgumentParser()
p.add_argument("run")
p.add_argument("itscam")
p.add_argument("--out")
a = p.parse_args()


def query(sql):
    out = subprocess.run([a.itscam, "query", "--lake", "file://./lake", "--format", "csv", "--max-rows", "10000000", sql],
                         cwd=a.run, check=True, capture_output=True, text=True).stdout
    return list(csv.DictReader(io.StringIO(out)))


truth = json.load(open(f"{a.run}/truth.json"))
T0 = truth["t0"]
true_boxes = collections.defaultdict(list)   # ts -> [(vehicle, box, speed)]
for vid, v in truth["vehicles"].items():
    for ts, box, sp in v["frames"]:
        true_boxes[T0 + ts].append((vid, box, sp))

dets = query("SELECT ts_ms, track_id, x1, y1, x2, y2, speed_kmh FROM detections ORDER BY ts_ms")
for d in dets:
    d["box"] = [float(d["x1"]), float(d["y1"]), float(d["x2"]), float(d["y2"])]


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


by_ts = collections.defaultdict(list)
for d in dets:
    by_ts[int(d["ts_ms"])].append(d)

matched = []   # (vehicle, ts, track or None, speed or None, true speed)
for ts, boxes in true_boxes.items():
    cands = by_ts.get(ts, [])
    pairs = sorted(((iou(tb[1], d["box"]), i, j)
                    for i, tb in enumerate(boxes) for j, d in enumerate(cands)), reverse=True)
    used_t, used_d = set(), set()
    for o, i, j in pairs:
        if o < 0.5:
            break
        if i in used_t or j in used_d:
            continue
        used_t.add(i); used_d.add(j)
        d = cands[j]
        tr = int(d["track_id"]) if d["track_id"] else None
        sp = float(d["speed_kmh"]) if d["speed_kmh"] else None
        matched.append((boxes[i][0], ts, tr, sp, boxes[i][2]))

total_true = sum(len(v) for v in true_boxes.values())
tracked = sum(1 for m in matched if m[2] is not None)
first_seen = {}
for vid, ts, tr, sp, tsp in sorted(matched, key=lambda m: m[1]):
    if tr is not None:
        first_seen.setdefault(tr, ts)
errs_all, errs_warm = [], []
for vid, ts, tr, sp, tsp in matched:
    if sp is None:
        continue
    e = abs(sp - tsp)
    errs_all.append(e)
    if ts - first_seen.get(tr, ts) >= 1000:
        errs_warm.append(e)


def mae(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def p95(xs):
    xs = sorted(xs)
    return xs[int(0.95 * (len(xs) - 1))] if xs else float("nan")


# Track -> vehicle (majority), and id switches per vehicle.
votes = collections.defaultdict(collections.Counter)
seq = collections.defaultdict(list)
for vid, ts, tr, sp, tsp in sorted(matched, key=lambda m: m[1]):
    if tr is not None:
        votes[tr][vid] += 1
        seq[vid].append(tr)
track_vehicle = {tr: c.most_common(1)[0][0] for tr, c in votes.items()}
switches = sum(sum(1 for x, y in zip(s, s[1:]) if x != y) for s in seq.values())

# py-motmetrics: every frame's true boxes against its tracked detections (x, y, w, h).
mot_acc = mm.MOTAccumulator(auto_id=True)
vehicle_num = {vid: n for n, vid in enumerate(sorted(truth["vehicles"]))}
xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]
for ts in sorted(set(true_boxes) | set(by_ts)):
    gt = true_boxes.get(ts, [])
    hyp = [d for d in by_ts.get(ts, []) if d["track_id"]]
    dist = mm.distances.iou_matrix([xywh(b[1]) for b in gt], [xywh(d["box"]) for d in hyp], max_iou=0.5)
    mot_acc.update([vehicle_num[b[0]] for b in gt], [int(d["track_id"]) for d in hyp], dist)
mot_names = ["idf1", "idp", "idr", "mota", "motp", "num_switches", "num_fragmentations", "mostly_tracked", "num_unique_objects"]
mot = mm.metrics.create().compute(mot_acc, metrics=mot_names, name="sumo").iloc[0]

# Line counts.
eng_rows = query("SELECT line_id, direction, class, ts_ms FROM line_crossings")
eng_cross = collections.Counter((c["line_id"], c["direction"]) for c in eng_rows)
true_cross = collections.Counter((c["line"], c["direction"]) for c in truth["crossings"])
# Per line, direction and class, per minute of the run.
minute_counts = collections.defaultdict(lambda: [collections.Counter(), collections.Counter()])   # key -> [engine, truth]
for c in eng_rows:
    minute_counts[(c["line_id"], c["direction"], c["class"])][0][(int(c["ts_ms"]) - T0) // 60000] += 1
for c in truth["crossings"]:
    minute_counts[(c["line"], c["direction"], c["class"])][1][c["ts_ms"] // 60000] += 1

# Violations.
viol = query("SELECT kind, track_id, ts_start_ms, ts_end_ms FROM violations")
true_v = collections.defaultdict(list)
for v in truth["violations"]:
    true_v[v["kind"]].append(v)
rows = []
for kind in ("speeding", "red_light", "stopped_vehicle"):
    eng = [v for v in viol if v["kind"] == kind]
    tv = true_v.get(kind, [])
    hit_true = set()
    tp = 0
    for v in eng:
        vid = track_vehicle.get(int(v["track_id"]))
        s, e = int(v["ts_start_ms"]) - T0, int(v["ts_end_ms"]) - T0
        match = [i for i, t in enumerate(tv) if t["vehicle"] == vid and t["start_ms"] - 2000 <= e and s <= t["end_ms"] + 2000 and i not in hit_true]
        if match:
            tp += 1
            hit_true.add(match[0])
    prec = tp / len(eng) if eng else float("nan")
    rec = len(hit_true) / len(tv) if tv else float("nan")
    f1 = 2 * prec * rec / (prec + rec) if eng and tv and prec + rec > 0 else float("nan")
    rows.append((kind, len(tv), len(eng), prec, rec, f1))

lines = []
lines.append(f"SUMO accuracy: {len(truth['vehicles'])} vehicles seen, {total_true} true boxes, {len(dets)} detections")
lines.append("")
lines.append("| metric | value | goal |")
lines.append("|---|---|---|")
lines.append(f"| speed MAE, after 1 s warm-up (km/h) | {mae(errs_warm):.2f} ({len(errs_warm)} points) | ≤ 0.8 |")
lines.append(f"| speed p95, after warm-up (km/h) | {p95(errs_warm):.2f} | ≤ 2.5 |")
lines.append(f"| speed MAE / p95, all points with a speed (km/h) | {mae(errs_all):.2f} / {p95(errs_all):.2f} | |")
lines.append(f"| tracked fraction (true boxes matched to a tracked detection) | {tracked / total_true:.3f} | |")
lines.append(f"| id switches (this scorer) | {switches} over {len(seq)} vehicles | ≤ {len(seq) // 10} |")
lines.append(f"| py-motmetrics IDF1 (IDP / IDR) | {mot.idf1:.3f} ({mot.idp:.3f} / {mot.idr:.3f}) | ≥ 0.95 |")
lines.append(f"| py-motmetrics ID switches / fragmentations | {int(mot.num_switches)} / {int(mot.num_fragmentations)} over {int(mot.num_unique_objects)} vehicles | ≤ {int(mot.num_unique_objects) // 10} switches |")
lines.append(f"| py-motmetrics MOTA / MOTP (1 - IoU) / mostly tracked | {mot.mota:.3f} / {mot.motp:.3f} / {int(mot.mostly_tracked)} | |")
for key in sorted(set(true_cross) | set(eng_cross)):
    t, e = true_cross.get(key, 0), eng_cross.get(key, 0)
    acc = 1 - abs(e - t) / t if t else float("nan")
    lines.append(f"| line {key[0]} {key[1]}: engine / truth | {e} / {t} ({acc * 100:.1f} %) | ≥ 99.5 % |")
for key in sorted(minute_counts):
    eng_m, true_m = minute_counts[key]
    t, e = sum(true_m.values()), sum(eng_m.values())
    err = sum(abs(eng_m[m] - true_m[m]) for m in set(eng_m) | set(true_m))
    bad = sum(1 for m in set(eng_m) | set(true_m) if eng_m[m] != true_m[m])
    acc = 1 - err / t if t else float("nan")
    lines.append(f"| line {key[0]} {key[1]} {key[2]}, per minute: engine / truth, minutes off | {e} / {t} ({acc * 100:.1f} %), {bad} | ≥ 99.5 % |")
for kind, nt, ne, pr, rc, f1 in rows:
    lines.append(f"| {kind}: precision / recall / F1 (truth {nt}, engine {ne}) | {pr:.3f} / {rc:.3f} / {f1:.3f} | F1 ≥ 0.95 |")
text = "\n".join(lines) + "\n"
print(text)
if a.out:
    open(a.out, "w").write(text)
