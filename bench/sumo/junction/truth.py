#!/usr/bin/env python3
"""SUMO's own truth for the junction scenario, as CSV files in OUT_DIR (times in ms since the
epoch, sim time 0 = geom.T0; bins of 15 min from T0, only those that end by the end of the
demand, --minutes: the drain after it is no bin; definitions in README.md):

- movements.csv: per vehicle that crossed its stop line and its exit gate: class, entry/exit
  approach and lane, movement (from its route), entry gate / stop line / exit gate times,
  stops, SUMO timeLoss, free-flow timeLoss of its route and type, control delay (the difference).
- turning_counts.csv: per bin (by stop-line time) × approach × movement × class; and per bin ×
  crosswalk × direction for pedestrians (class person, site crosswalk).
- queues.csv: per approach lane and signal cycle (red start to red start of the lane's signal:
  the through signal, the left signal for lane 3): max queue in m (SUMO queue-output,
  queueing_length_experimental: vehicles slower than 5 km/h) and in vehicles (from FCD: vehicles
  whose front is within that length of the stop line), and whether it cleared (0 m) in the green.
- delay.csv, los.csv, arrivals_on_green.csv: per approach × bin (by stop-line time), motor
  vehicles only (no bicycles): mean control delay, HCM LOS, share arriving on green (arrival =
  entry gate time + ENTRY_M / LIMIT_MS, on the approach's through signal).

usage: truth.py SUMO_DIR OUT_DIR
"""
import collections, csv, json, os, sys, xml.etree.ElementTree as ET
import geom
from geom import T0, BIN_MS, NAMES

MOVES = {0: "u_turn", 1: "left", 2: "through", 3: "right"}   # (exit index - approach index) mod 4
ORDER = "nesw"
MOTOR = {"car", "truck", "bus", "motorcycle"}
SLOW = geom.QUEUE_KMH / 3.6


def routes(path):
    """id → (type, approach letter, exit letter) for vehicles of a routes file."""
    out = {}
    for v in ET.parse(path).getroot().iter("vehicle"):
        a, b = v.find("route").get("edges").split()
        out[v.get("id")] = (v.get("type"), a[0], b[1])
    return out


def tripinfo(path):
    return {t.get("id"): (float(t.get("timeLoss")), float(t.get("arrival"))) for t in ET.parse(path).getroot().iter("tripinfo")}


def free_flow(sumo):
    """(type, approach, exit) → mean timeLoss when driving alone on green."""
    acc = collections.defaultdict(list)
    info = tripinfo(os.path.join(sumo, "free/tripinfo.xml"))
    for vid, key in routes(os.path.join(sumo, "free/routes.rou.xml")).items():
        if vid in info and info[vid][1] >= 0:
            acc[key].append(info[vid][0])
    return {k: sum(v) / len(v) for k, v in acc.items()}


class Track:
    __slots__ = ("entry", "stop", "exit", "lane_in", "lane_out", "stops", "moving")

    def __init__(self):
        self.entry = self.stop = self.exit = self.lane_in = self.lane_out = None
        self.stops, self.moving = 0, True


def step_vehicle(tr, t_ms, lane, pos, speed, lengths):
    edge = lane.rsplit("_", 1)[0]
    if edge.endswith("c") and not lane.startswith(":"):
        tr.lane_in = lane
        if tr.entry is None and pos >= lengths[lane] - geom.ENTRY_M:
            tr.entry = t_ms
    elif tr.lane_in is not None and tr.stop is None:
        tr.stop = t_ms
    if edge.startswith("c") and tr.exit is None and pos >= geom.EXIT_M:
        tr.exit, tr.lane_out = t_ms, lane
    if tr.entry is not None and tr.exit is None:
        if tr.moving and speed < SLOW:
            tr.stops, tr.moving = tr.stops + 1, False
        elif speed > 2 * SLOW:
            tr.moving = True


