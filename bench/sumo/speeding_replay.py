#!/usr/bin/env python3
"""Question: which speed estimate lets the speeding rule find SUMO's true episodes? Replays the
engine's tracked boxes of a finished `bench/sumo/run.sh` run (its `detections` table) through
speed estimators, applies the speeding rule's semantics (zone, 55 km/h, ±k σ band, 1 s, 500 ms
grace) and scores the episodes as score.py does. Estimators (arguments, each NAME:PARAM):
  causal:0   the engine's constant-velocity filter (a re-implementation of geo/src/speed.rs)
  noise:0    the same speed with the σ of measurement noise alone
  cvq:Q      the constant-velocity filter with white-noise acceleration density Q
  ca:J       a constant-acceleration filter with white-noise jerk density J
  lag:MS     the fixed-lag RTS smoother over MS ms (slow in Python)
  stored:S   the smoothed speed the engine stored (`smooth_lag_ms`), with a fixed σ of S km/h
Each is scored with σ bands of 0, 0.5 and 1.
Run with: WORK=/tmp/sumo bench/sumo/run.sh; python3 bench/sumo/speeding_replay.py /tmp/sumo/run ITSCAM causal:0 ca:4 stored:1
(needs numpy; ITSCAM: the binary that made the run)."""
import csv, io, json, math, subprocess, sys, tomllib, collections
import numpy as np

run, itscam = sys.argv[1], sys.argv[2]
cfg = tomllib.load(open(f"{run}/config.toml", "rb"))
cam = cfg["camera"][0]
img = np.array(cam["calibration"]["image"]); wld = np.array(cam["calibration"]["world"])
A = []
for (x, y), (X, Y) in zip(img, wld):
    A.append([x, y, 1, 0, 0, 0, -X * x, -X * y, -X]); A.append([0, 0, 0, x, y, 1, -Y * x, -Y * y, -Y])
H = np.linalg.svd(np.array(A))[2][-1].reshape(3, 3)
zone = [z for z in cam["zone"] if z["id"] == "approach"][0]["polygon"]
PIX = 1.5

def proj(x, y):
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    gx = (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / w; gy = (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / w
    J = np.array([[(H[0, 0] - gx * H[2, 0]) / w, (H[0, 1] - gx * H[2, 1]) / w], [(H[1, 0] - gy * H[2, 0]) / w, (H[1, 1] - gy * H[2, 1]) / w]])
    return gx, gy, math.sqrt(np.linalg.eigvalsh(J.T @ J)[-1]) * PIX

def inside(poly, x, y):
    c = False
    for i in range(len(poly)):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            c = not c
    return c

def query(sql):
    out = subprocess.run([itscam, "query", "--lake", "file://./lake", "--format", "csv", "--max-rows", "10000000", sql], cwd=run, check=True, capture_output=True, text=True).stdout
    return list(csv.DictReader(io.StringIO(out)))

truth = json.load(open(f"{run}/truth.json")); T0 = truth["t0"]
tb = collections.defaultdict(list)
for vid, v in truth["vehicles"].items():
    for ts, box, sp in v["frames"]:
        tb[T0 + ts].append((vid, box, sp))
def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0])); iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy; u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    return i / u if u > 0 else 0
dets = query("SELECT ts_ms, track_id, x1, y1, x2, y2, speed_kmh FROM detections WHERE track_id IS NOT NULL ORDER BY ts_ms")
tracks = collections.defaultdict(list)
for d in dets:
    ts = int(d["ts_ms"]); b = [float(d[k]) for k in ("x1", "y1", "x2", "y2")]
    best, bv = 0.5, None
    for vid, tbx, sp in tb.get(ts, []):
        o = iou(b, tbx)
        if o >= best: best, bv = o, (vid, sp)
    tracks[int(d["track_id"])].append((ts, b, float(d["speed_kmh"]) if d["speed_kmh"] else None, bv))
track_vehicle = {}
for t, pts in tracks.items():
    c = collections.Counter(p[3][0] for p in pts if p[3])
    track_vehicle[t] = c.most_common(1)[0][0] if c else None


def cv_filter(meas, q, gate=4.0, init=30.0):
    """meas: list of (ts, (x,y,r) or None). Returns per step (vx, vy, pvv, nvv, warm, node) like GroundFilter."""
    out = []; st = None
    for ts, m in meas:
        if st is None:
            if m is None: out.append(None); continue
            x, y, r = m
            st = dict(pos=np.array([x, y]), vel=np.zeros(2), P=np.array([[r, 0], [0, init ** 2]]), N=np.array([[r, 0], [0, init ** 2]]), t=ts, n=1, cg=0)
            out.append(snap(st, ts, q)); continue
        dt = (ts - st["t"]) / 1000
        F = np.array([[1, dt], [0, 1]]); Q = q * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
        if m is None:
            out.append(snap(st, ts, q)); continue
        x, y, r = m
        pp = st["pos"] + st["vel"] * dt; P = F @ st["P"] @ F.T + Q
        e = np.array([x, y]) - pp; s = P[0, 0] + r
        if e @ e > gate * gate * s:
            st["cg"] += 1
            if st["cg"] >= 5:
                st.update(pos=np.array([x, y]), vel=np.zeros(2), P=np.array([[r, 0], [0, init ** 2]]), N=np.array([[r, 0], [0, init ** 2]]), t=ts, n=1, cg=0)
            out.append(snap(st, ts, q)); continue
        K = P[:, 0] / s
        st["pos"] = pp + K[0] * e; st["vel"] = st["vel"] + K[1] * e
        IK = np.eye(2) - np.outer(K, [1, 0])
        st["P"] = IK @ P
        N = F @ st["N"] @ F.T
        st["N"] = IK @ N @ IK.T + r * np.outer(K, K)
        st["t"] = ts; st["n"] += 1; st["cg"] = 0
        out.append(snap(st, ts, q))
    return out

