#!/usr/bin/env python3
"""Scores the engine's junction tables (issue 17) against SUMO's truth (truth.py's CSVs).

Reads the committed Parquet files of LAKE_DIR (the `_itscam/` commit log when there is one,
else every LAKE_DIR/<table>/**.parquet) with pyarrow; keeps the highest `revision` of each key
where the table has one; schemas in README.md. Goals (issue 17):
- turning counts: 1 - Σ|engine - truth| / Σ truth over 15-min bin × approach × movement
  (vehicles of every class summed) ≥ 98 %, and the total within 1 %;
- queues per lane and cycle (matched on lane_id and cycle start ± 2 s): MAE ≤ 1 vehicle or ≤ 7 m;
- control delay per approach × bin: MAE ≤ 2 s;  LOS equal in ≥ 95 % of approach-bins;
- arrivals on green per approach × bin: MAE ≤ 3 percentage points.
A truth row the engine lacks counts with the engine's value 0 (counts, queues, share), as a
delay error equal to the true delay, and as a LOS mismatch. Exit status 1 when a goal is missed
or a table is missing.

usage: score.py TRUTH_DIR LAKE_DIR          score.py --self-test TRUTH_DIR
"""
import collections, csv, glob, json, os, sys, tempfile

try:
    import pyarrow.parquet as pq
except ImportError:
    sys.exit("score.py: needs pyarrow (run.sh installs it into a venv)")

KEYS = {"movements": ("camera_id", "track_id"),
        "turning_counts": ("camera_id", "bin_start_ms", "site", "approach", "movement", "class"),
        "queues": ("camera_id", "lane_id", "cycle_start_ms"),
        "signal_performance": ("camera_id", "approach", "period", "period_start_ms")}


def live_files(lake, table):
    log = os.path.join(lake, "_itscam")
    if not os.path.isdir(os.path.join(log, "commits")):
        return sorted(glob.glob(os.path.join(lake, table, "**", "*.parquet"), recursive=True))
    files, seq = {}, -1
    snaps = sorted(glob.glob(os.path.join(log, "snapshots", "*.json")))
    if snaps:
        snap = json.load(open(snaps[-1]))
        files, seq = {f["path"]: f for f in snap["files"]}, snap["seq"]
    while os.path.exists(p := os.path.join(log, "commits", f"{seq + 1:020d}.json")):
        c = json.load(open(p))
        files.update({f["path"]: f for f in c.get("added", [])})
        for f in c.get("removed", []):
            files.pop(f["path"], None)
        seq += 1
    return [os.path.join(lake, f["path"]) for f in files.values() if f["table"] == table]


def read_table(lake, table):
    """Rows as dicts (hive partition values added), latest revision per key; None if absent."""
    files = live_files(lake, table)
    if not files:
        return None
    rows = []
    for path in files:
        parts = dict(seg.split("=", 1) for seg in os.path.relpath(path, lake).split(os.sep)[:-1] if "=" in seg)
        for r in pq.read_table(path).to_pylist():
            rows.append({**parts, **r})
    best = {}
    for r in rows:
        k = tuple(r.get(c) for c in KEYS[table])
        if k not in best or r.get("revision", 0) >= best[k].get("revision", 0):
            best[k] = r
    return list(best.values())


def read_csv(truth, name):
    return list(csv.DictReader(open(os.path.join(truth, name))))


class Report:
    def __init__(self):
        self.failed = False

    def goal(self, name, value, ok, text):
        self.failed |= not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name:<34} {value:<26} {text}")

    def missing(self, table):
        self.failed = True
        print(f"FAIL  table {table} missing from the lake")


def counts(rep, truth, rows):
    t = collections.Counter()
    for r in read_csv(truth, "turning_counts.csv"):
        if r["site"] == "approach":
            t[(int(r["bin_start_ms"]), r["approach"], r["movement"])] += int(r["count"])
    bins = {k[0] for k in t}        # the truth's bins: whole 15 min within the demand
    e = collections.Counter()
    for r in rows:
        if r.get("site", "approach") == "approach" and r["bin_start_ms"] in bins:
            e[(r["bin_start_ms"], r["approach"], r["movement"])] += r["count"]
    err = sum(abs(e[k] - t[k]) for k in set(t) | set(e))
    acc = 1 - err / max(1, sum(t.values()))
    rep.goal("turning counts per bin×appr×mvmt", f"{100 * acc:.2f} %", acc >= 0.98, f"(≥ 98 %; {len(t)} cells, {sum(t.values())} vehicles)")
    tot = abs(sum(e.values()) - sum(t.values())) / max(1, sum(t.values()))
    rep.goal("turning counts total", f"{sum(e.values())} vs {sum(t.values())}", tot <= 0.01, f"(within 1 %: {100 * tot:.2f} %)")
    worst = [x for x in sorted(((abs(e[k] - t[k]), k) for k in t), reverse=True)[:3] if x[0] > 0]
    if worst:
        print("      worst cells: " + "; ".join(f"{k[1]}/{k[2]} bin {(k[0] - min(t)[0]) // 60000} min: {e[k]} vs {t[k]}" for _, k in worst))
    peds = {(int(r["bin_start_ms"]), r["approach"], r["movement"]): int(r["count"]) for r in read_csv(truth, "turning_counts.csv") if r["site"] == "crosswalk"}
    ep = collections.Counter({(r["bin_start_ms"], r["approach"], r["movement"]): r["count"] for r in rows if r.get("site") == "crosswalk" and r["bin_start_ms"] in bins})
    if peds:
        print(f"info  crosswalk counts (no goal): {sum(ep.values())} vs {sum(peds.values())} true, "
              f"{sum(abs(ep[k] - v) for k, v in peds.items())} absolute error")