def read_fcd(path, lengths):
    """Tracks per vehicle, queue vehicles per (lane, second), pedestrian crosswalk passages."""
    tracks = collections.defaultdict(Track)
    qveh = {}
    walks = {}                       # person id, crossing → [first t, first (x, y), last (x, y)]
    for _, el in ET.iterparse(path):
        if el.tag != "timestep":
            continue
        t_ms = round(float(el.get("time")) * 1000)
        on_lane = collections.defaultdict(list)
        for v in el:
            if v.tag == "person":
                edge = v.get("edge")
                if edge.startswith(":c_c"):
                    xy = geom.ground(float(v.get("x")), float(v.get("y")))
                    walks.setdefault((v.get("id"), edge), [t_ms, xy, xy])[2] = xy
                continue
            lane, pos, speed = v.get("lane"), float(v.get("pos")), float(v.get("speed"))
            step_vehicle(tracks[v.get("id")], T0 + t_ms, lane, pos, speed, lengths)
            on_lane[lane].append((pos, speed))
        if t_ms % 1000 == 0:
            for lane, vs in on_lane.items():
                if lane in lengths and lane.rsplit("_", 1)[0].endswith("c") and not lane.startswith(":"):
                    qveh[(lane, t_ms // 1000)] = vs
        el.clear()
    return tracks, qveh, walks


def queue_series(sumo, qveh, lengths):
    """(lane, second) → (queue m from SUMO, vehicles within it)."""
    out = {}
    for data in ET.parse(os.path.join(sumo, "queues.xml")).getroot().iter("data"):
        sec = round(float(data.get("timestep")))
        for ln in data.iter("lane"):
            lane = ln.get("id")
            if lane.startswith(":") or not lane.rsplit("_", 1)[0].endswith("c") or lane.endswith("_0"):
                continue
            m = float(ln.get("queueing_length_experimental"))
            n = sum(1 for pos, _ in qveh.get((lane, sec), []) if m > 0 and lengths[lane] - pos <= m)
            out[(lane, sec)] = (m, n)
    return out


def lane_id(lane):
    return f"{NAMES[lane[0]]}-{lane.rsplit('_', 1)[1]}"


def cycles(changes):
    """[(red start, green start, next red start)] in ms."""
    reds = [t for i, (t, s) in enumerate(changes) if s == "red" and i > 0]
    greens = [t for t, s in changes if s == "green"]
    out = []
    for r0, r1 in zip(reds, reds[1:]):
        g = next((x for x in greens if r0 < x < r1), r1)
        out.append((r0, g, r1))
    return out


def queue_rows(series, changes):
    rows = []
    for k, name in NAMES.items():
        for i in (1, 2, 3):
            lane = f"{k}c_{i}"
            sig = f"tl-{name}-left" if i == 3 else f"tl-{name}"
            for c, (r0, g, r1) in enumerate(cycles(changes[sig])):
                secs = range((r0 - T0) // 1000, (r1 - T0) // 1000)
                qs = [series.get((lane, s), (0.0, 0)) for s in secs]
                cleared = any(series.get((lane, s), (0.0, 0))[0] == 0 for s in range((g - T0) // 1000, (r1 - T0) // 1000))
                rows.append({"approach": name, "lane_id": lane_id(lane), "signal_id": sig, "cycle": c, "cycle_start_ms": r0,
                             "green_start_ms": g, "cycle_end_ms": r1, "max_queue_m": round(max(q[0] for q in qs), 2),
                             "max_queue_veh": max(q[1] for q in qs), "cleared": int(cleared)})
    return rows


def movement_rows(sumo, tracks):
    rts, info, free = routes(os.path.join(sumo, "routes.rou.xml")), tripinfo(os.path.join(sumo, "tripinfo.xml")), free_flow(sumo)
    rows = []
    for vid, tr in tracks.items():
        if tr.stop is None or tr.exit is None or vid not in rts:
            continue
        vtype, a, b = rts[vid]
        loss, arrival = info.get(vid, (None, -1))
        done = arrival >= 0
        ff = free.get((vtype, a, b))
        rows.append({"vehicle": vid, "class": vtype, "entry_approach": NAMES[a], "exit_approach": NAMES[b],
                     "entry_lane": lane_id(tr.lane_in), "exit_lane": f"{NAMES[b]}-out-{tr.lane_out.rsplit('_', 1)[1]}",
                     "movement": MOVES[(ORDER.index(b) - ORDER.index(a)) % 4], "entry_ts_ms": tr.entry, "stop_line_ts_ms": tr.stop,
                     "exit_ts_ms": tr.exit, "travel_time_ms": tr.exit - tr.entry, "stops": tr.stops,
                     "time_loss_s": round(loss, 2) if done else "", "free_flow_loss_s": round(ff, 2) if ff is not None else "",
                     "control_delay_s": round(loss - ff, 2) if done and ff is not None else ""})
    return sorted(rows, key=lambda r: r["stop_line_ts_ms"])


def bin_of(ms):
    return T0 + (ms - T0) // BIN_MS * BIN_MS


def full_bin(ms, end_ms):
    return bin_of(ms) + BIN_MS <= end_ms


def count_rows(moves, walks):
    n = collections.Counter((bin_of(m["stop_line_ts_ms"]), "approach", m["entry_approach"], m["movement"], m["class"]) for m in moves)
    for (pid, edge), (t, a, b) in walks.items():
        name = NAMES[ORDER[int(edge[4])]]
        dx, dy = b[0] - a[0], b[1] - a[1]
        d = ("eastbound" if dx > 0 else "westbound") if abs(dx) > abs(dy) else ("northbound" if dy > 0 else "southbound")
        n[(bin_of(T0 + t), "crosswalk", f"crosswalk-{name}", d, "person")] += 1
    return [{"bin_start_ms": k[0], "bin_end_ms": k[0] + BIN_MS, "site": k[1], "approach": k[2], "movement": k[3], "class": k[4], "count": c}
            for k, c in sorted(n.items())]


def approach_bins(moves, changes):
    """delay, LOS and arrivals-on-green rows per approach × bin."""
    acc = collections.defaultdict(lambda: {"d": [], "g": 0, "y": 0, "r": 0})
    for m in moves:
        if m["class"] not in MOTOR:
            continue
        a = acc[(m["entry_approach"], bin_of(m["stop_line_ts_ms"]))]
        if m["control_delay_s"] != "":
            a["d"].append(m["control_delay_s"])
        arrival = m["entry_ts_ms"] + round(1000 * geom.ENTRY_M / geom.LIMIT_MS)
        a[geom.state_at(changes[f"tl-{m['entry_approach']}"], arrival)[0]] += 1
    delay, los, aog = [], [], []
    for (appr, b), a in sorted(acc.items()):
        key = {"approach": appr, "bin_start_ms": b, "bin_end_ms": b + BIN_MS}
        d = sum(a["d"]) / len(a["d"]) if a["d"] else None
        if d is not None:
            delay.append({**key, "vehicles": len(a["d"]), "mean_control_delay_s": round(d, 2)})
            los.append({**key, "mean_control_delay_s": round(d, 2), "los": geom.los(d)})
        n = a["g"] + a["y"] + a["r"]
        aog.append({**key, "vehicles": n, "arrivals_on_green": a["g"], "arrivals_on_yellow": a["y"], "arrivals_on_red": a["r"],
                    "aog_share": round(a["g"] / n, 4)})
    return delay, los, aog


def write(out, name, rows):
    if not rows:
        print(f"truth: no rows for {name} (no whole 15-min bin in a run this short?)", file=sys.stderr)
    with open(os.path.join(out, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        w.writeheader()
        w.writerows(rows)


def main():
    sumo, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    lanes, links, _ = geom.load_net(os.path.join(sumo, "net.net.xml"))
    lengths = {k: v["length"] for k, v in lanes.items()}
    changes = geom.tls_changes(os.path.join(sumo, "tls.xml"), links)
    tracks, qveh, walks = read_fcd(os.path.join(sumo, "fcd.xml"), lengths)
    moves = movement_rows(sumo, tracks)
    end_ms = T0 + 1000 * json.load(open(os.path.join(sumo, "scenario.json")))["demand_end_s"]
    binned = [m for m in moves if full_bin(m["stop_line_ts_ms"], end_ms)]
    walks = {k: v for k, v in walks.items() if full_bin(T0 + v[0], end_ms)}
    queues = queue_rows(queue_series(sumo, qveh, lengths), changes)
    delay, los, aog = approach_bins(binned, changes)
    for name, rows in (("movements.csv", moves), ("turning_counts.csv", count_rows(binned, walks)), ("queues.csv", queues),
                       ("delay.csv", delay), ("los.csv", los), ("arrivals_on_green.csv", aog)):
        write(out, name, rows)
    by = collections.Counter((m["entry_approach"], m["movement"]) for m in moves)
    print(f"truth: {len(moves)} movements, {sum(1 for m in moves if m['control_delay_s'] != '')} with delay, {len(queues)} lane-cycles, "
          f"{len(walks)} crosswalk passages; max queue {max(q['max_queue_m'] for q in queues):.1f} m, "
          f"{sum(q['max_queue_m'] > geom.LANE_M for q in queues)} lane-cycles past the lane polygons ({geom.LANE_M:.0f} m)")
    print("truth: movements " + ", ".join(f"{a}/{m} {c}" for (a, m), c in sorted(by.items())))


if __name__ == "__main__":
    main()