def snap(st, ts, q):
    dt = (ts - st["t"]) / 1000
    F = np.array([[1, dt], [0, 1]]); Q = q * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
    return dict(ts=ts, x=np.array([st["pos"] + st["vel"] * dt, st["vel"].copy()]), P=F @ st["P"] @ F.T + Q, N=st["N"].copy(), n=st["n"], warm=st["n"] >= 3 and math.sqrt(st["P"][1, 1]) <= 1.0)

def speed(vel, nvv):
    return math.sqrt(max(0, vel @ vel - 2 * max(nvv, 0))) * 3.6

def rts(nodes, k, lag_ms, q):
    """Fixed-lag smoothed estimate at node k using nodes up to ts_k + lag."""
    j = k
    while j + 1 < len(nodes) and nodes[j + 1] is not None and nodes[j + 1]["ts"] <= nodes[k]["ts"] + lag_ms:
        j += 1
    xs, Ps = nodes[j]["x"].copy(), nodes[j]["P"].copy()
    for i in range(j - 1, k - 1, -1):
        a, b = nodes[i], nodes[i + 1]
        dt = (b["ts"] - a["ts"]) / 1000
        F = np.array([[1, dt], [0, 1]]); Q = q * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
        Pp = F @ a["P"] @ F.T + Q
        G = a["P"] @ F.T @ np.linalg.inv(Pp)
        xs = a["x"] + G @ (xs - F @ a["x"])
        Ps = a["P"] + G @ (Ps - Pp) @ G.T
    nk = nodes[k]
    shrink = Ps[1, 1] / nk["P"][1, 1]
    return speed(xs[:, 1] if xs.ndim == 2 else xs[1], nk["N"][1, 1] * shrink), math.sqrt(max(Ps[1, 1], 0)) * 3.6


def ca_filter(meas, qj, gate=4.0, init=30.0, init_a=3.0):
    out = []; st = None
    def restart(x, y, r, ts):
        P = np.diag([r, init ** 2, init_a ** 2])
        return dict(X=np.array([[x, y], [0, 0], [0, 0]], dtype=float), P=P, N=P.copy(), t=ts, n=1, cg=0)
    for ts, m in meas:
        if st is None:
            if m is None: out.append(None); continue
            st = restart(*m, ts); out.append((speed(st["X"][1], st["N"][1, 1]), math.sqrt(st["P"][1, 1]) * 3.6, False)); continue
        if m is None:
            out.append((speed(st["X"][1] + st["X"][2] * (ts - st["t"]) / 1000, st["N"][1, 1]), math.sqrt(st["P"][1, 1]) * 3.6, st["n"] >= 5 and math.sqrt(st["P"][1, 1]) <= 1.5)); continue
        x, y, r = m
        dt = (ts - st["t"]) / 1000
        F = np.array([[1, dt, dt * dt / 2], [0, 1, dt], [0, 0, 1]])
        Q = qj * np.array([[dt ** 5 / 20, dt ** 4 / 8, dt ** 3 / 6], [dt ** 4 / 8, dt ** 3 / 3, dt ** 2 / 2], [dt ** 3 / 6, dt ** 2 / 2, dt]])
        Xp = F @ st["X"]; P = F @ st["P"] @ F.T + Q
        e = np.array([x, y]) - Xp[0]; s_ = P[0, 0] + r
        if e @ e > gate * gate * s_:
            st["cg"] += 1
            if st["cg"] >= 5: st = restart(x, y, r, ts)
            out.append((speed(st["X"][1], st["N"][1, 1]), math.sqrt(st["P"][1, 1]) * 3.6, st["n"] >= 5 and math.sqrt(st["P"][1, 1]) <= 1.5)); continue
        K = P[:, 0] / s_
        st["X"] = Xp + np.outer(K, e)
        IK = np.eye(3) - np.outer(K, [1, 0, 0])
        st["P"] = IK @ P
        N = F @ st["N"] @ F.T
        st["N"] = IK @ N @ IK.T + r * np.outer(K, K)
        st["t"] = ts; st["n"] += 1; st["cg"] = 0
        out.append((speed(st["X"][1], st["N"][1, 1]), math.sqrt(st["P"][1, 1]) * 3.6, st["n"] >= 5 and math.sqrt(st["P"][1, 1]) <= 1.5))
    return out