def queues(rep, truth, rows):
    by_lane = collections.defaultdict(list)
    for r in rows:
        by_lane[r["lane_id"]].append(r)
    ev, em, hit, n = 0.0, 0.0, 0, 0
    for t in read_csv(truth, "queues.csv"):
        start = int(t["cycle_start_ms"])
        m = min(by_lane.get(t["lane_id"], []), key=lambda r: abs(r["cycle_start_ms"] - start), default=None)
        if m is not None and abs(m["cycle_start_ms"] - start) > 2000:
            m = None
        hit += m is not None
        ev += abs((m["max_queue_veh"] if m else 0) - int(t["max_queue_veh"]))
        em += abs((m["max_queue_m"] if m else 0.0) - float(t["max_queue_m"]))
        n += 1
    ev, em = ev / max(1, n), em / max(1, n)
    rep.goal("queue per lane-cycle MAE", f"{ev:.2f} veh, {em:.2f} m", ev <= 1 or em <= 7, f"(≤ 1 veh or ≤ 7 m; {hit}/{n} cycles matched)")


def signal_perf(rep, truth, rows):
    e = {(r["approach"], r["period_start_ms"]): r for r in rows if r["period"] == "bin"}
    d = [(float(t["mean_control_delay_s"]), e.get((t["approach"], int(t["bin_start_ms"])), {}).get("mean_control_delay_s")) for t in read_csv(truth, "delay.csv")]
    mae = sum(abs(t - (x if x is not None else 0.0)) for t, x in d) / max(1, len(d))
    rep.goal("control delay per approach-bin MAE", f"{mae:.2f} s", mae <= 2, f"(≤ 2 s; {sum(x is not None for _, x in d)}/{len(d)} approach-bins)")
    los = [(t["los"], e.get((t["approach"], int(t["bin_start_ms"])), {}).get("los")) for t in read_csv(truth, "los.csv")]
    same = sum(a == b for a, b in los) / max(1, len(los))
    rep.goal("LOS equal", f"{100 * same:.1f} %", same >= 0.95, f"(≥ 95 % of {len(los)} approach-bins; truth {''.join(a for a, _ in los)})")
    g = [(float(t["aog_share"]), e.get((t["approach"], int(t["bin_start_ms"])), {}).get("aog_share")) for t in read_csv(truth, "arrivals_on_green.csv")]
    errs = [abs(t - (x if x is not None else 0.0)) for t, x in g]
    mae = 100 * sum(errs) / max(1, len(errs))
    rep.goal("arrivals on green MAE", f"{mae:.2f} pp", mae <= 3, f"(≤ 3 pp; max {100 * max(errs, default=0):.2f} pp)")


def movement_info(truth, rows):
    """Matches engine movements one-to-one to true ones: same entry approach, stop-line time
    within 1 s, the same entry lane preferred, then the nearest time."""
    by = collections.defaultdict(list)
    for r in rows:
        if r.get("stop_line_ts_ms") is not None:
            by[r["entry_approach"]].append(r)
    t = read_csv(truth, "movements.csv")
    ok_m = ok_c = hit = 0
    for m in t:
        ts = int(m["stop_line_ts_ms"])
        near = [r for r in by[m["entry_approach"]] if abs(r["stop_line_ts_ms"] - ts) <= 1000]
        c = min(near, key=lambda r: (r.get("entry_lane") != m["entry_lane"], abs(r["stop_line_ts_ms"] - ts)), default=None)
        if c is not None:
            by[m["entry_approach"]].remove(c)
            hit, ok_m, ok_c = hit + 1, ok_m + (c["movement"] == m["movement"]), ok_c + (c["class"] == m["class"])
    print(f"info  movements (no goal): {len(rows)} engine rows, {hit}/{len(t)} true vehicles matched "
          f"(entry approach, stop line ± 1 s), movement right {ok_m}, class right {ok_c}")


def score(truth, lake):
    rep = Report()
    if not read_csv(truth, "turning_counts.csv"):
        rep.goal("truth", "no whole 15-min bin", False, "(simulate at least 15 minutes)")
        return True
    for table, fn in (("turning_counts", counts), ("queues", queues), ("signal_performance", signal_perf), ("movements", None)):
        rows = read_table(lake, table)
        try:
            if rows is None:
                rep.missing(table)
            elif fn:
                fn(rep, truth, rows)
            else:
                movement_info(truth, rows)
        except KeyError as e:
            rep.goal(f"table {table}", f"column {e} missing", False, "(schema: README.md)")
    return rep.failed


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        import selftest
        with tempfile.TemporaryDirectory() as lake:
            selftest.write_lake(sys.argv[2], lake)
            failed = score(sys.argv[2], lake)
        print("self-test: " + ("FAILED" if failed else "passed"))
        sys.exit(1 if failed else 0)
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    sys.exit(1 if score(sys.argv[1], sys.argv[2]) else 0)


if __name__ == "__main__":
    main()