def estimates(pts, variant, q=1.0):
    meas = []
    for ts, b, _, _ in pts:
        cx, by = (b[0] + b[2]) / 2, b[3]
        m = 4.5
        if b[0] <= m or b[1] <= m or b[2] >= 1920 - m or b[3] >= 1080 - m:
            meas.append((ts, None)); continue
        gx, gy, sd = proj(cx, by)
        meas.append((ts, (gx, gy, max(sd, 0.01) ** 2)))
    if variant[0] == 'stored':
        return [(p[2], variant[1]) for p in pts]
    if variant[0] == 'ca':
        return [(a, b) if w else (None, None) for a, b, w in [o if o else (None, None, False) for o in ca_filter(meas, variant[1])]]
    if variant[0] == 'cvq':
        q = variant[1]
    nodes = cv_filter(meas, q)
    # nodes[i]['x'] is [[px,py],[vx,vy]]: rows pos, vel
    res = []
    for i, nd in enumerate(nodes):
        if nd is None or not nd["warm"]:
            res.append((None, None)); continue
        if variant[0] in ("causal", "cvq"):
            res.append((speed(nd["x"][1], nd["N"][1, 1]), math.sqrt(nd["P"][1, 1]) * 3.6))
        elif variant[0] == "noise":
            res.append((speed(nd["x"][1], nd["N"][1, 1]), math.sqrt(nd["N"][1, 1]) * 3.6))
        elif variant[0] == "lag":
            s, sd = rts(nodes, i, variant[1], q)
            res.append((s, sd))
    return res


EXTRA = [tuple(x.split(':')[0:1]) + (float(x.split(':')[1]),) for x in sys.argv[3:]]
def episodes(rows, sig, limit=55.0, grace=500, min_ms=1000):
    """rows: (ts, in_zone, speed, std). Engine semantics: true/false/null; returns [(start,last)]."""
    eps = []; ep = None; outside = None
    for ts, inz, s, sd in rows:
        if not inz:
            if ep is not None:
                outside = outside or ts
                if ts - outside >= 500:   # zone exit grace: a leaving row ends the episode
                    if ep["last"] - ep["start"] >= min_ms: eps.append((ep["start"], ep["last"]))
                    ep = None
            continue
        outside = None
        if s is None: continue
        m = sig * sd
        h = True if s - m > limit else (False if s + m <= limit else None)
        if h is None: continue
        if h:
            if ep is None: ep = {"start": ts, "last": ts, "false": None}
            else: ep["last"], ep["false"] = ts, None
        elif ep is not None:
            ep["false"] = ep["false"] or ts
            if ts - ep["false"] >= grace:
                if ep["last"] - ep["start"] >= min_ms: eps.append((ep["start"], ep["last"]))
                ep = None
    if ep is not None and ep["last"] - ep["start"] >= min_ms: eps.append((ep["start"], ep["last"]))
    return eps


tv = [v for v in truth["violations"] if v["kind"] == "speeding"]
# Only tracks that come near the limit in the zone matter.
cand = {t: pts for t, pts in tracks.items() if any(p[2] is not None and p[2] > 45 and inside(zone, (p[1][0] + p[1][2]) / 2, p[1][3]) for p in pts)}
print("candidate tracks", len(cand), "of", len(tracks), flush=True)
ESTS = EXTRA or [("causal", 0), ("ca", 4.0), ("stored", 1.0)]
for est_v in ESTS:
    rows_by = {}
    for t, pts in cand.items():
        est = estimates(pts, est_v)
        rows_by[t] = [(p[0], inside(zone, (p[1][0] + p[1][2]) / 2, p[1][3]), e[0], e[1]) for p, e in zip(pts, est)]
    for sig in (0.0, 0.5, 1.0):
        eng = []
        for t, rows in rows_by.items():
            for s_, e_ in episodes(rows, sig):
                eng.append((t, s_, e_))
        hit = set(); tp = 0; fps = []
        for t, s_, e_ in eng:
            vid = track_vehicle.get(t)
            m = [i for i, x in enumerate(tv) if x["vehicle"] == vid and x["start_ms"] - 2000 <= e_ - T0 and s_ - T0 <= x["end_ms"] + 2000 and i not in hit]
            if m: tp += 1; hit.add(m[0])
            else: fps.append((t, vid, s_ - T0, e_ - T0))
        p = tp / len(eng) if eng else float("nan"); r = len(hit) / len(tv)
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0
        print(f"{est_v} sig {sig:3}: engine {len(eng):2} tp {tp:2} truth {len(tv)} P {p:.3f} R {r:.3f} F1 {f1:.3f}  missed {[ (tv[i]['vehicle'], tv[i]['start_ms'], tv[i]['end_ms']) for i in range(len(tv)) if i not in hit]} fp {fps}", flush=True)
